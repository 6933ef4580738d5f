"""The command line: migrate and seed a fresh database, refuse a bad seed, list commands."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlmodel import Session, func, select

from dispatch.config import REPO_ROOT, get_settings
from dispatch.db import make_engine
from dispatch.requests.models import DoorstepRequest
from dispatch.states.models import State
from web import cli


@pytest.fixture
def fresh_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    monkeypatch.setenv("DOORSTEP_DATABASE_URL", url)
    get_settings.cache_clear()
    yield url  # type: ignore[misc]
    get_settings.cache_clear()


def test_help_lists_the_commands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    out = capsys.readouterr().out
    for command in ("migrate", "seed", "serve", "solve"):
        assert command in out


def test_migrate_then_seed_demo_on_a_fresh_database(
    fresh_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["migrate"]) == 0
    assert cli.main(["seed", "--demo"]) == 0
    assert cli.main(["seed", "--demo"]) == 0  # twice: nothing new
    engine = make_engine(fresh_db)
    with Session(engine) as s:
        assert {st.code for st in s.exec(select(State))} == {"JK", "PB"}
        demo = list(s.exec(select(DoorstepRequest)))
        assert demo and all(r.status == "assigned" and r.planned_arrival for r in demo)
    engine.dispose()
    assert "already present" in capsys.readouterr().out


def test_bad_seed_exits_nonzero_and_names_the_line(
    fresh_db: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    seed_dir = tmp_path / "seed"
    shutil.copytree(REPO_ROOT / "seed_data", seed_dir)
    districts = seed_dir / "jk" / "districts.csv"
    lines = districts.read_text(encoding="utf-8").splitlines()
    lines[3] = lines[3] + ",extra"
    districts.write_text("\n".join(lines) + "\n", encoding="utf-8")
    monkeypatch.setenv("DOORSTEP_SEED_DIR", str(seed_dir))
    get_settings.cache_clear()
    assert cli.main(["migrate"]) == 0
    assert cli.main(["seed"]) == 1
    err = capsys.readouterr().err
    assert "districts.csv:4" in err and "nothing was loaded" in err
    engine = make_engine(fresh_db)
    with Session(engine) as s:
        assert s.exec(select(func.count()).select_from(State)).one() == 0
    engine.dispose()


def test_solve_prints_the_contracted_json_and_a_plan_feasible_in_exact_arithmetic() -> None:
    """`doorstep solve PATH --format solomon --time-limit S --json`, run as a user would; the
    plan is re-checked here with floating-point Euclidean travel (no shared code)."""
    import json
    import math
    import subprocess
    import sys

    from routing.instances import bench_data_dir, read_vrptw

    path = bench_data_dir() / "solomon" / "RC101.txt"
    if not path.exists():
        pytest.skip(f"benchmark data not at {path}")
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "web.cli",
            "solve",
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
