"""The `doorstep` command line: migrate, seed, serve, and the tools around them.

A command that cannot do its work says why in one line on stderr and exits 1 (a domain
error such as an unknown district, a malformed argument, production settings refused); it
never prints a traceback for the user's own mistake, nor for Ctrl-C. (Benchmark instance
files are solved by ``python -m bench.solve``, beside the benchmarks.)
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from dispatch import backup as backups
from dispatch import migrate as migrations
from dispatch import seed as seed_loader
from dispatch.config import UnsafeSettings, get_settings
from dispatch.db import make_engine, write_session
from dispatch.errors import DispatchError, SeedError
from dispatch.staff import service as staff_service


class CommandError(Exception):
    """A mistake in a command's arguments: told in one line."""


def _migrate(_args: argparse.Namespace) -> int:
    engine = make_engine(get_settings().database_url)
    migrations.upgrade(engine)
    print(f"database at {engine.url.render_as_string(hide_password=True)} is up to date")
    return 0


def _seed(args: argparse.Namespace) -> int:
    settings = get_settings()
    if args.demo and settings.production:
        # Demo requests, the agents' demo PIN and the console's demo password (public: they are
        # in the README) never in production.
        raise CommandError("--demo is for development only: refused in production")
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
            past = demo.add_demo_history(
                session=session, settings=settings, state_code=settings.default_state
            )
        if past:
            print(f"demo: {past} requests of the past {demo.HISTORY_WEEKS} weeks")
        with write_session(engine) as session:
            made = demo.add_demo_day(
                session=session, settings=settings, state_code=settings.default_state
            )
        print(f"demo: {made} requests booked" if made else "demo: already booked")
        with write_session(engine) as session:
            pins = demo.give_demo_pins(session=session, state_code=settings.default_state)
        if pins:
            print(f"demo: {pins} agents can use the phone menu with PIN {demo.DEMO_AGENT_PIN}")
        with write_session(engine) as session:
            staff = staff_service.seed_demo(session=session, state_code=settings.default_state)
        if staff:
            names = ", ".join(u.username for u in staff)
            print(f"demo: console accounts {names} (password {staff_service.DEMO_PASSWORD})")
    return 0


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from web import logs

    settings = get_settings()
    settings.refuse_unsafe()  # before uvicorn: one clear line, not a failed app factory
    if settings.production:
        from web.app import refuse_demo_staff

        refuse_demo_staff(make_engine(settings.database_url))
    if args.workers > 1:
        _metrics_dir()
    # Uvicorn applies the same logging configuration as the worker's, to its own loggers too
    # (and again in each worker process).
    uvicorn.run(
        "web.app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_config=logs.config(settings),
    )
    return 0


def _metrics_dir() -> None:
    """Several web processes sum their HTTP figures through prometheus-client's multiprocess
    directory (`web.metrics`): PROMETHEUS_MULTIPROC_DIR if set (emptied of the figures of a
    previous run), else a new one, given to the worker processes by their environment and
    removed when the command ends."""
    import tempfile
    from pathlib import Path

    from web.metrics import MULTIPROC_ENV

    folder = os.environ.get(MULTIPROC_ENV)
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        for stale in Path(folder).glob("*.db"):
            stale.unlink()
    else:  # ours: removed when the server stops
        import atexit
        import shutil

        made = tempfile.mkdtemp(prefix="doorstep-metrics-")
        atexit.register(shutil.rmtree, made, ignore_errors=True)
        os.environ[MULTIPROC_ENV] = made


def _worker(_args: argparse.Namespace) -> int:
    from web import logs
    from web.worker import run_forever

    settings = get_settings()
    settings.refuse_unsafe()
    logs.configure(settings)
    run_forever(settings)
    return 0


def _solver_worker(args: argparse.Namespace) -> int:
    """Solve the zone-days the scheduler sends through the broker, until SIGTERM or Ctrl-C."""
    from web import solver_worker

    settings = get_settings()
    settings.refuse_unsafe()
    if not settings.broker_url:
        print(
            "doorstep solver-worker: DOORSTEP_BROKER_URL is not set (e.g. redis://host:6379/0); "
            "without it the scheduler solves in its own processes and needs no solver machines",
            file=sys.stderr,
        )
        return 2
    solver_worker.configure_logging(settings)
    return solver_worker.run(settings, processes=args.processes, threads=args.threads)


def _at_least_one(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


def _replan(args: argparse.Namespace) -> int:
    """Search with no transaction open (bookings go on meanwhile); save only if no booking
    changed the day's plan in the meantime."""
    from dispatch.db import read_session
    from dispatch.geography import service as geography_service
    from dispatch.planning import service as planning
    from dispatch.planning.store import PlanOutdated

    settings = get_settings()
    day = _day(args.day)
    engine = make_engine(settings.database_url)
    with read_session(engine) as session:
        district = geography_service.get_district_by_code(session=session, code=args.district)
        district_id, name = district.id or 0, district.name
    try:
        outcome = planning.replan(
            engine=engine,
            district_id=district_id,
            day=day,
            time_limit_s=args.time_limit,
            solver_engine=args.engine or settings.solver_engine,
        )
    except PlanOutdated:
        raise CommandError(
            f"the plan of {name} on {day} changed while searching (a booking came in); "
            "nothing was saved: run it again"
        ) from None
    print(
        f"{name} {outcome.day}: plan v{outcome.version}, {outcome.assigned} visits "
        f"assigned, {outcome.unassigned} left out, {outcome.wall_s:.2f} s ({outcome.source})"
    )
    return 0


def _day(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise CommandError(f"--day {text!r} is not a date (YYYY-MM-DD)") from None


def _itineraries(args: argparse.Namespace) -> int:
    """Queue each agent's day (or what changed since they had it), then send what was queued."""
    from dispatch.clock import clock_for
    from dispatch.db import read_session
    from dispatch.fieldwork import tasks as field_tasks
    from dispatch.geography import service as geography_service
    from dispatch.notifications import service as notification_service
    from ivr.deps import make_sms_sender

    settings = get_settings()
    day = _day(args.day)
    engine = make_engine(settings.database_url)
    district_id = None
    if args.district:
        with read_session(engine) as session:
            district = geography_service.get_district_by_code(session=session, code=args.district)
            district_id = district.id
    queued = field_tasks.itineraries(
        engine=engine,
        settings=settings,
        on=day,
        now=clock_for(settings).now(),
        district_id=district_id,
    )
    sender = make_sms_sender(settings)
    sent = sum(
        notification_service.send(engine=engine, message_id=m, sender=sender) is not None
        for m in queued
    )
    where = f" in {args.district}" if args.district else ""
    if not queued:
        print(f"itineraries for {day}{where}: nothing new to send")
    else:
        print(f"itineraries for {day}{where}: {len(queued)} messages queued, {sent} sent")
    return 0


def _agent_pin(args: argparse.Namespace) -> int:
    """Set an agent's phone-menu PIN, asked twice without echo."""
    import getpass

    from sqlmodel import select

    from dispatch.agents.models import Agent
    from dispatch.fieldwork import access

    settings = get_settings()
    engine = make_engine(settings.database_url)
    pin = getpass.getpass("new PIN (4-6 digits): ")
    if getpass.getpass("the same PIN again: ") != pin:
        raise CommandError("the two PINs differ; nothing was changed")
    with write_session(engine) as session:
        agent = session.exec(select(Agent).where(Agent.csc_id == args.csc)).first()
        if agent is None or agent.id is None:
            raise CommandError(f"no agent with CSC id {args.csc!r}")
        access.set_pin(session=session, agent_id=agent.id, pin=pin, actor="cli")
    print(f"PIN set for {agent.name} (CSC {args.csc})")
    return 0


def _staff(args: argparse.Namespace) -> int:
    """Create a console account, or give one a new password (asked twice, not echoed): how a
    production database gets its first admin, and how a locked-out admin gets back in."""
    import getpass

    from sqlmodel import select

    from dispatch.staff.models import StaffUser
    from dispatch.staff.rules import Role

    settings = get_settings()
    engine = make_engine(settings.database_url)
    password = getpass.getpass("password (10 characters or more): ")
    if getpass.getpass("the same password again: ") != password:
        raise CommandError("the two passwords differ; nothing was changed")
    with write_session(engine) as session:
        user = session.exec(
            select(StaffUser).where(StaffUser.username == args.username.strip().lower())
        ).first()
        if user is None:
            if not args.role:
                raise CommandError(f"no account {args.username!r}: give --role to create it")
            user = staff_service.create(
                session=session,
                state_code=args.state or settings.default_state,
                username=args.username,
                name=args.name or args.username,
                role=Role(args.role),
                password=password,
                actor="cli",
            )
            print(f"created {user.username} ({user.role.label})")
            return 0
        assert user.id is not None
        staff_service.update(
            session=session,
            user_id=user.id,
            actor="cli",
            password=password,
            role=Role(args.role) if args.role else None,
            active=True,
        )
    print(f"new password for {user.username}; their sessions are ended")
    return 0


def _api_client(args: argparse.Namespace) -> int:
    """Make a channel's API client and print its key (once: only its hash is kept), list a
    state's clients, or revoke one."""
    from zoneinfo import ZoneInfo

    from dispatch.channels import service as channel_service
    from dispatch.db import read_session
    from dispatch.states import service as state_service

    settings = get_settings()
    engine = make_engine(settings.database_url)
    state_code = (args.state or settings.default_state).upper()
    if args.action in ("create", "revoke") and not args.name:
        raise CommandError(f"--name is needed to {args.action} a client")
    if args.action == "create":
        with write_session(engine) as session:
            made = channel_service.create(
                session=session,
                state_code=state_code,
                name=args.name,
                rate_per_minute=args.rate,
                actor="cli",
            )
        print(f"API client {made.client.name} ({made.client.state_code}), {args.rate} a minute")
        print(f"key (shown this once; send it as 'Authorization: Bearer <key>'): {made.key}")
        return 0
    if args.action == "revoke":
        with write_session(engine) as session:
            found = [
                c
                for c in channel_service.list_all(session=session, state_code=state_code)
                if c.name.lower() == args.name.strip().lower()
            ]
            if not found or found[0].id is None:
                raise CommandError(f"no API client {args.name!r} in {state_code}")
            channel_service.revoke(session=session, client_id=found[0].id, actor="cli")
        print(f"revoked {found[0].name}: its key is refused from now on")
        return 0
    with read_session(engine) as session:
        tz = ZoneInfo(state_service.get(session=session, code=state_code).timezone)
        clients = channel_service.list_all(session=session, state_code=state_code)
    for c in clients:
        used = f"{c.last_used_at.astimezone(tz):%Y-%m-%d %H:%M}" if c.last_used_at else "never"
        status = "revoked" if c.revoked_at else "active"
        print(f"{c.name}\t{c.key_prefix}...\t{c.rate_per_minute}/min\tlast used {used}\t{status}")
    if not clients:
        print(f"no API clients in {state_code}")
    return 0


def _backup(args: argparse.Namespace) -> int:
    """Back the database up into a file, while the server runs."""
    url = get_settings().database_url
    done = backups.backup(url=url, target=args.file)
    print(f"{done.kind} database backed up to {done.path} ({done.size} bytes, {_schema(done)})")
    return 0


def _restore(args: argparse.Namespace) -> int:
    """Restore a backup file into the (empty) database; stop the server first."""
    url = get_settings().database_url
    done = backups.restore(url=url, source=args.file, force=args.force)
    print(f"{done.path} restored into the {done.kind} database ({_schema(done)})")
    if not done.current:
        print("the backup's schema is older than this code: run `doorstep migrate` next")
    return 0


def _schema(done: backups.Outcome) -> str:
    newest = ", the newest" if done.current else ", not the newest"
    return f"schema {done.revision or 'none'}{newest}"


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

    p = sub.add_parser(
        "serve", help="serve the IVR webhooks, the pages and (in development) the simulator"
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument(
        "--workers",
        type=_at_least_one,
        default=1,
        help="web processes (default 1; with more, set DOORSTEP_SCHEDULER=false and run "
        "`doorstep worker` once)",
    )
    p.set_defaults(func=_serve)

    p = sub.add_parser("worker", help="run the scheduled tasks (one process per deployment)")
    p.set_defaults(func=_worker)

    p = sub.add_parser(
        "solver-worker",
        help="solve zone-days sent through DOORSTEP_BROKER_URL (run on each solver machine)",
    )
    p.add_argument(
        "--processes",
        type=_at_least_one,
        default=os.cpu_count() or 1,
        help="solver processes (default: one per core of this machine)",
    )
    p.add_argument("--threads", type=_at_least_one, default=1, help="threads per process")
    p.set_defaults(func=_solver_worker)

    p = sub.add_parser("replan", help="improve one district's plan for a day now")
    p.add_argument("--district", required=True, help="district code, e.g. JMU")
    p.add_argument("--day", required=True, help="YYYY-MM-DD")
    p.add_argument("--time-limit", type=float, default=5.0, help="seconds")
    p.add_argument(
        "--engine",
        choices=["sisr", "ortools"],
        default=None,
        help="search engine (default: DOORSTEP_SOLVER_ENGINE, our string-removal search)",
    )
    p.set_defaults(func=_replan)

    p = sub.add_parser("itineraries", help="send agents their day now (or what changed)")
    p.add_argument("--day", required=True, help="YYYY-MM-DD")
    p.add_argument("--district", default=None, help="district code, e.g. SXR (default: all)")
    p.set_defaults(func=_itineraries)

    p = sub.add_parser("agent-pin", help="set a field agent's phone-menu PIN (asked twice)")
    p.add_argument("--csc", required=True, help="the agent's CSC id")
    p.set_defaults(func=_agent_pin)

    p = sub.add_parser(
        "staff", help="create a console account or set its password (asked twice, not echoed)"
    )
    p.add_argument("username")
    p.add_argument(
        "--role",
        choices=["call_agent", "dispatcher", "supervisor", "admin"],
        help="the role (needed to create; changes it otherwise)",
    )
    p.add_argument("--name", default=None, help="the person's name (new accounts)")
    p.add_argument("--state", default=None, help="state code (default: DOORSTEP_DEFAULT_STATE)")
    p.set_defaults(func=_staff)

    p = sub.add_parser(
        "api-client", help="make a channel's API key (printed once), list or revoke clients"
    )
    p.add_argument("action", choices=["create", "list", "revoke"])
    p.add_argument("--name", default=None, help="the channel, e.g. whatsapp-bot (create, revoke)")
    p.add_argument("--state", default=None, help="state code (default: DOORSTEP_DEFAULT_STATE)")
    p.add_argument("--rate", type=int, default=60, help="requests a minute (create; default 60)")
    p.set_defaults(func=_api_client)

    p = sub.add_parser(
        "backup", help="back the database up into a file (SQLite online backup, or pg_dump)"
    )
    p.add_argument("file", type=Path, help="the backup file to write (replaced if it exists)")
    p.set_defaults(func=_backup)

    p = sub.add_parser(
        "restore", help="restore a backup file into an empty database (stop the server first)"
    )
    p.add_argument("file", type=Path, help="a file `doorstep backup` made")
    p.add_argument(
        "--force", action="store_true", help="replace what the database holds (it is lost)"
    )
    p.set_defaults(func=_restore)

    p = sub.add_parser("call", help="call the IVR from this terminal (the phone simulator)")
    p.add_argument("--from", dest="caller", required=True, help="your number, e.g. +919812345678")
    p.add_argument("--to", default=None, help="the number dialled (default: the state's line)")
    p.add_argument("--server", default=None, help="a running server's URL (default: in-process)")
    p.set_defaults(func=_call)

    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.func(args)
    except (CommandError, DispatchError, UnsafeSettings) as exc:
        print(f"doorstep {args.command}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    raise SystemExit(main())
