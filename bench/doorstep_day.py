"""A doorstep day in a generated district: slot-offer latency, re-plan quality, stability.

Usage: ``python -m bench.doorstep_day [--seed 1] [--replan-limit 30] [--live-limit 20]
[--stability-limit 5] [--queries 300] [--workers 2] [--name doorstep_day]``

1. Full re-plan: 60 agents, 600 visits (bench.district), solved within --replan-limit;
   reports share served, travel hours, wall time and checker verdict.
2. Slot offers: a live plan of 50 agents / 500 visits; --queries new requests, each with 12
   candidate 2-hour windows; latency p50 / p99 of `SlotFinder.offers` (finder built once per
   plan version, as the service keeps it) and of the one-call `offer_slots` (finder built per
   call). Target: p99 <= 10 ms. A sample of offers is booked and checked.
3. Stability: book one new visit into the live plan, re-plan from it within --stability-limit;
   share of already-assigned visits that kept their agent (target >= 95 %), over a few trials.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from typing import Any

from bench.common import percentile, table, write_json
from bench.district import H, district, new_visit
from routing.checker import check
from routing.insertion import SlotFinder, book, offer_slots
from routing.model import Problem, TimeWindow
from routing.params import SearchParameters
from routing.plan import Plan
from routing.solver import solve
from routing.travel import HaversineTravel

CANDIDATES = [TimeWindow(9 * H + k * 1800, 11 * H + k * 1800) for k in range(12)]


def plan_figures(problem: Problem, plan: Plan, wall: float) -> dict[str, Any]:
    served = plan.assigned_count
    travel = 0
    for r in plan.routes:
        a = problem.agent(r.agent_id)
        mat = problem.travel.durations[a.mode]
        idx = problem.travel.index
        prev = idx(a.start)
        for s in r.stops:
            loc = idx(problem.visit(s.visit_id).location)
            travel += mat[prev][loc]
            prev = loc
        travel += mat[prev][idx(a.end)]
    return {
        "visits": len(problem.visits),
        "agents": len(problem.agents),
        "served": served,
        "served_share": served / max(1, len(problem.visits)),
        "agents_used": sum(1 for r in plan.routes if r.stops),
        "travel_hours": travel / 3600,
        "wall_s": wall,
        "violations": len(check(problem, plan)),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.doorstep_day")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--replan-limit", type=float, default=30.0)
    ap.add_argument("--live-limit", type=float, default=20.0)
    ap.add_argument("--stability-limit", type=float, default=5.0)
    ap.add_argument("--stability-trials", type=int, default=3)
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--workers", type=int, default=2, choices=(1, 2))
    ap.add_argument("--name", default="doorstep_day")
    args = ap.parse_args(argv)
    out: dict[str, Any] = {"seed": args.seed, "workers": args.workers}

    # 1. Full re-plan of the 600-visit day.
    day = district(args.seed, agents=60, visits=600)
    t0 = time.monotonic()
    res = solve(day, SearchParameters(time_limit_s=args.replan_limit, workers=args.workers))
    full = plan_figures(day, res.plan, time.monotonic() - t0)
    full["limit_s"] = args.replan_limit
    full["source"] = res.source
    full["unassigned_reasons"] = _reasons(res.plan)
    out["replan"] = full
    print(
        f"re-plan 600/60: served {full['served']}/{full['visits']} "
        f"({100 * full['served_share']:.1f}%), travel {full['travel_hours']:.1f} h, "
        f"wall {full['wall_s']:.2f}s (limit {args.replan_limit}s), "
        f"violations {full['violations']}",
        flush=True,
    )

    # 2. Slot offers on a live plan of 500 visits / 50 agents.
    live_problem = district(args.seed + 1, agents=50, visits=500)
    live = solve(
        live_problem, SearchParameters(time_limit_s=args.live_limit, workers=args.workers)
    ).plan
    live_fig = plan_figures(live_problem, live, args.live_limit)
    out["live_plan"] = live_fig
    travel = HaversineTravel()
    t0 = time.monotonic()
    finder = SlotFinder(live_problem, live, travel)
    build_ms = 1000 * (time.monotonic() - t0)
    rng = random.Random(args.seed)
    warm_ms: list[float] = []
    cold_ms: list[float] = []
    counts: list[int] = []
    booked_ok = 0
    booked = 0
    for q in range(args.queries):
        v = new_visit(rng, live_problem, f"new{q:04d}")
        t0 = time.perf_counter()
        offers = finder.offers(v, CANDIDATES)
        warm_ms.append(1000 * (time.perf_counter() - t0))
        counts.append(len(offers))
        if q < 20:
            t0 = time.perf_counter()
            offer_slots(live_problem, live, v, CANDIDATES, travel)
            cold_ms.append(1000 * (time.perf_counter() - t0))
        if q % 10 == 0 and offers:
            b = book(live_problem, live, v, offers[0], travel)
            booked += 1
            booked_ok += not check(b.problem, b.plan)
    slots = {
        "queries": args.queries,
        "candidate_windows": len(CANDIDATES),
        "finder_build_ms": build_ms,
        "p50_ms": percentile(warm_ms, 50),
        "p99_ms": percentile(warm_ms, 99),
        "max_ms": max(warm_ms),
        "one_call_p50_ms": percentile(cold_ms, 50),
        "one_call_p99_ms": percentile(cold_ms, 99),
        "mean_offers": sum(counts) / len(counts),
        "queries_with_offers": sum(1 for c in counts if c),
        "booked_checked_clean": f"{booked_ok}/{booked}",
    }
    out["slot_offers"] = slots
    print(
        f"slot offers (live plan {live_fig['served']} visits / {live_fig['agents_used']} "
        f"agents used): p50 {slots['p50_ms']:.2f} ms, p99 {slots['p99_ms']:.2f} ms "
        f"(target 10 ms); one-call p50 {slots['one_call_p50_ms']:.1f} ms; "
        f"{slots['mean_offers']:.0f} offers/query; booked clean {slots['booked_checked_clean']}",
        flush=True,
    )

    # 3. Stability after one new booking.
    trials = []
    for k in range(args.stability_trials):
        v = new_visit(rng, live_problem, f"booking{k}")
        offers = finder.offers(v, CANDIDATES)
        if not offers:
            continue
        b = book(live_problem, live, v, offers[0], travel)
        t0 = time.monotonic()
        again = solve(
            b.problem,
            SearchParameters(time_limit_s=args.stability_limit, workers=args.workers),
            current=b.plan,
        )
        wall = time.monotonic() - t0
        before = {s.visit_id: r.agent_id for r in live.routes for s in r.stops}
        kept = sum(1 for vid, a in before.items() if again.plan.agent_of(vid) == a)
        trials.append(
            {
                "kept_share": kept / max(1, len(before)),
                "assigned_before": len(before),
                "assigned_after": again.plan.assigned_count,
                "new_visit_served": again.plan.agent_of(v.id) is not None,
                "wall_s": wall,
                "violations": len(check(b.problem, again.plan)),
            }
        )
    out["stability"] = trials
    kept_shares: list[float] = [t["kept_share"] for t in trials]
    print(
        "stability: kept agent "
        + ", ".join(f"{100 * x:.1f}%" for x in kept_shares)
        + " (target >= 95%)",
        flush=True,
    )

    print()
    print(table(["figure", "value", "target"], [
        ["re-plan served share %", 100 * full["served_share"], None],
        ["re-plan wall s", full["wall_s"], f"<= {args.replan_limit} + overhead"],
        ["re-plan violations", full["violations"], 0],
        ["slot offer p50 ms", slots["p50_ms"], None],
        ["slot offer p99 ms", slots["p99_ms"], "<= 10"],
        ["one-call offer p99 ms", slots["one_call_p99_ms"], None],
        ["kept agent after booking % (min)",
         100 * min(kept_shares) if kept_shares else None, ">= 95"],
    ]))  # fmt: skip
    path = write_json(args.name, out)
    print(f"\nwrote {path}")
    return 0


def _reasons(plan: Plan) -> dict[str, int]:
    out: dict[str, int] = {}
    for u in plan.unassigned:
        out[u.reason.value] = out.get(u.reason.value, 0) + 1
    return out


if __name__ == "__main__":
    sys.exit(main())
