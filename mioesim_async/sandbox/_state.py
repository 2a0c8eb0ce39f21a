"""
The mutable records the sandbox keeps: cards, the plans they have had, and
orders. They hold data only; ``_portfolio`` creates them and ``_render``
writes them in wire shape.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import attrs

__all__ = ["ACTIVE", "DELETE", "DISABLE", "ENABLE", "Card", "Order", "Plan"]

# The ``dpStatus`` texts, spelled as the service spells them.
ACTIVE = "ACTIVE"
ENABLE = "Enable"
DISABLE = "Disable"
DELETE = "Delete"


@attrs.define
class Plan:
    """One plan a card has had: the card's line of one order."""

    order_num: str
    sku_id: int
    price_id: int
    days: int
    total_mb: int
    start: datetime | None = None
    end: datetime | None = None
    used_mb: float = 0.0


@attrs.define
class Card:
    """A SIM card: its profile, status and plans (the last one is current)."""

    iccid: str
    status: str
    activation_code: str
    mobile_number: str
    activate_before: datetime
    plans: list[Plan]
    dp_id: int | None = None
    eid: str | None = None
    apn: str = "plus"

    @property
    def plan(self) -> Plan:
        """The plan now on the card."""
        return self.plans[-1]

    def plan_of(self, order_num: str) -> Plan | None:
        """The card's plan from order *order_num*, if any."""
        return next((p for p in self.plans if p.order_num == order_num), None)


@attrs.define
class Order:
    """An order or a renewal (``renew`` 1), for one or more cards."""

    order_num: str
    sku_id: int
    price_id: int
    count: int
    price: Decimal
    purchase: datetime
    iccids: list[str]
    status: int = 0
    renew: int = 0
    main_order_num: str | None = None
    renew_order_nums: list[str] = attrs.Factory(list)
    start: datetime | None = None
    end: datetime | None = None
    outer_order_id: str = ""
    outer_item_id: str = ""
    remark: str = ""
    with_pdf: bool = False
    refunded: set[str] = attrs.Factory(set)
