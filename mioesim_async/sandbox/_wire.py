"""
How the sandbox writes its answers: the JSON envelope, API failures and the
date formats of CONTRACT section 4.

Each format is used where the real service was seen to use it, so a client
tested against the sandbox meets all of them.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import attrs

__all__ = [
    "ApiFailure",
    "RawJSON",
    "dumps",
    "envelope",
    "fmt_day",
    "fmt_day_gmt8",
    "fmt_millis",
    "fmt_seconds",
]

_encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


class ApiFailure(Exception):
    """An API-level refusal: HTTP 200 with ``code`` and ``message``, ``data: ""``."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(code, message)
        self.code = code
        self.message = message


@attrs.frozen
class RawJSON:
    """A payload already rendered as JSON, spliced into the envelope as is."""

    body: bytes


def dumps(value: Any) -> bytes:
    """*value* as compact UTF-8 JSON."""
    return _encoder.encode(value).encode()


def envelope(code: int | str, message: str, data: Any) -> bytes:
    """The ``{"code", "message", "data"}`` body of every API answer."""
    head = b'{"code":' + dumps(code) + b',"message":' + dumps(message) + b',"data":'
    payload = data.body if isinstance(data, RawJSON) else dumps(data)
    return head + payload + b"}"


def fmt_seconds(moment: datetime | None) -> str | None:
    """``yyyy-MM-dd HH:mm:ss``: usage records."""
    return None if moment is None else moment.strftime("%Y-%m-%d %H:%M:%S")


def fmt_millis(moment: datetime | None) -> str | None:
    """``yyyy-MM-dd HH:mm:ss.S``: cards inside order objects."""
    if moment is None:
        return None
    return moment.strftime("%Y-%m-%d %H:%M:%S.") + str(moment.microsecond // 100_000)


def fmt_day(moment: datetime | None) -> str | None:
    """``yyyy-MM-dd``: an order's plan dates."""
    return None if moment is None else moment.strftime("%Y-%m-%d")


def fmt_day_gmt8(moment: datetime | None) -> str | None:
    """``yyyy-MM-dd(GMT+8)``: purchase dates and activation deadlines."""
    return None if moment is None else moment.strftime("%Y-%m-%d(GMT+8)")
