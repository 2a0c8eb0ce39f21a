"""
When a failed read is tried again, after how long, and until when.

The transport decides *whether* a failure is transient (connect and read
failures, timeouts, HTTP 429 and 5xx, on reads only); ``RetryPolicy`` decides
how many tries there are and how long to wait between them: exponential
backoff with full jitter, or the server's ``Retry-After`` when it sent one.
``RetryQuota`` keeps a whole client from multiplying its traffic during an
outage, and ``deadline`` bounds a call, or a fan-out, in total.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from contextvars import ContextVar
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

import anyio
import attrs

__all__ = [
    "RetryPolicy",
    "RetryQuota",
    "deadline",
    "expires_after",
    "parse_retry_after",
    "remaining",
    "sleep",
    "until",
]

#: What waits between attempts; tests replace it to run without real time.
sleep = anyio.sleep


def _positive(
    instance: object, attribute: attrs.Attribute[float], value: float
) -> None:
    if value <= 0:
        raise ValueError(f"RetryPolicy.{attribute.name} must be > 0, got {value!r}")


def _at_least_one(
    instance: object, attribute: attrs.Attribute[int], value: int
) -> None:
    if value < 1:
        raise ValueError(f"RetryPolicy.{attribute.name} must be >= 1, got {value!r}")


@attrs.frozen
class RetryPolicy:
    """
    How reads are retried.

    Args:
        attempts: Total tries, the first included; ``1`` turns retrying off.
        initial_backoff: The ceiling of the first wait, in seconds. Each retry
            doubles it, up to *max_backoff*; the wait is drawn uniformly
            between 0 and that ceiling ("full jitter"), so many clients that
            failed together do not retry together.
        max_backoff: The largest ceiling, in seconds.
        max_retry_after: The longest ``Retry-After`` honoured, in seconds. A
            server that asks for a longer wait gets no retry: the call raises
            ``RateLimitedError`` with the ``retry_after`` it asked for.
        budget: Retry tokens shared by the whole client. A retry costs
            *retry_cost* tokens (*timeout_retry_cost* after a timeout or a
            dropped connection); a success returns what its retries cost, or
            one token when it needed none. An empty budget means fail fast:
            during an outage a client sends little more than one request per
            call. ``0`` turns retrying off.
    """

    attempts: int = attrs.field(default=3, validator=_at_least_one)
    initial_backoff: float = attrs.field(default=0.2, validator=_positive)
    max_backoff: float = attrs.field(default=5.0, validator=_positive)
    max_retry_after: float = attrs.field(default=60.0, validator=_positive)
    budget: int = attrs.field(default=500, validator=attrs.validators.ge(0))
    retry_cost: int = attrs.field(default=5, validator=_at_least_one)
    timeout_retry_cost: int = attrs.field(default=10, validator=_at_least_one)

    def backoff(self, retry: int) -> float:
        """The jittered wait before retry number *retry* (1 for the first)."""
        ceiling = min(self.max_backoff, self.initial_backoff * 2 ** (retry - 1))
        return random.uniform(0, ceiling)  # noqa: S311 - jitter, not secrets

    def wait(self, retry: int, retry_after: float | None) -> float | None:
        """
        How long to wait before retry number *retry*, or ``None`` when the
        server's *retry_after* is longer than this policy will wait.
        """
        if retry_after is None:
            return self.backoff(retry)
        return retry_after if retry_after <= self.max_retry_after else None


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """
    A ``Retry-After`` header in seconds: either delay-seconds or an HTTP date.
    ``None`` when absent or unreadable.
    """
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    now = now or datetime.now(timezone.utc)
    return max(0.0, (when - now).total_seconds())


@attrs.define
class RetryQuota:
    """
    The retry budget of one client: a token bucket that retries draw from and
    successes refill (botocore's "standard" retry mode).
    """

    capacity: int
    retry_cost: int
    timeout_retry_cost: int
    available: int = attrs.field()

    @available.default
    def _full(self) -> int:
        return self.capacity

    @classmethod
    def of(cls, policy: RetryPolicy) -> RetryQuota:
        """The quota *policy* describes, full."""
        return cls(policy.budget, policy.retry_cost, policy.timeout_retry_cost)

    def acquire(self, *, after_timeout: bool) -> int | None:
        """The tokens one retry takes, or ``None`` when too few are left."""
        cost = self.timeout_retry_cost if after_timeout else self.retry_cost
        if cost > self.available:
            return None
        self.available -= cost
        return cost

    def refill(self, spent: int) -> None:
        """A call succeeded after retries costing *spent* (0: one token back)."""
        self.available = min(self.capacity, self.available + (spent or 1))


# The monotonic time by which the current call or fan-out must end.
_expires_at: ContextVar[float | None] = ContextVar("mioesim_deadline", default=None)


@contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """
    Bound every call made inside the block, retries and waits included, to
    *seconds* from now in total::

        with mioesim_async.deadline(5.0):
            balance = await client.get_balance()

    A call that runs out of time raises ``DeadlineExceededError``; a fan-out
    reports the ICCIDs it did not get to as failed with that error. Nested
    deadlines keep the earlier one.
    """
    with until(expires_after(seconds)):
        yield


def expires_after(seconds: float) -> float:
    """The monotonic time *seconds* from now; refuses what is not a deadline."""
    if not seconds > 0 or math.isinf(seconds):  # refuses NaN too
        raise ValueError(f"a deadline must be a finite number > 0, got {seconds!r}")
    return time.monotonic() + seconds


def until(expires_at: float | None) -> AbstractContextManager[None]:
    """Bound the calls inside the block to end by the monotonic *expires_at*
    (``None``: no new bound), keeping any earlier deadline."""
    if expires_at is None:  # every call of a fan-out without a deadline
        return _NO_NEW_BOUND
    return _bound(expires_at)


_NO_NEW_BOUND = nullcontext()


@contextmanager
def _bound(expires_at: float) -> Iterator[None]:
    outer = _expires_at.get()
    if outer is not None and outer <= expires_at:
        yield
        return
    token = _expires_at.set(expires_at)
    try:
        yield
    finally:
        _expires_at.reset(token)


def remaining() -> float | None:
    """Seconds left before the current deadline, or ``None`` without one."""
    expires_at = _expires_at.get()
    return None if expires_at is None else expires_at - time.monotonic()
