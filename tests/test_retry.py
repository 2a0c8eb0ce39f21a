from __future__ import annotations

from datetime import datetime, timezone

import pytest

from mioesim_async._retry import RetryPolicy, parse_retry_after


class TestRetryPolicy:
    def test_defaults(self):
        """Three tries, backoff from 0.2 s."""
        policy = RetryPolicy()
        assert policy.attempts == 3
        assert policy.initial_backoff == 0.2

    @pytest.mark.parametrize(
        ("retry", "ceiling"), [(1, 0.2), (2, 0.4), (3, 0.8), (10, 5.0)]
    )
    def test_backoff_is_jittered_below_a_doubling_ceiling(self, retry, ceiling):
        """Full jitter: uniform between 0 and min(cap, initial * 2**n)."""
        waits = [RetryPolicy().backoff(retry) for _ in range(200)]
        assert all(0 <= wait <= ceiling for wait in waits)
        assert max(waits) > ceiling / 2  # spread over the range, not stuck at 0

    def test_retry_after_is_honoured(self):
        """The server's Retry-After replaces the backoff."""
        assert RetryPolicy().wait(1, 7.5) == 7.5

    def test_retry_after_beyond_the_cap_means_no_retry(self):
        """A server asking for longer than max_retry_after gets no retry."""
        assert RetryPolicy(max_retry_after=10).wait(1, 11) is None

    @pytest.mark.parametrize(
        "kwargs",
        [
            {"attempts": 0},
            {"initial_backoff": 0},
            {"max_backoff": -1},
            {"max_retry_after": 0},
        ],
    )
    def test_rejects_nonsense(self, kwargs):
        """Settings that cannot work fail at construction, naming the field."""
        with pytest.raises(ValueError, match=next(iter(kwargs))):
            RetryPolicy(**kwargs)


class TestParseRetryAfter:
    def test_seconds(self):
        assert parse_retry_after("3") == 3.0
        assert parse_retry_after(" 1.5 ") == 1.5

    def test_http_date(self):
        """An HTTP date counts from now."""
        now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=timezone.utc)
        assert parse_retry_after("Thu, 01 Jan 2026 12:00:30 GMT", now) == 30.0

    @pytest.mark.parametrize("value", [None, "", "soon"])
    def test_absent_or_unreadable(self, value):
        assert parse_retry_after(value) is None

    def test_never_negative(self):
        assert parse_retry_after("-5") == 0.0
