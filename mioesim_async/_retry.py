"""
When a failed read is tried again, and after how long.

The transport decides *whether* a failure is transient (connect and read
failures, timeouts, HTTP 429 and 5xx, on reads only); ``RetryPolicy`` decides
how many tries there are and how long to wait between them: exponential
backoff with full jitter, or the server's ``Retry-After`` when it sent one.
"""

from __future__ import annotations

import random
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

import anyio
import attrs

__all__ = ["RetryPolicy", "parse_retry_after", "sleep"]

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
    """

    attempts: int = attrs.field(default=3, validator=_at_least_one)
    initial_backoff: float = attrs.field(default=0.2, validator=_positive)
    max_backoff: float = attrs.field(default=5.0, validator=_positive)
    max_retry_after: float = attrs.field(default=60.0, validator=_positive)

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
