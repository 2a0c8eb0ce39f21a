"""The sandbox server, driven with raw httpx: the wire contract as it speaks it."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import AsyncIterator, MutableMapping
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import anyio
import httpx
import pytest

from mioesim_async._iccid import luhn_valid
from mioesim_async._models import GMT8
from mioesim_async._signing import SignatureStyle, render_params, sign
from mioesim_async.sandbox import Faults, Sandbox

pytestmark = pytest.mark.anyio

TODAY = date(2025, 1, 15)
ANCHOR = datetime(2025, 1, 15, tzinfo=GMT8)
BASE = "http://127.0.0.1"
SECONDS = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")
MILLIS = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d")
DAY_GMT8 = re.compile(r"\d{4}-\d\d-\d\d\(GMT\+8\)")


class Raw:
    """Signed requests by hand, so each test controls every byte it sends."""

    def __init__(self, sandbox: Sandbox, http: httpx.AsyncClient) -> None:
        self.sandbox = sandbox
        self.http = http
        self.token = ""

    def signed(self, params: dict[str, Any], *, token: bool = True) -> dict[str, str]:
        rendered = render_params({**params, **({"token": self.token} if token else {})})
        rendered["sign"] = sign(
            rendered, self.sandbox.secret_key, self.sandbox.signature_style
        )
        return rendered

    async def login(self) -> str:
        credentials = {
            "phonenumber": self.sandbox.phone_number,
            "password": self.sandbox.password,
        }
        response = await self.http.post(
            "/api_order/login", data=self.signed(credentials, token=False)
        )
        body = response.json()
        assert body["code"] == 1, body
        self.token = body["data"]["token"]
        return self.token

    async def get(self, endpoint: str, **params: Any) -> dict[str, Any]:
        response = await self.http.get(
            f"/api_esim/{endpoint}", params=self.signed(params)
        )
        assert response.status_code == 200, response.text
        return dict(response.json())

    async def post(self, endpoint: str, **params: Any) -> dict[str, Any]:
        response = await self.http.post(
            f"/api_esim/{endpoint}", data=self.signed(params)
        )
        assert response.status_code == 200, response.text
        return dict(response.json())

    async def order(self, **params: Any) -> dict[str, Any]:
        params = {"skuId": 45, "priceId": 441, "count": 1, "backInfo": 1, **params}
        body = await self.post("addEsimOrder", **params)
        assert body["code"] == "0", body
        return dict(body["data"])


def http_client(
    sandbox: Sandbox, client: tuple[str, int] = ("127.0.0.1", 123)
) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=sandbox.app, client=client)
    return httpx.AsyncClient(transport=transport, base_url=BASE)


@pytest.fixture
def sandbox() -> Sandbox:
    return Sandbox(cards=300, seed=0, today=TODAY)


@pytest.fixture
async def raw(sandbox: Sandbox) -> AsyncIterator[Raw]:
    async with http_client(sandbox) as http:
        client = Raw(sandbox, http)
        await client.login()
        yield client


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# Authentication


async def test_login_answers_code_1_and_a_token(raw: Raw) -> None:
    assert re.fullmatch(r"\d+-[0-9A-F]{32}", raw.token)
    assert (await raw.get("getBalance"))["code"] == 0


async def test_login_accepts_the_documented_sign_vector() -> None:
    sandbox = Sandbox(cards=1)
    async with http_client(sandbox) as http:
        form = {
            "phonenumber": "13800000000",
            "password": "mypassword",
            "sign": "9d3017ea1ffa8e5df1839a5bef2f4da4",
        }
        body = (await http.post("/api_order/login", data=form)).json()
    assert body["code"] == 1


@pytest.mark.parametrize(
    ("phone", "password", "code"),
    [
        ("13800000000", "wrong", -1),
        ("13800000000", "mötley-crüe", -1),
        ("13900000000", "mypassword", -1),
        ("", "x", -2),
    ],
)
async def test_login_refusals(raw: Raw, phone: str, password: str, code: int) -> None:
    form = raw.signed({"phonenumber": phone, "password": password}, token=False)
    body = (await raw.http.post("/api_order/login", data=form)).json()
    assert body == {"code": code, "message": body["message"], "data": ""}


async def test_login_without_api_permission_is_minus_3() -> None:
    sandbox = Sandbox(cards=1, api_permission=False)
    async with http_client(sandbox) as http:
        form = Raw(sandbox, http).signed(
            {"phonenumber": sandbox.phone_number, "password": sandbox.password},
            token=False,
        )
        body = (await http.post("/api_order/login", data=form)).json()
    assert body["code"] == -3


async def test_login_with_a_json_body_fails_the_sign_check(raw: Raw) -> None:
    payload = raw.signed(
        {"phonenumber": raw.sandbox.phone_number, "password": raw.sandbox.password},
        token=False,
    )
    body = (await raw.http.post("/api_order/login", json=payload)).json()
    assert body["code"] == -30


async def test_login_by_get_query_only_when_allowed(raw: Raw) -> None:
    credentials = {"phonenumber": "13800000000", "password": "mypassword"}
    refused = await raw.http.get("/api_order/login", params=raw.signed(credentials))
    assert refused.status_code == 405
    sandbox = Sandbox(cards=1, allow_login_query=True)
    async with http_client(sandbox) as http:
        query = Raw(sandbox, http).signed(credentials, token=False)
        body = (await http.get("/api_order/login", params=query)).json()
    assert body["code"] == 1


async def test_wrong_or_missing_sign_is_minus_30(raw: Raw) -> None:
    params = raw.signed({})
    params["sign"] = "0" * 32
    body = (await raw.http.get("/api_esim/getBalance", params=params)).json()
    assert body == {"code": -30, "message": "sign wrong", "data": ""}
    unsigned = {"token": raw.token}
    body = (await raw.http.get("/api_esim/getBalance", params=unsigned)).json()
    assert body["code"] == -30


async def test_the_urlencoded_upper_style_when_configured() -> None:
    sandbox = Sandbox(cards=1, signature_style=SignatureStyle.URLENCODED_UPPER)
    async with http_client(sandbox) as http:
        raw = Raw(sandbox, http)
        await raw.login()
        assert (await raw.get("getBalance"))["code"] == 0
        plain = render_params({"token": raw.token})
        plain["sign"] = sign(plain, sandbox.secret_key, SignatureStyle.PLAIN)
        body = (await http.get("/api_esim/getBalance", params=plain)).json()
    assert body["code"] == -30


async def test_a_new_login_supersedes_the_previous_token(raw: Raw) -> None:
    old = raw.token
    await raw.login()
    assert (await raw.get("getBalance"))["code"] == 0
    raw.token = old
    assert (await raw.get("getBalance"))["code"] == -1


async def test_tokens_expire_after_their_ttl() -> None:
    clock = FakeClock()
    sandbox = Sandbox(cards=1, token_ttl=10, clock=clock)
    async with http_client(sandbox) as http:
        raw = Raw(sandbox, http)
        await raw.login()
        clock.now += 9.9
        assert (await raw.get("getBalance"))["code"] == 0
        clock.now += 0.1
        assert (await raw.get("getBalance"))["code"] == -1
        await raw.login()
        assert (await raw.get("getBalance"))["code"] == 0


async def test_tokens_live_two_hours_by_default() -> None:
    clock = FakeClock()
    sandbox = Sandbox(cards=1, clock=clock)
    async with http_client(sandbox) as http:
        raw = Raw(sandbox, http)
        await raw.login()
        clock.now += 7199
        assert (await raw.get("getBalance"))["code"] == 0
        clock.now += 1
        assert (await raw.get("getBalance"))["code"] == -1


async def test_expire_token_and_unknown_tokens(raw: Raw) -> None:
    raw.sandbox.expire_token()
    assert (await raw.get("getBalance"))["code"] == -1
    raw.token = "12345-" + "A" * 32
    assert (await raw.get("getBalance"))["code"] == -1


# Methods and parameters


async def test_reads_must_be_get_and_writes_post_form(raw: Raw) -> None:
    read_by_post = await raw.http.post("/api_esim/getBalance", data=raw.signed({}))
    assert read_by_post.status_code == 405
    assert read_by_post.headers["allow"] == "GET"
    order = {"skuId": 45, "priceId": 441, "count": 1}
    write_by_get = await raw.http.get(
        "/api_esim/addEsimOrder", params=raw.signed(order)
    )
    assert write_by_get.status_code == 405
    in_query = await raw.http.post("/api_esim/addEsimOrder", params=raw.signed(order))
    assert in_query.status_code == 400
    as_json = await raw.http.post("/api_esim/addEsimOrder", json=raw.signed(order))
    assert as_json.json()["code"] == -30
    assert "code" not in read_by_post.json()  # HTTP refusals are not API answers
    assert raw.sandbox.stats.orders == 0


async def test_relaxed_methods_accept_post_everywhere() -> None:
    sandbox = Sandbox(cards=1, strict_methods=False)
    async with http_client(sandbox) as http:
        raw = Raw(sandbox, http)
        await raw.login()
        body = (await http.post("/api_esim/getBalance", data=raw.signed({}))).json()
    assert body["code"] == 0


async def test_unknown_path_is_404(raw: Raw) -> None:
    response = await raw.http.get("/api_esim/nothing", params=raw.signed({}))
    assert response.status_code == 404


@pytest.mark.parametrize(
    ("endpoint", "params"),
    [
        ("getPackages", {}),
        ("getDpSupportSkuInfo", {}),
        ("getOrderInfo", {}),
        ("getESIMDetail", {}),
        ("getHistoryDetail", {}),
        ("queryIccidInformation", {}),
        ("queryIccidInformation", {"iccids": ","}),
    ],
)
async def test_missing_parameter_is_minus_2_on_reads(
    raw: Raw, endpoint: str, params: dict[str, str]
) -> None:
    body = await raw.get(endpoint, **params)
    assert body == {"code": -2, "message": body["message"], "data": ""}


@pytest.mark.parametrize(
    ("endpoint", "params"),
    [
        ("addEsimOrder", {"skuId": 45, "priceId": 441}),
        ("renewCard", {"skuId": 45, "priceId": 441}),
        ("refundOrder", {"orderNum": "EP2025011500000001"}),
        ("handlerEsimPdf", {"type": "link"}),
    ],
)
async def test_missing_parameter_is_minus_2_on_writes(
    raw: Raw, endpoint: str, params: dict[str, Any]
) -> None:
    assert (await raw.post(endpoint, **params))["code"] == -2


async def test_malformed_numbers_are_a_format_mismatch(raw: Raw) -> None:
    body = await raw.get("getPackages", skuId="forty-five")
    assert body["code"] == -3
    assert body["message"] == "Format mismatch"


# The string and number quirks


async def test_success_codes_are_typed_per_endpoint(raw: Raw) -> None:
    assert (await raw.get("getSkus"))["code"] == "0"
    assert (await raw.get("getSkuByGroup"))["code"] == "0"
    assert (await raw.get("getPackages", skuId=45))["code"] == "0"
    assert (await raw.get("getBalance"))["code"] == 0
    iccid = raw.sandbox.iccids[0]
    assert (await raw.get("queryIccidInformation", iccids=iccid))["code"] == 0
    assert (await raw.get("getHistoryDetail", iccid=iccid))["code"] == 0


async def test_catalogue_spellings(raw: Raw) -> None:
    skus = (await raw.get("getSkus"))["data"]
    assert len(skus) >= 3
    assert set(skus[0]) == {"skuid", "display", "countryCode"}
    for sku in skus:
        packages = (await raw.get("getPackages", skuId=sku["skuid"]))["data"]
        assert packages["skuid"] == sku["skuid"]
        assert packages["countrycode"] == sku["countryCode"]
        assert "countryCode" not in packages
        assert packages["esimPackageDtoList"]
        assert all("priceid" in p for p in packages["esimPackageDtoList"])
    groups = (await raw.get("getSkuByGroup"))["data"]
    assert set(groups["continent"]) == set(groups["data"])


async def test_dp_support_sku_info(raw: Raw) -> None:
    skus = (await raw.get("getDpSupportSkuInfo", dpId=9))["data"]
    assert {s["skuid"] for s in skus} == {124, 123}
    assert (await raw.get("getDpSupportSkuInfo", dpId=777))["code"] == -3


async def test_balance_is_a_string_with_two_decimals(raw: Raw) -> None:
    data = (await raw.get("getBalance"))["data"]
    assert data == {"balance": "10000.00", "currency": "USD"}


async def test_usage_record_fields_and_date_format(raw: Raw) -> None:
    iccid = raw.sandbox.iccids[0]
    (record,) = (await raw.get("queryIccidInformation", iccids=iccid))["data"]
    assert set(record) == {
        "iccid", "dpStatus", "usedMB", "totalMB", "remainMB",
        "startDate", "endDate", "skuId", "priceId", "display",
    }  # fmt: skip
    assert isinstance(record["usedMB"], str)
    assert isinstance(record["totalMB"], int)
    assert SECONDS.fullmatch(record["startDate"])
    assert SECONDS.fullmatch(record["endDate"])
    assert record == raw.sandbox.usage_record(iccid)


async def test_order_object_date_formats(raw: Raw) -> None:
    history = (await raw.get("getHistoryDetail", iccid=raw.sandbox.iccids[0]))["data"]
    order = history[-1]
    assert DAY_GMT8.fullmatch(order["purchaseDate"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\d", order["endDate"])
    (card,) = order["cardApiDtoList"]
    assert MILLIS.fullmatch(card["endDate"])
    assert DAY_GMT8.fullmatch(card["activateBefore"])
    assert card["code"] == f"LPA:1${card['sm_dp_address']}${card['activationCode']}"


# queryIccidInformation


@pytest.mark.parametrize("size", [1, 99, 100])
async def test_query_answers_in_input_order(raw: Raw, size: int) -> None:
    iccids = list(reversed(raw.sandbox.iccids[:size]))
    body = await raw.get("queryIccidInformation", iccids=iccids)
    assert [r["iccid"] for r in body["data"]] == iccids


async def test_query_refuses_more_than_100(raw: Raw) -> None:
    body = await raw.get("queryIccidInformation", iccids=raw.sandbox.iccids[:101])
    assert body["code"] == -3
    assert body["data"] == ""


async def test_query_leaves_unknown_iccids_out(raw: Raw) -> None:
    known = raw.sandbox.iccids[:3]
    unknown = ["8986000000000000000", "8986019999999999999", "123456789012"]
    asked = [known[0], unknown[0], known[1], unknown[1], unknown[2], known[2]]
    body = await raw.get("queryIccidInformation", iccids=asked)
    assert [r["iccid"] for r in body["data"]] == known


# The portfolio


def test_portfolio_iccids_are_distinct_valid_and_issuer_like() -> None:
    iccids = Sandbox(cards=1000, seed=0).iccids
    assert len(iccids) == len(set(iccids)) == 1000
    for iccid in iccids:
        assert len(iccid) == 19
        assert iccid.startswith("89")
        assert luhn_valid(iccid)
    assert sum(i.startswith("8986") for i in iccids) > 500


def test_portfolio_has_every_status_and_plausible_plans() -> None:
    sandbox = Sandbox(cards=1000, seed=0, today=TODAY)
    records = [sandbox.usage_record(i) for i in sandbox.iccids]
    assert all(r is not None for r in records)
    records_ = [r for r in records if r is not None]
    statuses = Counter(r["dpStatus"] for r in records_)
    assert set(statuses) == {"ACTIVE", "Enable", "Disable", "Delete"}
    ends = [_gmt8(r["endDate"]) for r in records_ if r["endDate"]]
    assert any(end < ANCHOR for end in ends)
    assert any(ANCHOR < end <= ANCHOR + timedelta(days=4) for end in ends)
    assert any(float(r["usedMB"]) > 0.9 * r["totalMB"] for r in records_)
    for r in records_:
        assert 0 <= float(r["usedMB"]) <= r["totalMB"]
        assert r["remainMB"] == pytest.approx(r["totalMB"] - float(r["usedMB"]))
        if r["dpStatus"] == "ACTIVE":
            assert _gmt8(r["startDate"]) < ANCHOR + timedelta(days=1)
    assert len({r["skuId"] for r in records_}) >= 3


def test_small_portfolios_still_have_every_status() -> None:
    sandbox = Sandbox(cards=6, seed=5)
    statuses = {sandbox.usage_record(i)["dpStatus"] for i in sandbox.iccids}  # type: ignore[index]
    assert statuses == {"ACTIVE", "Enable", "Disable", "Delete"}


def test_same_seed_same_portfolio_other_seed_another() -> None:
    first = Sandbox(cards=200, seed=7, today=TODAY)
    again = Sandbox(cards=200, seed=7, today=TODAY)
    other = Sandbox(cards=200, seed=8, today=TODAY)
    assert first.iccids == again.iccids
    records = [first.usage_record(i) for i in first.iccids]
    assert records == [again.usage_record(i) for i in again.iccids]
    assert not set(first.iccids) & set(other.iccids)
    assert other.usage_record(first.iccids[0]) is None


def test_warm_up_renders_the_same_records() -> None:
    cold = Sandbox(cards=50, seed=3, today=TODAY)
    warm = Sandbox(cards=50, seed=3, today=TODAY)
    warm.warm_up()
    assert [warm.usage_record(i) for i in warm.iccids] == [
        cold.usage_record(i) for i in cold.iccids
    ]


def test_cards_out_of_range_are_refused() -> None:
    with pytest.raises(ValueError, match="cards"):
        Sandbox(cards=-1)


def test_reprs_hold_no_secrets() -> None:
    sandbox = Sandbox(cards=3, password="hunter2-pw", secret_key="s3cr3t-key")
    for text in (repr(sandbox), repr(sandbox.app), repr(sandbox._settings)):
        assert "hunter2-pw" not in text
        assert "s3cr3t-key" not in text


# Orders, renewals, refunds


async def test_an_order_creates_cards_that_answer_every_query(raw: Raw) -> None:
    order = await raw.order(count=2, otherOrderId="shop-42", otherItemId="line-1")
    assert order["outerOrderid"] == "shop-42"
    assert order["outerItemId"] == "line-1"
    assert order["count"] == 2
    assert order["status"] == 0
    iccids = [card["iccid"] for card in order["cardApiDtoList"]]
    assert len(set(iccids)) == 2
    assert all(luhn_valid(i) for i in iccids)
    assert raw.sandbox.created_iccids == iccids
    records = (await raw.get("queryIccidInformation", iccids=iccids))["data"]
    assert [r["iccid"] for r in records] == iccids
    assert all(r["dpStatus"] == "Enable" and r["usedMB"] == "0.00" for r in records)
    detail = (await raw.get("getESIMDetail", iccid=iccids[0]))["data"]
    assert detail == records[0]
    history = (await raw.get("getHistoryDetail", iccid=iccids[1]))["data"]
    assert [h["orderNum"] for h in history] == [order["orderNum"]]
    info = (await raw.get("getOrderInfo", orderNum=order["orderNum"]))["data"]
    assert info == order
    assert raw.sandbox.stats.orders == 1
    assert raw.sandbox.stats.requests["addEsimOrder"] == 1


async def test_back_info_0_answers_the_order_number(raw: Raw) -> None:
    body = await raw.post("addEsimOrder", skuId=45, priceId=441, count=1)
    assert re.fullmatch(r"EP\d{16}", body["data"])
    info = await raw.get("getOrderInfo", orderNum=body["data"])
    assert info["data"]["cardApiDtoList"][0]["pdfUrl"] is None
    pdf = await raw.order(backInfo=2)
    assert pdf["cardApiDtoList"][0]["pdfUrl"].endswith(".pdf")


async def test_orders_take_from_the_balance(raw: Raw) -> None:
    await raw.order(skuId=45, priceId=442, count=3)  # 3 x 5.90
    balance = (await raw.get("getBalance"))["data"]["balance"]
    assert balance == "9982.30"
    assert raw.sandbox.balance == Decimal("9982.30")


async def test_an_order_beyond_the_balance_is_refused() -> None:
    sandbox = Sandbox(cards=1, balance="5.00")
    async with http_client(sandbox) as http:
        raw = Raw(sandbox, http)
        await raw.login()
        body = await raw.post("addEsimOrder", skuId=45, priceId=442, count=1)
    assert body["code"] == -3
    assert sandbox.balance == Decimal("5.00")
    assert sandbox.stats.orders == 0


async def test_unknown_orders_are_code_3(raw: Raw) -> None:
    assert (await raw.get("getOrderInfo", orderNum="EP2025011599999999"))["code"] == 3
    body = await raw.post("refundOrder", orderNum="EP0", iccids="8986000000000000000")
    assert body["code"] == 3


async def test_unknown_package_is_refused(raw: Raw) -> None:
    body = await raw.post("addEsimOrder", skuId=45, priceId=261, count=1)
    assert body["code"] == -3


async def test_day_pass_and_must_date_packages(raw: Raw) -> None:
    assert (await raw.post("addEsimOrder", skuId=26, priceId=263, count=1))[
        "code"
    ] == -2
    order = await raw.order(skuId=26, priceId=263, daypassDays=5)
    assert order["price"] == "5.50"
    assert (await raw.post("addEsimOrder", skuId=123, priceId=1232, count=1))[
        "code"
    ] == -2
    dated = await raw.order(skuId=123, priceId=1232, beginDate="02/01/2025")
    assert dated["startDate"] == "2025-02-01"
    assert dated["endDate"] == "2025-02-16"


async def test_physical_sim_orders_need_dp_id_and_matching_iccids(raw: Raw) -> None:
    iccids = ["8944000000000000011", "8944000000000000029"]
    no_dp = await raw.post(
        "addEsimOrder", skuId=124, priceId=1241, count=2, iccids=iccids
    )
    assert no_dp["code"] == -10
    only_sku = await raw.post("addEsimOrder", skuId=124, priceId=1241, count=2)
    assert only_sku["code"] == -10
    mismatch = await raw.post(
        "addEsimOrder", skuId=124, priceId=1241, count=3, dpId=9, iccids=iccids
    )
    assert mismatch["code"] == -3
    order = await raw.order(skuId=124, priceId=1241, count=2, dpId=9, iccids=iccids)
    assert [c["iccid"] for c in order["cardApiDtoList"]] == iccids
    assert {c["dpId"] for c in order["cardApiDtoList"]} == {9}
    records = (await raw.get("queryIccidInformation", iccids=iccids))["data"]
    assert [r["iccid"] for r in records] == iccids
    again = await raw.post(
        "addEsimOrder", skuId=124, priceId=1241, count=2, dpId=9, iccids=iccids
    )
    assert again["code"] == -3  # ICCIDs already in use


async def test_a_renewal_adds_to_the_history(raw: Raw) -> None:
    order = await raw.order()
    iccid = order["cardApiDtoList"][0]["iccid"]
    body = await raw.post(
        "renewCard", skuId=45, priceId=443, iccid=iccid, backInfo=1, otherOrderId="r-1"
    )
    assert body["code"] == "0"
    renewal = body["data"]
    assert renewal["renew"] == 1
    assert renewal["mainOrderNum"] == order["orderNum"]
    assert renewal["outerOrderid"] == "r-1"
    history = (await raw.get("getHistoryDetail", iccid=iccid))["data"]
    assert [h["orderNum"] for h in history] == [order["orderNum"], renewal["orderNum"]]
    assert history[0]["renewOrderNum"] == [renewal["orderNum"]]
    (record,) = (await raw.get("queryIccidInformation", iccids=iccid))["data"]
    assert record["priceId"] == 443
    assert raw.sandbox.stats.renewals == 1
    assert raw.sandbox.balance == Decimal("10000.00") - Decimal("2.66") - Decimal(
        "15.50"
    )


async def test_renewals_of_portfolio_cards_by_order_and_api_code(raw: Raw) -> None:
    iccid = raw.sandbox.iccids[0]
    before = (await raw.get("getHistoryDetail", iccid=iccid))["data"]
    main = before[0]["orderNum"]
    sku = (await raw.get("queryIccidInformation", iccids=iccid))["data"][0]["skuId"]
    packages = (await raw.get("getIccidSupportPackageInfo", iccid=iccid))["data"]
    offer = next(p for p in packages if p["skuid"] == sku)
    package = offer["esimPackageVoList"][0]
    by_code = await raw.post(
        "renewCardByApiCode", apiCode=package["apiCode"], iccid=iccid, backInfo=1
    )
    assert by_code["code"] == "0", by_code
    if len(before) == 1:
        by_order = await raw.post(
            "renewCard", skuId=sku, priceId=package["priceid"], orderNum=main
        )
        assert by_order["code"] == "0", by_order
    after = (await raw.get("getHistoryDetail", iccid=iccid))["data"]
    assert len(after) == len(before) + (2 if len(before) == 1 else 1)
    assert all(h["mainOrderNum"] == main for h in after[1:])


async def test_non_renewable_packages_are_refused(raw: Raw) -> None:
    order = await raw.order()
    iccid = order["cardApiDtoList"][0]["iccid"]
    body = await raw.post("renewCard", skuId=156, priceId=1561, iccid=iccid)
    assert body["code"] == -3


async def test_refunds_change_the_order_status_and_credit_back(raw: Raw) -> None:
    order = await raw.order(count=2)
    num = order["orderNum"]
    first, second = (c["iccid"] for c in order["cardApiDtoList"])
    assert (await raw.post("refundOrder", orderNum=num, iccids=first))["data"] is None
    info = (await raw.get("getOrderInfo", orderNum=num))["data"]
    assert info["status"] == 4
    assert (await raw.post("refundOrder", orderNum=num, iccids=first))["code"] == 4
    await raw.post("refundOrder", orderNum=num, iccids=second)
    info = (await raw.get("getOrderInfo", orderNum=num))["data"]
    assert info["status"] == 2
    assert raw.sandbox.balance == Decimal("10000.00")
    (record,) = (await raw.get("queryIccidInformation", iccids=first))["data"]
    assert record["dpStatus"] == "Delete"
    assert raw.sandbox.stats.refunds == 2


async def test_cards_in_use_cannot_be_refunded(raw: Raw) -> None:
    iccid = next(
        i for i in raw.sandbox.iccids
        if raw.sandbox.usage_record(i)["dpStatus"] == "ACTIVE"  # type: ignore[index]
    )  # fmt: skip
    main = (await raw.get("getHistoryDetail", iccid=iccid))["data"][-1]["orderNum"]
    assert (await raw.post("refundOrder", orderNum=main, iccids=iccid))["code"] == 4


async def test_pdf_links_and_email(raw: Raw) -> None:
    order = await raw.order(count=2)
    iccids = [c["iccid"] for c in order["cardApiDtoList"]]
    body = await raw.post("handlerEsimPdf", type="link", orderId=order["orderNum"])
    assert body["code"] == "0"
    assert set(body["data"]) == set(iccids)
    email = await raw.post(
        "handlerEsimPdf", type="email", orderId=order["orderNum"], email="a@b.example"
    )
    assert email == {"code": "0", "message": email["message"], "data": None}
    stranger = await raw.post(
        "handlerEsimPdf", type="link", orderId=order["orderNum"], iccids="898600001"
    )
    assert stranger["code"] == 99


async def test_iccid_support_endpoints(raw: Raw) -> None:
    sandbox = raw.sandbox
    with_dp = next(i for i in sandbox.iccids if sandbox._portfolio.card(i).dp_id)  # type: ignore[union-attr]
    without = next(i for i in sandbox.iccids if not sandbox._portfolio.card(i).dp_id)  # type: ignore[union-attr]
    skus = await raw.get("getIccidSupportSku", iccid=with_dp)
    assert skus["code"] == 0
    assert skus["data"]
    offers = (await raw.get("getIccidSupportPackageInfo", iccid=with_dp))["data"]
    assert all(p["flowType"] == 0 for o in offers for p in o["esimPackageVoList"])
    assert (await raw.get("getIccidSupportPackageInfo", iccid=without))["code"] == -10
    assert (await raw.get("getIccidSupportSku", iccid="8986000000000000000"))[
        "code"
    ] == -3


async def test_esim_detail_obeys_the_ip_whitelist(sandbox: Sandbox) -> None:
    async with http_client(sandbox, client=("203.0.113.7", 40000)) as http:
        raw = Raw(sandbox, http)
        await raw.login()
        body = await raw.get("getESIMDetail", iccid=sandbox.iccids[0])
        assert body["code"] not in (0, "0", -1)
        assert "whitelist" in body["message"].lower()
        assert body["data"] == ""
        assert (await raw.get("queryIccidInformation", iccids=sandbox.iccids[0]))[
            "code"
        ] == 0
    anyone = Sandbox(cards=1, ip_whitelist=None)
    async with http_client(anyone, client=("203.0.113.7", 40000)) as http:
        raw = Raw(anyone, http)
        await raw.login()
        assert (await raw.get("getESIMDetail", iccid=anyone.iccids[0]))["code"] == 0


async def test_unknown_iccid_on_single_card_endpoints(raw: Raw) -> None:
    for endpoint in ("getESIMDetail", "getHistoryDetail"):
        body = await raw.get(endpoint, iccid="8986000000000000000")
        assert body["code"] == -3


# Faults


async def test_server_errors_switch_on_and_off_at_runtime(raw: Raw) -> None:
    raw.sandbox.faults = Faults(error_rate=1.0, error_status=502)
    response = await raw.http.get("/api_esim/getBalance", params=raw.signed({}))
    assert response.status_code == 502
    refused = await raw.http.post(
        "/api_esim/addEsimOrder",
        data=raw.signed({"skuId": 45, "priceId": 441, "count": 1}),
    )
    assert refused.status_code == 502
    assert raw.sandbox.stats.orders == 0  # refused before taking effect
    raw.sandbox.faults = Faults()
    assert (await raw.get("getBalance"))["code"] == 0
    assert raw.sandbox.stats.faults["server_error"] == 2


async def test_rate_limits_carry_retry_after(raw: Raw) -> None:
    raw.sandbox.faults = Faults(rate_limit_rate=1.0, retry_after=0.25)
    response = await raw.http.get("/api_esim/getBalance", params=raw.signed({}))
    assert response.status_code == 429
    assert response.headers["retry-after"] == "0.25"
    raw.sandbox.faults = Faults(rate_limit_rate=1.0, retry_after=3)
    response = await raw.http.get("/api_esim/getBalance", params=raw.signed({}))
    assert response.headers["retry-after"] == "3"


async def test_faults_can_target_endpoints(raw: Raw) -> None:
    raw.sandbox.faults = Faults(error_rate=1.0, endpoints={"queryIccidInformation"})
    assert (await raw.get("getBalance"))["code"] == 0
    response = await raw.http.get(
        "/api_esim/queryIccidInformation",
        params=raw.signed({"iccids": raw.sandbox.iccids[0]}),
    )
    assert response.status_code == 503


async def test_malformed_bodies_are_not_json(raw: Raw) -> None:
    raw.sandbox.faults = Faults(malformed_rate=1.0)
    response = await raw.http.get("/api_esim/getBalance", params=raw.signed({}))
    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        response.json()


async def test_disconnects_cut_the_answer_after_the_order_was_placed(
    raw: Raw,
) -> None:
    raw.sandbox.faults = Faults(disconnect_rate=1.0)
    form = raw.signed({"skuId": 45, "priceId": 441, "count": 1})
    with pytest.raises(httpx.RemoteProtocolError):
        await raw.http.post("/api_esim/addEsimOrder", data=form)
    assert raw.sandbox.stats.orders == 1
    assert raw.sandbox.stats.requests["addEsimOrder"] == 1


async def test_slow_orders_are_placed_before_the_wait(raw: Raw) -> None:
    raw.sandbox.faults = Faults(order_delay=30)
    form = raw.signed({"skuId": 45, "priceId": 441, "count": 1})
    with anyio.move_on_after(0.05) as scope:
        await raw.http.post("/api_esim/addEsimOrder", data=form)
    assert scope.cancelled_caught
    assert raw.sandbox.stats.orders == 1
    assert (await raw.get("getBalance"))["code"] == 0  # reads are not slowed


async def test_latency_delays_answers(raw: Raw) -> None:
    raw.sandbox.faults = Faults(latency=0.05, jitter=0.01)
    started = anyio.current_time()
    await raw.get("getBalance")
    assert anyio.current_time() - started >= 0.05
    assert raw.sandbox.stats.faults["latency"] == 1


async def test_dropped_records_are_deterministic(raw: Raw) -> None:
    iccids = raw.sandbox.iccids[:100]
    raw.sandbox.faults = Faults(drop_rate=0.3, seed=11)
    first = await raw.get("queryIccidInformation", iccids=iccids)
    kept = [r["iccid"] for r in first["data"]]
    assert 40 < len(kept) < 95
    assert kept == [i for i in iccids if i in set(kept)]  # order kept
    raw.sandbox.faults = Faults(drop_rate=0.3, seed=11)  # restarts the draws
    again = await raw.get("queryIccidInformation", iccids=iccids)
    assert [r["iccid"] for r in again["data"]] == kept
    assert raw.sandbox.stats.faults["dropped_record"] == 2 * (100 - len(kept))
    raw.sandbox.faults = Faults(drop_rate=1.0)
    assert (await raw.get("queryIccidInformation", iccids=iccids))["data"] == []


async def test_fault_draws_ignore_token_changes_and_repeat_per_attempt(
    sandbox: Sandbox,
) -> None:
    async def outcomes() -> list[int]:
        sandbox.faults = Faults(error_rate=0.5, seed=3)
        async with http_client(sandbox) as http:
            raw = Raw(sandbox, http)
            await raw.login()
            statuses = []
            for _ in range(12):
                response = await http.get("/api_esim/getSkus", params=raw.signed({}))
                statuses.append(response.status_code)
            return statuses

    first = await outcomes()
    assert set(first) == {200, 503}
    assert await outcomes() == first


async def test_poisoned_iccids_fail_any_query_containing_them(raw: Raw) -> None:
    iccids = raw.sandbox.iccids[:10]
    raw.sandbox.faults = Faults(poisoned={iccids[3]})
    body = await raw.get("queryIccidInformation", iccids=iccids)
    assert body == {"code": -8, "message": "query failed", "data": ""}
    left = await raw.get("queryIccidInformation", iccids=iccids[:3])
    right = await raw.get("queryIccidInformation", iccids=iccids[4:])
    assert len(left["data"]) + len(right["data"]) == 9
    raw.sandbox.faults = Faults(poisoned={iccids[3]}, poison_code=-3)
    assert (await raw.get("queryIccidInformation", iccids=iccids[3]))["code"] == -3
    assert raw.sandbox.stats.faults["poisoned"] == 2


@pytest.mark.parametrize(
    "bad",
    [
        {"error_rate": 1.5},
        {"drop_rate": -0.1},
        {"latency": -1.0},
    ],
)
def test_faults_validate_their_values(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=next(iter(bad))):
        Faults(**bad)


async def test_stats_count_requests_by_endpoint(raw: Raw) -> None:
    await raw.get("getSkus")
    await raw.get("getSkus")
    await raw.http.get("/api_esim/addEsimOrder")  # refused, still counted
    stats = raw.sandbox.stats
    assert stats.requests == Counter({"login": 1, "getSkus": 2, "addEsimOrder": 1})
    assert stats.total == 4
    stats.reset()
    assert stats.total == 0


# Serving over a real socket


async def test_serve_over_loopback_http(sandbox: Sandbox) -> None:
    async with (
        sandbox.serve(port=0) as base_url,
        httpx.AsyncClient(base_url=base_url) as http,
    ):
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", base_url)
        raw = Raw(sandbox, http)
        await raw.login()
        body = await raw.get("queryIccidInformation", iccids=sandbox.iccids[:100])
        assert len(body["data"]) == 100
        detail = await raw.get("getESIMDetail", iccid=sandbox.iccids[0])
        assert detail["code"] == 0  # loopback is whitelisted
        order = await raw.order()
        assert order["cardApiDtoList"]
        sandbox.faults = Faults(disconnect_rate=1.0)
        with pytest.raises(httpx.RemoteProtocolError):
            await http.get("/api_esim/getBalance", params=raw.signed({}))
        sandbox.faults = Faults(rate_limit_rate=1.0, retry_after=1)
        limited = await http.get("/api_esim/getBalance", params=raw.signed({}))
        assert limited.status_code == 429
    with pytest.raises(httpx.ConnectError):
        async with httpx.AsyncClient() as http:
            await http.get(f"{base_url}/api_esim/getSkus")


def _gmt8(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=GMT8)


# Refusals, one situation each


def _status_card(sandbox: Sandbox, status: str) -> str:
    return next(
        i for i in sandbox.iccids
        if sandbox.usage_record(i)["dpStatus"] == status  # type: ignore[index]
    )  # fmt: skip


async def test_order_refusals(raw: Raw) -> None:
    cases: list[tuple[dict[str, Any], int]] = [
        ({"skuId": 999, "priceId": 1, "count": 1}, -3),
        ({"skuId": 45, "priceId": 441, "count": 0}, -3),
        ({"skuId": 45, "priceId": 441, "count": 1, "backInfo": 7}, -3),
        ({"skuId": 26, "priceId": 263, "count": 1, "daypassDays": 99}, -3),
        ({"skuId": 123, "priceId": 1232, "count": 1, "beginDate": "2025-02-01"}, -3),
        ({"skuId": 124, "priceId": 1241, "count": 1, "dpId": 9}, -2),
        ({"skuId": 124, "priceId": 1241, "count": 1, "dpId": 12, "iccids": "8944"}, -3),
        ({"skuId": 124, "priceId": 1241, "count": 1, "dpId": 9, "iccids": "12ab"}, -3),
    ]
    for params, code in cases:
        body = await raw.post("addEsimOrder", **params)
        assert body["code"] == code, (params, body)
        assert body["data"] == ""
    assert (await raw.get("getPackages", skuId=999))["code"] == -3
    assert raw.sandbox.stats.orders == 0
    assert raw.sandbox.balance == Decimal("10000.00")


async def test_renewal_refusals_and_renewal_by_order_number(raw: Raw) -> None:
    single = await raw.order()
    double = await raw.order(count=2)
    renew = {"skuId": 45, "priceId": 442}
    assert (await raw.post("renewCard", **renew))["code"] == -2
    unknown = await raw.post("renewCard", **renew, iccid="8986000000000000000")
    assert unknown["code"] == -3
    assert (await raw.post("renewCard", **renew, orderNum="EP0"))["code"] == 3
    several = await raw.post("renewCard", **renew, orderNum=double["orderNum"])
    assert several["code"] == -3
    deleted = _status_card(raw.sandbox, "Delete")
    assert (await raw.post("renewCard", **renew, iccid=deleted))["code"] == 4
    assert (await raw.post("renewCardByApiCode", apiCode="nope", iccid=deleted))[
        "code"
    ] == -3
    by_order = await raw.post("renewCard", **renew, orderNum=single["orderNum"])
    assert re.fullmatch(r"EP\d{16}", by_order["data"])
    day_pass = await raw.post(
        "renewCardByApiCode", apiCode="392-0-?-500-M-D", orderNum=single["orderNum"]
    )
    assert day_pass["code"] == "0"


async def test_renewing_an_expired_card_reactivates_it(raw: Raw) -> None:
    expired = _status_card(raw.sandbox, "Disable")
    sku = raw.sandbox.usage_record(expired)["skuId"]  # type: ignore[index]
    packages = (await raw.get("getPackages", skuId=sku))["data"]["esimPackageDtoList"]
    package = next(p for p in packages if p["flowType"] == 0)
    body = await raw.post(
        "renewCard", skuId=sku, priceId=package["priceid"], iccid=expired, daypassDays=2
    )
    assert body["code"] == "0", body
    assert raw.sandbox.usage_record(expired)["dpStatus"] == "ACTIVE"  # type: ignore[index]


async def test_refund_and_pdf_refusals(raw: Raw) -> None:
    order = await raw.order()
    num, iccid = order["orderNum"], order["cardApiDtoList"][0]["iccid"]
    stranger = raw.sandbox.iccids[0]
    assert (await raw.post("refundOrder", orderNum=num, iccids=stranger))["code"] == 3
    pdf = {"orderId": num}
    assert (await raw.post("handlerEsimPdf", type="fax", **pdf))["code"] == -3
    assert (await raw.post("handlerEsimPdf", type="link", orderId="EP0"))["code"] == 3
    email = await raw.post("handlerEsimPdf", type="email", email="nowhere", **pdf)
    assert email["code"] == 99
    assert (await raw.post("handlerEsimPdf", type="email", **pdf))["code"] == -2
    await raw.post("refundOrder", orderNum=num, iccids=iccid)
    assert (await raw.post("handlerEsimPdf", type="link", **pdf))["code"] == 4


async def test_deleted_cards_cannot_be_renewed_with_anything(raw: Raw) -> None:
    deleted = _status_card(raw.sandbox, "Delete")
    assert (await raw.get("getIccidSupportSku", iccid=deleted))["data"] == []


async def test_post_without_content_type_brings_no_parameters(raw: Raw) -> None:
    form = raw.signed({"skuId": 45, "priceId": 441, "count": 1})
    response = await raw.http.post(
        "/api_esim/addEsimOrder",
        content=httpx.QueryParams(form).__str__().encode(),
        headers={"content-type": ""},
    )
    assert response.json()["code"] == -30


async def test_lifespan_and_other_scopes(sandbox: Sandbox) -> None:
    sent: list[MutableMapping[str, Any]] = []
    incoming = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])

    async def receive() -> MutableMapping[str, Any]:
        return next(incoming)

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    await sandbox.app({"type": "lifespan"}, receive, send)
    assert [m["type"] for m in sent] == [
        "lifespan.startup.complete",
        "lifespan.shutdown.complete",
    ]
    await sandbox.app({"type": "websocket"}, receive, send)
    assert len(sent) == 2


async def test_an_aborted_body_is_read_as_empty(sandbox: Sandbox) -> None:
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> MutableMapping[str, Any]:
        return {"type": "http.disconnect"}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/api_order/login",
        "query_string": b"",
        "headers": [(b"content-type", b"application/x-www-form-urlencoded")],
    }
    await sandbox.app(scope, receive, send)
    assert json.loads(sent[1]["body"])["code"] == -30


def test_the_record_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    from mioesim_async.sandbox import _portfolio

    monkeypatch.setattr(_portfolio, "_FRAGMENT_CACHE", 5)
    sandbox = Sandbox(cards=20, seed=0, today=TODAY)
    sandbox.warm_up()
    assert len(sandbox._portfolio._fragments) <= 5
    assert sandbox.usage_record(sandbox.iccids[0]) == Sandbox(
        cards=20, seed=0, today=TODAY
    ).usage_record(sandbox.iccids[0])


def test_settings_are_readable() -> None:
    sandbox = Sandbox(cards=2, seed=9, faults=Faults(latency=0.5))
    assert sandbox.seed == 9
    assert sandbox.faults == Faults(latency=0.5)
    assert sandbox.phone_number == "13800000000"
    assert sandbox.password == "mypassword"
    assert sandbox.secret_key == "1234567890qwertyuiopasdfghjklzxc"
    assert sandbox.signature_style is SignatureStyle.PLAIN


def test_run_serves_in_this_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    seen: list[tuple[str, int]] = []

    def fake_run(self: uvicorn.Server, sockets: object = None) -> None:
        seen.append((self.config.host, self.config.port))

    monkeypatch.setattr(uvicorn.Server, "run", fake_run)
    Sandbox(cards=1).run(port=8765)
    assert seen == [("127.0.0.1", 8765)]


async def test_serve_refuses_a_port_in_use(sandbox: Sandbox) -> None:
    async with sandbox.serve() as base_url:
        port = int(base_url.rsplit(":", 1)[1])
        with pytest.raises(OSError, match="in use"):
            async with sandbox.serve(port=port):
                pass  # pragma: no cover


async def test_new_esims_skip_iccids_physical_orders_took(raw: Raw) -> None:
    twin = Sandbox(cards=300, seed=0, today=TODAY)
    async with http_client(twin) as http:
        twin_raw = Raw(twin, http)
        await twin_raw.login()
        upcoming = (await twin_raw.order())["cardApiDtoList"][0]["iccid"]
    await raw.order(skuId=123, priceId=1231, dpId=9, iccids=upcoming)
    esim = (await raw.order())["cardApiDtoList"][0]["iccid"]
    assert esim != upcoming
    assert raw.sandbox.created_iccids == [upcoming, esim]
