"""
The one converter from decoded JSON (an envelope's ``data``) to the models.

Every serialisation rule lives here: wire names and their alternative
spellings, numbers sent as numbers or numeric strings, money as ``Decimal``
built from the decimal text, GMT+8 dates in four formats, ``null``/``""`` as
absent. ``structure(data, cl)`` is the only entry point; anything the server
sends that does not fit raises ``UnexpectedResponseError`` naming the field
and the value.

The converter is a ``cattrs.Converter``: it dispatches on the target type and
carries the per-type rules. ``Sku`` and ``Balance`` use hooks that cattrs
generates from renames; the other models need alternative spellings and a
usage record is structured millions of times when a portfolio is polled, so
their hooks are written by hand: each reads the mapping once, calls no
per-field dispatch and raises nothing on the happy path.
"""

from __future__ import annotations

import reprlib
from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation
from types import GenericAlias
from typing import Any, TypeVar, overload

import attrs
import cattrs
from cattrs.errors import (
    AttributeValidationNote,
    BaseValidationError,
    StructureHandlerNotFoundError,
)
from cattrs.gen import make_dict_structure_fn, override

from ._exceptions import UnexpectedResponseError
from ._models import (
    GMT8,
    Balance,
    CardStatus,
    CardUsage,
    Network,
    Order,
    OrderCard,
    OrderStatus,
    Package,
    Sku,
    SkuPackages,
)

__all__ = ["structure"]

T = TypeVar("T")
M = TypeVar("M")
A = TypeVar("A", bound=attrs.AttrsInstance)
Hook = Callable[[Any, Any], M]


@overload
def structure(data: Any, cl: type[T]) -> T: ...
@overload
def structure(data: Any, cl: Any) -> Any: ...


def structure(data: Any, cl: type[T] | Any) -> T:
    """
    Build *cl* (a model, ``list[...]`` of one, ``dict[str, list[Sku]]`` or
    ``dict[str, str]``) from decoded JSON.

    Raises ``UnexpectedResponseError`` (``endpoint`` left ``None`` for the
    caller to fill) when the data does not fit.
    """
    try:
        result: T = _converter.structure(data, cl)
    except _WireError as exc:
        raise UnexpectedResponseError(_describe(cl, exc)) from exc
    except StructureHandlerNotFoundError:
        raise
    except Exception as exc:
        # A safety net: whatever the data, the caller sees one error type.
        raise UnexpectedResponseError(
            f"cannot read {_type_name(cl)} from the response: {exc!r}"
        ) from exc
    return result


class _WireError(Exception):
    """A value that does not fit; ``where`` (a wire path) grows as it propagates."""

    def __init__(self, reason: str, where: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.where = where

    def within(self, segment: str) -> _WireError:
        """Prefix the path with an outer field name or ``[index]``."""
        joiner = "" if not self.where or self.where.startswith("[") else "."
        self.where = f"{segment}{joiner}{self.where}"
        return self


def _describe(cl: Any, exc: _WireError) -> str:
    where = f" at {exc.where}" if exc.where else ""
    return f"cannot read {_type_name(cl)} from the response{where}: {exc.reason}"


def _type_name(cl: Any) -> str:
    return (
        cl.__name__
        if isinstance(cl, type)
        else repr(cl).replace("mioesim_async._models.", "")
    )


_show = reprlib.Repr()
_show.maxstring = 60
_show.maxother = 60


def _bad(expected: str, value: Any, key: str) -> _WireError:
    return _WireError(f"expected {expected}, got {_show.repr(value)}", key)


# Field readers: (value, wire key) -> field value. The key only names the
# field in an error message. ``None`` and ``""`` mean absent everywhere.


def _required_str(value: Any, key: str) -> str:
    """Text that must be there; a number is taken as its decimal text."""
    if type(value) is str and value:
        return value
    if value is None or value == "":
        raise _WireError("required field is missing, null or empty", key)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise _bad("text", value, key)


def _opt_str(value: Any, key: str) -> str | None:
    """Optional text; numbers (``countryCode: 392``) become their text."""
    if type(value) is str:
        return value or None
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise _bad("text", value, key)


def _required_int(value: Any, key: str) -> int:
    result = _opt_int(value, key)
    if result is None:
        raise _WireError("required field is missing, null or empty", key)
    return result


def _opt_int(value: Any, key: str) -> int | None:
    """An integer sent as a number (``45``, ``45.0``) or as text (``"45"``)."""
    if type(value) is int:
        return value
    if value is None or value == "":
        return None
    if type(value) is str:
        try:
            return int(value)
        except ValueError:
            pass
    elif type(value) is float and value.is_integer():
        return int(value)
    raise _bad("an integer", value, key)


def _opt_float(value: Any, key: str) -> float | None:
    """Megabytes: a number or numeric text, finite."""
    kind = type(value)
    if kind is float or kind is int:
        result = float(value)
    elif kind is str and value:
        try:
            result = float(value)
        except ValueError:
            raise _bad("a number", value, key) from None
    elif value is None or value == "":
        return None
    else:
        raise _bad("a number", value, key)
    if result - result != 0.0:  # NaN or infinity; cheaper than math.isfinite
        raise _bad("a finite number", value, key)
    return result


def _required_decimal(value: Any, key: str) -> Decimal:
    result = _opt_decimal(value, key)
    if result is None:
        raise _WireError("required field is missing, null or empty", key)
    return result


def _opt_decimal(value: Any, key: str) -> Decimal | None:
    """Money from its decimal text: a float 2.66 gives Decimal("2.66")."""
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise _bad("an amount", value, key)
    # repr of a float is its shortest round-tripping text, not its binary value.
    text = repr(value) if isinstance(value, float) else str(value).strip()
    try:
        result = Decimal(text)
    except InvalidOperation:
        raise _bad("an amount", value, key) from None
    if not result.is_finite():
        raise _bad("a finite amount", value, key)
    return result


_BOOLEANS = {"0": False, "1": True, "false": False, "true": True}


def _opt_bool(value: Any, key: str) -> bool | None:
    """A flag sent as ``0``/``1``, ``"0"``/``"1"`` or a JSON boolean."""
    if isinstance(value, bool):
        return value
    if value is None or value == "":
        return None
    if type(value) is int and value in (0, 1):
        return value == 1
    if type(value) is str and value.strip().lower() in _BOOLEANS:
        return _BOOLEANS[value.strip().lower()]
    raise _bad("0 or 1", value, key)


def _opt_order_status(value: Any, key: str) -> OrderStatus | None:
    """A status code; an unlisted code becomes a pseudo-member keeping its value."""
    code = _opt_int(value, key)
    return None if code is None else OrderStatus(code)


_CARD_STATUSES: dict[str, CardStatus] = {
    spelling: status
    for status in CardStatus
    if status is not CardStatus.UNKNOWN
    for spelling in (status.value, status.value.upper(), status.value.lower())
}


def _card_status(value: Any) -> CardStatus:
    """``dpStatus`` in any letter case; anything else is UNKNOWN (raw keeps it)."""
    if type(value) is not str:
        return CardStatus.UNKNOWN
    status = _CARD_STATUSES.get(value)
    if status is None:
        status = _CARD_STATUSES.get(value.strip().lower(), CardStatus.UNKNOWN)
    return status


def _opt_date(value: Any, key: str) -> datetime | None:
    """A GMT+8 date from its text, by the cache or parsed once; null or "" is None."""
    if type(value) is str:
        return _DATE_CACHE.get(value) or _new_date(value, key)
    if value is None:
        return None
    raise _bad("a date", value, key)


def _new_date(value: Any, key: str) -> datetime | None:
    """``_opt_date`` for a value the cache has not seen: parsed, then kept."""
    if type(value) is not str:
        return _opt_date(value, key)
    try:
        parsed = _fromisoformat(value)  # yyyy-MM-dd HH:mm:ss, nearly always
    except ValueError:
        if value == "":
            return None
        parsed = _other_date(value, key)
    if parsed.tzinfo is None:
        # combine() is four times cheaper than replace(tzinfo=...).
        parsed = _combine(parsed, parsed.time(), GMT8)
    else:
        parsed = parsed.astimezone(GMT8)
    if len(_DATE_CACHE) >= _DATE_CACHE_SIZE:
        # Bounded without LRU bookkeeping; one poll of a portfolio refills it.
        _DATE_CACHE.clear()
    _DATE_CACHE[value] = parsed
    return parsed


def _other_date(text: str, key: str) -> datetime:
    """``yyyy-MM-dd(GMT+8)`` or an odd fraction, naive or aware as written."""
    try:
        return _fromisoformat(_isoformat(text))
    except ValueError:
        raise _bad("a date like 2024-01-24 17:30:14", text, key) from None


_fromisoformat = datetime.fromisoformat
_combine = datetime.combine

# Parsed dates by their text: the records of one answer share many date
# strings, and a card's dates do not change between polls. A dict lookup is
# three times cheaper than an lru_cache call on the hot path.
_DATE_CACHE: dict[str, datetime] = {}
_DATE_CACHE_SIZE = 16384


_GMT8_SUFFIX = "(GMT+8)"


def _isoformat(text: str) -> str:
    """Drop the ``(GMT+8)`` suffix; pad or cut the fraction to six digits."""
    cleaned = text.strip()
    if cleaned.endswith(_GMT8_SUFFIX):
        cleaned = cleaned[: -len(_GMT8_SUFFIX)].rstrip()
    head, dot, fraction = cleaned.partition(".")
    if dot and fraction.isascii() and fraction.isdigit():
        # Python 3.10's fromisoformat takes only 3 or 6 fraction digits.
        cleaned = f"{head}.{fraction[:6]:0<6}"
    return cleaned


def _mapping(value: Any, what: str) -> Mapping[str, Any]:
    if isinstance(value, Mapping):
        return value
    raise _bad(f"an object ({what})", value, "")


def _first(record: Mapping[str, Any], keys: tuple[str, ...]) -> Any:
    """The value of the first of *keys* that is present and not null."""
    for key in keys:
        value = record.get(key)
        if value is not None:
            return value
    return None


def _str_list(value: Any, key: str) -> list[str]:
    """A list of text; a lone string is taken as a one-item list."""
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list | tuple):
        raise _bad("a list", value, key)
    return [_required_str(item, f"{key}[{index}]") for index, item in enumerate(value)]


def _list_of(item: Hook[M]) -> Hook[list[M]]:
    """A hook for ``list[M]``: one tight comprehension; null or "" is empty."""

    def structure_list(values: Any, _: Any = None) -> list[M]:
        if type(values) is not list:
            if values is None or values == "":
                return []
            if not isinstance(values, tuple):
                raise _bad("a list", values, "")
        try:
            return [item(value, None) for value in values]
        except _WireError as exc:
            raise _locate(exc, values, item) from None

    return structure_list


def _locate(exc: _WireError, values: Any, item: Hook[Any]) -> _WireError:
    """Add the index of the failing item, found again on the error path only."""
    for index, value in enumerate(values):
        try:
            item(value, None)
        except _WireError as again:
            return again.within(f"[{index}]")
    return exc  # pragma: no cover - the hooks are deterministic


def _nested(value: Any, hook: Hook[list[M]], key: str) -> list[M]:
    """A nested list field, its wire name added to any error's path."""
    try:
        return hook(value, None)
    except _WireError as exc:
        raise exc.within(key) from None


# Hand-written model hooks.


def _structure_card_usage(record: Any, _: Any = None) -> CardUsage:
    """
    The hot path: a usage record, read once. Each field takes an inline fast
    path for its common wire form and calls its reader only otherwise.
    """
    if type(record) is not dict:
        record = _mapping(record, "a card usage record")
    get = record.get
    used, total, remain = get("usedMB"), get("totalMB"), get("remainMB")
    if used is None:
        used = _first(record, _USED_ALIASES)
    if total is None:
        total = _first(record, _TOTAL_ALIASES)
    if remain is None:
        remain = _first(record, _REMAIN_ALIASES)
    used_mb, total_mb, remain_mb = _megabytes(used, total, remain)
    iccid, status = get("iccid"), get("dpStatus")
    start, end = get("startDate"), get("endDate")
    sku_id, price_id, display = get("skuId"), get("priceId"), get("display")
    return _new_card_usage(
        iccid if type(iccid) is str and iccid else _required_str(iccid, "iccid"),
        (_CARD_STATUSES.get(status) if type(status) is str else None)
        or _card_status(status),
        used_mb,
        total_mb,
        remain_mb,
        (_DATE_CACHE.get(start) if type(start) is str else None)
        or _new_date(start, "startDate"),
        (_DATE_CACHE.get(end) if type(end) is str else None)
        or _new_date(end, "endDate"),
        sku_id if type(sku_id) is int else _opt_int(sku_id, "skuId"),
        price_id if type(price_id) is int else _opt_int(price_id, "priceId"),
        display if type(display) is str and display else _opt_str(display, "display"),
        record,
    )


def _slot_builder(cl: type[A], names: tuple[str, ...]) -> Callable[..., A]:
    """
    A function building *cl* from its fields' values, given in the order of
    *names*, without the frozen ``__init__``: a new instance's slots are
    written directly, as that ``__init__`` writes them, for a third of its
    cost per record.

    Refuses, at import, a class this would build wrongly: *names* not exactly
    its fields in order (a field added to the model must be added to its
    hook), a slot that is not a field, a validator, a converter or an init
    hook that would be skipped.
    """
    fields = attrs.fields(cl)
    slots = [slot for slot in getattr(cl, "__slots__", ()) if slot != "__weakref__"]
    skipped = [f.name for f in fields if f.validator or f.converter or not f.init]
    hooks = ("__attrs_pre_init__", "__attrs_post_init__")
    if names != tuple(f.name for f in fields) or set(slots) != set(names):
        raise TypeError(f"{cl.__name__}'s fields are not {names}: update its hook")
    if skipped or any(hasattr(cl, hook) for hook in hooks):
        raise TypeError(f"{cl.__name__}: its __init__ does more than set fields")
    setters = {f"_set_{name}": cl.__dict__[name].__set__ for name in names}
    lines = [f"def build({', '.join(names)}):", "    self = _new(_cl)"]
    lines += [f"    _set_{name}(self, {name})" for name in names]
    lines.append("    return self")
    namespace: dict[str, Any] = {"_new": object.__new__, "_cl": cl, **setters}
    # The source holds nothing but the class's own field names.
    exec("\n".join(lines), namespace)  # noqa: S102
    build: Callable[..., A] = namespace["build"]
    return build


_new_card_usage = _slot_builder(
    CardUsage,
    (
        "iccid",
        "status",
        "used_mb",
        "total_mb",
        "remain_mb",
        "start_date",
        "end_date",
        "sku_id",
        "price_id",
        "display",
        "raw",
    ),
)


def _megabytes(
    used: Any, total: Any, remain: Any
) -> tuple[float | None, float | None, float | None]:
    """
    Used, total and remaining megabytes. The common case, three numbers or
    numeric texts, takes one ``float()`` each; anything else (a missing
    value, a flag, an infinity, text that is no number) goes through
    ``_opt_float``, which knows what to do with it.
    """
    try:
        used_f, total_f, remain_f = float(used), float(total), float(remain)
    except (TypeError, ValueError, OverflowError):
        pass
    else:
        # x - x is 0.0 only when x is finite; JSON true would read as 1.0.
        finite = used_f - used_f + total_f - total_f + remain_f - remain_f
        if finite == 0.0 and bool not in (type(used), type(total), type(remain)):
            return used_f, total_f, remain_f
    used_mb = _opt_float(used, "usedMB")
    total_mb = _opt_float(total, "totalMB")
    remain_mb = _opt_float(remain, "remainMB")
    if remain_mb is None and total_mb is not None and used_mb is not None:
        remain_mb = total_mb - used_mb
    return used_mb, total_mb, remain_mb


_USED_ALIASES = ("usedMb",)
_TOTAL_ALIASES = ("totalMb", "flowMB")
_REMAIN_ALIASES = ("remainingMB", "remainMb", "surplusMB")


def _structure_network(record: Any, _: Any = None) -> Network:
    """``networkDtoList`` items ({namecn, nameen}) or ``networkVos`` ({name})."""
    record = _mapping(record, "a network")
    get = record.get
    return Network(
        _opt_str(get("type"), "type"),
        _opt_str(get("operator"), "operator"),
        _opt_str(get("namecn"), "namecn"),
        _opt_str(_first(record, ("nameen", "name")), "nameen"),
        raw=record,
    )


_structure_networks = _list_of(_structure_network)


def _structure_package(record: Any, _: Any = None) -> Package:
    record = _mapping(record, "a package")
    get = record.get
    networks = _first(record, ("networkDtoList", "networkVos"))
    return Package(
        _required_int(get("priceid"), "priceid"),
        _opt_int(get("flows"), "flows"),
        _opt_str(get("unit"), "unit"),
        _opt_int(get("days"), "days"),
        _opt_decimal(get("price"), "price"),
        _opt_int(get("flowType"), "flowType"),
        _opt_int(get("supportDaypass"), "supportDaypass"),
        _opt_int(get("minDay"), "minDay"),
        _opt_int(get("maxDay"), "maxDay"),
        _opt_int(get("mustDate"), "mustDate"),
        _opt_int(get("expireDays"), "expireDays"),
        _opt_str(get("apiCode"), "apiCode"),
        _opt_str(get("premark"), "premark"),
        _nested(networks, _structure_networks, "networkDtoList"),
        raw=record,
    )


_structure_packages = _list_of(_structure_package)

# getPackages says esimPackageDtoList, the ICCID and DP variants
# esimPackageVoList, and one field table esimpackageDtoList.
_PACKAGE_LISTS = ("esimPackageDtoList", "esimPackageVoList", "esimpackageDtoList")


def _structure_sku_packages(record: Any, _: Any = None) -> SkuPackages:
    record = _mapping(record, "a SKU with packages")
    get = record.get
    return SkuPackages(
        _required_int(get("skuid"), "skuid"),
        _opt_str(get("display"), "display"),
        _opt_str(get("displayEn"), "displayEn"),
        _opt_str(_first(record, ("countrycode", "countryCode")), "countrycode"),
        _str_list(get("supportCountry"), "supportCountry"),
        _nested(_first(record, _PACKAGE_LISTS), _structure_packages, "packages"),
        raw=record,
    )


def _structure_order_card(record: Any, _: Any = None) -> OrderCard:
    record = _mapping(record, "a card of an order")
    get = record.get
    return OrderCard(
        _required_str(get("iccid"), "iccid"),
        _opt_str(get("data"), "data"),
        _opt_int(get("validity"), "validity"),
        _opt_str(get("sm_dp_address"), "sm_dp_address"),
        _opt_str(get("activationCode"), "activationCode"),
        _opt_str(get("code"), "code"),
        _opt_str(get("mobileNumber"), "mobileNumber"),
        _opt_date(get("activateBefore"), "activateBefore"),
        _opt_float(get("usedMB"), "usedMB"),
        _opt_date(get("startDate"), "startDate"),
        _opt_date(get("endDate"), "endDate"),
        _opt_str(get("pdfUrl"), "pdfUrl"),
        _opt_int(get("dpId"), "dpId"),
        _opt_str(get("dpStatus"), "dpStatus"),
        _opt_str(get("eid"), "eid"),
        _opt_str(get("apn"), "apn"),
        raw=record,
    )


_structure_order_cards = _list_of(_structure_order_card)


def _structure_order(record: Any, _: Any = None) -> Order:
    record = _mapping(record, "an order")
    get = record.get
    return Order(
        _required_str(get("orderNum"), "orderNum"),
        _opt_str(get("display"), "display"),
        _opt_date(get("purchaseDate"), "purchaseDate"),
        _opt_int(get("count"), "count"),
        _opt_decimal(get("price"), "price"),
        _opt_order_status(get("status"), "status"),
        _opt_bool(get("renew"), "renew"),
        _opt_str(get("mainOrderNum"), "mainOrderNum"),
        _str_list(get("renewOrderNum"), "renewOrderNum"),
        _opt_int(get("priceId"), "priceId"),
        _opt_date(get("startDate"), "startDate"),
        _opt_date(get("endDate"), "endDate"),
        _opt_str(get("outerOrderid"), "outerOrderid"),
        _opt_str(get("outerItemId"), "outerItemId"),
        _nested(get("cardApiDtoList"), _structure_order_cards, "cardApiDtoList"),
        raw=record,
    )


def _structure_sku_groups(groups: Any, _: Any = None) -> dict[str, list[Sku]]:
    """getSkuByGroup's ``data.data``: continent name -> SKUs."""
    if groups is None or groups == "":
        return {}
    groups = _mapping(groups, "continent name -> SKUs")
    return {
        _required_str(name, "continent"): _nested(skus, _structure_skus, f"[{name!r}]")
        for name, skus in groups.items()
    }


def _structure_links(links: Any, _: Any = None) -> dict[str, str]:
    """handlerEsimPdf ``type=link``: ICCID -> PDF URL."""
    if links is None or links == "":
        return {}
    links = _mapping(links, "ICCID -> PDF link")
    return {
        _required_str(iccid, "iccid"): _required_str(url, f"[{iccid!r}]")
        for iccid, url in links.items()
    }


# Hooks cattrs generates from renames, for the models whose wire names map
# one to one. The primitive rules they need are registered on the converter.


def _generated(converter: cattrs.Converter, cl: type[M], **renames: str) -> Hook[M]:
    """A cattrs-generated hook that keeps the wire mapping in ``raw``."""
    overrides: dict[str, Any] = {
        field: override(rename=wire) for field, wire in renames.items()
    }
    generated = make_dict_structure_fn(
        cl,
        converter,
        _cattrs_detailed_validation=True,
        raw=override(omit=True),
        **overrides,
    )

    def structure_model(record: Any, _: Any = None) -> M:
        record = _mapping(record, cl.__name__)
        try:
            model = generated(record, cl)
        except BaseValidationError as exc:
            raise _from_cattrs(exc, renames) from None
        # A frozen instance not yet shared: the same write attrs' __init__ does.
        object.__setattr__(model, "raw", record)
        return model

    return structure_model


def _from_cattrs(exc: BaseValidationError, renames: dict[str, str]) -> _WireError:
    """The first failure of a generated hook, under the field's wire name."""
    failure = exc.exceptions[0]
    field = next(
        (
            note.name
            for note in getattr(failure, "__notes__", ())
            if isinstance(note, AttributeValidationNote)
        ),
        "",
    )
    key = renames.get(field, field)
    if isinstance(failure, _WireError):
        return failure.within(key) if not failure.where else failure
    if isinstance(failure, KeyError):
        return _WireError("required field is missing", key)
    return _WireError(
        repr(failure), key
    )  # pragma: no cover - our hooks raise the above


def _primitive(reader: Callable[[Any, str], Any]) -> Hook[Any]:
    """A cattrs hook from a field reader; the generated hook adds the field name."""
    return lambda value, _: reader(value, "")


def _make_converter() -> cattrs.Converter:
    converter = cattrs.Converter(detailed_validation=True)
    for cl, reader in (
        (int, _required_int),
        (int | None, _opt_int),
        (str, _required_str),
        (str | None, _opt_str),
        (Decimal, _required_decimal),
        (Decimal | None, _opt_decimal),
    ):
        converter.register_structure_hook(cl, _primitive(reader))
    hooks: dict[Any, Hook[Any]] = {
        Sku: _generated(
            converter,
            Sku,
            sku_id="skuid",
            country_code="countryCode",
            image_url="imageUrl",
            continent_code="continentCode",
        ),
        Balance: _generated(converter, Balance),
        Network: _structure_network,
        Package: _structure_package,
        SkuPackages: _structure_sku_packages,
        OrderCard: _structure_order_card,
        Order: _structure_order,
        CardUsage: _structure_card_usage,
    }
    for model, hook in list(hooks.items()):
        hooks[GenericAlias(list, (model,))] = _list_of(hook)
    hooks[dict[str, list[Sku]]] = _structure_sku_groups
    hooks[dict[str, str]] = _structure_links
    for target, hook in hooks.items():
        converter.register_structure_hook_func(_is(target), hook)
    return converter


def _is(target: Any) -> Callable[[Any], bool]:
    return lambda cl: bool(cl == target)


_converter = _make_converter()
_structure_skus: Hook[list[Sku]] = _converter.get_structure_hook(list[Sku])
