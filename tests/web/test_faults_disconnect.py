"""PostgreSQL dropping the app's connections under load: requests fail cleanly, succeed when
sent again, and nothing is half-written.

The machine's PostgreSQL is shared, so it is not restarted: instead every backend of the app's
own engine (found by its `application_name`, so other tests' connections are left alone) is
terminated with `pg_terminate_backend` again and again — what a restart does to a client —
while signed phone calls book through the IVR and call agents and an API client book through
the console and `/api/v1`, each in threads of its own. Every answer is checked as it comes:
a request that failed got the caller the apology and a person (valid TwiML), the console a
readable 503 page, the API a problem+json 503; the client then sends the very same request
again until it succeeds. Afterwards each booking exists exactly once and is whole (its charge,
its trail, its command, its SMS), and no charge or message stands without its request.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from dispatch.config import Settings
from dispatch.db import is_sqlite, make_engine
from dispatch.staff.rules import Role
from ivr.standin import Call, path_of, signed_headers
from tests.api.conftest import make_client
from tests.conftest import POSTGRES_URL, unique_phone
from tests.console import Console, signed_in
from tests.ivr.caller import check_twiml
from tests.web.test_faults_database import (
    api_booking,
    app_on,
    assert_whole,
    console_booking,
    last_request_id,
    to_the_offer,
)

pytestmark = pytest.mark.skipif(not POSTGRES_URL, reason="needs DOORSTEP_TEST_POSTGRES_URL")

CALLS = 3
CONSOLE_BOOKINGS = 4
API_BOOKINGS = 4
#: How often every backend of the app is terminated (seconds).
KILL_EVERY_S = 0.5
#: Retries of one request before the test gives up on it.
MOST_TRIES = 40
APOLOGY = ("माफ़ कीजिए, हमारी तरफ़ कुछ गड़बड़ हो गई", "Sorry, something went wrong")


class Faults:
    """What failed and how it was answered, from every thread."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.failed: Counter[str] = Counter()
        self.errors: list[str] = []

    def count(self, kind: str) -> None:
        with self.lock:
            self.failed[kind] += 1

    def wrong(self, what: str) -> None:
        with self.lock:
            self.errors.append(what)


def retried(
    faults: Faults, kind: str, send: Callable[[], Any], clean: Callable[[Any], bool]
) -> Any:
    """Send until the answer is not a 503; each 503 must be `clean`."""
    for _ in range(MOST_TRIES):
        response = send()
        if response.status_code != 503:
            return response
        faults.count(kind)
        if not clean(response):
            faults.wrong(f"{kind}: {response.status_code} {response.text[:300]}")
        time.sleep(0.05)
    raise AssertionError(f"{kind}: still failing after {MOST_TRIES} tries")


def readable_page(response: Any) -> bool:
    return bool(
        response.headers.get("content-type", "").startswith("text/html")
        and "nothing was saved" in response.text
        and response.headers.get("retry-after", "").isdigit()
    )


def problem(response: Any) -> bool:
    body = response.json()
    return bool(
        response.headers.get("content-type") == "application/problem+json"
        and body.get("type") == "urn:doorstep:problem:unavailable"
        and response.headers.get("retry-after", "").isdigit()
    )


def phone_line(app: FastAPI, faults: Faults) -> Callable[[str, dict[str, str]], str]:
    """Twilio's side of the webhooks: every answer valid TwiML; an apology that puts the caller
    through to a person is a failed step, posted again (the same step, the same turn)."""
    client = TestClient(app)
    settings: Settings = app.state.settings
    base = settings.public_base_url.rstrip("/")

    def post(url: str, params: dict[str, str]) -> str:
        for _ in range(MOST_TRIES):
            response = client.post(
                path_of(settings, url), data=params, headers=signed_headers(settings, url, params)
            )
            if response.status_code != 200:
                faults.wrong(f"phone: {response.status_code} on {url}")
                raise AssertionError(response.text)
            check_twiml(response.text, base)
            failed = any(words in response.text for words in APOLOGY)
            if not failed or "/queue/" in url:
                return response.text
            faults.count("phone")
            if "<Enqueue" not in response.text:
                faults.wrong(f"phone: an apology without a person on {url}")
            time.sleep(0.05)
        raise AssertionError(f"phone: {url} still failing after {MOST_TRIES} tries")

    return post


@pytest.fixture
def victim(engine: Engine) -> Iterator[tuple[Engine, str]]:
    """The app's engine, on the test schema, under an application name of its own."""
    if is_sqlite(engine):
        pytest.skip("PostgreSQL only")
    with engine.connect() as conn:
        schema = conn.exec_driver_sql("SHOW search_path").scalar()
    name = f"doorstep-fault-{uuid.uuid4().hex[:8]}"
    app_engine = make_engine(
        engine.url.render_as_string(hide_password=False),
        connect_args={"options": f"-csearch_path={schema}", "application_name": name},
        pool_size=10,
        wait_s=5.0,
    )
    yield app_engine, name
    app_engine.dispose()


class Killer(threading.Thread):
    """Terminates every backend of `name` every `KILL_EVERY_S` until stopped."""

    def __init__(self, name: str) -> None:
        super().__init__(daemon=True)
        self.app_name = name
        self.stopping = threading.Event()
        self.terminated = 0
        self.admin = sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")

    def run(self) -> None:
        with self.admin.connect() as conn:
            while not self.stopping.is_set():
                killed = conn.execute(
                    sa.text(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                        "WHERE application_name = :name AND pid <> pg_backend_pid()"
                    ),
                    {"name": self.app_name},
                ).scalar()
                self.terminated += int(killed or 0)
                self.stopping.wait(KILL_EVERY_S)
        self.admin.dispose()


def test_connections_dropped_under_load_fail_cleanly_succeed_again_and_half_write_nothing(
    engine: Engine, victim: tuple[Engine, str], settings: Settings
) -> None:
    app_engine, name = victim
    app = app_on(app_engine, settings)
    faults = Faults()
    # Everyone signs in and fills their forms before the faults begin.
    agents = [signed_in(app, engine, Role.CALL_AGENT) for _ in range(2)]
    forms = [
        (agents[n % 2], console_booking(agents[n % 2], engine, "BDP"))
        for n in range(CONSOLE_BOOKINGS)
    ]
    key = make_client(engine)
    api = TestClient(app, headers={"Authorization": f"Bearer {key.key}"})
    bodies = [api_booking(api, engine, "SMB") for _ in range(API_BOOKINGS)]
    before = last_request_id(engine)
    expected: list[str] = []

    def call() -> None:
        line = Call(
            post=phone_line(app, faults), settings=app.state.settings, caller=unique_phone(),
            called="1447",
        )  # fmt: skip
        to_the_offer(line)
        line.press("1")
        assert "आपकी बुकिंग पक्की हो गई" in " ".join(line.said)
        expected.append(f"ivr:{line.call_sid}:")

    def console(agent: Console, form: dict[str, Any]) -> None:
        answer = retried(
            faults, "console", lambda: agent.submit("/intake/book", form), readable_page
        )
        assert answer.status_code == 200, answer.text
        expected.append(f"console:{agent.user.id}:{form['key']}")

    def client(body: dict[str, Any]) -> None:
        idempotency = str(uuid.uuid4())
        answer = retried(
            faults,
            "api",
            lambda: api.post(
                "/api/v1/requests", json=body, headers={"Idempotency-Key": idempotency}
            ),
            problem,
        )
        assert answer.status_code == 201, answer.text
        expected.append(idempotency)

    failures: list[BaseException] = []

    def guarded(work: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                work()
            except BaseException as exc:  # reported by the test's own thread
                failures.append(exc)

        return run

    works: list[Callable[[], None]] = [call for _ in range(CALLS)]
    works += [lambda a=a, f=f: console(a, f) for a, f in forms]  # type: ignore[misc]
    works += [lambda b=b: client(b) for b in bodies]  # type: ignore[misc]
    threads = [threading.Thread(target=guarded(w)) for w in works]
    killer = Killer(name)
    killer.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    killer.stopping.set()
    killer.join(timeout=10)
    assert not failures, failures
    assert not faults.errors, faults.errors
    assert killer.terminated > 0
    made = assert_whole(engine, before)
    keys = [r.idempotency_key or "" for r in made]
    assert len(made) == len(works)  # each booked once: none lost, none twice
    for key_prefix in expected:
        assert sum(key_prefix in k for k in keys) == 1, (key_prefix, keys)
    print(f"terminated {killer.terminated} backends; failed and retried: {dict(faults.failed)}")
