"""The command line's pure parts: the report, the rows, reading ICCID files."""

from __future__ import annotations

import io
import json
from datetime import datetime, timedelta

import pytest
from rich.console import Console

from mioesim_async import (
    AuthenticationError,
    CardStatus,
    CardUsage,
    NotFoundError,
    RateLimitedError,
)
from mioesim_async._models import GMT8
from mioesim_async.cli._input import BadLinesError, read_iccids
from mioesim_async.cli._output import (
    COLUMNS,
    failed_row,
    missing_row,
    open_writer,
    record_row,
)
from mioesim_async.cli._report import Thresholds, portfolio_report
from mioesim_async.cli._tables import report_view

NOW = datetime(2025, 3, 10, 12, 0, tzinfo=GMT8)
LIMITS = Thresholds(now=NOW, expiring_days=3, low_data_mb=100)


def card(
    number: int,
    status: CardStatus = CardStatus.ACTIVE,
    *,
    ends_in: timedelta | None = timedelta(days=10),
    used: float = 100.0,
    total: float = 1000.0,
) -> CardUsage:
    end = None if ends_in is None else NOW + ends_in
    return CardUsage(
        iccid=f"89860000000000{number:05d}",
        status=status,
        used_mb=used,
        total_mb=total,
        remain_mb=total - used,
        start_date=None if end is None else end - timedelta(days=30),
        end_date=end,
    )


PORTFOLIO = [
    card(1),  # running, nothing to flag
    card(2, ends_in=timedelta(days=1)),  # expiring
    card(3, ends_in=timedelta(days=3)),  # exactly 3 days away: not expiring
    card(4, ends_in=timedelta(0)),  # ends now: expiring, not yet expired
    card(5, used=950),  # above 90%, 50 MB left
    card(6, used=900),  # exactly 90%: not above; 100 MB left: not under 100
    card(7, CardStatus.DISABLE, ends_in=-timedelta(days=2), used=1000),  # expired
    card(8, CardStatus.DELETE, ends_in=-timedelta(days=90), used=990),  # expired
    card(9, CardStatus.ENABLE, ends_in=None, used=0),  # not started
    card(10, CardStatus.UNKNOWN),
]


def test_report_counts_every_iccid_once() -> None:
    failed = {
        "1": NotFoundError(-8, "query failed", endpoint="queryIccidInformation"),
        "2": NotFoundError(-8, "query failed", endpoint="queryIccidInformation"),
        "3": RateLimitedError("HTTP 429"),
    }
    report = portfolio_report(PORTFOLIO, failed, ["4", "5"], LIMITS, elapsed=2.0)

    assert dict(report.by_status) == {
        CardStatus.ACTIVE: 6,
        CardStatus.ENABLE: 1,
        CardStatus.DISABLE: 1,
        CardStatus.DELETE: 1,
        CardStatus.UNKNOWN: 1,
    }
    assert (report.answered, report.failed, report.missing) == (10, 3, 2)
    assert report.total == 15
    assert report.throughput == 7.5
    assert not report.ok
    assert report.failures == {
        "NotFoundError: queryIccidInformation: query failed (code -8)": 2,
        "RateLimitedError: HTTP 429": 1,
    }


def test_a_failure_of_the_whole_account_is_kept_as_the_stop() -> None:
    refused = AuthenticationError(-1, "token expired", endpoint="queryIccidInformation")
    chunk_only = NotFoundError(-8, "query failed")
    report = portfolio_report([], {"1": chunk_only, "2": refused}, [], LIMITS)
    assert report.stopped_by is refused
    assert portfolio_report([], {"1": chunk_only}, [], LIMITS).stopped_by is None


def test_report_alerts_against_a_fixed_now() -> None:
    report = portfolio_report(PORTFOLIO, {}, [], LIMITS)

    assert report.expired == 2  # cards 7 and 8
    assert report.expiring == 2  # cards 2 and 4
    assert report.nearly_used_up == 1  # card 5; the expired 7 and 8 do not count
    assert report.low_data == 1  # card 5 again
    assert report.ok
    assert report.throughput is None


def test_thresholds_move_the_alerts() -> None:
    wider = Thresholds(now=NOW, expiring_days=11, low_data_mb=101)
    report = portfolio_report(PORTFOLIO, {}, [], wider)

    assert report.expiring == 7  # every dated plan not yet ended
    assert report.low_data == 2  # 50 and 100 MB left


def test_the_rendered_report_names_every_status_and_adds_up() -> None:
    report = portfolio_report(PORTFOLIO, {}, ["x"], LIMITS, elapsed=0.5)
    console = Console(file=io.StringIO(), width=80)
    console.print(report_view(report))
    text = console.file.getvalue()  # type: ignore[attr-defined]

    assert "Portfolio report: 11 cards" in text
    counts = {}
    for line in text.splitlines():
        words = line.split()
        if words and words[0] in {*CardStatus.__members__, "failed", "missing"}:
            counts[words[0]] = int(words[1].replace(",", ""))
    assert set(counts) == {*CardStatus.__members__, "failed", "missing"}
    assert sum(counts.values()) == 11
    assert "Plans ending in the next 3 days" in text
    assert "22 ICCIDs per second" in text


def test_rows_of_each_outcome_carry_every_column() -> None:
    ok = record_row(PORTFOLIO[4], LIMITS)
    failed = failed_row("1", NotFoundError(-8, "query failed"))
    missing = missing_row("2")

    assert (ok.outcome, ok.status, ok.low_data, ok.expiring, ok.expired) == (
        "ok", "ACTIVE", True, False, False,
    )  # fmt: skip
    assert ok.error is None
    assert (failed.outcome, failed.error) == (
        "failed", "NotFoundError: query failed (code -8)",
    )  # fmt: skip
    assert missing.outcome == "missing"
    assert missing.status is None
    assert missing.error
    assert all(tuple(row.as_dict()) == COLUMNS for row in (ok, failed, missing))


@pytest.mark.parametrize("kind", ["csv", "jsonl"])
def test_writers_keep_the_columns_and_the_order(kind: str) -> None:
    stream = io.StringIO()
    writer = open_writer(kind, stream)
    for row in (record_row(PORTFOLIO[0], LIMITS), missing_row("2")):
        writer.write(row)
    writer.close()
    lines = stream.getvalue().splitlines()

    if kind == "csv":
        assert lines[0] == ",".join(COLUMNS)
        assert lines[1].startswith(f"{PORTFOLIO[0].iccid},ok,ACTIVE,100.0,")
        assert lines[2].startswith("2,missing,,")
    else:
        first, second = (json.loads(line) for line in lines)
        assert tuple(first) == COLUMNS
        assert first["end_date"] == "2025-03-20T12:00:00+08:00"
        assert (first["low_data"], second["status"]) == (False, None)


def test_csv_with_no_rows_is_just_the_header() -> None:
    stream = io.StringIO()
    open_writer("csv", stream).close()
    assert stream.getvalue() == ",".join(COLUMNS) + "\n"


def test_reading_skips_comments_and_blanks_and_asks_repeats_once() -> None:
    lines = [
        "\ufeff# the January batch\n",
        "8986000000000000001\n",
        "\n",
        "  8986000000000000002  # Anna's phone\r\n",
        "8986000000000000001\n",
        "8986000000000000003F\n",
    ]
    found = read_iccids(lines)
    assert found.iccids == [
        "8986000000000000001",
        "8986000000000000002",
        "8986000000000000003F",
    ]
    assert found.duplicates == 1


def test_reading_names_every_bad_line_by_its_number() -> None:
    lines = ["# header", "8986000000000000001", "12345", "", "8986x00000000000002"]
    with pytest.raises(BadLinesError) as caught:
        read_iccids(lines)
    assert [(bad.number, bad.value) for bad in caught.value.bad] == [
        (3, "12345"),
        (5, "8986x00000000000002"),
    ]
