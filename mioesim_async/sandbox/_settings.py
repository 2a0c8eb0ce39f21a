"""The sandbox's fixed configuration, shared by its API and its ASGI app."""

from __future__ import annotations

import time
from collections.abc import Callable

import attrs

from .._signing import SignatureStyle

__all__ = [
    "DEFAULT_PASSWORD",
    "DEFAULT_PHONE_NUMBER",
    "DEFAULT_SECRET_KEY",
    "LOOPBACK",
    "Settings",
]

DEFAULT_PHONE_NUMBER = "13800000000"
DEFAULT_PASSWORD = "mypassword"  # noqa: S105 - the docs' example, for a local server
DEFAULT_SECRET_KEY = "1234567890qwertyuiopasdfghjklzxc"  # noqa: S105 - same
#: The peers ``getESIMDetail`` answers by default: loopback, and the address
#: ``httpx.ASGITransport`` reports for in-process requests.
LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})


@attrs.frozen(kw_only=True)
class Settings:
    """How the sandbox's account and server behave; see ``Sandbox``."""

    phone_number: str = DEFAULT_PHONE_NUMBER
    password: str = attrs.field(default=DEFAULT_PASSWORD, repr=False)
    secret_key: str = attrs.field(default=DEFAULT_SECRET_KEY, repr=False)
    signature_style: SignatureStyle = SignatureStyle.PLAIN
    token_ttl: float = 7200.0
    clock: Callable[[], float] = attrs.field(default=time.monotonic, repr=False)
    allow_login_query: bool = False
    strict_methods: bool = True
    ip_whitelist: frozenset[str] | None = LOOPBACK
    api_permission: bool = True
    currency: str = "USD"
