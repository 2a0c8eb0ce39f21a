"""
The request signature (CONTRACT section 3), as a pure function and as the
``httpx.Auth`` that applies it.

``sign`` is the MD5 of every sent parameter's ``key=value`` (sorted by code
point, concatenated) followed by the secret key. MIOeSIM's pages disagree on
one step, so ``SignatureStyle`` picks: ``PLAIN`` hashes that string as is and
gives lower-case hex; ``URLENCODED_UPPER`` percent-encodes it first and gives
upper-case hex.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Generator, Mapping
from datetime import date, datetime
from urllib.parse import parse_qsl, quote

import httpx

__all__ = ["SignatureStyle", "SigningAuth", "render_params", "sign", "signed_params"]

_FORM = "application/x-www-form-urlencoded"


class SignatureStyle(enum.Enum):
    """How the signed string is hashed; see the module docstring."""

    PLAIN = "plain"
    URLENCODED_UPPER = "urlencoded_upper"


def render_value(value: object) -> str:
    """Render one parameter as the text that is both sent and signed."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):  # before int: bool is an int subclass
        return "1" if value else "0"
    if isinstance(value, (list, tuple)):
        return ",".join(render_value(item) for item in value)
    if isinstance(value, (datetime, date)):
        raise TypeError("dates are rendered by their endpoint, in its format")
    return str(value)


def render_params(params: Mapping[str, object]) -> dict[str, str]:
    """
    Render every parameter as text, leaving out ``None`` and ``""``: empty
    parameters are neither sent nor signed.
    """
    rendered = {}
    for key, value in params.items():
        if value is None:
            continue
        text = render_value(value)
        if text != "":
            rendered[key] = text
    return rendered


def sign(
    params: Mapping[str, str],
    secret_key: str,
    style: SignatureStyle = SignatureStyle.PLAIN,
) -> str:
    """
    The ``sign`` of already rendered *params* (``sign`` itself excluded).

    >>> sign({"token": "t"}, "k")
    '51c3710ebfa320f3f1ab464078d33cb5'
    """
    signed = "".join(sorted(f"{k}={v}" for k, v in params.items() if k != "sign"))
    signed += secret_key
    if style is SignatureStyle.PLAIN:
        return hashlib.md5(signed.encode()).hexdigest()  # noqa: S324 - the API's scheme
    encoded = quote(signed, safe="")
    return hashlib.md5(encoded.encode()).hexdigest().upper()  # noqa: S324 - same


def signed_params(
    params: Mapping[str, str],
    secret_key: str,
    style: SignatureStyle = SignatureStyle.PLAIN,
    token: str | None = None,
) -> dict[str, str]:
    """*params* with ``token`` (when there is one) and then ``sign`` added."""
    signed = dict(params)
    if token is not None:
        signed["token"] = token
    signed["sign"] = sign(signed, secret_key, style)
    return signed


class SigningAuth(httpx.Auth):
    """
    Adds ``token`` (when there is one) and ``sign`` to a request: to the query
    string of a GET, to the form body of anything else.

    The parameters already on the request are the ones signed, so a request
    built anywhere (an endpoint this library does not wrap, a test, a custom
    stack) gets a correct signature without knowing the scheme::

        auth = mioesim_async.SigningAuth(secret_key, token=token)
        async with httpx.AsyncClient(base_url=base_url, auth=auth) as http:
            await http.get("/api_esim/verifyResource", params={...})

    The client signs its own requests before building them instead: a 2 KB
    query need not be parsed back out of a built request.
    """

    requires_request_body = True

    def __init__(
        self,
        secret_key: str,
        style: SignatureStyle = SignatureStyle.PLAIN,
        token: str | None = None,
    ) -> None:
        self._secret_key = secret_key
        self._style = style
        self._token = token

    def __repr__(self) -> str:
        return f"SigningAuth(style={self._style.name})"

    def auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        yield self.signed(request)

    def signed(self, request: httpx.Request) -> httpx.Request:
        """A copy of *request* with ``token`` and ``sign`` added."""
        if request.method == "GET":
            params = dict(request.url.params)
        else:
            params = dict(parse_qsl(request.content.decode(), keep_blank_values=True))
        params = signed_params(params, self._secret_key, self._style, self._token)
        if request.method == "GET":
            url = request.url.copy_with(params=params)
            return httpx.Request(
                "GET",
                url,
                headers=_without_length(request),
                extensions=request.extensions,
            )
        headers = _without_length(request)
        headers["Content-Type"] = _FORM
        return httpx.Request(
            request.method,
            request.url,
            headers=headers,
            data=params,
            extensions=request.extensions,
        )


def _without_length(request: httpx.Request) -> httpx.Headers:
    """The request's headers less the ones that describe its old body."""
    headers = request.headers.copy()
    for name in ("Content-Length", "Transfer-Encoding"):
        headers.pop(name, None)
    return headers
