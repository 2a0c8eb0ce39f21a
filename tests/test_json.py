from __future__ import annotations

import json

import pytest

from mioesim_async import _json

PARSERS = [
    pytest.param(_json.stdlib_loads, id="json"),
    pytest.param(
        _json.orjson_loads,
        id="orjson",
        marks=pytest.mark.skipif(not _json.HAVE_ORJSON, reason="orjson absent"),
    ),
]


@pytest.mark.parametrize("loads", PARSERS)
@pytest.mark.parametrize(
    "body",
    [
        b'{"code":0,"message":"success","data":[{"iccid":"1","usedMB":"2.5"}]}',
        '{"display":"奥地利","remainMB":10.25,"a":1,"a":2}'.encode(),
        b'{"iccid":"89852000263000000000","x":"-1234567890123456789"}',
        b'{"iccid":"8985200026300000000012345678901234567890123"}',
        b'{"usedMB": NaN, "totalMB": Infinity, "remainMB": -1e400}',
        b'{"skuId": 123456789012345678901234567890}',  # beyond 64 bits
        b"[18446744073709551615, 18446744073709551616]",
        b"[-9223372036854775808, -9223372036854775809]",
        b"12345678901234567890",
        b'{"a":"x12345678901234567890"}',
        b'"\\ud800"',  # a lone surrogate
        b'\xef\xbb\xbf{"code":"0"}',  # a byte-order mark
        '{"code":"0"}'.encode("utf-16"),
    ],
)
def test_parses_what_json_parses_into_the_same(loads, body):
    assert repr(loads(body)) == repr(json.loads(body))


@pytest.mark.parametrize("loads", PARSERS)
@pytest.mark.parametrize("body", [b"", b"<html>502</html>", b'{"code":', b"\xff"])
def test_refuses_what_json_refuses_with_its_error(loads, body):
    try:
        json.loads(body)
    except ValueError as error:
        expected = error
    with pytest.raises(type(expected)) as refused:
        loads(body)
    assert str(refused.value) == str(expected)


@pytest.mark.parametrize(
    ("body", "may"),
    [
        (b'{"iccid":"89852000263000000000"}', False),
        (b'{"iccid":"8985200026300000000"}', False),
        (b'{"usedMB":"1234567890123456789.5"}', False),
        (b'{"n":12345678901234567890}', True),
        (b'{"n":-1234567890123456789}', True),
        (b"[1,12345678901234567890]", True),
        (b"12345678901234567890", True),
        (b'{"s":"12345678901234567890123456789012345678901"}', True),
    ],
)
def test_a_possible_big_integer_is_seen(body, may):
    assert _json._may_hold_big_integer(body) is may


def test_the_fast_parser_is_used_when_installed():
    expected = _json.orjson_loads if _json.HAVE_ORJSON else _json.stdlib_loads
    assert _json.loads is expected
