"""
The default HTTP backend: httpx's own connection pool, split in shards.

httpcore's pool does bookkeeping over all its connections and waiting
requests on every request, so its cost per request grows with the pool:
at 32 requests in flight, one pool of 32 spends about twice the CPU per
request of eight pools of 4 (``python -m benchmarks.backends``). Each request
here goes to the shard with the fewest requests in flight, so no shard holds
more than a few connections and the total never exceeds the limit.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator

import httpx

__all__ = ["SHARD_SIZE", "ShardedTransport", "shard_sizes"]

#: Connections per shard: small enough for cheap bookkeeping, large enough
#: that a shard rarely waits for one of its own.
SHARD_SIZE = 4


class ShardedTransport(httpx.AsyncBaseTransport):
    """Several ``httpx.AsyncHTTPTransport`` pools of *shard_size* connections,
    *max_connections* in all; runs wherever httpx does (asyncio and trio)."""

    def __init__(
        self,
        *,
        max_connections: int,
        verify: bool | ssl.SSLContext = True,
        shard_size: int = SHARD_SIZE,
    ) -> None:
        # One TLS context for all: loading the CA bundle costs milliseconds.
        context = (
            verify
            if isinstance(verify, ssl.SSLContext)
            else httpx.create_ssl_context(verify=verify)
        )
        self._shards = [
            httpx.AsyncHTTPTransport(
                verify=context,
                limits=httpx.Limits(
                    max_connections=size, max_keepalive_connections=size
                ),
            )
            for size in shard_sizes(max_connections, shard_size)
        ]
        self._in_flight = [0] * len(self._shards)

    def __repr__(self) -> str:
        return f"<ShardedTransport {len(self._shards)} shards>"

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        index = self._in_flight.index(min(self._in_flight))
        self._in_flight[index] += 1
        try:
            response = await self._shards[index].handle_async_request(request)
        except BaseException:
            self._in_flight[index] -= 1
            raise
        # The connection stays busy until the body is read: count it so.
        stream = response.stream
        assert isinstance(stream, httpx.AsyncByteStream)  # noqa: S101 - an async pool
        response.stream = _Counted(stream, self._in_flight, index)
        return response

    async def aclose(self) -> None:
        for shard in self._shards:
            await shard.aclose()


def shard_sizes(max_connections: int, shard_size: int) -> list[int]:
    """Connections per shard: *shard_size* each, *max_connections* in all."""
    if max_connections < 1 or shard_size < 1:
        raise ValueError("a pool needs at least one connection per shard")
    full, rest = divmod(max_connections, shard_size)
    return [shard_size] * full + ([rest] if rest else [])


class _Counted(httpx.AsyncByteStream):
    """A response body that marks its shard's request done once closed."""

    def __init__(self, stream: httpx.AsyncByteStream, counts: list[int], index: int):
        self._stream = stream
        self._counts = counts
        self._index: int | None = index

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._stream.__aiter__()

    async def aclose(self) -> None:
        try:
            await self._stream.aclose()
        finally:
            # Only now is the connection back in its pool, free to reuse.
            if self._index is not None:
                self._counts[self._index] -= 1
                self._index = None
