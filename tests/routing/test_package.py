"""The package's public names, and OR-Tools loaded only when its engine is chosen."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import routing

REPO_ROOT = Path(__file__).resolve().parents[2]

# A fresh interpreter: importing `routing` and solving with the default engine, on one core and
# on two (the worker's fork server must not load OR-Tools for it either), never imports ortools.
DEFAULT_ENGINE_SOLVE = """
import sys

import routing
from tests.routing.tiny import agent, problem, visit

if __name__ == "__main__":
    assert "ortools" not in sys.modules, "import routing"
    p = problem([agent()], [visit("v1", 5), visit("v2", 9)])
    for workers in (1, 2):
        result = routing.solve(p, routing.SearchParameters(time_limit_s=0.5, workers=workers))
        assert routing.check(p, result.plan) == []
        assert len(result.plan.routes[0].stops) == 2
    assert "ortools" not in sys.modules, "solve"
    import routing.preload  # what the workers' fork server imported for these solves

    assert "ortools" not in sys.modules, "routing.preload"
    print("ok")
"""


def test_every_public_name_is_there() -> None:
    assert all(getattr(routing, name) is not None for name in routing.__all__)
    assert {"Problem", "SearchParameters", "solve", "Result", "SlotFinder", "check"} <= set(
        routing.__all__
    )


def test_the_default_engine_never_imports_ortools() -> None:
    run = subprocess.run(
        [sys.executable, "-c", DEFAULT_ENGINE_SOLVE],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO_ROOT,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "ok"
