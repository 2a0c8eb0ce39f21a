"""Deadlines, the retry budget, adaptive concurrency, pacing, hooks and stats."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable

import anyio
import anyio.lowlevel
import httpx
import pytest

import mioesim_async as mio
from mioesim_async import _retry
from mioesim_async._limit import AdaptiveLimiter, Pacer
from mioesim_async._retry import RetryQuota

pytestmark = pytest.mark.anyio

Handler = Callable[[httpx.Request], Awaitable[httpx.Response]]


def envelope(data: object, code: object = "0") -> httpx.Response:
    body = {"code": code, "message": "ok", "data": data}
    return httpx.Response(200, content=json.dumps(body).encode())


def records_for(request: httpx.Request) -> httpx.Response:
    iccids = request.url.params["iccids"].split(",")
    return envelope([{"iccid": i, "dpStatus": "ACTIVE"} for i in iccids])


def portfolio(n: int) -> list[str]:
    return [f"8986{index:015d}" for index in range(n)]


def client_for(handler: Handler, **kwargs: object) -> mio.Client:
    return mio.Client(
        token="tok", secret_key="s", transport=httpx.MockTransport(handler), **kwargs
    )


class TestDeadline:
    async def test_a_hanging_answer_ends_at_the_deadline(self):
        """A server that never answers costs the deadline, not the timeout."""

        async def hang(request: httpx.Request) -> httpx.Response:
            await anyio.sleep_forever()
            raise AssertionError("unreachable")

        async with client_for(hang, timeout=60) as client:
            with pytest.raises(mio.DeadlineExceededError) as info, mio.deadline(0.1):
                await client.get_balance()
        assert isinstance(info.value, TimeoutError)
        assert info.value.endpoint == "getBalance"
        assert info.value.attempts == 1

    async def test_client_default_deadline(self):
        async def hang(request: httpx.Request) -> httpx.Response:
            await anyio.sleep_forever()
            raise AssertionError("unreachable")

        async with client_for(hang, deadline=0.1) as client:
            with pytest.raises(mio.DeadlineExceededError):
                await client.get_skus()

    async def test_a_wait_longer_than_the_deadline_is_not_waited(self, sleeps):
        """Retry-After beyond the deadline fails now, naming the last error."""
        requests = []

        async def limited(request: httpx.Request) -> httpx.Response:
            requests.append(request)
            return httpx.Response(429, headers={"Retry-After": "30"})

        async with client_for(limited) as client:
            with pytest.raises(mio.DeadlineExceededError) as info, mio.deadline(5):
                await client.get_balance()
        assert sleeps == []
        assert len(requests) == 1
        assert isinstance(info.value.__cause__, mio.RateLimitedError)
        assert "RateLimitedError" in str(info.value)

    async def test_an_order_at_its_deadline_has_an_unknown_outcome(self):
        """The order may have been placed: say so, never DeadlineExceeded."""

        async def hang(request: httpx.Request) -> httpx.Response:
            await anyio.sleep_forever()
            raise AssertionError("unreachable")

        async with client_for(hang) as client:
            with pytest.raises(mio.OrderOutcomeUnknownError) as info, mio.deadline(0.1):
                await client.add_esim_order(45, 441, other_order_id="o-1")
        assert info.value.other_order_id == "o-1"

    async def test_nothing_is_sent_once_the_deadline_has_passed(self):
        requests = []

        async def answer(request: httpx.Request) -> httpx.Response:
            requests.append(request)
            return envelope({"balance": "1"})

        async with client_for(answer) as client:
            with mio.deadline(0.05):
                await anyio.sleep(0.1)
                with pytest.raises(mio.DeadlineExceededError):
                    await client.add_esim_order(45, 441)
        assert requests == []

    async def test_fan_out_reports_what_it_did_not_get_to(self):
        """Chunks after the deadline are failed, not sent; nothing is lost."""
        sent: list[int] = []

        async def slow_after_first(request: httpx.Request) -> httpx.Response:
            sent.append(1)
            if len(sent) > 1:
                await anyio.sleep_forever()
            return records_for(request)

        async with client_for(slow_after_first, max_concurrency=2) as client:
            result = await client.query_iccids(portfolio(1000), deadline=0.2)
        assert len(result.records) == 100
        assert len(result.failed) == 900
        assert all(
            isinstance(error, mio.DeadlineExceededError)
            for error in result.failed.values()
        )
        assert len(sent) < 10

    @pytest.mark.parametrize("seconds", [0, -1, float("nan"), float("inf")])
    def test_nonsense_deadlines(self, seconds):
        with pytest.raises(ValueError, match="deadline"), mio.deadline(seconds):
            pass
        with pytest.raises(ValueError, match="deadline"):
            mio.Client(token="t", secret_key="s", deadline=seconds)

    async def test_nested_deadlines_keep_the_earlier(self):
        with mio.deadline(10), mio.deadline(0.5):
            left = _retry.remaining()
        assert left is not None
        assert left <= 0.5
        with mio.deadline(0.5), mio.deadline(10):
            left = _retry.remaining()
        assert left is not None
        assert left <= 0.5
        assert _retry.remaining() is None


class TestRetryBudget:
    def test_quota(self):
        quota = RetryQuota(capacity=20, retry_cost=5, timeout_retry_cost=10)
        assert quota.acquire(after_timeout=True) == 10
        assert quota.acquire(after_timeout=False) == 5
        assert quota.acquire(after_timeout=True) is None
        assert quota.available == 5
        quota.refill(0)
        assert quota.available == 6
        quota.refill(100)
        assert quota.available == 20

    async def test_an_outage_does_not_multiply_the_requests(self, sleeps):
        """10,000 ICCIDs against a dead server: well under 3x the requests."""
        requests = []

        async def outage(request: httpx.Request) -> httpx.Response:
            requests.append(request)
            return httpx.Response(503)

        async with client_for(outage, max_concurrency=8) as client:
            result = await client.query_iccids(portfolio(10_000))
            stats = client.stats()
        assert len(result.failed) == 10_000
        # 100 chunks: the first tries, then whatever 500 tokens buy at 5 each.
        assert len(requests) < 2.5 * 100
        assert stats.requests == len(requests)
        assert stats.retry_tokens < 5

    async def test_successes_refill_the_budget(self, sleeps):
        answers = iter([httpx.Response(503), envelope({"balance": "1"})])

        async def flaky(request: httpx.Request) -> httpx.Response:
            return next(answers, envelope({"balance": "1"}))

        async with client_for(flaky) as client:
            await client.get_balance()
            assert client.stats().retry_tokens == 500
            await client.get_balance()
            assert client.stats().retry_tokens == 500

    async def test_budget_zero_turns_retries_off(self, sleeps):
        requests = []

        async def down(request: httpx.Request) -> httpx.Response:
            requests.append(request)
            return httpx.Response(503)

        async with client_for(down, retry=mio.RetryPolicy(budget=0)) as client:
            with pytest.raises(mio.UnexpectedResponseError):
                await client.get_balance()
        assert len(requests) == 1


class TestAdaptiveLimiter:
    def test_halves_once_per_generation(self):
        limiter = AdaptiveLimiter(16)
        generation = limiter.generation
        limiter.on_rate_limited(generation)
        limiter.on_rate_limited(generation)  # sent together: counts once
        assert limiter.current == 8
        limiter.on_rate_limited(limiter.generation)
        assert limiter.current == 4

    def test_never_below_one_nor_above_max(self):
        limiter = AdaptiveLimiter(4)
        for _ in range(10):
            limiter.on_rate_limited(limiter.generation)
        assert limiter.current == 1
        for _ in range(1000):
            limiter.on_success()
        assert limiter.current == 4

    def test_grows_by_one_per_limits_worth_of_successes(self):
        limiter = AdaptiveLimiter(32)
        for _ in range(2):
            limiter.on_rate_limited(limiter.generation)
        assert limiter.current == 8
        for _ in range(9):
            limiter.on_success()
        assert limiter.current == 9

    async def test_acquire_waits_for_a_slot(self):
        limiter = AdaptiveLimiter(1)
        await limiter.acquire()
        acquired = anyio.Event()

        async def second() -> None:
            await limiter.acquire()
            acquired.set()

        async with anyio.create_task_group() as tg:
            tg.start_soon(second)
            await anyio.wait_all_tasks_blocked()
            assert not acquired.is_set()
            limiter.release()
            await acquired.wait()
        limiter.release()

    async def test_fan_out_slows_down_under_429(self, sleeps):
        """429s shrink the fan-out's concurrency; every ICCID still answered."""
        in_flight = 0
        seen_concurrency: list[int] = []

        async def strict_server(request: httpx.Request) -> httpx.Response:
            nonlocal in_flight
            in_flight += 1
            try:
                for _ in range(5):  # a while at the server: requests overlap
                    await anyio.lowlevel.checkpoint()
                if in_flight > 2:
                    return httpx.Response(429, headers={"Retry-After": "0"})
                return records_for(request)
            finally:
                in_flight -= 1

        hooks = mio.Hooks(on_retry=lambda e: seen_concurrency.append(
            client.stats().concurrency))  # fmt: skip
        client = client_for(
            strict_server,
            max_concurrency=16,
            hooks=hooks,
            retry=mio.RetryPolicy(attempts=10, budget=100_000),
        )
        async with client:
            result = await client.query_iccids(portfolio(3000))
        assert result.ok, result
        assert client.stats().rate_limited > 0
        assert min(seen_concurrency) < 16


class TestPacer:
    async def test_spaces_requests(self, sleeps):
        pacer = Pacer(10)
        for _ in range(3):
            await pacer.wait()
        assert len(sleeps) == 2
        assert sleeps[0] == pytest.approx(0.1, abs=0.02)
        assert sleeps[1] == pytest.approx(0.2, abs=0.02)

    def test_rate_must_be_positive(self):
        with pytest.raises(ValueError, match="max_per_second"):
            Pacer(0)

    async def test_client_paces(self, sleeps):
        async def answer(request: httpx.Request) -> httpx.Response:
            return envelope({"balance": "1"})

        async with client_for(answer, max_per_second=5) as client:
            for _ in range(3):
                await client.get_balance()
        assert len(sleeps) == 2


class TestHooksAndStats:
    async def test_events_of_a_retried_call(self, sleeps):
        answers = iter([httpx.Response(503), envelope({"balance": "1"})])

        async def flaky(request: httpx.Request) -> httpx.Response:
            return next(answers)

        events: list[object] = []
        hooks = mio.Hooks(
            on_request=events.append, on_response=events.append, on_retry=events.append
        )
        async with client_for(flaky, hooks=hooks) as client:
            await client.get_balance()
        kinds = [type(event).__name__ for event in events]
        assert kinds == [
            "RequestEvent",
            "ResponseEvent",
            "RetryEvent",
            "RequestEvent",
            "ResponseEvent",
        ]
        first, last = events[1], events[4]
        assert isinstance(first, mio.ResponseEvent)
        assert isinstance(last, mio.ResponseEvent)
        assert (first.status, first.code, first.attempt) == (503, None, 1)
        assert (last.status, last.code, last.attempt) == (200, 0, 2)
        assert all("tok" not in repr(event) for event in events)

    async def test_chunk_events(self):
        chunks: list[mio.ChunkEvent] = []

        async def answer(request: httpx.Request) -> httpx.Response:
            return records_for(request)

        async with client_for(answer, hooks=mio.Hooks(on_chunk=chunks.append)) as c:
            await c.query_iccids(portfolio(250))
        assert sorted(event.iccids for event in chunks) == [50, 100, 100]
        assert all(event.error is None for event in chunks)

    async def test_errors_carry_attempts_and_elapsed(self, sleeps):
        async def down(request: httpx.Request) -> httpx.Response:
            return httpx.Response(503)

        async with client_for(down) as client:
            with pytest.raises(mio.UnexpectedResponseError) as info:
                await client.get_skus()
            stats = client.stats()
        assert info.value.attempts == 3
        assert info.value.elapsed is not None
        assert info.value.elapsed >= 0
        assert (stats.requests, stats.retries, stats.failures) == (3, 2, 1)

    async def test_info_log_has_no_secret_and_no_iccid(self, caplog):
        caplog.set_level(logging.INFO, "mioesim_async")

        async def answer(request: httpx.Request) -> httpx.Response:
            return records_for(request)

        async with client_for(answer) as client:
            await client.query_iccids(portfolio(3))
        assert "queryIccidInformation -> HTTP 200 code=0 attempt=1 iccids=3" in (
            caplog.text
        )
        assert "tok" not in caplog.text
        assert all(iccid not in caplog.text for iccid in portfolio(3))


class TestEveryAnswerIsReported:
    @pytest.mark.parametrize(
        ("answer", "error"),
        [
            (httpx.Response(200, text="<html>"), mio.OrderOutcomeUnknownError),
            (httpx.Response(404), mio.UnexpectedResponseError),
            (httpx.Response(429), mio.RateLimitedError),
            (httpx.Response(502), mio.OrderOutcomeUnknownError),
        ],
    )
    async def test_failed_answers_to_an_order(self, answer, error):
        """Whatever an order's answer, it is counted, logged and reported."""

        async def reply(request: httpx.Request) -> httpx.Response:
            return answer

        events: list[mio.ResponseEvent] = []
        async with client_for(reply, hooks=mio.Hooks(on_response=events.append)) as c:
            with pytest.raises(error):
                await c.add_esim_order(45, 441)
            stats = c.stats()
        assert [event.status for event in events] == [answer.status_code]
        assert stats.rate_limited == (1 if answer.status_code == 429 else 0)

    async def test_an_unreadable_order_says_how_to_find_it(self):
        """Placed (code 0) but unreadable: the error names the otherOrderId."""

        async def reply(request: httpx.Request) -> httpx.Response:
            return envelope({"display": "no orderNum"})

        async with client_for(reply) as client:
            with pytest.raises(mio.UnexpectedResponseError, match="'shop-5'"):
                await client.add_esim_order(45, 441, other_order_id="shop-5")


class TestConcurrencyFigure:
    async def test_zero_once_a_fan_out_ends(self):
        """An ended fan-out, however it ended, no longer counts."""

        async def answer(request: httpx.Request) -> httpx.Response:
            return records_for(request)

        async with client_for(answer, max_concurrency=4) as client:
            await client.query_iccids(portfolio(500))
            assert client.stats().concurrency == 0
            with pytest.raises(mio.InvalidICCIDError):
                await client.query_iccids([*portfolio(5), "bad"])
            assert client.stats().concurrency == 0

    async def test_counts_a_fan_out_in_flight(self):
        """While requests are in flight the figure is the fan-out's limit."""
        seen: list[int] = []
        release = anyio.Event()

        async def held(request: httpx.Request) -> httpx.Response:
            await release.wait()
            return records_for(request)

        async with client_for(held, max_concurrency=4) as client:
            async with anyio.create_task_group() as tg:
                tg.start_soon(client.query_iccids, portfolio(1000))
                await anyio.wait_all_tasks_blocked()
                seen.append(client.stats().concurrency)
                release.set()
            seen.append(client.stats().concurrency)
        assert seen == [4, 0]


class TestRateLimitedFanOut:
    async def test_a_429_storm_at_full_width(self, monkeypatch):
        """Every request of a wide fan-out refused at first: the limit falls
        while retries wait for slots, and every ICCID still comes back."""
        refusals = 64

        async def yielding_sleep(seconds: float) -> None:
            await anyio.lowlevel.checkpoint()  # others run while one waits

        monkeypatch.setattr(_retry, "sleep", yielding_sleep)

        async def storm(request: httpx.Request) -> httpx.Response:
            nonlocal refusals
            await anyio.lowlevel.checkpoint()
            if refusals > 0:
                refusals -= 1
                return httpx.Response(429, headers={"Retry-After": "0"})
            return records_for(request)

        policy = mio.RetryPolicy(attempts=100, budget=100_000)
        async with client_for(storm, max_concurrency=16, retry=policy) as client:
            with anyio.fail_after(10):
                result = await client.query_iccids(portfolio(5000))
        assert result.ok, result
        assert len(result.records) == 5000


async def test_a_one_card_call_logs_its_iccid_masked(caplog):
    """At INFO a card is named by its last four digits only."""
    caplog.set_level(logging.INFO, "mioesim_async")
    iccid = portfolio(1)[0]

    async def answer(request: httpx.Request) -> httpx.Response:
        return envelope({"iccid": iccid, "dpStatus": "ACTIVE"})

    async with client_for(answer) as client:
        await client.get_esim_detail(iccid)
    assert (
        f"getESIMDetail -> HTTP 200 code=0 attempt=1 iccids=1 iccid=…{iccid[-4:]}"
        in (caplog.text)
    )
    assert iccid not in caplog.text
