"""Imported once by the search workers' fork server (`routing.workers`): loads the compiled
string-removal kernels there, so every worker child starts with them in memory instead of
spending ~0.5 s loading them from Numba's cache inside its search budget. (OR-Tools, which the
default engine does not need, is preloaded by naming `routing.solver_ortools` beside this
module: `routing.workers` does so when the server is started for an OR-Tools solve.)

It also makes the server ignore Ctrl-C from its start: the parent, which gets it too, decides,
and the children the server forks inherit the setting, so none prints a KeyboardInterrupt.
Importing this module has these side effects and no other; nothing else should import it.
"""

from __future__ import annotations

import signal

signal.signal(signal.SIGINT, signal.SIG_IGN)

from routing.sisr import warm_up  # noqa: E402  (after the signal: loading takes ~0.5 s)

warm_up()
