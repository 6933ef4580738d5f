"""The worker process: results come back by task id, a failing task costs only its result,
and the child never outlives the process that started it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from routing.workers import Worker, prestart


def double(x: int) -> int:
    return 2 * x


def fail() -> int:
    raise RuntimeError("a bug in a search")


def test_results_by_id_and_a_failing_task_does_not_stop_the_worker() -> None:
    assert prestart()
    worker = Worker.start()
    assert worker is not None
    try:
        ids = worker.submit_many([(double, (3,)), (fail, ()), (double, (5,))])
        got = worker.results(time.monotonic() + 30, set(ids))
        assert got == {ids[0]: 6, ids[1]: None, ids[2]: 10}
    finally:
        worker.close()


def test_close_abandons_a_running_task_at_once() -> None:
    worker = Worker.start()
    assert worker is not None
    worker.submit(time.sleep, 30)
    t0 = time.monotonic()
    worker.close()
    assert time.monotonic() - t0 < 2


# A parent process that starts a worker on a task holding the GIL for hours (as an OR-Tools
# search holds it for its whole run), prints the child's pid and its parent's (the fork
# server), then waits to be killed. Ctrl-C is restored: a shell's background job ignores it.
PARENT = """
import os, signal, sys, time
from routing.workers import Worker

if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.default_int_handler)
    worker = Worker.start()
    ids = worker.submit_many([(os.getpid, ()), (os.getppid, ()), (sum, (range(10**15),))])
    got = worker.results(time.monotonic() + 60, set(ids[:2]))
    try:  # the signal may come as soon as the line is out
        print(got[ids[0]], got[ids[1]], flush=True)
        time.sleep(60)
    except KeyboardInterrupt:
        sys.exit(130)  # quietly: only a child's traceback would show
"""


def _alive(pid: int) -> bool:
    """True while `pid` runs; a zombie (dead, not yet reaped by its new parent) does not."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:  # no /proc: trust kill
        return True
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.mark.parametrize(
    "sig", [signal.SIGKILL, signal.SIGTERM, signal.SIGINT], ids=["kill", "term", "ctrl-c"]
)
def test_the_child_and_the_fork_server_end_with_their_parent(sig: signal.Signals) -> None:
    """However the parent ends -- killed, terminated, or Ctrl-C to its whole process group --
    the busy child and the fork server are gone within seconds, and nothing prints a traceback."""
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a terminal's foreground job
    )
    child = server = 0
    try:
        assert parent.stdout is not None
        line = parent.stdout.readline()
        assert line, parent.stderr.read() if parent.stderr else "the parent said nothing"
        child, server = map(int, line.split())
        if sig == signal.SIGINT:
            os.killpg(parent.pid, sig)
        else:
            parent.send_signal(sig)
        _, err = parent.communicate(timeout=10)
        t0 = time.monotonic()
        while (_alive(child) or _alive(server)) and time.monotonic() - t0 < 3:
            time.sleep(0.02)
        assert not _alive(child) and not _alive(server)
        assert "Traceback" not in err, err
    finally:  # leave nothing running, even when the test fails
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        for pid in (child, server):
            if pid and _alive(pid):
                os.kill(pid, signal.SIGKILL)
