"""What a client holds over a real loopback socket: descriptors, connections
and memory, after thousands of requests, cancelled fan-outs and closing."""

from __future__ import annotations

import gc
import os
import threading
import tracemalloc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date
from typing import Any

import anyio
import anyio.to_thread
import pytest

import mioesim_async as mio
from mioesim_async.sandbox import Faults, Sandbox
from mioesim_async.sandbox._server import serve

pytestmark = pytest.mark.anyio

TODAY = date(2025, 1, 15)
QUERY = "queryIccidInformation"
HANG_GUARD = 60.0

#: Requests in the descriptor test, 5% of their connections cut so that many
#: are opened and closed. The sandbox serves from a thread of this process,
#: so client and server share one interpreter: this is its slowest test.
REQUESTS = 10_000


def socket_inodes() -> set[str]:
    """The inodes of this process's open sockets."""
    inodes = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:  # closed since listed (listdir's own descriptor)
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


def connections_to(port: int) -> int:
    """This process's TCP connections whose far end is *port* (client side)."""
    ours = socket_inodes()
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as lines:
            next(lines)
            for line in lines:
                fields = line.split()
                remote_port = int(fields[2].rsplit(":", 1)[1], 16)
                established = fields[3] == "01"
                if remote_port == port and established and fields[9] in ours:
                    count += 1
    return count


class Arrivals:
    """The sandbox's app, noting each query as it reaches the server thread,
    so a test can wait until requests are truly in flight."""

    def __init__(self, app: Any) -> None:
        self._app = app
        self._lock = threading.Lock()
        self.count = 0
        self._waiters: list[tuple[int, threading.Event]] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"].endswith(QUERY):
            with self._lock:
                self.count += 1
                for wanted, event in self._waiters:
                    if self.count >= wanted:
                        event.set()
        await self._app(scope, receive, send)

    async def reached(self, wanted: int) -> None:
        """Return once *wanted* queries have arrived in all."""
        event = threading.Event()
        with self._lock:
            self._waiters.append((wanted, event))
            if self.count >= wanted:
                event.set()
        await anyio.to_thread.run_sync(event.wait)


@asynccontextmanager
async def served(sb: Sandbox) -> AsyncIterator[tuple[str, int, Arrivals]]:
    """The sandbox on a loopback port: base URL, port, arrivals."""
    arrivals = Arrivals(sb.app)
    async with serve(arrivals, "127.0.0.1", 0) as base_url:  # type: ignore[arg-type]
        yield base_url, int(base_url.rsplit(":", 1)[1]), arrivals


def client_for(sb: Sandbox, base_url: str, **settings: Any) -> mio.Client:
    return mio.Client(
        phone_number=sb.phone_number,
        password=sb.password,
        secret_key=sb.secret_key,
        base_url=base_url,
        **settings,
    )


async def in_parallel(tasks: int, calls: int, call: Any) -> None:
    """*calls* awaits of *call()*, from *tasks* tasks at once."""

    async def worker(share: int) -> None:
        for _ in range(share):
            await call()

    async with anyio.create_task_group() as tg:
        for n in range(tasks):
            tg.start_soon(worker, calls // tasks + (n < calls % tasks))


async def test_nothing_outlives_the_client(sleeps: list[float]) -> None:
    """Thousands of requests, some cut mid-answer: after aclose() no socket
    of the client is left, and after the server stops, no descriptor."""
    sb = Sandbox(cards=1000, seed=0, today=TODAY)
    sb.faults = Faults(disconnect_rate=0.05, endpoints={QUERY}, seed=1)
    iccids = iter(sb.iccids * (REQUESTS // 1000 + 1))
    with anyio.fail_after(HANG_GUARD):
        async with served(sb):
            pass  # the first server of a process opens a pipe it keeps
        before = open_descriptors()
        async with served(sb) as (base_url, port, _):
            # Five tries: at 5% a cut, three in a row come up in 10,000 calls.
            retry = mio.RetryPolicy(attempts=5)
            client = client_for(sb, base_url, max_concurrency=16, retry=retry)
            async with client:

                async def query() -> None:
                    await client.query_iccid_information([next(iccids)])

                await in_parallel(16, REQUESTS, query)
                assert connections_to(port) > 0  # the count sees them
                stats = client.stats()
            assert connections_to(port) == 0
        assert open_descriptors() == before
    cut = sb.stats.faults["disconnect"]
    assert cut > 0  # connections were replaced along the way
    assert sb.stats.requests[QUERY] == REQUESTS + cut == stats.requests - 1
    assert len(sleeps) == cut


async def test_a_cancelled_fan_out_stops_and_leaves_the_client_sound() -> None:
    """Cancelled while its requests wait on the server: it returns, sends no
    further chunk, and 1,000 calls on the same client then succeed."""
    sb = Sandbox(cards=5000, seed=0, today=TODAY)
    # Long enough to be cut short, short enough to end before the server
    # stops (else it waits a second for them).
    sb.faults = Faults(latency=2, endpoints={QUERY})
    with anyio.fail_after(HANG_GUARD):
        async with (
            served(sb) as (base_url, port, arrivals),
            client_for(sb, base_url, max_concurrency=4) as client,
        ):
            await client.get_balance()
            with anyio.CancelScope() as scope:
                async with anyio.create_task_group() as tg:
                    tg.start_soon(client.query_iccids, sb.iccids)
                    await arrivals.reached(4)  # all four in flight
                    scope.cancel()
            assert scope.cancelled_caught
            assert arrivals.count == 4
            sb.faults = Faults()

            await in_parallel(8, 1000, client.get_balance)

            assert arrivals.count == 4  # no chunk was sent after the cancel
            assert sb.stats.requests["getBalance"] == 1001
            assert (await client.query_iccids(sb.iccids)).ok
            assert connections_to(port) <= client.max_concurrency + 8


async def test_thirty_cancelled_fan_outs_in_a_row() -> None:
    """Cancelled mid-request 30 times, each followed by a fan-out that
    succeeds: no slot, connection or task is left behind by any of them."""
    sb = Sandbox(cards=500, seed=0, today=TODAY)
    slow, fast = Faults(latency=2, endpoints={QUERY}), Faults()
    with anyio.fail_after(HANG_GUARD):
        async with (
            served(sb) as (base_url, port, arrivals),
            client_for(sb, base_url, max_concurrency=4) as client,
        ):
            for _ in range(30):
                sb.faults = slow
                arrived = arrivals.count
                with anyio.CancelScope() as scope:
                    async with anyio.create_task_group() as tg:
                        tg.start_soon(client.query_iccids, sb.iccids)
                        await arrivals.reached(arrived + 4)
                        scope.cancel()
                sb.faults = fast
                result = await client.query_iccids(sb.iccids)
                assert result.ok, result
                assert arrivals.count == arrived + 4 + 5
            assert connections_to(port) <= client.max_concurrency


async def test_repeated_fan_outs_do_not_grow_memory() -> None:
    """After warming up, 20 more fan-outs leave no more than crumbs behind."""
    sb = Sandbox(cards=300, seed=0, today=TODAY)
    sb.warm_up()
    with anyio.fail_after(HANG_GUARD):
        async with (
            served(sb) as (base_url, _, _),
            client_for(sb, base_url, max_concurrency=8) as client,
        ):
            tracemalloc.start()
            try:
                for _ in range(3):
                    assert (await client.query_iccids(sb.iccids)).ok
                gc.collect()
                before, _ = tracemalloc.get_traced_memory()
                for _ in range(20):
                    assert (await client.query_iccids(sb.iccids)).ok
                gc.collect()
                after, _ = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
    # Some 20 KB of caches settle. One fan-out's 300 records take 400 KB:
    # keeping them, or 3 KB for each of the 60 requests, would show.
    assert after - before < 128 * 1024, f"grew by {after - before} bytes"
