"""
The sandbox's ASGI application: a raw ASGI callable with a dict router, no
framework, so the sandbox is never the slow end of a benchmark.

Per request: route by path, count it, read its parameters under the method
rules (reads: GET with a query; writes: POST with a form body; login: POST
form, and GET when allowed), meet the injected faults, answer.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl

import anyio
import httpx

from .._models import GMT8
from ._api import LOGIN, ORDER_ENDPOINTS, READ, ROUTES, Api, Request, Route
from ._faults import Decision, FaultState, Stats
from ._settings import Settings
from ._wire import dumps

__all__ = ["App", "InjectedDisconnect"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_JSON = (b"content-type", b"application/json;charset=UTF-8")
_FORM = "application/x-www-form-urlencoded"
_MALFORMED = b"<html><body><h1>502 Bad Gateway</h1></body></html>"


class InjectedDisconnect(httpx.RemoteProtocolError):
    """
    Raised by the app to cut an answer short. In process, ``ASGITransport``
    hands it to the client as the ``httpx`` error a dropped connection gives;
    under uvicorn, it makes the server close the connection mid-body.
    """


class _Refusal(Exception):
    """An HTTP-level refusal (4xx), before the API sees the request."""

    def __init__(self, status: int, error: str, allow: str | None = None) -> None:
        super().__init__(status, error)
        self.status = status
        self.error = error
        self.allow = allow


class App:
    """The ASGI 3 application serving one sandbox."""

    def __init__(
        self, api: Api, settings: Settings, stats: Stats, faults: FaultState
    ) -> None:
        self._api = api
        self._settings = settings
        self._stats = stats
        self._faults = faults

    def __repr__(self) -> str:
        return "<sandbox ASGI app>"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":  # no websockets here
            return
        route = ROUTES.get(scope["path"])
        if route is None:
            await _http_error(send, scope, 404, "Not Found")
            return
        self._stats.requests[route.name] += 1
        try:
            params = await self._params(scope, receive, route)
        except _Refusal as refusal:
            await _http_error(send, scope, refusal.status, refusal.error, refusal.allow)
            return
        await self._serve(scope, send, route, params)

    async def _serve(
        self, scope: Scope, send: Send, route: Route, params: dict[str, str]
    ) -> None:
        """Answer an admitted request, meeting its faults on the way."""
        decision = self._faults.decide(route.name, params)
        if decision.delay:
            self._stats.faults["latency"] += 1
            await anyio.sleep(decision.delay)
        if await self._refused_by_fault(send, scope, decision):
            return
        client = scope.get("client")
        request = Request(params, client[0] if client else None, decision)
        body = self._api.answer(route, request)
        delay = self._faults.faults.order_delay
        if delay and route.name in ORDER_ENDPOINTS:
            await anyio.sleep(delay)
        await self._deliver(send, body, decision)

    async def _refused_by_fault(
        self, send: Send, scope: Scope, decision: Decision
    ) -> bool:
        """Answer 429 or 5xx when the faults say so, before any effect."""
        faults = self._faults.faults
        if decision.rate_limited:
            self._stats.faults["rate_limit"] += 1
            headers = []
            if faults.retry_after is not None:
                headers.append((b"retry-after", _seconds(faults.retry_after)))
            await _http_error(send, scope, 429, "Too Many Requests", headers=headers)
            return True
        if decision.server_error:
            self._stats.faults["server_error"] += 1
            await _http_error(send, scope, faults.error_status, "Server Error")
            return True
        return False

    async def _deliver(self, send: Send, body: bytes, decision: Decision) -> None:
        """Send *body*, or a broken version of it when the faults say so."""
        if decision.malformed:
            self._stats.faults["malformed"] += 1
            await _respond(send, 200, _MALFORMED, [(b"content-type", b"text/html")])
            return
        if decision.disconnect:
            self._stats.faults["disconnect"] += 1
            await _start(send, 200, len(body), [_JSON])
            await send(
                {
                    "type": "http.response.body",
                    "body": body[: len(body) // 2],
                    "more_body": True,
                }
            )
            raise InjectedDisconnect("connection closed mid-answer (injected)")
        await _respond(send, 200, body, [_JSON])

    async def _params(
        self, scope: Scope, receive: Receive, route: Route
    ) -> dict[str, str]:
        """The request's parameters, from where its method says they are."""
        method = scope["method"]
        allowed = self._allowed(route)
        if method not in allowed:
            raise _Refusal(405, "Method Not Allowed", ", ".join(sorted(allowed)))
        query = scope.get("query_string", b"").decode("latin-1")
        if method == "GET":
            return _parse(query)
        body = await _read_body(receive)
        if query and self._settings.strict_methods:
            raise _Refusal(400, "Bad Request: parameters belong in the form body")
        params = _parse(query)
        if _content_type(scope).startswith(_FORM):
            params.update(_parse(body.decode("utf-8", "replace")))
        # Anything else (a JSON body) brings no parameters, so it fails the
        # sign check, as the service answers such requests.
        return params

    def _allowed(self, route: Route) -> frozenset[str]:
        """The HTTP methods *route* takes under the settings."""
        if not self._settings.strict_methods:
            return frozenset({"GET", "POST"})
        if route.kind == READ:
            return frozenset({"GET"})
        if route.kind == LOGIN and self._settings.allow_login_query:
            return frozenset({"GET", "POST"})
        return frozenset({"POST"})


def _parse(text: str) -> dict[str, str]:
    """A query string or form body as a dict (the last repeat wins)."""
    return dict(parse_qsl(text, keep_blank_values=True)) if text else {}


def _content_type(scope: Scope) -> str:
    """The request's content type, lower-cased."""
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            return str(value.decode("latin-1").lower())
    return ""


async def _read_body(receive: Receive) -> bytes:
    """The whole request body."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _seconds(value: float) -> bytes:
    """A ``Retry-After`` value: whole seconds as an integer, else as written."""
    return str(int(value) if float(value).is_integer() else value).encode()


async def _start(
    send: Send, status: int, length: int, headers: list[tuple[bytes, bytes]]
) -> None:
    """Send the response head."""
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*headers, (b"content-length", str(length).encode())],
        }
    )


async def _respond(
    send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]
) -> None:
    """Send a whole response."""
    await _start(send, status, len(body), headers)
    await send({"type": "http.response.body", "body": body})


async def _http_error(
    send: Send,
    scope: Scope,
    status: int,
    error: str,
    allow: str | None = None,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    """An HTTP error in the shape Spring gives it: no ``code`` field."""
    body = dumps(
        {
            "timestamp": datetime.now(GMT8).isoformat(timespec="milliseconds"),
            "status": status,
            "error": error,
            "path": scope.get("path", ""),
        }
    )
    extra = list(headers or [])
    if allow is not None:
        extra.append((b"allow", allow.encode()))
    await _respond(send, status, body, [_JSON, *extra])


async def _lifespan(receive: Receive, send: Send) -> None:
    """Acknowledge startup and shutdown: the sandbox needs neither."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
