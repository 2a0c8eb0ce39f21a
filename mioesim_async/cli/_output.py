"""
One row per polled ICCID, and the writers that put rows in CSV, JSON Lines or
a table.

The columns are a stable, documented interface (scripts read them), so they
are listed once here, in order, and every format uses the same names.
"""

from __future__ import annotations

import csv
import enum
import json
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import IO, Any, Protocol

import attrs
from rich.console import Console
from rich.table import Table

from .._exceptions import MioesimError
from .._models import CardUsage
from ._report import (
    MISSING_REASON,
    Thresholds,
    failure_reason,
    is_expired,
    is_expiring,
    is_low_data,
)

__all__ = [
    "COLUMNS",
    "FORMATS",
    "Row",
    "RowList",
    "RowWriter",
    "failed_row",
    "missing_row",
    "open_writer",
    "record_row",
    "to_json",
]

FORMATS = ("csv", "jsonl", "table")


@attrs.frozen
class Row:
    """
    What became of one ICCID: ``outcome`` is ``ok`` (answered; the card's
    fields are filled), ``failed`` or ``missing`` (``error`` says why; the
    card's fields are empty).
    """

    iccid: str
    outcome: str
    status: str | None = None
    used_mb: float | None = None
    total_mb: float | None = None
    remain_mb: float | None = None
    start_date: datetime | None = None
    end_date: datetime | None = None
    sku_id: int | None = None
    price_id: int | None = None
    display: str | None = None
    low_data: bool | None = None
    expiring: bool | None = None
    expired: bool | None = None
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The row's values by column name, dates as ISO 8601 text."""
        values = attrs.asdict(self)
        for key in ("start_date", "end_date"):
            if values[key] is not None:
                values[key] = values[key].isoformat()
        return values


#: The columns of ``poll``'s CSV and the keys of its JSON Lines, in order.
COLUMNS = tuple(field.name for field in attrs.fields(Row))


def record_row(card: CardUsage, thresholds: Thresholds) -> Row:
    """The row of an answered card, with its alerts judged by *thresholds*."""
    return Row(
        iccid=card.iccid,
        outcome="ok",
        status=card.status.name,
        used_mb=card.used_mb,
        total_mb=card.total_mb,
        remain_mb=card.remain_mb,
        start_date=card.start_date,
        end_date=card.end_date,
        sku_id=card.sku_id,
        price_id=card.price_id,
        display=card.display,
        low_data=is_low_data(card, thresholds),
        expiring=is_expiring(card, thresholds),
        expired=is_expired(card, thresholds.now),
    )


def failed_row(iccid: str, error: MioesimError) -> Row:
    """The row of an ICCID whose request failed."""
    return Row(iccid=iccid, outcome="failed", error=failure_reason(error))


def missing_row(iccid: str) -> Row:
    """The row of an ICCID the server answered for without a record."""
    return Row(iccid=iccid, outcome="missing", error=MISSING_REASON)


class RowWriter(Protocol):
    """Somewhere rows go, in the order they are written."""

    def write(self, row: Row) -> None:
        """Write one row."""

    def close(self) -> None:
        """Finish the output (a table is only drawn then)."""


class RowList:
    """Rows kept in a list, for commands that print them once all are in."""

    def __init__(self) -> None:
        self.rows: list[Row] = []

    def write(self, row: Row) -> None:
        """Keep *row*."""
        self.rows.append(row)

    def close(self) -> None:
        """Nothing to finish."""

    def copy_to(self, writer: RowWriter) -> None:
        """Write every row kept to *writer*, and close it."""
        for row in self.rows:
            writer.write(row)
        writer.close()


class _CsvWriter:
    """
    Rows as CSV with a header; empty cells for absent values. The header waits
    for the first row (or the close), so a poll that fails before any row
    leaves its output empty.
    """

    def __init__(self, stream: IO[str]) -> None:
        self._writer = csv.writer(stream, lineterminator="\n")
        self._started = False

    def _start(self) -> None:
        if not self._started:
            self._writer.writerow(COLUMNS)
            self._started = True

    def write(self, row: Row) -> None:
        self._start()
        self._writer.writerow(_csv_cell(v) for v in row.as_dict().values())

    def close(self) -> None:
        self._start()


def _csv_cell(value: object) -> object:
    """Booleans as ``true``/``false`` (as in the JSON), ``None`` as empty."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else value


class _JsonLinesWriter:
    """One JSON object a line, with every column as a key (``null`` if absent)."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream

    def write(self, row: Row) -> None:
        self._stream.write(json.dumps(row.as_dict(), ensure_ascii=False) + "\n")

    def close(self) -> None:
        """Nothing to finish: every row is already written."""


class _TableWriter:
    """Rows gathered, then drawn as one table for people to read."""

    _HEADERS = ("ICCID", "outcome", "status", "used MB", "total MB", "left MB",
                "ends", "plan", "alerts", "error")  # fmt: skip

    def __init__(self, console: Console) -> None:
        self._console = console
        self._table = Table(*self._HEADERS, box=None, header_style="bold")

    def write(self, row: Row) -> None:
        self._table.add_row(
            row.iccid,
            row.outcome,
            row.status or "",
            _mb(row.used_mb),
            _mb(row.total_mb),
            _mb(row.remain_mb),
            short_date(row.end_date),
            row.display or "",
            _alerts(row),
            row.error or "",
        )

    def close(self) -> None:
        self._console.print(self._table)


def _mb(value: float | None) -> str:
    return "" if value is None else f"{value:,.2f}"


def short_date(value: datetime | None) -> str:
    """A date and minute for tables; the zone is the API's (GMT+8)."""
    return "" if value is None else f"{value:%Y-%m-%d %H:%M}"


def _alerts(row: Row) -> str:
    flags = {"low data": row.low_data, "expiring": row.expiring}
    flags["expired"] = row.expired
    return ", ".join(name for name, on in flags.items() if on)


def table_console(stream: IO[str]) -> Console:
    """
    A console for tables on *stream*: as wide as the terminal, or wide enough
    not to wrap ICCIDs when the output is a file or a pipe.
    """
    width = None if stream.isatty() else 200
    return Console(file=stream, width=width)


def open_writer(kind: str, stream: IO[str]) -> RowWriter:
    """The writer of format *kind* (``csv``, ``jsonl`` or ``table``)."""
    makers: dict[str, Callable[[IO[str]], RowWriter]] = {
        "csv": _CsvWriter,
        "jsonl": _JsonLinesWriter,
        "table": lambda s: _TableWriter(table_console(s)),
    }
    return makers[kind](stream)


def _plain(_instance: object, _attribute: object, value: Any) -> Any:
    """JSON-ready values: money as text (exact), dates in ISO 8601, enum names."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.name
    return value


def to_json(value: Any) -> Any:
    """Models (and lists of them) as JSON-ready data, without their ``raw``."""
    if isinstance(value, list):
        return [to_json(item) for item in value]
    if isinstance(value, Row):
        return value.as_dict()
    return attrs.asdict(
        value,
        filter=lambda attribute, _value: attribute.name != "raw",
        value_serializer=_plain,
    )
