"""
ICCID normalising and validation (CONTRACT section 7).

An ICCID is accepted when, after stripping surrounding whitespace, it is 10 to
22 digits with an optional trailing upper-case ``F``: the API's own examples are
16 and 18 digits and do not all pass the Luhn check, so Luhn is opt-in.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from ._exceptions import InvalidICCIDError

__all__ = ["luhn_valid", "normalize_iccid", "normalize_iccids"]

_ICCID = re.compile(r"[0-9]{10,22}F?")


def luhn_valid(digits: str) -> bool:
    """Whether *digits* end in a correct ITU-T E.118 (Luhn) check digit."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def normalize_iccid(value: object, position: int = 0, *, strict: bool = False) -> str:
    """
    *value* stripped of surrounding whitespace, or ``InvalidICCIDError`` naming
    it and its *position*. *strict* adds the Luhn check.
    """
    if not isinstance(value, str):
        raise InvalidICCIDError(
            value, position, f"expected a string, got {type(value).__name__}"
        )
    iccid = value.strip()
    if not _ICCID.fullmatch(iccid):
        raise InvalidICCIDError(value, position)
    if strict and not luhn_valid(iccid.removesuffix("F")):
        raise InvalidICCIDError(value, position, "the Luhn check digit is wrong")
    return iccid


# Many ICCIDs, one a line: lets a whole list be checked by one C-level match.
_ICCID_LINES = re.compile(r"(?:[0-9]{10,22}F?\n)*[0-9]{10,22}F?")


def normalize_iccids(values: Iterable[object], *, strict: bool = False) -> list[str]:
    """Every ICCID of *values* normalised, in order, duplicates kept."""
    if type(values) is list and not strict and _all_clean(values):
        return list(values)  # the common case, checked a hundred times faster
    return list(iter_normalized(values, strict=strict))


def _all_clean(values: list[object]) -> bool:
    """Whether every value is already a valid, stripped ICCID string."""
    if not values or not all(type(value) is str for value in values):
        return False
    joined = "\n".join(values)  # type: ignore[arg-type]  # all str, checked
    # A value holding a line break would pass as two ICCIDs: count them.
    return joined.count("\n") == len(values) - 1 and bool(
        _ICCID_LINES.fullmatch(joined)
    )


def iter_normalized(values: Iterable[object], *, strict: bool = False) -> Iterator[str]:
    """Lazily normalise *values*, raising at the first invalid one."""
    if isinstance(values, (str, bytes)):
        # A lone string would otherwise be read as its characters.
        raise InvalidICCIDError(values, 0, "expected a collection of ICCIDs, not one")
    for position, value in enumerate(values):
        yield normalize_iccid(value, position, strict=strict)
