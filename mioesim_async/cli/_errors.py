"""
Errors as people should see them: one line saying what went wrong and what to
check, never a traceback (``--debug`` shows one) and never a secret.

The library's messages hold no secret; the hints added here name settings,
never their values.
"""

from __future__ import annotations

from .._exceptions import (
    AuthenticationError,
    InvalidICCIDError,
    IPNotWhitelistedError,
    MioesimError,
    PermissionDeniedError,
    RateLimitedError,
    SignatureError,
    TransportError,
)

__all__ = ["CliError", "describe"]


class CliError(Exception):
    """A failure the command explains itself, in one line; exit code 1."""


_HINTS: tuple[tuple[type[MioesimError], str], ...] = (
    (
        AuthenticationError,
        "login refused: check MIOESIM_PHONE_NUMBER and MIOESIM_PASSWORD (or "
        "MIOESIM_TOKEN); an expired account is refused the same way",
    ),
    (
        SignatureError,
        "the server computed another signature: check MIOESIM_SECRET_KEY, "
        "or try --signature-style urlencoded_upper",
    ),
    (IPNotWhitelistedError, ""),  # its own message says what to do
    (PermissionDeniedError, "the account may not have API access"),
    (
        TransportError,
        "no answer from the API: check the network and MIOESIM_BASE_URL",
    ),
    (RateLimitedError, "the API is rate limiting: retry later, or lower --concurrency"),
    (InvalidICCIDError, ""),
)


def describe(exc: BaseException) -> str:
    """The one line shown for *exc*."""
    if isinstance(exc, CliError):
        return str(exc)
    if isinstance(exc, ModuleNotFoundError):
        return f'{exc} (install the "cli" extra: pip install "mioesim-async[cli]")'
    if isinstance(exc, OSError) and exc.filename is not None:
        return f"{exc.filename}: {exc.strerror}"
    if isinstance(exc, MioesimError):
        return _describe_api_failure(exc)
    return f"{type(exc).__name__}: {exc}"


def _describe_api_failure(exc: MioesimError) -> str:
    """The error's own message, with a hint of what to check."""
    text = " ".join(str(exc).split())  # a BatchError spans several lines
    for kind, hint in _HINTS:
        if isinstance(exc, kind):
            return f"{text} ({hint})" if hint else text
    return f"{type(exc).__name__}: {text}"
