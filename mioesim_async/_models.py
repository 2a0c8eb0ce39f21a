"""
The data the API answers with, as frozen attrs classes.

These classes hold data only: how wire names, numbers sent as strings and GMT+8
dates become these fields is the converter's business (``_convert.py``). Every
model keeps the mapping it was built from in ``raw`` (left out of ``repr`` and
equality), so a field this library does not model is never lost.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import attrs

__all__ = [
    "GMT8",
    "Balance",
    "CardStatus",
    "CardUsage",
    "Network",
    "Order",
    "OrderCard",
    "OrderStatus",
    "Package",
    "Sku",
    "SkuPackages",
]

#: MIOeSIM states every time in GMT+8; parsed dates carry this zone.
GMT8 = timezone(timedelta(hours=8), "GMT+8")

_EMPTY: Mapping[str, Any] = {}


def _raw() -> Any:
    """The ``raw`` field every model ends with: the wire mapping, kept as is."""
    return attrs.field(default=_EMPTY, repr=False, eq=False, kw_only=True)


class CardStatus(enum.Enum):
    """A card's ``dpStatus``; anything else becomes ``UNKNOWN`` (raw text kept)."""

    ACTIVE = "ACTIVE"
    """The plan is running and usage is tracked."""
    ENABLE = "Enable"
    """The profile is enabled on the device; the plan may not have started."""
    DISABLE = "Disable"
    """The profile is disabled."""
    DELETE = "Delete"
    """The profile was deleted; the card cannot be activated again."""
    UNKNOWN = "UNKNOWN"
    """A status this library does not know; see ``CardUsage.raw``."""


class OrderStatus(enum.IntEnum):
    """An order's ``status`` code. A code not listed here still parses, as a
    pseudo-member named ``UNKNOWN_<code>`` that keeps its value."""

    UNPAID = -1
    PAID = 0
    CANCELLED = 2
    VOID = 3
    PARTLY_UNSUBSCRIBED = 4
    ENDED = 5
    UNSUBSCRIBING = 6
    PARTLY_UNSUBSCRIBING = 7

    @classmethod
    def _missing_(cls, value: object) -> OrderStatus | None:
        if not isinstance(value, int) or isinstance(value, bool):
            return None
        pseudo = int.__new__(cls, value)
        pseudo._name_ = f"UNKNOWN_{value}"
        pseudo._value_ = value
        return pseudo


@attrs.frozen
class Sku:
    """A product: a country or region that plans are sold for."""

    sku_id: int
    display: str | None = None
    country_code: str | None = None
    image_url: str | None = None
    note: str | None = None
    search: str | None = None
    continent_code: str | None = None
    raw: Mapping[str, Any] = _raw()


@attrs.frozen
class Network:
    """A mobile network a package uses."""

    type: str | None = None
    operator: str | None = None
    name_cn: str | None = None
    name_en: str | None = None
    raw: Mapping[str, Any] = _raw()


@attrs.frozen
class Package:
    """A plan of a SKU: an amount of data for a number of days, at a price."""

    price_id: int
    flows: int | None = None
    unit: str | None = None
    days: int | None = None
    price: Decimal | None = None
    flow_type: int | None = None
    support_daypass: int | None = None
    min_day: int | None = None
    max_day: int | None = None
    must_date: int | None = None
    expire_days: int | None = None
    api_code: str | None = None
    premark: str | None = None
    networks: list[Network] = attrs.Factory(list)
    raw: Mapping[str, Any] = _raw()

    @property
    def renewable(self) -> bool:
        """Whether a card on this plan can be renewed (``flowType`` 0)."""
        return self.flow_type == 0


@attrs.frozen
class SkuPackages:
    """A SKU with the packages on sale for it."""

    sku_id: int
    display: str | None = None
    display_en: str | None = None
    country_code: str | None = None
    support_countries: list[str] = attrs.Factory(list)
    packages: list[Package] = attrs.Factory(list)
    raw: Mapping[str, Any] = _raw()


@attrs.frozen
class OrderCard:
    """One card of an order, with what the customer needs to install it."""

    iccid: str
    data: str | None = None
    validity: int | None = None
    sm_dp_address: str | None = None
    activation_code: str | None = None
    lpa: str | None = None
    mobile_number: str | None = None
    activate_before: datetime | None = None
    used_mb: float | None = None
    start_date: datetime | None = None
    end_date: datetime | None = None
    pdf_url: str | None = None
    dp_id: int | None = None
    dp_status: str | None = None
    eid: str | None = None
    apn: str | None = None
    raw: Mapping[str, Any] = _raw()


@attrs.frozen
class Order:
    """An order or a renewal, with its cards."""

    order_num: str
    display: str | None = None
    purchase_date: datetime | None = None
    count: int | None = None
    price: Decimal | None = None
    status: OrderStatus | None = None
    renew: bool | None = None
    main_order_num: str | None = None
    renew_order_nums: list[str] = attrs.Factory(list)
    price_id: int | None = None
    start_date: datetime | None = None
    end_date: datetime | None = None
    other_order_id: str | None = None
    other_item_id: str | None = None
    cards: list[OrderCard] = attrs.Factory(list)
    raw: Mapping[str, Any] = _raw()


@attrs.frozen
class CardUsage:
    """
    The status and data usage of one card, from ``queryIccidInformation`` or
    ``getESIMDetail``.

    Megabytes are floats; ``remain_mb`` is derived from ``total_mb - used_mb``
    when the server sends only those two. ``raw`` is the record as received,
    including the status text when ``status`` is ``UNKNOWN``.
    """

    iccid: str
    status: CardStatus = CardStatus.UNKNOWN
    used_mb: float | None = None
    total_mb: float | None = None
    remain_mb: float | None = None
    start_date: datetime | None = None
    end_date: datetime | None = None
    sku_id: int | None = None
    price_id: int | None = None
    display: str | None = None
    raw: Mapping[str, Any] = _raw()


@attrs.frozen
class Balance:
    """The account's balance."""

    balance: Decimal
    currency: str | None = None
    raw: Mapping[str, Any] = _raw()
