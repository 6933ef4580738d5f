"""Seed loading: the real files load; a bad row fails the load with file, line and reason and
writes nothing."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, func, select

from dispatch import migrate, seed
from dispatch.agents.models import Agent
from dispatch.catalogue.models import Service
from dispatch.config import REPO_ROOT
from dispatch.db import make_engine, write_session
from dispatch.errors import SeedError
from dispatch.geography.models import Block, District, Village
from dispatch.states.models import State

SEED = REPO_ROOT / "seed_data"


def count(session: Session, model: type) -> int:
    return int(session.exec(select(func.count()).select_from(model)).one())


def test_real_seed_meets_the_brief(session: Session) -> None:
    jk = session.get(State, "JK")
    assert jk is not None and jk.toll_free == "1447"
    districts = list(session.exec(select(District).where(District.state_code == "JK")))
    assert len(districts) == 20
    for district in districts:
        blocks = list(session.exec(select(Block).where(Block.district_id == district.id)))
        assert len(blocks) >= 3, district.name
    assert count(session, Village) >= 200
    services = list(session.exec(select(Service).where(Service.state_code == "JK")))
    assert len(services) >= 40
    assert {s.doorstep_fee_paise for s in services if s.category == "citizen"} == {5000}
    assert {s.doorstep_fee_paise for s in services if s.category == "business"} == {7500}
    assert len(list(session.exec(select(Agent).where(Agent.state_code == "JK")))) >= 75
    pb = session.get(State, "PB")
    assert pb is not None and pb.toll_free == "1076"
    pb_services = list(session.exec(select(Service).where(Service.state_code == "PB")))
    assert pb_services and all(s.doorstep_fee_paise == 12000 for s in pb_services)


def test_seeding_twice_changes_nothing(engine: Engine) -> None:
    with write_session(engine) as s:
        before = count(s, Service), count(s, Agent)
        seed.load(session=s, seed_dir=SEED)
        assert (count(s, Service), count(s, Agent)) == before


def _copy_with(tmp_path: Path, relative: str, line: int, replace: tuple[str, str]) -> Path:
    target = tmp_path / "seed"
    shutil.copytree(SEED, target)
    path = target / relative
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    old, new = replace
    assert old in lines[line - 1], lines[line - 1]
    lines[line - 1] = lines[line - 1].replace(old, new, 1)
    path.write_text("".join(lines), encoding="utf-8")
    return target


def _agent_line(field: str) -> tuple[int, str]:
    rows = (SEED / "jk" / "agents.csv").read_text(encoding="utf-8").splitlines()
    header = rows[0].split(",")
    return 5, rows[4].split(",")[header.index(field)]


@pytest.mark.parametrize(
    ("relative", "field", "bad", "reason"),
    [
        ("jk/agents.csv", "phone", "+91123", "phone"),
        ("jk/agents.csv", "travel_mode", "helicopter", "travel_mode"),
        ("jk/agents.csv", "lat", "28.6139", "outside Jammu and Kashmir"),
        ("jk/agents.csv", "block_code", "NOPE01", "block 'NOPE01' not found"),
    ],
)
def test_bad_agent_row_fails_with_file_line_reason_and_loads_nothing(
    tmp_path: Path, relative: str, field: str, bad: str, reason: str
) -> None:
    line, old = _agent_line(field)
    seed_dir = _copy_with(tmp_path, relative, line, (old, bad))
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    migrate.upgrade(engine)
    with pytest.raises(SeedError) as err, write_session(engine) as s:
        seed.load(session=s, seed_dir=seed_dir)
    assert err.value.file.endswith(relative) and err.value.line == line
    assert reason in str(err.value)
    with write_session(engine) as s:
        assert count(s, State) == 0 and count(s, Agent) == 0 and count(s, District) == 0
    engine.dispose()


def test_negative_government_fee_is_refused(tmp_path: Path) -> None:
    rows = (SEED / "jk" / "services.csv").read_text(encoding="utf-8").splitlines()
    header = rows[0].split(",")
    assert "government_fee_paise" in header
    target = tmp_path / "seed"
    shutil.copytree(SEED, target)
    import csv
    import io

    reader = list(csv.DictReader(io.StringIO("\n".join(rows) + "\n")))
    reader[2]["government_fee_paise"] = "-100"
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=header, lineterminator="\n")
    writer.writeheader()
    writer.writerows(reader)
    (target / "jk" / "services.csv").write_text(out.getvalue(), encoding="utf-8")
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    migrate.upgrade(engine)
    with (
        pytest.raises(SeedError, match="government_fee_paise=-100: must not be negative") as err,
        write_session(engine) as s,
    ):
        seed.load(session=s, seed_dir=target)
    assert err.value.line == 4
    with write_session(engine) as s:
        assert count(s, Service) == 0
    engine.dispose()


DEVANAGARI = re.compile(r"^[\u0900-\u097F\s\-]+$")
ARABIC_SCRIPT = re.compile(r"^[\u0600-\u06FF\u0750-\u077F\uFB50-\uFDFF\uFE70-\uFEFF\s\-]+$")


@pytest.mark.parametrize("model", [District, Block, Village])
def test_every_place_has_its_hindi_and_urdu_name_in_their_own_scripts(
    session: Session, model: type[District] | type[Block] | type[Village]
) -> None:
    """What Hindi and Urdu prompts read out and what Hindi and Urdu speech is matched to."""
    places = list(session.exec(select(model)))
    assert places
    wrong = [
        (p.name, p.name_hi, p.name_ur)
        for p in places
        if not DEVANAGARI.match(p.name_hi) or not ARABIC_SCRIPT.match(p.name_ur)
    ]
    assert wrong == []
    assert sum(bool(p.aliases) for p in places) > len(places) // 2  # spoken variants too


def test_seeding_again_brings_place_names_up_to_date(tmp_path: Path) -> None:
    """A database seeded before a place had its Hindi name gets it from the next seed, and
    only names change."""
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    migrate.upgrade(engine)
    with write_session(engine) as s:
        seed.load(session=s, seed_dir=SEED, states=["PB"])
        village = s.exec(select(Village).where(Village.name == "Ajnala")).one()
        expected = (village.name_hi, village.name_ur, village.aliases)
        village.name_hi, village.name_ur, village.aliases = "", "", []
        s.add(village)
    with write_session(engine) as s:
        counts = seed.load(session=s, seed_dir=SEED, states=["PB"])
        assert counts["PB.places_renamed"] == 1
        village = s.exec(select(Village).where(Village.name == "Ajnala")).one()
        assert (village.name_hi, village.name_ur, village.aliases) == expected
    with write_session(engine) as s:
        assert seed.load(session=s, seed_dir=SEED, states=["PB"])["PB.places_renamed"] == 0
    engine.dispose()
