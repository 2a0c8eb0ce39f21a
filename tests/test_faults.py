"""The client against the sandbox's injected faults: nothing lost, no order
sent twice, every call ended within its deadline."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date

import anyio
import anyio.lowlevel
import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mioesim_async as mio
from mioesim_async import _retry
from mioesim_async.sandbox import Faults, Sandbox

pytestmark = pytest.mark.anyio

TODAY = date(2025, 1, 15)
QUERY = "queryIccidInformation"
ORDER = "addEsimOrder"
#: Seconds a test waits past its deadline before calling the call hung.
HANG_MARGIN = 10.0
#: Enough retries that a fan-out outlives any storm below.
PATIENT = mio.RetryPolicy(attempts=10, budget=1_000_000)


def make_sandbox(cards: int = 2000, **faults: object) -> Sandbox:
    return Sandbox(cards=cards, seed=0, today=TODAY, faults=Faults(**faults))  # type: ignore[arg-type]


def with_repeats(iccids: list[str]) -> list[str]:
    """*iccids* with every seventh one asked a second time, further on."""
    return iccids + iccids[::7]


def assert_accounted(result: mio.BatchResult, asked: list[str]) -> None:
    """Every distinct ICCID asked is in exactly one of records, failed, missing."""
    distinct = list(dict.fromkeys(asked))
    found = [record.iccid for record in result.records]
    assert len(found) == len(set(found)), "an ICCID has two records"
    assert len(result.missing) == len(set(result.missing)), "missing twice"
    records, failed, missing = set(found), set(result.failed), set(result.missing)
    assert not records & failed
    assert not records & missing
    assert not failed & missing
    assert records | failed | missing == set(distinct)
    assert found == [iccid for iccid in distinct if iccid in records]
    assert result.duplicates == list(dict.fromkeys(asked[len(distinct) :]))


@contextmanager
def hang_guard(deadline: float) -> Iterator[None]:
    """Fail the test, rather than hang it, if a call outlives its deadline."""
    with anyio.fail_after(deadline + HANG_MARGIN):
        yield


def over_http(sb: Sandbox, base_url: str, **settings: object) -> mio.Client:
    return mio.Client(
        phone_number=sb.phone_number,
        password=sb.password,
        secret_key=sb.secret_key,
        base_url=base_url,
        **settings,  # type: ignore[arg-type]
    )


class TestServerErrors:
    async def test_a_5xx_storm_is_outlived(self, sleeps: list[float]) -> None:
        """40% of answers 503: every ICCID answered, each 503 retried once."""
        sb = make_sandbox(error_rate=0.4, endpoints={QUERY}, seed=3)
        asked = with_repeats(sb.iccids)
        async with sb.client(retry=PATIENT) as client:
            with hang_guard(10):
                result = await client.query_iccids(asked, deadline=10)
            stats = client.stats()
        assert_accounted(result, asked)
        assert result.ok, result
        errors = sb.stats.faults["server_error"]
        assert errors > 0
        assert sb.stats.requests[QUERY] == 20 + errors
        assert stats.retries == errors == len(sleeps)
        assert stats.requests == sb.stats.total

    async def test_a_5xx_storm_under_the_default_policy(
        self, sleeps: list[float]
    ) -> None:
        """90% 503s: the retry budget runs dry, failures stay partial 503s."""
        sb = make_sandbox(error_rate=0.9, endpoints={QUERY}, seed=5)
        asked = sb.iccids
        async with sb.client() as client:
            with hang_guard(10):
                result = await client.query_iccids(asked, deadline=10)
            stats = client.stats()
        assert_accounted(result, asked)
        assert result.failed
        assert result.records
        for error in result.failed.values():
            assert isinstance(error, mio.UnexpectedResponseError)
            assert error.status_code == 503
        assert stats.requests == sb.stats.total
        assert stats.retry_tokens < 5
        # Unbudgeted, 3 tries a request and splits down to single ICCIDs
        # would send thousands.
        assert sb.stats.requests[QUERY] < 200
        for record in result.records[::37]:
            wire = sb.usage_record(record.iccid)
            assert wire is not None
            assert record.total_mb == wire["totalMB"]

    async def test_a_5xx_on_an_order_is_not_retried(self, sleeps: list[float]) -> None:
        """The order's outcome is unknown to the client; it is sent once."""
        sb = make_sandbox(cards=10, error_rate=1.0, endpoints={ORDER})
        async with sb.client() as client:
            with pytest.raises(mio.OrderOutcomeUnknownError) as info:
                await client.add_esim_order(45, 441, other_order_id="shop-503")
        assert info.value.other_order_id == "shop-503"
        assert sb.stats.requests[ORDER] == 1
        assert sb.stats.orders == 0  # the sandbox refuses before placing
        assert sleeps == []


class TestRateLimits:
    async def test_a_429_storm_waits_what_the_server_asks(
        self, sleeps: list[float]
    ) -> None:
        """Every retry waits the Retry-After; the fan-out narrows, then ends ok."""
        sb = make_sandbox(rate_limit_rate=0.5, retry_after=2, endpoints={QUERY})
        asked = sb.iccids
        widths: list[int] = []

        def note_width(event: mio.RetryEvent) -> None:
            widths.append(client.stats().concurrency)

        hooks = mio.Hooks(on_retry=note_width)
        client = sb.client(retry=PATIENT, max_concurrency=8, hooks=hooks)
        async with client:
            with hang_guard(10):
                result = await client.query_iccids(asked, deadline=10)
            stats = client.stats()
        assert_accounted(result, asked)
        assert result.ok, result
        limited = sb.stats.faults["rate_limit"]
        assert limited > 0
        assert sleeps == [2.0] * limited
        assert stats.rate_limited == stats.retries == limited
        assert min(widths) < 8

    async def test_a_retry_after_beyond_the_policy_is_not_waited(
        self, sleeps: list[float]
    ) -> None:
        """A 120 s Retry-After fails its chunk at once, with that retry_after."""
        sb = make_sandbox(rate_limit_rate=0.3, retry_after=120, endpoints={QUERY})
        asked = sb.iccids
        async with sb.client() as client:
            with hang_guard(10):
                result = await client.query_iccids(asked, deadline=10)
        assert_accounted(result, asked)
        limited = sb.stats.faults["rate_limit"]
        assert limited > 0
        assert len(result.failed) == 100 * limited  # rate limits are never split
        for error in result.failed.values():
            assert isinstance(error, mio.RateLimitedError)
            assert error.retry_after == 120
        assert sleeps == []
        assert sb.stats.requests[QUERY] == 20

    async def test_a_retry_after_beyond_the_deadline_ends_the_fan_out(
        self, sleeps: list[float]
    ) -> None:
        """Nothing waits past the deadline: the unanswered part fails with it."""
        sb = make_sandbox(rate_limit_rate=0.3, retry_after=30, endpoints={QUERY})
        asked = sb.iccids
        async with sb.client() as client:
            with hang_guard(5):
                result = await client.query_iccids(asked, deadline=5)
        assert_accounted(result, asked)
        assert result.failed
        errors = list(result.failed.values())
        assert all(isinstance(error, mio.DeadlineExceededError) for error in errors)
        assert any(isinstance(e.__cause__, mio.RateLimitedError) for e in errors)
        assert sleeps == []
        assert sb.stats.requests[QUERY] <= 20

    async def test_a_429_on_an_order_is_not_retried(self, sleeps: list[float]) -> None:
        """A rate-limited order raises RateLimitedError, and was sent once."""
        sb = make_sandbox(cards=10, rate_limit_rate=1.0, endpoints={ORDER})
        async with sb.client() as client:
            with pytest.raises(mio.RateLimitedError) as info:
                await client.add_esim_order(45, 441)
        assert info.value.retry_after == 1.0
        assert (sb.stats.requests[ORDER], sb.stats.orders) == (1, 0)
        assert sleeps == []


class TestDroppedRecords:
    async def test_dropped_records_are_missing_not_lost(self) -> None:
        """Each record the server leaves out is missing; nothing is re-asked."""
        sb = make_sandbox(drop_rate=0.1, endpoints={QUERY}, seed=2)
        asked = with_repeats(sb.iccids)
        async with sb.client() as client:
            with hang_guard(10):
                result = await client.query_iccids(asked, deadline=10)
        assert_accounted(result, asked)
        dropped = sb.stats.faults["dropped_record"]
        assert dropped > 0
        assert len(result.missing) == dropped
        assert not result.failed
        assert sb.stats.requests[QUERY] == 20

    async def test_a_stream_accounts_for_dropped_records(self) -> None:
        """The chunks of a stream cover every ICCID once, drops as missing."""
        sb = make_sandbox(drop_rate=0.1, endpoints={QUERY}, seed=4)
        asked = with_repeats(sb.iccids)
        seen: list[str] = []
        missing = 0
        async with sb.client() as client:
            with hang_guard(10):
                async for chunk in client.stream_iccids(iter(asked), deadline=10):
                    assert chunk.error is None
                    seen += chunk.iccids
                    missing += len(chunk.missing)
                    assert {r.iccid for r in chunk.records}.isdisjoint(chunk.missing)
        assert sorted(seen) == sorted(dict.fromkeys(asked))
        assert missing == sb.stats.faults["dropped_record"] > 0


class TestMalformedBodies:
    async def test_html_answers_fail_their_chunk_without_a_retry(
        self, sleeps: list[float]
    ) -> None:
        """A 200 that is not JSON fails its 100 ICCIDs, unsplit, unretried."""
        sb = make_sandbox(malformed_rate=0.25, endpoints={QUERY}, seed=1)
        asked = sb.iccids
        async with sb.client() as client:
            with hang_guard(10):
                result = await client.query_iccids(asked, deadline=10)
        assert_accounted(result, asked)
        malformed = sb.stats.faults["malformed"]
        assert malformed > 0
        assert len(result.failed) == 100 * malformed
        for error in result.failed.values():
            assert isinstance(error, mio.UnexpectedResponseError)
            assert error.status_code == 200
        assert sb.stats.requests[QUERY] == 20
        assert sleeps == []

    async def test_an_html_answer_to_an_order_is_sent_once(self) -> None:
        """The order placed behind a garbled answer is not placed again."""
        sb = make_sandbox(cards=10, malformed_rate=1.0, endpoints={ORDER})
        async with sb.client() as client:
            with pytest.raises(mio.MioesimError):
                await client.add_esim_order(45, 441, other_order_id="shop-html")
        assert (sb.stats.requests[ORDER], sb.stats.orders) == (1, 1)

    async def test_an_html_answer_to_an_order_is_an_unknown_outcome(self) -> None:
        """The caller of an order answered in HTML gets its otherOrderId back."""
        sb = make_sandbox(cards=10, malformed_rate=1.0, endpoints={ORDER})
        async with sb.client() as client:
            with pytest.raises(mio.OrderOutcomeUnknownError) as info:
                await client.add_esim_order(45, 441, other_order_id="shop-html")
        assert info.value.other_order_id == "shop-html"


class TestDisconnects:
    async def test_cut_answers_are_retried_in_process(
        self, sleeps: list[float]
    ) -> None:
        """Answers cut mid-body are read failures: retried until answered."""
        sb = make_sandbox(disconnect_rate=0.3, endpoints={QUERY}, seed=6)
        asked = with_repeats(sb.iccids)
        async with sb.client(retry=PATIENT) as client:
            with hang_guard(10):
                result = await client.query_iccids(asked, deadline=10)
            stats = client.stats()
        assert_accounted(result, asked)
        assert result.ok, result
        cut = sb.stats.faults["disconnect"]
        assert cut > 0
        assert stats.retries == cut
        assert sb.stats.requests[QUERY] == 20 + cut

    async def test_connections_closed_mid_answer_over_http(
        self, sleeps: list[float]
    ) -> None:
        """Over a real socket: closed connections are retried, then an order
        whose connection is closed is placed once and reported unknown."""
        sb = make_sandbox(cards=1000, disconnect_rate=0.3, endpoints={QUERY, ORDER})
        asked = sb.iccids
        async with sb.serve() as base_url, over_http(sb, base_url, retry=PATIENT) as c:
            with hang_guard(10):
                result = await c.query_iccids(asked, deadline=10)
            assert_accounted(result, asked)
            assert result.ok, result
            cut = sb.stats.faults["disconnect"]
            assert cut > 0
            assert sb.stats.requests[QUERY] == 10 + cut

            sb.faults = Faults(disconnect_rate=1.0, endpoints={ORDER})
            with (
                pytest.raises(mio.OrderOutcomeUnknownError) as info,
                hang_guard(5),
                mio.deadline(5),
            ):
                await c.add_esim_order(45, 441, other_order_id="shop-cut")
            assert info.value.other_order_id == "shop-cut"
            assert (sb.stats.requests[ORDER], sb.stats.orders) == (1, 1)
            assert (await c.get_balance()).currency  # the pool still serves


class TestSlowOrders:
    async def test_an_order_outliving_its_deadline(self) -> None:
        """Placed, then unanswered by the deadline: unknown outcome, sent once."""
        sb = make_sandbox(cards=10, order_delay=60)
        async with sb.client() as client:
            await client.get_balance()
            with (
                pytest.raises(mio.OrderOutcomeUnknownError) as info,
                hang_guard(0.5),
                mio.deadline(0.5),
            ):
                await client.add_esim_order(45, 441, other_order_id="shop-slow")
        assert info.value.other_order_id == "shop-slow"
        assert (sb.stats.requests[ORDER], sb.stats.orders) == (1, 1)

    async def test_an_order_outliving_its_timeout_over_http(self) -> None:
        """A read timeout on an order: unknown outcome, and it was sent once."""
        sb = make_sandbox(cards=10, order_delay=1.0)
        async with sb.serve() as base_url, over_http(sb, base_url, timeout=0.2) as c:
            await c.get_balance()
            with pytest.raises(mio.OrderOutcomeUnknownError) as info, hang_guard(0.2):
                await c.add_esim_order(45, 441)
            assert info.value.other_order_id  # generated, and reported
            assert isinstance(info.value.__cause__, httpx.TimeoutException)
        assert (sb.stats.requests[ORDER], sb.stats.orders) == (1, 1)

    async def test_a_slow_order_does_not_hold_up_reads(self) -> None:
        """While an order waits on the server, a fan-out completes."""
        sb = make_sandbox(cards=500, order_delay=600)
        placing = anyio.Event()
        client = sb.client(
            hooks=mio.Hooks(
                on_request=lambda e: placing.set() if e.endpoint == ORDER else None
            )
        )
        async with client, anyio.create_task_group() as tg:
            tg.start_soon(client.add_esim_order, 45, 441)
            await placing.wait()
            with hang_guard(0):
                result = await client.query_iccids(sb.iccids)
            assert result.ok
            assert sb.stats.orders == 1  # placed; its answer is 600 s away
            tg.cancel_scope.cancel()
        assert sb.stats.requests[ORDER] == 1


class TestDeadlines:
    async def test_the_unanswered_part_fails_with_the_deadline(self) -> None:
        """A server that stops answering mid-fan-out costs the deadline only."""
        sb = make_sandbox()
        answered = 0

        def stall_after_five(event: mio.ResponseEvent) -> None:
            nonlocal answered
            answered += event.endpoint == QUERY
            if answered == 5:  # from now on every query hangs
                sb.faults = Faults(latency=600, endpoints={QUERY})

        asked = sb.iccids
        hooks = mio.Hooks(on_response=stall_after_five)
        client = sb.client(max_concurrency=4, hooks=hooks)
        async with client:
            await client.get_balance()
            with hang_guard(1):
                result = await client.query_iccids(asked, deadline=1)
        assert_accounted(result, asked)
        assert 500 <= len(result.records) <= 800  # 5 answered, 3 more in flight
        assert len(result.failed) >= 1200
        assert all(
            isinstance(error, mio.DeadlineExceededError)
            for error in result.failed.values()
        )
        assert sb.stats.requests[QUERY] < 20  # nothing sent after the deadline


FAULT_MIXES = st.builds(
    Faults,
    error_rate=st.sampled_from([0.0, 0.2, 0.5]),
    rate_limit_rate=st.sampled_from([0.0, 0.2]),
    retry_after=st.just(0),
    drop_rate=st.sampled_from([0.0, 0.05, 0.3]),
    malformed_rate=st.sampled_from([0.0, 0.1]),
    disconnect_rate=st.sampled_from([0.0, 0.2]),
    endpoints=st.just({QUERY, ORDER}),
    seed=st.integers(0, 2**16),
)


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
@settings(max_examples=6, deadline=None)
@given(faults=FAULT_MIXES, size=st.integers(1, 700))
def test_any_mix_of_faults(backend: str, faults: Faults, size: int) -> None:
    """Whatever the faults, nothing is lost and no order is sent twice."""
    sb = Sandbox(cards=700, seed=0, today=TODAY, faults=faults)
    asked = with_repeats(sb.iccids[:size])
    placed: list[mio.Order] = []
    unknown: list[str | None] = []

    async def session() -> mio.BatchResult:
        async with sb.client() as client:
            with hang_guard(10):
                result = await client.query_iccids(asked, deadline=10)
                for n in range(3):
                    try:
                        order = await client.add_esim_order(
                            45, 441, other_order_id=f"o{n}"
                        )
                    except mio.OrderOutcomeUnknownError as error:
                        unknown.append(error.other_order_id)
                    except mio.MioesimError:
                        pass  # refused (429), or a garbled answer
                    else:
                        placed.append(order)
                sb.faults = Faults()
                for order in placed:
                    found = await client.get_order_info(order.order_num)
                    assert found.other_order_id == order.other_order_id
        return result

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_retry, "sleep", lambda _: anyio.lowlevel.checkpoint())
        result = anyio.run(session, backend=backend)
    assert_accounted(result, asked)
    assert sb.stats.requests[ORDER] == 3
    assert len(placed) <= sb.stats.orders <= 3
    assert all(other in ("o0", "o1", "o2") for other in unknown)
    assert len(set(unknown)) == len(unknown)
