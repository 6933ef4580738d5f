"""`doorstep call --from +91...`: the phone simulator in a terminal.

Prints what the line says and reads the caller's answers from stdin: a line of keys (digits,
`*`, `#`), words to say, an empty line for silence, `/hangup` (or end of input) to hang up.
Without `--server` the IVR runs in-process on the configured database; with it, the signed
webhooks go over HTTP to a running `doorstep serve`.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

import httpx
from sqlalchemy.engine import Engine

from dispatch.calls import service as call_service
from dispatch.config import Settings
from dispatch.db import make_engine, read_session
from ivr.standin import Call, Post, path_of, signed_headers

KEYS = re.compile(r"^[0-9*#]+$")


@contextmanager
def in_process(settings: Settings, engine: Engine) -> Iterator[Post]:
    """Post to the IVR of an app built here, on `engine`."""
    from fastapi.testclient import TestClient

    from web.app import create_app

    app = create_app(settings=settings, engine=engine)
    with TestClient(app) as client:

        def post(url: str, params: dict[str, str]) -> str:
            response = client.post(
                path_of(settings, url), data=params, headers=signed_headers(settings, url, params)
            )
            response.raise_for_status()
            return response.text

        yield post


@contextmanager
def over_http(settings: Settings, server: str) -> Iterator[Post]:
    """Post to a running server at `server` (signed for the configured public URL)."""
    with httpx.Client(base_url=server.rstrip("/"), timeout=10) as client:

        def post(url: str, params: dict[str, str]) -> str:
            response = client.post(
                path_of(settings, url), data=params, headers=signed_headers(settings, url, params)
            )
            response.raise_for_status()
            return response.text

        yield post


def converse(call: Call, *, read: Callable[[], str | None], write: Callable[[str], None]) -> None:
    """Play the call to its end with answers from `read`."""
    write(f"Calling {call.called} from {call.caller} ...")
    call.dial()
    while True:
        for text in call.said:
            write(f"  IVR: {text}")
        if call.ended:
            write("  (the line hung up)")
            break
        if call.queued:
            write("  (waiting in the queue for a person: nobody answers here; hanging up)")
            break
        assert call.gather is not None
        speech = "speech" in str(call.gather.get("input", ""))
        answer = read()
        if answer is None or answer.strip() == "/hangup":
            write("  (you hung up)")
            break
        answer = answer.strip()
        if not answer:
            call.silence()
        elif KEYS.match(answer):
            call.press(answer.rstrip("#"))
        elif speech:
            call.say(answer)
        else:
            write("  (this question takes keys only)")
            continue
    call.hangup()


def outcome(engine: Engine, call_sid: str) -> str:
    with read_session(engine) as session:
        found = call_service.find(session=session, call_sid=call_sid)
        if found is None:
            return "the call was not logged"
        where = f" at step {found.ended_step}" if found.ended_step else ""
        return f"the call was logged as {found.status.value}{where}"


def main(
    settings: Settings,
    *,
    caller: str,
    called: str | None,
    server: str | None,
    stdin: TextIO = sys.stdin,
    stdout: TextIO = sys.stdout,
    engine: Engine | None = None,
) -> int:
    def read() -> str | None:
        stdout.write("keys or words> ")
        stdout.flush()
        got = stdin.readline()
        if not stdin.isatty():  # piped answers: show them, as a terminal would have
            stdout.write(got if got.endswith("\n") else got + "\n")
        return got if got else None

    def write(text: str) -> None:
        stdout.write(text + "\n")

    engine = engine or make_engine(settings.database_url)
    number = called or _default_number(engine, settings)
    lines = over_http(settings, server) if server else in_process(settings, engine)
    with lines as post:
        call = Call(post=post, settings=settings, caller=caller, called=number)
        converse(call, read=read, write=write)
    if not server:
        write(outcome(engine, call.call_sid))
    return 0


def _default_number(engine: Engine, settings: Settings) -> str:
    from dispatch.states import service as state_service

    with read_session(engine) as session:
        return state_service.get(session=session, code=settings.default_state).toll_free
