"""The worker process: results come back by task id, a failing task costs only its result."""

from __future__ import annotations

import time

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
