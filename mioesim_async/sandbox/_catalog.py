"""
The sandbox's fixed catalogue: SKUs, their packages, and the distribution
partners (``dpId``) that sell physical SIMs.

Shapes follow CONTRACT section 6 and research.md section 8: ``skuid`` and
``priceid`` in answers, ``countryCode`` in SKU lists, ``countrycode`` in
``getPackages``, ``esimPackageDtoList`` with ``networkDtoList`` for a SKU's
packages and ``esimPackageVoList`` with ``networkVos`` for an ICCID's.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import attrs

__all__ = ["CATALOGUE", "Catalogue", "Package", "Sku"]

_IMAGES = "http://img.sandbox.invalid/phoneImage"


@attrs.frozen
class Package:
    """A plan on sale: data for days at a price."""

    price_id: int
    flows: int
    unit: str
    days: int
    price: Decimal
    api_code: str
    flow_type: int = 0
    support_daypass: int = 0
    min_day: int = 1
    max_day: int = 30
    must_date: int = 0
    expire_days: int = 0

    @property
    def renewable(self) -> bool:
        """``flowType`` 0: a card on this plan can be renewed."""
        return self.flow_type == 0

    @property
    def daypass(self) -> bool:
        """``supportDaypass`` 1: priced per day, ``daypassDays`` required."""
        return self.support_daypass == 1

    def total_mb(self, days: int | None = None) -> int:
        """The plan's allowance in MB; a day pass gets its amount each day."""
        per = self.flows * 1024 if self.unit == "GB" else self.flows
        return per * (days or 1) if self.daypass else per

    def cost(self, days: int | None = None) -> Decimal:
        """The price of one card; a day pass costs its price per day."""
        return self.price * (days or 1) if self.daypass else self.price


@attrs.frozen
class Sku:
    """A product: a country or region, with its packages and networks."""

    sku_id: int
    display: str
    display_cn: str
    country_code: str
    continent: str
    continent_code: int
    countries: tuple[str, ...]
    networks: tuple[tuple[str, str], ...]
    packages: tuple[Package, ...]
    physical_only: bool = False
    apn: str = "plus"

    def flat(self) -> dict[str, Any]:
        """The ``{skuid, display, countryCode}`` of SKU lists."""
        return {
            "skuid": self.sku_id,
            "display": self.display,
            "countryCode": self.country_code,
        }

    def grouped(self) -> dict[str, Any]:
        """The item of ``getSkuByGroup``; numbers as numbers, as in its examples."""
        return {
            "skuid": self.sku_id,
            "countryCode": int(self.country_code),
            "imageUrl": f"{_IMAGES}/{self.sku_id}.jpg",
            "display": self.display,
            "note": ",".join(self.countries),
            "search": ",".join(self.countries),
            "continentCode": self.continent_code,
        }

    def with_packages(self) -> dict[str, Any]:
        """The ``data`` of ``getPackages``."""
        return {
            "skuid": self.sku_id,
            "detailId": None,
            "countrycode": self.country_code,
            "imageUrl": f"{_IMAGES}/{self.sku_id}.jpg",
            "display": self.display_cn,
            "displayEn": self.display,
            "esimPackageDtoList": [self.package_dto(p) for p in self.packages],
            "supportCountry": list(self.countries),
            "expirydate": None,
            "countryImageUrlDtoList": [
                {
                    "imageUrl": f"{_IMAGES}/{self.sku_id}-flag.jpg",
                    "countryCode": int(self.country_code),
                    "name": self.display_cn,
                    "nameEn": self.display,
                }
            ],
        }

    def renewal_offer(self) -> dict[str, Any]:
        """An item of ``getIccidSupportPackageInfo``: renewable packages only."""
        return {
            "skuid": self.sku_id,
            "display": self.display,
            "esimPackageVoList": [
                self.package_vo(p) for p in self.packages if p.renewable
            ],
        }

    def package_dto(self, package: Package) -> dict[str, Any]:
        """A package as ``getPackages`` lists it."""
        wire = self._package_common(package)
        wire["networkDtoList"] = [
            {"type": kind, "operator": op, "namecn": self.display_cn, "nameen": name}
            for (kind, op), name in zip(
                self.networks, self._network_countries(), strict=True
            )
        ]
        return wire

    def package_vo(self, package: Package) -> dict[str, Any]:
        """A package as the ICCID endpoints list it (``networkVos``)."""
        wire = self._package_common(package)
        wire["networkVos"] = [
            {
                "countryCode": self.country_code,
                "type": kind,
                "operator": op,
                "name": name,
            }
            for (kind, op), name in zip(
                self.networks, self._network_countries(), strict=True
            )
        ]
        return wire

    def _network_countries(self) -> list[str]:
        """The country each network serves, cycling through the SKU's countries."""
        return [
            self.countries[i % len(self.countries)] for i in range(len(self.networks))
        ]

    def _package_common(self, package: Package) -> dict[str, Any]:
        """The fields both package shapes share."""
        return {
            "priceid": package.price_id,
            "flows": package.flows,
            "unit": package.unit,
            "days": package.days,
            "price": float(package.price),
            "flowType": package.flow_type,
            "supportDaypass": package.support_daypass,
            "minDay": package.min_day,
            "maxDay": package.max_day,
            "mustDate": package.must_date,
            "expireDays": package.expire_days,
            "apiCode": package.api_code,
            "premark": _premark(package, self.apn),
            "showName": "",
            "pid": package.price_id // 10,
            "openCardFee": 0,
            "overlay": 1,
            "countryImageUrlDtoList": None,
        }


def _premark(package: Package, apn: str) -> str:
    """The HTML description every package carries."""
    return (
        "Plan type: Data only<br>\n"
        f"APN: {apn}<br>\n"
        "Activation Policy: The validity period starts when the eSIM connects "
        "to any supported network.<br>\n"
        + (
            "Cancellation policy: Order cannot be cancelled once installed."
            if package.renewable
            else "Cancellation policy: This plan cannot be renewed."
        )
    )


@attrs.frozen
class Catalogue:
    """Every SKU, indexed the ways the endpoints look them up."""

    skus: tuple[Sku, ...]
    dps: dict[int, tuple[int, ...]]

    def sku(self, sku_id: int) -> Sku | None:
        """The SKU *sku_id*, or ``None``."""
        return next((s for s in self.skus if s.sku_id == sku_id), None)

    def package(self, sku_id: int, price_id: int) -> tuple[Sku, Package] | None:
        """The package *price_id* of SKU *sku_id*, or ``None``."""
        sku = self.sku(sku_id)
        if sku is None:
            return None
        found = next((p for p in sku.packages if p.price_id == price_id), None)
        return None if found is None else (sku, found)

    def by_api_code(self, api_code: str) -> tuple[Sku, Package] | None:
        """The package whose ``apiCode`` is *api_code*."""
        for sku in self.skus:
            for package in sku.packages:
                if package.api_code == api_code:
                    return sku, package
        return None

    def esim_skus(self) -> list[Sku]:
        """The SKUs sold as eSIMs (everything not physical-only)."""
        return [s for s in self.skus if not s.physical_only]

    def by_group(self) -> dict[str, Any]:
        """The ``data`` of ``getSkuByGroup``."""
        groups: dict[str, list[dict[str, Any]]] = {}
        for sku in self.esim_skus():
            groups.setdefault(sku.continent, []).append(sku.grouped())
        return {"continent": list(groups), "data": groups}


def _pkg(
    price_id: int, flows: int, unit: str, days: int, price: str, code: str, **extra: int
) -> Package:
    """Shorthand for the table below."""
    return Package(price_id, flows, unit, days, Decimal(price), code, **extra)


_LTE = "LTE"

CATALOGUE = Catalogue(
    skus=(
        Sku(
            45,
            "Austria",
            "奥地利",
            "40",
            "Europe",
            3,
            ("Austria",),
            ((_LTE, "A1.net"), (_LTE, "Hutchison 3G")),
            (
                _pkg(441, 1, "GB", 3, "2.66", "40-0-3-1-G"),
                _pkg(442, 3, "GB", 7, "5.90", "40-0-7-3-G"),
                _pkg(443, 10, "GB", 30, "15.50", "40-0-30-10-G"),
            ),
            apn="internet",
        ),
        Sku(
            26,
            "Japan",
            "日本",
            "392",
            "Asia",
            1,
            ("Japan",),
            ((_LTE, "NTT DOCOMO"), ("5G", "SoftBank")),
            (
                _pkg(261, 1, "GB", 3, "3.20", "392-0-3-1-G"),
                _pkg(262, 5, "GB", 7, "8.80", "392-0-7-5-G"),
                _pkg(
                    263,
                    500,
                    "MB",
                    1,
                    "1.10",
                    "392-0-?-500-M-D",
                    support_daypass=1,
                    min_day=1,
                    max_day=30,
                ),
            ),
        ),
        Sku(
            123,
            "Asia 8 countries",
            "亚洲8国",
            "99112",
            "Common",
            7,
            (
                "Korea",
                "Cambodia",
                "Malaysia",
                "Thailand",
                "Singapore",
                "Indonesia",
                "Vietnam",
                "Japan",
            ),
            ((_LTE, "SK Telecom"), (_LTE, "Cellcard"), (_LTE, "Maxis"), (_LTE, "AIS")),
            (
                _pkg(1231, 2, "GB", 7, "6.50", "99112-0-7-2-G"),
                _pkg(1232, 6, "GB", 15, "13.90", "99112-0-15-6-G", must_date=1),
                _pkg(1233, 20, "GB", 30, "29.00", "99112-1-30-20-G", flow_type=1),
            ),
        ),
        Sku(
            156,
            "Africa",
            "非洲",
            "99918",
            "Africa",
            4,
            ("South Africa", "Egypt", "Morocco", "Kenya"),
            ((_LTE, "Vodacom"), (_LTE, "Orange")),
            (
                _pkg(1561, 1, "GB", 7, "9.89", "99918-1-7-1-G", flow_type=1),
                _pkg(1562, 3, "GB", 15, "24.00", "99918-0-15-3-G"),
            ),
        ),
        Sku(
            124,
            "Asia30",
            "亚洲30国",
            "99115",
            "Common",
            7,
            ("China", "Hong Kong", "Macao", "Taiwan", "Japan", "Korea"),
            ((_LTE, "China Unicom"), (_LTE, "CSL")),
            (
                _pkg(1241, 3, "GB", 15, "12.00", "99115-0-15-3-G"),
                _pkg(1242, 10, "GB", 30, "30.00", "99115-0-30-10-G"),
            ),
            physical_only=True,
        ),
    ),
    dps={9: (124, 123), 12: (45,)},
)
