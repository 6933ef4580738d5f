"""Child processes that end with their parent.

A solver child (the scheduler's process pool) must not outlive the process that started it:
killed or stopped, the parent takes its children with it. `die_with_parent` is a child's
initializer: it ignores Ctrl-C (SIGINT reaches the whole process group; the parent decides and
its children must not print tracebacks) and watches the parent's sentinel from a daemon thread,
leaving at once when the parent is gone however it ended.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
from multiprocessing.connection import wait


def die_with_parent() -> None:
    """Call first thing in a child process started by `multiprocessing`."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    parent = multiprocessing.parent_process()
    if parent is None:  # not a multiprocessing child: nothing to watch
        return

    def watch() -> None:
        wait([parent.sentinel])
        os._exit(0)

    threading.Thread(target=watch, name="die-with-parent", daemon=True).start()
