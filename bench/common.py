"""Shared bench helpers: output location, JSON writing and plain-text tables."""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent


def write_json(name: str, payload: dict[str, Any]) -> Path:
    """Write `payload` to var/bench/<name>.json under the repository root; return the path."""
    out_dir = REPO_ROOT / "var" / "bench"
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")
    return path


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Left-aligned text table; floats shown with 2 decimals, None as '-'."""

    def cell(x: object) -> str:
        if x is None:
            return "-"
        if isinstance(x, float):
            return f"{x:.2f}"
        return str(x)

    cells = [[cell(x) for x in r] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines.extend("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in cells)
    return "\n".join(lines)


def mean(xs: Sequence[float]) -> float | None:
    return statistics.fmean(xs) if xs else None


def percentile(xs: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    s = sorted(xs)
    if not s:
        return float("nan")
    k = max(0, min(len(s) - 1, round(q / 100 * len(s) + 0.5) - 1))
    return s[k]


def wait_until_up(base: str, process: subprocess.Popen[bytes], path: str) -> None:
    """Wait (up to a minute) until the server started as `process` answers `base + path`."""
    import httpx

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server exited with {process.returncode}")
        try:
            httpx.get(base + path, timeout=2)
            return
        except httpx.TransportError:
            time.sleep(0.2)
    raise SystemExit("the server did not start within 60 s")


# --- real servers for the load benches ----------------------------------------------------------


def free_port() -> int:
    """A TCP port on the loopback nobody listens on now."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def doorstep_env(database_url: str, **settings: str) -> dict[str, str]:
    """The environment for a `doorstep` command or server on `database_url` (scheduler off:
    a bench measures the web process alone), plus `DOORSTEP_<NAME>` for each of `settings`."""
    import os

    env = {**os.environ, "DOORSTEP_DATABASE_URL": database_url, "DOORSTEP_SCHEDULER": "false"}
    env.update({f"DOORSTEP_{name.upper()}": value for name, value in settings.items()})
    return env


def prepare_demo(database_url: str, *, demo: bool = True) -> None:
    """`doorstep migrate` and `doorstep seed --demo` on `database_url`, as `make run` does
    (without `demo`: `doorstep seed --state JK`, the seed data of one state alone)."""
    import sys

    doorstep = [sys.executable, "-c", "from web.cli import main; raise SystemExit(main())"]
    seed = ["seed", "--demo"] if demo else ["seed", "--state", "JK"]
    for args in (["migrate"], seed):
        done = subprocess.run(
            [*doorstep, *args],
            env=doorstep_env(database_url),
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if done.returncode != 0:
            raise SystemExit(f"doorstep {' '.join(args)} failed:\n{done.stderr[-2000:]}")


@contextmanager
def scratch_postgres(server_url: str, name: str) -> Iterator[str]:
    """A database `name` created on the PostgreSQL server at `server_url` (any database URL on
    it, e.g. postgresql+psycopg://postgres@127.0.0.1:5432/postgres) and dropped afterwards;
    yields its URL."""
    import sqlalchemy as sa

    url = sa.engine.make_url(server_url)
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
            connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def doorstep_server(
    env: dict[str, str], *, workers: int = 1, log: Path | None = None
) -> Iterator[str]:
    """`doorstep serve --workers N` (uvicorn with `workers` processes, the logging and, with
    several, Prometheus' multiprocess directory set up as in production) on a free loopback
    port, in `env`; yields its base URL and stops it (and its workers) afterwards. The
    server's own output goes to `log` (tracebacks of failed requests land there)."""
    import sys

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    command = [
        sys.executable,
        "-c",
        "from web.cli import main; raise SystemExit(main())",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]
    env = {**env, "DOORSTEP_PUBLIC_BASE_URL": base}
    metrics = None
    if workers > 1:  # the workers' metrics files, in a folder of the run's own
        metrics = Path(tempfile.mkdtemp(prefix="doorstep-bench-metrics-"))
        env["PROMETHEUS_MULTIPROC_DIR"] = str(metrics)
    out = log.open("ab") if log is not None else subprocess.DEVNULL
    process = subprocess.Popen(command, env=env, cwd=REPO_ROOT, stdout=out, stderr=out)
    try:
        wait_until_up(base, process, "/login")
        if workers > 1:  # every worker up, not only the first to answer
            time.sleep(2.0)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
        if log is not None:
            out.close()  # type: ignore[union-attr]
        if metrics is not None:
            shutil.rmtree(metrics, ignore_errors=True)
