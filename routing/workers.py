"""A search worker in a separate process, for the second core.

OR-Tools holds the GIL while it searches, so a parallel search needs a process. Holds `Worker`:
one child process (forkserver context preloading OR-Tools, so it forks in milliseconds after the
first start) that runs `routing.solver_ortools.search` on (problem, spec) tasks, one at a time,
and sends back the routes. The parent can always abandon it: `close()` kills the child, so a
late search never delays a return. It decides nothing about which tasks to run.

The caller's entry script must be import-safe (``if __name__ == "__main__":``), as for any
non-fork multiprocessing; if the child cannot start, `Worker.start` returns None and the solve
goes on in one process.
"""

from __future__ import annotations

import multiprocessing
import time
from multiprocessing.connection import Connection
from typing import Any

from routing.model import Problem
from routing.solver_ortools import SearchSpec, search

Routes = tuple[tuple[int, ...], ...]

_CONTEXT: Any = None


def _context() -> Any:
    global _CONTEXT
    if _CONTEXT is None:
        ctx: Any
        try:
            ctx = multiprocessing.get_context("forkserver")
            ctx.set_forkserver_preload(["routing.solver_ortools"])
        except ValueError:  # platforms without forkserver
            ctx = multiprocessing.get_context("spawn")
        _CONTEXT = ctx
    return _CONTEXT


def _main(conn: Connection) -> None:
    try:
        while True:
            task = conn.recv()
            if task is None:
                return
            task_id, problem, spec = task
            out = search(problem, spec)
            conn.send((task_id, out.routes))
    except (EOFError, OSError, KeyboardInterrupt):
        return
    finally:
        conn.close()


class Worker:
    """One child process running searches; results are matched to tasks by id."""

    def __init__(self, process: Any, conn: Connection) -> None:
        self._process = process
        self._conn = conn
        self._next_id = 0

    @classmethod
    def start(cls) -> Worker | None:
        ctx = _context()
        parent, child = ctx.Pipe(duplex=True)
        process = ctx.Process(target=_main, args=(child,), daemon=True)
        try:
            process.start()
        except (OSError, RuntimeError):
            parent.close()
            child.close()
            return None
        child.close()
        return cls(process, parent)

    def submit(self, problem: Problem, spec: SearchSpec) -> int:
        """Queue a search; returns its task id."""
        self._next_id += 1
        try:
            self._conn.send((self._next_id, problem, spec))
        except (OSError, ValueError):
            return -1
        return self._next_id

    def results(self, until: float, wanted: set[int]) -> dict[int, Routes | None]:
        """Results of the `wanted` tasks that arrive before `until` (time.monotonic())."""
        got: dict[int, Routes | None] = {}
        while wanted - set(got):
            timeout = until - time.monotonic()
            try:
                if timeout <= 0 or not self._conn.poll(timeout):
                    break
                task_id, routes = self._conn.recv()
            except (EOFError, OSError):
                break
            if task_id in wanted:
                got[task_id] = routes
        return got

    def close(self) -> None:
        """Stop the child now, whatever it is doing."""
        try:
            self._conn.close()
        finally:
            if self._process.is_alive():
                self._process.kill()
            self._process.join(timeout=1.0)
