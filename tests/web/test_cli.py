"""The command line: migrate and seed a fresh database, refuse a bad seed, list commands."""

from __future__ import annotations

import shutil
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session, col, func, select

from dispatch.agents.models import Agent
from dispatch.citizens import service as citizen_service
from dispatch.citizens.models import Citizen
from dispatch.config import REPO_ROOT, get_settings
from dispatch.db import make_engine, write_session
from dispatch.fieldwork import access
from dispatch.geography.models import District, Village
from dispatch.notifications.models import OutboxMessage
from dispatch.requests.models import DoorstepRequest
from dispatch.states.models import State
from dispatch.visits import service as visits
from dispatch.visits.proof import Proof
from tests.conftest import unique_phone
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


#: The demo day's requests (one per demo citizen) and the demo history's (past weeks).
_DEMO_DAY = col(DoorstepRequest.idempotency_key).like("demo:%")
_HISTORY = col(DoorstepRequest.idempotency_key).like("demo-history:%")


def test_migrate_then_seed_demo_on_a_fresh_database(
    fresh_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["migrate"]) == 0
    assert cli.main(["seed", "--demo"]) == 0
    assert cli.main(["seed", "--demo"]) == 0  # twice: nothing new
    engine = make_engine(fresh_db)
    with Session(engine) as s:
        assert {st.code for st in s.exec(select(State))} == {"JK", "PB"}
        demo = list(s.exec(select(DoorstepRequest).where(_DEMO_DAY)))
        assert demo and all(r.status == "assigned" and r.planned_arrival for r in demo)
        past = list(s.exec(select(DoorstepRequest).where(_HISTORY)))
        assert past and all(r.logged_at < min(d.logged_at for d in demo) for r in past)
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


def test_demo_seeding_touches_demo_citizens_only_and_only_once(
    fresh_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A second `make run` books nothing again: not for a demo citizen who cancelled, and
    never for a real caller."""
    assert cli.main(["migrate"]) == 0
    assert cli.main(["seed", "--demo"]) == 0
    engine = make_engine(fresh_db)
    with write_session(engine) as s:
        real = citizen_service.register(session=s, state_code="JK", phone=unique_phone())
        village = s.exec(select(Village)).first()
        assert village is not None and real.id is not None
        citizen_service.add_address(session=s, citizen_id=real.id, village_id=village.id or 0)
        first = s.exec(
            select(DoorstepRequest).where(_DEMO_DAY).order_by(col(DoorstepRequest.id))
        ).first()
        assert first is not None
        visits.cancel_visit(
            session=s,
            settings=get_settings(),
            idempotency_key="test:cancel-demo",
            actor="test",
            request_id=first.id or 0,
            proof=Proof(visit_code=first.visit_code),
            reason="changed my mind",
        )
    with Session(engine) as s:
        before = s.exec(select(func.count()).where(_DEMO_DAY)).one()
        everything = s.exec(select(func.count()).select_from(DoorstepRequest)).one()
        demo_citizens = s.exec(
            select(func.count()).where(col(Citizen.demo), Citizen.state_code == "JK")
        ).one()
    assert before == demo_citizens  # one each, real callers none
    capsys.readouterr()
    assert cli.main(["seed", "--demo"]) == 0
    assert "demo: already booked" in capsys.readouterr().out
    with Session(engine) as s:
        assert s.exec(select(func.count()).select_from(DoorstepRequest)).one() == everything
        again = s.get(DoorstepRequest, first.id)
        assert again is not None and again.status == "cancelled"
        assert not s.exec(
            select(DoorstepRequest).where(DoorstepRequest.citizen_id == real.id)
        ).all()
    engine.dispose()


def test_replan_of_a_day_with_visits_and_its_one_line_errors(
    fresh_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The README's example on a day with demo visits (it crashed after saving), and a bad
    district or day told in one line, not a traceback."""
    assert cli.main(["migrate"]) == 0
    assert cli.main(["seed", "--demo"]) == 0
    engine = make_engine(fresh_db)
    with Session(engine) as s:
        request = s.exec(
            select(DoorstepRequest).where(col(DoorstepRequest.agent_id).is_not(None))
        ).first()
        assert request is not None and request.window_start is not None
        district = s.get(District, request.district_id)
        assert district is not None
        day = request.window_start.astimezone(ZoneInfo("Asia/Kolkata")).date().isoformat()
    engine.dispose()
    capsys.readouterr()
    args = ["replan", "--district", district.code, "--day", day, "--time-limit", "0.5"]
    assert cli.main(args) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{district.name} {day}: plan v") and "visits assigned" in out
    assert cli.main(["replan", "--district", "NOPE", "--day", day]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "district 'NOPE' not found" in err
    assert cli.main(["replan", "--district", district.code, "--day", "someday"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is not a date" in err


def test_itineraries_go_out_now_and_once(fresh_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["migrate"]) == 0
    assert cli.main(["seed", "--demo"]) == 0
    engine = make_engine(fresh_db)
    with Session(engine) as s:
        first = s.exec(
            select(DoorstepRequest).where(_DEMO_DAY).order_by(col(DoorstepRequest.window_start))
        ).first()
        assert first is not None and first.window_start is not None
        district = s.get(District, first.district_id)
        assert district is not None
    day = first.window_start.astimezone(ZoneInfo("Asia/Kolkata")).date().isoformat()
    capsys.readouterr()
    assert cli.main(["itineraries", "--day", day, "--district", district.code]) == 0
    assert "messages queued" in capsys.readouterr().out
    with Session(engine) as s:
        lines = s.exec(
            select(OutboxMessage).where(
                OutboxMessage.kind == "itinerary", col(OutboxMessage.body).contains(first.reference)
            )
        ).all()
    assert len(lines) == 1
    assert cli.main(["itineraries", "--day", day, "--district", district.code]) == 0
    assert "nothing new" in capsys.readouterr().out
    assert cli.main(["itineraries", "--day", "tomorrow"]) == 1
    engine.dispose()


def test_agent_pin_is_asked_twice_and_stored_hashed(
    fresh_db: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["migrate"]) == 0
    assert cli.main(["seed"]) == 0
    engine = make_engine(fresh_db)
    with Session(engine) as s:
        agent = s.exec(select(Agent)).first()
        assert agent is not None
    answers = iter(["1357", "1357", "1357", "9999"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    assert cli.main(["agent-pin", "--csc", agent.csc_id]) == 0
    assert cli.main(["agent-pin", "--csc", agent.csc_id]) == 1  # the two differ
    assert "differ" in capsys.readouterr().err
    with Session(engine) as s:
        stored = s.get(Agent, agent.id)
        assert stored is not None and stored.pin_hash and "1357" not in stored.pin_hash
        assert access.pin_matches(stored, "1357")
    engine.dispose()


def test_staff_command_creates_an_account_and_resets_its_password(
    fresh_db: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A production database gets its first admin from the command line (no demo password)."""
    from dispatch.config import Settings
    from dispatch.staff import service as staff_service

    assert cli.main(["migrate"]) == 0
    assert cli.main(["seed"]) == 0
    answers = iter(["first admin pw", "first admin pw", "second admin pw", "second admin pw"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    assert cli.main(["staff", "Root.Admin", "--role", "admin", "--name", "Root"]) == 0
    assert cli.main(["staff", "root.admin"]) == 0
    assert "new password for root.admin" in capsys.readouterr().out
    engine = make_engine(fresh_db)
    with Session(engine) as s:
        settings = Settings(database_url=fresh_db)
        old = staff_service.sign_in(
            session=s, settings=settings, username="root.admin", password="first admin pw"
        )
        new = staff_service.sign_in(
            session=s, settings=settings, username="root.admin", password="second admin pw"
        )
        assert old is None and new is not None and new.user.name == "Root"
    engine.dispose()
    monkeypatch.setattr("getpass.getpass", lambda prompt="": "doorstep-demo")
    assert cli.main(["staff", "someone", "--role", "admin"]) == 1  # the demo password: nobody's
    assert "demo password" in capsys.readouterr().err


def test_production_refuses_demo_data(
    fresh_db: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Demo requests and the demo agents' PIN (printed in the README) never reach production."""
    monkeypatch.setenv("DOORSTEP_ENV", "production")
    get_settings.cache_clear()
    assert cli.main(["seed", "--demo"]) == 1
    assert "development only" in capsys.readouterr().err
