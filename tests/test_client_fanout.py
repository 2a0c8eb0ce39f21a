"""The client's fan-out methods, over a fake server speaking the envelope."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest

import mioesim_async as mio

pytestmark = pytest.mark.anyio

POISONED = "8986999999999999999"


def portfolio(n: int) -> list[str]:
    return [f"89860000000000{index:05d}" for index in range(n)]


class FakeServer:
    """Answers queryIccidInformation with one record per ICCID asked."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        iccids = request.url.params["iccids"].split(",")
        self.batches.append(iccids)
        if POISONED in iccids:
            body = {"code": -8, "message": "query failed", "data": ""}
        else:
            records = [{"iccid": i, "dpStatus": "ACTIVE", "usedMB": 1} for i in iccids]
            body = {"code": "0", "message": "ok", "data": list(reversed(records))}
        return httpx.Response(200, content=json.dumps(body).encode())


@pytest.fixture
def server() -> FakeServer:
    return FakeServer()


@pytest.fixture
async def client(server: FakeServer) -> AsyncIterator[mio.Client]:
    async with mio.Client(
        token="t",
        secret_key="s",
        transport=httpx.MockTransport(server),
        max_concurrency=4,
    ) as client:
        yield client


async def test_query_iccids(client, server):
    """250 ICCIDs, one repeated: three requests, records in input order."""
    iccids = [*portfolio(250), portfolio(1)[0]]
    progress: list[tuple[int, int | None]] = []
    result = await client.query_iccids(
        iccids, on_progress=lambda done, total: progress.append((done, total))
    )
    assert [len(batch) for batch in sorted(server.batches, key=len)] == [50, 100, 100]
    assert [record.iccid for record in result.records] == portfolio(250)
    assert result.duplicates == [portfolio(1)[0]]
    assert result.ok
    done = [done for done, _ in progress]
    assert len(progress) == 3
    assert done == sorted(done)
    assert progress[-1] == (250, 250)
    assert {total for _, total in progress} == {250}


async def test_poisoned_iccid_is_isolated(client, server):
    """One ICCID the server chokes on costs only itself."""
    iccids = [*portfolio(60), POISONED, *portfolio(100)[60:]]
    result = await client.query_iccids(iccids)
    assert list(result.failed) == [POISONED]
    assert isinstance(result.failed[POISONED], mio.APIError)
    assert len(result.records) == 100
    with pytest.raises(mio.BatchError, match=POISONED):
        result.raise_for_errors()


async def test_stream_iccids(client, server):
    seen = []
    async for chunk in client.stream_iccids(iter(portfolio(250))):
        assert chunk.error is None
        seen.extend(record.iccid for record in chunk.records)
    assert sorted(seen) == portfolio(250)


async def test_concurrency_above_the_pool_is_refused(client, server):
    with pytest.raises(ValueError, match="exceeds the connection pool of 100"):
        await client.query_iccids(portfolio(10), concurrency=101)
    assert server.batches == []


async def test_invalid_iccid_sends_nothing(client, server):
    with pytest.raises(mio.InvalidICCIDError) as info:
        await client.query_iccids([*portfolio(150), "bad"])
    assert info.value.position == 150
    assert server.batches == []


async def test_large_max_concurrency_grows_the_pool(server):
    async with mio.Client(
        token="t", secret_key="s", transport=httpx.MockTransport(server),
        max_concurrency=150,
    ) as client:  # fmt: skip
        result = await client.query_iccids(portfolio(300), concurrency=150)
    assert len(result.records) == 300
