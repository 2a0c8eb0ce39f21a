from __future__ import annotations

import hashlib
import logging
import ssl
from collections.abc import AsyncIterator
from datetime import date
from decimal import Decimal
from urllib.parse import parse_qsl

import anyio
import httpx
import pytest
import respx

import mioesim_async as mio

pytestmark = pytest.mark.anyio

BASE = "https://bpm.example"
SECRET = "1234567890qwertyuiopasdfghjklzxc"
TOKEN = "29281-9EFE5E410BEF5300DD15E3830BD65601"
ICCID = "934801019851134300"
ICCID2 = "9000024041590216"

ORDER = {
    "orderNum": "EP20240124000013",
    "display": "Australia",
    "purchaseDate": "2024-01-24(GMT+8)",
    "count": 1,
    "price": "9.89",
    "status": 0,
    "renewal": True,
    "mainOrderNum": None,
    "startDate": None,
    "endDate": None,
    "outerOrderid": "shop-1",
    "outerItemId": "",
    "renew": 0,
    "priceId": 9726,
    "renewOrderNum": [],
    "cardApiDtoList": [
        {
            "data": "6GB",
            "validity": 8,
            "sm_dp_address": "ais.prod.ondemandconnectivity.com",
            "activationCode": "SEW7JEBMFGPRVSPD",
            "mobileNumber": "0841823354",
            "iccid": ICCID,
            "activateBefore": "2024-02-24(GMT+8)",
            "code": "LPA:1$ais.prod.ondemandconnectivity.com$SEW7JEBMFGPRVSPD",
            "usedMB": "0.0",
            "startDate": None,
            "endDate": None,
            "pdfUrl": None,
            "dpId": 9,
            "dpStatus": None,
            "eid": None,
            "apn": "plus",
        }
    ],
}
PACKAGES = {
    "skuid": 45,
    "detailId": None,
    "countrycode": "40",
    "display": "奥地利",
    "displayEn": "Austria",
    "esimPackageDtoList": [
        {
            "flows": 1,
            "days": 3,
            "unit": "GB",
            "price": 2.66,
            "priceid": 441,
            "flowType": 0,
            "supportDaypass": 0,
            "minDay": 3,
            "maxDay": 30,
            "mustDate": 0,
            "expireDays": 0,
            "apiCode": "40-0-3-1-G",
            "premark": "Plan type: Data only<br>",
            "networkDtoList": [
                {
                    "type": "LTE",
                    "operator": "A1.net",
                    "namecn": "奥地利",
                    "nameen": "Austria",
                }
            ],
        }
    ],
    "supportCountry": ["Austria"],
    "expirydate": None,
}
USAGE = {
    "iccid": ICCID,
    "dpStatus": "ACTIVE",
    "usedMB": "512.5",
    "totalMB": 1024,
    "startDate": "2024-01-24 10:00:00",
    "endDate": "2024-02-24 10:00:00",
}
SKUS = [
    {"skuid": 156, "display": "Africa", "countryCode": "99918"},
    {"skuid": 26, "display": "Japan", "countryCode": 392},
]


def ok(data: object, code: object = "0") -> httpx.Response:
    return httpx.Response(200, json={"code": code, "message": "success", "data": data})


def params_of(request: httpx.Request) -> dict[str, str]:
    if request.method == "GET":
        return dict(request.url.params)
    return dict(parse_qsl(request.content.decode()))


def reference_sign(params: dict[str, str]) -> str:
    """The PLAIN signature, computed independently of the library."""
    pairs = sorted(f"{k}={v}" for k, v in params.items() if k != "sign")
    return hashlib.md5(("".join(pairs) + SECRET).encode()).hexdigest()  # noqa: S324 - the API's scheme


def assert_signed(request: httpx.Request, token: str | None = TOKEN) -> dict[str, str]:
    """The request is signed correctly; returns its other parameters."""
    params = params_of(request)
    assert params.pop("sign") == reference_sign({**params})
    assert params.pop("token", None) == token
    return params


@pytest.fixture
def api() -> respx.MockRouter:
    router = respx.mock(base_url=BASE, assert_all_called=False)
    router.post("/api_order/login").mock(return_value=ok({"token": TOKEN}, 1))
    return router


@pytest.fixture
async def client(api: respx.MockRouter) -> AsyncIterator[mio.Client]:
    async with mio.Client(
        phone_number="13800000000",
        password="mypassword",
        secret_key=SECRET,
        base_url=BASE,
        transport=httpx.MockTransport(api.async_handler),
    ) as client:
        yield client


class TestReads:
    """Every read: GET, its path, its parameters, a correct sign, a model."""

    async def call(self, api, client, path, data, method, *args):
        route = api.get(f"/api_esim/{path}").mock(return_value=ok(data))
        result = await getattr(client, method)(*args)
        assert route.call_count == 1
        return result, assert_signed(route.calls.last.request)

    async def test_get_skus(self, api, client):
        skus, params = await self.call(api, client, "getSkus", SKUS, "get_skus")
        assert params == {}
        assert skus[1] == mio.Sku(sku_id=26, display="Japan", country_code="392")

    async def test_get_sku_by_group(self, api, client):
        groups = {"continent": ["Asia"], "data": {"Asia": SKUS[1:]}}
        result, params = await self.call(
            api, client, "getSkuByGroup", groups, "get_sku_by_group"
        )
        assert params == {}
        assert list(result) == ["Asia"]
        assert result["Asia"][0].sku_id == 26

    async def test_get_dp_support_sku_info(self, api, client):
        result, params = await self.call(
            api, client, "getDpSupportSkuInfo", SKUS, "get_dp_support_sku_info", 9
        )
        assert params == {"dpId": "9"}
        assert [sku.sku_id for sku in result] == [156, 26]

    async def test_get_packages(self, api, client):
        result, params = await self.call(
            api, client, "getPackages", PACKAGES, "get_packages", 45
        )
        assert params == {"skuId": "45"}
        assert result.country_code == "40"
        package = result.packages[0]
        assert (package.price_id, package.price, package.renewable) == (
            441,
            Decimal("2.66"),
            True,
        )
        assert package.networks[0].operator == "A1.net"

    async def test_get_order_info(self, api, client):
        order, params = await self.call(
            api, client, "getOrderInfo", ORDER, "get_order_info", "EP20240124000013"
        )
        assert params == {"orderNum": "EP20240124000013"}
        assert order.status is mio.OrderStatus.PAID
        assert order.cards[0].lpa.startswith("LPA:1$")

    async def test_get_balance(self, api, client):
        balance, params = await self.call(
            api,
            client,
            "getBalance",
            {"balance": "628.49", "currency": "USD"},
            "get_balance",
        )
        assert params == {}
        assert balance == mio.Balance(balance=Decimal("628.49"), currency="USD")

    async def test_get_iccid_support_sku(self, api, client):
        result, params = await self.call(
            api, client, "getIccidSupportSku", SKUS, "get_iccid_support_sku", ICCID
        )
        assert params == {"iccid": ICCID}
        assert len(result) == 2

    async def test_get_iccid_support_package_info(self, api, client):
        item = {"skuid": 45, "display": "Austria", "esimPackageVoList": PACKAGES[
            "esimPackageDtoList"]}  # fmt: skip
        result, params = await self.call(
            api,
            client,
            "getIccidSupportPackageInfo",
            [item],
            "get_iccid_support_package_info",
            f" {ICCID} ",
        )
        assert params == {"iccid": ICCID}
        assert result[0].packages[0].api_code == "40-0-3-1-G"

    async def test_get_esim_detail(self, api, client):
        usage, params = await self.call(
            api, client, "getESIMDetail", USAGE, "get_esim_detail", ICCID
        )
        assert params == {"iccid": ICCID}
        assert usage.status is mio.CardStatus.ACTIVE
        assert usage.remain_mb == 511.5

    async def test_query_iccid_information(self, api, client):
        records = [USAGE, {**USAGE, "iccid": ICCID2, "dpStatus": "Disable"}]
        result, params = await self.call(
            api,
            client,
            "queryIccidInformation",
            records,
            "query_iccid_information",
            [ICCID, ICCID2],
        )
        assert params == {"iccids": f"{ICCID},{ICCID2}"}
        assert [r.status for r in result] == [
            mio.CardStatus.ACTIVE,
            mio.CardStatus.DISABLE,
        ]

    async def test_get_history_detail(self, api, client):
        result, params = await self.call(
            api, client, "getHistoryDetail", [ORDER], "get_history_detail", ICCID
        )
        assert params == {"iccid": ICCID}
        assert result[0].order_num == "EP20240124000013"


class TestWrites:
    """Every write: POST form, its parameters, a correct sign, a model."""

    async def test_add_esim_order(self, api, client):
        route = api.post("/api_esim/addEsimOrder").mock(return_value=ok(ORDER))
        order = await client.add_esim_order(
            45,
            441,
            customer_email="user@example.com",
            send_email=True,
            pdf_language="en-US",
            begin_date=date(2024, 3, 1),
            other_order_id="shop-1",
            remark="",
        )
        params = assert_signed(route.calls.last.request)
        assert params == {
            "skuId": "45",
            "priceId": "441",
            "count": "1",
            "backInfo": "1",
            "customerEmail": "user@example.com",
            "isSendEmail": "1",
            "pdfLanguage": "en-US",
            "beginDate": "03/01/2024",
            "otherOrderId": "shop-1",
        }
        assert order.other_order_id == "shop-1"
        assert order.cards[0].iccid == ICCID

    async def test_add_esim_order_generates_other_order_id(self, api, client):
        route = api.post("/api_esim/addEsimOrder").mock(return_value=ok("EP1"))
        order = await client.add_esim_order(45, 441, count=2)
        sent = params_of(route.calls.last.request)["otherOrderId"]
        assert sent.startswith("mio-")
        assert len(sent) > 20
        assert order == mio.Order(order_num="EP1")

    async def test_physical_order(self, api, client):
        route = api.post("/api_esim/addEsimOrder").mock(return_value=ok(ORDER))
        await client.add_esim_order(45, 441, 2, dp_id=9, iccids=[ICCID, ICCID2])
        params = params_of(route.calls.last.request)
        assert (params["dpId"], params["iccids"]) == ("9", f"{ICCID},{ICCID2}")

    @pytest.mark.parametrize(
        ("kwargs", "message"),
        [
            ({"dp_id": 9}, "both dp_id and iccids"),
            ({"iccids": [ICCID]}, "both dp_id and iccids"),
            ({"dp_id": 9, "iccids": [ICCID]}, "needs 2 ICCIDs, got 1"),
            ({"dp_id": 9, "iccids": [ICCID, "x"]}, "invalid ICCID 'x' at position 1"),
        ],
    )
    async def test_physical_order_checked_before_sending(
        self, api, client, kwargs, message
    ):
        route = api.post("/api_esim/addEsimOrder").mock(return_value=ok(ORDER))
        with pytest.raises(ValueError, match=message):
            await client.add_esim_order(45, 441, 2, **kwargs)
        assert not route.called

    async def test_renew_card(self, api, client):
        route = api.post("/api_esim/renewCard").mock(return_value=ok(ORDER))
        await client.renew_card(45, 441, iccid=ICCID, other_order_id="r-1")
        params = assert_signed(route.calls.last.request)
        assert params == {
            "skuId": "45",
            "priceId": "441",
            "iccid": ICCID,
            "backInfo": "1",
            "otherOrderId": "r-1",
        }

    async def test_renew_card_by_api_code(self, api, client):
        route = api.post("/api_esim/renewCardByApiCode").mock(return_value=ok(ORDER))
        await client.renew_card_by_api_code("40-0-3-1-G", order_num="EP1")
        params = assert_signed(route.calls.last.request)
        assert params["apiCode"] == "40-0-3-1-G"
        assert params["orderNum"] == "EP1"
        assert "iccid" not in params

    @pytest.mark.parametrize("cards", [{}, {"iccid": ICCID, "order_num": "EP1"}])
    async def test_renewal_needs_exactly_one_card(self, api, client, cards):
        with pytest.raises(ValueError, match="exactly one of iccid and order_num"):
            await client.renew_card(45, 441, **cards)

    async def test_refund_order(self, api, client):
        route = api.post("/api_esim/refundOrder").mock(return_value=ok(None))
        assert await client.refund_order("EP1", [ICCID, ICCID2]) is None
        params = assert_signed(route.calls.last.request)
        assert params == {"orderNum": "EP1", "iccids": f"{ICCID},{ICCID2}"}

    async def test_refund_needs_iccids(self, client):
        with pytest.raises(ValueError, match="at least one ICCID"):
            await client.refund_order("EP1", [])

    async def test_get_pdf_links(self, api, client):
        links = {ICCID: "http://img.example/a.pdf", ICCID2: "http://img.example/b.pdf"}
        route = api.post("/api_esim/handlerEsimPdf").mock(return_value=ok(links))
        assert await client.get_pdf_links("EP1") == links
        params = assert_signed(route.calls.last.request)
        assert params == {"type": "link", "orderId": "EP1"}

    async def test_send_pdf_email(self, api, client):
        route = api.post("/api_esim/handlerEsimPdf").mock(return_value=ok(None))
        await client.send_pdf_email("EP1", "a@b.c", iccids=[ICCID], save_email=True)
        params = assert_signed(route.calls.last.request)
        assert params == {
            "type": "email",
            "orderId": "EP1",
            "email": "a@b.c",
            "iccids": ICCID,
            "saveType": "1",
        }

    async def test_order_timeout_is_sent_once(self, api, client, sleeps):
        """An order that times out is never re-sent, and says how to reconcile."""
        route = api.post("/api_esim/addEsimOrder").mock(
            side_effect=httpx.ReadTimeout("slow")
        )
        with pytest.raises(mio.OrderOutcomeUnknownError) as info:
            await client.add_esim_order(45, 441, other_order_id="shop-9")
        assert route.call_count == 1
        assert info.value.other_order_id == "shop-9"
        assert sleeps == []

    async def test_refund_5xx_outcome_unknown(self, api, client):
        api.post("/api_esim/refundOrder").mock(return_value=httpx.Response(502))
        with pytest.raises(mio.OrderOutcomeUnknownError) as info:
            await client.refund_order("EP1", [ICCID])
        assert info.value.other_order_id is None


class TestBatchArguments:
    @pytest.mark.parametrize("count", [0, 101])
    async def test_one_request_takes_1_to_100(self, api, client, count):
        iccids = [f"{n:019d}" for n in range(count)]
        with pytest.raises(ValueError, match=f"got {count}"):
            await client.query_iccid_information(iccids)

    async def test_100_is_fine(self, api, client):
        route = api.get("/api_esim/queryIccidInformation").mock(return_value=ok([]))
        await client.query_iccid_information([f"{n:019d}" for n in range(100)])
        assert params_of(route.calls.last.request)["iccids"].count(",") == 99

    async def test_invalid_iccid_is_refused_before_sending(self, api, client):
        route = api.get("/api_esim/queryIccidInformation").mock(return_value=ok([]))
        with pytest.raises(mio.InvalidICCIDError) as info:
            await client.query_iccid_information([ICCID, ICCID2, "12AB"])
        assert (info.value.value, info.value.position) == ("12AB", 2)
        assert not route.called

    async def test_strict_iccid(self, api):
        async with mio.Client(
            token=TOKEN,
            secret_key=SECRET,
            base_url=BASE,
            strict_iccid=True,
            transport=httpx.MockTransport(api.async_handler),
        ) as client:
            with pytest.raises(mio.InvalidICCIDError, match="Luhn"):
                await client.get_esim_detail("89860012345678901237")


class TestSession:
    async def test_login_is_lazy_and_form_posted(self, api):
        """async with sends nothing; the first call logs in with a form POST."""
        login = api.routes[0]
        balance = api.get("/api_esim/getBalance").mock(
            return_value=ok({"balance": "1", "currency": "USD"})
        )
        async with mio.Client(
            phone_number="13800000000",
            password="mypassword",
            secret_key=SECRET,
            base_url=BASE,
            transport=httpx.MockTransport(api.async_handler),
        ) as client:
            assert not login.called
            await client.get_balance()
            await client.get_balance()
        assert login.call_count == 1
        request = login.calls.last.request
        assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
        assert assert_signed(request, token=None) == {
            "phonenumber": "13800000000",
            "password": "mypassword",
        }
        assert_signed(balance.calls.last.request)

    async def test_login_by_query(self, api):
        route = api.get("/api_order/login").mock(return_value=ok({"token": TOKEN}, 1))
        async with mio.Client(
            phone_number="13800000000",
            password="mypassword",
            secret_key=SECRET,
            base_url=BASE,
            login_method="query",
            transport=httpx.MockTransport(api.async_handler),
        ) as client:
            assert await client.login() == TOKEN
        assert assert_signed(route.calls.last.request, token=None)["password"]

    async def test_twenty_concurrent_first_calls_one_login(self, api, client):
        api.get("/api_esim/getSkus").mock(return_value=ok(SKUS))
        async with anyio.create_task_group() as tg:
            for _ in range(20):
                tg.start_soon(client.get_skus)
        assert api.routes[0].call_count == 1

    async def test_relogin_once_on_minus_1(self, api, client):
        """An expired token is replaced and the call repeated once."""
        api.routes[0].mock(
            side_effect=[ok({"token": "old-token"}, 1), ok({"token": TOKEN}, 1)]
        )
        route = api.get("/api_esim/getSkus").mock(side_effect=[ok("", -1), ok(SKUS)])
        assert len(await client.get_skus()) == 2
        assert api.routes[0].call_count == 2
        tokens = [params_of(call.request)["token"] for call in route.calls]
        assert tokens == ["old-token", TOKEN]

    async def test_second_minus_1_is_an_authentication_error(self, api, client):
        """No loop: the repeated call's -1 is raised."""
        route = api.get("/api_esim/getSkus").mock(return_value=ok("", -1))
        with pytest.raises(mio.AuthenticationError) as info:
            await client.get_skus()
        assert info.value.code == -1
        assert route.call_count == 2
        assert api.routes[0].call_count == 2

    @pytest.mark.parametrize(
        ("code", "error"),
        [
            (-1, mio.AuthenticationError),
            (-2, mio.InvalidRequestError),
            (-3, mio.PermissionDeniedError),
            (-30, mio.SignatureError),
        ],
    )
    async def test_login_errors(self, api, client, code, error):
        api.routes[0].mock(return_value=ok("", code))
        with pytest.raises(error) as info:
            await client.get_balance()
        assert info.value.endpoint == "login"

    async def test_login_answer_without_token(self, api, client):
        api.routes[0].mock(return_value=ok({}, 1))
        with pytest.raises(mio.UnexpectedResponseError, match="no token"):
            await client.get_balance()

    async def test_ready_token_skips_login(self, api):
        route = api.get("/api_esim/getSkus").mock(return_value=ok(SKUS))
        async with mio.Client(
            token="ready", secret_key=SECRET, base_url=BASE,
            transport=httpx.MockTransport(api.async_handler),
        ) as client:  # fmt: skip
            await client.get_skus()
            with pytest.raises(ValueError, match="phone_number and password"):
                await client.login()
        assert not api.routes[0].called
        assert assert_signed(route.calls.last.request, token="ready") == {}

    async def test_ready_token_refused(self, api):
        api.get("/api_esim/getSkus").mock(return_value=ok("", -1))
        async with mio.Client(
            token="ready", secret_key=SECRET, base_url=BASE,
            transport=httpx.MockTransport(api.async_handler),
        ) as client:  # fmt: skip
            with pytest.raises(mio.AuthenticationError):
                await client.get_skus()
        assert not api.routes[0].called


class TestSettings:
    async def test_methods_override(self, api):
        route = api.post("/api_esim/getSkus").mock(return_value=ok(SKUS))
        async with mio.Client(
            token=TOKEN, secret_key=SECRET, base_url=BASE,
            methods={"getSkus": "post"},
            transport=httpx.MockTransport(api.async_handler),
        ) as client:  # fmt: skip
            await client.get_skus()
        assert assert_signed(route.calls.last.request) == {}

    async def test_urlencoded_upper(self, api):
        route = api.get("/api_esim/getSkus").mock(return_value=ok(SKUS))
        async with mio.Client(
            token=TOKEN, secret_key=SECRET, base_url=BASE,
            signature_style=mio.SignatureStyle.URLENCODED_UPPER,
            transport=httpx.MockTransport(api.async_handler),
        ) as client:  # fmt: skip
            await client.get_skus()
        sign = params_of(route.calls.last.request)["sign"]
        assert sign == "6EAD091F44FC271AB9F1DA11A8F1419D"

    @pytest.mark.parametrize(
        ("kwargs", "message"),
        [
            ({"secret_key": ""}, "secret_key"),
            ({"password": None}, "both phone_number and password"),
            ({"phone_number": None, "password": None}, "or a token"),
            ({"max_concurrency": 0}, "max_concurrency"),
            ({"http_backend": "curl"}, "http_backend"),
            (
                {"http_backend": "aiohttp", "transport": httpx.MockTransport(print)},
                "not both",
            ),
            ({"login_method": "json"}, "login_method"),
            ({"methods": {"nope": "GET"}}, "unknown endpoint 'nope'"),
            ({"methods": {"getSkus": "PUT"}}, "GET or POST"),
        ],
    )
    def test_bad_settings(self, kwargs, message):
        settings = {"phone_number": "1", "password": "p", "secret_key": "s", **kwargs}
        with pytest.raises(ValueError, match=message):
            mio.Client(**settings)

    def test_plain_http_to_a_remote_host_warns(self, caplog):
        caplog.set_level(logging.WARNING, "mioesim_async")
        mio.Client(token="t", secret_key="s", base_url="http://bpm.mioesim.com")
        assert "clear text" in caplog.text

    @pytest.mark.parametrize(
        "url", ["https://bpm.mioesim.com", "http://127.0.0.1:8080", "http://localhost"]
    )
    def test_no_warning_otherwise(self, caplog, url):
        caplog.set_level(logging.WARNING, "mioesim_async")
        mio.Client(token="t", secret_key="s", base_url=url)
        assert caplog.text == ""


class TestLifecycle:
    async def test_closed_client_refuses(self, api, client):
        await client.aclose()
        await client.aclose()  # idempotent
        assert client.is_closed
        with pytest.raises(RuntimeError, match="closed"):
            await client.get_skus()
        with pytest.raises(RuntimeError, match="closed"):
            async with client:
                pass

    async def test_usable_without_context_manager(self, api):
        api.get("/api_esim/getSkus").mock(return_value=ok(SKUS))
        client = mio.Client(
            token=TOKEN, secret_key=SECRET, base_url=BASE,
            transport=httpx.MockTransport(api.async_handler),
        )  # fmt: skip
        try:
            assert len(await client.get_skus()) == 2
        finally:
            await client.aclose()

    def test_repr_hides_secrets(self):
        client = mio.Client(
            phone_number="13800000000", password="hunter2", secret_key=SECRET,
            token=TOKEN,
        )  # fmt: skip
        text = repr(client)
        for secret in ("hunter2", SECRET, TOKEN, "13800000000"):
            assert secret not in text


class TestMalformedAnswers:
    async def test_names_the_endpoint(self, api, client):
        api.get("/api_esim/getESIMDetail").mock(return_value=ok({"dpStatus": "x"}))
        with pytest.raises(mio.UnexpectedResponseError, match="getESIMDetail") as info:
            await client.get_esim_detail(ICCID)
        assert info.value.endpoint == "getESIMDetail"


class TestMoreArguments:
    async def test_count_must_be_positive(self, api, client):
        with pytest.raises(ValueError, match="count must be at least 1, got 0"):
            await client.add_esim_order(45, 441, 0)

    async def test_a_lone_iccid_string_is_one_iccid(self, api, client):
        route = api.get("/api_esim/queryIccidInformation").mock(return_value=ok([]))
        assert await client.query_iccid_information(ICCID) == []
        assert params_of(route.calls.last.request)["iccids"] == ICCID

    async def test_send_pdf_email_needs_an_address(self, client):
        with pytest.raises(ValueError, match="e-mail address"):
            await client.send_pdf_email("EP1", "")

    def test_ca_bundle_path(self, tmp_path):
        """A CA bundle path is accepted (and must exist)."""
        with pytest.raises(FileNotFoundError):
            mio.Client(token="t", secret_key="s", verify=str(tmp_path / "none.pem"))

    @pytest.mark.parametrize(
        ("base_url", "verify", "bundles_loaded"),
        [
            ("http://127.0.0.1:8000", True, 0),  # never opens TLS
            ("https://bpm.example", True, 1),
            ("https://bpm.example", False, 0),
        ],
    )
    def test_a_ca_bundle_is_loaded_only_for_https(
        self, monkeypatch, base_url, verify, bundles_loaded
    ):
        loaded = []
        real = ssl.SSLContext.load_verify_locations

        def load_verify_locations(context, *args, **kwargs):
            loaded.append(args or kwargs)
            return real(context, *args, **kwargs)

        monkeypatch.setattr(
            ssl.SSLContext, "load_verify_locations", load_verify_locations
        )
        mio.Client(token="t", secret_key="s", base_url=base_url, verify=verify)
        assert len(loaded) == bundles_loaded

    async def test_timeout_object(self, api):
        route = api.get("/api_esim/getSkus").mock(return_value=ok(SKUS))
        async with mio.Client(
            token=TOKEN, secret_key=SECRET, base_url=BASE,
            timeout=httpx.Timeout(3.0),
            transport=httpx.MockTransport(api.async_handler),
        ) as client:  # fmt: skip
            await client.get_skus()
        assert route.calls.last.request.extensions["timeout"]["read"] == 3.0

    async def test_float_timeout_has_no_pool_timeout(self, api, client):
        route = api.get("/api_esim/getSkus").mock(return_value=ok(SKUS))
        await client.get_skus()
        timeout = route.calls.last.request.extensions["timeout"]
        assert timeout == {"connect": 30.0, "read": 30.0, "write": 30.0, "pool": None}

    def test_repr_without_phone_number(self):
        assert "phone=none" in repr(mio.Client(token="t", secret_key="s"))


class TestAiohttpBackend:
    @pytest.mark.parametrize("anyio_backend", ["trio"])
    async def test_under_trio_it_says_so(self, anyio_backend):
        """The aiohttp backend is asyncio only; under trio the error says what to do."""
        async with mio.Client(
            token=TOKEN, secret_key=SECRET, base_url="http://127.0.0.1:9",
            http_backend="aiohttp",
        ) as client:  # fmt: skip
            with pytest.raises(RuntimeError, match="http_backend='httpx'"):
                await client.get_skus()
