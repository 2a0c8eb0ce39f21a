"""
What the loopback benchmarks share: the sandbox served from a separate
process, and the client process's own CPU time and memory.

The server gets a process of its own so that, on a two-core machine, it and
the client each have a core, and the client's figures are the client's alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import resource
import socket
import subprocess
import sys
from collections.abc import Iterator

#: Where the server side lives: ``python -m benchmarks._loopback --serve-fd``.
SERVER_MODULE = "benchmarks._loopback"
QUERY_ENDPOINT = "queryIccidInformation"


def serve_sandbox(fd: int, cards: int, latency: float) -> None:
    """Serve ``Sandbox(cards=cards)`` on listening socket *fd* until killed."""
    import uvicorn

    from mioesim_async.sandbox import Faults, Sandbox

    faults = Faults(latency=latency, endpoints={QUERY_ENDPOINT}) if latency else None
    sandbox = Sandbox(cards=cards, faults=faults)
    # Every card's record rendered up front: the server must not be the
    # slow end on a client's first look at a card.
    sandbox.warm_up()
    config = uvicorn.Config(
        sandbox.app,
        http="httptools",
        lifespan="off",
        ws="none",
        access_log=False,
        log_level="warning",
    )
    # Not uvicorn's fd= option: it takes the socket for a Unix one, and
    # asyncio then leaves Nagle on for accepted TCP connections.
    listener = socket.socket(fileno=fd)

    class Server(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets=sockets)
            print("ready", flush=True)  # the parent waits for this line

    serving = Server(config).serve(sockets=[listener])
    try:
        import uvloop
    except ImportError:
        asyncio.run(serving)
    else:
        uvloop.run(serving)


@contextlib.contextmanager
def sandbox_server(cards: int, latency: float = 0.0) -> Iterator[str]:
    """A sandbox server process on 127.0.0.1; yields its base URL."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(2048)
        port = listener.getsockname()[1]
        fd = listener.fileno()
        command = [sys.executable, "-m", SERVER_MODULE, "--serve-fd", str(fd)]
        command += ["--cards", str(cards), "--latency", str(latency)]
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            command, pass_fds=[fd], stdout=subprocess.PIPE, text=True
        )
    try:
        assert process.stdout is not None
        if process.stdout.readline().strip() != "ready":
            raise RuntimeError("the sandbox server did not start")
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


def _status_mb(field: str) -> float | None:
    """A ``/proc/self/status`` figure (``VmHWM``, ``VmRSS``) in MB, on Linux."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:  # not Linux
        pass
    return None


def peak_rss_mb() -> float:
    """The process's peak resident set size so far, in MB."""
    peak = _status_mb("VmHWM")
    if peak is not None:
        return peak
    scale = 1 if sys.platform == "darwin" else 1024  # bytes on macOS, KiB elsewhere
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**20


def rss_mb() -> float:
    """The process's resident set size now, in MB (its peak where unknown)."""
    now = _status_mb("VmRSS")
    return peak_rss_mb() if now is None else now


def main() -> None:
    """The server side: ``--serve-fd FD --cards N --latency SECONDS``."""
    import argparse

    parser = argparse.ArgumentParser(description="a sandbox server on a socket")
    parser.add_argument("--serve-fd", type=int, required=True)
    parser.add_argument("--cards", type=int, required=True)
    parser.add_argument("--latency", type=float, default=0.0)
    args = parser.parse_args()
    serve_sandbox(args.serve_fd, args.cards, args.latency)


if __name__ == "__main__":
    main()
