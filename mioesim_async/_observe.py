"""
What a client tells the outside about its work: event hooks for metrics and
tracing, counters, and the ``mioesim_async`` logger.

Events carry no parameters, so no secret and no full ICCID can reach a hook:
an ICCID appears only masked to its last four digits.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

import attrs

from ._exceptions import MioesimError

__all__ = [
    "ChunkEvent",
    "ClientStats",
    "Hooks",
    "RequestEvent",
    "ResponseEvent",
    "RetryEvent",
    "mask_iccid",
]

logger = logging.getLogger("mioesim_async")

E = TypeVar("E")


def mask_iccid(iccid: str) -> str:
    """*iccid* with all but its last four characters hidden."""
    return f"…{iccid[-4:]}"


@attrs.frozen
class RequestEvent:
    """A request is about to be sent."""

    endpoint: str
    method: str
    attempt: int
    iccids: int
    """How many ICCIDs the request asks about (0 for none)."""


@attrs.frozen
class ResponseEvent:
    """An answer came back (whatever it says)."""

    endpoint: str
    method: str
    attempt: int
    iccids: int
    status: int
    code: int | None
    """The envelope's code; ``None`` when the answer had none."""
    elapsed: float
    """Seconds from sending to the answer."""


@attrs.frozen
class RetryEvent:
    """A request failed and will be sent again after *wait* seconds."""

    endpoint: str
    attempt: int
    """The attempt that failed."""
    error: MioesimError
    wait: float


@attrs.frozen
class ChunkEvent:
    """A chunk of a fan-out has its outcome."""

    iccids: int
    records: int
    missing: int
    error: MioesimError | None


@attrs.frozen
class Hooks:
    """
    Plain functions the client calls as it works, for metrics and tracing;
    none is awaited, and an exception from one propagates to the call.

    Example::

        hooks = mioesim_async.Hooks(on_response=lambda e: histogram.observe(e.elapsed))
    """

    on_request: Callable[[RequestEvent], object] | None = None
    on_response: Callable[[ResponseEvent], object] | None = None
    on_retry: Callable[[RetryEvent], object] | None = None
    on_chunk: Callable[[ChunkEvent], object] | None = None


def emit(hook: Callable[[E], object] | None, event: E) -> None:
    """Call *hook* with *event*, if there is a hook."""
    if hook is not None:
        hook(event)


@attrs.define
class Counters:
    """The running totals behind ``ClientStats``."""

    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    failures: int = 0


@attrs.frozen
class ClientStats:
    """A snapshot of what a client has done, from ``Client.stats()``."""

    requests: int
    """Requests sent, retries included."""
    retries: int
    """Requests sent again after a transient failure."""
    rate_limited: int
    """HTTP 429 answers."""
    failures: int
    """Calls that raised after their last attempt."""
    retry_tokens: int
    """What is left of the retry budget."""
    concurrency: int
    """Requests the fan-outs with requests in flight may have in flight now
    (0 when none has); lowered after HTTP 429, raised again on success."""
