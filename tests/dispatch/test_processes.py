"""A child started with `die_with_parent` ends with its parent, however the parent ends, and
prints nothing on Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from dispatch.config import REPO_ROOT

PARENT = """
import multiprocessing, time
from dispatch.processes import die_with_parent

if __name__ == "__main__":
    ctx = multiprocessing.get_context("forkserver")
    from concurrent.futures import ProcessPoolExecutor
    pool = ProcessPoolExecutor(1, mp_context=ctx, initializer=die_with_parent)
    pool.submit(time.sleep, 600)
    time.sleep(0.5)
    print(" ".join(str(p) for p in pool._processes), flush=True)
    time.sleep(600)
"""


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    with open(f"/proc/{pid}/stat") as stat:  # a zombie waiting for its reaper is gone too
        return stat.read().split()[2] == "Z"


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM])
def test_the_solver_child_ends_with_its_parent(how: signal.Signals) -> None:
    with subprocess.Popen(
        [sys.executable, "-c", PARENT],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as parent:
        try:
            assert parent.stdout is not None and parent.stderr is not None
            children = [int(p) for p in parent.stdout.readline().split()]
            assert children and not any(_gone(c) for c in children)
            parent.send_signal(how)
            parent.wait(timeout=10)
            deadline = time.monotonic() + 5
            while not all(_gone(c) for c in children) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert all(_gone(c) for c in children)
            assert "Traceback" not in parent.stderr.read()
        finally:
            parent.kill()
