from __future__ import annotations

import logging
from collections.abc import Callable

import httpx
import pytest

from mioesim_async import (
    APIError,
    AuthenticationError,
    InvalidRequestError,
    IPNotWhitelistedError,
    NotFoundError,
    OrderOutcomeUnknownError,
    OrderStateError,
    PermissionDeniedError,
    RateLimitedError,
    SignatureError,
    TransportError,
    UnexpectedResponseError,
)
from mioesim_async._retry import RetryPolicy
from mioesim_async._signing import SignatureStyle
from mioesim_async._transport import (
    Endpoint,
    Kind,
    Transport,
    error_for_code,
    mask_secrets,
)

pytestmark = pytest.mark.anyio

READ = Endpoint("getBalance", "/api_esim/getBalance")
ORDER = Endpoint("addEsimOrder", "/api_esim/addEsimOrder", "POST", Kind.ORDER)
WRITE = Endpoint("handlerEsimPdf", "/api_esim/handlerEsimPdf", "POST", Kind.WRITE)
DETAIL = Endpoint("getESIMDetail", "/api_esim/getESIMDetail")

Handler = Callable[[httpx.Request], httpx.Response]


class Script:
    """A MockTransport handler answering from a list, recording requests."""

    def __init__(self, *answers: httpx.Response | Exception) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


def ok(data: object = None, code: object = "0") -> httpx.Response:
    return httpx.Response(200, json={"code": code, "message": "success", "data": data})


def transport_for(handler: Handler, **kwargs: object) -> Transport:
    settings: dict[str, object] = {
        "base_url": "https://bpm.example",
        "secret_key": "secret",
        "signature_style": SignatureStyle.PLAIN,
        "timeout": httpx.Timeout(5.0),
        "max_connections": 10,
        "retry": RetryPolicy(),
        "transport": httpx.MockTransport(handler),
    }
    settings.update(kwargs)
    return Transport(**settings)  # type: ignore[arg-type]


async def request(handler: Handler, endpoint: Endpoint = READ, **kwargs: object):
    transport = transport_for(handler, **kwargs)
    try:
        return await transport.request(
            endpoint, {"a": 1}, token="tok", other_order_id="mine-1"
        )
    finally:
        await transport.aclose()


class TestEnvelope:
    @pytest.mark.parametrize("code", [0, "0", " 0 "])
    async def test_success_code_as_int_or_string(self, code):
        """code 0 arrives as a number and as a string."""
        assert await request(Script(ok({"x": 1}, code))) == {"x": 1}

    async def test_login_succeeds_with_1(self):
        """Login's success code is 1."""
        login = Endpoint("login", "/api_order/login", "POST", success_code=1)
        assert await request(Script(ok({"token": "t"}, 1)), login) == {"token": "t"}

    async def test_not_json(self):
        """A 200 that is not JSON is an UnexpectedResponseError, not retried."""
        script = Script(httpx.Response(200, text="<html>oops</html>"))
        with pytest.raises(UnexpectedResponseError, match="not JSON") as info:
            await request(script)
        assert info.value.status_code == 200
        assert len(script.requests) == 1

    @pytest.mark.parametrize(
        "body", [{"message": "x"}, [1, 2], {"code": "abc"}, {"code": None}]
    )
    async def test_no_numeric_code(self, body):
        with pytest.raises(UnexpectedResponseError, match="code"):
            await request(Script(httpx.Response(200, json=body)))

    async def test_non_2xx(self):
        """A 404 is an UnexpectedResponseError with the status."""
        with pytest.raises(UnexpectedResponseError, match="404") as info:
            await request(Script(httpx.Response(404)))
        assert info.value.status_code == 404
        assert info.value.endpoint == "getBalance"


ERROR_TABLE = [
    ("getBalance", -1, AuthenticationError),
    ("getBalance", -2, InvalidRequestError),
    ("getBalance", -3, NotFoundError),
    ("getBalance", 3, NotFoundError),
    ("renewCard", 4, OrderStateError),
    ("getBalance", -8, APIError),
    ("getIccidSupportPackageInfo", -10, InvalidRequestError),
    ("refundOrder", 22, PermissionDeniedError),
    ("getBalance", -30, SignatureError),
    ("handlerEsimPdf", 99, APIError),
    ("getBalance", 12345, APIError),
    ("login", -1, AuthenticationError),
    ("login", -2, InvalidRequestError),
    ("login", -3, PermissionDeniedError),
    ("login", -30, SignatureError),
]


class TestErrorCodes:
    @pytest.mark.parametrize(("endpoint", "code", "error"), ERROR_TABLE)
    def test_table(self, endpoint, code, error):
        """CONTRACT section 5, code by code."""
        exc = error_for_code(endpoint, code, "the message")
        assert type(exc) is error
        assert (exc.code, exc.message, exc.endpoint) == (code, "the message", endpoint)
        assert "the message" in str(exc)
        assert endpoint in str(exc)

    @pytest.mark.parametrize("code", [-1, "-1"])
    async def test_over_the_wire(self, code):
        """A failure envelope raises, with the code normalised to an int."""
        body = {"code": code, "message": "token expire", "data": ""}
        with pytest.raises(AuthenticationError) as info:
            await request(Script(httpx.Response(200, json=body)))
        assert info.value.code == -1

    @pytest.mark.parametrize(
        "message", ["IP not in whitelist", "not on the White List"]
    )
    async def test_whitelist_message_on_esim_detail(self, message):
        """getESIMDetail refusals that mention the whitelist say what to do."""
        body = {"code": -3, "message": message, "data": None}
        with pytest.raises(IPNotWhitelistedError, match=r"help@mioesim\.com"):
            await request(Script(httpx.Response(200, json=body)), DETAIL)

    async def test_http_403_on_esim_detail(self):
        with pytest.raises(IPNotWhitelistedError) as info:
            await request(Script(httpx.Response(403)), DETAIL)
        assert info.value.code is None

    async def test_whitelist_words_elsewhere_are_plain_errors(self):
        body = {"code": -3, "message": "whitelist", "data": None}
        with pytest.raises(NotFoundError):
            await request(Script(httpx.Response(200, json=body)))


class TestReadRetries:
    async def test_503_then_200(self, sleeps):
        """A transient 5xx is retried, after a backoff."""
        script = Script(httpx.Response(503), ok(5))
        assert await request(script) == 5
        assert len(script.requests) == 2
        assert len(sleeps) == 1
        assert 0 <= sleeps[0] <= 0.2

    async def test_retry_after_is_waited(self, sleeps):
        """429 with Retry-After waits exactly that long."""
        limited = httpx.Response(429, headers={"Retry-After": "7"})
        assert await request(Script(limited, ok(1))) == 1
        assert sleeps == [7.0]

    async def test_rate_limited_after_the_last_attempt(self, sleeps):
        """429 on every attempt raises RateLimitedError with retry_after."""
        script = Script(httpx.Response(429, headers={"Retry-After": "2"}))
        with pytest.raises(RateLimitedError) as info:
            await request(script)
        assert info.value.retry_after == 2.0
        assert len(script.requests) == 3
        assert sleeps == [2.0, 2.0]

    async def test_retry_after_too_long_is_not_waited(self, sleeps):
        script = Script(httpx.Response(429, headers={"Retry-After": "3600"}))
        with pytest.raises(RateLimitedError) as info:
            await request(script)
        assert info.value.retry_after == 3600
        assert len(script.requests) == 1
        assert sleeps == []

    async def test_transport_errors_are_retried_then_raised(self, sleeps):
        """Timeouts are retried; the last one is a TransportError with the cause."""
        script = Script(httpx.ReadTimeout("slow"))
        with pytest.raises(TransportError, match="ReadTimeout") as info:
            await request(script)
        assert isinstance(info.value.__cause__, httpx.ReadTimeout)
        assert len(script.requests) == 3
        assert len(sleeps) == 2

    async def test_attempts_1_turns_retrying_off(self, sleeps):
        script = Script(httpx.Response(500), ok())
        with pytest.raises(UnexpectedResponseError, match="500"):
            await request(script, retry=RetryPolicy(attempts=1))
        assert len(script.requests) == 1

    async def test_api_errors_are_not_retried(self, sleeps):
        script = Script(
            httpx.Response(200, json={"code": -8, "message": "query failed"})
        )
        with pytest.raises(APIError):
            await request(script)
        assert len(script.requests) == 1


class TestWrites:
    @pytest.mark.parametrize(
        "failure",
        [
            httpx.ReadTimeout("slow"),
            httpx.RemoteProtocolError("closed"),
            httpx.Response(502),
        ],
    )
    async def test_order_with_unknown_outcome(self, sleeps, failure):
        """An order whose answer is lost is sent once and says so."""
        script = Script(failure, ok())
        with pytest.raises(OrderOutcomeUnknownError) as info:
            await request(script, ORDER)
        assert len(script.requests) == 1
        assert info.value.other_order_id == "mine-1"
        assert "mine-1" in str(info.value)

    async def test_order_answered_without_envelope(self, sleeps):
        """An HTML 200 to an order may hide a placed order: outcome unknown."""
        script = Script(httpx.Response(200, text="<html>oops</html>"), ok())
        with pytest.raises(OrderOutcomeUnknownError) as info:
            await request(script, ORDER)
        assert info.value.other_order_id == "mine-1"
        assert isinstance(info.value.__cause__, UnexpectedResponseError)
        assert len(script.requests) == 1

    async def test_order_never_sent_is_retried(self, sleeps):
        """A connection refused before sending is safe to try again."""
        script = Script(httpx.ConnectError("refused"), ok("EP1"))
        assert await request(script, ORDER) == "EP1"
        assert len(script.requests) == 2

    async def test_order_rate_limited_is_not_retried(self, sleeps):
        script = Script(httpx.Response(429), ok())
        with pytest.raises(RateLimitedError):
            await request(script, ORDER)
        assert len(script.requests) == 1

    async def test_email_timeout_is_a_transport_error_sent_once(self, sleeps):
        script = Script(httpx.ReadTimeout("slow"), ok())
        with pytest.raises(TransportError):
            await request(script, WRITE)
        assert len(script.requests) == 1

    async def test_email_5xx_is_not_retried(self, sleeps):
        script = Script(httpx.Response(500), ok())
        with pytest.raises(UnexpectedResponseError):
            await request(script, WRITE)
        assert len(script.requests) == 1


class TestSecrets:
    def test_mask_secrets(self):
        text = "GET https://h/x?iccid=1&token=29281-ABC&sign=abcdef&password=pw"
        assert mask_secrets(text) == (
            "GET https://h/x?iccid=1&token=***&sign=***&password=***"
        )

    async def test_httpx_log_lines_are_masked(self, caplog):
        """httpx logs URLs at INFO; token and sign never reach the log."""
        caplog.set_level(logging.DEBUG)
        await request(Script(ok()))
        text = caplog.text
        assert "HTTP Request" in text
        assert "tok" not in text.replace("token=***", "")
        assert "sign=***" in text

    async def test_transport_error_message_is_masked(self, sleeps):
        leaky = httpx.ConnectError("failed for https://h/?token=tok&sign=abc")
        with pytest.raises(TransportError) as info:
            await request(Script(leaky), retry=RetryPolicy(attempts=1))
        assert "tok&" not in str(info.value)
        assert "abc" not in str(info.value)

    def test_repr(self):
        transport = transport_for(Script(ok()))
        assert "secret" not in repr(transport)


async def test_cookies_set_by_an_answer_are_never_sent_back() -> None:
    with_cookie = ok({"token": "t"})
    with_cookie.headers["Set-Cookie"] = "session=abc; Path=/"
    script = Script(with_cookie, ok(), ok())
    transport = transport_for(script)
    try:
        for endpoint in (READ, ORDER, READ):
            await transport.request(endpoint, {"a": 1}, token="tok")
    finally:
        await transport.aclose()
    assert len(script.requests) == 3
    assert [request.headers.get("cookie") for request in script.requests] == [None] * 3


def undecodable() -> httpx.Response:
    """An answer whose body is not the gzip its Content-Encoding claims."""
    return httpx.Response(
        200, headers={"Content-Encoding": "gzip"}, stream=httpx.ByteStream(b"{}")
    )


# httpx leaves its body-reading async generators unfinished when decoding
# fails; trio warns when it finalises them.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
class TestUndecodableAnswers:
    async def test_a_read_is_retried(self, sleeps) -> None:
        script = Script(undecodable(), ok("fine"))
        assert await request(script) == "fine"
        assert len(script.requests) == 2

    async def test_a_read_fails_as_a_transport_error(self, sleeps) -> None:
        script = Script(undecodable())
        script.answers = [undecodable() for _ in range(3)]
        with pytest.raises(TransportError, match="DecodingError") as info:
            await request(script, retry=RetryPolicy(attempts=3))
        assert isinstance(info.value.__cause__, httpx.DecodingError)
        assert len(script.requests) == 3

    async def test_an_order_has_an_unknown_outcome(self, sleeps) -> None:
        script = Script(undecodable(), ok())
        with pytest.raises(OrderOutcomeUnknownError, match="DecodingError"):
            await request(script, ORDER)
        assert len(script.requests) == 1

    async def test_a_write_is_not_sent_again(self, sleeps) -> None:
        script = Script(undecodable(), ok())
        with pytest.raises(TransportError, match="DecodingError"):
            await request(script, WRITE)
        assert len(script.requests) == 1
