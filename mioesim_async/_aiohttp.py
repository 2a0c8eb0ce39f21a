"""
An ``httpx`` transport that does its I/O with ``aiohttp`` (asyncio only).

httpx stays the interface above it: requests are built, signed, retried and
read as ``httpx.Request``/``httpx.Response``. Only the wire work moves to
aiohttp, whose connection pool costs far less per request under concurrency.

Answers are small JSON documents, so each body is read whole and handed to
httpx as bytes; httpx then decodes any ``Content-Encoding`` itself.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping

import httpx

try:
    import aiohttp
    from aiohttp.http import HttpVersion
    from yarl import URL
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "http_backend='aiohttp' needs aiohttp: pip install 'mioesim-async[aiohttp]'"
    ) from exc
if not hasattr(aiohttp, "ConnectionTimeoutError"):  # pragma: no cover
    # Before 3.10 a connect timeout and a read timeout were one class, and
    # telling them apart is what keeps an order from being sent twice.
    raise ImportError(
        f"http_backend='aiohttp' needs aiohttp>=3.10, found {aiohttp.__version__}: "
        "pip install -U 'mioesim-async[aiohttp]'"
    )

__all__ = ["AiohttpTransport"]

# httpx's own defaults, so both backends keep connections alike.
DEFAULT_MAX_CONNECTIONS = 100
DEFAULT_KEEPALIVE_EXPIRY = 5.0

# aiohttp adds these when a request lacks them; httpx already wrote every
# header it wants, so the wire carries exactly the httpx request's headers.
_NO_AUTO_HEADERS = ("Accept", "Accept-Encoding", "User-Agent", "Content-Type")

# aiohttp errors as httpx's, most specific first. Whether the request may
# have reached the server hangs on this: only connect-phase failures map to
# ConnectError/ConnectTimeout, so a write is never re-sent after a read fault.
_ERRORS: tuple[tuple[type[BaseException], type[httpx.TransportError]], ...] = (
    (aiohttp.ConnectionTimeoutError, httpx.ConnectTimeout),
    (aiohttp.ServerTimeoutError, httpx.ReadTimeout),
    (aiohttp.ClientConnectorError, httpx.ConnectError),
    (aiohttp.ServerDisconnectedError, httpx.RemoteProtocolError),
    (aiohttp.ClientPayloadError, httpx.RemoteProtocolError),
    (aiohttp.ClientResponseError, httpx.RemoteProtocolError),
    (aiohttp.ClientConnectionResetError, httpx.WriteError),
    (aiohttp.ClientOSError, httpx.ReadError),
    (aiohttp.ClientConnectionError, httpx.ReadError),
    (aiohttp.InvalidURL, httpx.UnsupportedProtocol),
    (aiohttp.NonHttpUrlClientError, httpx.UnsupportedProtocol),
    (aiohttp.ClientError, httpx.TransportError),
    # Any other timeout: the request may have gone out, so it is never
    # reported as one that was not sent.
    (TimeoutError, httpx.ReadTimeout),
)
_CAUGHT = (aiohttp.ClientError, TimeoutError)

_HTTP_VERSIONS: dict[HttpVersion | None, bytes] = {
    HttpVersion(1, 1): b"HTTP/1.1",
    HttpVersion(1, 0): b"HTTP/1.0",
}

# Distinct timeout settings are few (one per client, maybe one for login);
# the cache is only a guard against a caller varying them per request.
_TIMEOUT_CACHE_SIZE = 16

_TimeoutKey = tuple[float | None, float | None, float | None]


class AiohttpTransport(httpx.AsyncBaseTransport):
    """
    Sends ``httpx`` requests through one pooled ``aiohttp.ClientSession``.

    Pass it as ``httpx.AsyncClient(transport=...)``. The session is created
    on the first request, inside the running event loop, and closed by
    ``aclose()``. asyncio only: under trio it raises ``RuntimeError``.

    Args:
        max_connections: Open connections at most, in all and per host.
        keepalive_expiry: Seconds an idle connection is kept for reuse.
        verify: TLS verification, as httpx takes it: ``True`` (certifi's
            bundle, like httpx), ``False``, or an ``ssl.SSLContext``.

    httpx's ``write`` timeout has no aiohttp counterpart and is not applied;
    request bodies here are small forms.
    """

    def __init__(
        self,
        *,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        keepalive_expiry: float | None = DEFAULT_KEEPALIVE_EXPIRY,
        verify: bool | ssl.SSLContext = True,
    ) -> None:
        if max_connections < 1:
            raise ValueError(f"max_connections must be >= 1, got {max_connections!r}")
        self.max_connections = max_connections
        self.keepalive_expiry = keepalive_expiry
        self._verify = verify
        self._session: aiohttp.ClientSession | None = None
        self._closed = False
        self._timeouts: dict[_TimeoutKey, aiohttp.ClientTimeout] = {}

    def __repr__(self) -> str:
        return f"<AiohttpTransport max_connections={self.max_connections}>"

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        session = self._session or self._open_session()
        timeout = self._client_timeout(request.extensions.get("timeout"))
        headers, body = await _headers_and_body(request)
        try:
            async with session.request(
                request.method,
                URL(str(request.url), encoded=True),
                headers=headers,
                data=body or None,
                timeout=timeout,
                allow_redirects=False,  # httpx follows redirects itself
            ) as answer:
                content = await answer.read()
        except _CAUGHT as exc:
            raise _as_httpx_error(exc, request) from exc
        return httpx.Response(
            answer.status,
            headers=answer.raw_headers,
            # stream=, not content=: no Content-Length is invented for a
            # chunked answer, and the headers stay as they came.
            stream=httpx.ByteStream(content),
            extensions=_extensions(answer),
        )

    async def aclose(self) -> None:
        """Close the session and its connections; safe to call again."""
        self._closed = True
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    def _open_session(self) -> aiohttp.ClientSession:
        """The session, created now so that it belongs to the running loop."""
        if self._closed:
            raise RuntimeError("this AiohttpTransport has been closed")
        _require_asyncio()
        connector = aiohttp.TCPConnector(
            limit=self.max_connections,
            limit_per_host=self.max_connections,
            keepalive_timeout=self.keepalive_expiry,
            ssl=httpx.create_ssl_context(verify=self._verify),
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            # The client keeps no cookies (the API authenticates by token);
            # httpx decodes bodies and follows redirects, so aiohttp must not.
            cookie_jar=aiohttp.DummyCookieJar(),
            auto_decompress=False,
            skip_auto_headers=_NO_AUTO_HEADERS,
            timeout=aiohttp.ClientTimeout(),
        )
        return self._session

    def _client_timeout(
        self, timeout: Mapping[str, float | None] | None
    ) -> aiohttp.ClientTimeout:
        """httpx's per-phase timeouts as aiohttp's, built once per setting."""
        if timeout is None:
            key: _TimeoutKey = (None, None, None)
        else:
            key = (timeout.get("connect"), timeout.get("read"), timeout.get("pool"))
        cached = self._timeouts.get(key)
        if cached is None:
            if len(self._timeouts) >= _TIMEOUT_CACHE_SIZE:
                self._timeouts.clear()
            cached = self._timeouts[key] = _aiohttp_timeout(*key)
        return cached


def _aiohttp_timeout(
    connect: float | None, read: float | None, pool: float | None
) -> aiohttp.ClientTimeout:
    """
    aiohttp's ``connect`` spans waiting for a pooled connection and opening
    one, so it gets httpx's pool and connect budgets together.
    """
    acquire = None if connect is None or pool is None else connect + pool
    return aiohttp.ClientTimeout(
        total=None, connect=acquire, sock_connect=connect, sock_read=read
    )


async def _headers_and_body(
    request: httpx.Request,
) -> tuple[list[tuple[str, str]], bytes]:
    """The headers to send and the whole body: httpx has read it, unless streamed."""
    try:
        return _wire_headers(request), request.content
    except httpx.RequestNotRead:
        body = await request.aread()
    # A streamed body goes out whole, with the Content-Length aiohttp adds.
    headers = [
        (name, value)
        for name, value in _wire_headers(request)
        if name.lower() != "transfer-encoding"
    ]
    return headers, body


def _wire_headers(request: httpx.Request) -> list[tuple[str, str]]:
    """The headers as httpx itself would write them: names in their own case."""
    return [
        (name.decode("latin-1"), value.decode("latin-1"))
        for name, value in request.headers.raw
    ]


def _as_httpx_error(exc: BaseException, request: httpx.Request) -> httpx.TransportError:
    """The httpx exception matching aiohttp's *exc*, with *request* attached."""
    error_type = next(
        (ours for theirs, ours in _ERRORS if isinstance(exc, theirs)),
        httpx.TransportError,
    )
    message = str(exc) or type(exc).__name__
    return error_type(message, request=request)


def _extensions(answer: aiohttp.ClientResponse) -> dict[str, object]:
    """What httpx's own transport reports: the reason phrase as sent, even empty."""
    return {
        "http_version": _HTTP_VERSIONS.get(answer.version, b"HTTP/1.1"),
        "reason_phrase": (answer.reason or "").encode("ascii", "replace"),
    }


def _require_asyncio() -> None:
    """Refuse to run outside asyncio, naming the library found instead."""
    library = _current_async_library()
    if library != "asyncio":
        raise RuntimeError(
            f"the aiohttp backend runs on asyncio only (found: {library}); "
            "use http_backend='httpx', which runs on asyncio and trio"
        )


def _current_async_library() -> str:
    try:
        import sniffio
    except ImportError:
        # sniffio comes with trio: without it, this cannot be trio.
        return "asyncio"
    try:
        return sniffio.current_async_library()
    except sniffio.AsyncLibraryNotFoundError:
        return "no async library"  # called outside any event loop
