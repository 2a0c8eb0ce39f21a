"""
ICCIDs per second polled from the sandbox over loopback: ``query_iccids`` on
each HTTP backend beside hand-written raw ``httpx`` and ``aiohttp`` loops.

Run with ``python -m benchmarks.fanout`` (``--quick`` for a short smoke run).
The sandbox is served by uvicorn (httptools, uvloop) from a separate process
on 127.0.0.1, every card's record rendered before the first request. Five
contestants poll the same ICCIDs:

- ``raw httpx``: a hand-written loop, ``asyncio.gather`` under a semaphore,
  on an ``httpx.AsyncClient`` whose pool keeps as many connections as the
  library's does; it logs in, signs each request with MD5 and parses the
  JSON (``response.json()``), but builds no models;
- ``raw aiohttp``: the same loop on an ``aiohttp.ClientSession``;
- ``raw aiohttp + models``: that loop again, parsing each answer with the
  library's parser (orjson when installed) and building its ``CardUsage``
  models with the library's converter. Nothing that builds those models on
  aiohttp can beat it, so its ratio to ``raw aiohttp`` is the most any such
  client can reach: the ceiling beside which the fast backend is read;
- ``query_iccids``: the library with its default backend, models and all;
- ``query_iccids fast``: the library on its aiohttp backend.

Each run is a fresh client process, so its CPU seconds (``process_time``)
and its peak resident set are its own; a run's time covers everything from
creating the client to holding every record (login and connecting included).
Contestants run in turns (A B C D E A B C D E ...) so that a slow patch on a
shared machine hurts each alike; each figure is the median over the rounds,
and each ratio between two contestants the median of their ratios within a
round, so that a slow patch moving a whole round cancels out.

Two scenarios: no added latency (the client's CPU is the limit) and a fixed
latency per query (the floor is then rounds x latency, one round being
*concurrency* requests of 100 ICCIDs).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import hashlib
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from importlib import metadata
from typing import Any

import attrs

from benchmarks._loopback import peak_rss_mb, rss_mb, sandbox_server

CHUNK = 100
LOGIN_PATH = "/api_order/login"
QUERY_PATH = "/api_esim/queryIccidInformation"
MIN_POOL = 100  # the library's pool floor; the raw loops get the same pool

RAW_HTTPX = "raw httpx"
RAW_AIOHTTP = "raw aiohttp"
RAW_AIOHTTP_MODELS = "raw aiohttp + models"
MIO_DEFAULT = "query_iccids"
MIO_FAST = "query_iccids fast"
BASELINES = (RAW_HTTPX, RAW_AIOHTTP, RAW_AIOHTTP_MODELS)

Poll = Callable[[str, list[str], int], Awaitable[Sequence[object]]]


# The client side: one contestant, one run, in its own process ----------------


def _credentials() -> dict[str, str]:
    from mioesim_async.sandbox import Sandbox

    sandbox = Sandbox(cards=0)
    return {
        "phone_number": sandbox.phone_number,
        "password": sandbox.password,
        "secret_key": sandbox.secret_key,
    }


def _signed(params: dict[str, str], secret_key: str) -> dict[str, str]:
    """*params* with the API's ``sign``: MD5 of sorted ``k=v`` plus the key."""
    text = "".join(sorted(f"{key}={value}" for key, value in params.items()))
    digest = hashlib.md5((text + secret_key).encode()).hexdigest()  # noqa: S324
    return {**params, "sign": digest}


def _login_form(creds: dict[str, str]) -> dict[str, str]:
    form = {"phonenumber": creds["phone_number"], "password": creds["password"]}
    return _signed(form, creds["secret_key"])


def _token(body: Any) -> str:
    assert body["code"] == 1, body
    return str(body["data"]["token"])


def _data(status: int, body: Any) -> list[Any]:
    """A query answer's records, after the checks any caller makes."""
    assert status == 200, status
    assert str(body["code"]) == "0", body
    return list(body["data"])


def _chunks(iccids: list[str]) -> list[list[str]]:
    return [iccids[i : i + CHUNK] for i in range(0, len(iccids), CHUNK)]


async def poll_raw_httpx(url: str, iccids: list[str], concurrency: int) -> list[Any]:
    import httpx

    creds = _credentials()
    pool = max(concurrency, MIN_POOL)
    limits = httpx.Limits(max_connections=pool, max_keepalive_connections=pool)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as client:
        login = await client.post(LOGIN_PATH, data=_login_form(creds))
        token = _token(login.json())
        semaphore = asyncio.Semaphore(concurrency)

        async def one(chunk: list[str]) -> list[Any]:
            params = {"iccids": ",".join(chunk), "token": token}
            async with semaphore:
                response = await client.get(
                    QUERY_PATH, params=_signed(params, creds["secret_key"])
                )
                return _data(response.status_code, response.json())

        return await asyncio.gather(*(one(chunk) for chunk in _chunks(iccids)))


async def poll_raw_aiohttp(url: str, iccids: list[str], concurrency: int) -> list[Any]:
    async def records(response: Any) -> list[Any]:
        return _data(response.status, await response.json())

    return await _poll_aiohttp(url, iccids, concurrency, records)


async def poll_raw_aiohttp_models(
    url: str, iccids: list[str], concurrency: int
) -> list[Any]:
    from mioesim_async import CardUsage
    from mioesim_async._convert import structure
    from mioesim_async._json import loads

    async def models(response: Any) -> list[CardUsage]:
        body = loads(await response.read())
        return structure(_data(response.status, body), list[CardUsage])

    return await _poll_aiohttp(url, iccids, concurrency, models)


async def _poll_aiohttp(
    url: str,
    iccids: list[str],
    concurrency: int,
    read: Callable[[Any], Awaitable[list[Any]]],
) -> list[Any]:
    """The hand-written aiohttp loop; *read* turns an answer into its records."""
    import aiohttp

    creds = _credentials()
    pool = max(concurrency, MIN_POOL)
    connector = aiohttp.TCPConnector(limit=pool, limit_per_host=pool)
    async with aiohttp.ClientSession(url, connector=connector) as session:
        async with session.post(LOGIN_PATH, data=_login_form(creds)) as login:
            token = _token(await login.json())
        semaphore = asyncio.Semaphore(concurrency)

        async def one(chunk: list[str]) -> list[Any]:
            params = {"iccids": ",".join(chunk), "token": token}
            async with (
                semaphore,
                session.get(
                    QUERY_PATH, params=_signed(params, creds["secret_key"])
                ) as response,
            ):
                return await read(response)

        return await asyncio.gather(*(one(chunk) for chunk in _chunks(iccids)))


def _client(url: str, concurrency: int, *, fast: bool) -> Any:
    import mioesim_async as mio

    return mio.Client(
        **_credentials(),
        base_url=url,
        max_concurrency=concurrency,
        http_backend="aiohttp" if fast else "httpx",
    )


async def poll_library(
    url: str, iccids: list[str], concurrency: int, *, fast: bool
) -> list[Any]:
    async with _client(url, concurrency, fast=fast) as client:
        result = await client.query_iccids(iccids, concurrency=concurrency)
    result.raise_for_errors()
    return [result.records]


async def poll_default(url: str, iccids: list[str], concurrency: int) -> list[Any]:
    return await poll_library(url, iccids, concurrency, fast=False)


async def poll_fast(url: str, iccids: list[str], concurrency: int) -> list[Any]:
    return await poll_library(url, iccids, concurrency, fast=True)


CONTESTANTS: dict[str, Poll] = {
    RAW_HTTPX: poll_raw_httpx,
    RAW_AIOHTTP: poll_raw_aiohttp,
    RAW_AIOHTTP_MODELS: poll_raw_aiohttp_models,
    MIO_DEFAULT: poll_default,
    MIO_FAST: poll_fast,
}


def run_one(name: str, url: str, concurrency: int, count: int) -> dict[str, float]:
    """One timed run of contestant *name*, in this process."""
    from mioesim_async.sandbox import Sandbox

    iccids = Sandbox(cards=count).iccids
    gc.collect()
    before = rss_mb()
    cpu, started = time.process_time(), time.perf_counter()
    answers = asyncio.run(CONTESTANTS[name](url, iccids, concurrency))
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu
    peak = peak_rss_mb()  # while every answer is still held
    records = sum(len(answer) for answer in answers)
    assert records == count, (name, records, count)
    return {
        "rate": count / elapsed,
        "cpu": cpu,
        "peak_rss": peak,
        "rss_growth": peak - before,
    }


# The parent: servers, turns, medians, the table ------------------------------


@attrs.frozen
class Scenario:
    name: str
    latency: float


@attrs.define
class Cell:
    """The samples of one contestant at one concurrency in one scenario."""

    rates: list[float] = attrs.Factory(list)
    cpus: list[float] = attrs.Factory(list)
    peaks: list[float] = attrs.Factory(list)
    growths: list[float] = attrs.Factory(list)

    def add(self, sample: dict[str, float]) -> None:
        self.rates.append(sample["rate"])
        self.cpus.append(sample["cpu"])
        self.peaks.append(sample["peak_rss"])
        self.growths.append(sample["rss_growth"])

    @property
    def rate(self) -> float:
        return statistics.median(self.rates)

    def versus(self, base: Cell) -> float:
        """
        The median, over rounds, of this rate over *base*'s in the same round.
        Both ran within seconds of each other, so a slow patch of a shared
        machine, which moves whole rounds, cancels out of each ratio.
        """
        return statistics.median(
            mine / theirs for mine, theirs in zip(self.rates, base.rates, strict=True)
        )


Results = dict[tuple[str, int, str], Cell]


def spawn_run(name: str, url: str, concurrency: int, count: int) -> dict[str, float]:
    """One run of *name* in a fresh client process."""
    command = [sys.executable, "-m", "benchmarks.fanout", "--run", name]
    command += ["--url", url, "--concurrency", str(concurrency)]
    command += ["--iccids", str(count)]
    done = subprocess.run(  # noqa: S603 - our own interpreter and module
        command, check=True, capture_output=True, text=True
    )
    sample: dict[str, float] = json.loads(done.stdout.splitlines()[-1])
    return sample


def measure(
    scenario: Scenario,
    concurrencies: list[int],
    count: int,
    rounds: int,
    results: Results,
) -> None:
    """Run every contestant in turns at each concurrency, against one server."""
    with sandbox_server(count, scenario.latency) as url:
        for concurrency in concurrencies:
            for _ in range(rounds):
                for name in CONTESTANTS:
                    sample = spawn_run(name, url, concurrency, count)
                    cell = results.setdefault(
                        (scenario.name, concurrency, name), Cell()
                    )
                    cell.add(sample)
            print(
                f"  {scenario.name}, concurrency {concurrency}: done", file=sys.stderr
            )


def floor_rate(count: int, concurrency: int, latency: float) -> float | None:
    """ICCIDs/s at the latency floor: rounds of *concurrency* requests."""
    if not latency:
        return None
    rounds = math.ceil(math.ceil(count / CHUNK) / concurrency)
    return count / (rounds * latency)


def ratio(value: float, base: float | None) -> str:
    return "—" if base is None else f"{value / base:.2f}x"


def paired(cell: Cell, base: Cell) -> str:
    return f"{cell.versus(base):.2f}x"


def print_table(
    scenarios: list[Scenario], concurrencies: list[int], count: int, results: Results
) -> None:
    header = ["scenario", "conc.", "contestant", "ICCIDs/s", "client CPU s"]
    header += ["peak RSS MB (growth)"] + [f"vs {base}" for base in BASELINES]
    header += ["vs floor"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for scenario in scenarios:
        for concurrency in concurrencies:
            floor = floor_rate(count, concurrency, scenario.latency)
            cells = {n: results[(scenario.name, concurrency, n)] for n in CONTESTANTS}
            for name, cell in cells.items():
                row = [scenario.name, str(concurrency), name, f"{cell.rate:,.0f}"]
                row += [f"{statistics.median(cell.cpus):.2f}"]
                row += [
                    f"{statistics.median(cell.peaks):.0f} "
                    f"(+{statistics.median(cell.growths):.0f})"
                ]
                row += [paired(cell, cells[base]) for base in BASELINES]
                row += [ratio(cell.rate, floor)]
                print("| " + " | ".join(row) + " |")


def check_targets(
    scenarios: list[Scenario], concurrencies: list[int], count: int, results: Results
) -> None:
    """The issue's targets, each with its measured ratio."""
    print("\nTargets (ratios from this run):")
    for scenario in scenarios:
        for concurrency in concurrencies:
            cells = {n: results[(scenario.name, concurrency, n)] for n in CONTESTANTS}
            floor = floor_rate(count, concurrency, scenario.latency)
            if floor is None and concurrency in (32, 64):
                _target(
                    f"{scenario.name} c{concurrency}: fast / raw aiohttp",
                    cells[MIO_FAST].versus(cells[RAW_AIOHTTP]),
                    0.6,
                    ceiling=cells[RAW_AIOHTTP_MODELS].versus(cells[RAW_AIOHTTP]),
                )
                _target(
                    f"{scenario.name} c{concurrency}: default / raw httpx",
                    cells[MIO_DEFAULT].versus(cells[RAW_HTTPX]),
                    1.5,
                )
            elif floor is not None and concurrency == 32:
                for name in (MIO_DEFAULT, MIO_FAST):
                    _target(
                        f"{scenario.name} c{concurrency}: {name} / floor",
                        cells[name].rate / floor,
                        0.9,
                        ceiling=cells[RAW_AIOHTTP_MODELS].rate / floor,
                    )


def _target(
    label: str, value: float, goal: float, *, ceiling: float | None = None
) -> None:
    """One target, beside what ``raw aiohttp + models`` reaches on it."""
    verdict = "met" if value >= goal else "NOT met"
    beside = "" if ceiling is None else f"; raw aiohttp + models: {ceiling:.2f}x"
    print(f"  {label:<48} {value:5.2f}x  (target >= {goal}x: {verdict}{beside})")


def print_setup(args: argparse.Namespace) -> None:
    versions = ", ".join(
        f"{package} {_version(package)}"
        for package in ("httpx", "aiohttp", "orjson", "uvicorn")
    )
    print(
        f"{args.iccids:,} ICCIDs per run, {CHUNK} per request; median of "
        f"{args.rounds} rounds in turns, ratios paired within a round; "
        f"{os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}; {versions}\n"
    )


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "absent"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iccids", type=int, default=100_000, help="per run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[8, 32, 64])
    parser.add_argument("--latency", type=float, default=0.020, help="seconds")
    parser.add_argument("--quick", action="store_true", help="20,000 ICCIDs, one round")
    parser.add_argument("--run", choices=list(CONTESTANTS), help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run is not None:
        sample = run_one(args.run, args.url, args.concurrency[0], args.iccids)
        print(json.dumps(sample))
        return
    if args.quick:
        args.iccids, args.rounds = 20_000, 1
    scenarios = [
        Scenario("CPU-bound", 0.0),
        Scenario(f"{args.latency * 1000:g} ms", args.latency),
    ]
    results: Results = {}
    print_setup(args)
    for scenario in scenarios:
        measure(scenario, args.concurrency, args.iccids, args.rounds, results)
    print_table(scenarios, args.concurrency, args.iccids, results)
    check_targets(scenarios, args.concurrency, args.iccids, results)


if __name__ == "__main__":
    main()
