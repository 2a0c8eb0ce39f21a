"""
The command line's grammar, with argparse: the subcommands are few and flat,
and the standard library keeps the ``cli`` extra down to rich and uvicorn.
"""

from __future__ import annotations

import argparse
import inspect
from typing import NoReturn

from .._signing import SignatureStyle
from .._version import __version__
from ..sandbox import Sandbox
from . import _commands as commands
from ._output import COLUMNS, FORMATS

__all__ = ["UsageError", "build_parser"]

_SANDBOX_DEFAULTS = {
    name: parameter.default
    for name, parameter in inspect.signature(Sandbox).parameters.items()
}


class UsageError(Exception):
    """The command line does not parse; the message says why."""


class _Parser(argparse.ArgumentParser):
    """
    An ArgumentParser that raises instead of exiting with status 2: here 2
    means "some ICCIDs failed", and a mistyped flag must not look like that.
    """

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message} (see {self.prog} --help)")


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def _non_negative_float(text: str) -> float:
    value = float(text)
    if not value >= 0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text}")
    return value


def _debug_flags() -> _Parser:
    parent = _Parser(add_help=False)
    parent.add_argument(
        "--debug",
        action="store_true",
        help="show the traceback of an error, and the library's debug log",
    )
    return parent


def _api_flags() -> _Parser:
    """The account flags; each falls back to its MIOESIM_* variable."""
    parent = _Parser(add_help=False)
    group = parent.add_argument_group(
        "account (flags override the MIOESIM_* environment variables)"
    )
    group.add_argument("--phone-number", help="login (MIOESIM_PHONE_NUMBER)")
    group.add_argument(
        "--password",
        help="password (MIOESIM_PASSWORD; prefer the variable: "
        "flags show in the process list)",
    )
    group.add_argument(
        "--secret-key", help="signing key (MIOESIM_SECRET_KEY; prefer the variable)"
    )
    group.add_argument(
        "--token", help="a ready token instead of a login (MIOESIM_TOKEN)"
    )
    group.add_argument(
        "--base-url", help="API address (MIOESIM_BASE_URL; default the real API)"
    )
    group.add_argument(
        "--signature-style",
        choices=[style.value for style in SignatureStyle],
        help="how sign is computed (MIOESIM_SIGNATURE_STYLE; default plain)",
    )
    return parent


def _threshold_flags() -> _Parser:
    parent = _Parser(add_help=False)
    parent.add_argument(
        "--low-data-mb",
        type=_non_negative_float,
        default=100.0,
        metavar="X",
        help="flag running plans with less than X MB left (default %(default)g)",
    )
    parent.add_argument(
        "--expiring-days",
        type=_non_negative_float,
        default=3.0,
        metavar="D",
        help="flag plans ending within D days (default %(default)g)",
    )
    return parent


def _json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--json", action="store_true", help="print JSON instead of a table"
    )


def _add_demo(sub: argparse._SubParsersAction[_Parser], debug: _Parser) -> None:
    parser = sub.add_parser(
        "demo",
        parents=[debug],
        help="poll a local sandbox portfolio and print its report",
        description="Serve a sandbox on 127.0.0.1, poll every card through the "
        "real HTTP stack with a progress bar, and print the portfolio report.",
    )
    parser.add_argument("--cards", type=int, default=20_000, help="default %(default)s")
    parser.add_argument(
        "--concurrency",
        type=_positive_int,
        default=16,
        metavar="N",
        help="requests of 100 ICCIDs in flight (default %(default)s)",
    )
    parser.add_argument(
        "--latency-ms",
        type=_non_negative_float,
        default=0.0,
        metavar="L",
        help="the sandbox's delay before each answer (default %(default)g)",
    )
    parser.add_argument(
        "--seed", type=int, default=_SANDBOX_DEFAULTS["seed"], help="portfolio seed"
    )
    parser.set_defaults(handler=commands.demo)


def _add_fault_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per ``Faults`` setting; unset flags keep ``Faults``' defaults."""
    group = parser.add_argument_group("faults (default: none)")
    for flag, kind, text in (
        ("--latency-ms", float, "milliseconds added before every answer"),
        ("--jitter-ms", float, "up to this many more milliseconds, at random"),
        ("--error-rate", float, "share of requests answered with a 5xx"),
        ("--error-status", int, "the status of those answers (503)"),
        ("--rate-limit", float, "share of requests answered 429"),
        ("--retry-after", float, "the 429s' Retry-After in seconds (1)"),
        ("--drop-rate", float, "share of usage records left out of answers"),
        ("--malformed-rate", float, "share of answers replaced by an HTML page"),
        ("--disconnect-rate", float, "share of answers cut off mid-body"),
        ("--order-delay-ms", float, "milliseconds orders wait before answering"),
        ("--poison-code", int, "the API code poisoned requests fail with (-8)"),
        ("--fault-seed", int, "the seed of the fault draws (0)"),
    ):
        group.add_argument(flag, type=kind, help=text)
    group.add_argument(
        "--poison",
        action="append",
        metavar="ICCID",
        help="a request holding this ICCID fails (repeatable)",
    )
    group.add_argument(
        "--fault-endpoints",
        metavar="NAME[,NAME]",
        help="wire names the rate and latency faults apply to (default: all)",
    )


def _add_sandbox(sub: argparse._SubParsersAction[_Parser], debug: _Parser) -> None:
    parser = sub.add_parser(
        "sandbox",
        parents=[debug],
        help="serve a local MIOeSIM sandbox until interrupted",
        description="Serve the sandbox over HTTP until Ctrl-C. "
        "`mioesim sandbox --cards N --seed S` serves the portfolio that "
        "Sandbox(cards=N, seed=S) describes.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="default %(default)s")
    parser.add_argument(
        "--port", type=int, default=8080, help="default %(default)s; 0 picks one"
    )
    parser.add_argument(
        "--cards",
        type=int,
        default=_SANDBOX_DEFAULTS["cards"],
        help="default %(default)s",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=_SANDBOX_DEFAULTS["seed"],
        help="default %(default)s",
    )
    parser.add_argument(
        "--signature-style",
        type=SignatureStyle,
        default=_SANDBOX_DEFAULTS["signature_style"],
        choices=list(SignatureStyle),
        metavar="{plain,urlencoded_upper}",
        help="the sign style the server accepts (default plain)",
    )
    _add_fault_flags(parser)
    parser.set_defaults(handler=commands.sandbox)


def _add_poll(sub: argparse._SubParsersAction[_Parser], parents: list[_Parser]) -> None:
    parser = sub.add_parser(
        "poll",
        parents=parents,
        help="poll every ICCID of a file; one row each",
        description="Read ICCIDs one a line (blank lines and # comments "
        "skipped), check them all, poll them, and write one row per distinct "
        f"ICCID in input order. Columns: {', '.join(COLUMNS)}. Exit status: 0 "
        "every ICCID answered, 2 some failed or missing (their rows say why), "
        "1 an error (nothing or not everything was asked).",
    )
    parser.add_argument(
        "--file", required=True, metavar="FILE", help="ICCIDs, one a line; - for stdin"
    )
    parser.add_argument("--format", choices=FORMATS, default="csv")
    parser.add_argument(
        "--output", default="-", metavar="OUT", help="default - (standard output)"
    )
    parser.add_argument(
        "--concurrency",
        type=_positive_int,
        default=8,
        metavar="N",
        help="requests of 100 ICCIDs in flight (default %(default)s)",
    )
    parser.add_argument(
        "--quiet", action="store_true", help="no progress bar and no report"
    )
    parser.set_defaults(handler=commands.poll_file)


def _add_reads(
    sub: argparse._SubParsersAction[_Parser], parents: list[_Parser]
) -> None:
    usage = sub.add_parser(
        "usage",
        parents=[*parents, _threshold_flags()],
        help="status and usage of cards",
    )
    usage.add_argument("iccids", nargs="+", metavar="ICCID")
    usage.set_defaults(handler=commands.usage)
    history = sub.add_parser("history", parents=parents, help="a card's plans")
    history.add_argument("iccid", metavar="ICCID")
    history.set_defaults(handler=commands.history)
    skus = sub.add_parser("skus", parents=parents, help="the catalogue's SKUs")
    skus.set_defaults(handler=commands.skus)
    packages = sub.add_parser(
        "packages", parents=parents, help="the packages on sale for a SKU"
    )
    packages.add_argument("sku_id", metavar="SKU_ID")
    packages.set_defaults(handler=commands.packages)
    for parser in (usage, history, skus, packages):
        _json_flag(parser)


def build_parser() -> _Parser:
    """The ``mioesim`` parser; each subcommand sets ``handler``."""
    parser = _Parser(
        prog="mioesim",
        description="The MIOeSIM partner API from the command line.",
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {__version__}"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    debug = _debug_flags()
    api = [debug, _api_flags()]
    _add_demo(sub, debug)
    _add_sandbox(sub, debug)
    _add_poll(sub, [*api, _threshold_flags()])
    _add_reads(sub, api)
    return parser
