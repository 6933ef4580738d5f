"""The command line: migrate and seed a fresh database, refuse a bad seed, list commands."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlmodel import Session, func, select

from dispatch.config import REPO_ROOT, get_settings
from dispatch.db import make_engine
from dispatch.requests.models import DoorstepRequest
from dispatch.states.models import State
from web import cli


@pytest.fixture
def fresh_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    monkeypatch.setenv("DOORSTEP_DATABASE_URL", url)
    get_settings.cache_clear()
    yield url  # type: ignore[misc]
    get_settings.cache_clear()


def test_help_lists_the_commands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    out = capsys.readouterr().out
    for command in ("migrate", "seed", "serve"):
        assert command in out


def test_migrate_then_seed_demo_on_a_fresh_database(
    fresh_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["migrate"]) == 0
    assert cli.main(["seed", "--demo"]) == 0
    assert cli.main(["seed", "--demo"]) == 0  # twice: nothing new
    engine = make_engine(fresh_db)
    with Session(engine) as s:
        assert {st.code for st in s.exec(select(State))} == {"JK", "PB"}
        demo = list(s.exec(select(DoorstepRequest)))
        assert demo and all(r.status == "assigned" and r.planned_arrival for r in demo)
    engine.dispose()
    assert "already present" in capsys.readouterr().out


def test_bad_seed_exits_nonzero_and_names_the_line(
    fresh_db: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    seed_dir = tmp_path / "seed"
    shutil.copytree(REPO_ROOT / "seed_data", seed_dir)
    districts = seed_dir / "jk" / "districts.csv"
    lines = districts.read_text(encoding="utf-8").splitlines()
    lines[3] = lines[3] + ",extra"
    districts.write_text("\n".join(lines) + "\n", encoding="utf-8")
    monkeypatch.setenv("DOORSTEP_SEED_DIR", str(seed_dir))
    get_settings.cache_clear()
    assert cli.main(["migrate"]) == 0
    assert cli.main(["seed"]) == 1
    err = capsys.readouterr().err
    assert "districts.csv:4" in err and "nothing was loaded" in err
    engine = make_engine(fresh_db)
    with Session(engine) as s:
        assert s.exec(select(func.count()).select_from(State)).one() == 0
    engine.dispose()
