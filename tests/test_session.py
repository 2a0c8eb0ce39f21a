from __future__ import annotations

import anyio
import pytest

from mioesim_async import AuthenticationError
from mioesim_async._session import DEFAULT_REFRESH_AFTER, Session

pytestmark = pytest.mark.anyio


class FakeLogin:
    """Hands out token-1, token-2, ...; can be held at a gate."""

    def __init__(self) -> None:
        self.calls = 0
        self.gate: anyio.Event | None = None

    async def __call__(self) -> str:
        self.calls += 1
        if self.gate is not None:
            await self.gate.wait()
        return f"token-{self.calls}"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_login_is_lazy_and_cached():
    """No login until a token is asked for; then one login serves every call."""
    login = FakeLogin()
    session = Session(login)
    assert login.calls == 0
    assert await session.token() == "token-1"
    assert await session.token() == "token-1"
    assert login.calls == 1


async def test_twenty_concurrent_first_calls_make_one_login():
    """Single flight: concurrent callers wait for the one login in progress."""
    login = FakeLogin()
    login.gate = anyio.Event()
    session = Session(login)
    tokens: list[str] = []

    async def ask() -> None:
        tokens.append(await session.token())

    async with anyio.create_task_group() as tg:
        for _ in range(20):
            tg.start_soon(ask)
        await anyio.wait_all_tasks_blocked()
        login.gate.set()
    assert tokens == ["token-1"] * 20
    assert login.calls == 1


async def test_refresh_of_a_refused_token_logs_in_once():
    """Many callers refused with the same token cause one new login."""
    login = FakeLogin()
    session = Session(login)
    stale = await session.token()
    results = []

    async def refresh() -> None:
        results.append(await session.refresh(stale))

    async with anyio.create_task_group() as tg:
        for _ in range(10):
            tg.start_soon(refresh)
    assert results == ["token-2"] * 10
    assert login.calls == 2


async def test_token_is_replaced_before_it_expires():
    """A token older than refresh_after is replaced before use."""
    clock = FakeClock()
    login = FakeLogin()
    session = Session(login, clock=clock)
    assert await session.token() == "token-1"
    clock.now += DEFAULT_REFRESH_AFTER - 1
    assert await session.token() == "token-1"
    clock.now += 1
    assert await session.token() == "token-2"


async def test_ready_token_skips_login():
    """A ready token is used as is, whatever its age, with no login."""
    clock = FakeClock()
    session = Session(None, token="ready", clock=clock)
    clock.now += 10 * DEFAULT_REFRESH_AFTER
    assert await session.token() == "ready"
    assert not session.can_log_in


async def test_ready_token_refused_without_credentials():
    """A refused ready token with no credentials is an AuthenticationError."""
    session = Session(None, token="ready")
    with pytest.raises(AuthenticationError, match="no phone number"):
        await session.refresh("ready")


async def test_ready_token_with_credentials_logs_in_when_refused():
    """Given credentials too, a refused ready token is replaced."""
    login = FakeLogin()
    session = Session(login, token="ready")
    assert await session.token() == "ready"
    assert await session.refresh("ready") == "token-1"


async def test_explicit_login_replaces_the_token():
    login = FakeLogin()
    session = Session(login)
    await session.token()
    assert await session.login() == "token-2"


def test_needs_a_way_to_get_a_token():
    with pytest.raises(ValueError, match="credentials"):
        Session(None)


def test_repr_hides_the_token():
    assert "secret-token" not in repr(Session(None, token="secret-token"))
