"""`python -m bench.console`: a short run books a known and a new caller by keyboard in
Chromium, checks both landed, and writes its figures (the KLM estimate beside the target)."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.browser


def test_the_console_bench_books_two_callers_by_keyboard_and_writes_its_figures() -> None:
    """Run as a user would, under a name of its own (the real figures stay untouched); the
    estimate is K per keystroke plus M per step plus the machine time, pointing never."""
    name = f"console-test-{uuid.uuid4().hex[:8]}"
    out = REPO_ROOT / "var" / "bench"
    try:
        run = subprocess.run(
            [sys.executable, "-m", "bench.console", "--callers", "2", "--name", name],
            capture_output=True,
            text=True,
            timeout=180,
            cwd=REPO_ROOT,
        )
        assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
        figures = json.loads((out / f"{name}.json").read_text())
    finally:
        for path in out.glob(f"{name}*"):
            path.unlink()
    assert "NOT included" in run.stdout and "60 s target" in run.stdout
    assert (figures["known"], figures["new"], figures["conversation_included"]) == (1, 1, False)
    klm = figures["klm"]
    steps = len(klm["m_per_booking"])
    assert {b["kind"] for b in figures["bookings"]} == {"known", "new"}
    for booking in figures["bookings"]:
        assert booking["reference"].startswith("JK-") and booking["pointer_actions"] == 0
        assert booking["keystrokes"] >= 10 + 3 + 1  # phone digits, service letters, Enter
        assert booking["round_trips"] >= 5  # caller, service, windows, book, next caller
        expected = klm["k_s"] * booking["keystrokes"] + klm["m_s"] * steps + booking["machine_s"]
        assert booking["klm_s"] == pytest.approx(expected, abs=0.01)
    new = next(b for b in figures["bookings"] if b["kind"] == "new")
    known = next(b for b in figures["bookings"] if b["kind"] == "known")
    assert new["keystrokes"] > known["keystrokes"]  # a name and an address typed
