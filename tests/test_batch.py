from __future__ import annotations

import math
from collections.abc import AsyncIterator, Iterator

import anyio
import pytest

from mioesim_async._batch import (
    ROUND_CHUNKS_PER_SLOT,
    BatchRounds,
    check_positive,
    open_batches,
    run_batches,
)

pytestmark = pytest.mark.anyio

SIZES = [0, 1, 99, 100, 101, 250, 2345]


async def chunk_sum(chunk: list[int]) -> list[int]:
    await anyio.lowlevel.checkpoint()
    return chunk


class Gate:
    """A fake fetch that holds every call until *limit* calls are in at once."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.active = 0
        self.peak = 0
        self.calls = 0
        self.full = anyio.Event()

    async def __call__(self, chunk: list[int]) -> list[int]:
        self.calls += 1
        self.active += 1
        self.peak = max(self.peak, self.active)
        if self.active == self.limit:
            self.full.set()
        await self.full.wait()
        self.active -= 1
        return chunk


class TestRunBatches:
    @pytest.mark.parametrize("size", SIZES)
    async def test_every_item_once_in_input_order(self, size: int) -> None:
        """Results come back one per chunk, in input order, covering every item."""
        results = await run_batches(
            range(size), chunk_sum, chunk_size=100, concurrency=4
        )
        assert len(results) == math.ceil(size / 100)
        assert [item for chunk in results for item in chunk] == list(range(size))
        assert all(len(chunk) <= 100 for chunk in results)

    async def test_order_kept_when_completions_are_reversed(self) -> None:
        """The last chunk completes first; results are still in input order."""
        events = [anyio.Event() for _ in range(3)]

        async def reversed_completion(chunk: list[int]) -> int:
            index = chunk[0]
            if index < 2:
                await events[index + 1].wait()
            events[index].set()
            return index

        results = await run_batches(
            range(3), reversed_completion, chunk_size=1, concurrency=3
        )
        assert results == [0, 1, 2]

    async def test_async_iterable_source(self) -> None:
        """An async generator is pulled like a plain iterable."""

        async def numbers() -> AsyncIterator[int]:
            for number in range(250):
                await anyio.lowlevel.checkpoint()
                yield number

        results = await run_batches(numbers(), chunk_sum, chunk_size=100, concurrency=2)
        assert [len(chunk) for chunk in results] == [100, 100, 50]

    @pytest.mark.parametrize("concurrency", [1, 3, 8])
    async def test_peak_concurrency_is_the_limit_and_is_reached(
        self, concurrency: int
    ) -> None:
        """Never more chunks in flight than the limit, and the limit is reached."""
        gate = Gate(concurrency)
        await run_batches(range(50), gate, chunk_size=2, concurrency=concurrency)
        assert gate.peak == concurrency
        assert gate.calls == 25

    async def test_source_is_pulled_lazily(self) -> None:
        """Only chunks about to start are pulled: memory stays flat."""
        pulled = 0

        def items() -> Iterator[int]:
            nonlocal pulled
            for number in range(10_000):
                pulled += 1
                yield number

        gate = Gate(3)
        async with anyio.create_task_group() as task_group:
            task_group.start_soon(
                lambda: run_batches(items(), gate, chunk_size=10, concurrency=3)
            )
            await gate.full.wait()
            # Three chunks in flight, at most one more pulled while waiting.
            assert pulled <= 4 * 10
        assert pulled == 10_000

    @pytest.mark.parametrize(
        ("name", "value"), [("chunk_size", 0), ("concurrency", -1)]
    )
    async def test_limits_checked_up_front(self, name: str, value: int) -> None:
        """A zero or negative limit is a ValueError naming it, before any fetch."""
        arguments = {"chunk_size": 10, "concurrency": 2, name: value}
        with pytest.raises(ValueError, match=name):
            await run_batches(range(5), chunk_sum, **arguments)

    async def test_error_propagates_unwrapped(self) -> None:
        """A fetch error stops the fan-out and comes out as itself."""
        started = 0

        async def fails_at_third(chunk: list[int]) -> list[int]:
            nonlocal started
            started += 1
            if chunk[0] == 2:
                raise KeyError("bug")
            await anyio.sleep_forever()
            raise AssertionError  # pragma: no cover

        with pytest.raises(KeyError, match="bug"):
            await run_batches(range(100), fails_at_third, chunk_size=1, concurrency=3)
        assert started == 3

    async def test_source_error_propagates_unwrapped(self) -> None:
        """An error raised by the source comes out as itself."""

        def broken() -> Iterator[int]:
            yield 1
            raise LookupError("source")

        with pytest.raises(LookupError, match="source"):
            await run_batches(broken(), chunk_sum, chunk_size=1, concurrency=2)

    async def test_cancellation_stops_everything(self) -> None:
        """Cancelled from outside, the fan-out ends at once and starts nothing."""
        started = 0
        both_started = anyio.Event()

        async def hangs(chunk: list[int]) -> list[int]:
            nonlocal started
            started += 1
            if started == 2:
                both_started.set()
            return await _forever(chunk)

        with anyio.CancelScope() as scope:
            async with anyio.create_task_group() as task_group:
                task_group.start_soon(
                    lambda: run_batches(range(100), hangs, chunk_size=1, concurrency=2)
                )
                await both_started.wait()
                scope.cancel()
        assert scope.cancelled_caught
        assert started == 2


async def _forever(chunk: list[int]) -> list[int]:
    await anyio.sleep_forever()
    raise AssertionError  # pragma: no cover


class TestOpenBatches:
    async def test_leaving_early_starts_nothing_more(self) -> None:
        """Breaking out of the block cancels what runs and starts no chunk."""
        started: list[int] = []

        async def first_is_quick(chunk: list[int]) -> int:
            started.append(chunk[0])
            if chunk[0] != 0:
                await anyio.sleep_forever()
            return chunk[0]

        async with open_batches(
            range(1000), first_is_quick, chunk_size=1, concurrency=4
        ) as results:
            async for index, value in results:
                assert (index, value) == (0, 0)
                break
        started_when_left = len(started)
        for _ in range(10):
            await anyio.lowlevel.checkpoint()
        assert len(started) == started_when_left
        # Four in flight, and at most one more as the first slot came free.
        assert started_when_left <= 5

    async def test_consumer_error_is_not_wrapped(self) -> None:
        """An error in the block comes out of it as itself."""

        async def consume() -> None:
            async with open_batches(
                range(10), chunk_sum, chunk_size=1, concurrency=2
            ) as results:
                async for _ in results:
                    raise ZeroDivisionError

        with pytest.raises(ZeroDivisionError):
            await consume()

    async def test_limits_checked_up_front(self) -> None:
        """Entering with a bad limit raises ValueError."""
        with pytest.raises(ValueError, match="concurrency"):
            async with open_batches(range(1), chunk_sum, chunk_size=1, concurrency=0):
                pass  # pragma: no cover


class TestBatchRounds:
    @pytest.mark.parametrize("size", SIZES)
    async def test_every_item_once(self, size: int) -> None:
        """Rounds hand out one result per chunk, covering every item."""
        rounds = BatchRounds(range(size), chunk_sum, chunk_size=100, concurrency=2)
        results = [chunk async for chunk in rounds]
        assert sorted(item for chunk in results for item in chunk) == list(range(size))
        assert len(results) == math.ceil(size / 100)

    async def test_a_round_is_bounded(self) -> None:
        """One step runs at most a round of chunks, then nothing runs."""
        calls = 0

        async def count(chunk: list[int]) -> int:
            nonlocal calls
            calls += 1
            return chunk[0]

        rounds = BatchRounds(range(1000), count, chunk_size=1, concurrency=3)
        async for _ in rounds:
            break
        for _ in range(10):
            await anyio.lowlevel.checkpoint()
        assert calls == ROUND_CHUNKS_PER_SLOT * 3

    async def test_peak_concurrency(self) -> None:
        """Rounds keep the limit too."""
        gate = Gate(4)
        results = [
            r async for r in BatchRounds(range(64), gate, chunk_size=2, concurrency=4)
        ]
        assert len(results) == 32
        assert gate.peak == 4

    async def test_cancelled_iterator_is_finished(self) -> None:
        """Cancelled mid-round, the iterator ends instead of skipping chunks."""
        rounds = BatchRounds(range(10), _forever, chunk_size=1, concurrency=2)
        with anyio.move_on_after(0):
            await anext(rounds)
        with pytest.raises(StopAsyncIteration):
            await anext(rounds)

    def test_limits_checked_on_creation(self) -> None:
        """A bad limit is refused before anything runs."""
        with pytest.raises(ValueError, match="chunk_size"):
            BatchRounds(range(1), chunk_sum, chunk_size=0, concurrency=1)


@pytest.mark.parametrize("value", [0, -3, 1.5, True, "2", None])
def test_check_positive_refuses(value: object) -> None:
    """Only integers above zero pass; bools and floats do not."""
    with pytest.raises(ValueError, match="limit must be an integer greater than 0"):
        check_positive("limit", value)
