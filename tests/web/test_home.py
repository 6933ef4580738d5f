"""The home page shows the state and the counts of services, agents and districts."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from dispatch.config import Settings
from web.app import create_app


def test_home_page_shows_state_and_counts(engine: Engine, settings: Settings) -> None:
    client = TestClient(create_app(settings=settings, engine=engine))
    response = client.get("/")
    assert response.status_code == 200
    assert response.template.name == "home/index.html"  # type: ignore[attr-defined]
    ctx = response.context  # type: ignore[attr-defined]
    assert ctx["state"].code == "JK" and ctx["districts"] == 20
    assert ctx["services"] >= 40 and ctx["agents"] >= 75
    assert "DigiDost" in response.text and "1447" in response.text
    assert 'id="count-districts">20<' in response.text
