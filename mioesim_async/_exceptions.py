"""
The errors this library raises, under one root::

    MioesimError
    ├── InvalidICCIDError (also ValueError)   bad input, raised before any request
    ├── TransportError                        no usable answer: connect, read, decode
    ├── UnexpectedResponseError               non-2xx, not JSON, no `code`
    ├── RateLimitedError                      HTTP 429 after retries; .retry_after
    ├── APIError                              .code, .message, .endpoint
    │   ├── AuthenticationError
    │   ├── PermissionDeniedError
    │   ├── InvalidRequestError
    │   ├── NotFoundError
    │   ├── OrderStateError
    │   ├── SignatureError
    │   └── IPNotWhitelistedError
    ├── DeadlineExceededError (also TimeoutError)  the call's deadline ran out
    ├── OrderOutcomeUnknownError              a write that may or may not have happened
    └── BatchError                            from BatchResult.raise_for_errors()

No message built here ever contains a password, secret key, token or sign: the
transport strips them from URLs before any text reaches an exception.

This module imports nothing else from the package.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

__all__ = [
    "APIError",
    "AuthenticationError",
    "BatchError",
    "DeadlineExceededError",
    "IPNotWhitelistedError",
    "InvalidICCIDError",
    "InvalidRequestError",
    "MioesimError",
    "NotFoundError",
    "OrderOutcomeUnknownError",
    "OrderStateError",
    "PermissionDeniedError",
    "RateLimitedError",
    "SignatureError",
    "TransportError",
    "UnexpectedResponseError",
]


class MioesimError(Exception):
    """
    The root of every error this library raises on purpose.

    *endpoint* is the wire name of the call that failed (``getBalance``,
    ``login``), or ``None`` where no request was involved. *attempts* is how
    many times the request was sent and *elapsed* the seconds the call took,
    retries and waits included (``None`` where no request was involved).
    """

    endpoint: str | None = None
    attempts: int | None = None
    elapsed: float | None = None


class InvalidICCIDError(MioesimError, ValueError):
    """
    An ICCID that is not 10 to 22 digits (an optional trailing ``F`` allowed).

    Raised before anything is sent. *value* is the offending input as given,
    *position* its 0-based index in the input.
    """

    def __init__(self, value: object, position: int, reason: str = "") -> None:
        self.value = value
        self.position = position
        self.reason = reason or "expected 10 to 22 digits, optionally ending in F"
        super().__init__(
            f"invalid ICCID {value!r} at position {position}: {self.reason}"
        )


class TransportError(MioesimError):
    """
    The request did not get a usable answer: connect or read failure, a
    timeout, or a body that does not decode as its ``Content-Encoding`` says.

    The underlying ``httpx`` error is the ``__cause__``.
    """

    def __init__(self, message: str, *, endpoint: str | None = None) -> None:
        self.endpoint = endpoint
        super().__init__(message)


class UnexpectedResponseError(MioesimError):
    """
    An answer that is not an API envelope: a non-2xx status, a body that is not
    JSON, or JSON without a ``code``.
    """

    def __init__(
        self,
        message: str,
        *,
        endpoint: str | None = None,
        status_code: int | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.status_code = status_code
        super().__init__(message)


class RateLimitedError(MioesimError):
    """
    HTTP 429 after every retry. *retry_after* is the server's ``Retry-After`` in
    seconds, or ``None`` when it gave none.
    """

    def __init__(
        self,
        message: str,
        *,
        endpoint: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.retry_after = retry_after
        super().__init__(message)


class APIError(MioesimError):
    """
    The API answered with a failure code.

    *code* is the envelope's code as an int (``None`` where the refusal came as an
    HTTP status only), *message* the server's text, *endpoint* the wire name.
    """

    def __init__(
        self,
        code: int | None,
        message: str,
        *,
        endpoint: str | None = None,
    ) -> None:
        self.code = code
        self.message = message
        self.endpoint = endpoint
        super().__init__(self._describe())

    def _describe(self) -> str:
        where = f"{self.endpoint}: " if self.endpoint else ""
        code = "" if self.code is None else f" (code {self.code})"
        return f"{where}{self.message or 'no message'}{code}"

    def __reduce__(self) -> tuple[object, ...]:
        return (
            _rebuild_api_error,
            (type(self), self.code, self.message, self.endpoint),
        )


def _rebuild_api_error(
    cls: type[APIError], code: int | None, message: str, endpoint: str | None
) -> APIError:
    """Unpickle an APIError subclass whose __init__ takes keyword arguments."""
    return cls(code, message, endpoint=endpoint)


class AuthenticationError(APIError):
    """Wrong phone number or password, or a token refused twice (code ``-1``)."""


class PermissionDeniedError(APIError):
    """The account may not do this (login ``-3``, or ``22``: not your order)."""


class InvalidRequestError(APIError):
    """A required parameter was missing or empty (``-2``), or ``dpId`` (``-10``)."""


class NotFoundError(APIError):
    """The data does not exist (``3``, or ``-3`` outside login)."""


class OrderStateError(APIError):
    """The order is not in a state that allows this (``4``)."""


class SignatureError(APIError):
    """The server computed another ``sign`` (``-30``): check the secret key and
    the signature style."""


class IPNotWhitelistedError(APIError):
    """``getESIMDetail`` refused this server's IP address."""

    def _describe(self) -> str:
        return (
            f"{super()._describe()}; this server's IP address is not on MIOeSIM's "
            "whitelist for getESIMDetail: write to help@mioesim.com and ask them "
            "to add it"
        )


class DeadlineExceededError(MioesimError, TimeoutError):
    """
    The call's total deadline ran out (see ``mioesim_async.deadline``). The
    last failure before it, if any, is the ``__cause__``.
    """

    def __init__(self, message: str, *, endpoint: str | None = None) -> None:
        self.endpoint = endpoint
        super().__init__(message)


class OrderOutcomeUnknownError(MioesimError):
    """
    A write that may or may not have taken effect: the request may have reached
    the server, but no answer came back (a timeout, a dropped connection, a 5xx).

    It is never retried automatically. *other_order_id* is the ``otherOrderId``
    that was sent (``None`` for refunds), so the caller can reconcile with
    ``get_order_info`` or their own records. The original error is the
    ``__cause__``.
    """

    def __init__(
        self,
        message: str,
        *,
        endpoint: str | None = None,
        other_order_id: str | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.other_order_id = other_order_id
        super().__init__(message)


class BatchError(MioesimError):
    """
    Some ICCIDs of a fan-out failed or came back without a record.

    *failed* maps each failed ICCID to its error; *missing* lists the ICCIDs the
    server answered for without a record. The message groups the ICCIDs by
    error, so it stays readable for tens of thousands of them.
    """

    def __init__(
        self,
        failed: Mapping[str, MioesimError],
        missing: Iterable[str],
    ) -> None:
        self.failed = dict(failed)
        self.missing = list(missing)
        super().__init__(_describe_batch(self.failed, self.missing))


_SHOWN_PER_GROUP = 5


def _describe_batch(failed: Mapping[str, MioesimError], missing: list[str]) -> str:
    """Group failed ICCIDs by their error's text; show a few of each group."""
    groups: dict[str, list[str]] = {}
    for iccid, error in failed.items():
        groups.setdefault(f"{type(error).__name__}: {error}", []).append(iccid)
    lines = [f"{len(failed)} ICCIDs failed, {len(missing)} missing"]
    lines.extend(
        f"  {len(iccids)} failed with {reason}: {_sample(iccids)}"
        for reason, iccids in groups.items()
    )
    if missing:
        lines.append(f"  {len(missing)} missing from the answers: {_sample(missing)}")
    return "\n".join(lines)


def _sample(iccids: list[str]) -> str:
    shown = ", ".join(iccids[:_SHOWN_PER_GROUP])
    more = len(iccids) - _SHOWN_PER_GROUP
    return f"{shown} and {more} more" if more > 0 else shown
