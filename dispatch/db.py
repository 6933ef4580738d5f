"""Database plumbing: engines for SQLite (default) and PostgreSQL, sessions, column types.

SQLite runs in WAL mode with a busy timeout, and every write transaction starts with
`BEGIN IMMEDIATE` so that two writers queue instead of failing half-way with
"database is locked". Read-only sessions (`read_session`) use a deferred BEGIN so that
pages and reports never wait for the write lock. A session may bound how long it waits for a
lock (`wait_s`; SQLite's busy timeout, PostgreSQL's lock and statement timeouts): a phone
webhook would rather fail fast and apologise than outlast Twilio's patience
(`waited_too_long` recognises that failure). Nothing here runs at import time.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import Session

READ_ONLY = "doorstep_read_only"
#: Execution option: how long (ms) a transaction may wait for a lock before it fails.
WAIT_MS = "doorstep_wait_ms"
#: What commands wait by default (a phone webhook waits far less: `write_session(wait_s=)`).
DEFAULT_WAIT_MS = 30_000


#: PostgreSQL's DETAIL (and HINT) lines of an error, which quote the values that failed.
_DETAIL = re.compile(r"\n(DETAIL|HINT):[^\n]*")


def make_engine(
    url: str,
    *,
    echo: bool = False,
    static_pool: bool = False,
    connect_args: dict[str, Any] | None = None,
    pool_size: int = 5,
    wait_s: float | None = None,
) -> Engine:
    """An engine for `url`; SQLite gets WAL, a busy timeout and `BEGIN IMMEDIATE` writes.

    `wait_s` bounds how long any transaction of the engine waits for a lock (by default
    `DEFAULT_WAIT_MS` on SQLite and no bound on PostgreSQL); a session's own `wait_s` wins.
    PostgreSQL connections are pinged before use (`pool_pre_ping`): a connection the server
    dropped (a restart, a terminated backend) is replaced instead of failing a request."""
    if wait_s is not None:
        engine = make_engine(
            url,
            echo=echo,
            static_pool=static_pool,
            connect_args=connect_args,
            pool_size=pool_size,
        )
        return engine.execution_options(**{WAIT_MS: wait_s * 1000})
    if not url.startswith("sqlite"):
        engine = sa.create_engine(
            url,
            echo=echo,
            hide_parameters=True,  # an error's text never quotes a phone number or a name
            pool_pre_ping=True,
            pool_size=pool_size,
            connect_args=connect_args or {},
        )

        @event.listens_for(engine, "handle_error")
        def _without_detail(context: sa.engine.ExceptionContext) -> None:
            # PostgreSQL's DETAIL line quotes the row or key that failed ("Key (phone)=(+91...)
            # already exists"), which hide_parameters does not reach: the error's text keeps
            # only the first line (its `diag` keeps the rest for code that needs it).
            for exc in (context.original_exception, context.sqlalchemy_exception):
                if exc is not None and exc.args and isinstance(exc.args[0], str):
                    exc.args = (_DETAIL.sub("", exc.args[0]), *exc.args[1:])

        @event.listens_for(engine, "begin")
        def _bounded_wait(conn: sa.Connection) -> None:
            wait = conn.get_execution_options().get(WAIT_MS)
            if wait is not None:
                conn.exec_driver_sql(f"SET LOCAL lock_timeout = {int(wait)}")
                conn.exec_driver_sql(f"SET LOCAL statement_timeout = {int(wait)}")

        return engine
    _ensure_sqlite_dir(url)
    kwargs: dict[str, Any] = {"connect_args": {"check_same_thread": False, "timeout": 30}}
    if static_pool:
        kwargs["poolclass"] = sa.StaticPool
    engine = sa.create_engine(url, echo=echo, hide_parameters=True, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # pysqlite's own transaction handling emits BEGIN lazily and badly; we emit it.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        if ":memory:" not in url:
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        options = conn.get_execution_options()
        conn.exec_driver_sql(f"PRAGMA busy_timeout={int(options.get(WAIT_MS, DEFAULT_WAIT_MS))}")
        if options.get(READ_ONLY):
            conn.exec_driver_sql("BEGIN")
        else:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


@lru_cache(maxsize=4)
def engine_for(url: str) -> Engine:
    """One engine per database URL in this process (the scheduler's tasks and the solvers'
    processes share it instead of opening a pool each)."""
    return make_engine(url)


def _ensure_sqlite_dir(url: str) -> None:
    path = sa.make_url(url).database
    if path and path != ":memory:" and not path.startswith("file:"):
        Path(path).parent.mkdir(parents=True, exist_ok=True)


def waited_too_long(exc: BaseException) -> bool:
    """Whether `exc` (or what caused it) is a lock or pool wait that ran out of time."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, sa.exc.TimeoutError):  # no pooled connection came free
            return True
        if isinstance(seen, sa.exc.DBAPIError):
            text = str(seen.orig).lower()
            if "database is locked" in text or "database is busy" in text:
                return True
            code = getattr(seen.orig, "sqlstate", None)
            if code in {"55P03", "57014"}:  # lock_not_available, query_canceled (timeouts)
                return True
        seen = seen.__cause__ or seen.__context__
    return False


#: PostgreSQL's SQLSTATE classes and codes of a server that cannot serve now but may in a
#: moment: connection exceptions (08), insufficient resources (53: disk full, out of
#: memory, too many connections), an operator's intervention (57P01-57P05: the backend
#: terminated, the server shutting down or starting), a serialization failure or deadlock.
_PG_RETRYABLE_CLASSES = ("08", "53")
_PG_RETRYABLE = frozenset({"57P01", "57P02", "57P03", "57P05", "40001", "40P01"})
#: SQLite's words for a database that cannot take a write now (SQLITE_FULL, SQLITE_IOERR,
#: SQLITE_CANTOPEN, SQLITE_READONLY on a file that went read-only).
_SQLITE_UNAVAILABLE = (
    "database or disk is full",
    "disk i/o error",
    "unable to open database file",
    "attempt to write a readonly database",
)


def unavailable(exc: BaseException) -> bool:
    """Whether `exc` (or what caused it) says the database could not serve the request just
    now — a lock or pool wait that ran out (`waited_too_long`), a connection the server
    dropped, a server restarting, a disk full — rather than that the request was wrong.
    Whatever the transaction wrote was rolled back: the request may be sent again (every
    command carries an idempotency key, so a commit whose answer was lost runs once)."""
    if waited_too_long(exc):
        return True
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, sa.exc.DBAPIError):
            if seen.connection_invalidated:
                return True
            code = getattr(seen.orig, "sqlstate", None)
            if isinstance(code, str) and (
                code in _PG_RETRYABLE or code.startswith(_PG_RETRYABLE_CLASSES)
            ):
                return True
            text = str(seen.orig).lower()
            if any(words in text for words in _SQLITE_UNAVAILABLE):
                return True
            # psycopg without a SQLSTATE: the connection closed or could not be made.
            closed = any(w in text for w in ("connection", "server closed", "terminat"))
            if closed and code is None and isinstance(seen, sa.exc.OperationalError):
                return True
        if isinstance(seen, sa.exc.PendingRollbackError | sa.exc.ResourceClosedError):
            return "connection" in str(seen).lower()
        seen = seen.__cause__ or seen.__context__
    return False


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


@contextmanager
def write_session(engine: Engine, *, wait_s: float | None = None) -> Iterator[Session]:
    """A session for commands: commits on success, rolls back on any error. With `wait_s`,
    a lock held by another writer longer than that fails the command (`waited_too_long`)."""
    bind = engine if wait_s is None else engine.execution_options(**{WAIT_MS: wait_s * 1000})
    with Session(bind, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


@contextmanager
def read_session(engine: Engine) -> Iterator[Session]:
    """A session for queries: never commits, never takes SQLite's write lock."""
    # Closing (not rolling back) keeps loaded attributes readable by templates afterwards.
    with Session(engine.execution_options(**{READ_ONLY: True}), expire_on_commit=False) as session:
        yield session


class UTCDateTime(sa.types.TypeDecorator[dt.datetime]):
    """Timezone-aware UTC datetimes on every engine (SQLite stores them naive, in UTC)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: sa.Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: store timezone-aware UTC")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> dt.datetime | None:
        if value is None:
            return None
        assert isinstance(value, dt.datetime)
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def enum_type(enum_cls: type[StrEnum]) -> sa.Enum:
    """A StrEnum stored by value as VARCHAR: adding a member later needs no type migration."""
    return sa.Enum(
        enum_cls,
        native_enum=False,
        create_constraint=False,
        length=24,
        values_callable=lambda members: [m.value for m in members],
    )
