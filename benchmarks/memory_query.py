"""
Memory held by ``query_iccids`` results: bytes per ``CardUsage`` record, one
million of them.

Run with ``python -m benchmarks.memory_query``. A ``Client`` polls a million
ICCIDs through an in-process ``httpx.MockTransport`` that answers each
request with records shaped as the sandbox renders them (distinct dates and
usage per card, so nothing is shared that a real answer would not share).
With the ``BatchResult`` still held, it prints the resident set's growth over
the baseline taken after the ICCID list was built, per record, beside the
600-byte target, and the peak growth. Each record holds its model, the
``raw`` mapping it was built from and that mapping's values.
"""

from __future__ import annotations

import argparse
import gc
import time
from datetime import datetime, timedelta

import anyio
import httpx

import mioesim_async as mio
from benchmarks._loopback import peak_rss_mb, rss_mb

TARGET_BYTES = 600
SECRET_KEY = "k" * 32
_BASE = datetime(2026, 11, 1, 9, 0, 0)
_LOGIN = b'{"code":1,"message":"success","data":{"token":"' + b"t" * 32 + b'"}}'


def iccid_at(number: int) -> str:
    return f"89852{number:015d}"


def _record(iccid: str) -> str:
    """A usage record as the sandbox renders it: usedMB as text, the rest numbers."""
    number = int(iccid[5:])
    start = _BASE + timedelta(seconds=number * 37 % (30 * 86400))
    end = start + timedelta(days=(7, 15, 30)[number % 3])
    used = number * 7 % 3072 + 0.25
    return (
        f'{{"iccid":"{iccid}","dpStatus":"ACTIVE","usedMB":"{used:.2f}",'
        f'"totalMB":3072,"remainMB":{3072 - used:.2f},'
        f'"startDate":"{start:%Y-%m-%d %H:%M:%S}","endDate":"{end:%Y-%m-%d %H:%M:%S}",'
        f'"skuId":156,"priceId":1562,"display":"Africa"}}'
    )


def answer(request: httpx.Request) -> httpx.Response:
    """The sandbox's answers, made on the spot: login, and usage queries."""
    if request.url.path.endswith("/login"):
        return httpx.Response(200, content=_LOGIN)
    iccids = request.url.params["iccids"].split(",")
    data = ",".join(_record(iccid) for iccid in iccids)
    body = '{"code":0,"message":"success","data":[' + data + "]}"
    return httpx.Response(200, content=body.encode())


async def poll(iccids: list[str], concurrency: int) -> mio.BatchResult:
    async with mio.Client(
        phone_number="13800000000",
        password="password",
        secret_key=SECRET_KEY,
        base_url="http://127.0.0.1",
        transport=httpx.MockTransport(answer),
        max_concurrency=concurrency,
    ) as client:
        return await client.query_iccids(iccids, concurrency=concurrency)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    iccids = [iccid_at(number) for number in range(args.count)]
    gc.collect()
    before = rss_mb()
    started = time.perf_counter()
    result = anyio.run(poll, iccids, args.concurrency)
    elapsed = time.perf_counter() - started
    gc.collect()
    held = (rss_mb() - before) * 2**20 / len(result.records)
    peak = peak_rss_mb() - before
    assert result.ok
    assert len(result.records) == args.count
    verdict = "within" if held <= TARGET_BYTES else "OVER"
    print(f"{args.count:,} records in {elapsed:.1f} s, concurrency {args.concurrency}")
    print(f"held: {held:.0f} bytes per record ({verdict} the {TARGET_BYTES} target)")
    print(f"peak RSS growth: {peak:.0f} MB")


if __name__ == "__main__":
    main()
