"""A search worker in a separate process, for the second core.

OR-Tools and the compiled string-removal kernels hold the GIL while they search, so a parallel
search needs a process. Holds `Worker`: one child process (forkserver context: the server
preloads the kernels, and OR-Tools too when the worker that starts it is for that engine, so a
child forks in milliseconds after the first start) that runs tasks -- a module-level function
and its arguments, all picklable -- one at a time, and sends back their results. The parent can
always abandon it: `close()` kills the child, so a late search never delays a return. It
decides nothing about which tasks to run.

A child ends with its parent, however the parent ends: it ignores Ctrl-C (the parent, which
gets it too, decides), and a watcher process forked from it kills it as soon as the parent is
gone (see `_end_with_parent`); the fork server then exits too, as it does once no process
holds its end of the pipe it watches.

The caller's entry script must be import-safe (``if __name__ == "__main__":``), as for any
non-fork multiprocessing; if the child cannot start, `Worker.start` returns None and the solve
goes on in one process.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection, wait
from typing import Any

_CONTEXT: Any = None
#: Modules the fork server imports once, so that each child starts with them loaded, by the
#: engine of the worker that starts the server. The server lives as long as the process and
#: keeps what it loaded first: an OR-Tools worker on a server started for "sisr" loads OR-Tools
#: in its child (~50 ms of its budget), a "sisr" solve never waits for OR-Tools to load.
_PRELOAD = {
    "sisr": ("routing.preload",),
    "ortools": ("routing.preload", "routing.solver_ortools"),
}

#: One unit of work: a module-level function and its positional arguments.
Task = tuple[Callable[..., Any], tuple[Any, ...]]


def _context(engine: str) -> Any:
    global _CONTEXT
    if _CONTEXT is None:
        ctx: Any
        try:
            ctx = multiprocessing.get_context("forkserver")
        except ValueError:  # platforms without forkserver
            ctx = multiprocessing.get_context("spawn")
        _CONTEXT = ctx
    if _CONTEXT.get_start_method() == "forkserver":
        # Takes effect only if this worker's start is the one that starts the server.
        _CONTEXT.set_forkserver_preload(list(_PRELOAD[engine]))
    return _CONTEXT


def _ping() -> bool:
    return True


def prestart(timeout: float = 60.0, engine: str = "sisr") -> bool:
    """Start the fork server now and wait until a child answers (the server preloads the
    kernels, and OR-Tools for `engine` "ortools", ~1 s), so that the first `Worker` of a solve
    does not spend its search budget on it. True if a child answered."""
    worker = Worker.start(engine)
    if worker is None:
        return False
    try:
        task = worker.submit(_ping)
        return task >= 0 and worker.results(time.monotonic() + timeout, {task}).get(task) is True
    finally:
        worker.close()


def _end_with_parent(conn: Connection) -> None:
    """Make this child end when its parent does, however the parent ends.

    Ctrl-C reaches the whole process group: the child ignores it and lets the parent decide
    (its `close()`, or its exit, ends the child). A parent killed outright (SIGKILL, or SIGTERM
    without a handler) runs no code at all, and a thread here could not act in time: a search
    may hold this process's GIL for seconds (OR-Tools does, for its whole search). So a watcher
    process forked from this one waits on the parent's sentinel (a pipe end only the parent
    holds: at EOF once the parent is gone) and on a pipe only this child holds, then kills this
    child if the parent went first, and exits either way.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    parent = multiprocessing.parent_process()
    sentinel = parent.sentinel if parent is not None else None
    if sentinel is None:
        return
    if not hasattr(os, "fork"):  # no fork (spawn fallback): a thread, which waits for the GIL
        threading.Thread(target=_exit_after, args=(sentinel,), daemon=True).start()
        return
    child = os.getpid()
    alive_r, alive_w = os.pipe()  # alive_w stays open, unused, until this child ends
    if os.fork() == 0:  # the watcher: nothing but waiting, then os._exit
        try:
            os.close(alive_w)
            os.close(conn.fileno())  # the parent must see EOF as soon as the child is gone
            ready = wait([sentinel, alive_r])
            if alive_r not in ready and os.getppid() == child:
                os.kill(child, signal.SIGKILL)
        finally:
            os._exit(0)
    os.close(alive_r)


def _exit_after(sentinel: int) -> None:
    wait([sentinel])
    os._exit(0)


def _main(conn: Connection) -> None:
    _end_with_parent(conn)
    try:
        while True:
            batch = conn.recv()
            if batch is None:
                return
            # The whole batch is read before searching: the parent's send must never wait for
            # a search to end (it would stall the parent's own searches).
            for task_id, fn, args in batch:
                try:
                    result = fn(*args)
                except Exception:  # the parent goes on without this result
                    traceback.print_exc()
                    result = None
                conn.send((task_id, result))
    except (EOFError, OSError, KeyboardInterrupt):
        return
    finally:
        conn.close()


class Worker:
    """One child process running searches; results are matched to tasks by id.

    Starting a forkserver child blocks until the server has loaded the kernels (and OR-Tools,
    for an "ortools" worker; ~1 s the first time in a process), so the start runs in a
    background thread: the caller goes on building its own plan, and tasks submitted before the
    child is up are queued and sent as soon as it is (their deadlines are absolute, so a late
    start only shortens them).
    """

    def __init__(self, process: Any, conn: Connection, child: Connection) -> None:
        self._process = process
        self._conn = conn
        self._child = child
        self._next_id = 0
        self._started = threading.Event()
        self._failed = False
        self._closed = False
        self._lock = threading.Lock()
        self._pending: list[list[tuple[int, Callable[..., Any], tuple[Any, ...]]]] = []
        self._thread = threading.Thread(target=self._start, name="routing-worker", daemon=True)
        self._thread.start()

    def _start(self) -> None:
        try:
            self._process.start()
        except Exception:  # no second core then: e.g. an unguarded entry script
            self._failed = True
            return
        finally:
            self._child.close()
        with self._lock:
            if self._closed:
                self._started.set()
                self._stop()
                return
            try:
                for batch in self._pending:
                    self._conn.send(batch)
            except (OSError, ValueError):
                self._failed = True
            self._pending.clear()
            self._started.set()

    @classmethod
    def start(cls, engine: str = "sisr") -> Worker | None:
        """A worker for searches of `engine` (what its fork server preloads, if it starts it),
        starting in the background; None if this process may not have children."""
        ctx = _context(engine)
        if multiprocessing.current_process().daemon:
            return None  # daemonic processes may not have children
        parent, child = ctx.Pipe(duplex=True)
        process = ctx.Process(target=_main, args=(child,), daemon=True)
        return cls(process, parent, child)

    @property
    def ready(self) -> bool:
        return self._started.is_set() and not self._failed

    def wait_ready(self, timeout: float) -> bool:
        """Wait up to `timeout` s for the child to be up. Call it before a long OR-Tools call
        in this process: OR-Tools holds the GIL, so the start thread would stall meanwhile."""
        self._started.wait(max(0.0, timeout))
        return self.ready

    def submit(self, fn: Callable[..., Any], *args: Any) -> int:
        """Queue `fn(*args)`; returns its task id, or -1 if the child could not be started."""
        return self.submit_many([(fn, args)])[0]

    def submit_many(self, tasks: list[Task]) -> list[int]:
        """Queue searches to run one after the other, sent as one message; their task ids
        (all -1 if the child could not be started)."""
        with self._lock:
            if self._failed or self._closed:
                return [-1] * len(tasks)
            batch = []
            for fn, args in tasks:
                self._next_id += 1
                batch.append((self._next_id, fn, args))
            ids = [t[0] for t in batch]
            if not self._started.is_set():
                self._pending.append(batch)
                return ids
            try:
                self._conn.send(batch)
            except (OSError, ValueError):
                return [-1] * len(tasks)
            return ids

    def results(self, until: float, wanted: set[int]) -> dict[int, Any]:
        """Results of the `wanted` tasks that arrive before `until` (time.monotonic())."""
        got: dict[int, Any] = {}
        while wanted - set(got):
            if self._failed:
                break
            if not self._started.is_set():
                # Not up yet: wait for the start (or the deadline), then for results.
                self._started.wait(max(0.0, min(0.05, until - time.monotonic())))
                if time.monotonic() >= until:
                    break
                continue
            timeout = until - time.monotonic()
            try:
                if timeout <= 0 or not self._conn.poll(timeout):
                    break
                task_id, result = self._conn.recv()
            except (EOFError, OSError):
                break
            if task_id in wanted:
                got[task_id] = result
        return got

    def _stop(self) -> None:
        try:
            self._conn.close()
        finally:
            if self._process.is_alive():
                self._process.kill()
            self._process.join(timeout=1.0)

    def close(self) -> None:
        """Stop the child now, whatever it is doing (or as soon as it has started)."""
        with self._lock:
            self._closed = True
            if self._started.is_set():
                self._stop()
            elif self._failed:
                self._conn.close()
