"""A database that cannot take a booking: locked by another writer for longer than a request
may wait (SQLite and PostgreSQL), or full (SQLite: SQLITE_FULL, "database or disk is full").

The faults are real: another connection holds the write lock (`BEGIN IMMEDIATE` on SQLite,
`LOCK TABLE ... IN EXCLUSIVE MODE` on PostgreSQL) while the booking comes in; the disk is
full because the database's copy lives on a tmpfs of its own filled to the last byte
(SQLITE_FULL, "database or disk is full"; mounting it needs root). For each: the caller on
the phone hears the apology and is put through to a person (valid TwiML), the console shows a
readable 503 page, the API answers `application/problem+json` 503 with `Retry-After`; nothing
of the booking is written; the same request sent again once the fault is gone books it, once.

The app runs on an engine of its own over the test database whose transactions wait at most a
second for a lock (`make_engine(wait_s=...)`; the webhook's own bound is
`webhook_db_wait_seconds`), so no test waits SQLite's 30 s.
"""

from __future__ import annotations

import datetime as dt
import errno
import os
import shutil
import sqlite3
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import col, func, select

from dispatch.calls.models import CallSession
from dispatch.citizens import service as citizen_service
from dispatch.config import Settings
from dispatch.db import is_sqlite, make_engine, read_session, write_session
from dispatch.ledger import service as ledger_service
from dispatch.ledger.models import EntryKind
from dispatch.notifications.models import OutboxMessage
from dispatch.planning import service as planning_service
from dispatch.requests import service as request_service
from dispatch.requests.models import DoorstepRequest
from dispatch.requests.rules import RequestStatus
from dispatch.staff.rules import Role
from dispatch.visits.models import VisitCommand
from ivr.deps import get_clock
from ivr.standin import Call
from tests import factories
from tests.api.conftest import make_client
from tests.conftest import build_app, unique_phone
from tests.console import Console, signed_in
from tests.ivr.caller import heard, phone
from tests.ivr.conftest import FixedClock

IST = ZoneInfo("Asia/Kolkata")
#: 07:30 on a Monday no other test books on.
MONDAY = dt.datetime(2034, 7, 3, 7, 30, tzinfo=IST)
PROBLEM = "application/problem+json"
#: What a request may wait for a lock here (seconds).
WAIT_S = 1.0
#: The tables a booking writes; PostgreSQL's lock holder takes them all.
BOOKING_TABLES = "call_session, doorstep_request, ledger_entry, outbox_message, visit_command"


@pytest.fixture(autouse=True)
def _fresh_plans() -> Iterator[None]:
    planning_service.clear_cache()
    yield
    planning_service.clear_cache()


def sibling(engine: Engine, **options: Any) -> Engine:
    """Another engine on `engine`'s database (and schema), made with `options`."""
    url = engine.url.render_as_string(hide_password=False)
    if is_sqlite(engine):
        return make_engine(url, **options)
    with engine.connect() as conn:
        schema = conn.exec_driver_sql("SHOW search_path").scalar()
    return make_engine(url, connect_args={"options": f"-csearch_path={schema}"}, **options)


def app_on(engine: Engine, settings: Settings) -> FastAPI:
    app = build_app(
        settings.model_copy(
            update={
                "webhook_db_wait_seconds": WAIT_S,
                "call_agent_queue": f"agents-{uuid.uuid4().hex[:8]}",
            }
        ),
        engine,
    )
    app.dependency_overrides[get_clock] = lambda: FixedClock(MONDAY)
    return app


@contextmanager
def write_lock_held(engine: Engine) -> Iterator[None]:
    """Another connection holds the write lock on what a booking writes until the block ends."""
    with engine.connect() as holder, holder.begin():  # SQLite: BEGIN IMMEDIATE
        if not is_sqlite(engine):
            holder.exec_driver_sql(f"LOCK TABLE {BOOKING_TABLES} IN EXCLUSIVE MODE")
        yield


# --- what is in the database afterwards ------------------------------------------------------


def last_request_id(engine: Engine) -> int:
    with read_session(engine) as session:
        return int(session.exec(select(func.coalesce(func.max(DoorstepRequest.id), 0))).one())


def assert_whole(engine: Engine, after_id: int) -> list[DoorstepRequest]:
    """Every request made since `after_id` is whole: its charge, its trail from logged to
    scheduled, its booking command and its confirmation SMS; and no charge, command or SMS
    stands without its request."""
    with read_session(engine) as session:
        made = list(
            session.exec(
                select(DoorstepRequest)
                .where(col(DoorstepRequest.id) > after_id)
                .order_by(col(DoorstepRequest.id))
            )
        )
        for request in made:
            assert request.id is not None and request.idempotency_key
            charges = [
                (e.kind, e.amount_paise)
                for e in ledger_service.entries(session=session, request_id=request.id)
            ]
            assert charges == [(EntryKind.CHARGE, request.fee_paise)]
            trail = [
                (e.from_status, e.to_status)
                for e in request_service.events(session=session, request_id=request.id)
            ]
            assert trail[:2] == [
                (None, RequestStatus.LOGGED),
                (RequestStatus.LOGGED, RequestStatus.SCHEDULED),
            ]
            commands = session.exec(
                select(func.count())
                .select_from(VisitCommand)
                .where(VisitCommand.idempotency_key == request.idempotency_key)
            ).one()
            assert commands == 1
            sms = session.exec(
                select(func.count())
                .select_from(OutboxMessage)
                .where(OutboxMessage.request_id == request.id)
            ).one()
            assert sms == 1
        # Nothing of a booking without its request (the foreign keys hold this on both engines;
        # asked here so that a broken constraint would show).
        for table in ("ledger_entry", "outbox_message", "request_event"):
            orphans = session.exec(
                sa.text(  # type: ignore[call-overload]
                    f"SELECT count(*) FROM {table} WHERE request_id IS NOT NULL "
                    "AND request_id NOT IN (SELECT id FROM doorstep_request)"
                )
            ).one()[0]
            assert orphans == 0, table
        return made


# --- the phone line ------------------------------------------------------------------------


def to_the_offer(call: Call) -> None:
    """A new caller in Hindi by keypad, to the offer of Achabal's earliest window."""
    call.dial()
    call.press("1")  # Hindi
    call.press("1")  # a visit at home
    call.press("2")  # income certificate
    call.press("192201")  # Achabal's PIN code
    call.press("1")  # Achabal
    call.say("सरकारी स्कूल के पास")
    assert call.gather is not None and "/answer/offer" in str(call.gather["action"])


def press_again(call: Call, action: str, digits: str) -> None:
    """Twilio posting the same answer to the same step again (the retry)."""
    call.gather = {"verb": "gather", "action": action}
    call.press(digits)


def assert_apology_and_a_person(call: Call) -> None:
    words = heard(call)
    assert "माफ़ कीजिए" in words or "Sorry, something went wrong" in words, words
    assert call.queued  # <Enqueue> to the call agents' queue


def booked_by_call(engine: Engine, call: Call) -> int | None:
    with read_session(engine) as session:
        row = session.exec(select(CallSession).where(CallSession.call_sid == call.call_sid)).one()
        return row.request_id


def test_a_booking_on_the_phone_while_the_database_is_locked_gets_a_person_and_writes_nothing(
    engine: Engine, settings: Settings
) -> None:
    bounded = sibling(engine, wait_s=WAIT_S)
    try:
        app = app_on(bounded, settings)
        call = phone(app, caller=unique_phone())
        to_the_offer(call)
        action = str(call.gather and call.gather["action"])
        before = last_request_id(engine)
        with write_lock_held(engine):
            call.press("1")  # book the window
        assert_apology_and_a_person(call)
        assert booked_by_call(engine, call) is None
        assert assert_whole(engine, before) == []
        press_again(call, action, "1")  # the lock is gone: the same answer books it
        assert "आपकी बुकिंग पक्की हो गई" in heard(call)
        [request] = assert_whole(engine, before)
        assert booked_by_call(engine, call) == request.id
    finally:
        bounded.dispose()


# --- the console and the API -------------------------------------------------------------


def console_booking(agent: Console, engine: Engine, district: str) -> dict[str, Any]:
    """The intake form of a known caller, filled to a chosen window (as `tests/web/test_intake`)."""
    with write_session(engine) as session:
        person = factories.citizen(session, district_code=district)
        service = factories.service(session, "INCOME_CERT")
        assert person.id is not None
        address = citizen_service.addresses(session=session, citizen_id=person.id)[0]
    key = agent.get("/intake").context["p"].form.key  # type: ignore[attr-defined]
    data = {
        "key": key,
        "phone": person.phone,
        "language": "hi",
        "service_q": "income",
        "suggested_for": "income",
        "service_id": service.id,
        "address": str(address.id),
    }
    windows = agent.submit("/intake/windows", data)
    assert windows.status_code == 200, windows.text
    page = windows.context["p"]  # type: ignore[attr-defined]
    return {
        **data,
        "address": page.form.address,
        "windows_for": page.form.windows_for,
        "offer": page.offers[0].value,
    }


def api_booking(api: TestClient, engine: Engine, district: str) -> dict[str, Any]:
    with read_session(engine) as session:
        village = factories.village_in(session, district)
    citizen = {"phone": unique_phone(), "phone_verified": True, "language": "hi"}
    body = {
        "service": "INCOME_CERT",
        "citizen": citizen,
        "address": {"village_id": village.id, "landmark": "near the school"},
    }
    offers = api.post("/api/v1/offers", json=body)
    assert offers.status_code == 200, offers.text
    citizen["name"] = "Kamla Devi"
    return {**body, "offer_id": offers.json()["windows"][0]["offer_id"]}


def assert_readable_503(response: Any) -> None:
    assert response.status_code == 503, response.text
    assert response.template.name == "error.html"
    assert "nothing was saved" in response.text and "try again" in response.text
    assert response.headers["retry-after"].isdigit()


def assert_problem_503(response: Any) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert problem["type"] == "urn:doorstep:problem:unavailable" and problem["status"] == 503
    assert problem["instance"] == "/api/v1/requests" and "Idempotency-Key" in problem["detail"]
    assert response.headers["retry-after"].isdigit()


def test_console_and_api_bookings_while_the_database_is_locked_fail_cleanly_and_succeed_again(
    engine: Engine, settings: Settings
) -> None:
    bounded = sibling(engine, wait_s=WAIT_S)
    try:
        app = app_on(bounded, settings)
        agent = signed_in(app, engine, Role.CALL_AGENT)
        form = console_booking(agent, engine, "BDP")
        key = make_client(engine)
        api = TestClient(app, headers={"Authorization": f"Bearer {key.key}"})
        body = api_booking(api, engine, "SMB")
        idempotency = {"Idempotency-Key": str(uuid.uuid4())}
        before = last_request_id(engine)
        with write_lock_held(engine):
            assert_readable_503(agent.submit("/intake/book", form))
            assert_problem_503(api.post("/api/v1/requests", json=body, headers=idempotency))
        assert assert_whole(engine, before) == []
        booked = agent.submit("/intake/book", form)
        assert booked.status_code == 200 and booked.context["p"].result  # type: ignore[attr-defined]
        created = api.post("/api/v1/requests", json=body, headers=idempotency)
        assert created.status_code == 201, created.text
        assert len(assert_whole(engine, before)) == 2
    finally:
        bounded.dispose()


# --- a full disk (SQLite) ------------------------------------------------------------------


class Disk:
    """A copy of the test database on a filesystem of its own, a tmpfs a little larger than
    the database, which `fill` fills up to the last byte (and `free` empties again)."""

    def __init__(self, source: Engine, folder: Path) -> None:
        src_path = source.url.database
        assert src_path is not None
        self.folder = folder
        folder.mkdir()
        size_kb = Path(src_path).stat().st_size // 1024 + 2048
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size_kb}k,mode=0700", "tmpfs", str(folder)],
            check=True,
        )
        self.path = folder / "doorstep.db"
        with sqlite3.connect(src_path) as src, sqlite3.connect(self.path) as dst:
            src.backup(dst)
        dst.close()
        self.filler = folder / "filler"
        self.engine = make_engine(f"sqlite:///{self.path}", wait_s=WAIT_S)

    def fill(self) -> None:
        """Not a byte left: the write-ahead log is emptied (every commit must grow it) and a
        file takes what room there is."""
        self.engine.dispose()
        conn = sqlite3.connect(self.path, isolation_level=None)
        assert conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0] == 0  # not busy
        conn.close()
        with self.filler.open("wb", buffering=0) as out:
            try:
                while True:
                    out.write(b"\0" * 4096)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
        assert shutil.disk_usage(self.folder).free < 4096

    def free(self) -> None:
        self.filler.unlink()

    def remove(self) -> None:
        self.engine.dispose()
        subprocess.run(["umount", str(self.folder)], check=True)


@pytest.fixture
def disk(engine: Engine, tmp_path: Path) -> Iterator[Disk]:
    if not is_sqlite(engine):
        pytest.skip("a full disk is made under SQLite's file (PostgreSQL's server is shared)")
    if os.geteuid() != 0:
        pytest.skip("a full disk needs a small tmpfs of its own, mounted as root")
    made = Disk(engine, tmp_path / "disk")
    yield made
    made.remove()


def test_a_full_disk_gets_the_caller_a_person_the_console_and_api_a_503_and_writes_nothing(
    disk: Disk, settings: Settings
) -> None:
    app = app_on(disk.engine, settings)
    call = phone(app, caller=unique_phone())
    to_the_offer(call)
    action = str(call.gather and call.gather["action"])
    agent = signed_in(app, disk.engine, Role.CALL_AGENT)
    form = console_booking(agent, disk.engine, "BDP")
    key = make_client(disk.engine)
    api = TestClient(app, headers={"Authorization": f"Bearer {key.key}"})
    body = api_booking(api, disk.engine, "SMB")
    idempotency = {"Idempotency-Key": str(uuid.uuid4())}
    before = last_request_id(disk.engine)
    disk.fill()
    call.press("1")
    assert_apology_and_a_person(call)
    assert_readable_503(agent.submit("/intake/book", form))
    assert_problem_503(api.post("/api/v1/requests", json=body, headers=idempotency))
    disk.free()
    assert assert_whole(disk.engine, before) == []
    assert booked_by_call(disk.engine, call) is None
    press_again(call, action, "1")
    assert "आपकी बुकिंग पक्की हो गई" in heard(call)
    assert agent.submit("/intake/book", form).status_code == 200
    assert api.post("/api/v1/requests", json=body, headers=idempotency).status_code == 201
    assert len(assert_whole(disk.engine, before)) == 3
