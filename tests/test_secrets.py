"""No secret (password, secret key, token, sign) reaches a log line, a repr,
an exception or a hook, through a whole session over real HTTP."""

from __future__ import annotations

import json
import logging
import traceback
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date
from typing import Any
from urllib.parse import parse_qsl, quote, quote_plus

import anyio
import pytest

import mioesim_async as mio
from mioesim_async.sandbox import Faults, Sandbox
from mioesim_async.sandbox._server import serve

pytestmark = pytest.mark.anyio

TODAY = date(2025, 1, 15)
PASSWORD = "pässwörd-Qx7!&=+"
SECRET_KEY = "sk-3b1f0c9e7d5a4f2e8c6b0a9d7e5f3c1a"
WRONG_SECRET_KEY = "sk-wrong-0a1b2c3d4e5f6a7b8c9d0e1f"
WRONG_PASSWORD = "not-the-pässwörd-9Zy"
FOREIGN_TOKEN = "55555-0123456789ABCDEF0123456789ABCDEF"
LOGGERS = [
    "",
    "mioesim_async",
    "httpx",
    "httpcore",
    "uvicorn",
    "uvicorn.error",
    "uvicorn.access",
    "asyncio",
    "trio",
]


class Recorder:
    """The sandbox's app, noting every token and sign it receives or hands out."""

    def __init__(self, app: Any) -> None:
        self._app = app
        self.tokens: set[str] = set()
        self.signs: set[str] = set()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        self._note(scope["query_string"].decode("latin-1"))

        async def receive_noting() -> Any:
            message = await receive()
            if message["type"] == "http.request":
                self._note(message.get("body", b"").decode("utf-8", "replace"))
            return message

        async def send_noting(message: Any) -> None:
            if message["type"] == "http.response.body" and scope["path"].endswith(
                "/login"
            ):
                self._note_login_answer(message.get("body", b""))
            await send(message)

        await self._app(scope, receive_noting, send_noting)

    def _note(self, text: str) -> None:
        params = dict(parse_qsl(text, keep_blank_values=True))
        if params.get("token"):
            self.tokens.add(params["token"])
        if params.get("sign"):
            self.signs.add(params["sign"])

    def _note_login_answer(self, body: bytes) -> None:
        answer = json.loads(body)
        if isinstance(answer.get("data"), dict) and answer["data"].get("token"):
            self.tokens.add(answer["data"]["token"])


@asynccontextmanager
async def served(sb: Sandbox) -> AsyncIterator[tuple[str, Recorder]]:
    recorder = Recorder(sb.app)
    async with serve(recorder, "127.0.0.1", 0) as base_url:  # type: ignore[arg-type]
        yield base_url, recorder


def forms(secret: str) -> set[str]:
    """*secret* as it could appear: as is, and percent-encoded either way."""
    return {secret, quote(secret, safe=""), quote_plus(secret)}


def exception_texts(error: BaseException) -> list[str]:
    """The repr, message and formatted traceback of *error* and its causes."""
    texts = ["".join(traceback.format_exception(error))]
    seen: BaseException | None = error
    while seen is not None:
        texts += [repr(seen), str(seen)]
        seen = seen.__cause__ or seen.__context__
    return texts


async def test_a_whole_session_leaks_no_secret(
    caplog: pytest.LogCaptureFixture, sleeps: list[float]
) -> None:
    """Login, reads, a fan-out, orders, faults, re-login, refusals: every
    token and sign sent stays out of logs, reprs, errors and hook events."""
    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    sb = Sandbox(
        cards=600, seed=0, today=TODAY, password=PASSWORD, secret_key=SECRET_KEY
    )
    events: list[object] = []
    hooks = mio.Hooks(
        on_request=events.append,
        on_response=events.append,
        on_retry=events.append,
        on_chunk=events.append,
    )
    errors: list[BaseException] = []
    shown: list[str] = []

    async def expect(kind: type[BaseException], call: Any, *args: Any) -> None:
        with pytest.raises(kind) as info:
            await call(*args)
        errors.append(info.value)

    def client(base_url: str, **settings: Any) -> mio.Client:
        credentials: dict[str, Any] = {
            "phone_number": sb.phone_number,
            "password": PASSWORD,
            "secret_key": SECRET_KEY,
        }
        made = mio.Client(base_url=base_url, hooks=hooks, **{**credentials, **settings})
        shown.append(repr(made))
        return made

    with anyio.fail_after(30):
        async with served(sb) as (base_url, recorder):
            async with client(base_url) as c:
                await c.get_balance()
                await c.get_skus()
                await c.get_packages(45)
                await c.get_esim_detail(sb.iccids[0])
                sb.faults = Faults(
                    error_rate=0.2,
                    disconnect_rate=0.1,
                    drop_rate=0.05,
                    poisoned={sb.iccids[250]},
                    endpoints={"queryIccidInformation"},
                )
                result = await c.query_iccids(sb.iccids)
                assert result.failed
                assert result.missing
                await expect(mio.BatchError, result.raise_for_errors)
                shown.append(repr(result))
                shown += [repr(error) for error in result.failed.values()]
                sb.faults = Faults()
                order = await c.add_esim_order(45, 441, other_order_id="shop-1")
                await c.get_order_info(order.order_num)
                await c.get_pdf_links(order.order_num)
                sb.faults = Faults(disconnect_rate=1.0, endpoints={"addEsimOrder"})
                await expect(mio.OrderOutcomeUnknownError, c.add_esim_order, 45, 441)
                sb.faults = Faults()
                sb.expire_token()
                await c.get_balance()  # -1, then a second login
                await expect(mio.NotFoundError, c.get_order_info, "NO-SUCH-ORDER")
                await expect(mio.InvalidICCIDError, c.get_esim_detail, "12ab")
                sb.faults = Faults(latency=0.5, endpoints={"getSkus"})
                with mio.deadline(0.1):
                    await expect(mio.DeadlineExceededError, c.get_skus)
                sb.faults = Faults()
                shown.append(repr(c.stats()))
            async with client(base_url, secret_key=WRONG_SECRET_KEY) as wrong_key:
                await expect(mio.SignatureError, wrong_key.get_balance)
            async with client(base_url, password=WRONG_PASSWORD) as wrong_password:
                await expect(mio.AuthenticationError, wrong_password.get_balance)
            async with mio.Client(
                token=FOREIGN_TOKEN, secret_key=SECRET_KEY, base_url=base_url
            ) as foreign:
                shown.append(repr(foreign))
                await expect(mio.AuthenticationError, foreign.get_balance)

    assert sb.stats.requests["login"] == 4  # first, re-login, two refused
    assert len(recorder.tokens) >= 3  # two issued, one foreign
    assert len(recorder.signs) > 20
    assert "sign=***" in caplog.text  # httpx's request lines were captured
    secrets = {PASSWORD, SECRET_KEY, WRONG_SECRET_KEY, WRONG_PASSWORD}
    secrets |= recorder.tokens | recorder.signs
    texts = {
        "the log": caplog.text,
        **{f"repr {n}": text for n, text in enumerate(shown)},
        **{f"event {n}": repr(event) for n, event in enumerate(events)},
    }
    for n, error in enumerate(errors):
        for m, text in enumerate(exception_texts(error)):
            texts[f"error {n}.{m} ({type(error).__name__})"] = text
    leaks = [
        (where, secret)
        for where, text in texts.items()
        for secret in secrets
        for form in forms(secret)
        if form in text
    ]
    assert not leaks
