"""The ``Client``: settings, lifecycle, one method per endpoint, fan-out."""

from __future__ import annotations

import enum
import functools
import ipaddress
import logging
import ssl
import weakref
from collections.abc import AsyncIterable, Callable, Iterable, Mapping, Sequence
from datetime import date
from types import TracebackType
from typing import Any

import httpx

from . import _endpoints as ep
from . import _retry
from ._exceptions import AuthenticationError
from ._fanout import FanOutHooks, IccidStream
from ._fanout import query_iccids as _query_iccids
from ._fanout import stream_iccids as _stream_iccids
from ._limit import AdaptiveLimiter
from ._models import Balance, CardUsage, Order, Sku, SkuPackages
from ._observe import ChunkEvent, ClientStats, Hooks, emit
from ._results import BatchResult, ChunkResult
from ._retry import RetryPolicy
from ._session import DEFAULT_REFRESH_AFTER, Session
from ._shards import ShardedTransport
from ._signing import SignatureStyle
from ._transport import Endpoint, Transport

__all__ = ["DEFAULT_BASE_URL", "Client"]

DEFAULT_BASE_URL = "https://bpm.mioesim.com"

logger = logging.getLogger("mioesim_async")

# httpx's own default, kept as the floor so ordinary concurrent calls from a
# web app never queue; fan-outs wider than this raise the pool to match.
_MIN_POOL = 100
_LOGIN_METHODS = {"form": "POST", "query": "GET"}


class _State(enum.Enum):
    UNOPENED = 1
    OPENED = 2
    CLOSED = 3


class Client:
    """
    An async client for the MIOeSIM partner API.

    Create one per process and keep it: it holds the token and a pool of
    connections. Use it as an async context manager, or call ``aclose()``::

        async with mioesim_async.Client(
            phone_number="13800000000", password="...", secret_key="..."
        ) as client:
            balance = await client.get_balance()

    Nothing is sent until the first call, which logs in.

    Args:
        phone_number: The account's phone number (its login name).
        password: The account's password.
        secret_key: The key every request is signed with.
        token: A ready token; with it, no login happens until the server
            refuses it (and then only if *phone_number* and *password* were
            given too).
        base_url: Where the API is.
        signature_style: How ``sign`` is computed; see ``SignatureStyle``.
        timeout: Seconds per attempt, or an ``httpx.Timeout``. Waiting for a
            pooled connection is not timed: fan-outs never exceed the pool.
        max_concurrency: Chunks in flight in a fan-out, unless the call says
            otherwise; the pool holds at least this many connections.
        retry: How reads are retried; ``RetryPolicy(attempts=1)`` turns it off.
        transport: Any ``httpx.AsyncBaseTransport``, used instead of the
            network (tests, the sandbox, custom stacks).
        http_backend: ``"httpx"`` (asyncio and trio), or ``"aiohttp"``
            (extra ``aiohttp``; asyncio only): httpx still builds, signs and
            reads every request, aiohttp's pool does the I/O, which stays fast
            as concurrency grows.
        login_method: ``"form"`` (POST form, the default) or ``"query"`` (GET).
        token_refresh_after: Seconds after which a token is replaced before
            use; tokens live 2 hours.
        strict_iccid: Also check each ICCID's Luhn check digit.
        methods: HTTP method per endpoint wire name, overriding the default
            (``{"getSkus": "POST"}``), for accounts that want POST everywhere.
        verify: TLS verification: ``True``, ``False``, a CA bundle path or an
            ``ssl.SSLContext``.
        deadline: Seconds each call may take in total, retries and waits
            included (``None``: bounded by *timeout* and *retry* only). See
            also ``mioesim_async.deadline()`` and the fan-outs' *deadline*.
        max_per_second: At most this many requests a second, evenly spaced.
        hooks: Functions told about requests, answers, retries and chunks.
    """

    def __init__(
        self,
        *,
        phone_number: str | None = None,
        password: str | None = None,
        secret_key: str,
        token: str | None = None,
        base_url: str = DEFAULT_BASE_URL,
        signature_style: SignatureStyle = SignatureStyle.PLAIN,
        timeout: float | httpx.Timeout = 30.0,
        max_concurrency: int = 8,
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        http_backend: str = "httpx",
        login_method: str = "form",
        token_refresh_after: float = DEFAULT_REFRESH_AFTER,
        strict_iccid: bool = False,
        methods: Mapping[str, str] | None = None,
        verify: bool | str | ssl.SSLContext = True,
        deadline: float | None = None,
        max_per_second: float | None = None,
        hooks: Hooks | None = None,
    ) -> None:
        _check_settings(
            secret_key, phone_number, password, token, max_concurrency,
            http_backend, login_method,
        )  # fmt: skip
        self.max_concurrency = max_concurrency
        self.strict_iccid = strict_iccid
        self._phone_number = phone_number
        self._password = password
        self._methods = _method_overrides(methods or {}, login_method)
        pool = max(max_concurrency, _MIN_POOL)
        tls = _tls(verify)
        direct_tls = _direct_tls(base_url, tls)
        on_the_network = transport is None  # an injected transport may not be
        if http_backend == "aiohttp":
            if transport is not None:
                raise ValueError("give transport= or http_backend='aiohttp', not both")
            transport = _aiohttp_transport(pool, direct_tls)
        elif transport is None:
            transport = ShardedTransport(max_connections=pool, verify=direct_tls)
        self._transport = Transport(
            base_url=base_url,
            secret_key=secret_key,
            signature_style=signature_style,
            timeout=_timeout(timeout),
            max_connections=pool,
            retry=retry or RetryPolicy(),
            transport=transport,
            verify=tls,
            hooks=hooks,
            max_per_second=max_per_second,
        )
        if deadline is not None:
            _retry.expires_after(deadline)  # refuses a nonsensical one now
        self._deadline = deadline
        self._limiters: weakref.WeakSet[AdaptiveLimiter] = weakref.WeakSet()
        can_log_in = phone_number is not None and password is not None
        self._session = Session(
            self._log_in if can_log_in else None,
            token=token,
            refresh_after=token_refresh_after,
        )
        self._state = _State.UNOPENED
        self._base_url = base_url
        if on_the_network:
            _warn_if_cleartext(base_url)

    def __repr__(self) -> str:
        return f"<Client {self._base_url} phone={_masked(self._phone_number)}>"

    # Lifecycle -----------------------------------------------------------

    async def __aenter__(self) -> Client:
        if self._state is _State.CLOSED:
            raise RuntimeError("this Client has been closed; create a new one")
        self._state = _State.OPENED
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool. Calling it again does nothing."""
        self._state = _State.CLOSED
        await self._transport.aclose()

    @property
    def is_closed(self) -> bool:
        """Whether ``aclose()`` has run."""
        return self._state is _State.CLOSED

    # The one way requests are sent ----------------------------------------

    async def _call(
        self,
        endpoint: Endpoint,
        params: Mapping[str, object],
        *,
        other_order_id: str | None = None,
        limiter: AdaptiveLimiter | None = None,
    ) -> Any:
        """Send with a valid token within the deadline; on ``-1`` log in
        again once and repeat."""
        self._ensure_open()
        with _retry.until(self._expires_at()):
            return await self._call_with_token(
                self._with_method(endpoint), params, other_order_id, limiter
            )

    async def _call_with_token(
        self,
        endpoint: Endpoint,
        params: Mapping[str, object],
        other_order_id: str | None,
        limiter: AdaptiveLimiter | None,
    ) -> Any:
        send = functools.partial(
            self._transport.request,
            endpoint,
            params,
            other_order_id=other_order_id,
            limiter=limiter,
        )
        token = await self._session.token()
        try:
            return await send(token=token)
        except AuthenticationError as exc:
            if exc.code != -1 or not self._session.can_log_in:
                raise
            logger.debug("%s: token refused, logging in again", endpoint.name)
        return await send(token=await self._session.refresh(token))

    def _expires_at(self) -> float | None:
        """When a call starting now must end, by the client's default deadline."""
        return None if self._deadline is None else _retry.expires_after(self._deadline)

    async def _call_without_token(
        self,
        endpoint: Endpoint,
        params: Mapping[str, object],
        *,
        other_order_id: str | None = None,
    ) -> Any:
        """Send without a token: for login itself."""
        self._ensure_open()
        return await self._transport.request(
            self._with_method(endpoint), params, token=None
        )

    def _with_method(self, endpoint: Endpoint) -> Endpoint:
        method = self._methods.get(endpoint.name)
        return endpoint if method is None else endpoint.with_method(method)

    async def _log_in(self) -> str:
        assert self._phone_number is not None  # noqa: S101 - checked in __init__
        assert self._password is not None  # noqa: S101 - checked in __init__
        return await ep.login(
            self._call_without_token, self._phone_number, self._password
        )

    def _ensure_open(self) -> None:
        if self._state is _State.CLOSED or self._transport.is_closed:
            raise RuntimeError("this Client has been closed; create a new one")

    # Endpoints ------------------------------------------------------------

    async def login(self) -> str:
        """
        Log in now and return the token.

        Normally automatic: the first call logs in, and a token is replaced
        before it expires. Logging in invalidates the previous token at once.

        Raises:
            AuthenticationError: Wrong phone number or password (``-1``).
            InvalidRequestError: Phone number or password empty (``-2``).
            PermissionDeniedError: The account has no API permission (``-3``).
            SignatureError: Wrong secret key or signature style (``-30``).
        """
        if not self._session.can_log_in:
            raise ValueError("login() needs the client's phone_number and password")
        return await self._session.login()

    async def get_skus(self) -> list[Sku]:
        """Every SKU (``getSkus``)."""
        return await ep.get_skus(self._call)

    async def get_sku_by_group(self) -> dict[str, list[Sku]]:
        """SKUs by continent name (``getSkuByGroup``)."""
        return await ep.get_sku_by_group(self._call)

    async def get_dp_support_sku_info(self, dp_id: int | str) -> list[Sku]:
        """The physical-SIM SKUs of distribution partner *dp_id*
        (``getDpSupportSkuInfo``)."""
        return await ep.get_dp_support_sku_info(self._call, dp_id)

    async def get_packages(self, sku_id: int | str) -> SkuPackages:
        """The packages on sale for *sku_id* (``getPackages``)."""
        return await ep.get_packages(self._call, sku_id)

    async def add_esim_order(
        self,
        sku_id: int | str,
        price_id: int | str,
        count: int = 1,
        *,
        dp_id: int | str | None = None,
        iccids: Sequence[str] | None = None,
        daypass_days: int | None = None,
        begin_date: date | str | None = None,
        customer_email: str | None = None,
        send_email: bool = False,
        pdf_language: str | None = None,
        other_order_id: str | None = None,
        other_item_id: str | None = None,
        other_price: object = None,
        remark: str | None = None,
    ) -> Order:
        """
        Place an order for *count* cards of package *price_id* of *sku_id*
        (``addEsimOrder``), and return it with its cards.

        For physical SIMs give *dp_id* and exactly *count* *iccids*.
        *begin_date* (a ``date`` or ``MM/dd/yyyy``) is needed by packages
        with ``must_date``; *daypass_days* by day-pass packages.

        The order carries *other_order_id*, or a unique one generated here,
        and is never sent twice: if the answer is lost (a timeout, a dropped
        connection, a 5xx) this raises ``OrderOutcomeUnknownError`` with the
        ``other_order_id`` that was sent, to reconcile with.

        Raises:
            ValueError: Bad arguments, before anything is sent.
            InvalidICCIDError: A malformed ICCID, before anything is sent.
            OrderOutcomeUnknownError: The order may or may not exist.
        """
        return await ep.add_esim_order(
            self._call,
            sku_id,
            price_id,
            count,
            dp_id=dp_id,
            iccids=iccids,
            daypass_days=daypass_days,
            begin_date=begin_date,
            customer_email=customer_email,
            send_email=send_email,
            pdf_language=pdf_language,
            other_order_id=other_order_id,
            other_item_id=other_item_id,
            other_price=other_price,
            remark=remark,
            strict=self.strict_iccid,
        )

    async def renew_card(
        self,
        sku_id: int | str,
        price_id: int | str,
        *,
        iccid: str | None = None,
        order_num: str | None = None,
        daypass_days: int | None = None,
        pdf_language: str | None = None,
        other_order_id: str | None = None,
        other_item_id: str | None = None,
        other_price: object = None,
        remark: str | None = None,
    ) -> Order:
        """
        Renew a card with package *price_id* of *sku_id* (``renewCard``);
        name the card by exactly one of *iccid* and *order_num*.

        Like ``add_esim_order``, it is never sent twice and raises
        ``OrderOutcomeUnknownError`` when its outcome is unknown.
        """
        return await ep.renew_card(
            self._call,
            sku_id,
            price_id,
            iccid=iccid,
            order_num=order_num,
            daypass_days=daypass_days,
            pdf_language=pdf_language,
            other_order_id=other_order_id,
            other_item_id=other_item_id,
            other_price=other_price,
            remark=remark,
            strict=self.strict_iccid,
        )

    async def renew_card_by_api_code(
        self,
        api_code: str,
        *,
        iccid: str | None = None,
        order_num: str | None = None,
        pdf_language: str | None = None,
        other_order_id: str | None = None,
        other_item_id: str | None = None,
        other_price: object = None,
        remark: str | None = None,
    ) -> Order:
        """
        Renew a card with the package whose code is *api_code*
        (``renewCardByApiCode``); otherwise as ``renew_card``.
        """
        return await ep.renew_card_by_api_code(
            self._call,
            api_code,
            iccid=iccid,
            order_num=order_num,
            pdf_language=pdf_language,
            other_order_id=other_order_id,
            other_item_id=other_item_id,
            other_price=other_price,
            remark=remark,
            strict=self.strict_iccid,
        )

    async def refund_order(
        self, order_num: str, iccids: Sequence[str], *, remark: str | None = None
    ) -> None:
        """
        Cancel the cards *iccids* of order *order_num* (``refundOrder``).

        Never sent twice: an unknown outcome raises ``OrderOutcomeUnknownError``
        (its ``other_order_id`` is ``None``); check with ``get_order_info``.
        """
        await ep.refund_order(
            self._call, order_num, iccids, remark=remark, strict=self.strict_iccid
        )

    async def get_pdf_links(
        self, order_num: str, *, iccids: Sequence[str] | None = None
    ) -> dict[str, str]:
        """The PDF link of each card of *order_num*, or of *iccids* only
        (``handlerEsimPdf``, ``type=link``): ICCID to URL."""
        return await ep.get_pdf_links(
            self._call, order_num, iccids=iccids, strict=self.strict_iccid
        )

    async def send_pdf_email(
        self,
        order_num: str,
        email: str,
        *,
        iccids: Sequence[str] | None = None,
        save_email: bool = False,
    ) -> None:
        """
        E-mail the PDFs of *order_num* (or of *iccids*) to *email*
        (``handlerEsimPdf``, ``type=email``); *save_email* stores the address
        on the order. Never sent twice.
        """
        await ep.send_pdf_email(
            self._call,
            order_num,
            email,
            iccids=iccids,
            save_email=save_email,
            strict=self.strict_iccid,
        )

    async def get_order_info(self, order_num: str) -> Order:
        """
        The order *order_num* with its cards (``getOrderInfo``).

        Documented by the FiRoam API that MIOeSIM's backend follows, not on
        MIOeSIM's own pages.
        """
        return await ep.get_order_info(self._call, order_num)

    async def get_balance(self) -> Balance:
        """
        The account's balance (``getBalance``).

        Documented by the FiRoam API that MIOeSIM's backend follows, not on
        MIOeSIM's own pages.
        """
        return await ep.get_balance(self._call)

    async def get_iccid_support_sku(self, iccid: str) -> list[Sku]:
        """The SKUs card *iccid* can be renewed with (``getIccidSupportSku``)."""
        return await ep.get_iccid_support_sku(
            self._call, iccid, strict=self.strict_iccid
        )

    async def get_iccid_support_package_info(self, iccid: str) -> list[SkuPackages]:
        """The packages card *iccid* can be renewed with
        (``getIccidSupportPackageInfo``)."""
        return await ep.get_iccid_support_package_info(
            self._call, iccid, strict=self.strict_iccid
        )

    async def get_esim_detail(self, iccid: str) -> CardUsage:
        """
        The status and usage of card *iccid* (``getESIMDetail``).

        MIOeSIM answers this only for whitelisted server IP addresses;
        elsewhere it raises ``IPNotWhitelistedError``.
        """
        return await ep.get_esim_detail(self._call, iccid, strict=self.strict_iccid)

    async def query_iccid_information(self, iccids: Sequence[str]) -> list[CardUsage]:
        """
        The status and usage of 1 to 100 cards in one request
        (``queryIccidInformation``), as the server answered them.

        For any number of cards, with every ICCID accounted for, use
        ``query_iccids``.

        Raises:
            ValueError: No ICCID, or more than 100.
            InvalidICCIDError: A malformed ICCID, before anything is sent.
        """
        return await ep.query_iccid_information(
            self._call, iccids, strict=self.strict_iccid
        )

    async def get_history_detail(self, iccid: str) -> list[Order]:
        """Every plan card *iccid* has had, the current one included
        (``getHistoryDetail``)."""
        return await ep.get_history_detail(self._call, iccid, strict=self.strict_iccid)

    # Fan-out ---------------------------------------------------------------

    async def query_iccids(
        self,
        iccids: Iterable[str] | AsyncIterable[str],
        *,
        concurrency: int | None = None,
        on_progress: Callable[[int, int | None], object] | None = None,
        deadline: float | None = None,
    ) -> BatchResult:
        """
        The status and usage of any number of cards, every ICCID accounted for.

        Every ICCID is validated first (nothing is sent if one is invalid) and
        repeats are asked once. The distinct ICCIDs go out in input order, in
        requests of 100, at most *concurrency* at a time (default: the
        client's ``max_concurrency``); after HTTP 429 fewer, growing back as
        answers succeed. Each request is retried by the read retry policy; a
        request that still fails fails its own ICCIDs only, and when the
        failure may come from one card the request is split in halves until
        that card is isolated. An authentication or signature failure stops
        the fan-out at once.

        Args:
            iccids: Any iterable or async iterable of ICCIDs.
            concurrency: Requests in flight, at most the pool's size.
            on_progress: A plain function (not awaited) called after each
                request settles as ``on_progress(done, total)``, in distinct
                ICCIDs.
            deadline: Seconds the whole fan-out may take; the ICCIDs not
                answered by then fail with ``DeadlineExceededError``.

        Returns:
            A ``BatchResult``: ``records`` in input order, ``failed``,
            ``missing`` and ``duplicates``. Every distinct ICCID is in exactly
            one of ``records``, ``failed`` and ``missing``; call
            ``raise_for_errors()`` to treat anything else than a full answer
            as an error.

        Raises:
            InvalidICCIDError: An invalid ICCID, with its value and position.
            ValueError: *concurrency* is not a positive integer, or exceeds
                the connection pool.
        """
        limiter = AdaptiveLimiter(self._fan_out_width(concurrency))
        fetch, hooks = self._fan_out(limiter, deadline)
        try:
            return await _query_iccids(
                fetch,
                iccids,
                concurrency=limiter.max,
                on_progress=on_progress,
                strict=self.strict_iccid,
                hooks=hooks,
            )
        finally:
            self._limiters.discard(limiter)

    def stream_iccids(
        self,
        iccids: Iterable[str] | AsyncIterable[str],
        *,
        concurrency: int | None = None,
        on_progress: Callable[[int, int | None], object] | None = None,
        deadline: float | None = None,
    ) -> IccidStream:
        """
        The status and usage of any number of cards, handed out as requests
        complete, for inputs too large to hold.

        *iccids* (any iterable or async iterable, a generator of millions will
        do) is read lazily; each ICCID is validated just before its request is
        sent. Iterate the result with ``async for``::

            async for chunk in client.stream_iccids(iccids):
                chunk.iccids, chunk.records, chunk.missing, chunk.error

        Breaking out of the loop, or cancelling it, stops the fan-out at once
        and leaves the client usable. A plain ``async for`` runs requests in
        rounds; ``async with client.stream_iccids(iccids) as chunks:`` keeps
        *concurrency* requests in flight all along. A failed request's chunk
        has ``error`` set and empty ``records`` and ``missing``. Together the
        chunks cover every distinct ICCID exactly once. *on_progress* gets
        ``None`` as the total; *deadline* counts from this call.
        """
        limiter = AdaptiveLimiter(self._fan_out_width(concurrency))
        fetch, hooks = self._fan_out(limiter, deadline)
        return _stream_iccids(
            fetch,
            iccids,
            concurrency=limiter.max,
            on_progress=on_progress,
            strict=self.strict_iccid,
            hooks=hooks,
        )

    def _fan_out(
        self, limiter: AdaptiveLimiter, deadline: float | None
    ) -> tuple[Callable[[list[str]], Any], FanOutHooks]:
        """The chunk fetcher and hooks of one fan-out bounded by *limiter*."""
        expires_at = None if deadline is None else _retry.expires_after(deadline)
        self._limiters.add(limiter)

        async def call(
            endpoint: Endpoint,
            params: Mapping[str, object],
            *,
            other_order_id: str | None = None,
        ) -> Any:
            return await self._call(endpoint, params, limiter=limiter)

        async def fetch(iccids: list[str]) -> list[CardUsage]:
            with _retry.until(expires_at):
                return await ep.query_checked_iccids(call, iccids)

        return fetch, FanOutHooks(limiter, self._may_split, self._on_piece)

    def _fan_out_width(self, concurrency: int | None) -> int:
        """The requests a fan-out may have in flight: never more than the pool."""
        width = self.max_concurrency if concurrency is None else concurrency
        pool = self._transport.max_connections
        if width > pool:
            raise ValueError(
                f"concurrency {width} exceeds the connection pool of {pool}; "
                f"create the client with max_concurrency={width} or more"
            )
        return width

    def _may_split(self) -> bool:
        """A split sends more requests: it draws on the retry budget."""
        return self._transport.quota.acquire(after_timeout=False) is not None

    def _on_piece(self, piece: ChunkResult) -> None:
        event = ChunkEvent(
            len(piece.iccids), len(piece.records), len(piece.missing), piece.error
        )
        emit(self._transport.hooks.on_chunk, event)

    # Figures ----------------------------------------------------------------

    def stats(self) -> ClientStats:
        """What this client has done so far, and its fan-outs' concurrency now."""
        counters = self._transport.counters
        return ClientStats(
            requests=counters.requests,
            retries=counters.retries,
            rate_limited=counters.rate_limited,
            failures=counters.failures,
            retry_tokens=self._transport.quota.available,
            concurrency=sum(
                limiter.current for limiter in self._limiters if limiter.in_flight
            ),
        )


def _check_settings(
    secret_key: str,
    phone_number: str | None,
    password: str | None,
    token: str | None,
    max_concurrency: int,
    http_backend: str,
    login_method: str,
) -> None:
    """Refuse settings that cannot work, before anything is sent."""
    if not secret_key:
        raise ValueError("secret_key is required")
    if (phone_number is None) != (password is None):
        raise ValueError("give both phone_number and password, or neither")
    if token is None and phone_number is None:
        raise ValueError("give phone_number and password, or a token")
    if max_concurrency < 1:
        raise ValueError(f"max_concurrency must be >= 1, got {max_concurrency!r}")
    if http_backend not in ("httpx", "aiohttp"):
        raise ValueError(
            f"http_backend must be 'httpx' or 'aiohttp', got {http_backend!r}"
        )
    if login_method not in _LOGIN_METHODS:
        raise ValueError(
            f"login_method must be 'form' or 'query', got {login_method!r}"
        )


def _method_overrides(methods: Mapping[str, str], login_method: str) -> dict[str, str]:
    """The HTTP method of each endpoint sent otherwise than by default."""
    known = {endpoint.name for endpoint in ep.ENDPOINTS}
    overrides = {"login": _LOGIN_METHODS[login_method]}
    for name, method in methods.items():
        if name not in known:
            raise ValueError(f"methods: unknown endpoint {name!r}")
        if method.upper() not in ("GET", "POST"):
            raise ValueError(f"methods[{name!r}]: expected GET or POST, got {method!r}")
        overrides[name] = method.upper()
    return overrides


def _aiohttp_transport(
    max_connections: int, verify: bool | ssl.SSLContext
) -> httpx.AsyncBaseTransport:
    """The aiohttp backend; imported only when asked for, as it is an extra."""
    from ._aiohttp import AiohttpTransport

    return AiohttpTransport(max_connections=max_connections, verify=verify)


def _timeout(timeout: float | httpx.Timeout) -> httpx.Timeout:
    if isinstance(timeout, httpx.Timeout):
        return timeout
    # No pool timeout: fan-outs never exceed the pool, so a wait for a
    # connection is short, and a PoolTimeout would only mislabel a slow server.
    return httpx.Timeout(timeout, pool=None)


def _tls(verify: bool | str | ssl.SSLContext) -> bool | ssl.SSLContext:
    """httpx's verify: a CA bundle path becomes a context trusting it."""
    if isinstance(verify, str):
        return ssl.create_default_context(cafile=verify)
    return verify


def _direct_tls(base_url: str, tls: bool | ssl.SSLContext) -> bool | ssl.SSLContext:
    """
    The TLS setting of the connections to *base_url* itself. A plain-http
    one (the sandbox, a local gateway) never opens TLS, and redirects are not
    followed: loading the CA bundle for nothing would cost about 35 ms per
    client. Proxies taken from the environment keep *tls*.
    """
    if tls is True and httpx.URL(base_url).scheme == "http":
        return False
    return tls


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _warn_if_cleartext(base_url: str) -> None:
    url = httpx.URL(base_url)
    if url.scheme == "http" and not _is_loopback(url.host):
        logger.warning(
            "base_url %s is plain http: the token and sign travel in clear text",
            base_url,
        )


def _masked(phone_number: str | None) -> str:
    if not phone_number:
        return "none"
    return f"{phone_number[:3]}***{phone_number[-2:]}"
