"""`python -m bench.load`: a handful of calls and bookings against a real server (`doorstep
serve` over loopback HTTP: one worker on SQLite; two on a scratch PostgreSQL database when
DOORSTEP_TEST_POSTGRES_URL is set), and its checks of the database afterwards pass; its
callers answer when people would. The figures are the bench's to report: nothing here is
timed."""

from __future__ import annotations

import json
import random
import uuid
from pathlib import Path

import pytest

from bench import journeys, load
from ivr.standin import parse_twiml
from tests.conftest import ENGINES, POSTGRES_URL

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.parametrize("database", ENGINES)
def test_a_short_load_run_books_every_caller_and_leaves_nothing_half_written(database: str) -> None:
    """Three callers, then a console session and an API client booking into one zone-day at
    once: every caller heard their booking, every booking answered OK was written once and
    planned, and every request of the run has its audit trail, charge and visit."""
    name = f"load-test-{uuid.uuid4().hex[:8]}"
    out = REPO_ROOT / "var" / "bench"
    argv = ["--think", "0.05", "0.2", "--no-demo", "--name", name]
    argv += ["--sessions", "1", "--api-clients", "1", "--bookings", "2"]
    if database == "sqlite":
        argv += ["--parts", "sqlite", "--levels", "3"]
    else:
        argv += ["--parts", "pg", "--calls", "3", "--workers", "2", "--pg-url", POSTGRES_URL]
    try:
        status = load.main(argv)
        figures = json.loads((out / f"{name}.json").read_text())
    finally:
        for path in out.glob(f"{name}*"):
            path.unlink()
    part = figures["sqlite" if database == "sqlite" else "postgresql"]
    (level,) = part["levels"]
    assert (level["calls"], level["placed"], level["booked"]) == (3, 3, 3)
    assert level["errors"] == {} and level["apologies"] == 0
    assert part["callers_heard_booked"] == 3 + part["warm_up_calls"]
    bookings = part["bookings"]
    assert (bookings["asked"], bookings["booked"], bookings["failed"]) == (4, 4, {})
    assert bookings["booked_by_channel"] == {"console": 2, "api": 2}
    assert bookings["ok"] and bookings["problems"] == []
    integrity = part["integrity"]
    assert integrity["ok"] and integrity["problems"] == []
    made = 3 + part["warm_up_calls"] + 4
    assert integrity["requests"] == integrity["scheduled_with_visit"] == made
    assert integrity["charges"] == made  # one each, and no charge without a request
    assert part["server_tracebacks"] == 0
    assert status == 0


MENU = parse_twiml(
    '<Response><Gather action="https://x.in/ivr/voice/answer/main_menu" language="en-IN" '
    'timeout="6"><Say language="en-IN">Welcome to doorstep services. For a visit at your '
    "door, press 1. To hear about a request, press 2.</Say></Gather></Response>"
)


def _said_s(text: str) -> float:
    return len(text.split()) / journeys.WPM["en-IN"] * 60


def test_realistic_pacing_answers_when_a_caller_would() -> None:
    """The default pacing is `bench.journeys`' model: a menu key after the sentence offering
    it, a number or speech before the first option, silence after every word and the gather's
    timeout; `--pace` scales it; the harsh mode ignores what was said."""
    rng = random.Random(1)
    welcome, first, second = (
        "Welcome to doorstep services.",
        "For a visit at your door, press 1.",
        "To hear about a request, press 2.",
    )
    paced = load.Pacing()
    key_1 = paced.wait_s(MENU, "1", rng)
    assert key_1 == pytest.approx(
        _said_s(welcome) + _said_s(first) + journeys.THINK_S + journeys.KEY_S
    )
    assert paced.wait_s(MENU, "2", rng) == pytest.approx(key_1 + _said_s(second))
    pin = paced.wait_s(MENU, "190003", rng)
    assert pin == pytest.approx(_said_s(welcome) + journeys.THINK_S + 6 * journeys.KEY_S)
    spoken = paced.wait_s(MENU, "say:income certificate", rng)
    assert spoken == pytest.approx(
        _said_s(welcome) + journeys.THINK_S + _said_s("income certificate") + journeys.SPEECH_END_S
    )
    silent = paced.wait_s(MENU, "", rng)
    assert silent == pytest.approx(_said_s(f"{welcome} {first} {second}") + 6)
    assert load.Pacing(scale=0.5).wait_s(MENU, "1", rng) == pytest.approx(key_1 / 2)
    harsh = load.Pacing(think=(1.0, 4.0))
    assert all(1.0 <= harsh.wait_s(MENU, "1", rng) <= 4.0 for _ in range(50))
    assert paced.realistic and not harsh.realistic
