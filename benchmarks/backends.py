"""
Requests per second through each HTTP backend, on loopback.

Run with ``python -m benchmarks.backends``. It starts a small server in a
separate process on 127.0.0.1 (a raw ASGI app under uvicorn with httptools)
that answers every request with a ~20 KB queryIccidInformation body, then
sends bounded runs of GET requests, each carrying 100 ICCIDs in its query, at
several concurrencies through:

- ``httpx``: a plain ``httpx.AsyncClient`` with its default transport, its
  pool sized as the library's ``Transport`` sizes it;
- ``httpx+aiohttp``: the same client over ``AiohttpTransport``;
- ``aiohttp``: a raw ``aiohttp.ClientSession``, the floor to aim for;
- ``httpx-aiohttp``: the published transport package, when it is installed.

Contestants run in turns (A B C A B C ...) so that a slow patch on a shared
machine hurts each alike; each figure is the median over the rounds. Bodies
are read whole but not parsed: this measures the HTTP stack only. One request
answers 100 ICCIDs, so ICCIDs/s is 100 times requests/s.

``--short-url`` sends a bare path instead: building and parsing the 2.4 KB
query costs httpx more than any transport does, and hides their difference.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import importlib.util
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import aiohttp
import httpx

from mioesim_async._aiohttp import AiohttpTransport

PATH = "/api_esim/queryIccidInformation"
ICCIDS_PER_REQUEST = 100
POOL = 100  # the library's minimum pool: wider than any concurrency measured

Run = Callable[[str, str, int, int], Awaitable[float]]


# The server ----------------------------------------------------------------


def usage_body(records: int = ICCIDS_PER_REQUEST) -> bytes:
    """A queryIccidInformation answer of about 20 KB, numbers as text."""
    data = [
        {
            "iccid": f"8985200{index:013d}",
            "dpStatus": "ACTIVE",
            "usedMB": f"{index * 7.31:.2f}",
            "totalMB": "10240",
            "remainMB": f"{10240 - index * 7.31:.2f}",
            "startDate": "2024-05-01 09:00:00",
            "endDate": "2024-05-31 09:00:00",
            "skuId": "12",
            "priceId": "3401",
            "display": "EU 10GB 30d",
        }
        for index in range(records)
    ]
    envelope = {"code": "0", "message": "success", "data": data}
    return json.dumps(envelope, separators=(",", ":")).encode()


def serve(fd: int) -> None:
    """Serve the usage body on the listening socket *fd* until killed."""
    import uvicorn

    body = usage_body()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    # Not uvicorn's own fd= option: it takes every fd for a Unix socket, and
    # asyncio then leaves Nagle on for accepted TCP connections, adding ~40 ms
    # (delayed ACK) to each answer written in two parts.
    listener = socket.socket(fileno=fd)
    threading.Thread(target=_exit_with_parent, daemon=True).start()
    config = uvicorn.Config(app, http="httptools", log_level="warning")
    serving = uvicorn.Server(config).serve(sockets=[listener])
    try:
        import uvloop
    except ImportError:
        asyncio.run(serving)
    else:
        uvloop.run(serving)


def _exit_with_parent() -> None:
    """Stop when the measuring process goes, however it goes: stdin closes."""
    sys.stdin.buffer.read()
    os._exit(0)


@contextlib.contextmanager
def server() -> Iterator[str]:
    """A server process on 127.0.0.1; yields its base URL, stops it after."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1024)
        port = listener.getsockname()[1]
        fd = listener.fileno()
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "benchmarks.backends", "--serve-fd", str(fd)],
            pass_fds=[fd],
            stdin=subprocess.PIPE,
        )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)
        assert process.stdin is not None
        process.stdin.close()


def request_path(short: bool = False) -> str:
    """The path and query of a realistic 100-ICCID request, or a bare path."""
    if short:
        return PATH
    iccids = ",".join(f"8985200{index:013d}" for index in range(ICCIDS_PER_REQUEST))
    query = httpx.QueryParams(
        {"iccids": iccids, "timestamp": "1715000000000", "token": "t" * 32}
    )
    return f"{PATH}?{query}&sign={'0' * 32}"


# The contestants ------------------------------------------------------------


async def _timed(
    send_one: Callable[[], Awaitable[object]], concurrency: int, requests: int
) -> float:
    """Requests per second: *requests* calls of *send_one*, *concurrency* at once."""
    await asyncio.gather(*(send_one() for _ in range(concurrency)))  # warm the pool
    remaining = requests

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await send_one()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return requests / (time.perf_counter() - started)


def _pool() -> httpx.Limits:
    return httpx.Limits(max_connections=POOL, max_keepalive_connections=POOL)


async def run_httpx(url: str, path: str, concurrency: int, requests: int) -> float:
    async with httpx.AsyncClient(base_url=url, limits=_pool()) as client:
        return await _timed(_httpx_sender(client, path), concurrency, requests)


async def run_httpx_over_aiohttp(
    url: str, path: str, concurrency: int, requests: int
) -> float:
    transport = AiohttpTransport(max_connections=POOL)
    async with httpx.AsyncClient(base_url=url, transport=transport) as client:
        return await _timed(_httpx_sender(client, path), concurrency, requests)


async def run_httpx_aiohttp_package(
    url: str, path: str, concurrency: int, requests: int
) -> float:
    package = importlib.import_module("httpx_aiohttp")  # optional, untyped here
    transport = package.AiohttpTransport(limits=_pool())
    async with httpx.AsyncClient(base_url=url, transport=transport) as client:
        return await _timed(_httpx_sender(client, path), concurrency, requests)


def _httpx_sender(
    client: httpx.AsyncClient, path: str
) -> Callable[[], Awaitable[bytes]]:
    async def send_one() -> bytes:
        response = await client.get(path)
        response.raise_for_status()
        return response.content

    return send_one


async def run_aiohttp(url: str, path: str, concurrency: int, requests: int) -> float:
    connector = aiohttp.TCPConnector(limit=POOL, limit_per_host=POOL)
    async with aiohttp.ClientSession(url, connector=connector) as session:

        async def send_one() -> bytes:
            async with session.get(path) as response:
                response.raise_for_status()
                return await response.read()

        return await _timed(send_one, concurrency, requests)


def contestants() -> dict[str, Run]:
    runs: dict[str, Run] = {
        "httpx": run_httpx,
        "httpx+aiohttp": run_httpx_over_aiohttp,
        "aiohttp": run_aiohttp,
    }
    if importlib.util.find_spec("httpx_aiohttp") is not None:
        runs["httpx-aiohttp"] = run_httpx_aiohttp_package
    return runs


# The measurement ------------------------------------------------------------


async def measure(
    url: str, path: str, concurrencies: list[int], requests: int, rounds: int
) -> dict[int, dict[str, float]]:
    """Median requests/s per concurrency and contestant, run in turns."""
    runs = contestants()
    medians: dict[int, dict[str, float]] = {}
    for concurrency in concurrencies:
        samples: dict[str, list[float]] = {name: [] for name in runs}
        for _ in range(rounds):
            for name, run in runs.items():
                samples[name].append(await run(url, path, concurrency, requests))
        medians[concurrency] = {
            name: statistics.median(values) for name, values in samples.items()
        }
        print(f"  concurrency {concurrency}: done", file=sys.stderr)
    return medians


def print_table(medians: dict[int, dict[str, float]]) -> None:
    names = list(next(iter(medians.values())))
    header = ["concurrency", *(f"{name} req/s" for name in names)]
    header += ["vs httpx", "vs aiohttp"]
    print(" | ".join(header))
    print(" | ".join("---" for _ in header))
    for concurrency, figures in medians.items():
        ours = figures["httpx+aiohttp"]
        row = [str(concurrency), *(f"{figures[name]:,.0f}" for name in names)]
        row += [f"{ours / figures['httpx']:.2f}x", f"{ours / figures['aiohttp']:.2f}x"]
        print(" | ".join(row))
    print(
        f"\n(one request = {ICCIDS_PER_REQUEST} ICCIDs; "
        "'vs' columns: httpx+aiohttp divided by that column)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[8, 32, 64])
    parser.add_argument("--requests", type=int, default=2000, help="per run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--short-url",
        action="store_true",
        help="send a bare path, without the 2.4 KB query of 100 ICCIDs, "
        "to measure the transports alone",
    )
    parser.add_argument("--serve-fd", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_fd is not None:
        serve(args.serve_fd)
        return
    with server() as url:
        medians = asyncio.run(
            measure(
                url,
                request_path(args.short_url),
                args.concurrency,
                args.requests,
                args.rounds,
            )
        )
    print_table(medians)


if __name__ == "__main__":
    main()
