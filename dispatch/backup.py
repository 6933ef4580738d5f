"""Backups of the database, and their restore: `backup(url=, target=)`, `restore(url=, source=)`.

- **SQLite**: SQLite's online backup API (`sqlite3.Connection.backup`) copies the live database
  page by page into a new file, in one step, inside one read transaction: in WAL mode (how
  Doorstep opens SQLite) writers go on meanwhile and the copy is the database as it stood at
  that transaction's start — consistent, never half a booking. The copy is checked
  (`PRAGMA quick_check`) and renamed into place, so a failed backup never leaves a file that
  looks like one. A restore copies the backup into the target the same way.
- **PostgreSQL**: `pg_dump --format=custom` (one consistent snapshot: a repeatable-read
  transaction, so the server keeps serving). A restore reads the file into a script first
  (`pg_restore --file`: a damaged file fails there, the database untouched), then runs it with
  `psql --single-transaction` and `ON_ERROR_STOP`, after dropping the old tables in the same
  transaction when forced: all or nothing. Neither carries owners or grants: the restoring role owns
  what it restores. The password goes to the tools through the environment, never on their
  command line (where `ps` would show it).

A restore goes into an empty database unless `force` (then SQLite's target is overwritten and
PostgreSQL's existing tables are dropped first); it refuses a file of the other kind. It tells
whether the restored schema is the code's newest (a backup older than the code needs `doorstep
migrate` next). Backups hold personal data: keep them where the database is kept.

Not here: the command line (`doorstep backup`, `doorstep restore` in `web.cli`).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import URL

from dispatch.errors import DispatchError
from dispatch.migrate import alembic_config

PG_DUMP = "pg_dump"
PG_RESTORE = "pg_restore"
PSQL = "psql"
SQLITE_MAGIC = b"SQLite format 3\x00"
PG_MAGIC = b"PGDMP"
#: How long the SQLite backup waits for a lock before it gives up (ms).
SQLITE_WAIT_MS = 30_000


class BackupError(DispatchError):
    """A backup or restore that could not be made; says why in one line."""


@dataclass(frozen=True)
class Outcome:
    """What a backup or restore did: the database kind, the file, its size, the schema's
    revision in it, and whether that is the code's newest."""

    kind: str
    path: Path
    size: int
    revision: str | None
    current: bool


def kind_of(url: str) -> str:
    """ "sqlite" or "postgresql" (else `BackupError`)."""
    backend = sa.make_url(url).get_backend_name()
    if backend not in {"sqlite", "postgresql"}:
        raise BackupError(f"no backup for {backend} databases (only SQLite and PostgreSQL)")
    return backend


def backup(*, url: str, target: Path) -> Outcome:
    """Back the database at `url` up into the file `target` (replaced if it exists)."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    kind = kind_of(url)
    try:
        if kind == "sqlite":
            _sqlite_copy(_sqlite_path(url, must_exist=True), partial, self_contained=True)
            _sqlite_check(partial)
        else:
            _run(
                [
                    PG_DUMP,
                    "--format=custom",
                    "--no-owner",
                    "--no-privileges",
                    "--file",
                    str(partial),
                    *_pg_args(url),
                ],
                url,
            )
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)
    return _outcome(kind, target, url)


def restore(*, url: str, source: Path, force: bool = False) -> Outcome:
    """Restore the backup file `source` into the database at `url` (empty, unless `force`)."""
    source = Path(source)
    if not source.is_file():
        raise BackupError(f"no backup file at {source}")
    kind = kind_of(url)
    with source.open("rb") as handle:
        head = handle.read(len(SQLITE_MAGIC))
    expected = SQLITE_MAGIC if kind == "sqlite" else PG_MAGIC
    if not head.startswith(expected):
        wanted = "an SQLite file" if kind == "sqlite" else "a pg_dump custom-format file"
        raise BackupError(f"{source} is not a {kind} backup ({wanted} expected)")
    if not force and _tables(url):
        raise BackupError("the database to restore into is not empty: give --force to replace it")
    if kind == "sqlite":
        _sqlite_check(source)
        _sqlite_copy(source, _sqlite_path(url, must_exist=False))
    else:
        with tempfile.TemporaryDirectory(prefix="doorstep-restore-") as folder:
            script = Path(folder) / "restore.sql"
            restore_script = [PG_RESTORE, "--no-owner", "--no-privileges", "--exit-on-error"]
            _run([*restore_script, "--file", str(script), str(source)], url)
            # The old tables go in the same transaction as the restore: a failed restore leaves
            # the database as it was.
            drop = ["DROP SCHEMA IF EXISTS public CASCADE", "CREATE SCHEMA public"] if force else []
            _run(
                [
                    PSQL,
                    "--single-transaction",
                    "--quiet",
                    "--set",
                    "ON_ERROR_STOP=1",
                    *(arg for statement in drop for arg in ("--command", statement)),
                    "--file",
                    str(script),
                    *_pg_args(url),
                ],
                url,
            )
    return _outcome(kind, source, url)


# --- SQLite -------------------------------------------------------------------------------------


def _sqlite_path(url: str, *, must_exist: bool) -> Path:
    database = sa.make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        raise BackupError("an SQLite backup needs a database file (not in memory)")
    path = Path(database)
    if must_exist and not path.is_file():
        raise BackupError(f"no SQLite database at {path}")
    return path


def _sqlite_copy(source: Path, target: Path, *, self_contained: bool = False) -> None:
    """SQLite's online backup of `source` into `target`, in one step (one read transaction:
    a consistent copy; WAL lets writers go on); `self_contained`: one file, out of WAL mode."""
    target.parent.mkdir(parents=True, exist_ok=True)
    src = sqlite3.connect(source, timeout=SQLITE_WAIT_MS / 1000)
    dst = sqlite3.connect(target, timeout=SQLITE_WAIT_MS / 1000)
    try:
        src.execute(f"PRAGMA busy_timeout={SQLITE_WAIT_MS}")
        src.backup(dst)
        if self_contained:
            # The copy keeps the source's WAL mode otherwise (the server turns WAL on again
            # when it opens a restored database).
            dst.execute("PRAGMA journal_mode=DELETE")
        dst.commit()
    except sqlite3.Error as exc:
        raise BackupError(f"SQLite backup failed: {exc}") from exc
    finally:
        dst.close()
        src.close()


def _sqlite_check(path: Path) -> None:
    connection = sqlite3.connect(path)
    try:
        result = connection.execute("PRAGMA quick_check").fetchone()
    except sqlite3.Error as exc:
        raise BackupError(f"{path} is not a readable SQLite database: {exc}") from exc
    finally:
        connection.close()
    if not result or result[0] != "ok":
        raise BackupError(f"{path} fails SQLite's check: {result[0] if result else 'no answer'}")


# --- PostgreSQL ---------------------------------------------------------------------------------


def _pg_args(url: str, *, flag: str = "--dbname") -> list[str]:
    """libpq's connection arguments for `url`, without its password (given by environment)."""
    parsed = sa.make_url(url)
    args = []
    if parsed.host:
        args += ["--host", parsed.host]
    if parsed.port:
        args += ["--port", str(parsed.port)]
    if parsed.username:
        args += ["--username", parsed.username]
    args += ["--no-password", f"{flag}={parsed.database or ''}"]
    return args


def _run(command: list[str], url: str) -> None:
    if shutil.which(command[0]) is None:
        raise BackupError(
            f"{command[0]} is not installed (Debian: apt-get install postgresql-client)"
        )
    env = dict(os.environ)
    password = sa.make_url(url).password
    if password:
        env["PGPASSWORD"] = str(password)
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise BackupError(f"{command[0]} failed: {last}")


# --- both ---------------------------------------------------------------------------------------


def _sync_url(url: str) -> URL:
    return sa.make_url(url)


def _tables(url: str) -> list[str]:
    if kind_of(url) == "sqlite":
        path = _sqlite_path(url, must_exist=False)
        if not path.exists() or path.stat().st_size == 0:
            return []
    engine = sa.create_engine(_sync_url(url))
    try:
        return sa.inspect(engine).get_table_names()
    finally:
        engine.dispose()


def _outcome(kind: str, path: Path, url: str) -> Outcome:
    heads = frozenset(ScriptDirectory.from_config(alembic_config()).get_heads())
    engine = sa.create_engine(_sync_url(url))
    try:
        with engine.connect() as connection:
            revisions = MigrationContext.configure(connection).get_current_heads()
    finally:
        engine.dispose()
    return Outcome(
        kind=kind,
        path=path,
        size=path.stat().st_size,
        revision=",".join(sorted(revisions)) or None,
        current=frozenset(revisions) == heads,
    )
