"""The `doorstep` command line: migrate, seed, serve, solve, and the tools around them."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from dispatch import migrate as migrations
from dispatch import seed as seed_loader
from dispatch.config import get_settings
from dispatch.db import make_engine, write_session
from dispatch.errors import SeedError
from routing.params import ENGINES


def _migrate(_args: argparse.Namespace) -> int:
    engine = make_engine(get_settings().database_url)
    migrations.upgrade(engine)
    print(f"database at {engine.url.render_as_string(hide_password=True)} is up to date")
    return 0


def _seed(args: argparse.Namespace) -> int:
    settings = get_settings()
    engine = make_engine(settings.database_url)
    try:
        with write_session(engine) as session:
            counts = seed_loader.load(
                session=session, seed_dir=settings.seed_dir, states=args.state or None
            )
    except SeedError as exc:
        print(f"seed failed, nothing was loaded: {exc}", file=sys.stderr)
        return 1
    loaded = {k: v for k, v in counts.items() if v}
    print("seeded: " + (", ".join(f"{k}={v}" for k, v in loaded.items()) or "already present"))
    if args.demo:
        from dispatch import demo

        with write_session(engine) as session:
            made = demo.add_demo_day(session=session, state_code=settings.default_state)
        print(f"demo: {made} requests")
    return 0


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    uvicorn.run("web.app:create_app", factory=True, host=args.host, port=args.port)
    return 0


def _worker(_args: argparse.Namespace) -> int:
    import logging

    from web.worker import run_forever

    logging.basicConfig(level=logging.INFO)
    run_forever()
    return 0


def _replan(args: argparse.Namespace) -> int:
    import datetime as dt

    from dispatch.geography import service as geography_service
    from dispatch.planning import service as planning

    engine = make_engine(get_settings().database_url)
    with write_session(engine) as session:
        district = geography_service.get_district_by_code(session=session, code=args.district)
        outcome = planning.replan(
            session=session,
            district_id=district.id or 0,
            day=dt.date.fromisoformat(args.day),
            time_limit_s=args.time_limit,
        )
    print(
        f"{district.name} {outcome.day}: plan v{outcome.version}, {outcome.assigned} visits "
        f"assigned, {outcome.unassigned} left out, {outcome.wall_s:.2f} s ({outcome.source})"
    )
    return 0


def _solve(args: argparse.Namespace) -> int:
    from routing.benchmark_cli import solve_file

    result = solve_file(args.path, fmt=args.format, time_limit=args.time_limit, engine=args.engine)
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"{result['instance']}: {result['vehicles']} vehicles, distance "
            f"{result['distance']:.2f}, feasible={result['feasible']}, {result['wall_s']:.2f} s"
        )
    return 0 if result["feasible"] else 2


def _call(args: argparse.Namespace) -> int:
    from web import phone

    return phone.main(get_settings(), caller=args.caller, called=args.to, server=args.server)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="doorstep", description="Doorstep: doorstep delivery of government e-services."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("migrate", help="upgrade the database schema to the newest revision")
    p.set_defaults(func=_migrate)

    p = sub.add_parser("seed", help="load states, geography, catalogue and agents (idempotent)")
    p.add_argument("--demo", action="store_true", help="also add a day of demo requests")
    p.add_argument("--state", action="append", help="only this state code (repeatable)")
    p.set_defaults(func=_seed)

    p = sub.add_parser("serve", help="serve the console, IVR webhooks and simulator")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.set_defaults(func=_serve)

    p = sub.add_parser("worker", help="run the scheduled tasks (one process per deployment)")
    p.set_defaults(func=_worker)

    p = sub.add_parser("replan", help="improve one district's plan for a day now")
    p.add_argument("--district", required=True, help="district code, e.g. JMU")
    p.add_argument("--day", required=True, help="YYYY-MM-DD")
    p.add_argument("--time-limit", type=float, default=5.0, help="seconds")
    p.set_defaults(func=_replan)

    p = sub.add_parser("call", help="call the IVR from this terminal (the phone simulator)")
    p.add_argument("--from", dest="caller", required=True, help="your number, e.g. +919812345678")
    p.add_argument("--to", default=None, help="the number dialled (default: the state's line)")
    p.add_argument("--server", default=None, help="a running server's URL (default: in-process)")
    p.set_defaults(func=_call)

    p = sub.add_parser("solve", help="solve a VRPTW benchmark instance file")
    p.add_argument("path")
    p.add_argument("--format", default="solomon", choices=["solomon"])
    p.add_argument("--time-limit", type=float, default=5.0, help="seconds")
    p.add_argument(
        "--engine",
        default="sisr",
        choices=list(ENGINES),
        help="search engine: our string-removal search (default) or OR-Tools",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=_solve)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
