"""
Reading ICCIDs from a file, one a line, every line checked before anything is
sent.

Errors name the line number people see in their editor (1-based, comments
and blank lines counted), not a position in the list of ICCIDs.
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs

from .._exceptions import InvalidICCIDError
from .._iccid import normalize_iccid

__all__ = ["BadLine", "BadLinesError", "IccidList", "read_iccids"]


@attrs.frozen
class BadLine:
    """A line that is not an ICCID."""

    number: int
    value: str
    reason: str


class BadLinesError(Exception):
    """Some lines are not ICCIDs; *bad* lists them in file order."""

    def __init__(self, bad: list[BadLine]) -> None:
        self.bad = bad
        super().__init__(f"{len(bad)} lines are not ICCIDs")


@attrs.frozen
class IccidList:
    """
    The ICCIDs of a file: *iccids* distinct, in the order of their first
    line; *duplicates* counts the lines that repeat an earlier ICCID.
    """

    iccids: list[str]
    duplicates: int


def _content(line: str) -> str:
    """The line without its comment and surrounding blanks."""
    return line.split("#", 1)[0].strip()


def read_iccids(lines: Iterable[str]) -> IccidList:
    """
    The ICCIDs of *lines*, skipping blank lines and ``#`` comments (a whole
    line, or the end of one).

    Raises:
        BadLinesError: Every line that is not a valid ICCID.
    """
    distinct: dict[str, None] = {}
    bad: list[BadLine] = []
    repeated = 0
    for number, line in enumerate(lines, start=1):
        text = _content(line.lstrip("\ufeff") if number == 1 else line)
        if not text:
            continue
        try:
            iccid = normalize_iccid(text, number - 1)
        except InvalidICCIDError as exc:
            bad.append(BadLine(number, text, exc.reason))
            continue
        repeated += iccid in distinct
        distinct[iccid] = None
    if bad:
        raise BadLinesError(bad)
    return IccidList(list(distinct), repeated)
