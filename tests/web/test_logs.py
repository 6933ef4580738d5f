"""Structured logs: every line of a Twilio webhook carries its CallSid (or MessageSid) and, once
the request is known, its reference; no phone number reaches a line; `doorstep serve` (uvicorn's
own loggers too) and `doorstep worker` write the same JSON lines."""

from __future__ import annotations

import io
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import select

from dispatch.calls.models import CallSession
from dispatch.config import REPO_ROOT, Settings
from dispatch.db import read_session
from dispatch.requests.models import DoorstepRequest
from tests.ivr.caller import phone
from web import logs

Lines = Callable[[], list[dict[str, object]]]


@pytest.fixture
def lines() -> Iterator[Lines]:
    """The JSON lines logged (INFO and up) while the test runs, through the configured
    handler's filter and formatter."""
    config = logs.config(Settings(log_format="json"))
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.addFilter(logs.ContextFilter())
    formatter_spec = dict(config["formatters"]["doorstep"])
    factory = formatter_spec.pop("()")
    from pythonjsonlogger.json import JsonFormatter

    assert factory == "pythonjsonlogger.json.JsonFormatter"
    handler.setFormatter(JsonFormatter(**formatter_spec))
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield lambda: [json.loads(line) for line in buffer.getvalue().splitlines() if line]
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def test_masking_keeps_the_last_two_digits_and_leaves_sids_alone() -> None:
    sid = "CA" + "0123456789" * 3 + "ab"
    text = f"call {sid} from +919812345678, typed 98123 45678, Aadhaar 1234 5678 9012, code 4821"
    masked = logs.mask_numbers(text)
    assert sid in masked
    assert "+**********78" in masked
    assert "***** ***78" in masked and "**** **** **12" in masked
    assert "code 4821" in masked  # short numbers (a visit code's length) are left
    assert "9812345678" not in masked and "1234 5678 9012" not in masked
    assert logs.mask_numbers("booked at 2026-12-01 10:30:00") == "booked at 2026-12-01 10:30:00"


def test_a_traceback_is_masked_too(lines: Lines) -> None:
    try:
        raise ValueError("no citizen +919876543210")
    except ValueError:
        logging.getLogger("tests.logs").exception("lookup failed for %s", "+919876543211")
    logging.getLogger("tests.logs").info("after")
    [failed] = [
        line for line in lines() if line.get("logger") == "tests.logs" and line["level"] == "ERROR"
    ]
    assert "9876543210" not in json.dumps(lines()) and "9876543211" not in json.dumps(lines())
    assert "+**********11" in str(failed["message"])
    assert "+**********10" in str(failed["exc_info"])


def _book(app: FastAPI, caller: str) -> str:
    """A whole booking call (as in tests/ivr/test_journeys.py); its CallSid."""
    call = phone(app, caller=caller)
    call.dial()
    call.press("1")  # Hindi
    call.press("1")  # a doorstep service
    call.press("2")  # income certificate
    call.press("192201")  # Achabal's PIN code
    call.press("1")  # Achabal
    call.say("सरकारी स्कूल के पास")
    call.press("1")  # the earliest window: booked
    call.press("1")  # hear the confirmation again
    return call.call_sid


def test_each_line_of_a_call_carries_its_sid_and_then_its_reference(
    app: FastAPI, engine: Engine, caller: str, lines: Lines
) -> None:
    call_sid = _book(app, caller)
    with read_session(engine) as session:
        call = session.exec(select(CallSession).where(CallSession.call_sid == call_sid)).one()
        request = session.get(DoorstepRequest, call.request_id)
        assert request is not None
        reference = request.reference
    webhooks = [line for line in lines() if line.get("logger") == "web.access"]
    assert len(webhooks) == 9  # one line a webhook
    assert all(line["call_sid"] == call_sid for line in webhooks)
    booked_at = next(n for n, line in enumerate(webhooks) if line.get("reference") == reference)
    assert booked_at == 7  # the webhook that booked knows it once it has saved it
    assert all(line["request_id"] == request.id for line in webhooks[booked_at:])
    assert str(webhooks[0]["message"]).startswith("POST /ivr/voice/incoming 200")
    assert "ms" in webhooks[0] and webhooks[0]["status"] == 200
    every = json.dumps(lines(), ensure_ascii=False)
    assert caller not in every and caller.removeprefix("+91") not in every  # no phone number
    assert "सरकारी स्कूल" not in every  # nor what the caller said


def test_lines_outside_a_webhook_carry_no_sid(
    settings: Settings, engine: Engine, lines: Lines
) -> None:
    from web.app import create_app

    TestClient(create_app(settings=settings, engine=engine)).get("/healthz")
    logging.getLogger("tests.logs").info("between requests")
    [health] = [line for line in lines() if line.get("logger") == "web.access"]
    assert health["message"] == "GET /healthz 200"
    assert not any("call_sid" in line for line in lines())


def test_the_sid_is_taken_only_from_a_signed_form_field_shape(app: FastAPI, lines: Lines) -> None:
    """A form with something else in CallSid (a caller's words, a number) is not logged."""
    TestClient(app).post("/ivr/voice/incoming", data={"CallSid": "+919812345678 hello"})
    [line] = [line for line in lines() if line.get("logger") == "web.access"]
    assert line["status"] == 403 and "call_sid" not in line


# --- the commands write the same lines ----------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _json_lines(text: str) -> list[dict[str, object]]:
    found = []
    for line in text.splitlines():
        if line.strip():
            found.append(json.loads(line))  # every line is one JSON object
    return found


def _environment(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOORSTEP_")}
    env.update(
        DOORSTEP_DATABASE_URL=f"sqlite:///{tmp_path / 'served.db'}",
        DOORSTEP_SCHEDULER="false",
        DOORSTEP_LOG_FORMAT="json",
    )
    return env


@pytest.mark.slow
def test_serve_logs_json_lines_with_uvicorns_own(tmp_path: Path) -> None:
    """A real `doorstep serve` (a few seconds: it starts a Python and imports the app)."""
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "web.cli", "serve", "--port", str(port)],
        env=_environment(tmp_path),
        cwd=REPO_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the server did not start"
                assert server.poll() is None, "the server stopped"
                time.sleep(0.2)
        assert answer.status_code == 200
    finally:
        server.send_signal(signal.SIGINT)
        _out, err = server.communicate(timeout=30)
    found = _json_lines(err)
    loggers = {str(line["logger"]) for line in found}
    assert "uvicorn.error" in loggers  # uvicorn's own start and stop lines, as JSON
    assert any(line["message"] == "GET /healthz 200" for line in found)
    assert all({"time", "level", "logger", "message", "process"} <= set(line) for line in found)


@pytest.fixture
def kept_logging() -> Iterator[None]:
    """The test may configure logging for the whole process: put it back afterwards."""
    names = ["", *logs.UVICORN_LOGGERS, "uvicorn.access", *logs.QUIET_LOGGERS]
    saved = {
        name: (list(lg.handlers), lg.level, lg.propagate, lg.disabled)
        for name in names
        for lg in [logging.getLogger(name)]
    }
    yield
    for name, (handlers, level, propagate, disabled) in saved.items():
        lg = logging.getLogger(name)
        lg.handlers[:] = handlers
        lg.setLevel(level)
        lg.propagate, lg.disabled = propagate, disabled


@pytest.mark.parametrize("command", ["worker", "solver-worker"])
def test_the_workers_apply_the_same_configuration(
    command: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    kept_logging: None,
) -> None:
    """`doorstep worker` and `doorstep solver-worker` configure logging as `serve` does (their
    loops replaced by one line each: they would run until stopped)."""
    from dispatch.config import get_settings
    from web import cli, solver_worker, worker

    for key, value in _environment(tmp_path).items():
        if key.startswith("DOORSTEP_"):
            monkeypatch.setenv(key, value)
    monkeypatch.setenv("DOORSTEP_BROKER_URL", "redis://127.0.0.1:6379/0")
    get_settings.cache_clear()

    def one_line(*_args: object, **_kwargs: object) -> int:
        logging.getLogger("web.worker").info("would run now for +919812345678")
        logging.getLogger("uvicorn.error").info("uvicorn's logger too")
        return 0

    monkeypatch.setattr(worker, "run_forever", one_line)
    monkeypatch.setattr(solver_worker, "run", one_line)
    try:
        assert cli.main([command]) == 0
    finally:
        get_settings.cache_clear()
    found = _json_lines(capfd.readouterr().err)
    assert [line["message"] for line in found] == [
        "would run now for +**********78",
        "uvicorn's logger too",
    ]
    assert logging.getLogger().handlers[0].formatter.__class__.__name__ == "JsonFormatter"
    assert logging.getLogger("apscheduler").getEffectiveLevel() == logging.WARNING  # noise
