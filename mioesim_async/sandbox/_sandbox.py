"""The ``Sandbox`` facade: a local MIOeSIM account with its server."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterable
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import httpx

from .._models import GMT8
from .._signing import SignatureStyle
from ._api import Api
from ._app import App
from ._faults import Faults, FaultState, Stats
from ._portfolio import MAX_CARDS, Portfolio
from ._server import run, serve
from ._settings import (
    DEFAULT_PASSWORD,
    DEFAULT_PHONE_NUMBER,
    DEFAULT_SECRET_KEY,
    LOOPBACK,
    Settings,
)

if TYPE_CHECKING:
    from .._client import Client

__all__ = ["Sandbox"]

#: The base URL of in-process clients; the transport never resolves it.
IN_PROCESS_URL = "http://127.0.0.1"


class Sandbox:
    """
    A local MIOeSIM server: one account, a generated card portfolio, every
    endpoint of the wire contract, and fault injection for tests.

    ``Sandbox(cards=N, seed=S)`` always describes the same portfolio: the
    same ICCIDs with the same statuses, plans and usage (dates are set
    relative to *today*, which defaults to the current date in GMT+8).

    :param cards: how many cards the portfolio holds (0 to 10 million).
    :param seed: the seed of the portfolio.
    :param phone_number: the account's login (default ``13800000000``).
    :param password: its password (default ``mypassword``).
    :param secret_key: the signing key (default
        ``1234567890qwertyuiopasdfghjklzxc``, the docs' example).
    :param signature_style: the one ``sign`` style the server accepts.
    :param token_ttl: seconds a token lives (2 hours).
    :param clock: the monotonic clock token lifetimes are measured with; pass
        a fake one to test expiry without waiting.
    :param balance: the account's starting balance (USD).
    :param allow_login_query: also accept login as GET with a query string.
    :param strict_methods: refuse reads that are not GET and writes that are
        not POST form (405); ``False`` accepts either method everywhere.
    :param ip_whitelist: peers ``getESIMDetail`` answers (loopback and
        in-process by default); ``None`` answers everyone.
    :param api_permission: ``False`` makes login answer ``-3``.
    :param faults: faults to inject from the start; see ``Faults``.
    :param today: the date the portfolio's plan dates are relative to.
    """

    def __init__(
        self,
        cards: int = 1000,
        seed: int = 0,
        *,
        phone_number: str = DEFAULT_PHONE_NUMBER,
        password: str = DEFAULT_PASSWORD,
        secret_key: str = DEFAULT_SECRET_KEY,
        signature_style: SignatureStyle = SignatureStyle.PLAIN,
        token_ttl: float = 7200.0,
        clock: Callable[[], float] = time.monotonic,
        balance: Decimal | str | int = Decimal("10000.00"),
        allow_login_query: bool = False,
        strict_methods: bool = True,
        ip_whitelist: Iterable[str] | None = LOOPBACK,
        api_permission: bool = True,
        faults: Faults | None = None,
        today: date | None = None,
    ) -> None:
        if not 0 <= cards <= MAX_CARDS:
            raise ValueError(f"cards must be within [0, {MAX_CARDS}], got {cards}")
        self._settings = Settings(
            phone_number=phone_number,
            password=password,
            secret_key=secret_key,
            signature_style=signature_style,
            token_ttl=token_ttl,
            clock=clock,
            allow_login_query=allow_login_query,
            strict_methods=strict_methods,
            ip_whitelist=None if ip_whitelist is None else frozenset(ip_whitelist),
            api_permission=api_permission,
        )
        self._seed = seed
        self._portfolio = Portfolio(cards, seed, today or datetime.now(GMT8).date())
        self._fault_state = FaultState(faults or Faults())
        self.stats = Stats()
        """Requests by endpoint, orders placed, faults injected; see ``Stats``."""
        self._api = Api(
            self._settings,
            self._portfolio,
            self.stats,
            self._fault_state,
            Decimal(balance),
        )
        self._app = App(self._api, self._settings, self.stats, self._fault_state)
        self._iccids: list[str] | None = None

    def __repr__(self) -> str:
        return (
            f"Sandbox(cards={self._portfolio.size}, seed={self._seed}, "
            f"signature_style={self._settings.signature_style.name})"
        )

    # Credentials and settings

    @property
    def phone_number(self) -> str:
        """The account's login phone number."""
        return self._settings.phone_number

    @property
    def password(self) -> str:
        """The account's password."""
        return self._settings.password

    @property
    def secret_key(self) -> str:
        """The key requests are signed with."""
        return self._settings.secret_key

    @property
    def signature_style(self) -> SignatureStyle:
        """The ``sign`` style the server accepts."""
        return self._settings.signature_style

    @property
    def seed(self) -> int:
        """The portfolio's seed."""
        return self._seed

    # State

    @property
    def iccids(self) -> list[str]:
        """The generated portfolio's ICCIDs (a new list each time)."""
        if self._iccids is None:
            self._iccids = list(self._portfolio.iter_iccids())
        return list(self._iccids)

    @property
    def created_iccids(self) -> list[str]:
        """ICCIDs of the cards orders have created, oldest first."""
        return self._portfolio.created_iccids()

    @property
    def balance(self) -> Decimal:
        """The account's balance now."""
        return self._api.balance

    @property
    def faults(self) -> Faults:
        """The faults injected now; assign a new ``Faults`` to change them."""
        return self._fault_state.faults

    @faults.setter
    def faults(self, faults: Faults) -> None:
        self._fault_state.replace(faults)

    def usage_record(self, iccid: str) -> dict[str, Any] | None:
        """The usage record the server would send for *iccid* (``None``: unknown)."""
        fragment = self._portfolio.record(iccid)
        return None if fragment is None else dict(json.loads(fragment))

    def warm_up(self) -> None:
        """
        Render every portfolio card's usage record now (some 30 us a card),
        so that even the first poll of each card is answered from cache: for
        benchmarks that must not time the sandbox's own first look.
        """
        record = self._portfolio.record
        for iccid in self._portfolio.iter_iccids():
            record(iccid)

    def expire_token(self) -> None:
        """Make the current token invalid, as if its two hours had passed."""
        self._api.expire_token()

    # Serving

    @property
    def app(self) -> App:
        """The ASGI application."""
        return self._app

    def client(self, **kwargs: Any) -> Client:
        """
        A ``mioesim_async.Client`` wired to this sandbox in process, through
        ``httpx.ASGITransport`` (no socket), with its credentials and
        signature style. Keyword arguments override any setting.
        """
        from .._client import Client

        settings: dict[str, Any] = {
            "phone_number": self.phone_number,
            "password": self.password,
            "secret_key": self.secret_key,
            "signature_style": self.signature_style,
            "base_url": IN_PROCESS_URL,
            "transport": httpx.ASGITransport(app=self._app),
        }
        settings.update(kwargs)
        return Client(**settings)

    def serve(
        self, host: str = "127.0.0.1", port: int = 0
    ) -> contextlib.AbstractAsyncContextManager[str]:
        """
        Serve over real HTTP with uvicorn (extra ``sandbox``), from a
        background thread, on asyncio or trio alike::

            async with sandbox.serve() as base_url:
                ...  # e.g. "http://127.0.0.1:54321"

        *port* ``0`` picks a free port. The server stops when the block exits.
        """
        return serve(self._app, host, port)

    def run(self, host: str = "127.0.0.1", port: int = 8000) -> None:
        """Serve over HTTP in this thread until interrupted (Ctrl-C)."""
        run(self._app, host, port)
