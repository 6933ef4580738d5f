"""Imported once by the search workers' fork server (`routing.workers`): loads OR-Tools and the
compiled string-removal kernels there, so every worker child starts with both in memory instead
of spending ~0.5 s loading the kernels from Numba's cache inside its search budget.

Importing this module has that side effect and no other; nothing else should import it.
"""

from __future__ import annotations

import routing.solver_ortools  # noqa: F401  (OR-Tools' native libraries)
from routing.sisr import warm_up

warm_up()
