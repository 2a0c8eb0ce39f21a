"""
The login token: fetched lazily, cached, refreshed before it expires, and never
fetched twice at once.

MIOeSIM invalidates the previous token the moment a new login succeeds, so two
concurrent logins would leave one caller holding a dead token. Every login
therefore goes through one lock (single flight), and a caller whose token was
refused only logs in again if nobody has done so since that token was issued.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import anyio

from ._exceptions import AuthenticationError

__all__ = ["DEFAULT_REFRESH_AFTER", "Session"]

#: Tokens live 2 hours; refresh at 1 h 50 min so none expires mid-call.
DEFAULT_REFRESH_AFTER = 110 * 60.0


class Session:
    """
    Holds the current token.

    *login* fetches a new one (``None`` when the client was given a ready token
    and no credentials: such a token is used until it is refused). A token
    older than *refresh_after* seconds is replaced before use.
    """

    def __init__(
        self,
        login: Callable[[], Awaitable[str]] | None,
        *,
        token: str | None = None,
        refresh_after: float = DEFAULT_REFRESH_AFTER,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if login is None and token is None:
            raise ValueError("a session needs credentials to log in, or a token")
        self._login = login
        self._token = token
        self._refresh_after = refresh_after
        self._clock = clock
        self._issued_at = clock()
        self._lock: anyio.Lock | None = None

    def __repr__(self) -> str:
        state = "no token" if self._token is None else "token cached"
        return f"<Session {state}>"

    @property
    def can_log_in(self) -> bool:
        """Whether a refused token can be replaced by logging in again."""
        return self._login is not None

    async def token(self) -> str:
        """A token fit to use: the cached one, or a fresh one."""
        token = self._token
        if token is not None and not self._is_stale():
            return token
        return await self._renew(stale=token)

    async def refresh(self, stale: str) -> str:
        """
        A token other than *stale*, which the server refused: logs in again
        unless another task already did.
        """
        return await self._renew(stale=stale)

    async def login(self) -> str:
        """Log in now: the previous token stops working."""
        return await self._renew(stale=self._token)

    def _is_stale(self) -> bool:
        if self._login is None:  # a ready token is used until it is refused
            return False
        return self._clock() - self._issued_at >= self._refresh_after

    async def _renew(self, *, stale: str | None) -> str:
        if self._lock is None:  # created here: it belongs to the running loop
            self._lock = anyio.Lock()
        async with self._lock:
            if self._token is not None and self._token != stale:
                return self._token  # renewed by another task while we waited
            if self._login is None:
                raise AuthenticationError(
                    -1,
                    "the token was refused and no phone number and password "
                    "were given to log in again",
                    endpoint="login",
                )
            self._token = await self._login()
            self._issued_at = self._clock()
            return self._token
