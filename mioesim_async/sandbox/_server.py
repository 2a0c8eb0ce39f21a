"""
Serving the sandbox over real HTTP with uvicorn.

uvicorn runs on asyncio only, and callers run on asyncio or trio, so ``serve``
runs it in a thread with its own event loop. The listening socket is bound
here before the thread starts, which fixes the port (``0`` picks a free one)
and lets connections queue even before uvicorn accepts them.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import anyio
import anyio.to_thread

from ._app import App, InjectedDisconnect

if TYPE_CHECKING:
    import uvicorn

__all__ = ["run", "serve"]


class _QuietInjectedDisconnects(logging.Filter):
    """Drops uvicorn's traceback for a disconnect the faults asked for."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, InjectedDisconnect)


def _quiet_uvicorn() -> None:
    """Install the filter once on uvicorn's error logger."""
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _QuietInjectedDisconnects) for f in logger.filters):
        logger.addFilter(_QuietInjectedDisconnects())


def _config(app: App, **options: Any) -> uvicorn.Config:
    """A uvicorn configuration that leaves the process's logging alone."""
    import uvicorn  # the `sandbox` extra; in-process use does not need it

    return uvicorn.Config(
        app,
        lifespan="on",
        ws="none",
        access_log=False,
        timeout_graceful_shutdown=1,
        **options,
    )


def _bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on (*host*, *port*)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


def _url(host: str, sock: socket.socket) -> str:
    """The base URL a client uses to reach *sock*."""
    port = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


@contextlib.asynccontextmanager
async def serve(app: App, host: str, port: int) -> AsyncIterator[str]:
    """Serve *app* on (*host*, *port*) from a thread; yield the base URL."""
    import uvicorn

    _quiet_uvicorn()
    sock = _bind(host, port)
    ready = threading.Event()

    class Server(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            try:
                await super().startup(sockets=sockets)
            finally:
                ready.set()

    server = Server(_config(app, log_config=None))

    def target() -> None:
        try:
            server.run(sockets=[sock])
        finally:
            ready.set()  # also when startup failed

    thread = threading.Thread(target=target, name="mioesim-sandbox", daemon=True)
    thread.start()
    try:
        await anyio.to_thread.run_sync(ready.wait)
        if not server.started:
            raise RuntimeError("the sandbox server did not start")
        yield _url(host, sock)
    finally:
        server.should_exit = True
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(thread.join)
        sock.close()


def run(app: App, host: str, port: int) -> None:
    """Serve *app* on (*host*, *port*) until interrupted (Ctrl-C)."""
    import uvicorn

    _quiet_uvicorn()
    uvicorn.Server(_config(app, host=host, port=port)).run()
