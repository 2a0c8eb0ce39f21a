"""
Soak: one million ICCIDs streamed through the client against a faulty sandbox.

Run with ``python -m benchmarks.soak`` (``--count`` for a smaller run). The
sandbox is served by uvicorn on 127.0.0.1 from a process of its own, injecting
transient faults into ``queryIccidInformation``: 1% HTTP 503, 0.2% HTTP 429
with a short ``Retry-After``, and 0.05% of records left out. The client reads
the ICCIDs from a generator through ``Client.stream_iccids`` and keeps only a
byte per card, so its memory stays flat.

It prints how many ICCIDs were lost (asked, but in none of records, failed and
missing: must be 0) or accounted for twice (must be 0), the records, failed
and missing counts beside the records the server left out, the requests the
server saw beside the minimum (one per 100 ICCIDs), retries, rate limits,
elapsed time, ICCIDs per second, and the peak RSS of both processes. It exits
1 when anything was lost or counted twice.
"""

from __future__ import annotations

import argparse
import json
import math
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import date
from typing import Any

import anyio

import mioesim_async as mio
from mioesim_async.sandbox import Faults, Sandbox
from mioesim_async.sandbox._portfolio import Portfolio

from ._loopback import peak_rss_mb

QUERY = "queryIccidInformation"
SEED = 0
TODAY = date(2025, 1, 15)
RECORD, FAILED, MISSING = 1, 2, 3


# The server side -------------------------------------------------------------


def serve(fd: int, cards: int, faults: Faults) -> None:
    """Serve the sandbox on listening socket *fd* until stdin closes, then
    print its statistics as one JSON line."""
    import uvicorn

    sandbox = Sandbox(cards=cards, seed=SEED, today=TODAY, faults=faults)
    config = uvicorn.Config(
        sandbox.app, lifespan="off", ws="none", access_log=False, log_level="warning"
    )
    listener = socket.socket(fileno=fd)

    class Server(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets=sockets)
            print("ready", flush=True)

    server = Server(config)

    def stop_when_stdin_closes() -> None:
        sys.stdin.read()
        server.should_exit = True

    threading.Thread(target=stop_when_stdin_closes, daemon=True).start()
    server.run(sockets=[listener])
    stats = sandbox.stats
    figures = {
        "requests": dict(stats.requests),
        "faults": dict(stats.faults),
        "peak_rss_mb": peak_rss_mb(),
    }
    print(json.dumps(figures), flush=True)


class ServerProcess:
    """The sandbox in a child process on a loopback port."""

    def __init__(self, cards: int, faults: dict[str, float]) -> None:
        with socket.socket() as listener:
            listener.bind(("127.0.0.1", 0))
            listener.listen(2048)
            self.base_url = f"http://127.0.0.1:{listener.getsockname()[1]}"
            command = [sys.executable, "-m", "benchmarks.soak", "--serve-fd"]
            command += [str(listener.fileno()), "--count", str(cards)]
            for name, value in faults.items():
                command += [f"--{name.replace('_', '-')}", str(value)]
            self._process = subprocess.Popen(  # noqa: S603 - our own interpreter
                command,
                pass_fds=[listener.fileno()],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
        assert self._process.stdout is not None
        if self._process.stdout.readline().strip() != "ready":
            self._process.kill()
            raise RuntimeError("the sandbox server did not start")

    def stop(self) -> dict[str, Any]:
        """Stop the server; its statistics."""
        assert self._process.stdin is not None
        assert self._process.stdout is not None
        self._process.stdin.close()
        figures = json.loads(self._process.stdout.read())
        self._process.wait(timeout=30)
        return dict(figures)


# The client side -------------------------------------------------------------


class Ledger:
    """One byte per card: which outcome it had, and any it had twice."""

    def __init__(self, portfolio: Portfolio) -> None:
        self._portfolio = portfolio
        self._outcomes = bytearray(portfolio.size)
        self.counts: Counter[int] = Counter()
        self.twice = 0
        self.strangers = 0
        self.errors: Counter[str] = Counter()

    def note(self, chunk: mio.ChunkResult) -> None:
        """Account for every ICCID of *chunk*."""
        if chunk.error is not None:
            self.errors[type(chunk.error).__name__] += len(chunk.iccids)
            for iccid in chunk.iccids:
                self._mark(iccid, FAILED)
            return
        for record in chunk.records:
            self._mark(record.iccid, RECORD)
        for iccid in chunk.missing:
            self._mark(iccid, MISSING)
        if len(chunk.records) + len(chunk.missing) != len(chunk.iccids):
            self.twice += 1  # a chunk's outcomes do not add up

    def _mark(self, iccid: str, outcome: int) -> None:
        index = self._portfolio.index_of(iccid)
        if index is None:
            self.strangers += 1
        elif self._outcomes[index]:
            self.twice += 1
        else:
            self._outcomes[index] = outcome
            self.counts[outcome] += 1

    @property
    def lost(self) -> int:
        """Cards with no outcome at all."""
        return self._outcomes.count(0)


async def soak(
    base_url: str, portfolio: Portfolio, concurrency: int, ledger: Ledger
) -> mio.ClientStats:
    """Stream every card of *portfolio* through a client; its statistics."""
    account = Sandbox(cards=0)  # the default credentials the server uses
    async with mio.Client(
        phone_number=account.phone_number,
        password=account.password,
        secret_key=account.secret_key,
        base_url=base_url,
        max_concurrency=concurrency,
    ) as client:
        stream = client.stream_iccids(portfolio.iter_iccids())
        async with stream as chunks:
            async for chunk in chunks:
                ledger.note(chunk)
        return client.stats()


def report(
    count: int,
    ledger: Ledger,
    client: mio.ClientStats,
    server: dict[str, Any],
    elapsed: float,
    rss_before: float,
) -> None:
    requests = server["requests"]
    faults = server["faults"]
    minimum = math.ceil(count / 100)
    print(f"{count:,} ICCIDs streamed, {ledger.counts.total():,} accounted for")
    print(f"  lost (in none of records, failed, missing): {ledger.lost:,}")
    print(
        f"  accounted for twice: {ledger.twice:,}; unknown ICCIDs: {ledger.strangers}"
    )
    print(
        f"  records {ledger.counts[RECORD]:,}, failed {ledger.counts[FAILED]:,}, "
        f"missing {ledger.counts[MISSING]:,} "
        f"(records the server left out: {faults.get('dropped_record', 0):,})"
    )
    if ledger.errors:
        print(f"  failed by error: {dict(ledger.errors)}")
    print(
        f"requests the server saw: {requests.get(QUERY, 0):,} queries "
        f"(minimum {minimum:,}) + {requests.get('login', 0)} login; "
        f"the client sent {client.requests:,}"
    )
    print(
        f"  injected: {faults.get('server_error', 0):,} HTTP 503, "
        f"{faults.get('rate_limit', 0):,} HTTP 429"
    )
    print(
        f"  client retries {client.retries:,}, rate limited {client.rate_limited:,}, "
        f"calls failed {client.failures:,}, retry budget left {client.retry_tokens}"
    )
    print(f"elapsed: {elapsed:.1f} s ({count / elapsed:,.0f} ICCIDs/s)")
    print(
        f"peak RSS: client {peak_rss_mb():.0f} MB ({rss_before:.0f} MB before "
        f"streaming), server {server['peak_rss_mb']:.0f} MB"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--backend", choices=["asyncio", "trio"], default="asyncio")
    parser.add_argument("--error-rate", type=float, default=0.01)
    parser.add_argument("--rate-limit-rate", type=float, default=0.002)
    parser.add_argument("--retry-after", type=float, default=0.05)
    parser.add_argument("--drop-rate", type=float, default=0.0005)
    parser.add_argument("--serve-fd", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    faults = {
        "error_rate": args.error_rate,
        "rate_limit_rate": args.rate_limit_rate,
        "retry_after": args.retry_after,
        "drop_rate": args.drop_rate,
    }
    if args.serve_fd is not None:
        serve(args.serve_fd, args.count, Faults(endpoints={QUERY}, **faults))
        return

    portfolio = Portfolio(args.count, SEED, TODAY)
    ledger = Ledger(portfolio)
    server = ServerProcess(args.count, faults)
    rss_before = peak_rss_mb()
    started = time.perf_counter()
    try:
        client = anyio.run(
            soak,
            server.base_url,
            portfolio,
            args.concurrency,
            ledger,
            backend=args.backend,
        )
    finally:
        elapsed = time.perf_counter() - started
        figures = server.stop()
    print(
        f"soak: {args.backend}, concurrency {args.concurrency}, faults {faults}",
    )
    report(args.count, ledger, client, figures, elapsed, rss_before)
    if ledger.lost or ledger.twice or ledger.strangers:
        sys.exit(1)


if __name__ == "__main__":
    main()
