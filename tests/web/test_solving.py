"""Zone solves on solver machines: the loop hands zone-days out through Redis (Dramatiq) to
`doorstep solver-worker` processes, started here as real processes on a database they share
with the test. Each solved once, nothing lost, nothing assigned twice; a worker killed
mid-solve and Redis restarted without its data both end with every zone-day solved.

The shared Redis (127.0.0.1:6379) is used under a namespace of each test's own (pytest-xdist
runs two test processes at once); the restart test starts a Redis of its own on a free port.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import redis
from sqlalchemy.engine import Engine
from sqlmodel import select

from dispatch import migrate, scheduled, seed
from dispatch.config import REPO_ROOT, Settings, get_settings
from dispatch.db import make_engine, read_session, utcnow, write_session
from dispatch.planning import service as planning
from dispatch.planning import zone
from dispatch.planning.models import PlanStop, ZonePlan
from dispatch.ports import SolveJob
from dispatch.requests.models import DoorstepRequest
from routing.checker import check
from tests import factories
from tests.conftest import ENGINES, POSTGRES_URL, _drop_postgres_schema
from web import cli, solving

IST = ZoneInfo("Asia/Kolkata")
REDIS = "redis://127.0.0.1:6379/0"
REDIS_SERVER = "/usr/bin/redis-server"
#: A zone-day: district id and local day.
ZoneDayKey = tuple[int, dt.date]


# --- the shared database and the worker processes --------------------------------------------


@pytest.fixture(scope="module", params=ENGINES)
def database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A migrated, seeded database of this module's own (the loop hands out every due zone-day
    it finds), by a URL the worker processes can open too."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('solving') / 'doorstep.db'}"
        schema = None
    else:
        schema = f"doorstep_solving_{uuid.uuid4().hex[:8]}"
        url = f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
        import sqlalchemy as sa

        admin = sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        admin.dispose()
    engine = make_engine(url)
    migrate.upgrade(engine)
    with write_session(engine) as s:
        seed.load(session=s, seed_dir=REPO_ROOT / "seed_data")
    engine.dispose()
    yield url
    if schema is not None:
        _drop_postgres_schema(schema)


@pytest.fixture
def engine_of(database: str) -> Iterator[Engine]:
    engine = make_engine(database)
    yield engine
    engine.dispose()


def _settings(database: str, broker_url: str, **changes: object) -> Settings:
    """The scheduler's settings in these tests: no debounce, half-second searches, leases of
    seconds (minutes in production) that still leave a busy test machine room to pick a
    message up and solve it before its lease lapses."""
    values: dict[str, object] = {
        "database_url": database,
        "broker_url": broker_url,
        "scheduler": False,
        "replan_seconds": 0.5,
        "replan_quiet_seconds": 0.0,
        "replan_most_wait_seconds": 0.0,
        "solve_lease_seconds": 5.0,
        "solve_attempts": 10,
    }
    return Settings(**{**values, **changes})  # type: ignore[arg-type]


class SolverWorker:
    """One `doorstep solver-worker` command, its output in a file."""

    def __init__(self, database: str, broker_url: str, log: Path, processes: int) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("DOORSTEP_")}
        env |= {"DOORSTEP_DATABASE_URL": database, "DOORSTEP_BROKER_URL": broker_url}
        self.log = log
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "web.cli", "solver-worker", "--processes", str(processes)],
                cwd=REPO_ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def solved(self, zd: ZoneDayKey) -> int:
        """How many times this worker saved a plan of the zone-day."""
        return self.text().count(f"zone solve of district {zd[0]} on {zd[1]}: saved")

    def started(self, zd: ZoneDayKey) -> bool:
        return f"solving district {zd[0]} on {zd[1]}" in self.text()

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=60)


def wait_for(what: str, condition: Callable[[], bool], seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"not within {seconds:.0f} s: {what}"
        time.sleep(0.1)


@contextmanager
def solver_workers(
    database: str, broker_url: str, folder: Path, count: int, processes: int = 1
) -> Iterator[list[SolverWorker]]:
    """`count` solver-worker commands, ready; whatever is left of them killed afterwards."""
    workers = [
        SolverWorker(database, broker_url, folder / f"worker{n}.log", processes)
        for n in range(count)
    ]
    try:
        for w in workers:
            wait_for(
                "the solver worker is ready",
                lambda w=w: w.text().count("solver process ready") >= processes,  # type: ignore[misc]
            )
        yield workers
    finally:
        for w in workers:
            if w.process.poll() is None:
                w.process.kill()
                w.process.wait(timeout=30)


@pytest.fixture
def namespace() -> Iterator[str]:
    """A Redis namespace of this test's own on the shared Redis, emptied afterwards."""
    name = f"doorstep-test-{uuid.uuid4().hex[:10]}"
    yield name
    client = redis.Redis.from_url(REDIS)
    for key in client.scan_iter(match=f"{name}:*"):
        client.delete(key)
    client.close()


# --- zone-days and what a plan must hold -------------------------------------------------


def book_zone_days(
    engine: Engine, now: dt.datetime, districts: list[str], each: int
) -> dict[ZoneDayKey, list[int]]:
    """`each` requests booked in each district at `now`: their zone-days, pending."""
    booked: dict[ZoneDayKey, list[int]] = {}
    planning.clear_cache()
    with write_session(engine) as s:
        for code in districts:
            for n in range(each):
                r, _ = factories.booked_request(s, district_code=code, now=now, choice=n % 3)
                assert r.id is not None and r.window_start is not None
                day = r.window_start.astimezone(IST).date()
                booked.setdefault((r.district_id, day), []).append(r.id)
    planning.clear_cache()
    return booked


def row(engine: Engine, zd: ZoneDayKey) -> ZonePlan:
    with read_session(engine) as s:
        found = s.get(ZonePlan, zd)
        assert found is not None
        return found


def improved(engine: Engine, zd: ZoneDayKey) -> bool:
    r = row(engine, zd)
    return r.improved_version == r.version and r.pending_since is None


def assert_planned_once(engine: Engine, zd: ZoneDayKey, requests: list[int]) -> None:
    """Every request of the zone-day in exactly one route of the current version, with the
    agent of that route, and the plan passes the independent checker."""
    with read_session(engine) as s:
        current = row(engine, zd).version
        stops = s.exec(
            select(PlanStop).where(
                PlanStop.district_id == zd[0], PlanStop.day == zd[1], PlanStop.version == current
            )
        ).all()
        in_routes = [stop.request_id for stop in stops]
        assert sorted(in_routes) == sorted(requests)  # none lost, none twice
        for stop in stops:
            request = s.get(DoorstepRequest, stop.request_id)
            assert request is not None and request.agent_id == stop.agent_id
        loaded = zone.load(s, *zd)
        assert check(loaded.problem, loaded.plan, require_all_accounted=False) == []


def hand_out(engine: Engine, settings: Settings, submit: Callable[[SolveJob], None]) -> int:
    """One pass of the scheduler's task (`web.solving.hand_out_solves_task`)."""
    return len(
        scheduled.hand_out_solves(engine=engine, settings=settings, now=utcnow(), submit=submit)
    )


def loop_until_solved(
    engine: Engine,
    settings: Settings,
    submit: Callable[[SolveJob], None],
    zone_days: list[ZoneDayKey],
    seconds: float = 60.0,
) -> None:
    """Run the scheduler's loop (every half second here) until every zone-day is improved."""
    deadline = time.monotonic() + seconds
    while not all(improved(engine, zd) for zd in zone_days):
        assert time.monotonic() < deadline, [row(engine, zd) for zd in zone_days]
        hand_out(engine, settings, submit)
        time.sleep(0.5)


# --- the tests ---------------------------------------------------------------------------


def test_two_workers_solve_every_zone_day_handed_out_once(
    database: str, engine_of: Engine, namespace: str, tmp_path: Path
) -> None:
    broker_url = f"{REDIS}?namespace={namespace}"
    settings = _settings(database, broker_url)
    now = dt.datetime(2031, 3, 4, 7, 0, tzinfo=IST)  # a Tuesday
    booked = book_zone_days(engine_of, now, ["SXR", "JMU", "ANT", "BRM", "KPW", "KTW"], 3)
    before = {zd: row(engine_of, zd).version for zd in booked}
    queue = solving.DramatiqQueue(settings)
    with solver_workers(database, broker_url, tmp_path, 2) as workers:
        assert hand_out(engine_of, settings, queue.submit) == len(booked)
        wait_for("every zone-day improved", lambda: all(improved(engine_of, zd) for zd in booked))
        wait_for(  # the log line follows the save
            "every save logged",
            lambda: all(sum(w.solved(zd) for w in workers) for zd in booked),
        )
        for zd, requests in booked.items():
            assert row(engine_of, zd).version == before[zd] + 1  # one improved save
            assert sum(w.solved(zd) for w in workers) == 1
            assert_planned_once(engine_of, zd, requests)
        assert all("zone solve of district" in w.text() for w in workers)  # both took part
        assert [w.stop() for w in workers] == [0, 0]  # SIGTERM: a clean stop
        assert all("solver process stopped" in w.text() for w in workers)
    queue.shutdown()


def test_a_worker_killed_mid_solve_leaves_the_zone_day_to_the_other(
    database: str, engine_of: Engine, namespace: str, tmp_path: Path
) -> None:
    broker_url = f"{REDIS}?namespace={namespace}"
    settings = _settings(database, broker_url)
    now = dt.datetime(2031, 3, 5, 7, 0, tzinfo=IST)
    booked = book_zone_days(engine_of, now, ["JMU"], 5)
    [(zd, requests)] = booked.items()
    version = row(engine_of, zd).version
    queue = solving.DramatiqQueue(settings)
    with solver_workers(database, broker_url, tmp_path, 2) as workers:
        # A long search, so that the worker is surely in the middle of it when killed.
        long_search = settings.model_copy(update={"replan_seconds": 60.0})
        assert hand_out(engine_of, long_search, queue.submit) == 1
        wait_for("a worker starts the solve", lambda: any(w.started(zd) for w in workers))
        [killed] = [w for w in workers if w.started(zd)]
        [other] = [w for w in workers if w is not killed]
        killed.process.kill()
        killed.process.wait(timeout=30)
        held = row(engine_of, zd)
        assert held.version == version and held.solve_token is not None  # nothing saved
        loop_until_solved(engine_of, settings, queue.submit, [zd])
        wait_for("the save logged", lambda: other.solved(zd) == 1)
        assert row(engine_of, zd).version == version + 1
        assert killed.solved(zd) == 0
        assert_planned_once(engine_of, zd, requests)
        assert other.stop() == 0
    queue.shutdown()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def redis_server(port: int, folder: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A Redis of this test's own that keeps nothing on disk (as the shared one)."""
    process = subprocess.Popen(
        [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(folder)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    client = redis.Redis(port=port)

    def answers() -> bool:
        try:
            return bool(client.ping())
        except redis.ConnectionError:
            return False

    try:
        wait_for("Redis answers", answers, 20)
        yield process
    finally:
        client.close()
        if process.poll() is None:
            process.terminate()
        process.wait(timeout=20)


def test_redis_restarted_without_its_data_the_pending_solves_resume(
    database: str, engine_of: Engine, tmp_path: Path
) -> None:
    port = _free_port()
    broker_url = f"redis://127.0.0.1:{port}/0"
    # The lease outlasts the workers' wait to tell Redis a solve is done (they try every 5 s
    # until it is back), so a solve handed out after the restart is not handed out again.
    settings = _settings(database, broker_url, replan_seconds=1.0, solve_lease_seconds=8.0)
    now = dt.datetime(2031, 3, 6, 7, 0, tzinfo=IST)
    booked = book_zone_days(engine_of, now, ["SXR", "JMU", "ANT", "BRM"], 3)
    zone_days = list(booked)
    before = {zd: row(engine_of, zd).version for zd in booked}
    queue = solving.DramatiqQueue(settings)
    refused: list[SolveJob] = []

    def submit(job: SolveJob) -> None:
        try:
            queue.submit(job)
        except redis.ConnectionError:
            refused.append(job)
            raise

    with (
        redis_server(port, tmp_path) as first,
        solver_workers(database, broker_url, tmp_path, 1, processes=2) as [worker],
    ):
        assert hand_out(engine_of, settings, submit) == len(zone_days)
        first.terminate()  # Redis goes, with the queued messages
        first.wait(timeout=20)
        # Two processes, four solves of a second: some were still queued.
        assert not all(improved(engine_of, zd) for zd in zone_days)
        # The loop goes on: the lapsed leases are claimed again, Redis refuses the
        # messages, and the claims are given back at once.
        deadline = time.monotonic() + 30
        while not refused:
            assert time.monotonic() < deadline, "no hand-out while Redis was away"
            hand_out(engine_of, settings, submit)
            time.sleep(0.5)
        assert all(row(engine_of, (j.district_id, j.day)).solve_token is None for j in refused)
        with redis_server(port, tmp_path):  # the same address again, empty
            loop_until_solved(engine_of, settings, submit, zone_days)
            for zd, requests in booked.items():
                assert row(engine_of, zd).version == before[zd] + 1
                assert_planned_once(engine_of, zd, requests)
            assert worker.stop() == 0
            assert "Traceback" not in worker.text()
    queue.shutdown()


def test_a_solver_process_killed_is_replaced_and_sigterm_stops_them_all(
    namespace: str, tmp_path: Path
) -> None:
    """`--processes 2` on one machine: a child killed outright is started again; SIGTERM to
    the command stops every child cleanly. (No solve is sent: the database is never opened.)"""
    broker_url = f"{REDIS}?namespace={namespace}"
    database = f"sqlite:///{tmp_path / 'never-opened.db'}"

    def ready() -> list[int]:  # the pid of each process that logged it was ready
        lines = [line for line in worker.text().splitlines() if "solver process ready" in line]
        return [int(json.loads(line)["process"]) for line in lines]  # JSON lines (web.logs)

    with solver_workers(database, broker_url, tmp_path, 1, processes=2) as [worker]:
        first = ready()
        assert len(set(first)) == 2 and worker.process.pid not in first
        os.kill(first[0], signal.SIGKILL)
        wait_for("another process ready", lambda: len(ready()) == 3)
        assert "a solver process ended (code -9): starting another" in worker.text()
        assert worker.stop() == 0
        assert worker.text().count("solver process stopped") == 2  # the two alive
        assert "Traceback" not in worker.text()


# --- without a broker --------------------------------------------------------------------


def test_the_queue_is_local_processes_without_a_broker_url_and_dramatiq_with_one() -> None:
    local = solving.queue_for(Settings(database_url="sqlite://", solver_processes=1))
    assert isinstance(local, solving.LocalProcesses)
    local.shutdown()
    remote = solving.queue_for(
        Settings(database_url="sqlite://", broker_url=f"{REDIS}?namespace=doorstep-x&db=0")
    )
    assert isinstance(remote, solving.DramatiqQueue)
    assert remote.broker.namespace == "doorstep-x"
    assert solving.broker_address("redis://h:6379/2") == ("redis://h:6379/2", solving.NAMESPACE)
    # Dramatiq's limit covers every search a solve may make, with room to save.
    job = SolveJob(1, dt.date(2031, 3, 4), "t", 20.0)
    assert solving.time_limit_ms(job.time_limit_s) > 3 * 20_000
    remote.shutdown()


def test_the_solver_worker_refuses_to_start_without_a_broker_url(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("DOORSTEP_BROKER_URL", raising=False)
    monkeypatch.setenv("DOORSTEP_DATABASE_URL", "sqlite://")
    get_settings.cache_clear()
    try:
        assert cli.main(["solver-worker", "--processes", "1"]) == 2
    finally:
        get_settings.cache_clear()
    err = capsys.readouterr().err.strip()
    assert "DOORSTEP_BROKER_URL is not set" in err and "\n" not in err


def test_local_solvers_start_again_after_a_child_process_died(tmp_path: Path) -> None:
    """A dead child breaks a process pool for good: the next hand-out gets a new one."""
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'none.db'}", scheduler=False)
    queue = solving.LocalProcesses(settings, 1)
    try:
        job = SolveJob(1, dt.date(2040, 1, 2), "token", 0.1)
        queue.submit(job)  # starts the child (the job itself fails: no tables there)
        deadline = time.monotonic() + 30
        while not queue.pool._processes and time.monotonic() < deadline:
            time.sleep(0.05)
        first = queue.pool
        for pid in list(first._processes):
            os.kill(pid, signal.SIGKILL)
        while not first._broken and time.monotonic() < deadline:
            time.sleep(0.05)
        assert first._broken
        queue.submit(job)  # would raise BrokenProcessPool without a new pool
        assert queue.pool is not first
        while not queue.pool._processes and time.monotonic() < deadline:
            time.sleep(0.05)
        assert queue.pool._processes
    finally:
        queue.shutdown()
