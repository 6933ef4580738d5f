"""`python -m bench.state_day` on a tiny state (2 districts x 3 agents x 15 visits): every run
(local processes and Dramatiq workers, 1 and 2 each) plans every zone-day, the checker passes
every plan, and the figures it writes add up."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from bench import state_day
from bench.common import REPO_ROOT


def test_the_state_day_bench_plans_every_zone_day_in_every_mode(tmp_path: Path) -> None:
    name = f"state-day-test-{uuid.uuid4().hex[:8]}"
    out = REPO_ROOT / "var" / "bench" / f"{name}.json"
    args = ["--districts", "2", "--agents", "3", "--visits", "15", "--time-limit", "0.3"]
    try:
        assert state_day.main([*args, "--workdir", str(tmp_path), "--name", name]) == 0
        figures = json.loads(out.read_text())
    finally:
        out.unlink(missing_ok=True)
    assert (figures["districts"], figures["visits_per_district"]) == (2, 15)
    runs = figures["runs"]
    # Redis answers on every machine the tests run on (as tests/web/test_solving.py needs).
    assert {(r["mode"], r["processes"]) for r in runs} == {
        ("local", 1),
        ("local", 2),
        ("dramatiq", 1),
        ("dramatiq", 2),
    }
    for run in runs:
        assert run["zone_days"] == 2 and run["visits"] == 30
        assert run["checked"] == 2 and run["violations"] == 0  # every plan passed the checker
        assert run["assigned"] + run["unassigned"] == 30 and run["assigned"] > 0
        assert run["wall_s"] > 0
    assert set(figures["speedup"]) == {"local", "dramatiq"}
    assert figures["target_speedup"] == state_day.LINEAR_SHARE * min(2, figures["cores"])
