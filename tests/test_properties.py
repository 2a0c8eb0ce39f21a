"""Properties of signing and ICCID validation, against reference
implementations written here from the wire contract."""

from __future__ import annotations

import hashlib
import string
from urllib.parse import parse_qsl, quote

import anyio
import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mioesim_async as mio
from mioesim_async._iccid import luhn_valid, normalize_iccid, normalize_iccids
from mioesim_async._signing import SigningAuth, sign
from mioesim_async.sandbox import Sandbox

SECRET = "1234567890qwertyuiopasdfghjklzxc"
STYLES = list(mio.SignatureStyle)
DIGITS = "0123456789"

# Text of every kind: ASCII punctuation that means something in a URL or a
# form (& = + % # ? space), control characters, any non-ASCII code point; and
# short words over a few letters, so that names often share a prefix (where
# sorting "key=value" strings and sorting keys part ways).
TEXT = st.one_of(
    st.text(st.sampled_from("ab!=é"), max_size=4),
    st.text(
        st.one_of(
            st.sampled_from("&=+%#?/;, \t\n\r\x00"),
            st.characters(codec="utf-8"),
        ),
        max_size=20,
    ),
)
NAMES = TEXT.filter(lambda name: name not in ("", "sign", "token"))
PARAMS = st.dictionaries(NAMES, TEXT, max_size=8)
FILLED_PARAMS = st.dictionaries(NAMES, TEXT.filter(bool), max_size=8)
TOKENS = st.none() | st.text(string.ascii_letters + string.digits + "-", min_size=1)


def reference_sign(params: dict[str, str], secret: str, style: str) -> str:
    """The contract's sign: sorted key=value strings, then the secret, MD5."""
    text = "".join(sorted(key + "=" + value for key, value in params.items()))
    text += secret
    if style == "PLAIN":
        return hashlib.md5(text.encode("utf-8")).hexdigest()  # noqa: S324
    encoded = quote(text, safe="")
    return hashlib.md5(encoded.encode("ascii")).hexdigest().upper()  # noqa: S324


def reference_valid(value: str) -> bool:
    """``^[0-9]{10,22}F?$`` after stripping, written out by hand."""
    text = value.strip()
    body = text[:-1] if text.endswith("F") else text
    return 10 <= len(body) <= 22 and all(char in DIGITS for char in body)


def reference_luhn(digits: str) -> bool:
    """The Luhn check: from the right, double every second digit."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = DIGITS.index(char) * (2 if index % 2 else 1)
        total += value // 10 + value % 10
    return total % 10 == 0


def check_digit(payload: str) -> str:
    """The digit that makes *payload* + it pass the reference Luhn check."""
    return next(d for d in DIGITS if reference_luhn(payload + d))


class TestSign:
    @settings(max_examples=300)
    @given(params=PARAMS, secret=TEXT, style=st.sampled_from(STYLES))
    def test_agrees_with_the_reference(
        self, params: dict[str, str], secret: str, style: mio.SignatureStyle
    ) -> None:
        """Any names and values, non-ASCII included, in both styles."""
        assert sign(params, secret, style) == reference_sign(params, secret, style.name)

    @settings(max_examples=100)
    @given(params=PARAMS, stray=TEXT, style=st.sampled_from(STYLES))
    def test_a_sign_parameter_is_not_signed(
        self, params: dict[str, str], stray: str, style: mio.SignatureStyle
    ) -> None:
        """Whatever a request's old sign says, it is left out of the new one."""
        assert sign({**params, "sign": stray}, SECRET, style) == sign(
            params, SECRET, style
        )

    @settings(max_examples=100)
    @given(params=PARAMS.filter(bool), style=st.sampled_from(STYLES))
    def test_a_changed_value_changes_the_sign(
        self, params: dict[str, str], style: mio.SignatureStyle
    ) -> None:
        """Each value is signed: altering one gives another sign."""
        name = sorted(params)[0]
        altered = {**params, name: params[name] + "x"}
        assert sign(altered, SECRET, style) != sign(params, SECRET, style)

    @settings(max_examples=100)
    @given(params=PARAMS, style=st.sampled_from(STYLES))
    def test_the_form_of_the_hex(
        self, params: dict[str, str], style: mio.SignatureStyle
    ) -> None:
        """32 hex digits: lower case for PLAIN, upper case otherwise."""
        signature = sign(params, SECRET, style)
        case = string.hexdigits[:16] if style.name == "PLAIN" else "0123456789ABCDEF"
        assert len(signature) == 32
        assert set(signature) <= set(case)


def received(request: httpx.Request) -> dict[str, str]:
    """The parameters a server reads from the query string or the form."""
    if request.method == "GET":
        text = request.url.query.decode("ascii")
    else:
        assert request.headers["content-type"] == "application/x-www-form-urlencoded"
        text = request.content.decode("ascii")
    pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text))
    assert len(pairs) == len(dict(pairs)), "a parameter was sent twice"
    return dict(pairs)


class TestSigningAuth:
    @pytest.mark.parametrize("method", ["GET", "POST"])
    @settings(max_examples=150)
    @given(params=FILLED_PARAMS, token=TOKENS, style=st.sampled_from(STYLES))
    def test_the_server_computes_the_same_sign(
        self,
        method: str,
        params: dict[str, str],
        token: str | None,
        style: mio.SignatureStyle,
    ) -> None:
        """What arrives, less sign, signs to the sign that arrives with it."""
        seen: list[dict[str, str]] = []

        def server(request: httpx.Request) -> httpx.Response:
            assert request.method == method
            seen.append(received(request))
            return httpx.Response(200)

        auth = SigningAuth(SECRET, style, token)
        with httpx.Client(
            base_url="http://127.0.0.1", transport=httpx.MockTransport(server)
        ) as client:
            if method == "GET":
                client.get("/api_esim/x", params=params, auth=auth)
            else:
                client.post("/api_esim/x", data=params, auth=auth)
        (got,) = seen
        expected = dict(params) if token is None else {**params, "token": token}
        signature = got.pop("sign")
        assert got == expected
        assert signature == reference_sign(got, SECRET, style.name)


ICCID_LIKE = st.builds(
    lambda pad, digits, tail, pad2: pad + digits + tail + pad2,
    st.sampled_from(["", " ", "\t", "\n ", "\u3000", "\xa0"]),
    st.text(DIGITS, min_size=8, max_size=24),
    st.sampled_from(["", "F", "f", "FF", "x", " F", "\u0661", "0"]),
    st.sampled_from(["", " ", "\r\n", "\u2003"]),
)
ANY_TEXT = st.one_of(ICCID_LIKE, st.text(max_size=30), st.from_regex(r"\d{10,22}"))


class TestIccid:
    @settings(max_examples=400)
    @given(value=ANY_TEXT, position=st.integers(0, 10**6))
    def test_accepts_exactly_the_pattern(self, value: str, position: int) -> None:
        """Accepted, stripped, iff ^[0-9]{10,22}F?$; else named with its position."""
        if reference_valid(value):
            assert normalize_iccid(value, position) == value.strip()
            return
        with pytest.raises(mio.InvalidICCIDError) as info:
            normalize_iccid(value, position)
        assert info.value.value == value
        assert info.value.position == position
        assert repr(value) in str(info.value)
        assert f"position {position}" in str(info.value)

    @settings(max_examples=200)
    @given(values=st.lists(ANY_TEXT, max_size=12))
    def test_a_list_fails_at_its_first_bad_iccid(self, values: list[str]) -> None:
        """The first invalid value of a list is the one named, with its index."""
        bad = [n for n, value in enumerate(values) if not reference_valid(value)]
        if not bad:
            assert normalize_iccids(values) == [value.strip() for value in values]
            return
        with pytest.raises(mio.InvalidICCIDError) as info:
            normalize_iccids(values)
        assert (info.value.value, info.value.position) == (values[bad[0]], bad[0])

    @settings(max_examples=100)
    @given(value=st.one_of(st.integers(), st.none(), st.binary(), st.floats()))
    def test_what_is_not_text_is_refused(self, value: object) -> None:
        """Numbers, bytes and None are not ICCIDs, whatever their digits."""
        with pytest.raises(mio.InvalidICCIDError) as info:
            normalize_iccid(value, 3)
        assert (info.value.value, info.value.position) == (value, 3)

    @settings(max_examples=300)
    @given(value=ANY_TEXT)
    def test_strict_mode_adds_the_reference_luhn(self, value: str) -> None:
        """Strict accepts iff the pattern matches and the Luhn digit is right."""
        digits = value.strip().removesuffix("F")
        expected = reference_valid(value) and reference_luhn(digits)
        try:
            normalize_iccid(value, strict=True)
        except mio.InvalidICCIDError:
            accepted = False
        else:
            accepted = True
        assert accepted is expected

    @settings(max_examples=200)
    @given(
        payload=st.text(DIGITS, min_size=9, max_size=21),
        f=st.booleans(),
        wrong=st.integers(1, 9),
    )
    def test_strict_mode_on_numbers_built_to_pass(
        self, payload: str, f: bool, wrong: int
    ) -> None:
        """A right check digit passes strict mode; any other digit fails it."""
        good = payload + check_digit(payload)
        bad = payload + DIGITS[(DIGITS.index(good[-1]) + wrong) % 10]
        tail = "F" if f else ""
        assert luhn_valid(good)
        assert normalize_iccid(good + tail, strict=True) == good + tail
        assert not luhn_valid(bad)
        with pytest.raises(mio.InvalidICCIDError, match="Luhn"):
            normalize_iccid(bad + tail, 5, strict=True)
        assert normalize_iccid(bad + tail) == bad + tail  # not strict: accepted


LOGIN_EXTRAS = FILLED_PARAMS.map(
    lambda params: {
        name: value
        for name, value in params.items()
        if name not in ("phonenumber", "password")
    }
)


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
@pytest.mark.parametrize("style", STYLES)
@settings(max_examples=25, deadline=None)
@given(extras=LOGIN_EXTRAS)
def test_the_sandbox_verifies_what_signing_auth_signs(
    backend: str, style: mio.SignatureStyle, extras: dict[str, str]
) -> None:
    """A form signed in the sandbox's style logs in; in the other, -30."""
    sb = Sandbox(cards=0, signature_style=style)
    other = next(s for s in STYLES if s is not style)

    async def log_in(signed_with: mio.SignatureStyle) -> object:
        form = {**extras, "phonenumber": sb.phone_number, "password": sb.password}
        async with httpx.AsyncClient(
            base_url="http://127.0.0.1", transport=httpx.ASGITransport(app=sb.app)
        ) as http:
            auth = SigningAuth(sb.secret_key, signed_with)
            answer = await http.post("/api_order/login", data=form, auth=auth)
        return answer.json()["code"]

    assert anyio.run(log_in, style, backend=backend) == 1
    assert anyio.run(log_in, other, backend=backend) == -30


VALUES = TEXT.filter(bool)


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
@settings(max_examples=30, deadline=None)
@given(
    order_num=VALUES,
    remark=VALUES,
    email=VALUES,
    style=st.sampled_from(STYLES),
    token=TOKENS.filter(bool),
)
def test_the_client_signs_what_it_sends(
    backend: str,
    order_num: str,
    remark: str,
    email: str,
    style: mio.SignatureStyle,
    token: str,
) -> None:
    """A GET and a POST of any text: what arrives signs to the sign sent."""
    seen: list[tuple[str, dict[str, str]]] = []

    def server(request: httpx.Request) -> httpx.Response:
        seen.append((request.method, received(request)))
        return httpx.Response(200, json={"code": 3, "message": "no such order"})

    async def calls() -> None:
        async with mio.Client(
            token=token,
            secret_key=SECRET,
            signature_style=style,
            transport=httpx.MockTransport(server),
            retry=mio.RetryPolicy(attempts=1),
        ) as client:
            with pytest.raises(mio.NotFoundError):
                await client.get_order_info(order_num)
            with pytest.raises(mio.NotFoundError):
                await client.add_esim_order(
                    45, 441, remark=remark, customer_email=email, other_order_id="o"
                )

    anyio.run(calls, backend=backend)
    (get, query), (post, form) = seen
    assert (get, post) == ("GET", "POST")
    assert query["orderNum"] == order_num
    assert (form["remark"], form["customerEmail"]) == (remark, email)
    for params in (query, form):
        assert params["token"] == token
        signature = params.pop("sign")
        assert signature == reference_sign(params, SECRET, style.name)
