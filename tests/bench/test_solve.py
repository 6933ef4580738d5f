"""`python -m bench.solve`: the contracted JSON, a plan feasible in exact arithmetic, exit codes."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from routing.instances import bench_data_dir, read_vrptw

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_solve_prints_the_contracted_json_and_a_plan_feasible_in_exact_arithmetic() -> None:
    """`python -m bench.solve PATH --format solomon --time-limit S --json`, run as a user would;
    the plan is re-checked here with floating-point Euclidean travel (no shared code)."""
    path = bench_data_dir() / "solomon" / "RC101.txt"
    if not path.exists():
        pytest.skip(f"benchmark data not at {path}")
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.solve",
            str(path),
            "--format",
            "solomon",
            "--time-limit",
            "1",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        cwd=REPO_ROOT,
    )
    out = json.loads(run.stdout)
    assert set(out) == {"instance", "routes", "vehicles", "distance", "feasible", "wall_s"}
    inst = read_vrptw(path)
    assert out["instance"] == "RC101" and out["feasible"] is True
    served = sorted(c for route in out["routes"] for c in route)
    assert served == list(range(1, inst.customers + 1))
    assert out["vehicles"] == len(out["routes"]) <= inst.vehicles
    total = 0.0
    for route in out["routes"]:
        t, load, prev = 0.0, 0.0, 0
        for c in route:
            d = math.hypot(
                inst.coords[c][0] - inst.coords[prev][0], inst.coords[c][1] - inst.coords[prev][1]
            )
            total += d
            t = max(t + d, inst.ready[c])
            assert t <= inst.due[c] + 1e-9, (c, t, inst.due[c])
            t += inst.service[c]
            load += inst.demand[c]
            prev = c
        back = math.hypot(
            inst.coords[0][0] - inst.coords[prev][0], inst.coords[0][1] - inst.coords[prev][1]
        )
        total += back
        assert t + back <= inst.due[0] + 1e-9 and load <= inst.capacity
    assert out["distance"] == pytest.approx(total, rel=1e-9)
    assert isinstance(out["wall_s"], float)


def test_an_unreadable_file_exits_1_with_one_line_and_no_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_text("not an instance\n", encoding="utf-8")
    run = subprocess.run(
        [sys.executable, "-m", "bench.solve", str(bad), "--workers", "1"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO_ROOT,
    )
    assert run.returncode == 1
    assert run.stderr.startswith("cannot solve: ") and str(bad) in run.stderr
    assert "Traceback" not in run.stderr
