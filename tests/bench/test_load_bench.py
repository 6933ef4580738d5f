"""`python -m bench.load`: a handful of calls and bookings against a real server (`uvicorn`
over loopback HTTP: one worker on SQLite; two on a scratch PostgreSQL database when
DOORSTEP_TEST_POSTGRES_URL is set), and its checks of the database afterwards pass. The
figures are the bench's to report: nothing here is timed."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from bench import load
from tests.conftest import ENGINES, POSTGRES_URL

REPO_ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


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
