from __future__ import annotations

import logging
import math
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mioesim_async._exceptions import (
    AuthenticationError,
    InvalidICCIDError,
    InvalidRequestError,
    IPNotWhitelistedError,
    MioesimError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    SignatureError,
    TransportError,
    UnexpectedResponseError,
)
from mioesim_async._fanout import (
    SeenIccids,
    is_account_wide,
    is_chunk_specific,
    query_iccids,
    stream_iccids,
)
from mioesim_async._models import CardUsage
from mioesim_async._results import BatchResult, ChunkResult

pytestmark = pytest.mark.anyio

SIZES = [0, 1, 99, 100, 101, 250, 2345]


def make_iccids(count: int, start: int = 0) -> list[str]:
    return [f"8985200{number:013d}" for number in range(start, start + count)]


def found(result: BatchResult) -> list[str]:
    return [record.iccid for record in result.records]


class FakeFetch:
    """Answers one record per ICCID asked, unless told to misbehave."""

    def __init__(self, poisoned: set[str] | None = None) -> None:
        self.calls: list[list[str]] = []
        self.poisoned = poisoned or set()
        self.error: MioesimError = NotFoundError(3, "no such card")
        self.answer: Callable[[list[str]], list[CardUsage]] = one_record_each

    async def __call__(self, iccids: list[str]) -> list[CardUsage]:
        self.calls.append(iccids)
        await anyio.lowlevel.checkpoint()
        if self.poisoned.intersection(iccids):
            raise self.error
        return self.answer(iccids)


def one_record_each(iccids: list[str]) -> list[CardUsage]:
    return [CardUsage(iccid) for iccid in iccids]


class TestQueryIccids:
    @pytest.mark.parametrize("size", SIZES)
    async def test_chunks_of_100_every_iccid_once_in_order(self, size: int) -> None:
        """n ICCIDs: ceil(n/100) requests of at most 100, records in input order."""
        iccids = make_iccids(size)
        fetch = FakeFetch()
        result = await query_iccids(fetch, iccids, concurrency=8)
        assert len(fetch.calls) == math.ceil(size / 100)
        assert sorted(fetch.calls) == [
            iccids[start : start + 100] for start in range(0, size, 100)
        ]
        assert found(result) == iccids
        assert result.ok
        assert (result.failed, result.missing, result.duplicates) == ({}, [], [])

    async def test_answer_order_does_not_matter(self) -> None:
        """Records answered in reverse still come back in input order."""
        fetch = FakeFetch()
        fetch.answer = lambda asked: [CardUsage(i) for i in reversed(asked)]
        iccids = make_iccids(250)
        assert found(await query_iccids(fetch, iccids, concurrency=3)) == iccids

    async def test_imperfect_answers(self, caplog: pytest.LogCaptureFixture) -> None:
        """A dropped record is missing; repeated and unasked records are ignored."""
        iccids = make_iccids(5)
        stranger = make_iccids(1, start=999)[0]

        def answer(asked: list[str]) -> list[CardUsage]:
            kept = [CardUsage(iccid) for iccid in asked if iccid != iccids[2]]
            return [CardUsage(stranger), *kept, CardUsage(iccids[0], display="again")]

        fetch = FakeFetch()
        fetch.answer = answer
        with caplog.at_level(logging.DEBUG, logger="mioesim_async"):
            result = await query_iccids(fetch, iccids, concurrency=1)
        assert found(result) == [iccids[0], iccids[1], iccids[3], iccids[4]]
        assert result.records[0].display is None  # the first record wins
        assert result.missing == [iccids[2]]
        assert not result.ok
        assert stranger in caplog.text
        assert f"second record for {iccids[0]}" in caplog.text

    async def test_duplicates_asked_once(self) -> None:
        """Repeats are asked once, listed once, first occurrence keeps its place."""
        a, b, c = make_iccids(3)
        fetch = FakeFetch()
        result = await query_iccids(fetch, [a, b, a, f"  {c} ", b, a], concurrency=2)
        assert fetch.calls == [[a, b, c]]
        assert found(result) == [a, b, c]
        assert result.duplicates == [a, b]

    async def test_poisoned_iccid_isolated_by_halves(self) -> None:
        """One bad ICCID fails alone; its 99 neighbours are answered."""
        iccids = make_iccids(100)
        fetch = FakeFetch(poisoned={iccids[37]})
        result = await query_iccids(fetch, iccids, concurrency=4)
        assert list(result.failed) == [iccids[37]]
        assert isinstance(result.failed[iccids[37]], NotFoundError)
        assert found(result) == iccids[:37] + iccids[38:]
        # One request, then two per halving down to one ICCID.
        assert len(fetch.calls) <= 1 + 2 * math.ceil(math.log2(100))
        assert max(len(call) for call in fetch.calls[1:]) == 50

    async def test_two_poisoned_iccids_among_many(self) -> None:
        """Isolation works across chunks and with several bad ICCIDs."""
        iccids = make_iccids(250)
        fetch = FakeFetch(poisoned={iccids[0], iccids[199]})
        result = await query_iccids(fetch, iccids, concurrency=2)
        assert set(result.failed) == {iccids[0], iccids[199]}
        assert len(result.records) == 248

    @pytest.mark.parametrize(
        "error",
        [
            RateLimitedError("slow down", retry_after=1.0),
            TransportError("connection reset"),
            UnexpectedResponseError("not JSON", status_code=200),
        ],
        ids=lambda value: type(value).__name__,
    )
    async def test_failures_that_hit_any_chunk_are_not_split(
        self, error: MioesimError
    ) -> None:
        """Rate limits, transport and envelope failures fail the chunk as is."""
        iccids = make_iccids(250)
        fetch = FakeFetch(poisoned={iccids[10]})
        fetch.error = error
        result = await query_iccids(fetch, iccids, concurrency=1)
        assert len(fetch.calls) == 3
        assert set(result.failed) == set(iccids[:100])
        assert found(result) == iccids[100:]

    @pytest.mark.parametrize(
        "error",
        [
            AuthenticationError(-1, "bad login"),
            SignatureError(-30, "bad sign"),
            PermissionDeniedError(-3, "no"),
        ],
        ids=lambda value: type(value).__name__,
    )
    async def test_account_wide_failure_stops_early(self, error: MioesimError) -> None:
        """The first account-wide failure stops the requests; all ICCIDs fail."""
        iccids = make_iccids(2345)
        fetch = FakeFetch(poisoned=set(iccids))
        fetch.error = error
        result = await query_iccids(fetch, iccids, concurrency=3)
        assert len(fetch.calls) <= 3
        assert list(result.failed) == iccids
        assert all(failure is error for failure in result.failed.values())

    async def test_account_wide_failure_mid_way(self) -> None:
        """ICCIDs answered before the failure keep their records."""
        iccids = make_iccids(1000)
        fetch = FakeFetch(poisoned={iccids[300]})
        fetch.error = AuthenticationError(-1, "token refused")
        result = await query_iccids(fetch, iccids, concurrency=1)
        assert len(fetch.calls) == 4
        assert found(result) == iccids[:300]
        assert list(result.failed) == iccids[300:]

    async def test_invalid_iccid_rejected_before_any_request(self) -> None:
        """One bad ICCID anywhere: InvalidICCIDError naming it, nothing sent."""
        iccids = make_iccids(300)
        iccids[250] = "89852-bad"
        fetch = FakeFetch()
        with pytest.raises(InvalidICCIDError, match="position 250") as caught:
            await query_iccids(fetch, iccids, concurrency=2)
        assert caught.value.value == "89852-bad"
        assert fetch.calls == []

    async def test_strict_checks_luhn(self) -> None:
        """strict=True adds the Luhn check."""
        fetch = FakeFetch()
        with pytest.raises(InvalidICCIDError, match="Luhn"):
            await query_iccids(
                fetch, ["89852000000000000001"], concurrency=1, strict=True
            )
        assert fetch.calls == []

    async def test_async_iterable_source(self) -> None:
        """An async generator of ICCIDs is read in full, then fanned out."""
        iccids = make_iccids(150)

        async def source() -> AsyncIterator[str]:
            for iccid in iccids:
                yield iccid

        assert found(await query_iccids(FakeFetch(), source(), concurrency=2)) == iccids

    async def test_progress(self) -> None:
        """on_progress gets distinct ICCIDs settled so far and the total."""
        calls: list[tuple[int, int | None]] = []
        iccids = make_iccids(250)
        await query_iccids(
            FakeFetch(),
            iccids + iccids[:5],
            concurrency=1,
            on_progress=lambda *a: calls.append(a),
        )
        assert calls == [(100, 250), (200, 250), (250, 250)]

    async def test_progress_must_be_plain(self) -> None:
        """A coroutine function is refused up front, nothing sent."""

        async def on_progress(done: int, total: int | None) -> None:
            pass  # pragma: no cover

        fetch = FakeFetch()
        with pytest.raises(TypeError, match="coroutine function"):
            await query_iccids(
                fetch, make_iccids(3), concurrency=1, on_progress=on_progress
            )
        with pytest.raises(TypeError, match="callable"):
            await query_iccids(fetch, make_iccids(3), concurrency=1, on_progress=3)  # type: ignore[arg-type]
        assert fetch.calls == []

    async def test_progress_returning_awaitable_refused(self) -> None:
        """A callable that returns a coroutine is a TypeError, not a silent drop."""

        async def later() -> None:
            pass  # pragma: no cover

        with pytest.raises(TypeError, match="awaitable"):
            await query_iccids(
                FakeFetch(),
                make_iccids(3),
                concurrency=1,
                on_progress=lambda *_: later(),
            )

    @pytest.mark.parametrize("concurrency", [0, -1])
    async def test_concurrency_checked(self, concurrency: int) -> None:
        """A concurrency below 1 is a ValueError before anything is sent."""
        with pytest.raises(ValueError, match="concurrency"):
            await query_iccids(FakeFetch(), make_iccids(3), concurrency=concurrency)

    async def test_unexpected_error_propagates_unwrapped(self) -> None:
        """A bug in fetch comes out as itself, not as an exception group."""

        async def buggy(iccids: list[str]) -> list[CardUsage]:
            raise KeyError("bug")

        with pytest.raises(KeyError, match="bug"):
            await query_iccids(buggy, make_iccids(500), concurrency=3)

    async def test_cancellation_returns_promptly(self) -> None:
        """Cancelled from outside: it returns, and no further chunk is started."""
        fetch = FakeFetch()
        both_in = anyio.Event()

        async def hangs(iccids: list[str]) -> list[CardUsage]:
            fetch.calls.append(iccids)
            if len(fetch.calls) == 2:
                both_in.set()
            await anyio.sleep_forever()
            raise AssertionError  # pragma: no cover

        with anyio.CancelScope() as scope:
            async with anyio.create_task_group() as task_group:
                task_group.start_soon(
                    lambda: query_iccids(hangs, make_iccids(1000), concurrency=2)
                )
                await both_in.wait()
                scope.cancel()
        assert scope.cancelled_caught
        assert len(fetch.calls) == 2

    async def test_raise_for_errors(self) -> None:
        """raise_for_errors lists every failed and missing ICCID."""
        iccids = make_iccids(3)
        fetch = FakeFetch(poisoned={iccids[0]})
        fetch.answer = lambda asked: []
        result = await query_iccids(fetch, iccids, concurrency=1)
        assert result.missing == iccids[1:]
        with pytest.raises(MioesimError, match="1 ICCIDs failed, 2 missing") as caught:
            result.raise_for_errors()
        assert list(caught.value.failed) == [iccids[0]]  # type: ignore[attr-defined]
        ok = await query_iccids(FakeFetch(), iccids, concurrency=1)
        assert ok.raise_for_errors() is ok


class TestStreamIccids:
    def source(self, iccids: list[str]) -> Iterator[str]:
        yield from iccids

    async def asource(self, iccids: list[str]) -> AsyncIterator[str]:
        for iccid in iccids:
            await anyio.lowlevel.checkpoint()
            yield iccid

    @pytest.mark.parametrize("size", SIZES)
    @pytest.mark.parametrize("kind", ["generator", "async generator"])
    async def test_every_iccid_once(self, size: int, kind: str) -> None:
        """Streamed chunks cover every distinct ICCID exactly once."""
        iccids = make_iccids(size)
        source = self.source(iccids) if kind == "generator" else self.asource(iccids)
        fetch = FakeFetch()
        chunks = [chunk async for chunk in stream_iccids(fetch, source, concurrency=3)]
        assert sorted(i for chunk in chunks for i in chunk.iccids) == iccids
        assert sorted(r.iccid for chunk in chunks for r in chunk.records) == iccids
        assert len(fetch.calls) == math.ceil(size / 100)

    async def test_open_window(self) -> None:
        """As an async context manager, the stream gives the same chunks."""
        iccids = make_iccids(2345)
        async with stream_iccids(
            FakeFetch(), self.asource(iccids), concurrency=4
        ) as chunks:
            seen = [iccid async for chunk in chunks for iccid in chunk.iccids]
        assert sorted(seen) == iccids

    async def test_failed_chunk_has_error_and_nothing_else(self) -> None:
        """A failed chunk: error set, no records, no missing; split pieces cover all."""
        iccids = make_iccids(100)
        fetch = FakeFetch(poisoned={iccids[5]})
        chunks = [c async for c in stream_iccids(fetch, iccids, concurrency=1)]
        failed = [c for c in chunks if c.error is not None]
        assert failed == [ChunkResult([iccids[5]], error=fetch.error)]
        assert sorted(i for c in chunks for i in c.iccids) == iccids

    @pytest.mark.parametrize("window", [False, True])
    async def test_breaking_out_stops_the_stream(self, window: bool) -> None:
        """After a break, no further request is sent."""
        fetch = FakeFetch()
        stream = stream_iccids(fetch, self.source(make_iccids(100_000)), concurrency=2)
        if window:
            async with stream as chunks:
                async for _ in chunks:
                    break
        else:
            async for _ in stream:
                break
        sent = len(fetch.calls)
        for _ in range(20):
            await anyio.lowlevel.checkpoint()
        assert len(fetch.calls) == sent <= 8

    async def test_invalid_iccid_found_lazily(self) -> None:
        """A bad ICCID mid-stream raises with its true position, its chunk unsent."""
        iccids = make_iccids(400)
        never_sent = iccids[200:]
        iccids[250:250] = [iccids[0], "not-an-iccid"]
        fetch = FakeFetch()
        with pytest.raises(InvalidICCIDError, match="position 251"):
            async for _ in stream_iccids(fetch, self.source(iccids), concurrency=1):
                pass
        asked = {iccid for call in fetch.calls for iccid in call}
        assert not asked.intersection(never_sent)

    async def test_duplicates_and_progress(self) -> None:
        """The stream reports repeats and progress with an unknown total."""
        iccids = make_iccids(150)
        progress: list[tuple[int, int | None]] = []
        stream = stream_iccids(
            FakeFetch(),
            iccids + iccids[:3],
            concurrency=1,
            on_progress=lambda *a: progress.append(a),
        )
        async for _ in stream:
            pass
        assert stream.duplicates == iccids[:3]
        assert progress == [(100, None), (150, None)]

    async def test_cancellation_inside_the_loop(self) -> None:
        """Cancelled while the consumer waits: nothing more is sent."""
        fetch = FakeFetch()
        with anyio.CancelScope() as scope:
            async for _ in stream_iccids(fetch, make_iccids(10_000), concurrency=2):
                scope.cancel()
                await anyio.lowlevel.checkpoint()
        sent = len(fetch.calls)
        await anyio.lowlevel.checkpoint()
        assert scope.cancelled_caught
        assert len(fetch.calls) == sent

    async def test_iterated_once(self) -> None:
        """Opening a stream already iterated is an error."""
        stream = stream_iccids(FakeFetch(), make_iccids(1), concurrency=1)
        assert [c.iccids async for c in stream] == [make_iccids(1)]
        with pytest.raises(RuntimeError, match="already"):
            async with stream:
                pass  # pragma: no cover

    def test_arguments_checked_on_call(self) -> None:
        """Bad arguments fail when the stream is created."""
        with pytest.raises(ValueError, match="concurrency"):
            stream_iccids(FakeFetch(), [], concurrency=0)


@pytest.mark.parametrize(
    ("error", "specific", "account_wide"),
    [
        (NotFoundError(3, "no card"), True, False),
        (InvalidRequestError(-2, "bad"), True, False),
        (UnexpectedResponseError("boom", status_code=503), True, False),
        (UnexpectedResponseError("teapot", status_code=418), False, False),
        (UnexpectedResponseError("not JSON", status_code=200), False, False),
        (UnexpectedResponseError("no code"), False, False),
        (RateLimitedError("slow"), False, False),
        (TransportError("reset"), False, False),
        (AuthenticationError(-1, "login"), False, True),
        (SignatureError(-30, "sign"), False, True),
        (PermissionDeniedError(-3, "no"), False, True),
        (IPNotWhitelistedError(None, "ip"), False, True),
    ],
    ids=lambda value: type(value).__name__,
)
def test_failure_classification(
    error: MioesimError, specific: bool, account_wide: bool
) -> None:
    """Only failures one ICCID may cause are split; account failures stop all."""
    assert is_chunk_specific(error) is specific
    assert is_account_wide(error) is account_wide


POOL = make_iccids(300)
ERRORS: list[MioesimError] = [
    NotFoundError(3, "no card"),
    InvalidRequestError(-2, "bad"),
    UnexpectedResponseError("boom", status_code=500),
    UnexpectedResponseError("html", status_code=200),
    RateLimitedError("slow"),
    TransportError("reset"),
    AuthenticationError(-1, "login"),
]


def misbehaving_fetch(seed: int) -> Callable[[list[str]], Awaitable[list[CardUsage]]]:
    """Drops, repeats, invents and shuffles records, or raises, per chunk."""

    async def fetch(iccids: list[str]) -> list[CardUsage]:
        # Seeded by the chunk, so the answer does not depend on task order.
        rng = random.Random(f"{seed}:{','.join(iccids)}")
        await anyio.lowlevel.checkpoint()
        if rng.random() < 0.3:
            raise rng.choice(ERRORS)
        records = [CardUsage(i) for i in iccids if rng.random() > 0.1]
        records += rng.sample(records, k=min(3, len(records)))
        records += [CardUsage(rng.choice(POOL)) for _ in range(rng.randint(0, 3))]
        rng.shuffle(records)
        return records

    return fetch


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
@settings(max_examples=50, deadline=None)
@given(
    iccids=st.lists(st.sampled_from(POOL), max_size=400),
    seed=st.integers(0, 2**32),
    concurrency=st.integers(1, 4),
)
def test_invariant_under_misbehaving_server(
    backend: str, iccids: list[str], seed: int, concurrency: int
) -> None:
    """Every distinct ICCID ends in exactly one of records, failed, missing."""
    fetch = misbehaving_fetch(seed)
    result = anyio.run(
        lambda: query_iccids(fetch, iccids, concurrency=concurrency), backend=backend
    )
    distinct = list(dict.fromkeys(iccids))
    records = found(result)
    assert all(isinstance(e, MioesimError) for e in result.failed.values())
    assert len(records) + len(result.failed) + len(result.missing) == len(distinct)
    assert set(records) | set(result.failed) | set(result.missing) == set(distinct)
    assert records == [i for i in distinct if i in set(records)]
    assert result.missing == [i for i in distinct if i in set(result.missing)]
    assert result.duplicates == list(
        dict.fromkeys(i for n, i in enumerate(iccids) if i in iccids[:n])
    )


@given(st.lists(st.from_regex(r"[0-9]{10,22}F?", fullmatch=True), max_size=200))
def test_seen_iccids_behaves_as_a_set(iccids: list[str]) -> None:
    """add() is True exactly for the first occurrence, whatever the overlaps."""
    seen = SeenIccids()
    reference: set[str] = set()
    for iccid in iccids:
        assert seen.add(iccid) is (iccid not in reference)
        reference.add(iccid)


def test_seen_iccids_matches_whole_iccids_only() -> None:
    """An ICCID inside or across others in the same bucket is still new."""
    seen = SeenIccids()
    seen._BUCKETS = 1  # every ICCID in one bucket
    assert seen.add("12345678901")
    assert seen.add("98765432100")
    assert seen.add("1234567890")
    assert seen.add("2345678901")
    assert seen.add("0198765432")
    assert not seen.add("12345678901")


def test_result_summaries() -> None:
    """Results say what they hold in their repr, not every record."""
    iccids = make_iccids(3)
    answered = ChunkResult(iccids, records=[CardUsage(iccids[0])], missing=iccids[1:])
    failed = ChunkResult(iccids, error=TransportError("reset"))
    assert repr(answered) == "ChunkResult(iccids=3, records=1, missing=2)"
    assert repr(failed) == "ChunkResult(iccids=3, error=TransportError('reset'))"
    assert not answered.ok
    assert not failed.ok
    assert ChunkResult(iccids[:1], records=[CardUsage(iccids[0])]).ok
    result = BatchResult.from_chunks([answered, failed], duplicates=["x"])
    assert repr(result) == "BatchResult(records=1, failed=3, missing=2, duplicates=1)"
