"""IVR step latency: 50 concurrent simulated calls against `doorstep serve` on SQLite.

Sets up a fresh SQLite database (migrated, seeded) under var/bench/, starts the server as a
separate process (one uvicorn worker, the default set-up), and runs `--calls` callers at once
through the signed webhooks, each booking a visit end to end: language, main menu, service (by
keypad or, for half the callers, by speech), the village's PIN code, the village on it, a
landmark, the earliest window offered with the fee (one key books it), the confirmation, and
the status callback. Callers pause between steps as people do: they listen to the prompts
(`--think`, default 2-6 s, is less than real callers take). Latency is measured at the
caller, per webhook, and reported as p50/p99 overall and per step, the window offer and the
booking included.

    .venv/bin/python -m bench.ivr [--calls 50] [--think 2 6]

Prints the figures and writes var/bench/ivr.json. A benchmark, not a test: target p99 <= 300 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlmodel import Session

from bench.common import REPO_ROOT, table, wait_until_up, write_json
from dispatch import migrate, seed
from dispatch.config import Settings
from dispatch.db import make_engine, read_session, write_session
from dispatch.geography import service as geography_service
from ivr.flow import PAGE_SIZE
from ivr.standin import new_call_sid, parse_twiml, signed_headers, twilio_params

TOKEN = "bench-auth-token"
TARGET_P99_MS = 300.0


@dataclass
class Route:
    """Where one simulated caller lives: its village's PIN code, and the key that picks the
    village from those sharing that PIN code (as the line reads them out)."""

    pincode: str
    village_key: str
    village: str


@dataclass
class Timings:
    by_step: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    booked: int = 0
    taken: int = 0  # a window taken by another caller first (then re-offered)
    failed: int = 0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def prepare_database(path: Path) -> list[Route]:
    """A fresh, seeded SQLite database; the routes callers take: in each of the first eight
    districts, the first village (of its first block having one) with a PIN code that the
    line's village menu lists on its first page."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    engine = make_engine(f"sqlite:///{path}")
    migrate.upgrade(engine)
    with write_session(engine) as session:
        seed.load(session=session, seed_dir=REPO_ROOT / "seed_data", states=["JK"])
    routes = []
    with read_session(engine) as session:
        districts = geography_service.districts(session=session, state_code="JK")[:8]
        for district in districts:
            assert district.id is not None
            route = _route(session, district.id)
            if route is not None:
                routes.append(route)
    engine.dispose()
    if not routes:
        raise SystemExit("no village with a PIN code in the seed data")
    return routes


def _route(session: Session, district_id: int) -> Route | None:
    for block in geography_service.blocks(session=session, district_id=district_id):
        assert block.id is not None
        for village in geography_service.villages(session=session, block_id=block.id):
            if not village.pincode:
                continue
            sharing = geography_service.places_with_pincode(
                session=session, state_code="JK", pincode=village.pincode
            )
            key = [p.village.id for p in sharing].index(village.id) + 1
            if key <= PAGE_SIZE:
                return Route(village.pincode, str(key), village.name)
    return None


def start_server(db: Path, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DOORSTEP_DATABASE_URL": f"sqlite:///{db}",
        "DOORSTEP_PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "DOORSTEP_TWILIO_AUTH_TOKEN": TOKEN,
        "DOORSTEP_SCHEDULER": "false",
    }
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "web.app:create_app",
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]
    return subprocess.Popen(command, env=env, cwd=REPO_ROOT)


#: What a caller answers at each step (the step is read from the action URL); "say:" is speech.
def _answer(step: str, route: Route, by_speech: bool) -> str:
    return {
        "language": "1",
        "main_menu": "1",
        "service_menu": "say:आय प्रमाण पत्र" if by_speech else "2",
        "service_heard": "1",
        "pincode": route.pincode,
        "pin_village": route.village_key,
        "landmark": "say:सरकारी स्कूल के पास",
        "offer": "1",
        "confirmation": "",
    }.get(step, "0")


#: Labels for the steps whose answer does the heavy work.
LABELS = {
    "landmark": "landmark -> window offer",
    "offer": "offer taken -> log + charge + book",
}


async def one_call(
    client: httpx.AsyncClient,
    settings: Settings,
    route: Route,
    timings: Timings,
    rng: random.Random,
    think: tuple[float, float],
) -> None:
    caller = f"+9198{rng.randrange(10**8):08d}"
    sid = new_call_sid()
    by_speech = rng.random() < 0.5

    async def post(url: str, label: str, **extra: str) -> list[dict[str, object]]:
        params = twilio_params(settings, call_sid=sid, caller=caller, called="1447", **extra)
        path = url[len(settings.public_base_url) :]
        headers = signed_headers(settings, url, params)
        started = time.perf_counter()
        response = await client.post(path, data=params, headers=headers)
        timings.by_step[label].append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
        return parse_twiml(response.text)

    await asyncio.sleep(rng.uniform(0, think[1]))  # callers do not all ring at once
    verbs = await post(settings.public_base_url + "/ivr/voice/incoming", "incoming")
    heard: list[str] = []
    for _turn in range(25):
        heard += [str(v.get("text", "")) for v in verbs]
        heard += [str(c.get("text", "")) for v in verbs for c in v.get("children", [])]  # type: ignore[attr-defined]
        gather = verbs[-1] if verbs else {}
        if gather.get("verb") != "gather":
            break
        step = str(gather["action"]).split("/answer/")[1].split("?")[0]
        answer = _answer(step, route, by_speech)
        await asyncio.sleep(rng.uniform(*think))
        extra = {"SpeechResult": answer[4:]} if answer.startswith("say:") else {"Digits": answer}
        verbs = await post(str(gather["action"]), LABELS.get(step, step), **extra)
    await post(
        settings.public_base_url + "/ivr/voice/status",
        "status callback",
        CallStatus="completed",
        CallDuration="180",
    )
    said = " ".join(heard)
    booked = "आपकी बुकिंग पक्की हो गई" in said
    timings.booked += booked
    timings.failed += not booked
    timings.taken += "समय अभी-अभी भर गया" in said


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


async def run(calls: int, think: tuple[float, float], base: str, routes: list[Route]) -> Timings:
    settings = Settings(public_base_url=base, twilio_auth_token=TOKEN)
    timings = Timings()
    rng = random.Random(1447)
    limits = httpx.Limits(max_connections=calls, max_keepalive_connections=calls)
    async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as client:
        await asyncio.gather(
            *(
                one_call(
                    client,
                    settings,
                    routes[i % len(routes)],
                    timings,
                    random.Random(rng.random()),
                    think,
                )
                for i in range(calls)
            )
        )
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=50, help="concurrent simulated calls")
    parser.add_argument(
        "--think",
        type=float,
        nargs=2,
        default=(2.0, 6.0),
        metavar=("MIN", "MAX"),
        help="seconds a caller takes per step (real callers listen to prompts for 5-15 s)",
    )
    args = parser.parse_args()
    db = REPO_ROOT / "var" / "bench" / "ivr.db"
    db.parent.mkdir(parents=True, exist_ok=True)
    routes = prepare_database(db)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    server = start_server(db, port)
    try:
        wait_until_up(base, server, "/simulator")
        started = time.perf_counter()
        timings = asyncio.run(run(args.calls, tuple(args.think), base, routes))
        wall = time.perf_counter() - started
    finally:
        server.terminate()
        server.wait(timeout=10)
    every = [ms for values in timings.by_step.values() for ms in values]
    rows = [
        (label, len(v), statistics.median(v), percentile(v, 0.99), max(v))
        for label, v in timings.by_step.items()
    ]
    rows.append(
        ("ALL STEPS", len(every), statistics.median(every), percentile(every, 0.99), max(every))
    )
    print(f"IVR step latency, {args.calls} concurrent calls, SQLite, one uvicorn worker")
    print(table(["step", "n", "p50 ms", "p99 ms", "max ms"], rows))
    p99 = percentile(every, 0.99)
    verdict = "meets" if p99 <= TARGET_P99_MS else "misses"
    print(
        f"{len(every)} webhooks in {wall:.1f} s ({len(every) / wall:.1f}/s); booked "
        f"{timings.booked}/{args.calls} calls ({timings.taken} after a window was taken); "
        f"p99 {p99:.0f} ms {verdict} the {TARGET_P99_MS:.0f} ms target"
    )
    path = write_json(
        "ivr",
        {
            "calls": args.calls,
            "think_s": list(args.think),
            "database": "sqlite",
            "booked": timings.booked,
            "window_taken_then_booked": timings.taken,
            "not_booked": timings.failed,
            "webhooks_per_s": round(len(every) / wall, 1),
            "wall_s": round(wall, 2),
            "p50_ms": round(statistics.median(every), 1),
            "p99_ms": round(p99, 1),
            "target_p99_ms": TARGET_P99_MS,
            "steps": {
                label: {
                    "n": len(v),
                    "p50_ms": round(statistics.median(v), 1),
                    "p99_ms": round(percentile(v, 0.99), 1),
                    "max_ms": round(max(v), 1),
                }
                for label, v in timings.by_step.items()
            },
        },
    )
    print(f"written to {path.relative_to(REPO_ROOT)}")


if __name__ == "__main__":
    main()
