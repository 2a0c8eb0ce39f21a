"""
One pooled ``httpx.AsyncClient``, the envelope check and the retry loop.

Every answer is HTTP 200 with ``{"code", "message", "data"}``, errors included;
anything else is a transport-level fault. Reads are retried on transient
faults; writes are never sent twice once they may have reached the server.
"""

from __future__ import annotations

import enum
import logging
import re
import ssl
import time
from collections.abc import Mapping
from typing import Any, NoReturn

import anyio
import attrs
import httpx

from . import _json, _retry
from ._build import RequestBuilder
from ._exceptions import (
    APIError,
    AuthenticationError,
    DeadlineExceededError,
    InvalidRequestError,
    IPNotWhitelistedError,
    MioesimError,
    NotFoundError,
    OrderOutcomeUnknownError,
    OrderStateError,
    PermissionDeniedError,
    RateLimitedError,
    SignatureError,
    TransportError,
    UnexpectedResponseError,
)
from ._limit import AdaptiveLimiter, Pacer
from ._observe import (
    Counters,
    Hooks,
    RequestEvent,
    ResponseEvent,
    RetryEvent,
    emit,
    mask_iccid,
)
from ._retry import RetryPolicy, RetryQuota, parse_retry_after
from ._signing import SignatureStyle, render_params, signed_params

__all__ = ["Endpoint", "Kind", "Transport", "error_for_code", "mask_secrets"]

logger = logging.getLogger("mioesim_async")


class Kind(enum.Enum):
    """What may be done again when an attempt fails."""

    READ = "read"
    """Retried on transient faults."""
    WRITE = "write"
    """Never sent twice once it may have reached the server."""
    ORDER = "order"
    """A write whose unknown outcome raises ``OrderOutcomeUnknownError``."""


@attrs.frozen
class Endpoint:
    """One API endpoint: its wire name, path, HTTP method and kind."""

    name: str
    path: str
    method: str = "GET"
    kind: Kind = Kind.READ
    success_code: int = 0

    def with_method(self, method: str) -> Endpoint:
        """The same endpoint sent with another HTTP method."""
        return attrs.evolve(self, method=method)


_SECRET_PARAM = re.compile(
    r"(?i)\b(token|sign|password|secret_?key)=[^&\s\"'<>]*",
)


def mask_secrets(text: str) -> str:
    """*text* with the values of ``token``, ``sign`` and ``password`` masked."""
    return _SECRET_PARAM.sub(r"\1=***", text)


class _MaskSecrets(logging.Filter):
    """Masks secrets in URLs that httpx logs at INFO ("HTTP Request: GET ...")."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                mask_secrets(str(arg)) if isinstance(arg, httpx.URL) else arg
                for arg in record.args
            )
        if isinstance(record.msg, str):
            record.msg = mask_secrets(record.msg)
        return True


def install_log_filter() -> None:
    """Mask secrets in httpx's own log lines (once per process)."""
    httpx_logger = logging.getLogger("httpx")
    if not any(isinstance(f, _MaskSecrets) for f in httpx_logger.filters):
        httpx_logger.addFilter(_MaskSecrets())


# Codes whose meaning is the same on every endpoint but login.
_ERRORS: Mapping[int, type[APIError]] = {
    -1: AuthenticationError,
    -2: InvalidRequestError,
    -3: NotFoundError,
    3: NotFoundError,
    4: OrderStateError,
    -10: InvalidRequestError,
    22: PermissionDeniedError,
    -30: SignatureError,
}
_LOGIN_ERRORS: Mapping[int, type[APIError]] = {
    **_ERRORS,
    -3: PermissionDeniedError,  # on login: the account has no API permission
}
_WHITELIST = re.compile(r"white\s*list", re.IGNORECASE)


def error_for_code(endpoint: str, code: int, message: str) -> APIError:
    """The exception for failure *code* on *endpoint* (CONTRACT section 5)."""
    if endpoint == "getESIMDetail" and _WHITELIST.search(message):
        return IPNotWhitelistedError(code, message, endpoint=endpoint)
    table = _LOGIN_ERRORS if endpoint == "login" else _ERRORS
    return table.get(code, APIError)(code, message, endpoint=endpoint)


def _code(value: object) -> int | None:
    """The envelope's code as an int: it arrives as ``0`` and as ``"0"``."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return None
    return None


def unwrap(endpoint: Endpoint, response: httpx.Response) -> Any:
    """The ``data`` of a successful answer; raises for anything else."""
    try:
        body = _json.loads(response.content)
    except ValueError:
        raise UnexpectedResponseError(
            f"{endpoint.name}: the answer is not JSON "
            f"({len(response.content)} bytes of {_content_type(response)})",
            endpoint=endpoint.name,
            status_code=response.status_code,
        ) from None
    code = _code(body.get("code")) if isinstance(body, dict) else None
    if code is None:
        raise UnexpectedResponseError(
            f"{endpoint.name}: the answer has no numeric 'code'",
            endpoint=endpoint.name,
            status_code=response.status_code,
        )
    if code == endpoint.success_code:
        return body.get("data")
    raise error_for_code(endpoint.name, code, str(body.get("message") or ""))


def _content_type(response: httpx.Response) -> str:
    return str(response.headers.get("content-type", "no content type"))


class _NoCookies(httpx.Cookies):
    """
    A jar that keeps nothing. MIOeSIM authenticates by token, and httpx would
    otherwise pass every answer through urllib's cookie machinery, 2 KB query
    and all, on the hot path.
    """

    def extract_cookies(self, response: httpx.Response) -> None:
        """Keep nothing: no answer's cookie is ever sent back."""


class _HttpClient(httpx.AsyncClient):
    """An ``httpx.AsyncClient`` that neither keeps nor sends cookies."""

    def __init__(self, **settings: Any) -> None:
        self._no_cookies = _NoCookies()
        super().__init__(**settings)

    @property
    def cookies(self) -> httpx.Cookies:
        return self._no_cookies

    @cookies.setter
    def cookies(self, cookies: object) -> None:
        self._no_cookies = _NoCookies()


# httpx errors for an answer that could not be had: no connection, no answer,
# or a body that does not decode as its Content-Encoding says.
_UNREADABLE = (httpx.TransportError, httpx.DecodingError)

# httpx errors raised before the request could have left this machine.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


class _Retryable(Exception):
    """An attempt failed in a way worth another try."""

    def __init__(self, error: MioesimError, retry_after: float | None = None) -> None:
        self.error = error
        self.retry_after = retry_after


@attrs.define
class _Call:
    """One call in progress: what is sent, and what it has cost so far."""

    endpoint: Endpoint
    params: dict[str, str]
    token: str | None
    other_order_id: str | None
    limiter: AdaptiveLimiter | None
    iccids: int
    started: float = attrs.field(factory=time.monotonic)
    attempt: int = 1
    retry_tokens: int = 0


def _which_card(params: Mapping[str, str]) -> str:
    """A one-card call's ICCID for a log line, masked to its last digits."""
    iccid = params.get("iccid")
    return f" iccid={mask_iccid(iccid)}" if iccid else ""


def _iccid_count(params: Mapping[str, str]) -> int:
    """How many ICCIDs a request asks about, for logs and hooks."""
    if "iccids" in params:
        return params["iccids"].count(",") + 1
    return 1 if "iccid" in params else 0


class Transport:
    """
    Sends signed requests through one long-lived, pooled ``httpx.AsyncClient``
    and turns what comes back into ``data`` or one of our errors.
    """

    def __init__(
        self,
        *,
        base_url: str,
        secret_key: str,
        signature_style: SignatureStyle,
        timeout: httpx.Timeout,
        max_connections: int,
        retry: RetryPolicy,
        transport: httpx.AsyncBaseTransport | None = None,
        verify: bool | ssl.SSLContext = True,
        hooks: Hooks | None = None,
        max_per_second: float | None = None,
    ) -> None:
        install_log_filter()
        self._secret_key = secret_key
        self._style = signature_style
        self._retry = retry
        self._timeout = timeout
        self._http = _HttpClient(
            base_url=base_url,
            timeout=timeout,
            limits=httpx.Limits(
                max_connections=max_connections,
                max_keepalive_connections=max_connections,
            ),
            transport=transport,
            verify=verify,
            headers={"User-Agent": "mioesim-async"},
        )
        self._builder = RequestBuilder(self._http)
        self.max_connections = max_connections
        self.hooks = hooks or Hooks()
        self.quota = RetryQuota.of(retry)
        self.counters = Counters()
        self._pacer = Pacer(max_per_second) if max_per_second else None

    def __repr__(self) -> str:
        return f"<Transport {self._http.base_url} style={self._style.name}>"

    @property
    def is_closed(self) -> bool:
        """Whether ``aclose()`` has run."""
        return self._http.is_closed

    async def aclose(self) -> None:
        """Close every pooled connection."""
        await self._http.aclose()

    async def request(
        self,
        endpoint: Endpoint,
        params: Mapping[str, object],
        *,
        token: str | None,
        other_order_id: str | None = None,
        limiter: AdaptiveLimiter | None = None,
    ) -> Any:
        """
        Send *params* to *endpoint* signed with *token*, retrying reads on
        transient faults within the retry budget and the current deadline;
        returns the answer's ``data``.

        *limiter*, when the call is part of a fan-out, hears about 429s and
        successes.
        """
        rendered = render_params(params)
        call = _Call(
            endpoint, rendered, token, other_order_id, limiter, _iccid_count(rendered)
        )
        while True:
            try:
                data = await self._attempt(call)
            except _Retryable as failure:
                transient = failure.error
                wait = self._wait_before_retry(call, failure)
            except MioesimError as error:
                raise self._failed(call, error) from error.__cause__
            else:
                self.quota.refill(call.retry_tokens)
                return data
            await self._retry_after(call, transient, wait)

    async def _retry_after(self, call: _Call, error: MioesimError, wait: float) -> None:
        """Report the retry, wait, and count the next attempt."""
        event = RetryEvent(call.endpoint.name, call.attempt, error, wait)
        emit(self.hooks.on_retry, event)
        logger.debug(
            "retrying %s after %s (attempt %d, waiting %.2fs)",
            event.endpoint,
            type(error).__name__,
            event.attempt,
            wait,
        )
        if call.limiter is not None and isinstance(error, RateLimitedError):
            # Wait outside the fan-out's limit, and come back only when the
            # lowered limit has room: else in-flight retries keep hammering.
            call.limiter.release()
            try:
                await _retry.sleep(wait)
            finally:
                await call.limiter.acquire()
        else:
            await _retry.sleep(wait)
        call.attempt += 1
        self.counters.retries += 1

    def _wait_before_retry(self, call: _Call, failure: _Retryable) -> float:
        """How long to wait before the next attempt; raises when there is none."""
        error = failure.error
        wait = self._retry.wait(call.attempt, failure.retry_after)
        if call.attempt >= self._retry.attempts or wait is None:
            raise self._failed(call, error) from error.__cause__
        left = _retry.remaining()
        if left is not None and wait >= left:
            raise self._failed(call, _out_of_time(call.endpoint, error)) from error
        tokens = self.quota.acquire(after_timeout=isinstance(error, TransportError))
        if tokens is None:
            logger.debug("%s: retry budget spent, failing fast", call.endpoint.name)
            raise self._failed(call, error) from error.__cause__
        call.retry_tokens += tokens
        return wait

    def _failed(self, call: _Call, error: MioesimError) -> MioesimError:
        """*error*, with the attempts and time the call took."""
        error.attempts = call.attempt
        error.elapsed = time.monotonic() - call.started
        self.counters.failures += 1
        logger.info(
            "%s %s failed after %d attempt(s) in %.3fs: %s",
            call.endpoint.method,
            call.endpoint.name,
            call.attempt,
            error.elapsed,
            type(error).__name__,
        )
        return error

    async def _attempt(self, call: _Call) -> Any:
        endpoint = call.endpoint
        left = _retry.remaining()
        if left is not None and left <= 0:
            raise _out_of_time(endpoint)  # not sent: safe for orders too
        if self._pacer is not None:
            await self._pacer.wait()
        generation = call.limiter.generation if call.limiter else 0
        if self.hooks.on_request is not None:
            self.hooks.on_request(RequestEvent(
                endpoint.name, endpoint.method, call.attempt, call.iccids))  # fmt: skip
        self.counters.requests += 1
        started = time.monotonic()
        response = await self._send(call, left)
        elapsed = time.monotonic() - started
        try:
            self._check_status(endpoint, response, call.other_order_id)
            data = self._unwrap(call, response)
        except _Retryable:
            self._observe(call, response, None, elapsed)
            if response.status_code == 429 and call.limiter is not None:
                call.limiter.on_rate_limited(generation)
            raise
        except MioesimError as error:
            self._observe(call, response, getattr(error, "code", None), elapsed)
            raise
        self._observe(call, response, endpoint.success_code, elapsed)
        if call.limiter is not None:
            call.limiter.on_success()
        return data

    def _unwrap(self, call: _Call, response: httpx.Response) -> Any:
        """The answer's ``data``; an order answered with no envelope may exist."""
        try:
            return unwrap(call.endpoint, response)
        except UnexpectedResponseError as error:
            if call.endpoint.kind is not Kind.ORDER:
                raise
            raise _outcome_unknown(
                call.endpoint, str(error), call.other_order_id
            ) from error

    def _observe(
        self, call: _Call, response: httpx.Response, code: int | None, elapsed: float
    ) -> None:
        """Count, log and report one answer."""
        if response.status_code == 429:
            self.counters.rate_limited += 1
        hook, logs = self.hooks.on_response, logger.isEnabledFor(logging.INFO)
        if hook is None and not logs:  # the hot path builds nothing it drops
            return
        event = ResponseEvent(
            call.endpoint.name,
            call.endpoint.method,
            call.attempt,
            call.iccids,
            response.status_code,
            code,
            elapsed,
        )
        emit(hook, event)
        if logs:
            logger.info(
                "%s %s -> HTTP %d code=%s attempt=%d iccids=%d%s in %.3fs",
                event.method,
                event.endpoint,
                event.status,
                event.code,
                event.attempt,
                event.iccids,
                _which_card(call.params),
                event.elapsed,
            )

    async def _send(self, call: _Call, left: float | None) -> httpx.Response:
        endpoint = call.endpoint
        # Signed before the request is built, not by SigningAuth after: the
        # same parameters and sign, without parsing a 2 KB query back out of
        # the URL and building the request a second time.
        params = signed_params(call.params, self._secret_key, self._style, call.token)
        request = self._builder.build(
            endpoint.method, endpoint.path, params, _within(self._timeout, left)
        )
        try:
            if left is None:  # no deadline: no cancel scope, a few us a request
                return await self._http.send(request)
            with anyio.fail_after(left):
                return await self._http.send(request)
        except _UNREADABLE as exc:
            self._raise_transport_error(endpoint, exc, call.other_order_id)
        except TimeoutError:
            if endpoint.kind is Kind.ORDER:
                problem = "its deadline ran out while waiting for the answer"
                raise _outcome_unknown(endpoint, problem, call.other_order_id) from None
            raise _out_of_time(endpoint) from None

    def _raise_transport_error(
        self,
        endpoint: Endpoint,
        exc: httpx.TransportError | httpx.DecodingError,
        other_order_id: str | None,
    ) -> NoReturn:
        """
        Raise ours for *exc*: an order's unknown outcome, a retryable fault
        (any read; a write that never left this machine), or a final one.
        """
        what = mask_secrets(f"{type(exc).__name__}: {exc}".rstrip(": "))
        sent = not isinstance(exc, _NOT_SENT)
        if endpoint.kind is Kind.ORDER and sent:
            raise _outcome_unknown(endpoint, what, other_order_id) from exc
        error = TransportError(f"{endpoint.name}: {what}", endpoint=endpoint.name)
        error.__cause__ = exc
        if endpoint.kind is Kind.READ or not sent:
            raise _Retryable(error) from exc
        raise error from exc

    def _check_status(
        self,
        endpoint: Endpoint,
        response: httpx.Response,
        other_order_id: str | None,
    ) -> None:
        """Raise ours for a non-2xx answer."""
        status = response.status_code
        if 200 <= status < 300:
            return
        if status == 403 and endpoint.name == "getESIMDetail":
            raise IPNotWhitelistedError(
                None, f"HTTP {status} {response.reason_phrase}", endpoint=endpoint.name
            )
        if status == 429:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            limited = RateLimitedError(
                f"{endpoint.name}: HTTP 429, rate limited",
                endpoint=endpoint.name,
                retry_after=retry_after,
            )
            if endpoint.kind is Kind.READ:
                raise _Retryable(limited, retry_after)
            raise limited  # a write that reached the server is never re-sent
        problem = f"HTTP {status} {response.reason_phrase}".rstrip()
        if status >= 500 and endpoint.kind is Kind.ORDER:
            raise _outcome_unknown(endpoint, problem, other_order_id)
        error = UnexpectedResponseError(
            f"{endpoint.name}: {problem}", endpoint=endpoint.name, status_code=status
        )
        if status >= 500 and endpoint.kind is Kind.READ:
            raise _Retryable(error)
        raise error


def _out_of_time(
    endpoint: Endpoint, last_error: MioesimError | None = None
) -> DeadlineExceededError:
    """The error of a call whose deadline ran out."""
    after = f" after {type(last_error).__name__}: {last_error}" if last_error else ""
    return DeadlineExceededError(
        f"{endpoint.name}: the deadline ran out{after}", endpoint=endpoint.name
    )


def _within(timeout: httpx.Timeout, left: float | None) -> httpx.Timeout:
    """*timeout* with no phase longer than the *left* seconds of a deadline."""
    if left is None:
        return timeout
    return httpx.Timeout(
        connect=_shorter(timeout.connect, left),
        read=_shorter(timeout.read, left),
        write=_shorter(timeout.write, left),
        pool=_shorter(timeout.pool, left),
    )


def _shorter(phase: float | None, left: float) -> float:
    return left if phase is None else min(phase, left)


def _outcome_unknown(
    endpoint: Endpoint, problem: str, other_order_id: str | None
) -> OrderOutcomeUnknownError:
    reconcile = (
        f"; reconcile by otherOrderId {other_order_id!r}" if other_order_id else ""
    )
    return OrderOutcomeUnknownError(
        f"{endpoint.name}: the request may or may not have taken effect "
        f"({problem}); it was not sent again{reconcile}",
        endpoint=endpoint.name,
        other_order_id=other_order_id,
    )
