"""
The endpoints of CONTRACT section 6, over the sandbox's state.

``Api.answer`` checks the signature (``-30``) and the token (``-1``) of every
request, then runs the endpoint's handler; a handler returns ``(data,
message)`` or raises ``ApiFailure``. Required parameters that are missing or
empty answer ``-2``; values of the wrong form ``-3`` ("Format mismatch").
"""

from __future__ import annotations

import hmac
import re
import secrets
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import attrs

from .._models import GMT8
from .._signing import sign
from ._catalog import CATALOGUE, Package, Sku
from ._faults import Decision, FaultState, Stats
from ._portfolio import Portfolio
from ._render import order_object, pdf_url
from ._settings import Settings
from ._state import ACTIVE, DELETE, DISABLE, Card, Order, Plan
from ._wire import ApiFailure, RawJSON, dumps, envelope

__all__ = ["ORDER_ENDPOINTS", "ROUTES", "Api", "Request", "Route"]

READ, WRITE, LOGIN = "read", "write", "login"
#: The endpoints ``Faults.order_delay`` slows down.
ORDER_ENDPOINTS = frozenset({"addEsimOrder", "renewCard", "renewCardByApiCode"})
#: The whitelist refusal's code is undocumented; this one is used by nothing else.
IP_NOT_WHITELISTED = -5
MAX_QUERY = 100
MAX_ORDER_COUNT = 100
_ICCID = re.compile(r"[0-9]{10,22}F?")


@attrs.frozen
class Route:
    """An endpoint: its wire name, kind and success code (typed as it is sent)."""

    name: str
    kind: str
    ok: int | str


def _routes() -> dict[str, Route]:
    """Path to route. Success codes: ``1`` for login, else ``"0"`` or ``0``
    as research.md's examples show each endpoint answering."""
    table: list[tuple[str, str, str, int | str]] = [
        ("/api_order/login", "login", LOGIN, 1),
        ("/api_esim/getSkus", "getSkus", READ, "0"),
        ("/api_esim/getSkuByGroup", "getSkuByGroup", READ, "0"),
        ("/api_esim/getDpSupportSkuInfo", "getDpSupportSkuInfo", READ, "0"),
        ("/api_esim/getPackages", "getPackages", READ, "0"),
        ("/api_esim/addEsimOrder", "addEsimOrder", WRITE, "0"),
        ("/api_esim/renewCard", "renewCard", WRITE, "0"),
        ("/api_esim/renewCardByApiCode", "renewCardByApiCode", WRITE, "0"),
        ("/api_esim/refundOrder", "refundOrder", WRITE, "0"),
        ("/api_esim/handlerEsimPdf", "handlerEsimPdf", WRITE, "0"),
        ("/api_esim/getOrderInfo", "getOrderInfo", READ, "0"),
        ("/api_esim/getBalance", "getBalance", READ, 0),
        ("/api_esim/getIccidSupportSku", "getIccidSupportSku", READ, 0),
        ("/api_esim/getIccidSupportPackageInfo", "getIccidSupportPackageInfo", READ, 0),
        ("/api_esim/getESIMDetail", "getESIMDetail", READ, 0),
        ("/api_esim/queryIccidInformation", "queryIccidInformation", READ, 0),
        ("/api_esim/getHistoryDetail", "getHistoryDetail", READ, 0),
    ]
    return {path: Route(name, kind, ok) for path, name, kind, ok in table}


ROUTES = _routes()

# Catalogue answers never change: render them once.
_SKUS = RawJSON(dumps([s.flat() for s in CATALOGUE.esim_skus()]))
_SKU_GROUPS = RawJSON(dumps(CATALOGUE.by_group()))
_PACKAGES = {s.sku_id: RawJSON(dumps(s.with_packages())) for s in CATALOGUE.skus}


@attrs.frozen
class Request:
    """What a handler sees of one request."""

    params: Mapping[str, str]
    client_host: str | None
    decision: Decision


Reply = tuple[Any, str]


class Api:
    """The account behind the sandbox: its token, balance, cards and orders."""

    def __init__(
        self,
        settings: Settings,
        portfolio: Portfolio,
        stats: Stats,
        faults: FaultState,
        balance: Decimal,
    ) -> None:
        self.settings = settings
        self.portfolio = portfolio
        self.stats = stats
        self.faults = faults
        self.balance = balance
        self._token: str | None = None
        self._token_expires = 0.0
        self._handlers: dict[str, Callable[[Request], Reply]] = {
            "login": self.login,
            "getSkus": lambda _: (_SKUS, "success"),
            "getSkuByGroup": lambda _: (_SKU_GROUPS, "success"),
            "getDpSupportSkuInfo": self.get_dp_support_sku_info,
            "getPackages": self.get_packages,
            "addEsimOrder": self.add_esim_order,
            "renewCard": lambda r: self.renew(r, by_api_code=False),
            "renewCardByApiCode": lambda r: self.renew(r, by_api_code=True),
            "refundOrder": self.refund_order,
            "handlerEsimPdf": self.handler_esim_pdf,
            "getOrderInfo": self.get_order_info,
            "getBalance": self.get_balance,
            "getIccidSupportSku": self.get_iccid_support_sku,
            "getIccidSupportPackageInfo": self.get_iccid_support_package_info,
            "getESIMDetail": self.get_esim_detail,
            "queryIccidInformation": self.query_iccid_information,
            "getHistoryDetail": self.get_history_detail,
        }

    # The gate every request passes

    def answer(self, route: Route, request: Request) -> bytes:
        """The envelope answering *request* on *route*."""
        try:
            self._authenticate(route, request.params)
            data, message = self._handlers[route.name](request)
        except ApiFailure as failure:
            return envelope(failure.code, failure.message, "")
        return envelope(route.ok, message, data)

    def _authenticate(self, route: Route, params: Mapping[str, str]) -> None:
        """Refuse a wrong ``sign`` (``-30``), then a stale ``token`` (``-1``)."""
        # Empty parameters are neither sent nor signed (CONTRACT section 3).
        signed = {k: v for k, v in params.items() if k != "sign" and v != ""}
        expected = sign(signed, self.settings.secret_key, self.settings.signature_style)
        if not _same(expected, params.get("sign", "")):
            raise ApiFailure(-30, "sign wrong")
        if route.kind != LOGIN and not self.token_valid(params.get("token", "")):
            raise ApiFailure(-1, "token expire")

    def token_valid(self, token: str) -> bool:
        """Whether *token* is the latest one and has not expired."""
        current = self._token
        return (
            current is not None
            and _same(current, token)
            and self.settings.clock() < self._token_expires
        )

    def expire_token(self) -> None:
        """End the current token's life now."""
        self._token_expires = self.settings.clock()

    def now(self) -> datetime:
        """The time orders are placed at."""
        return datetime.now(GMT8).replace(microsecond=0)

    # Authentication and catalogue

    def login(self, request: Request) -> Reply:
        """``/api_order/login``: a new token; the previous one dies at once."""
        phone = request.params.get("phonenumber", "")
        password = request.params.get("password", "")
        if not phone or not password:
            raise ApiFailure(-2, "phonenumber or password is null")
        settings = self.settings
        if not (
            _same(phone, settings.phone_number) & _same(password, settings.password)
        ):
            raise ApiFailure(-1, "Username Password wrong!")
        if not settings.api_permission:
            raise ApiFailure(-3, "No call interface permission")
        self._token = (
            f"{secrets.randbelow(90000) + 10000}-{secrets.token_hex(16).upper()}"
        )
        self._token_expires = settings.clock() + settings.token_ttl
        return {"token": self._token}, "Successful"

    def get_dp_support_sku_info(self, request: Request) -> Reply:
        """The physical-SIM SKUs of a distribution partner."""
        dp_id = _integer(request.params, "dpId")
        if dp_id not in CATALOGUE.dps:
            raise ApiFailure(-3, "data not exist")
        skus = [CATALOGUE.sku(s) for s in CATALOGUE.dps[dp_id]]
        return [s.flat() for s in skus if s is not None], "success"

    def get_packages(self, request: Request) -> Reply:
        """One SKU with its packages."""
        sku_id = _integer(request.params, "skuId")
        if sku_id not in _PACKAGES:
            raise ApiFailure(-3, "data not exist")
        return _PACKAGES[sku_id], "success"

    def get_balance(self, request: Request) -> Reply:
        """The account's balance, as a string with two decimals."""
        data = {"balance": f"{self.balance:.2f}", "currency": self.settings.currency}
        return data, "success"

    # Orders

    def add_esim_order(self, request: Request) -> Reply:
        """Place an order for new eSIMs, or for physical SIMs given ``dpId``."""
        params = request.params
        sku, package = self._package(params)
        count = _integer(params, "count")
        if not 1 <= count <= MAX_ORDER_COUNT:
            raise ApiFailure(-3, f"count must be between 1 and {MAX_ORDER_COUNT}")
        physical = self._physical_iccids(params, sku, count)
        days = self._days(params, package, required=package.daypass)
        start = _begin_date(params, package)
        back_info = _back_info(params)
        cost = self._charge(package.cost(days) * count)
        now = self.now()
        order_num = self.portfolio.new_order_num(now)
        iccids = physical or [self.portfolio.new_iccid() for _ in range(count)]
        cards = [
            self._new_card(iccid, order_num, sku, package, days, start, now)
            for iccid in iccids
        ]
        if physical:
            for card in cards:
                card.dp_id = int(params["dpId"])
        order = Order(
            order_num=order_num,
            sku_id=sku.sku_id,
            price_id=package.price_id,
            count=count,
            price=cost,
            purchase=now,
            iccids=iccids,
            start=start,
            end=cards[0].plan.end,
            with_pdf=back_info == "2",
        )
        _echo_outer(order, params)
        self.portfolio.add(order, cards)
        self.stats.orders += 1
        return self._order_reply(order, back_info), "success"

    def renew(self, request: Request, *, by_api_code: bool) -> Reply:
        """A renewal order on an existing card (``renewCard[ByApiCode]``)."""
        params = request.params
        sku, package = self._api_code(params) if by_api_code else self._package(params)
        card = self._card_to_renew(params)
        if not package.renewable:
            raise ApiFailure(-3, "this package cannot be renewed")
        if card.status == DELETE:
            raise ApiFailure(4, "order status abnormal")
        days = self._days(params, package, required=package.daypass and not by_api_code)
        back_info = _back_info(params)
        cost = self._charge(package.cost(days))
        now = self.now()
        main = self.portfolio.order_for_update(card.plans[0].order_num)
        order_num = self.portfolio.new_order_num(now)
        plan = _renewal_plan(card, order_num, sku, package, days, now)
        card.plans.append(plan)
        if card.status == DISABLE:
            card.status = ACTIVE
        order = Order(
            order_num=order_num,
            sku_id=sku.sku_id,
            price_id=package.price_id,
            count=1,
            price=cost,
            purchase=now,
            iccids=[card.iccid],
            renew=1,
            main_order_num=None if main is None else main.order_num,
            start=plan.start,
            end=plan.end,
            with_pdf=back_info == "2",
        )
        _echo_outer(order, params)
        if main is not None:
            main.renew_order_nums.append(order_num)
        self.portfolio.add(order, [card])
        self.stats.renewals += 1
        return self._order_reply(order, back_info), "success"

    def refund_order(self, request: Request) -> Reply:
        """Cancel some or all cards of an order and credit their price back."""
        params = request.params
        _required(params, "orderNum", "iccids")
        order = self.portfolio.order_for_update(params["orderNum"])
        if order is None:
            raise ApiFailure(3, "data not exist")
        iccids = _split(params["iccids"])
        if any(iccid not in order.iccids for iccid in iccids):
            raise ApiFailure(3, "data not exist")
        cards = [self.portfolio.card_for_update(iccid) for iccid in iccids]
        if order.status not in (0, 4) or order.refunded.intersection(iccids):
            raise ApiFailure(4, "order status abnormal")
        if any(c is None or c.status == ACTIVE or _used(c, order) for c in cards):
            raise ApiFailure(4, "order status abnormal: the eSIM is in use")
        order.refunded.update(iccids)
        order.status = 2 if len(order.refunded) == len(order.iccids) else 4
        for card in cards:
            if card is not None and order.renew == 0:
                card.status = DELETE
        self.balance += (order.price / order.count * len(iccids)).quantize(
            Decimal("0.01")
        )
        self.stats.refunds += 1
        return None, "success"

    def handler_esim_pdf(self, request: Request) -> Reply:
        """PDF links of an order's cards, or (pretend) delivery by email."""
        params = request.params
        _required(params, "type", "orderId")
        kind = params["type"]
        if kind not in ("link", "email"):
            raise ApiFailure(-3, "Format mismatch")
        order = self.portfolio.order_for_update(params["orderId"])
        if order is None:
            raise ApiFailure(3, "data not exist")
        iccids = _split(params.get("iccids", "")) or order.iccids
        missing = next((i for i in iccids if i not in order.iccids), None)
        if missing is not None:
            raise ApiFailure(99, f"esim {missing} not exist")
        if order.status in (2, 3):
            raise ApiFailure(4, "Can not download in abnormal state")
        if kind == "link":
            order.with_pdf = True
            links = {i: pdf_url(order.order_num, i) for i in iccids}
            return links, "Successful return of pdf link"
        _required(params, "email")
        if "@" not in params["email"]:
            raise ApiFailure(99, "send email fail")
        return None, "PDF has been sent to the email"

    def get_order_info(self, request: Request) -> Reply:
        """One order object, every card in it."""
        _required(request.params, "orderNum")
        order = self.portfolio.order(request.params["orderNum"])
        if order is None:
            raise ApiFailure(3, "data not exist")
        return order_object(order, self.portfolio.cards_of(order)), "success"

    # ICCID operations

    def get_iccid_support_sku(self, request: Request) -> Reply:
        """The SKUs a card can be renewed with."""
        card = self._card(request.params)
        return [s.flat() for s in _renewal_skus(card)], "success"

    def get_iccid_support_package_info(self, request: Request) -> Reply:
        """The packages a card can be renewed with; ``-10`` without a ``dpId``."""
        card = self._card(request.params)
        if card.dp_id is None:
            raise ApiFailure(-10, "dpId is null")
        return [s.renewal_offer() for s in _renewal_skus(card)], "success"

    def get_esim_detail(self, request: Request) -> Reply:
        """One card's usage record, for whitelisted peers only."""
        whitelist = self.settings.ip_whitelist
        if whitelist is not None and request.client_host not in whitelist:
            raise ApiFailure(
                IP_NOT_WHITELISTED,
                f"IP {request.client_host} is not in the IP whitelist",
            )
        card = self._card(request.params)
        record = self.portfolio.record(card.iccid)
        return RawJSON(record or b"null"), "success"

    def query_iccid_information(self, request: Request) -> Reply:
        """Usage records of 1..100 ICCIDs, in input order, unknown ones left out."""
        _required(request.params, "iccids")
        iccids = _split(request.params["iccids"])
        if not iccids:
            raise ApiFailure(-2, "params is not null")
        if len(iccids) > MAX_QUERY:
            raise ApiFailure(-3, f"at most {MAX_QUERY} iccids per query")
        faults = self.faults.faults
        if faults.poisoned and not faults.poisoned.isdisjoint(iccids):
            self.stats.faults["poisoned"] += 1
            raise ApiFailure(faults.poison_code, "query failed")
        return RawJSON(self._records(iccids, request.decision)), "success"

    def get_history_detail(self, request: Request) -> Reply:
        """Every order that put a plan on a card, oldest first."""
        card = self._card(request.params)
        orders = self.portfolio.history(card)
        return [order_object(order, [card]) for order in orders], "success"

    # Helpers

    def _records(self, iccids: list[str], decision: Decision) -> bytes:
        """The JSON list of cached usage records, less any dropped by faults."""
        record = self.portfolio.record
        fragments = [f for f in map(record, iccids) if f is not None]
        rate = self.faults.faults.drop_rate
        if decision.draw is not None and rate:
            kept = [f for f in fragments if not decision.dropped(rate)]
            self.stats.faults["dropped_record"] += len(fragments) - len(kept)
            fragments = kept
        return b"[" + b",".join(fragments) + b"]"

    def _card(self, params: Mapping[str, str]) -> Card:
        """The card of the ``iccid`` parameter, or ``-2``/``-3``."""
        _required(params, "iccid")
        card = self.portfolio.card(params["iccid"].strip())
        if card is None:
            raise ApiFailure(-3, "data not exist")
        return card

    def _card_to_renew(self, params: Mapping[str, str]) -> Card:
        """The card a renewal names by ``iccid`` or by ``orderNum``."""
        if params.get("iccid"):
            card = self.portfolio.card_for_update(params["iccid"])
            if card is None:
                raise ApiFailure(-3, "data not exist")
            return card
        if not params.get("orderNum"):
            raise ApiFailure(-2, "iccid or orderNum is required")
        order = self.portfolio.order(params["orderNum"])
        if order is None:
            raise ApiFailure(3, "data not exist")
        if len(order.iccids) != 1:
            raise ApiFailure(-3, "the order has several cards: renew by iccid")
        found = self.portfolio.card_for_update(order.iccids[0])
        assert found is not None  # noqa: S101 - an order's cards exist
        return found

    def _package(self, params: Mapping[str, str]) -> tuple[Sku, Package]:
        """The package named by ``skuId`` and ``priceId``."""
        _required(params, "skuId", "priceId")
        found = CATALOGUE.package(
            _integer(params, "skuId"), _integer(params, "priceId")
        )
        if found is None:
            raise ApiFailure(-3, "data not exist")
        return found

    def _api_code(self, params: Mapping[str, str]) -> tuple[Sku, Package]:
        """The package named by ``apiCode``."""
        _required(params, "apiCode")
        found = CATALOGUE.by_api_code(params["apiCode"])
        if found is None:
            raise ApiFailure(-3, "data not exist")
        return found

    def _physical_iccids(
        self, params: Mapping[str, str], sku: Sku, count: int
    ) -> list[str] | None:
        """The ICCIDs of a physical-SIM order, ``None`` for an eSIM order."""
        dp_text, iccid_text = params.get("dpId", ""), params.get("iccids", "")
        if (iccid_text or sku.physical_only) and not dp_text:
            raise ApiFailure(-10, "dpId is null")
        if not dp_text:
            return None
        if not iccid_text:
            raise ApiFailure(-2, "iccids is null")
        dp_id = _integer(params, "dpId")
        if sku.sku_id not in CATALOGUE.dps.get(dp_id, ()):
            raise ApiFailure(-3, "this dp does not sell this sku")
        iccids = _split(iccid_text)
        if len(iccids) != count or len(set(iccids)) != count:
            raise ApiFailure(-3, "the number of iccids must equal count")
        for iccid in iccids:
            if not _ICCID.fullmatch(iccid):
                raise ApiFailure(-3, "Format mismatch")
            if self.portfolio.exists(iccid):
                raise ApiFailure(-3, f"iccid {iccid} is already in use")
        return iccids

    def _days(
        self, params: Mapping[str, str], package: Package, *, required: bool
    ) -> int:
        """The day-pass days of the order, checked against the package's range."""
        if not package.daypass:
            return package.days
        if not params.get("daypassDays"):
            if required:
                raise ApiFailure(-2, "daypassDays is null")
            return package.min_day
        days = _integer(params, "daypassDays")
        if not package.min_day <= days <= package.max_day:
            raise ApiFailure(-3, "daypassDays out of range")
        return days

    def _charge(self, cost: Decimal) -> Decimal:
        """Take *cost* from the balance, or refuse when it is too low."""
        if cost > self.balance:
            raise ApiFailure(-3, "balance not enough")
        self.balance -= cost
        return cost

    def _new_card(
        self,
        iccid: str,
        order_num: str,
        sku: Sku,
        package: Package,
        days: int,
        start: datetime | None,
        now: datetime,
    ) -> Card:
        """A card for a new order."""
        end = None if start is None else start + timedelta(days=days)
        plan = Plan(
            order_num,
            sku.sku_id,
            package.price_id,
            days,
            package.total_mb(days),
            start,
            end,
        )
        return self.portfolio.card_template(iccid, plan, now)

    def _order_reply(self, order: Order, back_info: str) -> Any:
        """What ``backInfo`` asks for: the order number, or the order object."""
        if back_info in ("", "0"):
            return order.order_num
        return order_object(order, self.portfolio.cards_of(order))


def _same(given: str, expected: str) -> bool:
    """Constant-time equality that also takes non-ASCII text."""
    return hmac.compare_digest(given.encode(), expected.encode())


def _required(params: Mapping[str, str], *names: str) -> None:
    """Refuse with ``-2`` unless every one of *names* is present and not empty."""
    if any(not params.get(name) for name in names):
        raise ApiFailure(-2, "params is not null")


def _integer(params: Mapping[str, str], name: str) -> int:
    """The required integer parameter *name*."""
    _required(params, name)
    try:
        return int(params[name])
    except ValueError:
        raise ApiFailure(-3, "Format mismatch") from None


def _split(text: str) -> list[str]:
    """A comma-separated list, blanks dropped."""
    return [item.strip() for item in text.split(",") if item.strip()]


def _back_info(params: Mapping[str, str]) -> str:
    """``backInfo``: empty, 0, 1 or 2."""
    value = params.get("backInfo", "")
    if value not in ("", "0", "1", "2"):
        raise ApiFailure(-3, "Format mismatch")
    return value


def _begin_date(params: Mapping[str, str], package: Package) -> datetime | None:
    """``beginDate`` (``MM/dd/yyyy``), required by ``mustDate`` packages."""
    text = params.get("beginDate", "")
    if not text:
        if package.must_date:
            raise ApiFailure(-2, "beginDate is null")
        return None
    try:
        return datetime.strptime(text, "%m/%d/%Y").replace(tzinfo=GMT8)
    except ValueError:
        raise ApiFailure(-3, "Format mismatch") from None


def _echo_outer(order: Order, params: Mapping[str, str]) -> None:
    """Keep the caller's references on *order*, to echo them back."""
    order.outer_order_id = params.get("otherOrderId", "")
    order.outer_item_id = params.get("otherItemId", "")
    order.remark = params.get("remark", "")


def _used(card: Card, order: Order) -> bool:
    """Whether *card* has used any data of *order*'s plan."""
    plan = card.plan_of(order.order_num)
    return plan is not None and plan.used_mb > 0


def _renewal_plan(
    card: Card, order_num: str, sku: Sku, package: Package, days: int, now: datetime
) -> Plan:
    """A renewal's plan: it follows a running plan, or starts now."""
    current = card.plan
    start = None
    if current.start is not None:
        start = max(now, current.end or now)
    end = None if start is None else start + timedelta(days=days)
    return Plan(
        order_num,
        sku.sku_id,
        package.price_id,
        days,
        package.total_mb(days),
        start,
        end,
    )


def _renewal_skus(card: Card) -> list[Sku]:
    """eSIM SKUs with renewable packages that cover one of the card's countries."""
    own = CATALOGUE.sku(card.plan.sku_id)
    if card.status == DELETE or own is None:
        return []
    countries = set(own.countries)
    return [
        sku
        for sku in CATALOGUE.esim_skus()
        if countries.intersection(sku.countries)
        and any(p.renewable for p in sku.packages)
    ]
