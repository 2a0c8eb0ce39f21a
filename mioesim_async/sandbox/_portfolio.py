"""
The card portfolio: generated from a seed, looked up by ICCID or order number,
changed by orders, renewals and refunds.

Portfolio cards are never stored until something changes them. Card *i* is a
pure function of (seed, today, i), and its ICCID encodes *i* through an affine
permutation of the serial, so a lookup is arithmetic, a million-card sandbox
costs nothing up front, and reads only cache their rendered JSON (bounded).
"""

from __future__ import annotations

import random
import string
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from typing import Any

from .._models import GMT8
from ._catalog import CATALOGUE, Package, Sku
from ._render import usage_record
from ._state import ACTIVE, DELETE, DISABLE, ENABLE, Card, Order, Plan
from ._wire import dumps

__all__ = ["MAX_CARDS", "Portfolio"]

MAX_CARDS = 10_000_000  # order numbers hold the card index in 7 digits
_SERIAL = 10**12
_PREFIXES = ("898601", "898606", "898611", "894401", "894803")
_CREATED_PREFIX = "898620"  # never a portfolio prefix: created cards cannot collide
_FRAGMENT_CACHE = 200_000
_ESIM_SKUS = CATALOGUE.esim_skus()
_KINDS = ("running", "ending", "heavy", "fresh", "expired", "deleted")
_WEIGHTS = (40, 10, 10, 15, 15, 10)
_CODE_CHARS = string.ascii_uppercase + string.digits


class Portfolio:
    """Every card and order of the sandbox's one account."""

    def __init__(self, size: int, seed: int, today: date) -> None:
        self.size = size
        self.seed = seed
        self.anchor = datetime.combine(today, time(), GMT8)
        draw = random.Random(f"iccid-permutation:{seed}")  # noqa: S311 - data
        self._mult = _unit_mod_serial(draw)
        self._offset = draw.randrange(_SERIAL)
        self._inverse = pow(self._mult, -1, _SERIAL)
        self._created_base = draw.randrange(_SERIAL)
        self._cards: dict[str, Card] = {}
        self._orders: dict[str, Order] = {}
        self._fragments: dict[str, bytes] = {}
        self._created = 0

    # ICCIDs

    def iccid_at(self, index: int) -> str:
        """The ICCID of portfolio card *index*."""
        serial = (self._mult * index + self._offset) % _SERIAL
        body = f"{_PREFIXES[(index + self.seed) % len(_PREFIXES)]}{serial:012d}"
        return body + _check_digit(body)

    def index_of(self, iccid: str) -> int | None:
        """The portfolio index of *iccid*, or ``None`` if it is not one."""
        if len(iccid) != 19 or not iccid.isdigit():
            return None
        index = (self._inverse * (int(iccid[6:18]) - self._offset)) % _SERIAL
        if index >= self.size or self.iccid_at(index) != iccid:
            return None
        return index

    def iter_iccids(self) -> Iterator[str]:
        """The portfolio's ICCIDs, in index order."""
        return (self.iccid_at(i) for i in range(self.size))

    def created_iccids(self) -> list[str]:
        """The ICCIDs of cards that orders created, oldest first."""
        return [i for i in self._cards if self.index_of(i) is None]

    def new_iccid(self) -> str:
        """A fresh ICCID for an ordered eSIM."""
        while True:  # a physical SIM order may have taken the next one
            self._created += 1
            # From a drawn base, so created serials do not echo portfolio ones.
            step = self._created_base + self._created
            body = (
                f"{_CREATED_PREFIX}{(self._mult * step + self._offset) % _SERIAL:012d}"
            )
            iccid = body + _check_digit(body)
            if iccid not in self._cards:
                return iccid

    def exists(self, iccid: str) -> bool:
        """Whether *iccid* is a card of this account."""
        return iccid in self._cards or self.index_of(iccid) is not None

    # Cards and orders

    def card(self, iccid: str) -> Card | None:
        """The card *iccid*, for reading (possibly generated on the fly)."""
        card = self._cards.get(iccid)
        if card is not None:
            return card
        index = self.index_of(iccid)
        return None if index is None else self._generate(index)[0]

    def card_for_update(self, iccid: str) -> Card | None:
        """The card *iccid*, kept from now on so changes to it last."""
        card = self._cards.get(iccid)
        if card is not None:
            self._fragments.pop(iccid, None)
            return card
        index = self.index_of(iccid)
        if index is None:
            return None
        self._materialise(index)
        return self._cards[iccid]

    def order(self, order_num: str) -> Order | None:
        """The order *order_num*, for reading."""
        order = self._orders.get(order_num)
        if order is not None:
            return order
        index = self._order_index(order_num)
        if index is None:
            return None
        _card, orders = self._generate(index)
        return next((o for o in orders if o.order_num == order_num), None)

    def order_for_update(self, order_num: str) -> Order | None:
        """The order *order_num*, kept (with its cards) so changes last."""
        if order_num not in self._orders:
            index = self._order_index(order_num)
            if index is None or self.order(order_num) is None:
                return None
            self._materialise(index)
        order = self._orders[order_num]
        for iccid in order.iccids:
            self._fragments.pop(iccid, None)
        return order

    def history(self, card: Card) -> list[Order]:
        """Every order that put a plan on *card*, oldest first."""
        orders = [self.order(plan.order_num) for plan in card.plans]
        return [o for o in orders if o is not None]

    def cards_of(self, order: Order, iccids: list[str] | None = None) -> list[Card]:
        """The cards of *order* (or those of *iccids*), in order."""
        wanted = order.iccids if iccids is None else iccids
        cards = [self.card(iccid) for iccid in wanted]
        return [c for c in cards if c is not None]

    def record(self, iccid: str) -> bytes | None:
        """The usage record of *iccid* as JSON, cached; ``None`` if unknown."""
        fragment = self._fragments.get(iccid)
        if fragment is None:
            record = self._record(iccid)
            if record is None:
                return None
            fragment = dumps(record)
            if len(self._fragments) >= _FRAGMENT_CACHE:
                self._fragments.clear()  # crude, O(1), and rare
            self._fragments[iccid] = fragment
        return fragment

    def _record(self, iccid: str) -> dict[str, Any] | None:
        """The usage record of *iccid*, generating no more than it needs."""
        card = self._cards.get(iccid)
        if card is not None:
            return usage_record(card.iccid, card.status, card.plan)
        index = self.index_of(iccid)
        if index is None:
            return None
        _draw, kind, _packages, _renewals, plan = self._draw_current(index)
        return usage_record(iccid, _STATUS[kind], plan)

    def add(self, order: Order, cards: list[Card]) -> None:
        """Keep a new *order* and its new *cards*."""
        self._orders[order.order_num] = order
        for card in cards:
            self._cards[card.iccid] = card
            self._fragments.pop(card.iccid, None)

    def new_order_num(self, now: datetime) -> str:
        """A fresh order number; kind digit 9 marks orders placed here."""
        return f"EP{now:%Y%m%d}9{len(self._orders) + 1:07d}"

    def card_template(self, iccid: str, plan: Plan, now: datetime) -> Card:
        """A new, not yet installed card for an order."""
        draw = random.Random(f"card:{self.seed}:{iccid}")  # noqa: S311 - data
        return Card(
            iccid=iccid,
            status=ENABLE,
            activation_code=_activation_code(draw),
            mobile_number=_mobile_number(draw),
            activate_before=now + timedelta(days=180),
            plans=[plan],
            dp_id=9,
        )

    # Generation

    def _order_index(self, order_num: str) -> int | None:
        """The card index a generated order number encodes, if it is one."""
        if len(order_num) != 18 or not order_num.startswith("EP"):
            return None
        tail = order_num[10:]
        if not tail.isdigit() or tail[0] not in "012":
            return None
        index = int(tail[1:])
        return index if index < self.size else None

    def _materialise(self, index: int) -> None:
        """Keep generated card *index* and its orders."""
        card, orders = self._generate(index)
        self._cards[card.iccid] = card
        self._fragments.pop(card.iccid, None)
        for order in orders:
            self._orders[order.order_num] = order

    def _generate(self, index: int) -> tuple[Card, list[Order]]:
        """Portfolio card *index* and its orders, a pure function of the seed."""
        draw, kind, packages, renewals, current = self._draw_current(index)
        sku = CATALOGUE.sku(current.sku_id)
        assert sku is not None  # noqa: S101 - drawn from the catalogue
        plans = [*self._past_plans(draw, sku, packages, renewals, current), current]
        iccid = self.iccid_at(index)
        orders = self._orders_for(draw, index, iccid, plans, kind)
        card = Card(
            iccid=iccid,
            status=_STATUS[kind],
            activation_code=_activation_code(draw),
            mobile_number=_mobile_number(draw),
            activate_before=orders[0].purchase + timedelta(days=180),
            plans=plans,
            dp_id=draw.choice((9, 9, 12)) if draw.random() < 0.9 else None,
            eid=None if kind == "fresh" else _eid(draw),
        )
        return card, orders

    def _draw_current(
        self, index: int
    ) -> tuple[random.Random, str, list[Package], int, Plan]:
        """
        The first draws of card *index*: its kind and current plan. A usage
        record needs nothing more, so records are rendered from these alone.
        """
        draw = random.Random(self.seed * MAX_CARDS + index)  # noqa: S311 - data
        kind = _KINDS[index] if index < len(_KINDS) else _weighted_kind(draw)
        sku = draw.choice(_ESIM_SKUS)
        renewals = draw.choice((0, 0, 0, 1, 2)) if kind != "fresh" else 0
        packages = [p for p in sku.packages if p.renewable or not renewals]
        current = self._current_plan(draw, kind, sku, draw.choice(packages))
        return draw, kind, packages, renewals, current

    def _current_plan(
        self, draw: random.Random, kind: str, sku: Sku, package: Package
    ) -> Plan:
        """The plan now on a generated card of *kind*."""
        days = draw.randint(1, 10) if package.daypass else package.days
        plan = Plan("", sku.sku_id, package.price_id, days, package.total_mb(days))
        if kind == "fresh":
            return plan
        end, share = _END_AND_SHARE[kind](draw, self.anchor, days)
        plan.end = end + timedelta(seconds=draw.randrange(86_400))
        plan.start = plan.end - timedelta(days=days)
        plan.used_mb = round(plan.total_mb * share, 2)
        return plan

    def _past_plans(
        self,
        draw: random.Random,
        sku: Sku,
        packages: list[Package],
        count: int,
        current: Plan,
    ) -> list[Plan]:
        """*count* finished plans before *current*, oldest first."""
        plans: list[Plan] = []
        before = current.start or self.anchor
        for _ in range(count):
            package = draw.choice(packages)
            days = draw.randint(1, 10) if package.daypass else package.days
            end = before - timedelta(days=draw.randint(0, 5))
            plan = Plan("", sku.sku_id, package.price_id, days, package.total_mb(days))
            plan.start, plan.end = end - timedelta(days=days), end
            plan.used_mb = round(plan.total_mb * draw.uniform(0.5, 1.0), 2)
            plans.insert(0, plan)
            before = plan.start
        return plans

    def _orders_for(
        self,
        draw: random.Random,
        index: int,
        iccid: str,
        plans: list[Plan],
        kind: str,
    ) -> list[Order]:
        """One single-card order per plan: the first main, the others renewals."""
        orders: list[Order] = []
        for number, plan in enumerate(plans):
            bought = (plan.start or self.anchor) - timedelta(
                days=draw.randint(0, 10), seconds=draw.randrange(86_400)
            )
            plan.order_num = f"EP{bought:%Y%m%d}{number}{index:07d}"
            finished = plan is not plans[-1] or kind in ("expired", "deleted")
            found = CATALOGUE.package(plan.sku_id, plan.price_id)
            assert found is not None  # noqa: S101 - plans come from the catalogue
            orders.append(
                Order(
                    order_num=plan.order_num,
                    sku_id=plan.sku_id,
                    price_id=plan.price_id,
                    count=1,
                    price=found[1].cost(plan.days),
                    purchase=bought,
                    iccids=[iccid],
                    status=5 if finished else 0,
                    renew=1 if number else 0,
                    main_order_num=plans[0].order_num if number else None,
                    start=plan.start,
                    end=plan.end,
                    outer_order_id=f"SHOP-{draw.randrange(10**6):06d}"
                    if draw.random() < 0.3
                    else "",
                )
            )
        orders[0].renew_order_nums = [o.order_num for o in orders[1:]]
        return orders


_STATUS = {
    "running": ACTIVE,
    "ending": ACTIVE,
    "heavy": ACTIVE,
    "fresh": ENABLE,
    "expired": DISABLE,
    "deleted": DELETE,
}


def _days_left(draw: random.Random, days: int, most: int) -> timedelta:
    """Between one and *most* days, but never so many the plan starts after today."""
    return timedelta(days=draw.randint(1, max(1, min(most, days - 1))))


def _running(
    draw: random.Random, anchor: datetime, days: int
) -> tuple[datetime, float]:
    """Anywhere in its term; moderate use."""
    return anchor + _days_left(draw, days, days), draw.uniform(0, 0.85)


def _ending(draw: random.Random, anchor: datetime, days: int) -> tuple[datetime, float]:
    """Ends within the next three days."""
    return anchor + _days_left(draw, days, 3), draw.uniform(0.3, 0.89)


def _heavy(draw: random.Random, anchor: datetime, days: int) -> tuple[datetime, float]:
    """Above 90% of its data, sometimes all of it."""
    share = 1.0 if draw.random() < 0.3 else draw.uniform(0.9, 1.0)
    return anchor + _days_left(draw, days, days), share


def _expired(
    draw: random.Random, anchor: datetime, days: int
) -> tuple[datetime, float]:
    """Ended in the last two months."""
    return anchor - timedelta(days=draw.randint(1, 60)), draw.uniform(0.2, 1.0)


def _deleted(
    draw: random.Random, anchor: datetime, days: int
) -> tuple[datetime, float]:
    """Ended long ago."""
    return anchor - timedelta(days=draw.randint(30, 180)), draw.uniform(0, 1.0)


_END_AND_SHARE = {
    "running": _running,
    "ending": _ending,
    "heavy": _heavy,
    "expired": _expired,
    "deleted": _deleted,
}


def _weighted_kind(draw: random.Random) -> str:
    """A card kind drawn with the portfolio's proportions."""
    return draw.choices(_KINDS, weights=_WEIGHTS)[0]


def _unit_mod_serial(draw: random.Random) -> int:
    """A multiplier coprime to 10**12, so the serial permutation is invertible."""
    while True:
        candidate = draw.randrange(10**11, _SERIAL)
        if candidate % 2 and candidate % 5:
            return candidate


_DOUBLED = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)  # d*2 with its digits summed


def _check_digit(body: str) -> str:
    """The Luhn digit that makes *body* plus it valid."""
    digits = body[::-1]
    total = sum(_DOUBLED[int(c)] for c in digits[0::2])
    total += sum(int(c) for c in digits[1::2])
    return str(-total % 10)


def _activation_code(draw: random.Random) -> str:
    """A 16-character activation code."""
    return "".join(draw.choices(_CODE_CHARS, k=16))


def _mobile_number(draw: random.Random) -> str:
    """The card's number, as the service shows it."""
    return f"08{draw.randrange(10**8):08d}"


def _eid(draw: random.Random) -> str:
    """The 32-digit EID of the device the profile is on."""
    return f"89049032{draw.randrange(10**24):024d}"
