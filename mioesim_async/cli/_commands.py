"""
The subcommands. Each takes the parsed arguments and the ``Context`` and
returns the exit code; failures it cannot explain better propagate to
``main``, which prints them in one line.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import signal
import sys
from collections.abc import Awaitable, Callable, Iterator, Mapping
from datetime import datetime
from typing import IO, Any

import anyio
import attrs
from rich.console import Console, RenderableType

from .._client import Client
from .._exceptions import InvalidICCIDError
from .._iccid import normalize_iccid
from .._models import GMT8
from ..sandbox import Faults, Sandbox
from ._credentials import client_settings, has_login
from ._errors import CliError
from ._input import BadLinesError, IccidList, read_iccids
from ._output import RowList, RowWriter, open_writer, table_console, to_json
from ._poll import poll
from ._report import PortfolioReport, Thresholds
from ._tables import history_table, packages_table, report_view, skus_table

__all__ = [
    "EXIT_ERROR",
    "EXIT_OK",
    "EXIT_PARTIAL",
    "Context",
    "demo",
    "history",
    "packages",
    "poll_file",
    "sandbox",
    "skus",
    "usage",
]

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_PARTIAL = 2  # some ICCIDs failed or are missing; every row was written

_BAD_LINES_SHOWN = 20


@attrs.frozen
class Context:
    """What commands need from outside: the time, the environment, the screens."""

    now: datetime
    env: Mapping[str, str]
    out: Console
    err: Console


def _exit_code(report: PortfolioReport) -> int:
    """0 all answered, 2 some not; a failure of the account itself is an error."""
    if report.stopped_by is not None:
        raise report.stopped_by  # every row is written; main explains it in a line
    return EXIT_OK if report.ok else EXIT_PARTIAL


def _thresholds(args: argparse.Namespace, ctx: Context) -> Thresholds:
    return Thresholds(
        now=ctx.now,
        expiring_days=args.expiring_days,
        low_data_mb=args.low_data_mb,
    )


# demo ----------------------------------------------------------------------

_REAL_POLL = (
    "MIOESIM_PHONE_NUMBER=... MIOESIM_PASSWORD=... MIOESIM_SECRET_KEY=... "
    "mioesim poll --file iccids.txt --output usage.csv"
)


def demo(args: argparse.Namespace, ctx: Context) -> int:
    """Serve a sandbox on loopback, poll all of it, and print the report."""
    faults = Faults(latency=args.latency_ms / 1000)
    today = ctx.now.astimezone(GMT8).date()  # the portfolio's dates follow "now"
    box = Sandbox(cards=args.cards, seed=args.seed, faults=faults, today=today)
    return anyio.run(_demo, box, args, ctx)


async def _demo(box: Sandbox, args: argparse.Namespace, ctx: Context) -> int:
    report = await _poll_sandbox(box, args, ctx)
    out = ctx.out
    out.print()
    out.print(report_view(report))
    out.print()
    out.print("The same poll against the real API (one ICCID a line in iccids.txt):")
    out.print(f"  {_REAL_POLL}", soft_wrap=True, highlight=False)
    return _exit_code(report)


async def _poll_sandbox(
    box: Sandbox, args: argparse.Namespace, ctx: Context
) -> PortfolioReport:
    """Serve *box* on a free loopback port and poll every card through HTTP."""
    iccids = box.iccids
    async with box.serve(port=0) as base_url:
        ctx.out.print(
            f"Sandbox serving {len(iccids):,} cards at {base_url} "
            f"(seed {args.seed}, {args.concurrency} requests in flight)",
            highlight=False,
            soft_wrap=True,
        )
        client = box.client(
            base_url=base_url, transport=None, max_concurrency=args.concurrency
        )
        async with client:
            return await poll(
                client,
                iccids,
                Thresholds(now=ctx.now),
                concurrency=args.concurrency,
                progress=ctx.out,
            )


# sandbox -------------------------------------------------------------------

_FAULT_FLAGS = {  # flag dest -> (Faults attribute, factor to its unit)
    "latency_ms": ("latency", 1 / 1000),
    "jitter_ms": ("jitter", 1 / 1000),
    "error_rate": ("error_rate", 1),
    "error_status": ("error_status", 1),
    "rate_limit": ("rate_limit_rate", 1),
    "retry_after": ("retry_after", 1),
    "drop_rate": ("drop_rate", 1),
    "malformed_rate": ("malformed_rate", 1),
    "disconnect_rate": ("disconnect_rate", 1),
    "order_delay_ms": ("order_delay", 1 / 1000),
    "poison_code": ("poison_code", 1),
    "fault_seed": ("seed", 1),
}


def _faults(args: argparse.Namespace) -> Faults:
    """The faults the flags ask for; ``Faults``' defaults for the others."""
    given: dict[str, Any] = {}
    for dest, (name, factor) in _FAULT_FLAGS.items():
        value = getattr(args, dest)
        if value is not None:
            given[name] = value * factor if factor != 1 else value
    if args.poison:
        given["poisoned"] = [normalize_iccid(v, i) for i, v in enumerate(args.poison)]
    if args.fault_endpoints:
        given["endpoints"] = args.fault_endpoints.split(",")
    return Faults(**given)


def _build_sandbox(args: argparse.Namespace) -> Sandbox:
    try:
        return Sandbox(
            cards=args.cards,
            seed=args.seed,
            signature_style=args.signature_style,
            faults=_faults(args),
        )
    except InvalidICCIDError as exc:
        raise CliError(f"--poison: {exc}") from None
    except ValueError as exc:  # out-of-range counts and rates, named by the library
        raise CliError(str(exc)) from None


def sandbox(args: argparse.Namespace, ctx: Context) -> int:
    """Serve a sandbox until interrupted."""
    box = _build_sandbox(args)
    with contextlib.suppress(KeyboardInterrupt):  # a Ctrl-C before serving
        anyio.run(_serve_until_interrupted, box, args, ctx)
    return EXIT_OK


async def _serve_until_interrupted(
    box: Sandbox, args: argparse.Namespace, ctx: Context
) -> None:
    async with contextlib.AsyncExitStack() as stack:
        try:
            base_url = await stack.enter_async_context(box.serve(args.host, args.port))
        except OSError as exc:  # the port is taken, or the address is not ours
            raise CliError(f"cannot listen on {args.host}:{args.port}: {exc}") from None
        _announce(box, args, base_url, ctx.out)
        await _stop_signal()
    ctx.err.print("Sandbox stopped.")


async def _stop_signal() -> None:
    """
    Return on Ctrl-C (SIGINT) or SIGTERM. Handling both here stops the server
    cleanly either way, and also when the shell started this in the
    background with SIGINT ignored.
    """
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for _ in signals:
            return


def _announce(
    box: Sandbox, args: argparse.Namespace, base_url: str, out: Console
) -> None:
    """The base URL and the sandbox's own (public, fixed) credentials."""
    out.print(
        f"MIOeSIM sandbox: {args.cards:,} cards (seed {args.seed}) at {base_url}",
        highlight=False,
    )
    out.print("Point the client or mioesim at it with:", highlight=False)
    for name, value in (
        ("MIOESIM_BASE_URL", base_url),
        ("MIOESIM_PHONE_NUMBER", box.phone_number),
        ("MIOESIM_PASSWORD", box.password),
        ("MIOESIM_SECRET_KEY", box.secret_key),
        ("MIOESIM_SIGNATURE_STYLE", box.signature_style.value),
    ):
        out.print(f"  export {name}={value}", soft_wrap=True, highlight=False)
    out.print("Press Ctrl-C to stop.")
    out.file.flush()


# poll ----------------------------------------------------------------------


def _read_file(path: str) -> IccidList:
    """The ICCIDs of *path* (``-``: standard input), every line checked."""
    try:
        if path == "-":
            return read_iccids(sys.stdin)
        with open(path, encoding="utf-8-sig") as lines:
            return read_iccids(lines)
    except BadLinesError as exc:
        raise CliError(_bad_lines_message(path, exc)) from None


def _bad_lines_message(path: str, exc: BadLinesError) -> str:
    """One line per bad line, as ``FILE:LINE: ...``, then the verdict."""
    source = "<stdin>" if path == "-" else path
    lines = [
        f"{source}:{bad.number}: invalid ICCID {bad.value!r}: {bad.reason}"
        for bad in exc.bad[:_BAD_LINES_SHOWN]
    ]
    more = len(exc.bad) - _BAD_LINES_SHOWN
    if more > 0:
        lines.append(f"{source}: {more} more invalid lines")
    lines.append(f"{source}: {len(exc.bad)} invalid lines; nothing was sent")
    return "\n".join(lines)


@contextlib.contextmanager
def _output(path: str) -> Iterator[IO[str]]:
    """*path* opened for writing, or standard output for ``-``."""
    if path == "-":
        yield sys.stdout
        return
    with open(path, "w", encoding="utf-8", newline="") as stream:
        yield stream


def poll_file(args: argparse.Namespace, ctx: Context) -> int:
    """Poll every ICCID of a file; write one row each; report on stderr."""
    iccids = _read_file(args.file)
    settings = client_settings(args, ctx.env)
    with _output(args.output) as stream:
        writer = open_writer(args.format, stream)
        return anyio.run(_poll_file, settings, iccids, writer, args, ctx)


async def _poll_file(
    settings: dict[str, Any],
    iccids: IccidList,
    writer: RowWriter,
    args: argparse.Namespace,
    ctx: Context,
) -> int:
    async with Client(**settings, max_concurrency=args.concurrency) as client:
        if iccids.iccids and has_login(settings):
            await client.login()  # wrong credentials: one error, not N failed rows
        report = await poll(
            client,
            iccids.iccids,
            _thresholds(args, ctx),
            concurrency=args.concurrency,
            writer=writer,
            progress=None if args.quiet else ctx.err,
            duplicates=iccids.duplicates,
        )
    writer.close()
    if not args.quiet:
        ctx.err.print(report_view(report))
    return _exit_code(report)


# read commands ---------------------------------------------------------------

Work = Callable[[Client, argparse.Namespace], Awaitable[int]]


def _with_client(args: argparse.Namespace, ctx: Context, work: Work) -> int:
    """Run *work* with a client built from the flags and the environment."""
    settings = client_settings(args, ctx.env)

    async def run() -> int:
        async with Client(**settings) as client:
            return await work(client, args)

    return anyio.run(run)


def _print_json(value: Any) -> None:
    json.dump(to_json(value), sys.stdout, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")


def _show(args: argparse.Namespace, value: Any, table: RenderableType) -> None:
    """*value* as JSON with ``--json``, else *table*, on standard output."""
    if args.json:
        _print_json(value)
    else:
        table_console(sys.stdout).print(table)


def usage(args: argparse.Namespace, ctx: Context) -> int:
    """The status and usage of the given cards."""
    iccids = [normalize_iccid(v, i) for i, v in enumerate(args.iccids)]
    work = functools.partial(
        _usage, iccids=list(dict.fromkeys(iccids)), thresholds=_thresholds(args, ctx)
    )
    return _with_client(args, ctx, work)


async def _usage(
    client: Client,
    args: argparse.Namespace,
    *,
    iccids: list[str],
    thresholds: Thresholds,
) -> int:
    rows = RowList()
    report = await poll(
        client, iccids, thresholds, concurrency=client.max_concurrency, writer=rows
    )
    if args.json:
        _print_json(rows.rows)
    else:
        rows.copy_to(open_writer("table", sys.stdout))
    return _exit_code(report)


def history(args: argparse.Namespace, ctx: Context) -> int:
    """Every plan a card has had."""
    work = functools.partial(_history, iccid=normalize_iccid(args.iccid))
    return _with_client(args, ctx, work)


async def _history(client: Client, args: argparse.Namespace, *, iccid: str) -> int:
    orders = await client.get_history_detail(iccid)
    _show(args, orders, history_table(iccid, orders))
    return EXIT_OK


def skus(args: argparse.Namespace, ctx: Context) -> int:
    """The catalogue's SKUs."""
    return _with_client(args, ctx, _skus)


async def _skus(client: Client, args: argparse.Namespace) -> int:
    found = await client.get_skus()
    _show(args, found, skus_table(found))
    return EXIT_OK


def packages(args: argparse.Namespace, ctx: Context) -> int:
    """The packages on sale for one SKU."""
    return _with_client(args, ctx, _packages)


async def _packages(client: Client, args: argparse.Namespace) -> int:
    found = await client.get_packages(args.sku_id)
    _show(args, found, packages_table(found))
    return EXIT_OK
