"""
Peak memory growth while streaming one million ICCIDs through the fan-out.

Run with ``python -m benchmarks.memory_stream``. ICCIDs come from a generator,
so the input is never held; a fake fetch builds a ``CardUsage`` (with its raw
mapping) per ICCID asked, with no HTTP; the consumer counts records and drops
them. It prints the growth of the peak resident set size (``VmHWM`` from
``/proc/self/status``, else ``ru_maxrss``) beside the 50 MB target, and the
elapsed time.

With ``--through client`` the same stream runs through the whole library: a
``Client`` whose ``httpx.MockTransport`` answers ``queryIccidInformation`` in
process with the JSON the API sends, so signing, envelopes and decoding count.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from collections.abc import AsyncIterable, Callable, Iterator

import anyio
import httpx

from mioesim_async import CardStatus, CardUsage, Client
from mioesim_async._fanout import stream_iccids
from mioesim_async._results import ChunkResult

TARGET_MB = 50.0
OpenStream = Callable[[Iterator[str]], AsyncIterable[ChunkResult]]


def iccid_source(count: int) -> Iterator[str]:
    """*count* distinct valid ICCIDs, made one at a time."""
    for number in range(count):
        yield f"89852{number:015d}"


async def fake_fetch(iccids: list[str]) -> list[CardUsage]:
    """A chunk answered at once, one record per ICCID, raw mapping kept."""
    await anyio.lowlevel.checkpoint()
    return [_usage(iccid) for iccid in iccids]


def _usage(iccid: str) -> CardUsage:
    raw = {"iccid": iccid, "dpStatus": "ACTIVE", "usedMB": "512.25", "totalMB": "1024"}
    return CardUsage(
        iccid,
        CardStatus.ACTIVE,
        used_mb=512.25,
        total_mb=1024.0,
        remain_mb=511.75,
        raw=raw,
    )


def answer(request: httpx.Request) -> httpx.Response:
    """``queryIccidInformation`` answered in process, one record per ICCID."""
    iccids = request.url.params["iccids"].split(",")
    records = [
        {"iccid": iccid, "dpStatus": "ACTIVE", "usedMB": "512.25", "totalMB": 1024}
        for iccid in iccids
    ]
    body = {"code": 0, "message": "success", "data": records}
    return httpx.Response(200, content=json.dumps(body).encode())


async def drain_through_client(count: int, concurrency: int) -> tuple[int, int]:
    """``drain`` through a ``Client`` on an in-process transport."""
    transport = httpx.MockTransport(answer)
    async with Client(token="t", secret_key="k", transport=transport) as client:
        return await drain(
            lambda iccids: client.stream_iccids(iccids, concurrency=concurrency), count
        )


def peak_rss_mb() -> float:
    """The process's peak resident set size so far, in MB."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:  # not Linux
        pass
    scale = 1 if sys.platform == "darwin" else 1024  # bytes on macOS, KiB elsewhere
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**20


async def drain(open_stream: OpenStream, count: int) -> tuple[int, int]:
    """Consume the whole stream; the number of chunks and of records."""
    chunks = records = 0
    async for chunk in open_stream(iccid_source(count)):
        chunks += 1
        records += len(chunk.records)
    return chunks, records


def main(argv: list[str] | None = None) -> None:
    """Measure, print, and compare with the target."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--backend", choices=["asyncio", "trio"], default="asyncio")
    parser.add_argument("--through", choices=["fan-out", "client"], default="fan-out")
    args = parser.parse_args(argv)

    def open_stream(iccids: Iterator[str]) -> AsyncIterable[ChunkResult]:
        return stream_iccids(fake_fetch, iccids, concurrency=args.concurrency)

    before = peak_rss_mb()
    started = time.perf_counter()
    if args.through == "client":
        chunks, records = anyio.run(
            drain_through_client, args.count, args.concurrency, backend=args.backend
        )
    else:
        chunks, records = anyio.run(
            drain, open_stream, args.count, backend=args.backend
        )
    elapsed = time.perf_counter() - started
    growth = peak_rss_mb() - before
    assert records == args.count, (records, args.count)
    verdict = "within" if growth <= TARGET_MB else "OVER"
    print(
        f"{args.count:,} ICCIDs in {chunks:,} chunks through the {args.through}, "
        f"concurrency {args.concurrency}"
    )
    print(f"elapsed: {elapsed:.1f} s ({args.count / elapsed:,.0f} ICCIDs/s)")
    print(f"peak RSS growth: {growth:.1f} MB ({verdict} the {TARGET_MB:.0f} MB target)")


if __name__ == "__main__":
    main()
