"""
The portfolio report: what a poll found, counted.

Pure: no I/O and no clock. "Now" is always given, so a report over the same
records is the same report, and tests fix the date the way the sandbox fixes
its portfolio's.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

import attrs

from .._exceptions import MioesimError
from .._fanout import is_account_wide
from .._models import CardStatus, CardUsage

__all__ = [
    "MISSING_REASON",
    "NEARLY_USED_UP",
    "PortfolioReport",
    "ReportTally",
    "Thresholds",
    "failure_reason",
    "is_expired",
    "is_expiring",
    "is_low_data",
    "is_nearly_used_up",
    "portfolio_report",
]

#: Share of a plan's data above which a card is "nearly used up".
NEARLY_USED_UP = 0.9
#: The reason given for an ICCID the server answered for without a record.
MISSING_REASON = "no record in the answer (unknown to the account?)"


@attrs.frozen
class Thresholds:
    """
    When a card deserves attention.

    Attributes:
        now: The moment plans are compared with (timezone-aware).
        expiring_days: A plan ending within this many days from *now* is
            "expiring".
        low_data_mb: A running plan with less than this many MB left has
            "low data".
    """

    now: datetime
    expiring_days: float = 3
    low_data_mb: float = 100.0


def is_expired(card: CardUsage, now: datetime) -> bool:
    """Whether the card's plan ended before *now*."""
    return card.end_date is not None and card.end_date < now


def is_expiring(card: CardUsage, thresholds: Thresholds) -> bool:
    """Whether the card's plan ends from now to *expiring_days* from now."""
    if card.end_date is None:
        return False
    horizon = thresholds.now + timedelta(days=thresholds.expiring_days)
    return thresholds.now <= card.end_date < horizon


def is_low_data(card: CardUsage, thresholds: Thresholds) -> bool:
    """Whether a plan not yet ended has less than *low_data_mb* left."""
    if card.remain_mb is None or is_expired(card, thresholds.now):
        return False
    return card.remain_mb < thresholds.low_data_mb


def is_nearly_used_up(card: CardUsage, now: datetime) -> bool:
    """Whether a plan not yet ended has used more than 90% of its data."""
    if not card.total_mb or card.used_mb is None or is_expired(card, now):
        return False
    return card.used_mb / card.total_mb > NEARLY_USED_UP


def failure_reason(error: MioesimError) -> str:
    """How a failed ICCID's error is shown: its kind and its message."""
    return f"{type(error).__name__}: {error}"


@attrs.frozen
class PortfolioReport:
    """
    The counts of a poll over distinct ICCIDs.

    Every ICCID is counted once in ``by_status`` (answered), ``failed`` or
    ``missing``, so those add up to ``total``. The alert counts (``expired``,
    ``expiring``, ``nearly_used_up``, ``low_data``) count answered cards.
    ``stopped_by`` is the failure of the whole account (bad credentials, a
    wrong signature) that stopped the poll early, if one did.
    """

    thresholds: Thresholds
    by_status: Mapping[CardStatus, int]
    failed: int
    missing: int
    expired: int
    expiring: int
    nearly_used_up: int
    low_data: int
    failures: Mapping[str, int]
    duplicates: int = 0
    elapsed: float | None = None
    stopped_by: MioesimError | None = None

    @property
    def answered(self) -> int:
        """ICCIDs that came back with a record."""
        return sum(self.by_status.values())

    @property
    def total(self) -> int:
        """Distinct ICCIDs asked."""
        return self.answered + self.failed + self.missing

    @property
    def ok(self) -> bool:
        """Whether every ICCID was answered."""
        return not self.failed and not self.missing

    @property
    def throughput(self) -> float | None:
        """ICCIDs per second, when the elapsed time is known and not zero."""
        if not self.elapsed:
            return None
        return self.total / self.elapsed


class ReportTally:
    """
    A report built one ICCID at a time, so a poll need not keep its records:
    feed it each outcome, then call ``report()``.
    """

    def __init__(self, thresholds: Thresholds) -> None:
        self.thresholds = thresholds
        self.stopped_by: MioesimError | None = None
        self._statuses: Counter[CardStatus] = Counter()
        self._alerts: Counter[str] = Counter()
        self._failures: Counter[str] = Counter()
        self.failed = 0
        self.missing = 0

    def add_record(self, card: CardUsage) -> None:
        """Count an answered card."""
        now = self.thresholds.now
        self._statuses[card.status] += 1
        self._alerts["expired"] += is_expired(card, now)
        self._alerts["expiring"] += is_expiring(card, self.thresholds)
        self._alerts["nearly_used_up"] += is_nearly_used_up(card, now)
        self._alerts["low_data"] += is_low_data(card, self.thresholds)

    def add_failure(self, error: MioesimError) -> None:
        """Count an ICCID whose request failed with *error*."""
        self.failed += 1
        self._failures[failure_reason(error)] += 1
        if self.stopped_by is None and is_account_wide(error):
            self.stopped_by = error

    def add_missing(self) -> None:
        """Count an ICCID answered for without a record."""
        self.missing += 1

    def report(
        self, *, duplicates: int = 0, elapsed: float | None = None
    ) -> PortfolioReport:
        """The report of everything counted so far."""
        return PortfolioReport(
            thresholds=self.thresholds,
            by_status={status: self._statuses[status] for status in CardStatus},
            failed=self.failed,
            missing=self.missing,
            expired=self._alerts["expired"],
            expiring=self._alerts["expiring"],
            nearly_used_up=self._alerts["nearly_used_up"],
            low_data=self._alerts["low_data"],
            failures=dict(self._failures.most_common()),
            duplicates=duplicates,
            elapsed=elapsed,
            stopped_by=self.stopped_by,
        )


def portfolio_report(
    records: Iterable[CardUsage],
    failed: Mapping[str, MioesimError],
    missing: Iterable[str],
    thresholds: Thresholds,
    *,
    duplicates: int = 0,
    elapsed: float | None = None,
) -> PortfolioReport:
    """
    The report of a poll's outcome (a ``BatchResult``'s ``records``,
    ``failed`` and ``missing``), judged against *thresholds*.
    """
    tally = ReportTally(thresholds)
    for card in records:
        tally.add_record(card)
    for error in failed.values():
        tally.add_failure(error)
    for _ in missing:
        tally.add_missing()
    return tally.report(duplicates=duplicates, elapsed=elapsed)
