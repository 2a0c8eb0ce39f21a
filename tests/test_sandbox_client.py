"""
The library's Client against the sandbox: in process, and over a real socket
with each HTTP backend (aiohttp on asyncio only), so both backends pass the
same tests.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import date
from decimal import Decimal

import pytest

from mioesim_async import CardStatus, Client, IPNotWhitelistedError, OrderStatus
from mioesim_async.sandbox import Faults, Sandbox

pytestmark = pytest.mark.anyio

TODAY = date(2025, 1, 15)


@pytest.fixture
def sandbox() -> Sandbox:
    return Sandbox(cards=300, seed=0, today=TODAY)


Connect = Callable[[Sandbox], AbstractAsyncContextManager[Client]]


@pytest.fixture(params=["in-process", "httpx", "aiohttp"])
def connect(request: pytest.FixtureRequest, anyio_backend: str) -> Connect:
    """Opens a client on a sandbox: in process, or served with a backend."""
    mode = request.param
    if mode == "aiohttp" and anyio_backend == "trio":
        pytest.skip("the aiohttp backend runs on asyncio only")

    @asynccontextmanager
    async def open_client(sandbox: Sandbox) -> AsyncIterator[Client]:
        if mode == "in-process":
            async with sandbox.client() as client:
                yield client
            return
        async with (
            sandbox.serve() as base_url,
            Client(
                phone_number=sandbox.phone_number,
                password=sandbox.password,
                secret_key=sandbox.secret_key,
                base_url=base_url,
                http_backend=mode,
            ) as client,
        ):
            yield client

    return open_client


async def test_poll_the_whole_portfolio_in_chunks_of_100(
    sandbox: Sandbox, connect: Connect
) -> None:
    iccids = sandbox.iccids
    async with connect(sandbox) as client:
        records = []
        for start in range(0, len(iccids), 100):
            records += await client.query_iccid_information(iccids[start : start + 100])
    assert [r.iccid for r in records] == iccids
    assert {r.status for r in records} == {
        CardStatus.ACTIVE, CardStatus.ENABLE, CardStatus.DISABLE, CardStatus.DELETE
    }  # fmt: skip
    assert sandbox.stats.requests["queryIccidInformation"] == 3
    assert sandbox.stats.requests["login"] == 1
    for record in records:
        wire = sandbox.usage_record(record.iccid)
        assert wire is not None
        assert record.used_mb == pytest.approx(float(wire["usedMB"]))
        assert record.total_mb == wire["totalMB"]
        assert record.sku_id == wire["skuId"]


async def test_an_order_and_its_cards(sandbox: Sandbox, connect: Connect) -> None:
    async with connect(sandbox) as client:
        before = await client.get_balance()
        order = await client.add_esim_order(45, 442, 2, other_order_id="shop-7")
        assert order.other_order_id == "shop-7"
        assert order.status is OrderStatus.PAID
        iccids = [card.iccid for card in order.cards]
        assert len(iccids) == 2
        records = await client.query_iccid_information(iccids)
        assert [r.iccid for r in records] == iccids
        assert all(r.status is CardStatus.ENABLE for r in records)
        history = await client.get_history_detail(iccids[0])
        assert [h.order_num for h in history] == [order.order_num]
        detail = await client.get_esim_detail(iccids[1])
        assert detail.iccid == iccids[1]
        after = await client.get_balance()
    assert before.balance - after.balance == Decimal("11.80")
    assert sandbox.stats.requests["addEsimOrder"] == 1
    assert sandbox.stats.orders == 1


async def test_renew_and_refund(sandbox: Sandbox, connect: Connect) -> None:
    async with connect(sandbox) as client:
        order = await client.add_esim_order(45, 441, 1)
        iccid = order.cards[0].iccid
        renewal = await client.renew_card(45, 443, iccid=iccid)
        assert renewal.main_order_num == order.order_num
        history = await client.get_history_detail(iccid)
        assert [h.order_num for h in history] == [order.order_num, renewal.order_num]
        second = await client.add_esim_order(26, 261, 1)
        await client.refund_order(second.order_num, [second.cards[0].iccid])
        refunded = await client.get_order_info(second.order_num)
    assert refunded.status is OrderStatus.CANCELLED


async def test_the_client_logs_in_again_when_the_token_expires(
    sandbox: Sandbox, connect: Connect
) -> None:
    async with connect(sandbox) as client:
        await client.get_balance()
        sandbox.expire_token()
        await client.get_balance()
    assert sandbox.stats.requests["login"] == 2


async def test_esim_detail_outside_the_whitelist(
    sandbox: Sandbox, connect: Connect
) -> None:
    closed = Sandbox(cards=3, ip_whitelist=set())
    async with connect(closed) as client:
        with pytest.raises(IPNotWhitelistedError):
            await client.get_esim_detail(closed.iccids[0])


async def test_fan_out_isolates_a_poisoned_iccid(
    sandbox: Sandbox, connect: Connect
) -> None:
    poisoned = sandbox.iccids[137]
    sandbox.faults = Faults(poisoned={poisoned})
    async with connect(sandbox) as client:
        result = await client.query_iccids(sandbox.iccids, concurrency=4)
    assert list(result.failed) == [poisoned]
    assert len(result.records) == 299
    assert not result.missing


async def test_fan_out_reports_dropped_records_as_missing(
    sandbox: Sandbox, connect: Connect
) -> None:
    sandbox.faults = Faults(drop_rate=0.05, seed=1, endpoints={"queryIccidInformation"})
    async with connect(sandbox) as client:
        result = await client.query_iccids(sandbox.iccids, concurrency=4)
    dropped = sandbox.stats.faults["dropped_record"]
    assert dropped > 0
    assert len(result.missing) == dropped
    assert len(result.records) + len(result.missing) == 300


async def test_the_whole_portfolio_by_fan_out(
    sandbox: Sandbox, connect: Connect
) -> None:
    async with connect(sandbox) as client:
        result = await client.query_iccids(sandbox.iccids)
        balance = await client.get_balance()
    assert result.ok
    assert [r.iccid for r in result.records] == sandbox.iccids
    assert balance.balance == sandbox.balance
