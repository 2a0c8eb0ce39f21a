"""
Generic chunked fan-out under a limiter; knows nothing of HTTP or ICCIDs.

Items are pulled lazily from an iterable or an async iterable, grouped into
chunks, and each chunk is handed to a "fetch one chunk" coroutine function. A
slot of the limiter is taken *before* a chunk is handed to one of
*concurrency* worker tasks and given back when its result has been handed
over, so at most *concurrency* chunks are in flight, no more than
*concurrency* tasks ever exist, and memory stays flat however long the input
is.

Three ways to run it:

- ``run_batches``: a coroutine returning every result, in input order.
- ``open_batches``: an async context manager yielding ``(index, result)`` pairs
  as chunks complete, over a continuous window; leaving the block stops the
  fan-out at once.
- ``BatchRounds``: a plain async iterator, safe to abandon at any point. Its
  task group lives only inside ``__anext__``, so no cancel scope stays open
  while the consumer runs; the price is that chunks run in rounds.
"""

from __future__ import annotations

import itertools
import sys
from collections import deque
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
)
from contextlib import asynccontextmanager, contextmanager
from typing import Generic, Protocol, TypeVar

import anyio
from anyio.streams.memory import MemoryObjectSendStream

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import BaseExceptionGroup

__all__ = [
    "BatchRounds",
    "check_positive",
    "open_batches",
    "run_batches",
]

T = TypeVar("T")
R = TypeVar("R")

#: Chunks per limiter slot in one round of ``BatchRounds``. A round idles only
#: while its last chunks drain, about half a request in four, so rounds keep
#: most of a continuous window's throughput while holding at most
#: ``4 * concurrency`` results.
ROUND_CHUNKS_PER_SLOT = 4

ItemSource = Iterable[T] | AsyncIterable[T]
FetchChunk = Callable[[list[T]], Awaitable[R]]


class Limiter(Protocol):
    """What bounds the chunks in flight: an ``anyio.Semaphore`` or the like."""

    async def acquire(self) -> None: ...

    def release(self) -> None: ...


def check_positive(name: str, value: object) -> None:
    """Raise ``ValueError`` unless *value* is an int greater than zero."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an integer greater than 0, got {value!r}")


class _Chunker(Generic[T]):
    """Pulls lists of items lazily from an iterable or an async iterable."""

    def __init__(self, items: ItemSource[T], size: int) -> None:
        self._size = size
        self._sync: Iterator[T] = iter(())
        self._async: AsyncIterator[T] | None = None
        if isinstance(items, AsyncIterable):
            self._async = aiter(items)
        else:
            self._sync = iter(items)
        self.exhausted = False

    @property
    def awaits(self) -> bool:
        """Whether pulling a chunk may await, letting another pull interleave."""
        return self._async is not None

    async def next_chunk(self) -> list[T]:
        """The next chunk of at most *size* items; empty once the source ends."""
        if self.exhausted:
            return []
        if self._async is None:
            chunk = list(itertools.islice(self._sync, self._size))
        else:
            chunk = await _take(self._async, self._size)
        # A short chunk means the source ended: never ask it again.
        self.exhausted = len(chunk) < self._size
        return chunk


async def _take(iterator: AsyncIterator[T], size: int) -> list[T]:
    """Up to *size* items of *iterator*."""
    chunk: list[T] = []
    while len(chunk) < size:
        try:
            chunk.append(await anext(iterator))
        except StopAsyncIteration:
            break
    return chunk


def _first_real_error(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The first exception of *group* (nested groups flattened) that is not a
    cancellation; the group itself if there is none."""
    cancelled = anyio.get_cancelled_exc_class()
    for error in group.exceptions:
        if isinstance(error, BaseExceptionGroup):
            error = _first_real_error(error)
        if not isinstance(error, (cancelled, BaseExceptionGroup)):
            return error
    return group


@contextmanager
def _unwrapped_errors() -> Iterator[None]:
    """Let a task group's error out as itself, never as an exception group.

    A fan-out stops at its first unexpected error, so a group nearly always
    holds one; callers should see that error, as they would without tasks.
    """
    try:
        yield
    except BaseExceptionGroup as group:
        error = _first_real_error(group)
        if error is group:
            raise
        # Re-raising here would make the group the error's __context__; keep
        # the context it had, so its traceback reads as if no task was involved.
        context, suppress = error.__context__, error.__suppress_context__
        try:
            raise error
        finally:
            error.__context__, error.__suppress_context__ = context, suppress


#: Where a worker hands ``(index, result)`` over; it may wait for a taker.
Deliver = Callable[[tuple[int, R]], Awaitable[None]]


class _Window(Generic[T, R]):
    """One fan-out: a chunk source, a fetch function, a limiter, a receiver."""

    def __init__(
        self,
        chunker: _Chunker[T],
        fetch_chunk: FetchChunk[T, R],
        limiter: Limiter,
        deliver: Deliver[R],
    ) -> None:
        self._chunker = chunker
        self._fetch_chunk = fetch_chunk
        self._limiter = limiter
        self._deliver = deliver
        self._indices: Iterator[int] = itertools.count()
        self._pulling = anyio.Lock()

    async def feed(self, max_chunks: int | None, workers: int) -> None:
        """
        Run *workers* tasks, each taking a slot of the limiter *before* it
        pulls a chunk (aiometer style): the slots, not the workers, bound the
        chunks in flight. Workers are started once, not a task per chunk:
        starting a task costs more than a chunk's turn through a worker. A
        worker holds a slot only while it has a chunk, so a worker waiting
        for a slot (say, to retry after a 429) never waits on an idle one.
        """
        self._indices = (
            itertools.count() if max_chunks is None else iter(range(max_chunks))
        )
        self._pulling = anyio.Lock()
        async with anyio.create_task_group() as task_group:
            for _ in range(workers):
                task_group.start_soon(self._work)

    async def _work(self) -> None:
        """Take a slot and a chunk, run it; until there are no more chunks."""
        while True:
            await self._limiter.acquire()
            job = await self._next_job()
            if job is None:
                return
            await self._run_chunk(*job)

    async def _next_job(self) -> tuple[int, list[T]] | None:
        """The next chunk and its index; ``None`` (the slot given back) at the end."""
        if not self._chunker.awaits:  # a pull that never awaits is atomic
            return await self._pull()
        async with self._pulling:  # one pull at a time keeps input order
            return await self._pull()

    async def _pull(self) -> tuple[int, list[T]] | None:
        index = next(self._indices, None)
        if index is None:
            self._limiter.release()
            return None
        chunk = await self._next_chunk()
        return (index, chunk) if chunk else None

    async def _next_chunk(self) -> list[T]:
        """The next chunk; the slot just taken goes back if there is none."""
        chunk: list[T] = []
        try:
            chunk = await self._chunker.next_chunk()
        finally:
            if not chunk:
                self._limiter.release()
        return chunk

    async def _run_chunk(self, index: int, chunk: list[T]) -> None:
        """Fetch one chunk, hand its result over, then give the slot back."""
        result = await self._fetch_chunk(chunk)
        # Holding the slot until the result is taken keeps at most
        # `concurrency` results alive when the consumer is slow.
        await self._deliver((index, result))
        # Not in a `finally`: after an error the fan-out is being cancelled,
        # and a slot given back would let one more chunk start.
        self._limiter.release()


@asynccontextmanager
async def _open(
    chunker: _Chunker[T],
    fetch_chunk: FetchChunk[T, R],
    limiter: Limiter,
    workers: int,
    max_chunks: int | None = None,
) -> AsyncIterator[AsyncIterator[tuple[int, R]]]:
    """Run the fan-out over *chunker* for as long as the block lasts."""
    send, receive = anyio.create_memory_object_stream[tuple[int, R]]()
    window = _Window(chunker, fetch_chunk, limiter, send.send)
    with _unwrapped_errors(), receive:
        async with anyio.create_task_group() as task_group:
            task_group.start_soon(_feed_then_close, window, send, max_chunks, workers)
            yield receive
            # The consumer left, perhaps early: start nothing more, stop what runs.
            task_group.cancel_scope.cancel()


async def _feed_then_close(
    window: _Window[T, R],
    send: MemoryObjectSendStream[tuple[int, R]],
    max_chunks: int | None,
    workers: int,
) -> None:
    """Run *window*; its stream ends, for the consumer, when the last chunk has."""
    async with send:
        await window.feed(max_chunks, workers)


@asynccontextmanager
async def open_batches(
    items: ItemSource[T],
    fetch_chunk: FetchChunk[T, R],
    *,
    chunk_size: int,
    concurrency: int,
    limiter: Limiter | None = None,
) -> AsyncIterator[AsyncIterator[tuple[int, R]]]:
    """
    Fan *items* out in chunks and yield ``(index, result)`` pairs as chunks complete.

    Args:
        items: an iterable or async iterable, pulled lazily as slots free up.
        fetch_chunk: a coroutine function taking one chunk (a list of at most
            *chunk_size* items, in input order) and returning its result.
        chunk_size: the most items in one chunk.
        concurrency: the most chunks in flight, and so the most chunk tasks.
        limiter: what bounds the chunks in flight, instead of a semaphore of
            *concurrency* slots (one that shrinks under rate limiting, say);
            it should never allow more than *concurrency*.

    Yields:
        An async iterator of ``(index, result)``, *index* being the chunk's
        0-based position in the input, in completion order. Leaving the block,
        early or not, cancels every chunk still running and starts no other.

    Raises:
        ValueError: *chunk_size* or *concurrency* is not a positive integer.

    The first exception raised by *fetch_chunk* or by the source cancels the
    fan-out and propagates as itself, not wrapped in an exception group.
    """
    check_positive("chunk_size", chunk_size)
    check_positive("concurrency", concurrency)
    limiter = limiter or anyio.Semaphore(concurrency)
    chunker = _Chunker(items, chunk_size)
    async with _open(chunker, fetch_chunk, limiter, concurrency) as results:
        yield results


async def run_batches(
    items: ItemSource[T],
    fetch_chunk: FetchChunk[T, R],
    *,
    chunk_size: int,
    concurrency: int,
    limiter: Limiter | None = None,
) -> list[R]:
    """
    Fan *items* out in chunks and return every chunk's result, in input order.

    The arguments, laziness and errors are those of ``open_batches``.
    Results go straight into place, with no stream between the workers and a
    consumer: all of them are kept anyway.
    """
    check_positive("chunk_size", chunk_size)
    check_positive("concurrency", concurrency)
    by_index: dict[int, R] = {}

    async def keep(indexed: tuple[int, R]) -> None:
        index, result = indexed
        by_index[index] = result

    limiter = limiter or anyio.Semaphore(concurrency)
    window = _Window(_Chunker(items, chunk_size), fetch_chunk, limiter, keep)
    with _unwrapped_errors():
        await window.feed(None, concurrency)
    return [by_index[index] for index in range(len(by_index))]


class BatchRounds(Generic[T, R]):
    """
    Fan *items* out in chunks; iterate the results as plain ``async for``.

    Each round starts up to ``ROUND_CHUNKS_PER_SLOT * concurrency`` chunks
    under the limiter and ends when they have all completed; their results are
    then handed out in completion order. Between two ``__anext__`` calls no
    task runs and no cancel scope is open, so breaking out of the loop, or
    being cancelled, needs no clean-up and starts nothing more.

    An iterator that raised or was cancelled is finished, like a generator.
    Arguments and errors are those of ``open_batches``.
    """

    def __init__(
        self,
        items: ItemSource[T],
        fetch_chunk: FetchChunk[T, R],
        *,
        chunk_size: int,
        concurrency: int,
        limiter: Limiter | None = None,
    ) -> None:
        check_positive("chunk_size", chunk_size)
        check_positive("concurrency", concurrency)
        self._chunker = _Chunker(items, chunk_size)
        self._fetch_chunk = fetch_chunk
        self._concurrency = concurrency
        self._limiter = limiter
        self._ready: deque[R] = deque()
        self._finished = False

    def __aiter__(self) -> BatchRounds[T, R]:
        return self

    async def __anext__(self) -> R:
        if not self._ready and not self._finished:
            await self._run_round()
        if not self._ready:
            raise StopAsyncIteration
        return self._ready.popleft()

    async def _run_round(self) -> None:
        """Run one round to its end, keeping its results."""
        # Pessimistic: a round that raises or is cancelled ends the iteration.
        self._finished = True
        round_chunks = ROUND_CHUNKS_PER_SLOT * self._concurrency
        limiter = self._limiter or anyio.Semaphore(self._concurrency)
        async with _open(
            self._chunker, self._fetch_chunk, limiter, self._concurrency, round_chunks
        ) as results:
            async for _, result in results:
                self._ready.append(result)
        self._finished = self._chunker.exhausted
