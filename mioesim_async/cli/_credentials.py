"""
Where the API commands find their settings: flags first, then environment
variables. Never a file: credentials kept in a file end up committed.

Error messages name the flag or variable that is missing, never a value.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

from .._client import DEFAULT_BASE_URL
from .._signing import SignatureStyle
from ._errors import CliError

__all__ = ["ENVIRONMENT", "client_settings", "has_login"]

#: Setting name -> the environment variable it falls back to.
ENVIRONMENT = {
    "phone_number": "MIOESIM_PHONE_NUMBER",
    "password": "MIOESIM_PASSWORD",
    "secret_key": "MIOESIM_SECRET_KEY",
    "token": "MIOESIM_TOKEN",
    "base_url": "MIOESIM_BASE_URL",
    "signature_style": "MIOESIM_SIGNATURE_STYLE",
}


def _setting(args: argparse.Namespace, env: Mapping[str, str], name: str) -> str | None:
    """The flag's value if given, else the variable's; empty means unset."""
    value = getattr(args, name, None)
    if value is None:
        value = env.get(ENVIRONMENT[name])
    return value or None


def _missing(name: str) -> str:
    flag = "--" + name.replace("_", "-")
    return f"{ENVIRONMENT[name]} (or {flag})"


def _check_complete(found: Mapping[str, str | None]) -> None:
    """Refuse settings a client could not log in or sign with."""
    if found["secret_key"] is None:
        raise CliError(f"missing credentials: set {_missing('secret_key')}")
    phone, password = found["phone_number"], found["password"]
    if phone is not None and password is None:
        raise CliError(f"missing credentials: set {_missing('password')}")
    if password is not None and phone is None:
        raise CliError(f"missing credentials: set {_missing('phone_number')}")
    if phone is None and found["token"] is None:
        raise CliError(
            f"missing credentials: set {_missing('phone_number')} and "
            f"{_missing('password')}, or {_missing('token')}"
        )


def _signature_style(text: str | None) -> SignatureStyle:
    if text is None:
        return SignatureStyle.PLAIN
    try:
        return SignatureStyle(text.lower())
    except ValueError:
        styles = ", ".join(style.value for style in SignatureStyle)
        raise CliError(
            f"unknown signature style {text!r}: expected one of {styles}"
        ) from None


def client_settings(args: argparse.Namespace, env: Mapping[str, str]) -> dict[str, Any]:
    """
    The ``Client`` keyword arguments from *args* and *env*.

    Raises:
        CliError: A credential is missing.
    """
    found = {name: _setting(args, env, name) for name in ENVIRONMENT}
    _check_complete(found)
    return {
        "phone_number": found["phone_number"],
        "password": found["password"],
        "secret_key": found["secret_key"],
        "token": found["token"],
        "base_url": found["base_url"] or DEFAULT_BASE_URL,
        "signature_style": _signature_style(found["signature_style"]),
    }


def has_login(settings: Mapping[str, Any]) -> bool:
    """Whether *settings* can log in (and so be checked before a long poll)."""
    return settings["phone_number"] is not None and settings["password"] is not None
