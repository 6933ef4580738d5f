"""A generated VRPTW instance in Solomon's format, for sizes the public data does not hold.

The shared benchmark data stops at 600 customers, but the routing issue asks for a feasible plan
within one second at 1000. `r1_like` writes a seeded random instance shaped like Gehring &
Homberger's R1 class: customers uniform on a square with the depot in the middle, 10-minute
service, narrow windows (10 to 60 time units) each reachable from the depot and leaving time to
return, demands of 1 to 50 against a capacity of 200. It has no best-known solution; the bench
uses it for feasibility and wall time only. Run as a script it prints the instance.
"""

from __future__ import annotations

import math
import random
import sys
from pathlib import Path

from bench.common import REPO_ROOT


def r1_like(customers: int = 1000, seed: int = 1) -> str:
    """The instance as Solomon-format text (name ``GEN_R1_<customers>_<seed>``)."""
    rng = random.Random(seed)
    side = 500
    depot = (side // 2, side // 2)
    horizon = 2000
    service = 10
    rows = [(0, *depot, 0, 0, horizon, 0)]
    for c in range(1, customers + 1):
        x, y = rng.randint(0, side), rng.randint(0, side)
        out = math.ceil(math.hypot(x - depot[0], y - depot[1]))
        width = rng.randint(10, 60)
        latest_due = horizon - service - out
        ready = rng.randint(out, latest_due - width)
        rows.append((c, x, y, rng.randint(1, 50), ready, ready + width, service))
    lines = [
        f"GEN_R1_{customers}_{seed}",
        "",
        "VEHICLE",
        "NUMBER     CAPACITY",
        f"{customers // 4:>5}{200:>13}",
        "",
        "CUSTOMER",
        "CUST NO.  XCOORD.    YCOORD.    DEMAND   READY TIME  DUE DATE   SERVICE TIME",
        "",
    ]
    lines += ["".join(f"{v:>10}" for v in row) for row in rows]
    return "\n".join(lines) + "\n"


def generated_path(customers: int = 1000, seed: int = 1) -> Path:
    """Write the instance under var/bench/ (once) and return its path."""
    path = REPO_ROOT / "var" / "bench" / f"GEN_R1_{customers}_{seed}.txt"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(r1_like(customers, seed))
    return path


if __name__ == "__main__":
    sys.stdout.write(r1_like(int(sys.argv[1]) if len(sys.argv) > 1 else 1000))
