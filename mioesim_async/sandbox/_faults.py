"""
Fault injection and request statistics.

Fault decisions are drawn from a generator seeded by the fault seed, the
endpoint, the request's parameters (less ``token`` and ``sign``, which change
on re-login) and how many times that same request was seen before. So the
outcome of each request is fixed whatever the scheduling of concurrent
requests, and a retry of a failed request draws afresh.
"""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from collections.abc import Iterable, Mapping

import attrs

__all__ = ["Decision", "FaultState", "Faults", "Stats"]


def _rate(_: object, attribute: attrs.Attribute[float], value: float) -> None:
    """Rates are probabilities."""
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{attribute.name} must be within [0, 1], got {value!r}")


def _non_negative(_: object, attribute: attrs.Attribute[float], value: float) -> None:
    """Durations cannot be negative."""
    if value < 0:
        raise ValueError(f"{attribute.name} must be >= 0, got {value!r}")


def _iccid_set(value: Iterable[str]) -> frozenset[str]:
    """A frozen set of ICCIDs."""
    return frozenset(value)


def _endpoints(value: Iterable[str] | None) -> frozenset[str] | None:
    """``None`` (every endpoint) or a frozen set of wire names."""
    return None if value is None else frozenset(value)


@attrs.frozen(kw_only=True)
class Faults:
    """
    What the sandbox does wrong, on purpose. Every rate is a probability per
    request; the default injects nothing.

    Assign a new one at runtime (``sandbox.faults = Faults(...)``) to switch
    faults on or off between requests; assigning also restarts the draws, so
    the same sequence of requests meets the same faults again.

    :param latency: seconds added before every answer.
    :param jitter: up to this many more seconds, drawn uniformly.
    :param error_rate: share of requests answered with HTTP *error_status*
        (before anything is done, so a refused write placed nothing).
    :param error_status: the 5xx status of those answers.
    :param rate_limit_rate: share answered HTTP 429 with ``Retry-After``.
    :param retry_after: the ``Retry-After`` value in seconds (``None`` sends
        no header); fractions are sent as written, e.g. ``0.01``.
    :param drop_rate: share of records left out of ``queryIccidInformation``
        answers (each record drawn separately).
    :param malformed_rate: share of answers replaced by an HTTP 200 HTML page
        (after the request took effect).
    :param disconnect_rate: share of answers cut off mid-body by closing the
        connection (after the request took effect).
    :param order_delay: seconds the order endpoints (``addEsimOrder``,
        ``renewCard``, ``renewCardByApiCode``) wait after placing the order and
        before answering, for testing client timeouts on writes.
    :param poisoned: ICCIDs that make any ``queryIccidInformation`` request
        containing one of them fail with API code *poison_code*.
    :param poison_code: the code of that failure (``-8``, "query failed").
    :param endpoints: wire names (``queryIccidInformation``, ``login``...) the
        rate and latency faults apply to; ``None`` means every endpoint.
    :param seed: the seed of the fault draws.
    """

    latency: float = attrs.field(default=0.0, validator=_non_negative)
    jitter: float = attrs.field(default=0.0, validator=_non_negative)
    error_rate: float = attrs.field(default=0.0, validator=_rate)
    error_status: int = 503
    rate_limit_rate: float = attrs.field(default=0.0, validator=_rate)
    retry_after: float | None = 1.0
    drop_rate: float = attrs.field(default=0.0, validator=_rate)
    malformed_rate: float = attrs.field(default=0.0, validator=_rate)
    disconnect_rate: float = attrs.field(default=0.0, validator=_rate)
    order_delay: float = attrs.field(default=0.0, validator=_non_negative)
    poisoned: frozenset[str] = attrs.field(default=frozenset(), converter=_iccid_set)
    poison_code: int = -8
    endpoints: frozenset[str] | None = attrs.field(default=None, converter=_endpoints)
    seed: int = 0

    @property
    def random_faults(self) -> bool:
        """Whether any per-request draw is needed."""
        return bool(
            self.latency
            or self.jitter
            or self.error_rate
            or self.rate_limit_rate
            or self.drop_rate
            or self.malformed_rate
            or self.disconnect_rate
        )

    def applies_to(self, endpoint: str) -> bool:
        """Whether the rate and latency faults touch *endpoint*."""
        return self.endpoints is None or endpoint in self.endpoints


@attrs.frozen
class Decision:
    """The faults one request meets."""

    delay: float = 0.0
    rate_limited: bool = False
    server_error: bool = False
    malformed: bool = False
    disconnect: bool = False
    draw: random.Random | None = None

    def dropped(self, rate: float) -> bool:
        """Whether the next record of a batch answer is left out."""
        return self.draw is not None and rate > 0 and self.draw.random() < rate


NO_FAULT = Decision()


class FaultState:
    """The current ``Faults`` and the memory of requests already seen."""

    def __init__(self, faults: Faults) -> None:
        self.faults = faults
        self._seen: Counter[bytes] = Counter()

    def replace(self, faults: Faults) -> None:
        """Switch to *faults*, restarting the draws."""
        self.faults = faults
        self._seen = Counter()

    def decide(self, endpoint: str, params: Mapping[str, str]) -> Decision:
        """The faults this request meets; see the module docstring."""
        faults = self.faults
        if not faults.random_faults or not faults.applies_to(endpoint):
            return NO_FAULT
        draw = random.Random(self._key(endpoint, params))  # noqa: S311 - test faults
        return Decision(
            delay=faults.latency + faults.jitter * draw.random(),
            rate_limited=draw.random() < faults.rate_limit_rate,
            server_error=draw.random() < faults.error_rate,
            malformed=draw.random() < faults.malformed_rate,
            disconnect=draw.random() < faults.disconnect_rate,
            draw=draw,
        )

    def _key(self, endpoint: str, params: Mapping[str, str]) -> int:
        """A number fixed by the seed, the request and its repetition."""
        text = "&".join(
            f"{k}={v}" for k, v in sorted(params.items()) if k not in ("token", "sign")
        )
        digest = hashlib.blake2b(
            f"{self.faults.seed}|{endpoint}|{text}".encode(), digest_size=16
        ).digest()
        self._seen[digest] += 1
        return int.from_bytes(digest, "big") * 1_000_003 + self._seen[digest]


@attrs.define
class Stats:
    """
    What the sandbox has seen.

    :ivar requests: requests by endpoint wire name (``login``,
        ``addEsimOrder``...), counting every request that reached a known
        path, refused or faulted ones included.
    :ivar orders: orders placed by ``addEsimOrder``.
    :ivar renewals: renewal orders placed by ``renewCard`` and
        ``renewCardByApiCode``.
    :ivar refunds: successful ``refundOrder`` calls.
    :ivar faults: injected faults by kind (``latency``, ``rate_limit``,
        ``server_error``, ``malformed``, ``disconnect``, ``dropped_record``,
        ``poisoned``).
    """

    requests: Counter[str] = attrs.Factory(Counter)
    orders: int = 0
    renewals: int = 0
    refunds: int = 0
    faults: Counter[str] = attrs.Factory(Counter)

    @property
    def total(self) -> int:
        """Requests to every endpoint together."""
        return sum(self.requests.values())

    def reset(self) -> None:
        """Start counting again from zero."""
        self.requests.clear()
        self.faults.clear()
        self.orders = self.renewals = self.refunds = 0
