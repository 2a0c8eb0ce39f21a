"""
One pooled ``httpx.AsyncClient``, the envelope check and the retry loop.

Every answer is HTTP 200 with ``{"code", "message", "data"}``, errors included;
anything else is a transport-level fault. Reads are retried on transient
faults; writes are never sent twice once they may have reached the server.
"""

from __future__ import annotations

import enum
import logging
import re
import ssl
import time
from collections.abc import Mapping
from typing import Any, NoReturn

import attrs
import httpx

from . import _retry
from ._exceptions import (
    APIError,
    AuthenticationError,
    InvalidRequestError,
    IPNotWhitelistedError,
    MioesimError,
    NotFoundError,
    OrderOutcomeUnknownError,
    OrderStateError,
    PermissionDeniedError,
    RateLimitedError,
    SignatureError,
    TransportError,
    UnexpectedResponseError,
)
from ._retry import RetryPolicy, parse_retry_after
from ._signing import SignatureStyle, SigningAuth, render_params

__all__ = ["Endpoint", "Kind", "Transport", "error_for_code", "mask_secrets"]

logger = logging.getLogger("mioesim_async")


class Kind(enum.Enum):
    """What may be done again when an attempt fails."""

    READ = "read"
    """Retried on transient faults."""
    WRITE = "write"
    """Never sent twice once it may have reached the server."""
    ORDER = "order"
    """A write whose unknown outcome raises ``OrderOutcomeUnknownError``."""


@attrs.frozen
class Endpoint:
    """One API endpoint: its wire name, path, HTTP method and kind."""

    name: str
    path: str
    method: str = "GET"
    kind: Kind = Kind.READ
    success_code: int = 0

    def with_method(self, method: str) -> Endpoint:
        """The same endpoint sent with another HTTP method."""
        return attrs.evolve(self, method=method)


_SECRET_PARAM = re.compile(
    r"(?i)\b(token|sign|password|secret_?key)=[^&\s\"'<>]*",
)


def mask_secrets(text: str) -> str:
    """*text* with the values of ``token``, ``sign`` and ``password`` masked."""
    return _SECRET_PARAM.sub(r"\1=***", text)


class _MaskSecrets(logging.Filter):
    """Masks secrets in URLs that httpx logs at INFO ("HTTP Request: GET ...")."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                mask_secrets(str(arg)) if isinstance(arg, httpx.URL) else arg
                for arg in record.args
            )
        if isinstance(record.msg, str):
            record.msg = mask_secrets(record.msg)
        return True


def install_log_filter() -> None:
    """Mask secrets in httpx's own log lines (once per process)."""
    httpx_logger = logging.getLogger("httpx")
    if not any(isinstance(f, _MaskSecrets) for f in httpx_logger.filters):
        httpx_logger.addFilter(_MaskSecrets())


# Codes whose meaning is the same on every endpoint but login.
_ERRORS: Mapping[int, type[APIError]] = {
    -1: AuthenticationError,
    -2: InvalidRequestError,
    -3: NotFoundError,
    3: NotFoundError,
    4: OrderStateError,
    -10: InvalidRequestError,
    22: PermissionDeniedError,
    -30: SignatureError,
}
_LOGIN_ERRORS: Mapping[int, type[APIError]] = {
    **_ERRORS,
    -3: PermissionDeniedError,  # on login: the account has no API permission
}
_WHITELIST = re.compile(r"white\s*list", re.IGNORECASE)


def error_for_code(endpoint: str, code: int, message: str) -> APIError:
    """The exception for failure *code* on *endpoint* (CONTRACT section 5)."""
    if endpoint == "getESIMDetail" and _WHITELIST.search(message):
        return IPNotWhitelistedError(code, message, endpoint=endpoint)
    table = _LOGIN_ERRORS if endpoint == "login" else _ERRORS
    return table.get(code, APIError)(code, message, endpoint=endpoint)


def _code(value: object) -> int | None:
    """The envelope's code as an int: it arrives as ``0`` and as ``"0"``."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return None
    return None


def unwrap(endpoint: Endpoint, response: httpx.Response) -> Any:
    """The ``data`` of a successful answer; raises for anything else."""
    try:
        body = response.json()
    except ValueError:
        raise UnexpectedResponseError(
            f"{endpoint.name}: the answer is not JSON "
            f"({len(response.content)} bytes of {_content_type(response)})",
            endpoint=endpoint.name,
            status_code=response.status_code,
        ) from None
    code = _code(body.get("code")) if isinstance(body, dict) else None
    if code is None:
        raise UnexpectedResponseError(
            f"{endpoint.name}: the answer has no numeric 'code'",
            endpoint=endpoint.name,
            status_code=response.status_code,
        )
    if code == endpoint.success_code:
        return body.get("data")
    raise error_for_code(endpoint.name, code, str(body.get("message") or ""))


def _content_type(response: httpx.Response) -> str:
    return str(response.headers.get("content-type", "no content type"))


# httpx errors raised before the request could have left this machine.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


class _Retryable(Exception):
    """An attempt failed in a way worth another try."""

    def __init__(self, error: MioesimError, retry_after: float | None = None) -> None:
        self.error = error
        self.retry_after = retry_after


class Transport:
    """
    Sends signed requests through one long-lived, pooled ``httpx.AsyncClient``
    and turns what comes back into ``data`` or one of our errors.
    """

    def __init__(
        self,
        *,
        base_url: str,
        secret_key: str,
        signature_style: SignatureStyle,
        timeout: httpx.Timeout,
        max_connections: int,
        retry: RetryPolicy,
        transport: httpx.AsyncBaseTransport | None = None,
        verify: bool | ssl.SSLContext = True,
    ) -> None:
        install_log_filter()
        self._secret_key = secret_key
        self._style = signature_style
        self._retry = retry
        self._http = httpx.AsyncClient(
            base_url=base_url,
            timeout=timeout,
            limits=httpx.Limits(
                max_connections=max_connections,
                max_keepalive_connections=max_connections,
            ),
            transport=transport,
            verify=verify,
            headers={"User-Agent": "mioesim-async"},
        )
        self.max_connections = max_connections

    def __repr__(self) -> str:
        return f"<Transport {self._http.base_url} style={self._style.name}>"

    @property
    def is_closed(self) -> bool:
        """Whether ``aclose()`` has run."""
        return self._http.is_closed

    async def aclose(self) -> None:
        """Close every pooled connection."""
        await self._http.aclose()

    async def request(
        self,
        endpoint: Endpoint,
        params: Mapping[str, object],
        *,
        token: str | None,
        other_order_id: str | None = None,
    ) -> Any:
        """
        Send *params* to *endpoint* signed with *token*, retrying reads on
        transient faults; returns the answer's ``data``.
        """
        rendered = render_params(params)
        attempt = 1
        while True:
            try:
                return await self._attempt(endpoint, rendered, token, other_order_id)
            except _Retryable as failure:
                wait = self._retry.wait(attempt, failure.retry_after)
                if attempt >= self._retry.attempts or wait is None:
                    raise failure.error from failure.error.__cause__
                error_name = type(failure.error).__name__
            logger.debug(
                "retrying %s after %s (attempt %d, waiting %.2fs)",
                endpoint.name,
                error_name,
                attempt,
                wait,
            )
            await _retry.sleep(wait)
            attempt += 1

    async def _attempt(
        self,
        endpoint: Endpoint,
        params: dict[str, str],
        token: str | None,
        other_order_id: str | None,
    ) -> Any:
        started = time.monotonic()
        response = await self._send(endpoint, params, token, other_order_id)
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "%s %s -> HTTP %d in %.3fs",
                endpoint.method,
                endpoint.name,
                response.status_code,
                time.monotonic() - started,
            )
        self._check_status(endpoint, response, other_order_id)
        return unwrap(endpoint, response)

    async def _send(
        self,
        endpoint: Endpoint,
        params: dict[str, str],
        token: str | None,
        other_order_id: str | None,
    ) -> httpx.Response:
        if endpoint.method == "GET":
            request = self._http.build_request("GET", endpoint.path, params=params)
        else:
            request = self._http.build_request(
                endpoint.method, endpoint.path, data=params
            )
        auth = SigningAuth(self._secret_key, self._style, token)
        try:
            return await self._http.send(request, auth=auth)
        except httpx.TransportError as exc:
            self._raise_transport_error(endpoint, exc, other_order_id)

    def _raise_transport_error(
        self,
        endpoint: Endpoint,
        exc: httpx.TransportError,
        other_order_id: str | None,
    ) -> NoReturn:
        """
        Raise ours for *exc*: an order's unknown outcome, a retryable fault
        (any read; a write that never left this machine), or a final one.
        """
        what = mask_secrets(f"{type(exc).__name__}: {exc}".rstrip(": "))
        sent = not isinstance(exc, _NOT_SENT)
        if endpoint.kind is Kind.ORDER and sent:
            raise _outcome_unknown(endpoint, what, other_order_id) from exc
        error = TransportError(f"{endpoint.name}: {what}", endpoint=endpoint.name)
        error.__cause__ = exc
        if endpoint.kind is Kind.READ or not sent:
            raise _Retryable(error) from exc
        raise error from exc

    def _check_status(
        self,
        endpoint: Endpoint,
        response: httpx.Response,
        other_order_id: str | None,
    ) -> None:
        """Raise ours for a non-2xx answer."""
        status = response.status_code
        if 200 <= status < 300:
            return
        if status == 403 and endpoint.name == "getESIMDetail":
            raise IPNotWhitelistedError(
                None, f"HTTP {status} {response.reason_phrase}", endpoint=endpoint.name
            )
        if status == 429:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            limited = RateLimitedError(
                f"{endpoint.name}: HTTP 429, rate limited",
                endpoint=endpoint.name,
                retry_after=retry_after,
            )
            if endpoint.kind is Kind.READ:
                raise _Retryable(limited, retry_after)
            raise limited  # a write that reached the server is never re-sent
        problem = f"HTTP {status} {response.reason_phrase}".rstrip()
        if status >= 500 and endpoint.kind is Kind.ORDER:
            raise _outcome_unknown(endpoint, problem, other_order_id)
        error = UnexpectedResponseError(
            f"{endpoint.name}: {problem}", endpoint=endpoint.name, status_code=status
        )
        if status >= 500 and endpoint.kind is Kind.READ:
            raise _Retryable(error)
        raise error


def _outcome_unknown(
    endpoint: Endpoint, problem: str, other_order_id: str | None
) -> OrderOutcomeUnknownError:
    reconcile = (
        f"; reconcile by otherOrderId {other_order_id!r}" if other_order_id else ""
    )
    return OrderOutcomeUnknownError(
        f"{endpoint.name}: the request may or may not have taken effect "
        f"({problem}); it was not sent again{reconcile}",
        endpoint=endpoint.name,
        other_order_id=other_order_id,
    )
