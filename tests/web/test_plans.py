"""`/plans`, the old read-only plan board, now sends dispatchers to the dispatch board."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from dispatch.config import Settings
from dispatch.staff.rules import Role
from tests.console import signed_in
from web.app import create_app


def test_plans_redirects_to_the_board_with_the_same_choice(
    engine: Engine, settings: Settings
) -> None:
    client = signed_in(create_app(settings=settings, engine=engine), engine, Role.DISPATCHER)
    response = client.get("/plans", params={"district": "RSI", "day": "2026-12-09"})
    assert response.status_code == 303
    assert response.headers["location"] == "/board?district=RSI&day=2026-12-09"
    assert client.get("/plans").headers["location"] == "/board"
