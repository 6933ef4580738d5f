"""Migrations: a fresh database upgraded to head matches the tables exactly, on each engine;
an older database with data in it upgrades in place."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Engine
from sqlmodel import select

from dispatch import migrate, seed
from dispatch.config import REPO_ROOT
from dispatch.db import make_engine, write_session
from dispatch.geography.models import Village
from dispatch.tables import metadata


def test_migrations_match_the_models(engine: Engine) -> None:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, metadata)
    assert diff == []


def test_places_stored_before_their_names_in_every_script_survive_the_upgrade(
    tmp_path: Path,
) -> None:
    """A database from before `d5a8e3f1c702` (one `make run` earlier), foreign keys enforced
    as the app enforces them: the upgrade adds the columns in place, keeps every place and
    its children, and `doorstep seed` then fills the names."""
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    migrate.upgrade(engine, "c4d7e2a9b1f3")
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO state (code, name, service_name, toll_free, languages, timezone,"
                " citizen_fee_paise, business_fee_paise, min_lat, max_lat, min_lon, max_lon,"
                " sms_numbers) VALUES ('PB', 'Punjab', 'Sewa', '1076', '[\"hi\"]',"
                " 'Asia/Kolkata', 12000, 12000, 29.5, 32.5, 73.8, 76.9, '')"
            )
        )
        conn.execute(
            sa.text(
                "INSERT INTO district (id, state_code, code, name, name_hi, lat, lon)"
                " VALUES (1, 'PB', 'ASR', 'Amritsar', '', 31.6, 74.8)"
            )
        )
        conn.execute(
            sa.text(
                "INSERT INTO block (id, district_id, code, name, lat, lon, terrain)"
                " VALUES (1, 1, 'ASR01', 'Ajnala', 31.8, 74.7, 'plains')"
            )
        )
        conn.execute(
            sa.text(
                "INSERT INTO village (id, block_id, name, lat, lon, terrain, pincode)"
                " VALUES (1, 1, 'Ajnala', 31.8, 74.7, 'plains', '143102')"
            )
        )
    migrate.upgrade(engine)
    with write_session(engine) as session:
        village = session.exec(select(Village)).one()
        assert (village.name, village.name_hi, village.aliases) == ("Ajnala", "", [])
        renamed = seed.load(session=session, seed_dir=REPO_ROOT / "seed_data", states=["PB"])
        assert renamed["PB.places_renamed"] == 3  # the district, the block and the village
        assert session.exec(select(Village)).one().name_hi == "अजनाला"
    engine.dispose()
