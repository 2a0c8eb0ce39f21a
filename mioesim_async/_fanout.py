"""
Fan-out over ICCIDs: validate, de-duplicate, chunk by 100, match records.

Still no HTTP: the caller hands in ``fetch``, a coroutine function asking for
one chunk of at most 100 ICCIDs (``Client.query_iccid_information`` in
production, which retries on its own), and gets ``ChunkResult``s and
``BatchResult``s back. Whatever ``fetch`` does, every distinct ICCID ends in
exactly one of records, failed or missing:

- records are matched to the ICCIDs asked by their ``iccid`` field; a record
  for an ICCID not asked, or a second record for one, is ignored (logged at
  DEBUG on the ``mioesim_async`` logger); an ICCID without a record is missing;
- a request that fails with a ``MioesimError`` fails its ICCIDs, not the
  fan-out; when the failure may come from one ICCID (``is_chunk_specific``),
  the chunk is split in halves, recursively, so a poisoned ICCID costs only
  itself;
- a failure of the whole account (``is_account_wide``) stops the fan-out: no
  further request is sent, and every ICCID not yet asked fails with it;
- any other exception from ``fetch`` is a bug: it stops the fan-out and
  propagates as itself.
"""

from __future__ import annotations

import functools
import inspect
import itertools
import logging
from collections import deque
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
)
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import cast

import attrs

from ._batch import (
    BatchRounds,
    ItemSource,
    Limiter,
    check_positive,
    open_batches,
    run_batches,
)
from ._exceptions import (
    APIError,
    AuthenticationError,
    DeadlineExceededError,
    IPNotWhitelistedError,
    MioesimError,
    PermissionDeniedError,
    SignatureError,
    UnexpectedResponseError,
)
from ._iccid import iter_normalized, normalize_iccid, normalize_iccids
from ._models import CardUsage
from ._results import BatchResult, ChunkResult

__all__ = [
    "CHUNK_SIZE",
    "FanOutHooks",
    "IccidStream",
    "SeenIccids",
    "is_account_wide",
    "is_chunk_specific",
    "match_records",
    "query_iccids",
    "stream_iccids",
]

logger = logging.getLogger("mioesim_async")

#: The most ICCIDs ``queryIccidInformation`` takes in one request.
CHUNK_SIZE = 100

Fetch = Callable[[list[str]], Awaitable[list[CardUsage]]]
ProgressCallback = Callable[[int, "int | None"], object]

_ACCOUNT_WIDE = (
    DeadlineExceededError,
    AuthenticationError,
    SignatureError,
    PermissionDeniedError,
    IPNotWhitelistedError,
)


def is_account_wide(error: MioesimError) -> bool:
    """
    Whether *error* refuses the account itself, so every other request would
    fail alike: bad credentials, a wrong signature, no permission, an IP
    address not on the whitelist; or ends the fan-out: its deadline ran out.
    """
    return isinstance(error, _ACCOUNT_WIDE)


def is_chunk_specific(error: MioesimError) -> bool:
    """
    Whether *error* may be caused by one of the ICCIDs asked, so that asking
    for fewer at a time can isolate it.

    True for an ``APIError`` that is not account-wide (a parameter refused, a
    card not found) and for a 5xx answer (a server failing on one card).
    False for account-wide errors, rate limits and transport failures, which
    would hit any chunk alike, and for anything else.
    """
    if isinstance(error, APIError):
        return not is_account_wide(error)
    if isinstance(error, UnexpectedResponseError):
        return error.status_code is not None and 500 <= error.status_code <= 599
    return False


def match_records(asked: list[str], records: Iterable[CardUsage]) -> ChunkResult:
    """Pair *records* with the ICCIDs *asked* by their ``iccid`` field."""
    found: dict[str, CardUsage | None] = dict.fromkeys(asked)
    matched = 0
    for record in records:
        iccid = record.iccid
        if found.get(iccid, _NOT_ASKED) is None:  # asked, and no record yet
            found[iccid] = record
            matched += 1
        elif iccid not in found:
            logger.debug("ignoring a record for %s, which was not asked", iccid)
        else:
            logger.debug("ignoring a second record for %s", iccid)
    if matched == len(found):  # the common case: a record for each, none None
        return ChunkResult(asked, cast("list[CardUsage]", list(found.values())))
    return ChunkResult(
        iccids=asked,
        records=[record for record in found.values() if record is not None],
        missing=[iccid for iccid, record in found.items() if record is None],
    )


_NOT_ASKED = object()


def _check_progress_callback(on_progress: ProgressCallback | None) -> None:
    """Refuse anything but a plain callable, before anything is sent."""
    if on_progress is None:
        return
    if not callable(on_progress):
        raise TypeError(f"on_progress must be callable, got {on_progress!r}")
    if inspect.iscoroutinefunction(on_progress) or inspect.iscoroutinefunction(
        getattr(on_progress, "__call__", None)  # noqa: B004
    ):
        raise TypeError(
            "on_progress must be a plain function, not a coroutine function: "
            "it is called between chunks and is not awaited"
        )


def _report_progress(
    on_progress: ProgressCallback, done: int, total: int | None
) -> None:
    """Call *on_progress*, refusing an awaitable it returns instead of dropping it."""
    returned = on_progress(done, total)
    if inspect.isawaitable(returned):
        if inspect.iscoroutine(returned):
            returned.close()  # never awaited: close it so Python does not warn
        raise TypeError(
            "on_progress returned an awaitable; it must be a plain function"
        )


def _repeats(iccids: list[str]) -> dict[str, None]:
    """The ICCIDs met more than once, each once, in the order of their first repeat."""
    seen: set[str] = set()
    repeats: dict[str, None] = {}
    for iccid in iccids:
        if iccid in seen:
            repeats[iccid] = None
        else:
            seen.add(iccid)
    return repeats


class SeenIccids:
    """
    The set of ICCIDs met so far, kept compact: about 25 bytes an ICCID where
    a ``set`` of strings takes over 100, so de-duplicating a stream of
    millions stays within a few tens of MB.

    ICCIDs are spread over byte strings by hash, each entry written as
    ``,<iccid>,``: an ICCID has no comma, so a search only matches whole ones.
    """

    _BUCKETS = 1 << 14

    def __init__(self) -> None:
        self._buckets: dict[int, bytearray] = {}

    def add(self, iccid: str) -> bool:
        """Add *iccid*; whether it was new."""
        entry = b",%s," % iccid.encode("ascii")
        key = hash(iccid) % self._BUCKETS
        bucket = self._buckets.get(key)
        if bucket is None:
            self._buckets[key] = bytearray(entry)
            return True
        if entry in bucket:
            return False
        bucket += entry[1:]
        return True


@attrs.frozen
class FanOutHooks:
    """What the caller of a fan-out wants to hear about, and be asked."""

    limiter: Limiter | None = None
    """Bounds the requests in flight instead of a plain semaphore."""
    may_split: Callable[[], bool] | None = None
    """Asked before a failed chunk is split; ``False`` fails it whole (say,
    when the retry budget is spent, so an outage is not multiplied)."""
    on_piece: Callable[[ChunkResult], object] | None = None
    """Told each outcome as it settles."""


class _IccidFanOut:
    """One fan-out's state: the ICCIDs seen, how many settled, and whether an
    account-wide failure stopped it."""

    def __init__(
        self,
        fetch: Fetch,
        *,
        strict: bool,
        on_progress: ProgressCallback | None,
        hooks: FanOutHooks | None = None,
    ) -> None:
        self._fetch = fetch
        self._strict = strict
        self._on_progress = on_progress
        self._hooks = hooks or FanOutHooks()
        self.total: int | None = None
        self._settled = 0
        self._seen = SeenIccids()
        self._duplicates: dict[str, None] = {}
        self._halted_by: MioesimError | None = None

    @property
    def duplicates(self) -> list[str]:
        """The ICCIDs met more than once so far, each once, in order."""
        return list(self._duplicates)

    def distinct(self, iccids: ItemSource[object]) -> ItemSource[str]:
        """*iccids* validated lazily, in order, repeats left out."""
        if isinstance(iccids, AsyncIterable):
            return self._distinct_async(iccids)
        return self._distinct_sync(iccids)

    async def collect_distinct(self, iccids: ItemSource[object]) -> list[str]:
        """Every distinct ICCID of *iccids*, all validated before returning."""
        if type(iccids) is list:
            return self._distinct_list(iccids)
        distinct = self.distinct(iccids)
        if isinstance(distinct, AsyncIterable):
            return [iccid async for iccid in distinct]
        return list(distinct)

    def _distinct_list(self, iccids: list[object]) -> list[str]:
        """Distinct ICCIDs of a list, which is held anyway: C-level checks and
        a plain dict instead of the compact set a stream needs."""
        normalized = normalize_iccids(iccids, strict=self._strict)
        distinct = list(dict.fromkeys(normalized))
        if len(distinct) < len(normalized):
            self._duplicates = _repeats(normalized)
        return distinct

    def _distinct_sync(self, iccids: Iterable[object]) -> Iterator[str]:
        """Distinct ICCIDs of a plain iterable."""
        return filter(self._is_new, iter_normalized(iccids, strict=self._strict))

    async def _distinct_async(
        self, iccids: AsyncIterable[object]
    ) -> AsyncIterator[str]:
        """Distinct ICCIDs of an async iterable."""
        position = itertools.count()
        async for value in iccids:
            iccid = normalize_iccid(value, next(position), strict=self._strict)
            if self._is_new(iccid):
                yield iccid

    def _is_new(self, iccid: str) -> bool:
        """Whether *iccid* is met for the first time; remember it either way."""
        if self._seen.add(iccid):
            return True
        self._duplicates[iccid] = None
        return False

    async def settle_chunk(self, iccids: list[str]) -> list[ChunkResult]:
        """Ask for one chunk until each of its ICCIDs has an outcome."""
        pieces = await self._settle(iccids)
        if self._hooks.on_piece is not None:
            for piece in pieces:
                self._hooks.on_piece(piece)
        self._settled += len(iccids)
        if self._on_progress is not None:
            _report_progress(self._on_progress, self._settled, self.total)
        return pieces

    async def _settle(self, iccids: list[str]) -> list[ChunkResult]:
        """Ask for *iccids*, splitting on a failure one of them may cause."""
        if self._halted_by is not None:
            return [ChunkResult(iccids, error=self._halted_by)]
        try:
            # A copy: what fetch does to its argument must not change ours.
            records = await self._fetch(list(iccids))
        except MioesimError as error:
            return await self._settle_failure(iccids, error)
        return [match_records(iccids, records)]

    def _may_split(self) -> bool:
        return self._hooks.may_split is None or self._hooks.may_split()

    async def _settle_failure(
        self, iccids: list[str], error: MioesimError
    ) -> list[ChunkResult]:
        """Fail *iccids* with *error*, or isolate its cause by halves."""
        if is_account_wide(error) and self._halted_by is None:
            self._halted_by = error
        if len(iccids) == 1 or not is_chunk_specific(error) or not self._may_split():
            return [ChunkResult(iccids, error=error)]
        # Halves one after the other: the chunk holds one slot of the limiter,
        # so a split never puts more requests in flight than `concurrency`.
        middle = len(iccids) // 2
        first = await self._settle(iccids[:middle])
        return first + await self._settle(iccids[middle:])


async def query_iccids(
    fetch: Fetch,
    iccids: ItemSource[object],
    *,
    concurrency: int,
    on_progress: ProgressCallback | None = None,
    strict: bool = False,
    hooks: FanOutHooks | None = None,
) -> BatchResult:
    """
    Ask for the usage of any number of ICCIDs, in chunks of 100, in parallel.

    Every ICCID is validated first: nothing is sent if one is invalid. The
    distinct ICCIDs go out in input order, in ceil(n/100) requests when none
    fails, at most *concurrency* at a time.

    Args:
        fetch: a coroutine function asking for 1 to 100 ICCIDs in one request.
        iccids: an iterable or async iterable of ICCIDs; repeats are asked once.
        concurrency: the most requests in flight.
        on_progress: a plain function called as ``on_progress(done, total)``
            after each chunk settles: *done* distinct ICCIDs have an outcome,
            out of *total* distinct ICCIDs. Not awaited; coroutine functions
            are refused.
        strict: also check each ICCID's Luhn digit.
        hooks: a limiter, a split guard and an outcome listener.

    Returns:
        A ``BatchResult`` in which every distinct ICCID is in exactly one of
        ``records``, ``failed`` and ``missing``.

    Raises:
        InvalidICCIDError: an ICCID is invalid; it names the value and its
            0-based position in the input.
        ValueError: *concurrency* is not a positive integer.
        TypeError: *on_progress* is not a plain callable.

    Failed requests do not raise: see ``BatchResult.raise_for_errors``. An
    exception from *fetch* that is not a ``MioesimError``, or from
    *on_progress*, stops the fan-out and propagates as itself.
    """
    check_positive("concurrency", concurrency)
    _check_progress_callback(on_progress)
    fan_out = _IccidFanOut(fetch, strict=strict, on_progress=on_progress, hooks=hooks)
    distinct = await fan_out.collect_distinct(iccids)
    fan_out.total = len(distinct)
    settled = await run_batches(
        distinct,
        fan_out.settle_chunk,
        chunk_size=CHUNK_SIZE,
        concurrency=concurrency,
        limiter=hooks.limiter if hooks else None,
    )
    return BatchResult.from_chunks(
        itertools.chain.from_iterable(settled), fan_out.duplicates
    )


def stream_iccids(
    fetch: Fetch,
    iccids: ItemSource[object],
    *,
    concurrency: int,
    on_progress: ProgressCallback | None = None,
    strict: bool = False,
    hooks: FanOutHooks | None = None,
) -> IccidStream:
    """
    Ask for the usage of any number of ICCIDs, handing results out as they come.

    For inputs too large to hold: *iccids* (an iterable or async iterable, a
    generator of a million will do) is read lazily, each ICCID validated just
    before its chunk is sent, so an ``InvalidICCIDError`` (naming the value and
    its position in the input) can come after earlier chunks were handed out.

    Iterate the returned ``IccidStream`` with ``async for``; see it for the two
    ways to do so. Arguments are those of ``query_iccids``, except that
    *on_progress* gets ``None`` as *total*, which is not known in advance.

    Raises:
        ValueError: *concurrency* is not a positive integer.
        TypeError: *on_progress* is not a plain callable.
    """
    check_positive("concurrency", concurrency)
    _check_progress_callback(on_progress)
    return IccidStream(
        _IccidFanOut(fetch, strict=strict, on_progress=on_progress, hooks=hooks),
        iccids,
        concurrency,
        hooks.limiter if hooks else None,
    )


_Pieces = list[ChunkResult]
_Window = AbstractAsyncContextManager[AsyncIterator[tuple[int, _Pieces]]]


class IccidStream:
    """
    The ``ChunkResult``s of a fan-out, as requests complete.

    Plain ``async for chunk in stream`` is safe to break out of, or to cancel,
    at any point: requests run in rounds of a few per ``concurrency`` slot
    inside each step of the iteration, so nothing runs between two steps and
    nothing needs closing. A round's results come out when its last request
    completes.

    ``async with stream as chunks: async for chunk in chunks`` keeps
    *concurrency* requests in flight all along and hands each result out as
    soon as it completes; leaving the block stops everything at once.

    Together the chunks cover every distinct ICCID exactly once. A chunk that
    was split to isolate a failure comes out as several ``ChunkResult``s. A
    stream is iterated once; ``duplicates`` lists the repeats met so far.
    """

    def __init__(
        self,
        fan_out: _IccidFanOut,
        iccids: ItemSource[object],
        concurrency: int,
        limiter: Limiter | None = None,
    ) -> None:
        self._fan_out = fan_out
        self._distinct = fan_out.distinct(iccids)
        self._concurrency = concurrency
        self._limiter = limiter
        self._pending: deque[ChunkResult] = deque()
        self._next_pieces: Callable[[], Awaitable[_Pieces]] | None = None
        self._window: _Window | None = None

    @property
    def duplicates(self) -> list[str]:
        """The ICCIDs repeated in the input so far, each listed once."""
        return self._fan_out.duplicates

    def __aiter__(self) -> IccidStream:
        return self

    async def __anext__(self) -> ChunkResult:
        if self._next_pieces is None:
            self._next_pieces = self._start_rounds()
        while not self._pending:
            self._pending.extend(await self._next_pieces())
        return self._pending.popleft()

    async def __aenter__(self) -> IccidStream:
        if self._next_pieces is not None:
            raise RuntimeError("this stream is already being iterated")
        self._window = open_batches(
            self._distinct,
            self._fan_out.settle_chunk,
            chunk_size=CHUNK_SIZE,
            concurrency=self._concurrency,
            limiter=self._limiter,
        )
        self._next_pieces = functools.partial(
            _next_value, await self._window.__aenter__()
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool | None:
        if self._window is None:  # never entered: nothing to leave
            return None
        return await self._window.__aexit__(exc_type, exc, traceback)

    def _start_rounds(self) -> Callable[[], Awaitable[_Pieces]]:
        """Plain iteration: fetch in rounds, nothing left running in between."""
        rounds = BatchRounds(
            self._distinct,
            self._fan_out.settle_chunk,
            chunk_size=CHUNK_SIZE,
            concurrency=self._concurrency,
            limiter=self._limiter,
        )
        return rounds.__anext__


async def _next_value(pairs: AsyncIterator[tuple[int, _Pieces]]) -> _Pieces:
    """The next result of an ``(index, result)`` iterator."""
    _, value = await anext(pairs)
    return value
