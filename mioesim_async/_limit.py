"""
How fast requests go out.

``AdaptiveLimiter``: how many chunks of a fan-out may be in flight, a limit
that halves when the server answers 429 and grows back slowly as answers
succeed (additive increase, multiplicative decrease, as TCP does), never above
what was asked. ``Pacer``: an optional cap on requests per second.
"""

from __future__ import annotations

import time

import anyio

from . import _retry

__all__ = ["AdaptiveLimiter", "Pacer"]


class AdaptiveLimiter:
    """
    A semaphore whose size adapts to rate limiting.

    Each request notes the limiter's *generation* when it is sent; a 429
    halves the limit only if no other 429 has halved it since, so a burst of
    429s from requests that were all in flight together counts once.
    """

    def __init__(self, limit: int) -> None:
        self.max = limit
        self._limit = float(limit)
        self._in_flight = 0
        self.generation = 0
        self._released: anyio.Event | None = None  # made when first awaited

    def __repr__(self) -> str:
        return (
            f"<AdaptiveLimiter {self.current}/{self.max}, {self._in_flight} in flight>"
        )

    @property
    def in_flight(self) -> int:
        """The slots taken now."""
        return self._in_flight

    @property
    def current(self) -> int:
        """The number of slots now."""
        return max(1, int(self._limit))

    async def acquire(self) -> None:
        """Take a slot, waiting while every slot is taken."""
        while self._in_flight >= self.current:
            if self._released is None:
                self._released = anyio.Event()
            await self._released.wait()
        self._in_flight += 1

    def release(self) -> None:
        """Give a slot back."""
        self._in_flight -= 1
        if self._released is not None:
            self._released.set()
            self._released = None

    def on_rate_limited(self, generation: int) -> None:
        """A request sent at *generation* was answered 429: halve the limit."""
        if generation == self.generation:
            self._limit = max(1.0, self._limit / 2)
            self.generation += 1

    def on_success(self) -> None:
        """A request succeeded: grow by one slot per limit's worth of them."""
        self._limit = min(float(self.max), self._limit + 1 / self._limit)


class Pacer:
    """Spaces requests out to at most *per_second* of them, evenly."""

    def __init__(self, per_second: float) -> None:
        if not per_second > 0:
            raise ValueError(f"max_per_second must be > 0, got {per_second!r}")
        self._interval = 1 / per_second
        self._next = 0.0

    async def wait(self) -> None:
        """Wait for this request's turn; turns are handed out in call order."""
        now = time.monotonic()
        turn = max(now, self._next)
        self._next = turn + self._interval
        if turn > now:
            await _retry.sleep(turn - now)
