"""Parsing, dispatch, and turning every failure into one line and an exit code."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import traceback
from collections.abc import Iterator, Sequence
from datetime import datetime

from rich.console import Console

from .._models import GMT8
from ._commands import EXIT_ERROR, Context
from ._errors import describe
from ._parser import UsageError, build_parser

__all__ = ["run"]

EXIT_INTERRUPTED = 130  # the shell's convention for SIGINT


def run(argv: Sequence[str] | None, *, now: datetime | None = None) -> int:
    """Parse *argv*, run the command, return its exit code."""
    try:
        args = build_parser().parse_args(argv)
    except UsageError as exc:
        print(exc, file=sys.stderr)
        return EXIT_ERROR
    except SystemExit as exc:  # --help and --version print, then "exit" 0
        return exc.code if isinstance(exc.code, int) else EXIT_ERROR
    context = Context(
        now=now or datetime.now(GMT8),
        env=os.environ,
        out=Console(),
        err=Console(stderr=True),
    )
    with _debug_log(args.debug):
        return _dispatch(args, context)


def _dispatch(args: argparse.Namespace, context: Context) -> int:
    """Run the command; a failure is one line (and its traceback with --debug)."""
    try:
        return int(args.handler(args, context))
    except KeyboardInterrupt:
        print("mioesim: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_ERROR
    except Exception as exc:  # every failure becomes one line
        if args.debug:
            traceback.print_exc()
        for line in describe(exc).splitlines():
            print(f"mioesim: {line}", file=sys.stderr)
        return EXIT_ERROR


@contextlib.contextmanager
def _debug_log(enabled: bool) -> Iterator[None]:
    """
    With ``--debug``, the library's log on stderr for this command only: tests
    and embedding programs call ``main`` in process, and keep their logging.
    """
    if not enabled:
        yield
        return
    logger = logging.getLogger("mioesim_async")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s: %(message)s"))
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def _silence_stdout() -> None:
    """
    After the reader of a pipe left (``mioesim poll ... | head``), point
    stdout at devnull so Python's final flush does not fail a second time.
    """
    with contextlib.suppress(OSError, ValueError):  # no real descriptor
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
