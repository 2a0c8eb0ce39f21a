"""
Cards and orders in wire shape (CONTRACT section 6).

Usage records carry ``usedMB`` as a numeric string and ``totalMB``/``remainMB``
as numbers, since the contract allows both and a client must take both.
"""

from __future__ import annotations

from typing import Any

from ._catalog import CATALOGUE
from ._state import Card, Order, Plan
from ._wire import fmt_day, fmt_day_gmt8, fmt_millis, fmt_seconds

__all__ = ["SM_DP_ADDRESS", "order_object", "pdf_url", "usage_record"]

SM_DP_ADDRESS = "smdp.sandbox.invalid"


def pdf_url(order_num: str, iccid: str) -> str:
    """Where the installation PDF of *iccid* in *order_num* would be."""
    return f"http://img.sandbox.invalid/esim/{order_num}/{iccid}.pdf"


def _display(sku_id: int) -> str | None:
    """A SKU's English name."""
    sku = CATALOGUE.sku(sku_id)
    return None if sku is None else sku.display


def usage_record(iccid: str, status: str, plan: Plan) -> dict[str, Any]:
    """A card's usage record, as ``queryIccidInformation`` answers it."""
    return {
        "iccid": iccid,
        "dpStatus": status,
        "usedMB": f"{plan.used_mb:.2f}",
        "totalMB": plan.total_mb,
        "remainMB": round(max(plan.total_mb - plan.used_mb, 0.0), 2),
        "startDate": fmt_seconds(plan.start),
        "endDate": fmt_seconds(plan.end),
        "skuId": plan.sku_id,
        "priceId": plan.price_id,
        "display": _display(plan.sku_id),
    }


def order_object(order: Order, cards: list[Card]) -> dict[str, Any]:
    """*order* as an order object, listing the given *cards* of it."""
    return {
        "orderNum": order.order_num,
        "display": _display(order.sku_id),
        "purchaseDate": fmt_day_gmt8(order.purchase),
        "count": order.count,
        "price": f"{order.price:.2f}",
        "status": order.status,
        "renewal": order.renew == 1,
        "renew": order.renew,
        "mainOrderNum": order.main_order_num,
        "renewOrderNum": list(order.renew_order_nums),
        "priceId": order.price_id,
        "startDate": fmt_day(order.start),
        "endDate": fmt_day(order.end),
        "outerOrderid": order.outer_order_id,
        "outerItemId": order.outer_item_id,
        "cardApiDtoList": [_order_card(order, card) for card in cards],
    }


def _order_card(order: Order, card: Card) -> dict[str, Any]:
    """One entry of ``cardApiDtoList``: the card with its plan from *order*."""
    plan = card.plan_of(order.order_num) or card.plan
    sku = CATALOGUE.sku(plan.sku_id)
    return {
        "data": _data_text(plan),
        "validity": plan.days,
        "sm_dp_address": SM_DP_ADDRESS,
        "activationCode": card.activation_code,
        "mobileNumber": card.mobile_number,
        "iccid": card.iccid,
        "activateBefore": fmt_day_gmt8(card.activate_before),
        "code": f"LPA:1${SM_DP_ADDRESS}${card.activation_code}",
        "usedMB": f"{plan.used_mb:.2f}",
        "startDate": fmt_millis(plan.start),
        "endDate": fmt_millis(plan.end),
        "pdfUrl": pdf_url(order.order_num, card.iccid) if order.with_pdf else None,
        "dpId": card.dp_id,
        "dpStatus": card.status,
        "eid": card.eid,
        "apn": card.apn if sku is None else sku.apn,
    }


def _data_text(plan: Plan) -> str:
    """The allowance as cards show it: ``6GB``, ``500MB``."""
    if plan.total_mb % 1024 == 0:
        return f"{plan.total_mb // 1024}GB"
    return f"{plan.total_mb}MB"
