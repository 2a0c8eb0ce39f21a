"""
What a fan-out over ICCIDs hands back: one ``ChunkResult`` per request, and the
``BatchResult`` that gathers them.

Kept apart from the fan-out machinery, like ``_models``: plain data, no I/O and
no concurrency, so code that only reads results need not import anyio.
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs

from ._exceptions import BatchError, MioesimError
from ._models import CardUsage

__all__ = ["BatchResult", "ChunkResult"]


@attrs.frozen(repr=False)
class ChunkResult:
    """
    The outcome of one request of a fan-out: which ICCIDs were asked and what
    came of them.

    Either the request failed, and *error* says why, with *records* and
    *missing* empty (every ICCID of *iccids* failed), or it was answered:
    *records* are the cards found, in the order of *iccids*, and *missing* the
    ICCIDs asked that got no record.
    """

    iccids: list[str]
    records: list[CardUsage] = attrs.Factory(list)
    missing: list[str] = attrs.Factory(list)
    error: MioesimError | None = None

    @property
    def ok(self) -> bool:
        """Whether every ICCID of the chunk got its record."""
        return self.error is None and not self.missing

    def __repr__(self) -> str:
        outcome = (
            f"error={self.error!r}"
            if self.error is not None
            else f"records={len(self.records)}, missing={len(self.missing)}"
        )
        return f"ChunkResult(iccids={len(self.iccids)}, {outcome})"


@attrs.frozen(repr=False)
class BatchResult:
    """
    The outcome of a fan-out over many ICCIDs.

    Every distinct ICCID of the input is in exactly one of *records* (by its
    ``iccid``), *failed* or *missing*.

    Attributes:
        records: the cards found, one per ICCID, in input order.
        failed: each ICCID whose request failed, mapped to the error.
        missing: the ICCIDs that were answered for without a record, in input
            order.
        duplicates: the ICCIDs repeated in the input, each listed once in the
            order of its first repeat; they were asked once.
    """

    records: list[CardUsage] = attrs.Factory(list)
    failed: dict[str, MioesimError] = attrs.Factory(dict)
    missing: list[str] = attrs.Factory(list)
    duplicates: list[str] = attrs.Factory(list)

    @classmethod
    def from_chunks(
        cls, chunks: Iterable[ChunkResult], duplicates: Iterable[str] = ()
    ) -> BatchResult:
        """Gather *chunks*, taken in input order, into one result."""
        result = cls(duplicates=list(duplicates))
        for chunk in chunks:
            result.records.extend(chunk.records)
            result.missing.extend(chunk.missing)
            if chunk.error is not None:
                result.failed.update(dict.fromkeys(chunk.iccids, chunk.error))
        return result

    @property
    def ok(self) -> bool:
        """Whether nothing failed and nothing is missing."""
        return not self.failed and not self.missing

    def raise_for_errors(self) -> BatchResult:
        """
        Raise ``BatchError`` listing every failed and missing ICCID, if any.

        Returns:
            This result, when it is ``ok``, so calls can be chained.

        Raises:
            BatchError: some ICCIDs failed or are missing.
        """
        if not self.ok:
            raise BatchError(self.failed, self.missing)
        return self

    def __repr__(self) -> str:
        return (
            f"BatchResult(records={len(self.records)}, failed={len(self.failed)}, "
            f"missing={len(self.missing)}, duplicates={len(self.duplicates)})"
        )
