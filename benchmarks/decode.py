"""
Decode speed of a queryIccidInformation answer: microseconds per usage record.

Run with ``python -m benchmarks.decode``. It builds a realistic 100-record JSON
body and prints the median time per record of:

- ``json.loads`` alone (and ``orjson.loads`` when orjson is installed);
- what the client does with an answer: its parser (orjson when installed,
  else ``json``) and ``structure(data, list[CardUsage])``, with the date
  cache warm (the same portfolio polled again) and cold (cleared before each
  run, as on a first poll of a large portfolio);
- the same with ``json.loads``, for an install without orjson;
- a naive baseline: a default-style cattrs converter with ``strptime`` dates,
  built here;

beside the target of 3 us per record. Each figure is the median over every
run of several interleaved rounds, shown with the median of the least
disturbed round: on a shared machine one round moves with other processes'
load.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import cattrs
from cattrs.gen import make_dict_structure_fn, override

from mioesim_async import CardStatus, CardUsage
from mioesim_async._convert import _DATE_CACHE, structure
from mioesim_async._json import HAVE_ORJSON, loads, orjson_loads, stdlib_loads
from mioesim_async._models import GMT8

TARGET_US = 3.0
#: label, the run to time, what to do before each run (or None)
Row = tuple[str, Callable[[], object], Callable[[], object] | None]
RECORDS = 100


def usage_body(records: int = RECORDS, seed: int = 0) -> bytes:
    """A queryIccidInformation answer as the server sends it: numbers as text."""
    rng = random.Random(seed)
    base = datetime(2024, 5, 1, 9, 0, 0)
    data = [_usage_record(rng, base, index) for index in range(records)]
    envelope = {"code": "0", "message": "success", "data": data}
    return json.dumps(envelope, ensure_ascii=False).encode()


def _usage_record(rng: random.Random, base: datetime, index: int) -> dict[str, Any]:
    total = rng.choice([1024, 3072, 5120, 10240])
    used = round(rng.uniform(0, total), 2)
    start = base + timedelta(seconds=rng.randrange(30 * 86400))
    days = rng.choice([7, 15, 30])
    return {
        "iccid": f"89852000{263_000_000_000 + index:011d}",
        "dpStatus": rng.choice(["ACTIVE", "ACTIVE", "ACTIVE", "Enable", "Disable"]),
        "usedMB": f"{used:.2f}",
        "totalMB": str(total),
        "remainMB": f"{total - used:.2f}",
        "startDate": start.strftime("%Y-%m-%d %H:%M:%S"),
        "endDate": (start + timedelta(days=days)).strftime("%Y-%m-%d %H:%M:%S"),
        "skuId": 45,
        "priceId": rng.choice([441, 442, 443]),
        "display": "Austria",
        "eid": None,
    }


def naive_structure() -> Callable[[Any], list[CardUsage]]:
    """What a default cattrs setup gives: generated hook, strptime dates."""
    converter = cattrs.Converter()
    converter.register_structure_hook(datetime, _strptime_gmt8)
    converter.register_structure_hook(float, lambda value, _: float(value))
    converter.register_structure_hook(int, lambda value, _: int(value))
    converter.register_structure_hook(
        CardStatus, lambda value, _: _NAIVE_STATUSES.get(value, CardStatus.UNKNOWN)
    )
    overrides: dict[str, Any] = {
        field: override(rename=wire) for field, wire in _NAIVE_RENAMES.items()
    }
    converter.register_structure_hook(
        CardUsage,
        make_dict_structure_fn(
            CardUsage, converter, raw=override(omit=True), **overrides
        ),
    )
    return lambda data: converter.structure(data, list[CardUsage])


_NAIVE_RENAMES = {
    "status": "dpStatus",
    "used_mb": "usedMB",
    "total_mb": "totalMB",
    "remain_mb": "remainMB",
    "start_date": "startDate",
    "end_date": "endDate",
    "sku_id": "skuId",
    "price_id": "priceId",
}

_NAIVE_STATUSES = {status.value: status for status in CardStatus}
_NAIVE_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d")


def _strptime_gmt8(value: Any, _: Any) -> datetime | None:
    if not value:
        return None
    for date_format in _NAIVE_FORMATS:
        try:
            return datetime.strptime(value, date_format).replace(tzinfo=GMT8)
        except ValueError:
            continue
    raise ValueError(value)


def us_per_record(
    run: Callable[[], object], repeat: int, before: Callable[[], object] | None = None
) -> list[float]:
    """*repeat* timed runs of one body, each in microseconds per record."""
    samples = []
    for _ in range(repeat):
        if before is not None:
            before()
        start = time.perf_counter_ns()
        run()
        samples.append((time.perf_counter_ns() - start) / 1000 / RECORDS)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=500, help="runs per round")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    body = usage_body()
    naive = naive_structure()
    checked = _client_path(body)
    assert len(checked) == RECORDS
    assert naive(json.loads(body)["data"])[0].iccid == checked[0].iccid
    assert _stdlib_path(body) == checked

    rows = _rows(body, naive)
    print(f"{RECORDS}-record queryIccidInformation body, {len(body)} bytes")
    print(f"the client parses with {_PARSER}; microseconds per record:")
    samples: dict[str, list[float]] = {label: [] for label, _, _ in rows}
    best = dict.fromkeys(samples, float("inf"))
    for _ in range(args.rounds):
        for label, run, before in rows:
            figures = us_per_record(run, args.repeat, before)
            samples[label] += figures
            best[label] = min(best[label], statistics.median(figures))
    print(f"  {'':<46} {'median':>7} {'best round':>11}")
    for label, figures in samples.items():
        median = statistics.median(figures)
        verdict = _verdict(median) if label.startswith(_TARGETED) else ""
        print(f"  {label:<46} {median:7.2f} {best[label]:11.2f}  {verdict}")
    print(
        f"  (target: parse + build <= {TARGET_US:.1f} us per record; median of "
        f"{args.rounds} interleaved rounds of {args.repeat} runs, and the "
        "median of the least disturbed round)"
    )


_TARGETED = "client: "
_PARSER = "orjson" if HAVE_ORJSON else "json (install orjson, extra fast)"


def _verdict(median: float) -> str:
    return "within target" if median <= TARGET_US else "OVER target"


def _rows(body: bytes, naive: Callable[[Any], list[CardUsage]]) -> list[Row]:
    rows: list[Row] = [("json.loads alone", lambda: json.loads(body), None)]
    if HAVE_ORJSON:
        rows.append(("orjson.loads alone", lambda: orjson_loads(body), None))
    rows += [
        (f"{_TARGETED}parse + structure, warm dates", lambda: _client_path(body), None),
        (
            f"{_TARGETED}parse + structure, cold dates",
            lambda: _client_path(body),
            _DATE_CACHE.clear,
        ),
        ("json.loads + structure, warm dates", lambda: _stdlib_path(body), None),
        ("json.loads + naive cattrs/strptime", lambda: naive(_data(body)), None),
    ]
    return rows


def _data(body: bytes) -> Any:
    return json.loads(body)["data"]


def _client_path(body: bytes) -> list[CardUsage]:
    """What the client does with a body: its parser, then the converter."""
    return structure(loads(body)["data"], list[CardUsage])


def _stdlib_path(body: bytes) -> list[CardUsage]:
    """The same without orjson."""
    return structure(stdlib_loads(body)["data"], list[CardUsage])


if __name__ == "__main__":
    main()
