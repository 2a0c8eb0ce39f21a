"""
The aiohttp transport against real servers on 127.0.0.1.

Well-behaved answers come from an ``aiohttp.web`` app; misbehaving ones (no
answer, half an answer, an answer that never comes) from raw asyncio servers,
which do exactly what they are told.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import socket
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from decimal import Decimal

import aiohttp
import anyio
import httpx
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

import mioesim_async
from mioesim_async._aiohttp import AiohttpTransport, _as_httpx_error, _require_asyncio
from mioesim_async._transport import _NOT_SENT

pytestmark = pytest.mark.anyio

RawHandler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@pytest.fixture
def anyio_backend() -> str:
    """aiohttp runs on asyncio only; the trio test below asks for trio itself."""
    return "asyncio"


# The well-behaved server ---------------------------------------------------


async def echo(request: web.Request) -> web.Response:
    """What arrived, as JSON: method, query, headers in order, body, client port."""
    assert request.transport is not None
    answer = {
        "method": request.method,
        "query": list(request.query.items()),
        "headers": [
            (name.decode(), value.decode()) for name, value in request.raw_headers
        ],
        "body": (await request.read()).decode(),
        "client_port": request.transport.get_extra_info("peername")[1],
    }
    return web.json_response(answer, headers={"X-Answer": "echo"})


async def status(request: web.Request) -> web.Response:
    code = int(request.match_info["code"])
    return web.Response(
        status=code, text=f"status {code}", headers={"Retry-After": "7"}
    )


async def gzipped(request: web.Request) -> web.Response:
    body = gzip.compress(json.dumps({"code": "0", "data": "x" * 1000}).encode())
    return web.Response(
        body=body,
        headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
    )


async def chunked(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse()
    response.enable_chunked_encoding()
    await response.prepare(request)
    for part in (b'{"code": "0", ', b'"data": [1, 2, 3]}'):
        await response.write(part)
    await response.write_eof()
    return response


async def no_content(request: web.Request) -> web.Response:
    return web.Response(status=204)


async def bad_gzip(request: web.Request) -> web.Response:
    return web.Response(body=b"{}", headers={"Content-Encoding": "gzip"})


async def get_balance(request: web.Request) -> web.Response:
    if "sign" not in request.query or request.query.get("token") != "ready-token":
        return web.json_response({"code": "-1", "message": "not signed", "data": None})
    data = {"balance": "1.00", "currency": "USD"}
    return web.json_response({"code": "0", "message": "ok", "data": data})


@pytest.fixture
def hanging() -> asyncio.Event:
    """Set once the server holds a request to /hang that it will never answer."""
    return asyncio.Event()


@pytest.fixture
async def base_url(hanging: asyncio.Event) -> AsyncIterator[str]:
    async def hang(request: web.Request) -> web.Response:
        hanging.set()
        await asyncio.Event().wait()  # cancelled when the client hangs up
        raise AssertionError("unreachable")

    app = web.Application()
    app.router.add_get("/hang", hang)
    app.router.add_route("*", "/echo", echo)
    app.router.add_get("/status/{code}", status)
    app.router.add_get("/gzip", gzipped)
    app.router.add_get("/chunked", chunked)
    app.router.add_get("/no-content", no_content)
    app.router.add_get("/bad-gzip", bad_gzip)
    app.router.add_get("/api_esim/getBalance", get_balance)
    async with TestServer(app, host="127.0.0.1", handler_cancellation=True) as server:
        yield str(server.make_url("")).rstrip("/")


@pytest.fixture
async def client(base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    transport = AiohttpTransport(max_connections=4)
    async with httpx.AsyncClient(base_url=base_url, transport=transport) as client:
        yield client


# Raw servers for the faults ------------------------------------------------


@asynccontextmanager
async def raw_server(handler: RawHandler) -> AsyncIterator[str]:
    """A TCP server on 127.0.0.1 running *handler* per connection."""
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        yield f"http://127.0.0.1:{port}"


async def read_request_head(reader: asyncio.StreamReader) -> None:
    await reader.readuntil(b"\r\n\r\n")


async def close_mid_body(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    await read_request_head(reader)
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b"x" * 10)
    await writer.drain()
    writer.close()


async def close_without_answer(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    await read_request_head(reader)
    writer.close()


def never_answer(received: asyncio.Event) -> RawHandler:
    """A handler that reads the request and waits for the client to hang up."""

    async def handler(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        await read_request_head(reader)
        received.set()
        await reader.read()  # returns at EOF: the client gave up
        writer.close()

    return handler


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A port bound on 127.0.0.1 but not listening: connecting is refused."""
    with socket.socket() as bound:
        bound.bind(("127.0.0.1", 0))
        yield bound.getsockname()[1]


# Requests and answers --------------------------------------------------------


async def test_get_sends_the_query_as_given(client: httpx.AsyncClient) -> None:
    params = (("iccids", "8985200000000000001,8985200000000000002"), ("b", "x y"))
    response = await client.get("/echo", params=params)

    assert response.status_code == 200
    assert response.json()["method"] == "GET"
    assert response.json()["query"] == [list(pair) for pair in params]
    assert response.json()["body"] == ""


async def test_post_sends_the_form_body(client: httpx.AsyncClient) -> None:
    response = await client.post("/echo", data={"skuId": "12", "sign": "ab+c/d"})

    echoed = response.json()
    headers = {name.lower(): value for name, value in echoed["headers"]}
    assert echoed["method"] == "POST"
    assert echoed["body"] == "skuId=12&sign=ab%2Bc%2Fd"
    assert headers["content-type"] == "application/x-www-form-urlencoded"
    assert headers["content-length"] == str(len(echoed["body"]))


async def test_the_wire_carries_exactly_the_httpx_headers(
    client: httpx.AsyncClient,
) -> None:
    request = client.build_request(
        "POST", "/echo", data={"a": "1"}, headers={"X-Trace": "t-1"}
    )
    response = await client.send(request)

    sent = [(name.lower(), value) for name, value in request.headers.multi_items()]
    received = [(name.lower(), value) for name, value in response.json()["headers"]]
    assert sorted(received) == sorted(sent)
    assert response.headers["X-Answer"] == "echo"


async def test_a_streamed_body_is_sent_whole(client: httpx.AsyncClient) -> None:
    async def parts() -> AsyncIterator[bytes]:
        yield b"a=1"
        yield b"&b=2"

    response = await client.post("/echo", content=parts())

    headers = {name.lower(): value for name, value in response.json()["headers"]}
    assert response.json()["body"] == "a=1&b=2"
    assert headers["content-length"] == "7"
    assert "transfer-encoding" not in headers


@pytest.mark.parametrize("code", [200, 201, 404, 429, 500, 503])
async def test_status_codes_come_through(client: httpx.AsyncClient, code: int) -> None:
    response = await client.get(f"/status/{code}")

    assert response.status_code == code
    assert response.reason_phrase == httpx.codes.get_reason_phrase(code)
    assert response.headers["Retry-After"] == "7"
    assert response.text == f"status {code}"


async def test_a_json_answer(client: httpx.AsyncClient) -> None:
    response = await client.get("/api_esim/getBalance", params={"token": "x"})

    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json() == {"code": "-1", "message": "not signed", "data": None}


async def test_a_gzipped_answer_is_decoded_once(client: httpx.AsyncClient) -> None:
    response = await client.get("/gzip")

    assert response.json() == {"code": "0", "data": "x" * 1000}
    assert int(response.headers["Content-Length"]) < 1000  # the compressed size


async def test_a_chunked_answer_gains_no_content_length(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/chunked")

    assert response.json() == {"code": "0", "data": [1, 2, 3]}
    assert response.headers["Transfer-Encoding"] == "chunked"
    assert "Content-Length" not in response.headers


async def test_an_empty_answer_keeps_its_headers(client: httpx.AsyncClient) -> None:
    response = await client.get("/no-content")

    assert response.status_code == 204
    assert response.content == b""
    assert "Content-Length" not in response.headers


async def test_a_body_that_does_not_decode_raises_httpx_decoding_error(
    client: httpx.AsyncClient,
) -> None:
    with pytest.raises(httpx.DecodingError):
        await client.get("/bad-gzip")


async def test_one_connection_serves_requests_in_turn(
    client: httpx.AsyncClient,
) -> None:
    ports = {(await client.get("/echo")).json()["client_port"] for _ in range(5)}

    assert len(ports) == 1


async def test_a_cancelled_request_leaves_the_pool_usable(
    base_url: str, hanging: asyncio.Event
) -> None:
    transport = AiohttpTransport(max_connections=1)
    async with httpx.AsyncClient(base_url=base_url, transport=transport) as client:
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(client.get, "/hang")
            await hanging.wait()
            tasks.cancel_scope.cancel()
        statuses = [(await client.get("/echo")).status_code for _ in range(3)]

    assert statuses == [200, 200, 200]


# Failures, and whether the request may have reached the server ---------------


async def test_refused_connection_is_a_connect_error(closed_port: int) -> None:
    request = httpx.Request("GET", f"http://127.0.0.1:{closed_port}/api_esim/getSkus")
    transport = AiohttpTransport()
    try:
        with pytest.raises(httpx.ConnectError) as caught:
            await transport.handle_async_request(request)
    finally:
        await transport.aclose()
    assert caught.value.request is request
    assert isinstance(caught.value, _NOT_SENT)


async def test_no_answer_in_time_is_a_read_timeout() -> None:
    received = asyncio.Event()
    async with raw_server(never_answer(received)) as url:
        transport = AiohttpTransport()
        async with httpx.AsyncClient(transport=transport, timeout=0.2) as client:
            with pytest.raises(httpx.ReadTimeout) as caught:
                await client.get(f"{url}/api_esim/addEsimOrder")
    assert received.is_set()
    assert not isinstance(caught.value, _NOT_SENT)


async def test_waiting_for_a_pooled_connection_is_a_connect_timeout() -> None:
    """The only connection is busy: the second request never leaves."""
    received = asyncio.Event()
    transport = AiohttpTransport(max_connections=1)
    async with (
        raw_server(never_answer(received)) as url,
        httpx.AsyncClient(transport=transport, timeout=5.0) as client,
        anyio.create_task_group() as tasks,
    ):
        tasks.start_soon(client.get, f"{url}/first")
        await received.wait()
        quick = httpx.Timeout(5.0, connect=0.1, pool=0.1)
        with pytest.raises(httpx.ConnectTimeout) as caught:
            await client.get(f"{url}/second", timeout=quick)
        tasks.cancel_scope.cancel()
    assert isinstance(caught.value, _NOT_SENT)


async def test_closing_mid_answer_is_a_protocol_error() -> None:
    async with (
        raw_server(close_mid_body) as url,
        httpx.AsyncClient(transport=AiohttpTransport()) as client,
    ):
        with pytest.raises(httpx.RemoteProtocolError) as caught:
            await client.get(url)
    assert not isinstance(caught.value, _NOT_SENT)


async def test_closing_without_an_answer_is_a_protocol_error() -> None:
    async with (
        raw_server(close_without_answer) as url,
        httpx.AsyncClient(transport=AiohttpTransport()) as client,
    ):
        with pytest.raises(httpx.RemoteProtocolError) as caught:
            await client.get(url)
    assert not isinstance(caught.value, _NOT_SENT)


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (aiohttp.ConnectionTimeoutError("connect"), httpx.ConnectTimeout),
        (aiohttp.SocketTimeoutError("read"), httpx.ReadTimeout),
        (aiohttp.ServerTimeoutError("read"), httpx.ReadTimeout),
        (TimeoutError(), httpx.ReadTimeout),
        (aiohttp.ServerDisconnectedError(), httpx.RemoteProtocolError),
        (aiohttp.ClientPayloadError("short"), httpx.RemoteProtocolError),
        (aiohttp.ClientConnectionResetError("reset"), httpx.WriteError),
        (aiohttp.ClientOSError(104, "reset by peer"), httpx.ReadError),
        (aiohttp.ClientConnectionError("closed"), httpx.ReadError),
        (aiohttp.NonHttpUrlClientError("ftp://x"), httpx.UnsupportedProtocol),
        (aiohttp.ClientError("other"), httpx.TransportError),
    ],
)
def test_error_mapping(error: BaseException, expected: type[Exception]) -> None:
    request = httpx.Request("POST", "http://127.0.0.1/api_esim/addEsimOrder")
    mapped = _as_httpx_error(error, request)

    assert type(mapped) is expected
    assert mapped.request is request
    assert str(mapped)


# Lifecycle --------------------------------------------------------------------


async def test_aclose_is_idempotent_and_needs_no_request(base_url: str) -> None:
    unused = AiohttpTransport()
    await unused.aclose()
    await unused.aclose()

    used = AiohttpTransport()
    async with httpx.AsyncClient(base_url=base_url, transport=used) as client:
        assert (await client.get("/echo")).status_code == 200
    await used.aclose()
    with pytest.raises(RuntimeError, match="closed"):
        await used.handle_async_request(httpx.Request("GET", f"{base_url}/echo"))


def test_timeouts_map_phase_by_phase() -> None:
    transport = AiohttpTransport()
    timeout = httpx.Timeout(30.0, connect=2.0, pool=1.0).as_dict()

    mapped = transport._client_timeout(timeout)

    assert mapped.sock_connect == 2.0
    assert mapped.sock_read == 30.0
    assert mapped.connect == 3.0  # aiohttp's connect spans the pool wait too
    assert mapped.total is None
    assert transport._client_timeout(dict(timeout)) is mapped


def test_no_pool_timeout_leaves_the_pool_wait_unbounded() -> None:
    transport = AiohttpTransport()

    mapped = transport._client_timeout(httpx.Timeout(5.0, pool=None).as_dict())

    assert (mapped.connect, mapped.sock_connect, mapped.sock_read) == (None, 5.0, 5.0)


def test_the_timeout_cache_stays_small() -> None:
    transport = AiohttpTransport()
    for read in range(100):
        mapped = transport._client_timeout(httpx.Timeout(float(read)).as_dict())
        assert mapped.sock_read == read
    assert len(transport._timeouts) <= 16


def test_max_connections_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_connections"):
        AiohttpTransport(max_connections=0)


@pytest.mark.parametrize("anyio_backend", ["trio"])
async def test_trio_is_refused_clearly() -> None:
    transport = AiohttpTransport()
    with pytest.raises(RuntimeError, match="trio") as caught:
        await transport.handle_async_request(httpx.Request("GET", "http://127.0.0.1/"))
    assert "http_backend='httpx'" in str(caught.value)
    await transport.aclose()


def test_outside_an_event_loop_is_refused() -> None:
    with pytest.raises(RuntimeError, match="asyncio only"):
        _require_asyncio()


def test_without_sniffio_there_is_no_trio(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "sniffio", None)

    _require_asyncio()  # no error: trio cannot be running without sniffio


def test_repr_shows_the_pool_size() -> None:
    assert repr(AiohttpTransport(max_connections=7)) == (
        "<AiohttpTransport max_connections=7>"
    )


# Under the library's Client ---------------------------------------------------


async def test_client_over_the_aiohttp_transport(base_url: str) -> None:
    async with mioesim_async.Client(
        secret_key="secret",
        token="ready-token",
        base_url=base_url,
        transport=AiohttpTransport(),
    ) as client:
        balance = await client.get_balance()

    assert balance.balance == Decimal("1.00")
    assert balance.currency == "USD"
