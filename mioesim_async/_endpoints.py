"""
One short coroutine per API endpoint: check the arguments, build the
parameters, call, and structure the answer into models.

Each takes *call*, the client's signed-and-authenticated request function, so
this module knows nothing of sessions, pools or retries.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any, Protocol, TypeVar

from ._convert import structure
from ._exceptions import UnexpectedResponseError
from ._iccid import normalize_iccid, normalize_iccids
from ._models import Balance, CardUsage, Order, Sku, SkuPackages
from ._transport import Endpoint, Kind

T = TypeVar("T")

MAX_ICCIDS_PER_QUERY = 100


class Call(Protocol):
    """Sends one signed request and returns the answer's ``data``."""

    async def __call__(
        self,
        endpoint: Endpoint,
        params: Mapping[str, object],
        *,
        other_order_id: str | None = None,
    ) -> Any: ...


def _api(name: str, kind: Kind = Kind.READ) -> Endpoint:
    method = "GET" if kind is Kind.READ else "POST"
    return Endpoint(name, f"/api_esim/{name}", method, kind)


LOGIN = Endpoint("login", "/api_order/login", "POST", Kind.READ, success_code=1)
GET_SKUS = _api("getSkus")
GET_SKU_BY_GROUP = _api("getSkuByGroup")
GET_DP_SUPPORT_SKU_INFO = _api("getDpSupportSkuInfo")
GET_PACKAGES = _api("getPackages")
ADD_ESIM_ORDER = _api("addEsimOrder", Kind.ORDER)
RENEW_CARD = _api("renewCard", Kind.ORDER)
RENEW_CARD_BY_API_CODE = _api("renewCardByApiCode", Kind.ORDER)
REFUND_ORDER = _api("refundOrder", Kind.ORDER)
# Asking for links is harmless to repeat, so it is retried like a read even
# though the API wants a POST; sending an e-mail twice is not.
HANDLER_ESIM_PDF_LINK = Endpoint("handlerEsimPdf", "/api_esim/handlerEsimPdf", "POST")
HANDLER_ESIM_PDF_EMAIL = _api("handlerEsimPdf", Kind.WRITE)
GET_ORDER_INFO = _api("getOrderInfo")
GET_BALANCE = _api("getBalance")
GET_ICCID_SUPPORT_SKU = _api("getIccidSupportSku")
GET_ICCID_SUPPORT_PACKAGE_INFO = _api("getIccidSupportPackageInfo")
GET_ESIM_DETAIL = _api("getESIMDetail")
QUERY_ICCID_INFORMATION = _api("queryIccidInformation")
GET_HISTORY_DETAIL = _api("getHistoryDetail")

ENDPOINTS = (
    LOGIN,
    GET_SKUS,
    GET_SKU_BY_GROUP,
    GET_DP_SUPPORT_SKU_INFO,
    GET_PACKAGES,
    ADD_ESIM_ORDER,
    RENEW_CARD,
    RENEW_CARD_BY_API_CODE,
    REFUND_ORDER,
    HANDLER_ESIM_PDF_LINK,
    GET_ORDER_INFO,
    GET_BALANCE,
    GET_ICCID_SUPPORT_SKU,
    GET_ICCID_SUPPORT_PACKAGE_INFO,
    GET_ESIM_DETAIL,
    QUERY_ICCID_INFORMATION,
    GET_HISTORY_DETAIL,
)


def parse(endpoint: Endpoint, data: Any, cl: type[T]) -> T:
    """Structure *data* as *cl*, naming *endpoint* if the answer is malformed."""
    try:
        return structure(data, cl)
    except UnexpectedResponseError as exc:
        raise UnexpectedResponseError(
            f"{endpoint.name}: {exc}", endpoint=endpoint.name
        ) from exc


def new_other_order_id() -> str:
    """A unique ``otherOrderId`` for a write whose caller gave none."""
    return f"mio-{uuid.uuid4().hex}"


def _begin_date(value: date | str | None) -> str | None:
    """``beginDate`` as the API wants it: ``MM/dd/yyyy``."""
    if isinstance(value, date):
        return value.strftime("%m/%d/%Y")
    return value


def iccid_batch(iccids: Sequence[str], *, strict: bool = False) -> list[str]:
    """1 to 100 normalised ICCIDs for one request, or ``ValueError``."""
    if isinstance(iccids, str):
        iccids = [iccids]
    normalized = normalize_iccids(iccids, strict=strict)
    if not 1 <= len(normalized) <= MAX_ICCIDS_PER_QUERY:
        raise ValueError(
            f"one request takes 1 to {MAX_ICCIDS_PER_QUERY} ICCIDs, got "
            f"{len(normalized)}; use query_iccids() for any number"
        )
    return normalized


async def login(call: Call, phone_number: str, password: str) -> str:
    """Log in; returns the token."""
    data = await call(LOGIN, {"phonenumber": phone_number, "password": password})
    token = data.get("token") if isinstance(data, dict) else None
    if not isinstance(token, str) or not token:
        raise UnexpectedResponseError(
            "login: the answer has no token", endpoint=LOGIN.name
        )
    return token


async def get_skus(call: Call) -> list[Sku]:
    return await _read(call, GET_SKUS, {}, list[Sku])


async def get_sku_by_group(call: Call) -> dict[str, list[Sku]]:
    data = await call(GET_SKU_BY_GROUP, {})
    groups = data.get("data") if isinstance(data, dict) else None
    return parse(GET_SKU_BY_GROUP, groups or {}, dict[str, list[Sku]])


async def get_dp_support_sku_info(call: Call, dp_id: int | str) -> list[Sku]:
    return await _read(call, GET_DP_SUPPORT_SKU_INFO, {"dpId": dp_id}, list[Sku])


async def get_packages(call: Call, sku_id: int | str) -> SkuPackages:
    return await _read(call, GET_PACKAGES, {"skuId": sku_id}, SkuPackages)


async def get_order_info(call: Call, order_num: str) -> Order:
    return await _read(call, GET_ORDER_INFO, {"orderNum": order_num}, Order)


async def get_balance(call: Call) -> Balance:
    return await _read(call, GET_BALANCE, {}, Balance)


async def add_esim_order(
    call: Call,
    sku_id: int | str,
    price_id: int | str,
    count: int = 1,
    *,
    dp_id: int | str | None = None,
    iccids: Sequence[str] | None = None,
    daypass_days: int | None = None,
    begin_date: date | str | None = None,
    customer_email: str | None = None,
    send_email: bool = False,
    pdf_language: str | None = None,
    other_order_id: str | None = None,
    other_item_id: str | None = None,
    other_price: object = None,
    remark: str | None = None,
    strict: bool = False,
) -> Order:
    """Place an order; physical SIMs need *dp_id* and *count* ICCIDs."""
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count!r}")
    params: dict[str, object] = {
        "skuId": sku_id,
        "priceId": price_id,
        "count": count,
        "dpId": dp_id,
        "iccids": _physical_sims(dp_id, iccids, count, strict=strict),
        "daypassDays": daypass_days,
        "beginDate": _begin_date(begin_date),
        "customerEmail": customer_email,
        "isSendEmail": 1 if send_email else None,
    }
    return await _place(
        call,
        ADD_ESIM_ORDER,
        params,
        pdf_language=pdf_language,
        other_order_id=other_order_id,
        other_item_id=other_item_id,
        other_price=other_price,
        remark=remark,
    )


def _physical_sims(
    dp_id: object, iccids: Sequence[str] | None, count: int, *, strict: bool
) -> list[str] | None:
    """The ICCIDs of a physical-SIM order, checked against *dp_id* and *count*."""
    if dp_id is None and iccids is None:
        return None
    if dp_id is None or iccids is None:
        raise ValueError("a physical-SIM order needs both dp_id and iccids")
    normalized = normalize_iccids(iccids, strict=strict)
    if len(normalized) != count:
        raise ValueError(
            f"a physical-SIM order of count={count} needs {count} ICCIDs, "
            f"got {len(normalized)}"
        )
    return normalized


def _order(endpoint: Endpoint, data: Any, other_order_id: str) -> Order:
    """An order from an answer that is either the order or only its number."""
    if isinstance(data, str) and data:
        return Order(order_num=data)
    try:
        return parse(endpoint, data, Order)
    except UnexpectedResponseError as exc:
        # Placed (the answer said so), yet unreadable: say how to find it.
        raise UnexpectedResponseError(
            f"{exc}; the order was placed: find it by otherOrderId {other_order_id!r}",
            endpoint=endpoint.name,
        ) from exc


async def renew_card(
    call: Call,
    sku_id: int | str,
    price_id: int | str,
    *,
    iccid: str | None = None,
    order_num: str | None = None,
    daypass_days: int | None = None,
    **options: Any,
) -> Order:
    """Renew a card, named by *iccid* or by *order_num*."""
    params: dict[str, object] = {
        "skuId": sku_id,
        "priceId": price_id,
        "daypassDays": daypass_days,
    }
    return await _renew(call, RENEW_CARD, params, iccid, order_num, **options)


async def renew_card_by_api_code(
    call: Call,
    api_code: str,
    *,
    iccid: str | None = None,
    order_num: str | None = None,
    **options: Any,
) -> Order:
    """Renew a card with the package named by *api_code*."""
    params: dict[str, object] = {"apiCode": api_code}
    return await _renew(
        call, RENEW_CARD_BY_API_CODE, params, iccid, order_num, **options
    )


async def _renew(
    call: Call,
    endpoint: Endpoint,
    params: dict[str, object],
    iccid: str | None,
    order_num: str | None,
    *,
    pdf_language: str | None = None,
    other_order_id: str | None = None,
    other_item_id: str | None = None,
    other_price: object = None,
    remark: str | None = None,
    strict: bool = False,
) -> Order:
    if (iccid is None) == (order_num is None):
        raise ValueError("a renewal needs exactly one of iccid and order_num")
    params |= {
        "iccid": None if iccid is None else normalize_iccid(iccid, strict=strict),
        "orderNum": order_num,
    }
    return await _place(
        call,
        endpoint,
        params,
        pdf_language=pdf_language,
        other_order_id=other_order_id,
        other_item_id=other_item_id,
        other_price=other_price,
        remark=remark,
    )


async def _place(
    call: Call,
    endpoint: Endpoint,
    params: dict[str, object],
    *,
    pdf_language: str | None,
    other_order_id: str | None,
    other_item_id: str | None,
    other_price: object,
    remark: str | None,
) -> Order:
    """Send an order or a renewal with the options they share, asking for the
    whole order back and always carrying an ``otherOrderId`` to reconcile by."""
    other_order_id = other_order_id or new_other_order_id()
    params |= {
        "backInfo": 1,
        "pdfLanguage": pdf_language,
        "otherOrderId": other_order_id,
        "otherItemId": other_item_id,
        "otherPrice": other_price,
        "remark": remark,
    }
    data = await call(endpoint, params, other_order_id=other_order_id)
    return _order(endpoint, data, other_order_id)


async def refund_order(
    call: Call,
    order_num: str,
    iccids: Sequence[str],
    *,
    remark: str | None = None,
    strict: bool = False,
) -> None:
    """Cancel the cards *iccids* of *order_num*."""
    cards = _some_iccids(iccids, strict=strict)
    params = {"orderNum": order_num, "iccids": cards, "remark": remark}
    await call(REFUND_ORDER, params)


def _some_iccids(iccids: Sequence[str] | str, *, strict: bool) -> list[str]:
    """At least one ICCID, normalised; a lone string counts as one."""
    if isinstance(iccids, str):
        iccids = [iccids]
    normalized = normalize_iccids(iccids, strict=strict)
    if not normalized:
        raise ValueError("at least one ICCID is needed")
    return normalized


async def get_pdf_links(
    call: Call,
    order_num: str,
    *,
    iccids: Sequence[str] | None = None,
    strict: bool = False,
) -> dict[str, str]:
    """The PDF link of each card of *order_num* (or of *iccids*)."""
    cards = None if iccids is None else _some_iccids(iccids, strict=strict)
    params = {"type": "link", "orderId": order_num, "iccids": cards}
    return await _read(call, HANDLER_ESIM_PDF_LINK, params, dict[str, str])


async def send_pdf_email(
    call: Call,
    order_num: str,
    email: str,
    *,
    iccids: Sequence[str] | None = None,
    save_email: bool = False,
    strict: bool = False,
) -> None:
    """E-mail the PDFs of *order_num* (or of *iccids*) to *email*."""
    if not email:
        raise ValueError("send_pdf_email needs an e-mail address")
    cards = None if iccids is None else _some_iccids(iccids, strict=strict)
    params = {
        "type": "email",
        "orderId": order_num,
        "email": email,
        "iccids": cards,
        "saveType": 1 if save_email else None,
    }
    await call(HANDLER_ESIM_PDF_EMAIL, params)


async def get_iccid_support_sku(
    call: Call, iccid: str, *, strict: bool = False
) -> list[Sku]:
    return await _by_iccid(call, GET_ICCID_SUPPORT_SKU, iccid, strict, list[Sku])


async def get_iccid_support_package_info(
    call: Call, iccid: str, *, strict: bool = False
) -> list[SkuPackages]:
    endpoint = GET_ICCID_SUPPORT_PACKAGE_INFO
    return await _by_iccid(call, endpoint, iccid, strict, list[SkuPackages])


async def get_esim_detail(call: Call, iccid: str, *, strict: bool = False) -> CardUsage:
    return await _by_iccid(call, GET_ESIM_DETAIL, iccid, strict, CardUsage)


async def get_history_detail(
    call: Call, iccid: str, *, strict: bool = False
) -> list[Order]:
    return await _by_iccid(call, GET_HISTORY_DETAIL, iccid, strict, list[Order])


async def query_iccid_information(
    call: Call, iccids: Sequence[str], *, strict: bool = False
) -> list[CardUsage]:
    return await query_checked_iccids(call, iccid_batch(iccids, strict=strict))


async def query_checked_iccids(call: Call, iccids: list[str]) -> list[CardUsage]:
    """
    ``queryIccidInformation`` for 1 to 100 ICCIDs already normalised, as the
    fan-out's are: checking them again would only repeat the fan-out's work.
    """
    params = {"iccids": ",".join(iccids)}  # joined once, rendered as is
    return await _read(call, QUERY_ICCID_INFORMATION, params, list[CardUsage])


async def _by_iccid(
    call: Call, endpoint: Endpoint, iccid: str, strict: bool, cl: type[T]
) -> T:
    """Read *endpoint* about one card."""
    params = {"iccid": normalize_iccid(iccid, strict=strict)}
    return await _read(call, endpoint, params, cl)


async def _read(
    call: Call, endpoint: Endpoint, params: Mapping[str, object], cl: type[T]
) -> T:
    """Call *endpoint* and structure its ``data`` as *cl*."""
    return parse(endpoint, await call(endpoint, params), cl)
