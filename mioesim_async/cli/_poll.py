"""
Polling a list of ICCIDs with a live progress bar, writing one row per ICCID
in input order as soon as every earlier one has settled, and counting the
report on the way, so no record is kept longer than its row.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text

from .._client import Client
from .._results import ChunkResult
from ._output import Row, RowWriter, failed_row, missing_row, record_row
from ._report import PortfolioReport, ReportTally, Thresholds

__all__ = ["poll"]


class _RateColumn(ProgressColumn):
    """ICCIDs per second since the start: steadier than rich's recent speed."""

    def render(self, task: Task) -> Text:
        elapsed = task.finished_time or task.elapsed
        if not elapsed:
            return Text("- ICCIDs/s")
        return Text(f"{task.completed / elapsed:,.0f} ICCIDs/s")


class _Bar:
    """The progress bar of one poll: ICCIDs settled, rate, failures."""

    def __init__(self, progress: Progress | None, task: TaskID | None) -> None:
        self._progress = progress
        self._task = task

    def advance(self, settled: int, failures: int) -> None:
        """Count *settled* more ICCIDs; *failures* so far, failed or missing."""
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, advance=settled, failures=failures)


@contextmanager
def _progress_bar(console: Console | None, total: int) -> Iterator[_Bar]:
    """A bar on *console*, or none when *console* is ``None``."""
    if console is None:
        yield _Bar(None, None)
        return
    progress = Progress(
        TextColumn("Polling"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("ICCIDs"),
        _RateColumn(),
        TextColumn("failures: {task.fields[failures]:,}"),
        TimeElapsedColumn(),
        console=console,
    )
    with progress:
        yield _Bar(progress, progress.add_task("poll", total=total, failures=0))


class _InputOrder:
    """Hands rows to *writer* in the order of *iccids*, whatever order they come in."""

    def __init__(self, iccids: list[str], writer: RowWriter | None) -> None:
        self._iccids = iccids
        self._writer = writer
        self._waiting: dict[str, Row] = {}
        self._next = 0

    def settle(self, row: Row) -> None:
        """Take *row*, and write every row now due."""
        if self._writer is None:
            return
        self._waiting[row.iccid] = row
        while self._next < len(self._iccids):
            due = self._waiting.pop(self._iccids[self._next], None)
            if due is None:
                return
            self._writer.write(due)
            self._next += 1


def _chunk_rows(
    chunk: ChunkResult, thresholds: Thresholds, tally: ReportTally
) -> Iterator[Row]:
    """The rows of one settled chunk, each counted in *tally*."""
    if chunk.error is not None:
        for iccid in chunk.iccids:
            tally.add_failure(chunk.error)
            yield failed_row(iccid, chunk.error)
        return
    for card in chunk.records:
        tally.add_record(card)
        yield record_row(card, thresholds)
    for iccid in chunk.missing:
        tally.add_missing()
        yield missing_row(iccid)


async def poll(
    client: Client,
    iccids: list[str],
    thresholds: Thresholds,
    *,
    concurrency: int,
    writer: RowWriter | None = None,
    progress: Console | None = None,
    duplicates: int = 0,
) -> PortfolioReport:
    """
    Poll the distinct, valid *iccids*; write each one's row to *writer* in
    input order; show a progress bar on *progress*; return the report.
    """
    tally = ReportTally(thresholds)
    rows = _InputOrder(iccids, writer)
    started = time.perf_counter()
    with _progress_bar(progress, len(iccids)) as bar:
        async with client.stream_iccids(iccids, concurrency=concurrency) as chunks:
            async for chunk in chunks:
                for row in _chunk_rows(chunk, thresholds, tally):
                    rows.settle(row)
                bar.advance(len(chunk.iccids), tally.failed + tally.missing)
    elapsed = time.perf_counter() - started
    return tally.report(duplicates=duplicates, elapsed=elapsed)
