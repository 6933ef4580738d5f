"""Load on real servers over loopback HTTP: the phone line on PostgreSQL with several uvicorn
workers and on the default SQLite set-up with one, then the console and `/api/v1` booking into
one zone-day at once.

    .venv/bin/python -m bench.load [--parts pg sqlite] [--calls 200 ...] [--workers 2]
        [--levels 10 25 50 100 200] [--duration 0] [--pace 1 | --think MIN MAX]
        [--sessions 6] [--api-clients 6] [--bookings 5] [--pg-url URL] [--name load]
        [--no-demo]

Each database is set up as `make run` does (`doorstep migrate`, `doorstep seed --demo`): the
SQLite one under var/bench/, the PostgreSQL one a scratch database `doorstep_load_<pid>` made
on `--pg-url`'s server and dropped afterwards. It is served by `doorstep serve --workers N`
(its logging, and Prometheus' multiprocess directory with several workers) with the
scheduler off. Then:

1. The phone line (`pg`: `--calls` callers at once, `--workers` processes, several numbers
   ramp; `sqlite`: one worker, the concurrency ramped through `--levels`). Each caller rings
   the signed webhooks as Twilio does and books a visit end to end (language, menu, service
   by key or speech, PIN code, village, landmark, the first window offered, the
   confirmation, the status callback). By default callers answer when people would
   (`bench.journeys`' cost model: each prompt spoken at 150 words a minute, 130 in Hindi, up
   to the option taken, then ~2 s to think and the keys or words; `--pace 0.5` twice as
   fast), ringing over the first 10 s: the load of that many real calls. `--think MIN MAX`
   is the harsh mode instead: MIN-MAX s before every answer whatever was said, several
   times the webhooks a second of as many real calls; it reports the line's capacity, the
   highest rate (webhooks/s) of a level that held. With `--duration S` each line calls
   again until S seconds have passed. Measured at the
   caller, per webhook: p50 / p99 / max per step, throughput, and what went wrong: an HTTP
   error or no answer within 20 s (Twilio gives up at 15 s), TwiML that does not parse, the
   apology (`error` prompt) and a person offered. A level holds when no webhook went wrong
   and every step's p99 is within 300 ms.
2. The bookings (on each database served): `--sessions` console sessions (call agents signed
   in) and `--api-clients` API clients each book `--bookings` new citizens at once in one
   district, each taking the first window offered (the same windows, the same zone-day);
   a window taken meanwhile is tried again with fresh windows (5 tries).
3. The database afterwards (`bench.load_integrity`): every request of the run has its audit
   trail, one charge, its visit in the current plan; no charge without a request; every
   zone-day's plan passes the independent checker (no window holds more visits than the
   agents can make); booked answers = requests made (nothing lost, nothing extra).

Prints the figures beside the targets and writes var/bench/<name>.json. Loopback only; each
run is bounded (calls, levels, bookings, a 20 s client timeout); every server started is
stopped. A benchmark, not a test: targets 0 errors and every step p99 <= 300 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import random
import statistics
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy.engine import Engine

from bench import journeys, load_bookings, load_integrity
from bench.common import (
    REPO_ROOT,
    doorstep_env,
    doorstep_server,
    percentile,
    prepare_demo,
    scratch_postgres,
    table,
    write_json,
)
from bench.ivr import LABELS, Route, _answer, _route
from dispatch.config import Settings
from dispatch.db import make_engine, read_session
from dispatch.geography import service as geography_service
from ivr import prompts as ivr_prompts
from ivr.standin import new_call_sid, parse_twiml, signed_headers, twilio_params

TOKEN = "load-bench-auth-token"
STATE = "JK"
TARGET_P99_MS = 300.0
TWILIO_TIMEOUT_S = 15.0
#: The caller waits longer than Twilio would, so a hang is measured rather than cut short.
CLIENT_TIMEOUT_S = 20.0
#: Calls per worker before the figures: a fresh worker's first answers are not a live line's.
WARM_UP_CALLS = 3
PG_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
#: Realistically paced callers ring over this many seconds (each then calls for minutes).
RING_SPREAD_S = 10.0
BOOKED_HI = "आपकी बुकिंग पक्की हो गई"
TAKEN_HI = "समय अभी-अभी भर गया"


@dataclass
class Level:
    """One run of the phone line at one concurrency."""

    calls: int
    by_step: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    placed: int = 0
    booked: int = 0
    taken: int = 0  # a window taken by another caller first (then re-offered)
    errors: Counter[str] = field(default_factory=Counter)  # "HTTP 500 at offer", "timeout at"
    apologies: int = 0  # answers that were the apology
    to_person: int = 0  # of those, the caller put through to a person
    wall_s: float = 0.0

    @property
    def every(self) -> list[float]:
        return [ms for values in self.by_step.values() for ms in values]

    @property
    def rate(self) -> float:
        """Webhooks answered a second over the level's wall time."""
        return len(self.every) / self.wall_s if self.wall_s else 0.0

    @property
    def worst_step(self) -> tuple[str, float]:
        return max(((s, percentile(v, 99)) for s, v in self.by_step.items()), key=lambda x: x[1])

    @property
    def holds(self) -> bool:
        """No webhook went wrong and every step's p99 is within the target."""
        return (
            not self.errors
            and not self.apologies
            and bool(self.by_step)
            and self.worst_step[1] <= TARGET_P99_MS
        )

    def to_json(self) -> dict[str, Any]:
        every = self.every
        return {
            "calls": self.calls,
            "placed": self.placed,
            "booked": self.booked,
            "window_taken_then_rebooked": self.taken,
            "webhooks": len(every),
            "webhooks_per_s": round(len(every) / self.wall_s, 1) if self.wall_s else None,
            "wall_s": round(self.wall_s, 1),
            "p50_ms": round(statistics.median(every), 1) if every else None,
            "p99_ms": round(percentile(every, 99), 1) if every else None,
            "max_ms": round(max(every), 1) if every else None,
            "errors": dict(self.errors),
            "apologies": self.apologies,
            "put_through_to_a_person": self.to_person,
            "holds": self.holds,
            "steps": {
                step: {
                    "n": len(v),
                    "p50_ms": round(statistics.median(v), 1),
                    "p99_ms": round(percentile(v, 99), 1),
                    "max_ms": round(max(v), 1),
                }
                for step, v in sorted(self.by_step.items())
            },
        }


# --- the callers ------------------------------------------------------------------------------


def routes(engine: Engine) -> list[Route]:
    """Where callers live: a village (on its PIN code's first page) in each district."""
    with read_session(engine) as session:
        found = []
        for district in geography_service.districts(session=session, state_code=STATE):
            assert district.id is not None
            route = _route(session, district.id)
            if route is not None:
                found.append(route)
    if not found:
        raise SystemExit("no village with a PIN code in the seed data")
    return found


def _apology_texts() -> list[str]:
    loaded = ivr_prompts.load(REPO_ROOT / "seed_data" / "prompts")
    texts = []
    for language in ("hi", "en", "ur"):
        try:
            texts.append(loaded.text(ivr_prompts.P.ERROR, language))
        except LookupError:
            continue
    return texts


@dataclass(frozen=True)
class Pacing:
    """When a simulated caller answers. By default as people do (`bench.journeys`' cost
    model, `answer_after_s`: the prompt spoken at 150 words a minute in English, 130 in
    Hindi, up to the option they take; ~2 s to think; keys and speech take their time),
    times `scale` (0.5: twice as fast as people); with `think` (MIN, MAX) instead a pause
    drawn from it whatever was said: the harsh mode, which offers the line more webhooks a
    second than the same number of real calls would, to find its capacity."""

    scale: float = 1.0
    think: tuple[float, float] | None = None

    @property
    def realistic(self) -> bool:
        return self.think is None

    def wait_s(self, verbs: list[dict[str, Any]], answer: str, rng: random.Random) -> float:
        """Seconds between the line's answer `verbs` and the caller's `answer` ("say:..."
        speech, digits, "" nothing)."""
        if self.think is not None:
            return rng.uniform(*self.think)
        if answer.startswith("say:"):
            return self.scale * journeys.answer_after_s(verbs, words=answer[4:])
        return self.scale * journeys.answer_after_s(verbs, keys=answer)

    def ring_spread_s(self) -> float:
        """Callers ring over this many seconds, not all at the same instant."""
        return self.think[1] if self.think is not None else RING_SPREAD_S * self.scale

    def describe(self) -> str:
        if self.think is not None:
            return f"harsh: {self.think[0]:g}-{self.think[1]:g} s before each answer"
        return f"paced as people call (bench.journeys' model) x{self.scale:g}"

    def to_json(self) -> dict[str, Any]:
        if self.think is not None:
            return {"mode": "harsh", "think_s": list(self.think)}
        return {"mode": "realistic", "model": "bench.journeys", "scale": self.scale}


class Caller:
    """One simulated call through the signed webhooks, tallied into a `Level`."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        settings: Settings,
        level: Level,
        rng: random.Random,
        apologies: list[str],
    ) -> None:
        self.client, self.settings, self.level, self.rng = client, settings, level, rng
        self.apology_texts = apologies
        self.sid = new_call_sid()
        self.phone = f"+9198{rng.randrange(10**8):08d}"
        self.heard: list[str] = []

    async def post(self, url: str, label: str, **extra: str) -> list[dict[str, Any]] | None:
        """One webhook; None if it went wrong (counted), which ends the call as Twilio would."""
        params = twilio_params(
            self.settings, call_sid=self.sid, caller=self.phone, called="1447", **extra
        )
        path = url[len(self.settings.public_base_url) :]
        headers = signed_headers(self.settings, url, params)
        started = time.perf_counter()
        try:
            response = await self.client.post(path, data=params, headers=headers)
        except httpx.TimeoutException:
            self.level.errors[f"no answer in {CLIENT_TIMEOUT_S:.0f} s at {label}"] += 1
            return None
        except httpx.TransportError as exc:
            self.level.errors[f"{type(exc).__name__} at {label}"] += 1
            return None
        elapsed = (time.perf_counter() - started) * 1000
        self.level.by_step[label].append(elapsed)
        if elapsed > TWILIO_TIMEOUT_S * 1000:
            self.level.errors[f"over Twilio's 15 s at {label}"] += 1
        if response.status_code != 200:
            self.level.errors[f"HTTP {response.status_code} at {label}"] += 1
            return None
        try:
            verbs = parse_twiml(response.text)
        except Exception:  # any parse failure is the finding
            self.level.errors[f"invalid TwiML at {label}"] += 1
            return None
        said = " ".join(_texts(verbs))
        self.heard.append(said)
        if any(text in said for text in self.apology_texts):
            self.level.apologies += 1
            if any(v.get("verb") == "enqueue" for v in verbs):
                self.level.to_person += 1
        return verbs

    async def walk(self, route: Route, pacing: Pacing) -> None:
        base = self.settings.public_base_url
        by_speech = self.rng.random() < 0.5
        self.level.placed += 1
        verbs = await self.post(base + "/ivr/voice/incoming", "incoming")
        for _turn in range(30):
            if not verbs:
                break
            last = verbs[-1]
            if last.get("verb") == "redirect":  # after an apology: asked again
                await asyncio.sleep(pacing.wait_s(verbs, "", self.rng))
                verbs = await self.post(str(last["text"]), "redirect")
                continue
            if last.get("verb") != "gather":
                break
            step = str(last["action"]).split("/answer/")[1].split("?")[0]
            answer = _answer(step, route, by_speech)
            await asyncio.sleep(pacing.wait_s(verbs, answer, self.rng))
            extra = (
                {"SpeechResult": answer[4:]} if answer.startswith("say:") else {"Digits": answer}
            )
            verbs = await self.post(str(last["action"]), LABELS.get(step, step), **extra)
        await self.post(
            base + "/ivr/voice/status",
            "status callback",
            CallStatus="completed",
            CallDuration="120",
        )
        said = " ".join(self.heard)
        self.level.booked += BOOKED_HI in said
        self.level.taken += TAKEN_HI in said


def _texts(verbs: list[dict[str, Any]]) -> list[str]:
    out = [str(v.get("text", "")) for v in verbs]
    return out + [str(c.get("text", "")) for v in verbs for c in v.get("children", [])]


async def _calls(
    base: str,
    level: Level,
    all_routes: list[Route],
    pacing: Pacing,
    duration_s: float,
    seed: int,
) -> None:
    settings = Settings(public_base_url=base, twilio_auth_token=TOKEN)
    apologies = _apology_texts()
    rng = random.Random(seed)
    # Idle connections are dropped before uvicorn's 5 s keep-alive ends: one it has just closed
    # would fail a webhook that never reached it (Twilio opens connections of its own).
    limits = httpx.Limits(
        max_connections=level.calls + 5, max_keepalive_connections=level.calls, keepalive_expiry=2
    )
    deadline = time.monotonic() + duration_s

    async def line(i: int, line_rng: random.Random) -> None:
        await asyncio.sleep(line_rng.uniform(0, pacing.ring_spread_s()))  # not all at once
        while True:
            caller = Caller(client, settings, level, random.Random(line_rng.random()), apologies)
            await caller.walk(all_routes[i % len(all_routes)], pacing)
            if time.monotonic() >= deadline:
                return

    async with httpx.AsyncClient(base_url=base, timeout=CLIENT_TIMEOUT_S, limits=limits) as client:
        await asyncio.gather(*(line(i, random.Random(rng.random())) for i in range(level.calls)))


def call_level(
    base: str,
    calls: int,
    all_routes: list[Route],
    pacing: Pacing,
    duration_s: float,
    seed: int,
) -> Level:
    level = Level(calls)
    started = time.perf_counter()
    asyncio.run(_calls(base, level, all_routes, pacing, duration_s, seed))
    level.wall_s = time.perf_counter() - started
    return level


# --- the report ---------------------------------------------------------------------------------


def level_rows(levels: list[Level]) -> list[tuple[object, ...]]:
    rows: list[tuple[object, ...]] = []
    for lv in levels:
        every = lv.every
        worst, worst_p99 = lv.worst_step if lv.by_step else ("-", float("nan"))
        rows.append(
            (
                lv.calls,
                f"{lv.booked}/{lv.placed}",
                len(every),
                len(every) / lv.wall_s if lv.wall_s else None,
                statistics.median(every) if every else None,
                percentile(every, 99) if every else None,
                f"{worst} {worst_p99:.0f}",
                max(every) if every else None,
                sum(lv.errors.values()),
                f"{lv.apologies}/{lv.to_person}",
                "holds" if lv.holds else "MISSES",
            )
        )
    return rows


LEVEL_HEADERS = [
    "calls",
    "booked",
    "webhooks",
    "per s",
    "p50 ms",
    "p99 ms",
    "worst step p99 ms",
    "max ms",
    "errors",
    "sorry/person",
    "target",
]


def step_rows(level: Level) -> list[tuple[object, ...]]:
    return [
        (step, len(v), statistics.median(v), percentile(v, 99), max(v))
        for step, v in sorted(level.by_step.items(), key=lambda kv: -percentile(kv[1], 99))
    ]


def integrity_line(counts: load_integrity.Counts) -> str:
    verdict = "nothing half-written" if counts.ok else f"{len(counts.problems)} PROBLEMS"
    return (
        f"integrity: {counts.requests} requests of the run {counts.by_channel}, "
        f"{counts.scheduled} with their visit, {counts.charges} charges, "
        f"{counts.booking_sms} booking SMS, {counts.zone_days} zone-days checked: {verdict}"
    )


def _integrity_json(counts: load_integrity.Counts) -> dict[str, Any]:
    return {
        "requests": counts.requests,
        "by_channel": counts.by_channel,
        "scheduled_with_visit": counts.scheduled,
        "charges": counts.charges,
        "booking_sms": counts.booking_sms,
        "zone_days_checked": counts.zone_days,
        "problems": counts.problems[:50],
        "ok": counts.ok,
    }


# --- the runs -----------------------------------------------------------------------------------


def run_database(
    label: str,
    database_url: str,
    workers: int,
    levels: list[int],
    args: argparse.Namespace,
) -> dict[str, Any]:
    """Set up, serve, call at each level, book at once, check; the figures as JSON."""
    print(f"\n== {label}: preparing the database (doorstep migrate, seed) ...", flush=True)
    started = time.perf_counter()
    prepare_demo(database_url, demo=not args.no_demo)
    engine = make_engine(database_url)
    all_routes = routes(engine)
    log = REPO_ROOT / "var" / "bench" / f"{args.name}-{label}-server.log"
    log.unlink(missing_ok=True)
    since = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    env = doorstep_env(database_url, twilio_auth_token=TOKEN)
    out: dict[str, Any] = {
        "database": label,
        "workers": workers,
        "pacing": args.pacing.to_json(),
        "levels": [],
    }
    print(f"{label}: ready in {time.perf_counter() - started:.0f} s", flush=True)
    with doorstep_server(env, workers=workers, log=log) as base:
        # Each worker's first calls load what a live server has loaded long since (the
        # prompts, the districts' plans): not measured.
        quick = Pacing(think=(0.05, 0.2))
        warm = call_level(base, WARM_UP_CALLS * workers, all_routes, quick, 0.0, 1)
        out["warm_up_calls"] = warm.placed
        ran: list[Level] = []
        for i, calls in enumerate(levels):
            print(f"{label}: {calls} concurrent calls ...", flush=True)
            level = call_level(base, calls, all_routes, args.pacing, args.duration, 1447 + i)
            ran.append(level)
            if level.errors:
                print("   went wrong: " + ", ".join(f"{k} x{n}" for k, n in level.errors.items()))
        calls_checked = load_integrity.check(engine, since)
        print(f"\nThe phone line, {label}, {workers} worker(s), {args.pacing.describe()}")
        print(table(LEVEL_HEADERS, level_rows(ran)))
        last = ran[-1]
        print(f"\nper step at {last.calls} calls:")
        print(table(["step", "n", "p50 ms", "p99 ms", "max ms"], step_rows(last)))
        held = [lv.calls for lv in ran]
        holds_to = 0
        for lv in ran:
            if not lv.holds:
                break
            holds_to = lv.calls
        booked_ivr = calls_checked.by_channel.get("ivr", 0)
        heard = sum(lv.booked for lv in [warm, *ran])
        print(
            f"holds up to {holds_to} concurrent calls (of {held}); callers who heard their "
            f"booking {heard}, IVR requests written {booked_ivr}"
        )
        capacity = max((lv.rate for lv in ran if lv.holds), default=None)
        if not args.pacing.realistic:
            # Harsh pacing: what the figures mean is the rate the line held, not the calls.
            said = f"{capacity:.1f} webhooks/s" if capacity is not None else "none of the levels"
            missed = [f"{lv.rate:.1f}/s at {lv.calls} calls" for lv in ran if not lv.holds]
            print(
                f"capacity (every step's p99 <= {TARGET_P99_MS:.0f} ms, no error, no apology): "
                f"{said}" + (f"; missed at {', '.join(missed)}" if missed else "")
            )
        out["capacity_webhooks_per_s"] = None if capacity is None else round(capacity, 1)
        if heard != booked_ivr:
            calls_checked.problems.append(
                f"{heard} callers heard their booking, {booked_ivr} IVR requests written"
            )
        print(integrity_line(calls_checked))  # with that problem too
        out["levels"] = [lv.to_json() for lv in ran]
        out["holds_up_to_calls"] = holds_to
        out["callers_heard_booked"] = heard
        out["integrity_after_calls"] = _integrity_json(calls_checked)
        if args.bookings > 0:
            print(f"\n{label}: console and API booking into one zone-day at once ...", flush=True)
            bookings = load_bookings.run(
                base,
                engine,
                sessions=args.sessions,
                api_clients=args.api_clients,
                each=args.bookings,
                seed=7 + len(levels),
            )
            print(load_bookings.report(bookings))
            out["bookings"] = bookings.to_json()
        final = load_integrity.check(engine, since)
        print(integrity_line(final))
        out["integrity"] = _integrity_json(final)
    tracebacks = log.read_text(errors="replace").count("Traceback") if log.exists() else 0
    out["server_tracebacks"] = tracebacks
    if tracebacks:
        print(f"the server logged {tracebacks} tracebacks: see {log.relative_to(REPO_ROOT)}")
    engine.dispose()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", nargs="+", choices=["pg", "sqlite"], default=["pg", "sqlite"])
    parser.add_argument(
        "--calls", type=int, nargs="+", default=[200], help="PostgreSQL's concurrent calls (a ramp)"
    )
    parser.add_argument("--workers", type=int, default=2, help="uvicorn workers on PostgreSQL")
    parser.add_argument(
        "--levels", type=int, nargs="+", default=[10, 25, 50, 100, 200], help="SQLite's ramp"
    )
    parser.add_argument(
        "--duration", type=float, default=0.0, help="seconds each line keeps calling (0: once)"
    )
    parser.add_argument(
        "--think",
        type=float,
        nargs=2,
        metavar=("MIN", "MAX"),
        help="harsh mode: MIN-MAX s before each answer whatever was said (the line's capacity)",
    )
    parser.add_argument(
        "--pace",
        type=float,
        default=1.0,
        help="realistic mode's speed: times the journeys model's waits (0.5: twice as fast)",
    )
    parser.add_argument("--sessions", type=int, default=6, help="console sessions booking")
    parser.add_argument("--api-clients", type=int, default=6, help="API clients booking")
    parser.add_argument("--bookings", type=int, default=5, help="bookings each (0: none)")
    parser.add_argument("--pg-url", default=os.environ.get("DOORSTEP_LOAD_POSTGRES", PG_SERVER))
    parser.add_argument("--name", default="load", help="var/bench/<name>.json")
    parser.add_argument(
        "--no-demo", action="store_true", help="seed J&K alone, without --demo (a quick run)"
    )
    args = parser.parse_args(argv)
    args.pacing = Pacing(scale=args.pace, think=tuple(args.think) if args.think else None)
    started = time.perf_counter()
    figures: dict[str, Any] = {
        "pacing": args.pacing.to_json(),
        "duration_s": args.duration,
        "target_p99_ms": TARGET_P99_MS,
        "load_average_at_start": list(os.getloadavg()),
    }
    if "pg" in args.parts:
        with scratch_postgres(args.pg_url, f"doorstep_load_{os.getpid()}") as url:
            figures["postgresql"] = run_database("postgresql", url, args.workers, args.calls, args)
    if "sqlite" in args.parts:
        db = REPO_ROOT / "var" / "bench" / f"{args.name}.db"
        db.parent.mkdir(parents=True, exist_ok=True)
        for suffix in ("", "-wal", "-shm"):
            db.with_name(db.name + suffix).unlink(missing_ok=True)
        figures["sqlite"] = run_database("sqlite", f"sqlite:///{db}", 1, args.levels, args)
    figures["wall_s"] = round(time.perf_counter() - started, 1)
    figures["load_average_at_end"] = list(os.getloadavg())
    path = write_json(args.name, figures)
    print(f"\nwritten to {path.relative_to(REPO_ROOT)} in {figures['wall_s']:.0f} s")
    ok = all(
        part["integrity"]["ok"]
        and part["integrity_after_calls"]["ok"]
        and part.get("bookings", {}).get("ok", True)
        for key in ("postgresql", "sqlite")
        if (part := figures.get(key))
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
