"""
Server CPU per ``queryIccidInformation`` request of 100 ICCIDs, in the sandbox.

Run with ``python -m benchmarks.sandbox_speed``. It calls the ASGI application
directly (no HTTP, no client) and prints CPU microseconds per request:

- warm: the same 100 cards asked again, their records' JSON cached;
- cold: 100 cards never asked before, so each record is generated and
  rendered first;

beside the target: well under a millisecond, so that the sandbox is never
what a fan-out benchmark measures. Each figure is the lowest, over several
rounds, of the mean over many requests: on a shared machine one round still
moves with other processes' load.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

from mioesim_async._signing import sign
from mioesim_async.sandbox import Sandbox

TARGET_US = 1000.0
CHUNK = 100

Message = dict[str, Any]


def _query_scope(sandbox: Sandbox, token: str, iccids: list[str]) -> dict[str, Any]:
    """The ASGI scope of a signed 100-ICCID query."""
    params = {"iccids": ",".join(iccids), "token": token}
    params["sign"] = sign(params, sandbox.secret_key, sandbox.signature_style)
    return {
        "type": "http",
        "method": "GET",
        "path": "/api_esim/queryIccidInformation",
        "query_string": urlencode(params).encode(),
        "headers": [],
        "client": ("127.0.0.1", 1),
    }


async def _call(
    app: Callable[..., Awaitable[None]], scope: dict[str, Any], body: bytes = b""
) -> bytes:
    """One request through the ASGI app; the response body."""
    sent: list[bytes] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: Message) -> None:
        if message["type"] == "http.response.body":
            sent.append(message.get("body", b""))

    await app(scope, receive, send)
    return b"".join(sent)


async def _login(sandbox: Sandbox) -> str:
    """A token, obtained through the app like any client would."""
    form = {"phonenumber": sandbox.phone_number, "password": sandbox.password}
    form["sign"] = sign(form, sandbox.secret_key, sandbox.signature_style)
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/api_order/login",
        "query_string": b"",
        "headers": [(b"content-type", b"application/x-www-form-urlencoded")],
    }
    answer = json.loads(await _call(sandbox.app, scope, urlencode(form).encode()))
    return str(answer["data"]["token"])


async def _warm(sandbox: Sandbox, token: str, requests: int) -> float:
    """CPU microseconds per request for cards already rendered."""
    scope = _query_scope(sandbox, token, sandbox.iccids[:CHUNK])
    body = await _call(sandbox.app, scope)
    assert body.count(b'"iccid"') == CHUNK, body[:200]
    started = time.process_time()
    for _ in range(requests):
        await _call(sandbox.app, scope)
    return (time.process_time() - started) / requests * 1e6


async def _cold(cards: int, requests: int) -> float:
    """CPU microseconds per request for cards asked for the first time."""
    sandbox = Sandbox(cards=cards)
    token = await _login(sandbox)
    iccids = sandbox.iccids
    scopes = [
        _query_scope(sandbox, token, iccids[i : i + CHUNK])
        for i in range(0, requests * CHUNK, CHUNK)
    ]
    started = time.process_time()
    for scope in scopes:
        await _call(sandbox.app, scope)
    return (time.process_time() - started) / requests * 1e6


async def _main(rounds: int, requests: int) -> None:
    sandbox = Sandbox(cards=1000)
    token = await _login(sandbox)
    warm = min([await _warm(sandbox, token, requests) for _ in range(rounds)])
    cold_requests = max(1, requests // 10)
    cold = min(
        [await _cold(cold_requests * CHUNK, cold_requests) for _ in range(rounds)]
    )
    print(f"queryIccidInformation, {CHUNK} ICCIDs, server CPU per request")
    print(f"  warm (records cached): {warm:8.1f} us  ({warm / CHUNK:.2f} us/record)")
    print(f"  cold (first asked):    {cold:8.1f} us  ({cold / CHUNK:.2f} us/record)")
    print(f"  target:               < {TARGET_US:6.0f} us")


def main() -> None:
    """Parse the command line and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    asyncio.run(_main(args.rounds, args.requests))


if __name__ == "__main__":
    main()
