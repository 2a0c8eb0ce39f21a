"""The default backend: httpx's pool split in small shards."""

from __future__ import annotations

import anyio
import httpx
import pytest

from mioesim_async._shards import ShardedTransport, shard_sizes
from mioesim_async.sandbox import Sandbox

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    ("total", "size", "sizes"),
    [(100, 4, [4] * 25), (6, 4, [4, 2]), (3, 4, [3]), (1, 4, [1]), (8, 4, [4, 4])],
)
def test_shard_sizes_add_up_to_the_limit(total, size, sizes):
    """No more connections in all than asked for."""
    assert shard_sizes(total, size) == sizes


@pytest.mark.parametrize(("total", "size"), [(0, 4), (4, 0)])
def test_shard_sizes_refuse_nonsense(total, size):
    with pytest.raises(ValueError, match="at least one"):
        shard_sizes(total, size)


def count_connections(transport: ShardedTransport) -> list[int]:
    """Open connections in each shard's pool."""
    return [len(shard._pool.connections) for shard in transport._shards]


async def test_one_connection_per_concurrent_caller():
    """Requests go to the least busy shard, counted busy until their body is
    read: eight callers in turn use exactly eight connections, one each."""
    sandbox = Sandbox(cards=1)
    transport = ShardedTransport(max_connections=100)
    async with (
        sandbox.serve() as base_url,
        httpx.AsyncClient(base_url=base_url, transport=transport) as client,
    ):

        async def caller() -> None:
            for _ in range(20):
                response = await client.get("/nothing-here")
                assert response.status_code == 404

        async with anyio.create_task_group() as tg:
            for _ in range(8):
                tg.start_soon(caller)
        assert count_connections(transport)[:8] == [1] * 8
        assert sum(count_connections(transport)) == 8
    assert sum(count_connections(transport)) == 0  # closed with the client


async def test_a_failed_request_frees_its_shard():
    """A request that never got an answer does not keep its shard busy."""
    transport = ShardedTransport(max_connections=8)
    async with httpx.AsyncClient(transport=transport) as client:
        for _ in range(3):
            with pytest.raises(httpx.ConnectError):
                await client.get("http://127.0.0.1:9/")  # nothing listens there
    assert transport._in_flight == [0, 0]
