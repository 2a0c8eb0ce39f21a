from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest
from cattrs.errors import StructureHandlerNotFoundError
from hypothesis import given, settings
from hypothesis import strategies as st

from mioesim_async import (
    Balance,
    CardStatus,
    CardUsage,
    Order,
    OrderStatus,
    Sku,
    SkuPackages,
    UnexpectedResponseError,
    _convert,
)
from mioesim_async._convert import structure
from mioesim_async._models import GMT8

# Payloads as the API documents them (research.md sections 7 and 8).

ORDER_BACKINFO_1 = """{"orderNum":"EP20240124000013","display":"Australia",
"purchaseDate":"2024-01-24(GMT+8)","count":1,"price":"9.89","status":0,"renewal":true,
"mainOrderNum":null,"startDate":null,"endDate":null,"outerOrderid":"","outerItemId":"",
"renew":0,"priceId":9726,"renewOrderNum":[],"cardApiDtoList":[{"data":"6GB",
"validity":8,"sm_dp_address":"ais.prod.ondemandconnectivity.com",
"activationCode":"SEW7JEBMFGPRVSPD","mobileNumber":"0841823354",
"iccid":"934801019851134300","activateBefore":"2024-02-24(GMT+8)",
"code":"LPA:1$ais.prod.ondemandconnectivity.com$SEW7JEBMFGPRVSPD","usedMB":"0.0",
"startDate":null,"endDate":null,"pdfUrl":null,"dpId":9,"dpStatus":null,"eid":null,
"apn":"plus"}]}"""

GET_PACKAGES = """{"skuid":45,"detailId":null,"countrycode":"40",
"imageUrl":"http://img.roamwifi.com/phoneImage/202009//af0c.jpg","display":"奥地利",
"displayEn":"Austria","esimPackageDtoList":[{"flows":1,"days":3,"unit":"GB",
"price":2.66,"priceid":441,"flowType":0,"countryImageUrlDtoList":null,"showName":"",
"pid":52,"premark":"Plan type: Data only<br>\\nAPN: internet","overlay":1,
"expireDays":0,"networkDtoList":[{"type":"LTE","operator":"A1.net","namecn":"奥地利",
"nameen":"Austria"},{"type":"LTE","operator":"Hutchison 3G","namecn":"奥地利",
"nameen":"Austria"}],"supportDaypass":0,"openCardFee":0,"minDay":3,
"singleDiscountDay":3,"singleDiscount":1,"maxDiscount":15,"maxDay":30,"mustDate":0,
"apiCode":"40-0-3-1-G"}],"supportCountry":["Austria"],"expirydate":null,
"countryImageUrlDtoList":[{"imageUrl":"http://img.roamwifi.com/x.jpg",
"countryCode":40,"name":"奥地利","nameEn":"Austria"}]}"""

SKU_BY_GROUP = """{"continent":["Common","Asia"],"data":{"Common":[{"skuid":123,
"countryCode":99112,"imageUrl":"http://img.roamwifi.com/phoneImage/202309//9252.jpg",
"display":"Asia 8 countries","note":"Korea,Cambodia,Malaysia","search":"Korea,Japan",
"continentCode":7}],"Asia":[{"skuid":26,"countryCode":392,
"imageUrl":"http://img.roamwifi.com/phoneImage/202009//0ac9.jpg","display":"Japan",
"note":"Japan","search":"Japan","continentCode":1}]}}"""

GET_SKUS = """[{"skuid":156,"display":"Africa","countryCode":"99918"},
{"skuid":124,"display":"Asia30","countryCode":"99115"},
{"skuid":123,"display":"Asia4","countryCode":"99112"}]"""

PDF_LINKS = """{"9000024041590216":"http://img.mioesim.com/phoneImage/202404//5072a173.pdf",
"9000024041549678":"http://img.mioesim.com/phoneImage/202404//1852e23a.pdf"}"""

USAGE = {
    "iccid": "8985200012345678901",
    "dpStatus": "ACTIVE",
    "usedMB": "1234.5",
    "totalMB": "3072",
    "remainMB": "1837.5",
    "startDate": "2024-05-01 12:34:56",
    "endDate": "2024-05-31 12:34:56",
    "skuId": 45,
    "priceId": "441",
    "display": "Austria",
}


def at(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, *rest: int
) -> datetime:
    """A GMT+8 datetime; *rest* is the second and the microsecond."""
    second, microsecond = (*rest, 0, 0)[:2]
    return datetime(year, month, day, hour, minute, second, microsecond, GMT8)


def test_order_from_add_esim_order_back_info_1():
    data = json.loads(ORDER_BACKINFO_1)
    order = structure(data, Order)
    assert order.order_num == "EP20240124000013"
    assert order.display == "Australia"
    assert order.purchase_date == at(2024, 1, 24)
    assert order.purchase_date is not None
    assert order.purchase_date.tzinfo is GMT8
    assert (order.count, order.price, order.price_id) == (1, Decimal("9.89"), 9726)
    assert order.status is OrderStatus.PAID
    assert order.renew is False
    assert order.main_order_num is None
    assert order.renew_order_nums == []
    assert (order.start_date, order.end_date) == (None, None)
    assert (order.other_order_id, order.other_item_id) == (None, None)
    assert order.raw is data
    [card] = order.cards
    assert card.iccid == "934801019851134300"
    assert (card.data, card.validity, card.apn) == ("6GB", 8, "plus")
    assert card.sm_dp_address == "ais.prod.ondemandconnectivity.com"
    assert card.activation_code == "SEW7JEBMFGPRVSPD"
    assert card.lpa == "LPA:1$ais.prod.ondemandconnectivity.com$SEW7JEBMFGPRVSPD"
    assert card.mobile_number == "0841823354"
    assert card.activate_before == at(2024, 2, 24)
    assert card.used_mb == 0.0
    assert (card.pdf_url, card.dp_status, card.eid) == (None, None, None)
    assert card.dp_id == 9
    assert card.raw is data["cardApiDtoList"][0]


def test_renewal_order_with_echoed_ids_and_renewals():
    data = {
        "orderNum": "EP2",
        "renew": "1",
        "mainOrderNum": "EP1",
        "renewOrderNum": ["EP3", "EP4"],
        "outerOrderid": "mine-7",
        "outerItemId": "item-2",
        "status": "5",
        "startDate": "2024-12-24 17:30:14.0",
        "endDate": "2025-01-23 17:30:14",
    }
    order = structure(data, Order)
    assert order.renew is True
    assert order.main_order_num == "EP1"
    assert order.renew_order_nums == ["EP3", "EP4"]
    assert (order.other_order_id, order.other_item_id) == ("mine-7", "item-2")
    assert order.status is OrderStatus.ENDED
    assert order.start_date == at(2024, 12, 24, 17, 30, 14)
    assert order.end_date == at(2025, 1, 23, 17, 30, 14)
    assert order.cards == []


def test_unknown_order_status_becomes_a_pseudo_member():
    order = structure({"orderNum": "EP1", "status": 9}, Order)
    assert order.status == 9
    assert order.status is not None
    assert order.status.name == "UNKNOWN_9"


def test_sku_packages_from_get_packages():
    data = json.loads(GET_PACKAGES)
    sku = structure(data, SkuPackages)
    assert (sku.sku_id, sku.country_code) == (45, "40")
    assert (sku.display, sku.display_en) == ("奥地利", "Austria")
    assert sku.support_countries == ["Austria"]
    assert sku.raw is data
    [package] = sku.packages
    assert package.price_id == 441
    assert (package.flows, package.unit, package.days) == (1, "GB", 3)
    assert package.price == Decimal("2.66")
    assert package.renewable
    assert (package.support_daypass, package.min_day, package.max_day) == (0, 3, 30)
    assert (package.must_date, package.expire_days) == (0, 0)
    assert package.api_code == "40-0-3-1-G"
    assert package.premark == "Plan type: Data only<br>\nAPN: internet"
    assert package.raw["overlay"] == 1
    assert [(n.operator, n.type, n.name_cn, n.name_en) for n in package.networks] == [
        ("A1.net", "LTE", "奥地利", "Austria"),
        ("Hutchison 3G", "LTE", "奥地利", "Austria"),
    ]


def test_iccid_support_packages_use_vo_lists():
    data = [
        {
            "skuid": "45",
            "display": "Austria",
            "esimPackageVoList": [
                {
                    "priceid": "442",
                    "price": "5.10",
                    "flowType": 1,
                    "networkVos": [
                        {
                            "countryCode": 40,
                            "type": "5G",
                            "operator": "A1",
                            "name": "AT",
                        }
                    ],
                }
            ],
        }
    ]
    [sku] = structure(data, list[SkuPackages])
    [package] = sku.packages
    assert (sku.sku_id, package.price_id, package.price) == (45, 442, Decimal("5.10"))
    assert not package.renewable
    [network] = package.networks
    assert (network.type, network.operator, network.name_en) == ("5G", "A1", "AT")
    assert network.raw["countryCode"] == 40


def test_skus_from_get_skus():
    skus = structure(json.loads(GET_SKUS), list[Sku])
    assert [(s.sku_id, s.display, s.country_code) for s in skus] == [
        (156, "Africa", "99918"),
        (124, "Asia30", "99115"),
        (123, "Asia4", "99112"),
    ]


def test_sku_groups_from_get_sku_by_group():
    data = json.loads(SKU_BY_GROUP)["data"]
    groups = structure(data, dict[str, list[Sku]])
    assert list(groups) == ["Common", "Asia"]
    [common] = groups["Common"]
    assert common.sku_id == 123
    assert common.country_code == "99112"
    assert common.continent_code == "7"
    assert common.image_url == "http://img.roamwifi.com/phoneImage/202309//9252.jpg"
    assert (common.note, common.search) == ("Korea,Cambodia,Malaysia", "Korea,Japan")
    assert common.raw is data["Common"][0]
    assert groups["Asia"][0].country_code == "392"


def test_pdf_links():
    links = structure(json.loads(PDF_LINKS), dict[str, str])
    assert links["9000024041590216"].endswith("5072a173.pdf")
    assert len(links) == 2


def test_balance():
    data = {"balance": "628.49", "currency": "USD"}
    balance = structure(data, Balance)
    assert balance.balance == Decimal("628.49")
    assert balance.currency == "USD"
    assert balance.raw is data


def test_usage_record():
    record = dict(USAGE)
    [usage] = structure([record], list[CardUsage])
    assert usage.iccid == "8985200012345678901"
    assert usage.status is CardStatus.ACTIVE
    assert (usage.used_mb, usage.total_mb, usage.remain_mb) == (1234.5, 3072.0, 1837.5)
    assert usage.start_date == at(2024, 5, 1, 12, 34, 56)
    assert usage.end_date == at(2024, 5, 31, 12, 34, 56)
    assert (usage.sku_id, usage.price_id, usage.display) == (45, 441, "Austria")
    assert usage.raw is record
    assert structure(record, CardUsage) == usage


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-05-01 12:34:56", at(2024, 5, 1, 12, 34, 56)),
        ("2024-12-24 17:30:14.0", at(2024, 12, 24, 17, 30, 14)),
        ("2024-12-24 17:30:14.5", at(2024, 12, 24, 17, 30, 14, 500000)),
        ("2024-12-24 17:30:14.123", at(2024, 12, 24, 17, 30, 14, 123000)),
        ("2024-12-24 17:30:14.1234567", at(2024, 12, 24, 17, 30, 14, 123456)),
        ("2024-01-24", at(2024, 1, 24)),
        ("2024-01-24(GMT+8)", at(2024, 1, 24)),
        (" 2024-01-24 (GMT+8) ", at(2024, 1, 24)),
        ("2024-01-24T01:00:00+00:00", at(2024, 1, 24, 9)),
    ],
)
def test_date_formats_parse_as_gmt8(text, expected):
    usage = structure({"iccid": "1", "startDate": text}, CardUsage)
    assert usage.start_date == expected
    assert usage.start_date is not None
    assert usage.start_date.tzinfo is GMT8


def test_fraction_is_padded_for_python_3_10():
    # 3.10's fromisoformat accepts only 3 or 6 fraction digits.
    assert _convert._isoformat("2024-12-24 17:30:14.0") == "2024-12-24 17:30:14.000000"
    assert _convert._isoformat("2024-01-24(GMT+8)") == "2024-01-24"


def test_date_cache_stays_bounded(monkeypatch):
    monkeypatch.setattr(_convert, "_DATE_CACHE", {})
    monkeypatch.setattr(_convert, "_DATE_CACHE_SIZE", 2)
    texts = [f"2024-01-0{day}" for day in range(1, 6)]
    dates = [structure({"iccid": "1", "endDate": t}, CardUsage).end_date for t in texts]
    assert dates == [at(2024, 1, day) for day in range(1, 6)]
    assert len(_convert._DATE_CACHE) <= 2


@pytest.mark.parametrize(
    ("wire", "expected"),
    [
        ({"usedMB": 12, "totalMB": "100", "remainMB": 88.5}, (12.0, 100.0, 88.5)),
        ({"usedMb": "1.5", "totalMb": "10"}, (1.5, 10.0, 8.5)),
        ({"usedMB": "2", "flowMB": 10}, (2.0, 10.0, 8.0)),
        ({"usedMB": "2", "totalMB": 10, "remainingMB": "7"}, (2.0, 10.0, 7.0)),
        ({"usedMB": "2", "remainMb": "0.0"}, (2.0, None, 0.0)),
        ({"usedMB": "2", "surplusMB": 3}, (2.0, None, 3.0)),
        ({"usedMB": "0.0"}, (0.0, None, None)),
        ({"totalMB": "10"}, (None, 10.0, None)),
        ({"usedMB": None, "totalMB": "", "remainMB": None}, (None, None, None)),
        ({}, (None, None, None)),
    ],
)
def test_usage_megabytes_aliases_and_derived_remain(wire, expected):
    usage = structure({"iccid": "1", **wire}, CardUsage)
    assert (usage.used_mb, usage.total_mb, usage.remain_mb) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ACTIVE", CardStatus.ACTIVE),
        ("active", CardStatus.ACTIVE),
        ("Active ", CardStatus.ACTIVE),
        ("Enable", CardStatus.ENABLE),
        ("ENABLE", CardStatus.ENABLE),
        ("disable", CardStatus.DISABLE),
        ("Delete", CardStatus.DELETE),
        ("Suspended", CardStatus.UNKNOWN),
        ("", CardStatus.UNKNOWN),
        (None, CardStatus.UNKNOWN),
        (3, CardStatus.UNKNOWN),
        (["ACTIVE"], CardStatus.UNKNOWN),
    ],
)
def test_card_status_in_any_case(text, expected):
    usage = structure({"iccid": "1", "dpStatus": text}, CardUsage)
    assert usage.status is expected
    assert usage.raw["dpStatus"] == text


def test_unknown_fields_are_kept_in_raw():
    record = {**USAGE, "eid": "8904", "futureField": {"nested": [1, 2]}}
    usage = structure(record, CardUsage)
    assert usage.raw is record
    assert usage.raw["futureField"] == {"nested": [1, 2]}
    sku = structure({"skuid": 1, "brandNew": True}, Sku)
    assert sku.raw["brandNew"] is True


ORDER_OPTIONAL = (
    "display",
    "purchaseDate",
    "count",
    "price",
    "status",
    "renew",
    "mainOrderNum",
    "renewOrderNum",
    "priceId",
    "cardApiDtoList",
)
ABSENT = object()


def filled(base: dict[str, Any], keys: tuple[str, ...], empty: object) -> Any:
    """*base* with each of *keys* set to *empty*, or left out for ABSENT."""
    return base if empty is ABSENT else {**base, **dict.fromkeys(keys, empty)}


@pytest.mark.parametrize("empty", [None, "", ABSENT], ids=["null", "empty", "absent"])
def test_null_empty_and_absent_optional_fields(empty):
    order = structure(filled({"orderNum": "EP1"}, ORDER_OPTIONAL, empty), Order)
    assert order == Order("EP1")
    card_wire = filled({"iccid": "1"}, ("usedMB", "startDate", "dpId", "code"), empty)
    card = structure({"orderNum": "EP1", "cardApiDtoList": [card_wire]}, Order).cards[0]
    assert (card.used_mb, card.start_date, card.dp_id, card.lpa) == (None,) * 4
    usage_wire = filled({"iccid": "1"}, ("skuId", "display", "startDate"), empty)
    usage = structure(usage_wire, CardUsage)
    assert (usage.sku_id, usage.display, usage.start_date) == (None, None, None)
    balance = structure(filled({"balance": "1"}, ("currency",), empty), Balance)
    assert balance.currency is None
    sku = structure(filled({"skuid": 1}, ("countryCode", "display"), empty), Sku)
    assert (sku.country_code, sku.display) == (None, None)
    packages_wire = filled(
        {"skuid": 1}, ("supportCountry", "esimPackageDtoList"), empty
    )
    packages = structure(packages_wire, SkuPackages)
    assert (packages.support_countries, packages.packages) == ([], [])


@pytest.mark.parametrize(
    ("wire", "field", "expected"),
    [
        ({"flows": "1"}, "flows", 1),
        ({"flows": 1.0}, "flows", 1),
        ({"days": "30"}, "days", 30),
        ({"price": "9.89"}, "price", Decimal("9.89")),
        ({"price": 2.66}, "price", Decimal("2.66")),
        ({"price": 3}, "price", Decimal(3)),
        ({"price": "0.00"}, "price", Decimal("0.00")),
        ({"flowType": "1"}, "flow_type", 1),
        ({"expireDays": "30"}, "expire_days", 30),
    ],
)
def test_numbers_as_numbers_or_text(wire, field, expected):
    package = structure(
        [{"skuid": 1, "esimPackageDtoList": [{"priceid": "7", **wire}]}],
        list[SkuPackages],
    )[0].packages[0]
    assert package.price_id == 7
    assert getattr(package, field) == expected
    assert type(getattr(package, field)) is type(expected)


def test_lenient_spellings():
    order = structure(
        {
            "orderNum": 20240124000013,
            "renew": True,
            "renewOrderNum": "EP3",
            "cardApiDtoList": [{"iccid": 934801019851134300, "dpId": "9"}],
        },
        Order,
    )
    assert order.order_num == "20240124000013"
    assert order.renew is True
    assert order.renew_order_nums == ["EP3"]
    assert (order.cards[0].iccid, order.cards[0].dp_id) == ("934801019851134300", 9)
    sku = structure(
        {"skuid": 1, "countryCode": 392, "esimPackageVoList": []}, SkuPackages
    )
    assert sku.country_code == "392"


def test_unsupported_target_is_a_programming_error():
    class NotAModel:
        pass

    with pytest.raises(StructureHandlerNotFoundError):
        structure({}, NotAModel)


def test_any_other_failure_still_surfaces_as_unexpected_response(monkeypatch):
    class Broken:
        def structure(self, data: Any, cl: Any) -> Any:
            raise KeyError("deep inside")

    monkeypatch.setattr(_convert, "_converter", Broken())
    with pytest.raises(
        UnexpectedResponseError, match=r"cannot read Order.*deep inside"
    ):
        structure({}, Order)


def test_collections_null_or_empty_are_empty():
    assert structure(None, list[CardUsage]) == []
    assert structure("", list[Sku]) == []
    assert structure(None, dict[str, list[Sku]]) == {}
    assert structure(None, dict[str, str]) == {}
    assert structure((USAGE,), list[CardUsage])[0].iccid == USAGE["iccid"]


MALFORMED = [
    pytest.param({**USAGE, "iccid": None}, CardUsage, ["iccid"], id="usage-no-iccid"),
    pytest.param(
        [USAGE, {"usedMB": "1"}],
        list[CardUsage],
        ["[1].iccid"],
        id="usage-list-no-iccid",
    ),
    pytest.param(
        [{**USAGE, "usedMB": "lots"}],
        list[CardUsage],
        ["[0].usedMB", "'lots'"],
        id="usage-bad-number",
    ),
    pytest.param(
        {**USAGE, "totalMB": True},
        CardUsage,
        ["totalMB", "True"],
        id="usage-bool-is-not-a-number",
    ),
    pytest.param(
        {**USAGE, "remainMB": "nan"}, CardUsage, ["remainMB", "'nan'"], id="usage-nan"
    ),
    pytest.param(
        {**USAGE, "startDate": "2024-13-01"},
        CardUsage,
        ["startDate", "'2024-13-01'"],
        id="usage-bad-date",
    ),
    pytest.param(
        {**USAGE, "endDate": 20240101},
        CardUsage,
        ["endDate", "20240101"],
        id="usage-date-not-text",
    ),
    pytest.param(
        {**USAGE, "skuId": "abc"}, CardUsage, ["skuId", "'abc'"], id="usage-bad-int"
    ),
    pytest.param(
        {**USAGE, "display": {"en": "x"}},
        CardUsage,
        ["display"],
        id="usage-display-not-text",
    ),
    pytest.param(
        ["not a record"],
        list[CardUsage],
        ["[0]", "'not a record'"],
        id="usage-not-a-mapping",
    ),
    pytest.param({"iccid": "1"}, list[CardUsage], ["a list"], id="usage-list-not-list"),
    pytest.param({"display": "x"}, Order, ["orderNum"], id="order-no-number"),
    pytest.param(
        {"orderNum": "EP1", "price": "9,89"},
        Order,
        ["price", "'9,89'"],
        id="order-bad-price",
    ),
    pytest.param(
        {"orderNum": "EP1", "renew": 2}, Order, ["renew", "2"], id="order-bad-renew"
    ),
    pytest.param(
        {"orderNum": "EP1", "status": "paid"},
        Order,
        ["status", "'paid'"],
        id="order-bad-status",
    ),
    pytest.param(
        {"orderNum": "EP1", "cardApiDtoList": [{"iccid": "1"}, {}]},
        Order,
        ["cardApiDtoList[1].iccid"],
        id="order-card-no-iccid",
    ),
    pytest.param(
        {"orderNum": "EP1", "renewOrderNum": {"a": 1}},
        Order,
        ["renewOrderNum"],
        id="order-renewals-not-list",
    ),
    pytest.param(
        {"orderNum": "EP1", "purchaseDate": "24/01/2024"},
        Order,
        ["purchaseDate", "'24/01/2024'"],
        id="order-bad-date",
    ),
    pytest.param([], Order, ["an object"], id="order-not-a-mapping"),
    pytest.param({"display": "x"}, SkuPackages, ["skuid"], id="packages-no-skuid"),
    pytest.param(
        {"skuid": 1, "esimPackageDtoList": [{"price": "1"}]},
        SkuPackages,
        ["packages[0].priceid"],
        id="package-no-priceid",
    ),
    pytest.param(
        {
            "skuid": 1,
            "esimPackageDtoList": [{"priceid": 1, "networkDtoList": [{"type": []}]}],
        },
        SkuPackages,
        ["networkDtoList[0].type"],
        id="network-bad-type",
    ),
    pytest.param(
        {"skuid": 1, "supportCountry": [None]},
        SkuPackages,
        ["supportCountry[0]"],
        id="packages-bad-country",
    ),
    pytest.param(
        [{"display": "x"}], list[Sku], ["[0].skuid", "missing"], id="sku-no-skuid"
    ),
    pytest.param(
        [{"skuid": "x1"}], list[Sku], ["[0].skuid", "'x1'"], id="sku-bad-skuid"
    ),
    pytest.param(
        [{"skuid": 1, "imageUrl": []}], list[Sku], ["[0].imageUrl"], id="sku-bad-image"
    ),
    pytest.param(
        {"Asia": [{"skuid": None}]},
        dict[str, list[Sku]],
        ["['Asia'][0].skuid"],
        id="groups-no-skuid",
    ),
    pytest.param(
        ["Asia"], dict[str, list[Sku]], ["an object"], id="groups-not-mapping"
    ),
    pytest.param(
        {"currency": "USD"}, Balance, ["balance", "missing"], id="balance-missing"
    ),
    pytest.param({"balance": "lots"}, Balance, ["balance", "'lots'"], id="balance-bad"),
    pytest.param({"balance": None}, Balance, ["balance", "null"], id="balance-null"),
    pytest.param({"balance": [1]}, Balance, ["balance", "[1]"], id="balance-list"),
    pytest.param(
        {"skuid": 1, "esimPackageDtoList": [{"priceid": 1, "flows": 1.5}]},
        SkuPackages,
        ["flows", "1.5"],
        id="package-fractional-int",
    ),
    pytest.param(
        {"balance": "Infinity"},
        Balance,
        ["balance", "'Infinity'"],
        id="balance-infinite",
    ),
    pytest.param(
        {"9000024041590216": None}, dict[str, str], ["9000024041590216"], id="link-null"
    ),
    pytest.param(
        "EP20221104000005",
        Order,
        ["'EP20221104000005'"],
        id="order-number-instead-of-object",
    ),
]


@pytest.mark.parametrize(("data", "cl", "named"), MALFORMED)
def test_malformed_data_raises_unexpected_response_error(data, cl, named):
    with pytest.raises(UnexpectedResponseError) as caught:
        structure(data, cl)
    message = str(caught.value)
    assert message.startswith("cannot read ")
    for text in named:
        assert text in message
    assert caught.value.endpoint is None


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=12)
    | st.sampled_from(["", "0", "12.5", "2024-01-24", "2024-01-24(GMT+8)", "ACTIVE"]),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
USAGE_KEYS = st.sampled_from(sorted({*USAGE, "usedMb", "flowMB", "surplusMB"}))
ORDER_KEYS = st.sampled_from(
    [
        "orderNum",
        "price",
        "status",
        "renew",
        "renewOrderNum",
        "purchaseDate",
        "cardApiDtoList",
        "count",
        "iccid",
        "usedMB",
        "activateBefore",
    ]
)
PACKAGE_KEYS = st.sampled_from(
    [
        "skuid",
        "countrycode",
        "supportCountry",
        "esimPackageDtoList",
        "esimPackageVoList",
        "priceid",
        "price",
        "networkDtoList",
        "networkVos",
        "name",
    ]
)


def records(keys: st.SearchStrategy[str]) -> st.SearchStrategy[Any]:
    """Mappings whose keys are mostly real wire names, nested to any depth."""
    return st.recursive(
        st.dictionaries(keys | st.text(max_size=6), JSON, max_size=8),
        lambda inner: st.dictionaries(
            keys, inner | st.lists(inner, max_size=3), max_size=6
        ),
        max_leaves=20,
    )


@settings(max_examples=200, deadline=None)
@given(
    data=st.one_of(
        JSON,
        records(USAGE_KEYS),
        st.lists(records(USAGE_KEYS), max_size=3),
        records(ORDER_KEYS),
        records(PACKAGE_KEYS),
    ),
    cl=st.sampled_from([list[CardUsage], Order, SkuPackages, CardUsage, list[Sku]]),
)
def test_any_json_gives_models_or_unexpected_response_error(data, cl):
    try:
        result = structure(data, cl)
    except UnexpectedResponseError:
        return  # the one error malformed data may raise
    expected = list if isinstance(cl, type(list[int])) else cl
    assert isinstance(result, expected)
