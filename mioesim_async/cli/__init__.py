"""
``mioesim``, the command line: a demo over a local sandbox, the sandbox
itself, polling a file of ICCIDs, and a few read commands.

It needs the ``cli`` extra (``pip install "mioesim-async[cli]"``): rich draws
its progress bars and tables, uvicorn serves the sandbox. The library itself
never imports this package.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from datetime import datetime

__all__ = ["main"]

_EXTRA_MODULES = ("rich", "uvicorn")


def main(argv: Sequence[str] | None = None, *, now: datetime | None = None) -> int:
    """
    Run ``mioesim`` with *argv* (default ``sys.argv[1:]``) and return its exit
    code: 0 success, 1 an error (one line on stderr), 2 a poll in which some
    ICCIDs failed or are missing.

    *now* is the moment plan dates are judged against (default: the current
    time), so reports can be reproduced.
    """
    try:
        from ._main import run
    except ModuleNotFoundError as exc:
        # Without the extra, say how to get it rather than show a traceback.
        if (exc.name or "").partition(".")[0] not in _EXTRA_MODULES:
            raise
        print(
            f'mioesim: the "cli" extra is needed ({exc.name} is missing): '
            'pip install "mioesim-async[cli]"',
            file=sys.stderr,
        )
        return 1
    return run(argv, now=now)
