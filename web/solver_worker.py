"""`doorstep solver-worker`: a solver machine's processes, taking zone solves off the queue.

With `DOORSTEP_BROKER_URL` set, the scheduler sends each zone solve as a Dramatiq message
through Redis (`web.solving.DramatiqQueue`); any number of machines run this command to solve
them, each with its own settings (`DOORSTEP_DATABASE_URL`, `DOORSTEP_BROKER_URL`). Each process
runs one Dramatiq `Worker` on the solve queue with `threads` threads (the solver holds the GIL:
processes, not threads, solve side by side) and fetches no more messages than it has threads,
so a busy process leaves the queue to the idle ones.

`run` with one process serves in this process; with more it starts them as children
(forkserver, ending with their parent) and starts another in place of one that died (but
stops if one fails as it starts: a setup error would only fail again). SIGTERM
or Ctrl-C stops cleanly: the solve in hand finishes and saves, messages fetched but not begun go
back to the queue; a second signal leaves at once (the solve in hand is handed out again once
its lease lapses).

A process killed outright (a machine lost) leaves its message unacknowledged: Dramatiq's Redis
broker gives it to another worker once the dead one's heartbeats have stopped for a minute,
and the loop hands the zone-day out again anyway once its lease lapses. Redis restarted: the
workers reconnect on their own; messages it lost are handed out again by the loop.

Not here: the message and its actor (`web.solving`), the solve (`dispatch.visits.replan`).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
import time
from types import FrameType

from dramatiq import Worker

from dispatch.config import Settings
from dispatch.processes import die_with_parent
from web import logs, solving

log = logging.getLogger(__name__)
#: How long a stopping worker lets the solve in hand finish.
STOP_WAIT_S = 180.0
#: A child that fails (exits with an error, not killed) sooner than this after it started is
#: not started again: something is wrong with this machine's setup, not with one solve.
QUICK_DEATH_S = 10.0
#: How often an idle worker asks Redis for a message (and the parent looks at its children).
POLL_MS = 1000


def serve(settings: Settings, *, threads: int, stop: threading.Event) -> None:
    """Solve messages in this process until `stop` is set, then stop cleanly."""
    broker = solving.make_broker(settings)
    solving.solve_actor(broker, settings)
    broker.emit_after("process_boot")  # starts the time-limit watchdog, as Dramatiq's CLI does
    worker = Worker(
        broker, queues={solving.QUEUE_NAME}, worker_threads=threads, worker_timeout=POLL_MS
    )
    # Dramatiq prefetches twice the threads by default: a process busy solving would sit on
    # messages another machine could start now.
    worker.queue_prefetch = threads
    worker.start()
    log.info("solver process ready: %s thread(s) on queue %s", threads, solving.QUEUE_NAME)
    try:
        while not stop.wait(POLL_MS / 1000):
            pass
    finally:
        log.info("solver process stopping: the solve in hand finishes first")
        worker.stop(timeout=int(STOP_WAIT_S * 1000))
        broker.close()
        broker.client.close()
        log.info("solver process stopped")


def run(settings: Settings, *, processes: int, threads: int) -> int:
    """Run `processes` solver processes until SIGTERM or Ctrl-C; the command's exit code."""
    stop = threading.Event()
    _on_signals(stop)
    if processes <= 1:
        serve(settings, threads=threads, stop=stop)
        return 0
    return _supervise(settings, processes=processes, threads=threads, stop=stop)


def configure_logging(settings: Settings) -> None:
    """The logging of every Doorstep process (`web.logs`), in this one and its children."""
    logs.configure(settings)


def _on_signals(stop: threading.Event) -> None:
    def handle(signum: int, _frame: FrameType | None) -> None:
        if stop.is_set():
            log.warning("stopping now: the solve in hand is left to its lease")
            os._exit(128 + signum)
        stop.set()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)


def _child(settings: Settings, threads: int) -> None:
    die_with_parent()  # ignores Ctrl-C (the parent decides) and leaves with the parent
    configure_logging(settings)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda _signum, _frame: stop.set())
    serve(settings, threads=threads, stop=stop)


def _supervise(settings: Settings, *, processes: int, threads: int, stop: threading.Event) -> int:
    context = multiprocessing.get_context("forkserver")

    def start() -> tuple[multiprocessing.process.BaseProcess, float]:
        child = context.Process(target=_child, args=(settings, threads), daemon=False)
        child.start()
        return child, time.monotonic()

    started = [start() for _ in range(processes)]
    log.info("%s solver processes started", processes)
    code = 0
    while not stop.wait(POLL_MS / 1000):
        for n, (child, at) in enumerate(started):
            if child.is_alive():
                continue
            failed = child.exitcode is not None and child.exitcode > 0  # not killed: it gave up
            if failed and time.monotonic() - at < QUICK_DEATH_S:
                log.error("a solver process failed at start (code %s): stopping", child.exitcode)
                stop.set()
                code = 1
                break
            log.warning("a solver process ended (code %s): starting another", child.exitcode)
            started[n] = start()
    for child, _ in started:
        if child.is_alive():
            child.terminate()  # SIGTERM: each finishes its solve in hand
    for child, _ in started:
        child.join(STOP_WAIT_S + 10)
        if child.is_alive():
            child.kill()
    return code
