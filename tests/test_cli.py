"""The ``mioesim`` command, run in process against a sandbox served on loopback."""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import date, datetime, time
from pathlib import Path

import anyio.from_thread
import pytest

import mioesim_async as mio
from mioesim_async import CardStatus
from mioesim_async._models import GMT8
from mioesim_async.cli import _commands, _main, main
from mioesim_async.cli._output import COLUMNS
from mioesim_async.cli._parser import build_parser
from mioesim_async.sandbox import Faults, Sandbox

TODAY = date(2025, 3, 10)
NOW = datetime.combine(TODAY, time(12), GMT8)
UNKNOWN_ICCID = "8986000000000000000"  # valid, but no card of the sandbox's
SECRETS = ("mypassword", "1234567890qwertyuiopasdfghjklzxc")


@pytest.fixture
def sandbox() -> Sandbox:
    return Sandbox(cards=300, today=TODAY)


@pytest.fixture
def base_url(sandbox: Sandbox) -> Iterator[str]:
    """The sandbox served on 127.0.0.1 from a thread, so ``main`` can run here."""
    with (
        anyio.from_thread.start_blocking_portal() as portal,
        portal.wrap_async_context_manager(sandbox.serve(port=0)) as url,
    ):
        yield url


@pytest.fixture
def account(
    sandbox: Sandbox, base_url: str, monkeypatch: pytest.MonkeyPatch
) -> Sandbox:
    """The sandbox's credentials in the environment, as a user would set them."""
    monkeypatch.setenv("MIOESIM_BASE_URL", base_url)
    monkeypatch.setenv("MIOESIM_PHONE_NUMBER", sandbox.phone_number)
    monkeypatch.setenv("MIOESIM_PASSWORD", sandbox.password)
    monkeypatch.setenv("MIOESIM_SECRET_KEY", sandbox.secret_key)
    return sandbox


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("PHONE_NUMBER", "PASSWORD", "SECRET_KEY", "TOKEN", "BASE_URL"):
        monkeypatch.delenv(f"MIOESIM_{name}", raising=False)
    monkeypatch.delenv("MIOESIM_SIGNATURE_STYLE", raising=False)


def run(*argv: str) -> int:
    return main(list(argv), now=NOW)


def write_iccids(path: Path, lines: list[str]) -> str:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


def assert_one_line_error(err: str, *words: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("mioesim: ")
    assert "Traceback" not in err
    assert all(word in lines[0] for word in words), err
    assert not any(secret in err for secret in SECRETS)


# demo -----------------------------------------------------------------------


def test_demo_polls_every_card_and_the_report_adds_up(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = run("demo", "--cards", "2000")
    out = capsys.readouterr().out

    assert code == 0
    assert "Portfolio report: 2,000 cards" in out
    counts = dict(re.findall(r"^ (\w+) +([\d,]+) +[\d.]+%", out, re.MULTILINE))
    assert set(counts) == {*CardStatus.__members__, "failed", "missing", "total"}
    parts = sum(int(n.replace(",", "")) for k, n in counts.items() if k != "total")
    assert parts == int(counts["total"].replace(",", "")) == 2000
    assert counts["failed"] == counts["missing"] == "0"
    assert "mioesim poll --file iccids.txt" in out.splitlines()[-1]


# poll -----------------------------------------------------------------------


def test_poll_to_csv_keeps_input_order_and_reports_failures_as_rows(
    account: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    iccids = account.iccids
    poisoned = iccids[150]
    account.faults = Faults(poisoned={poisoned})
    wanted = [iccids[299], iccids[0], UNKNOWN_ICCID, *iccids[100:200], iccids[0]]
    source = write_iccids(tmp_path / "cards.txt", ["# mine", *wanted])
    output = tmp_path / "usage.csv"

    code = run("poll", "--file", source, "--output", str(output))

    with output.open(newline="", encoding="utf-8") as stream:
        rows = list(csv.DictReader(stream))
    assert code == 2
    assert tuple(rows[0]) == COLUMNS
    assert [row["iccid"] for row in rows] == list(dict.fromkeys(wanted))
    by_iccid = {row["iccid"]: row for row in rows}
    assert by_iccid[UNKNOWN_ICCID]["outcome"] == "missing"
    assert by_iccid[UNKNOWN_ICCID]["error"]
    assert by_iccid[poisoned]["outcome"] == "failed"
    assert "code -8" in by_iccid[poisoned]["error"]
    answered = [row for row in rows if row["outcome"] == "ok"]
    assert len(answered) == len(rows) - 2
    assert all(row["status"] and not row["error"] for row in answered)
    err = capsys.readouterr().err
    assert "Portfolio report: 103 cards" in err
    assert re.search(r"^ failed +1 ", err, re.MULTILINE)
    assert re.search(r"^ missing +1 ", err, re.MULTILINE)


def test_poll_to_jsonl_with_every_iccid_answered_exits_0(
    account: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wanted = account.iccids[::-1][:250]
    source = write_iccids(tmp_path / "cards.txt", wanted)

    code = run("poll", "--file", source, "--format", "jsonl")

    out = capsys.readouterr().out
    records = [json.loads(line) for line in out.splitlines()]
    assert code == 0
    assert [r["iccid"] for r in records] == wanted
    assert all(tuple(r) == COLUMNS and r["outcome"] == "ok" for r in records)
    first = account.usage_record(wanted[0])
    assert first is not None
    assert records[0]["remain_mb"] == first["remainMB"]


def test_poll_reads_standard_input_and_draws_a_table(
    account: Sandbox,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    wanted = account.iccids[:3]
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n".join(wanted)))

    code = run("poll", "--file", "-", "--format", "table", "--quiet")

    captured = capsys.readouterr()
    assert code == 0
    assert all(iccid in captured.out for iccid in wanted)
    assert captured.err == ""


def test_a_bad_line_is_named_and_nothing_is_sent(
    account: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = ["# cards", account.iccids[0], "", "89860-bad", account.iccids[1]]
    source = write_iccids(tmp_path / "cards.txt", lines)

    code = run("poll", "--file", source)

    captured = capsys.readouterr()
    assert code == 1
    assert f"{source}:4: invalid ICCID '89860-bad'" in captured.err
    assert "nothing was sent" in captured.err
    assert "Traceback" not in captured.err
    assert captured.out == ""
    assert account.stats.total == 0


def test_wrong_credentials_stop_a_poll_before_any_row(
    account: Sandbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("MIOESIM_PASSWORD", "not-the-password")
    source = write_iccids(tmp_path / "cards.txt", account.iccids[:10])

    code = run("poll", "--file", source)

    captured = capsys.readouterr()
    assert code == 1
    assert captured.out == ""
    assert_one_line_error(captured.err, "login refused", "MIOESIM_PASSWORD")
    assert "not-the-password" not in captured.err


def test_a_refused_token_stops_a_poll_with_every_row_written(
    account: Sandbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv("MIOESIM_PHONE_NUMBER")
    monkeypatch.delenv("MIOESIM_PASSWORD")
    monkeypatch.setenv("MIOESIM_TOKEN", "not-a-token")
    wanted = account.iccids[:120]
    source = write_iccids(tmp_path / "cards.txt", wanted)

    code = run("poll", "--file", source, "--format", "jsonl")

    captured = capsys.readouterr()
    rows = [json.loads(line) for line in captured.out.splitlines()]
    assert code == 1
    assert [row["iccid"] for row in rows] == wanted
    assert {row["outcome"] for row in rows} == {"failed"}
    assert "Stopped early: AuthenticationError" in captured.err
    last = captured.err.strip().splitlines()[-1]
    assert last.startswith("mioesim: ")
    assert "MIOESIM_TOKEN" in last
    assert "not-a-token" not in captured.err


# errors -----------------------------------------------------------------------


def test_missing_credentials_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write_iccids(tmp_path / "cards.txt", [UNKNOWN_ICCID])
    code = run("poll", "--file", source)
    assert code == 1
    assert_one_line_error(capsys.readouterr().err, "missing credentials")


def test_a_password_without_a_phone_number_is_named(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MIOESIM_SECRET_KEY", SECRETS[1])
    code = run("skus", "--password", SECRETS[0])
    assert code == 1
    assert_one_line_error(capsys.readouterr().err, "MIOESIM_PHONE_NUMBER")


def test_a_wrong_secret_key_says_so(
    account: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    code = run("skus", "--secret-key", "not-the-key")
    err = capsys.readouterr().err
    assert code == 1
    assert_one_line_error(err, "sign", "MIOESIM_SECRET_KEY", "--signature-style")
    assert "not-the-key" not in err


def test_no_answer_is_one_line_and_debug_shows_the_traceback(
    sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    credentials = [
        "--phone-number", sandbox.phone_number, "--password", sandbox.password,
        "--secret-key", sandbox.secret_key,
        "--base-url", "http://127.0.0.1:9",  # discard: nothing listens
    ]  # fmt: skip
    assert run("skus", *credentials) == 1
    assert_one_line_error(capsys.readouterr().err, "MIOESIM_BASE_URL")

    assert run("skus", *credentials, "--debug") == 1
    err = capsys.readouterr().err
    assert "Traceback" in err
    assert "TransportError" in err
    assert err.strip().splitlines()[-1].startswith("mioesim: ")


def test_flags_override_the_environment(
    account: Sandbox,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("MIOESIM_PASSWORD", "stale")
    assert run("skus", "--password", account.password) == 0
    assert "Austria" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["poll", "--format", "xml", "--file", "x"], "invalid choice"),
        (["demo", "--concurrency", "0"], "expected a positive integer"),
        (["demo", "--latency-ms", "-1"], "expected a number >= 0"),
    ],
)
def test_a_mistyped_command_line_exits_1_not_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(*argv) == 1
    assert message in capsys.readouterr().err


def test_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert run("--help") == 0
    assert "poll" in capsys.readouterr().out


def test_a_missing_file_is_one_line(
    account: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("poll", "--file", "no-such-file.txt") == 1
    assert_one_line_error(capsys.readouterr().err, "no-such-file.txt", "No such")


def test_an_unknown_signature_style_in_the_environment_is_named(
    account: Sandbox,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("MIOESIM_SIGNATURE_STYLE", "md5")
    assert run("skus") == 1
    assert_one_line_error(capsys.readouterr().err, "'md5'", "urlencoded_upper")


def test_a_phone_number_without_a_password_is_named(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MIOESIM_SECRET_KEY", SECRETS[1])
    assert run("skus", "--phone-number", "13800000000") == 1
    assert_one_line_error(capsys.readouterr().err, "MIOESIM_PASSWORD")


def test_without_the_cli_extra_the_error_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delitem(sys.modules, "mioesim_async.cli._main")
    monkeypatch.setitem(sys.modules, "rich.console", None)
    assert run("skus") == 1
    assert_one_line_error(capsys.readouterr().err, "mioesim-async[cli]")


@pytest.mark.parametrize(
    ("raised", "code", "message"),
    [
        (KeyboardInterrupt(), 130, "interrupted"),
        (BrokenPipeError(), 1, ""),
        (ModuleNotFoundError("No module named 'uvicorn'"), 1, "[cli]"),
        (RuntimeError("a bug"), 1, "RuntimeError: a bug"),
        (mio.TransportError("connect failed"), 1, "MIOESIM_BASE_URL"),
    ],
)
def test_every_failure_becomes_an_exit_code(
    raised: BaseException,
    code: int,
    message: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    def handler(*_: object) -> int:
        raise raised

    args = argparse.Namespace(handler=handler, debug=False)
    context = _commands.Context(now=NOW, env={}, out=None, err=None)  # type: ignore[arg-type]
    assert _main._dispatch(args, context) == code
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err


# read commands ----------------------------------------------------------------


def test_usage_as_a_table_and_as_json(
    account: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second = account.iccids[:2]

    assert run("usage", first, second) == 0
    table = capsys.readouterr().out
    assert first in table
    assert second in table
    assert "used MB" in table

    assert run("usage", second, UNKNOWN_ICCID, "--json") == 2
    rows = json.loads(capsys.readouterr().out)
    assert [(r["iccid"], r["outcome"]) for r in rows] == [
        (second, "ok"),
        (UNKNOWN_ICCID, "missing"),
    ]


def test_usage_refuses_a_bad_iccid_before_sending(
    account: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("usage", "12345") == 1
    assert_one_line_error(capsys.readouterr().err, "'12345'")
    assert account.stats.total == 0


def test_history_as_a_table_and_as_json(
    account: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    iccid = account.iccids[1]

    assert run("history", iccid) == 0
    table = capsys.readouterr().out
    assert f"History of {iccid}" in table

    assert run("history", iccid, "--json") == 0
    orders = json.loads(capsys.readouterr().out)
    assert orders
    assert all(o["order_num"] in table for o in orders)
    assert all(card["iccid"] == iccid for o in orders for card in o["cards"])
    assert "raw" not in orders[0]


def test_skus_and_packages_as_tables_and_as_json(
    account: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("skus", "--json") == 0
    skus = json.loads(capsys.readouterr().out)
    assert len(skus) >= 3
    assert run("skus") == 0
    table = capsys.readouterr().out
    assert all(sku["display"] in table for sku in skus)

    sku_id = str(skus[0]["sku_id"])
    assert run("packages", sku_id, "--json") == 0
    found = json.loads(capsys.readouterr().out)
    assert str(found["sku_id"]) == sku_id
    assert isinstance(found["packages"][0]["price"], str)  # money stays exact
    assert run("packages", sku_id) == 0
    table = capsys.readouterr().out
    assert all(str(p["price_id"]) in table for p in found["packages"])


def test_an_unknown_sku_is_one_line(
    account: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("packages", "999999") == 1
    assert_one_line_error(capsys.readouterr().err, "NotFoundError")


# sandbox ----------------------------------------------------------------------


def test_the_sandbox_command_has_the_sandbox_defaults() -> None:
    args = build_parser().parse_args(["sandbox"])
    default = Sandbox()
    assert (args.cards, args.seed) == (len(default.iccids), default.seed)
    assert args.signature_style is default.signature_style
    assert (args.host, args.port) == ("127.0.0.1", 8080)


def test_the_sandbox_command_serves_its_faults(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    first, poisoned = Sandbox(cards=5).iccids[:2]
    failed: dict[str, mio.MioesimError] = {}

    async def query_then_stop() -> None:
        """Stands for Ctrl-C, once a client got its answer."""
        out = capsys.readouterr().out
        exports = dict(re.findall(r"export (\w+)=(\S+)", out))
        async with mio.Client(
            phone_number=exports["MIOESIM_PHONE_NUMBER"],
            password=exports["MIOESIM_PASSWORD"],
            secret_key=exports["MIOESIM_SECRET_KEY"],
            base_url=exports["MIOESIM_BASE_URL"],
        ) as client:
            result = await client.query_iccids([first, poisoned])
        failed.update(result.failed)

    monkeypatch.setattr(_commands, "_stop_signal", query_then_stop)
    code = run(
        "sandbox", "--port", "0", "--cards", "5", "--poison", poisoned,
        "--poison-code", "3", "--fault-endpoints", "queryIccidInformation",
        "--latency-ms", "1",
    )  # fmt: skip

    assert code == 0
    assert list(failed) == [poisoned]
    assert isinstance(failed[poisoned], mio.NotFoundError)
    assert "Sandbox stopped." in capsys.readouterr().err


def test_the_sandbox_command_refuses_a_bad_poisoned_iccid(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert run("sandbox", "--port", "0", "--poison", "123") == 1
    assert_one_line_error(capsys.readouterr().err, "--poison", "'123'")


def test_the_sandbox_command_refuses_a_bad_fault(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert run("sandbox", "--port", "0", "--error-rate", "2") == 1
    assert_one_line_error(capsys.readouterr().err, "error_rate")


def test_the_sandbox_command_serves_until_interrupted() -> None:
    with subprocess.Popen(
        [sys.executable, "-m", "mioesim_async.cli", "sandbox", "--port", "0",
         "--cards", "5", "--drop-rate", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    ) as server:  # fmt: skip
        try:
            assert server.stdout is not None
            announced = server.stdout.readline() + server.stdout.readline()
            lines = [server.stdout.readline() for _ in range(5)]
            exports = dict(re.findall(r"export (\w+)=(\S+)", "".join(lines)))
            assert "5 cards" in announced
            assert exports["MIOESIM_PHONE_NUMBER"] == Sandbox().phone_number
            usage = subprocess.run(  # noqa: S603
                [
                    sys.executable,
                    "-m",
                    "mioesim_async.cli",
                    "usage",
                    Sandbox(5).iccids[0],
                ],
                env={**os.environ, **exports},
                capture_output=True,
                text=True,
                check=False,
            )
            assert usage.returncode == 2  # --drop-rate 1: every record left out
            assert "missing" in usage.stdout
            server.send_signal(signal.SIGINT)
            assert server.wait(timeout=30) == 0
            assert "Traceback" not in server.stderr.read()  # type: ignore[union-attr]
        finally:
            if server.poll() is None:
                server.kill()
