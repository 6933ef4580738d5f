"""A state-wide day planned by 1 and 2 solver processes: wall time, plan quality, speed-up.

Usage: ``python -m bench.state_day [--districts 20] [--agents 33] [--visits 300]
[--time-limit 2] [--processes 1 2] [--seed 1] [--no-dramatiq] [--workdir DIR]
[--name state_day]``

1. A fresh SQLite database through the project's own tables (migrated, Jammu & Kashmir's seed
   data, then bulk inserts): in each of the state's first --districts districts (J&K has 20),
   --agents generated agents (the seed's own are set inactive) and --visits scheduled requests
   for the next working day, every zone-day pending with no plan yet. Seeded and deterministic:
   visits around the villages (a few large villages make most requests), in the day's four
   2-hour windows (more in the morning), for the seed's services (their visit minutes, ~31 on
   average, and fees; the popular ones more often), in the division's languages (Kashmiri,
   Urdu, Hindi, Dogri, English); agents living where the requests come from, two-wheelers on
   the plains, some on foot or in four-wheel drives in the hills, 8-hour shifts from 08:00,
   09:00 or 10:00 with a 30-minute break, 10-14 visits a day, the seed's skills (biometric,
   land records, business, driving). 33 agents, not 30: at those visit minutes 30 agents
   cannot make 300 visits in a day (~5 % were left out), and a booked day is one the slot
   offers found room for.
2. The day is planned as the scheduler plans it: one pass of the dispatch loop
   (`dispatch.scheduled.hand_out_solves`) hands every zone-day out with --time-limit seconds
   of search, to `web.solving.LocalProcesses` with 1 and 2 processes, and, when Redis answers
   at 127.0.0.1:6379, through Dramatiq to `doorstep solver-worker --processes 1` and `2`
   (started and ready beforehand; a namespace of the run's own). Each run starts from a copy
   of the same database. Wall time: from the hand-out until every zone-day's improved plan is
   saved (polled every 0.1 s).
3. Quality of what was saved: visits in a route and left out, estimated road km and minutes
   late (`dispatch.planning.runs.figures`), the visits re-offered because no agent can make
   their window, and every zone-day's plan checked by the independent checker
   (`routing.checker`). The speed-up from 1 to 2 processes, beside the target: close to
   linear until the cores run out (>= 0.85 x min(processes, cores)).

Prints a table and writes var/bench/<name>.json; the databases are removed once measured, the
solver workers' logs stay in --workdir.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime as dt
import math
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import redis
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from bench.common import REPO_ROOT, table, write_json
from dispatch import migrate, scheduled, seed
from dispatch.agents.models import Agent, TravelMode
from dispatch.catalogue.models import Service
from dispatch.citizens.models import Address, Citizen
from dispatch.config import Settings
from dispatch.db import make_engine, read_session, utcnow, write_session
from dispatch.geography.models import Block, District, Terrain, Village
from dispatch.planning import runs, zone
from dispatch.planning.models import PlanChange, PlanChangeKind, ZonePlan
from dispatch.ports import SolveJob
from dispatch.requests.models import DoorstepRequest
from dispatch.requests.rules import Channel, RequestStatus
from routing.checker import check
from web import solving

STATE = "JK"
REDIS = "redis://127.0.0.1:6379/0"
SLOTS = [(9, 11), (11, 13), (13, 15), (15, 17)]
SLOT_WEIGHTS = [30, 28, 24, 18]
SHIFTS = [((9, 0), (17, 0)), ((10, 0), (18, 0)), ((8, 0), (16, 0))]
SHIFT_WEIGHTS = [70, 20, 10]
SKILLS = {"biometric": 0.95, "land_records": 0.3, "business": 0.2, "driving": 0.1}
#: Callers' languages by division (the Kashmir valley lies north of ~33.5 degrees).
CALLER_LANGUAGES = {
    "kashmir": (["ks", "ur", "hi", "en"], [60, 25, 10, 5]),
    "jammu": (["doi", "hi", "ur", "en"], [40, 35, 15, 10]),
}
#: Agents' languages: always the first two, the others with these chances.
AGENT_LANGUAGES = {
    "kashmir": (["ks", "ur"], {"hi": 0.8, "en": 0.4}),
    "jammu": (["hi", "ur"], {"doi": 0.7, "en": 0.4, "ks": 0.15}),
}
HEADERS = ["solvers", "procs", "wall s", "visits", "in routes", "left out", "re-offered",
           "road km", "min late", "checker"]  # fmt: skip
#: Less than this share of linear (speed-up = processes) on the cores there are is a miss.
LINEAR_SHARE = 0.85


# --- the day's data -------------------------------------------------------------------------


def _division(district: District) -> str:
    return "kashmir" if district.lat >= 33.5 else "jammu"


def _near(rng: random.Random, lat: float, lon: float, km: float) -> tuple[float, float]:
    north, east = rng.gauss(0, km), rng.gauss(0, km)
    return (
        round(lat + north / 111.0, 5),
        round(lon + east / (111.0 * math.cos(math.radians(lat))), 5),
    )


def _mode(rng: random.Random, terrain: Terrain) -> TravelMode:
    if terrain is Terrain.PLAINS:
        return TravelMode.TWO_WHEELER
    modes = [TravelMode.TWO_WHEELER, TravelMode.FOUR_WHEEL_DRIVE, TravelMode.ON_FOOT]
    weights = [80, 10, 10] if terrain is Terrain.HILLS else [20, 50, 30]
    return rng.choices(modes, weights)[0]


def visit_day(today: dt.date) -> dt.date:
    """The next working day (Monday to Saturday) after `today`."""
    day = today + dt.timedelta(days=1)
    return day + dt.timedelta(days=1) if day.weekday() == 6 else day


def make_day(
    path: Path, *, seed_n: int, districts: int, agents: int, visits: int, day: dt.date
) -> list[tuple[int, dt.date]]:
    """The database of the bench's day at `path` (see the module); its zone-days."""
    engine = make_engine(f"sqlite:///{path}")
    migrate.upgrade(engine)
    with write_session(engine) as s:
        seed.load(session=s, seed_dir=REPO_ROOT / "seed_data", states=[STATE])
    rng = random.Random(seed_n)
    with write_session(engine) as s:
        zone_days = _fill(s, rng, districts=districts, agents=agents, visits=visits, day=day)
    engine.dispose()
    return zone_days


def _fill(
    s: Session, rng: random.Random, *, districts: int, agents: int, visits: int, day: dt.date
) -> list[tuple[int, dt.date]]:
    tz = ZoneInfo("Asia/Kolkata")
    chosen = list(
        s.exec(select(District).where(District.state_code == STATE).order_by(col(District.id)))
    )[:districts]
    services = [
        v for v in s.exec(select(Service).where(Service.state_code == STATE, col(Service.active)))
    ]
    service_weights = [1.0 / max(1, v.popularity) for v in services]
    # Ids given here, so that rows can point at each other in bulk inserts.
    ids: dict[type, int] = {
        t: int(s.execute(sa.select(sa.func.coalesce(sa.func.max(col(t.id)), 0))).scalar_one())
        for t in (Agent, Citizen, Address, DoorstepRequest)
    }
    agent_rows: list[dict[str, Any]] = []
    citizen_rows: list[dict[str, Any]] = []
    address_rows: list[dict[str, Any]] = []
    request_rows: list[dict[str, Any]] = []
    now = utcnow()
    settled = now - dt.timedelta(minutes=5)
    for district in chosen:
        assert district.id is not None
        blocks = list(s.exec(select(Block).where(Block.district_id == district.id)))
        villages = list(
            s.exec(select(Village).where(col(Village.block_id).in_([b.id for b in blocks])))
        )
        division = _division(district)
        # Villages of every size: a few large ones make most of the requests.
        sizes = [rng.paretovariate(1.5) for _ in villages]
        wanted: list[Village] = []
        languages, weights = CALLER_LANGUAGES[division]
        for _ in range(visits):
            ids[Citizen] += 1
            ids[Address] += 1
            ids[DoorstepRequest] += 1
            village = rng.choices(villages, sizes)[0]
            wanted.append(village)
            lat, lon = _near(rng, village.lat, village.lon, 0.3 + rng.random())
            language = rng.choices(languages, weights)[0]
            citizen_rows.append(
                {
                    "id": ids[Citizen],
                    "state_code": STATE,
                    "phone": f"+9196{ids[Citizen]:08d}",
                    "name": f"Bench citizen {ids[Citizen]}",
                    "language": language,
                }
            )
            address_rows.append(
                {
                    "id": ids[Address],
                    "citizen_id": ids[Citizen],
                    "village_id": village.id,
                    "lat": lat,
                    "lon": lon,
                }
            )
            service = rng.choices(services, service_weights)[0]
            start_h, end_h = rng.choices(SLOTS, SLOT_WEIGHTS)[0]
            request_rows.append(
                {
                    "id": ids[DoorstepRequest],
                    "state_code": STATE,
                    "reference": f"JK-SD-{ids[DoorstepRequest]:07d}",
                    "citizen_id": ids[Citizen],
                    "service_id": service.id,
                    "address_id": ids[Address],
                    "district_id": district.id,
                    "channel": Channel.IVR,
                    "status": RequestStatus.SCHEDULED,
                    "language": language,
                    "priority": rng.choices([0, 1, 2], [87, 10, 3])[0],
                    "window_start": dt.datetime.combine(day, dt.time(start_h), tz),
                    "window_end": dt.datetime.combine(day, dt.time(end_h), tz),
                    "doorstep_fee_paise": service.doorstep_fee_paise,
                    "government_fee_paise": service.government_fee_paise,
                    "logged_at": settled,
                    "visit_code": f"{rng.randrange(10**6):06d}",
                }
            )
        for _ in range(agents):
            ids[Agent] += 1
            home = rng.choice(wanted)  # agents live where the requests come from
            lat, lon = _near(rng, home.lat, home.lon, 0.5)
            (sh, sm), (eh, em) = rng.choices(SHIFTS, SHIFT_WEIGHTS)[0]
            always, maybe = AGENT_LANGUAGES[division]
            agent_rows.append(
                {
                    "id": ids[Agent],
                    "state_code": STATE,
                    "csc_id": f"9{ids[Agent]:011d}",
                    "name": f"Bench agent {ids[Agent]}",
                    "phone": f"+9170{ids[Agent]:08d}",
                    "block_id": home.block_id,
                    "lat": lat,
                    "lon": lon,
                    "skills": [k for k, p in SKILLS.items() if rng.random() < p] or ["biometric"],
                    "languages": always + [k for k, p in maybe.items() if rng.random() < p],
                    "working_days": ["mon", "tue", "wed", "thu", "fri", "sat"],
                    "shift_start_min": sh * 60 + sm,
                    "shift_end_min": eh * 60 + em,
                    "break_start_min": 13 * 60,
                    "break_minutes": 30,
                    "daily_cap": rng.randint(10, 14),
                    "travel_mode": _mode(rng, home.terrain),
                    "active": True,
                }
            )
    district_ids = [d.id for d in chosen]
    # The seed's own agents of these districts sit the day out: --agents is every agent.
    block_ids = select(Block.id).where(col(Block.district_id).in_(district_ids))
    s.execute(sa.update(Agent).where(col(Agent.block_id).in_(block_ids)).values(active=False))
    for model, rows in (
        (Agent, agent_rows),
        (Citizen, citizen_rows),
        (Address, address_rows),
        (DoorstepRequest, request_rows),
    ):
        s.execute(sa.insert(model), rows)
    s.execute(
        sa.insert(ZonePlan.__table__),  # type: ignore[attr-defined]
        [
            {
                "district_id": d,
                "day": day,
                "version": 1,
                "improved_version": 0,
                "updated_at": settled,
                "pending_since": settled,
            }
            for d in district_ids
        ],
    )
    return [(int(d or 0), day) for d in district_ids]


# --- one run ----------------------------------------------------------------------------


@dataclass
class Run:
    """One planning of the day: how (local processes or Dramatiq workers), how long, how good."""

    mode: str
    processes: int
    wall_s: float = 0.0
    zone_days: int = 0
    visits: int = 0
    assigned: int = 0
    unassigned: int = 0
    travel_km: float = 0.0
    late_min: float = 0.0
    reoffered: int = 0
    violations: int = 0
    checked: int = 0  # zone-days whose plan the checker passed


def _settings(url: str, time_limit: float, broker_url: str | None = None) -> Settings:
    return Settings(
        database_url=url,
        broker_url=broker_url,
        scheduler=False,
        replan_seconds=time_limit,
        replan_quiet_seconds=0.0,
        replan_most_wait_seconds=0.0,
        solve_lease_seconds=3600.0,  # one hand-out: nothing is handed out twice here
    )


def _remove(folder: Path, name: str) -> None:
    """A database file with its WAL and shared-memory files."""
    for path in folder.glob(name + "*"):
        path.unlink()


def _copy(template: Path, to: Path) -> str:
    _remove(to.parent, to.name)
    with sqlite3.connect(template) as source, sqlite3.connect(to) as copy:
        source.backup(copy)
    return f"sqlite:///{to}"


def _saved(engine: Engine, zone_days: list[tuple[int, dt.date]]) -> int:
    with read_session(engine) as s:
        rows = [s.get(ZonePlan, zd) for zd in zone_days]
    return sum(r is not None and r.improved_version > 0 for r in rows)


def _hand_out_and_wait(
    engine: Engine,
    settings: Settings,
    zone_days: list[tuple[int, dt.date]],
    submit: Any,
    limit_s: float,
) -> float:
    """One pass of the loop, then the seconds until every zone-day's improved plan is saved."""
    t0 = time.monotonic()
    jobs = scheduled.hand_out_solves(
        engine=engine, settings=settings, now=utcnow(), submit=submit, most=len(zone_days)
    )
    if len(jobs) != len(zone_days):
        raise SystemExit(f"{len(jobs)} of {len(zone_days)} zone-days were handed out")
    while _saved(engine, zone_days) < len(zone_days):
        if time.monotonic() - t0 > limit_s:
            raise SystemExit(f"not every zone-day was saved within {limit_s:.0f} s")
        time.sleep(0.1)
    return time.monotonic() - t0


def _warm(seconds: float) -> None:
    """Run in each pool process before the clock starts: its imports are done."""
    time.sleep(seconds)


def run_local(url: str, zone_days: list[tuple[int, dt.date]], processes: int, limit: float) -> Run:
    settings = _settings(url, limit)
    engine = make_engine(url)
    queue = solving.LocalProcesses(settings, processes)
    # The scheduler's pool lives as long as the scheduler: started before the clock.
    for warming in [queue.pool.submit(_warm, 0.5) for _ in range(processes)]:
        warming.result()
    outcomes: list[concurrent.futures.Future[Any]] = []

    def submit(job: SolveJob) -> None:  # what LocalProcesses.submit does, keeping the futures
        outcomes.append(queue.pool.submit(solving.solve_job, settings, job))

    try:
        wall = _hand_out_and_wait(engine, settings, zone_days, submit, _deadline(zone_days, limit))
        for done in outcomes:
            done.result()  # the re-offers after the last save, before the figures
    finally:
        queue.shutdown()
    run = Run("local", processes, wall_s=wall)
    _figures(engine, zone_days, run)
    engine.dispose()
    return run


def _deadline(zone_days: list[tuple[int, dt.date]], limit: float) -> float:
    return 120.0 + len(zone_days) * (limit * 3 + 10)


def redis_answers() -> bool:
    client = redis.Redis.from_url(REDIS, socket_connect_timeout=1)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


def run_dramatiq(
    url: str, zone_days: list[tuple[int, dt.date]], processes: int, limit: float, log: Path
) -> Run:
    namespace = f"doorstep-bench-{uuid.uuid4().hex[:8]}"
    broker_url = f"{REDIS}?namespace={namespace}"
    settings = _settings(url, limit, broker_url)
    engine = make_engine(url)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOORSTEP_")}
    env |= {"DOORSTEP_DATABASE_URL": url, "DOORSTEP_BROKER_URL": broker_url}
    queue = solving.DramatiqQueue(settings)
    with log.open("wb") as out:
        worker = subprocess.Popen(
            [sys.executable, "-m", "web.cli", "solver-worker", "--processes", str(processes)],
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_for(lambda: log.read_text().count("solver process ready") >= processes, worker)
        wall = _hand_out_and_wait(
            engine, settings, zone_days, queue.submit, _deadline(zone_days, limit)
        )
        _wait_for(lambda: log.read_text().count("zone solve of district") >= len(zone_days), worker)
        worker.send_signal(signal.SIGTERM)
        if worker.wait(timeout=120) != 0:
            raise SystemExit(f"the solver worker ended with {worker.returncode}; see {log}")
    finally:
        if worker.poll() is None:
            worker.kill()
        queue.shutdown()
        client = redis.Redis.from_url(REDIS)
        for key in client.scan_iter(match=f"{namespace}:*"):
            client.delete(key)
        client.close()
    run = Run("dramatiq", processes, wall_s=wall)
    _figures(engine, zone_days, run)
    engine.dispose()
    return run


def _wait_for(condition: Any, worker: subprocess.Popen[bytes], seconds: float = 300.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if worker.poll() is not None:
            raise SystemExit(f"the solver worker ended with {worker.returncode}")
        if time.monotonic() > deadline:
            raise SystemExit(f"the solver worker did not get there within {seconds:.0f} s")
        time.sleep(0.1)


def _figures(engine: Engine, zone_days: list[tuple[int, dt.date]], run: Run) -> None:
    """What was saved: each zone-day's current plan, measured and checked."""
    run.zone_days = len(zone_days)
    with read_session(engine) as s:
        for district_id, day in zone_days:
            zd = zone.load(s, district_id, day)
            figures = runs.figures(zd, runs.stored_sequences(s, zd))
            run.assigned += len(zd.problem.visits) - figures.unassigned
            run.travel_km += figures.distance_m / 1000
            run.late_min += figures.lateness_s / 60
            problems = check(zd.problem, zd.plan, require_all_accounted=False)
            run.violations += len(problems)
            run.checked += not problems
        made = s.exec(
            select(sa.func.count(sa.distinct(col(PlanChange.request_id)))).where(
                PlanChange.kind == PlanChangeKind.REOFFERED
            )
        ).one()
        run.reoffered = int(made)
        run.visits = int(
            s.exec(
                select(sa.func.count()).where(
                    col(DoorstepRequest.reference).like("JK-SD-%"),
                )
            ).one()
        )
    run.unassigned = run.visits - run.assigned


# --- the bench ----------------------------------------------------------------------------


def _verdict(run: Run) -> str:
    return "ok" if run.checked == run.zone_days else f"{run.violations} violations"


def speedups(runs_done: list[Run]) -> dict[str, float]:
    """Wall time of 1 process over that of the most processes, by mode."""
    out: dict[str, float] = {}
    for mode in sorted({r.mode for r in runs_done}):
        mine = sorted((r for r in runs_done if r.mode == mode), key=lambda r: r.processes)
        if len(mine) > 1 and mine[0].processes == 1:
            out[mode] = mine[0].wall_s / max(1e-9, mine[-1].wall_s)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.state_day")
    ap.add_argument("--districts", type=int, default=20)
    ap.add_argument("--agents", type=int, default=33, help="agents per district")
    ap.add_argument("--visits", type=int, default=300, help="visits per district")
    ap.add_argument("--time-limit", type=float, default=2.0, help="search seconds per zone")
    ap.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--no-dramatiq", action="store_true", help="local processes only")
    ap.add_argument("--workdir", type=Path, default=REPO_ROOT / "var" / "bench" / "state_day")
    ap.add_argument("--name", default="state_day")
    args = ap.parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    cores = len(os.sched_getaffinity(0))
    day = visit_day(dt.datetime.now(ZoneInfo("Asia/Kolkata")).date())

    t0 = time.monotonic()
    template = args.workdir / "template.db"
    _remove(args.workdir, template.name)
    zone_days = make_day(
        template,
        seed_n=args.seed,
        districts=args.districts,
        agents=args.agents,
        visits=args.visits,
        day=day,
    )
    made_s = time.monotonic() - t0
    print(
        f"{len(zone_days)} districts x {args.agents} agents x {args.visits} visits on {day}, "
        f"made in {made_s:.1f} s; {args.time_limit:g} s of search per zone; {cores} cores"
    )
    modes = ["local"]
    if args.no_dramatiq:
        print("Dramatiq: skipped (--no-dramatiq)")
    elif redis_answers():
        modes.append("dramatiq")
    else:
        print(f"Dramatiq: skipped, no Redis answers at {REDIS}")
    done: list[Run] = []
    for mode in modes:
        for processes in args.processes:
            url = _copy(template, args.workdir / f"{mode}-{processes}.db")
            if mode == "local":
                run = run_local(url, zone_days, processes, args.time_limit)
            else:
                log = args.workdir / f"{mode}-{processes}.log"
                run = run_dramatiq(url, zone_days, processes, args.time_limit, log)
            done.append(run)
            _remove(args.workdir, f"{mode}-{processes}.db")  # ~20 MB each; the logs stay
            print(f"  {mode} x {processes}: {run.wall_s:.1f} s", flush=True)
    ups = speedups(done)
    most = max(args.processes)
    target = LINEAR_SHARE * min(most, cores)
    print()
    rows = [
        [r.mode, r.processes, r.wall_s, r.visits, r.assigned, r.unassigned, r.reoffered,
         r.travel_km, r.late_min, _verdict(r)]
        for r in done
    ]  # fmt: skip
    print(table(HEADERS, rows))
    for mode, up in ups.items():
        verdict = "met" if up >= target else "MISSED"
        print(
            f"speed-up 1 -> {most} processes ({mode}): {up:.2f}x; target >= {target:.2f}x "
            f"(close to linear until the {cores} cores run out): {verdict}"
        )
    path = write_json(
        args.name,
        {
            "districts": len(zone_days),
            "agents_per_district": args.agents,
            "visits_per_district": args.visits,
            "time_limit_s": args.time_limit,
            "seed": args.seed,
            "day": day.isoformat(),
            "cores": cores,
            "made_s": made_s,
            "runs": [asdict(r) for r in done],
            "speedup": ups,
            "target_speedup": target,
        },
    )
    print(f"wrote {path}")
    _remove(args.workdir, "template.db")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
