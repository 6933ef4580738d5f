"""Fixtures for the IVR tests: the app on the seeded test database with a fixed clock (a Monday
morning far from other tests' days), fresh planning caches, and a new caller's number."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from zoneinfo import ZoneInfo

import pytest
from fastapi import FastAPI
from sqlalchemy.engine import Engine

from dispatch.config import Settings
from dispatch.planning import service as planning_service
from ivr.deps import get_clock
from tests.conftest import build_app, unique_phone

IST = ZoneInfo("Asia/Kolkata")
#: 07:30 on Monday 3 June 2030: the day's first bookable window is 09:00-11:00.
MONDAY_MORNING = dt.datetime(2030, 6, 3, 7, 30, tzinfo=IST)


class FixedClock:
    def __init__(self, now: dt.datetime) -> None:
        self.at = now.astimezone(dt.UTC)

    def now(self) -> dt.datetime:
        return self.at


@pytest.fixture(autouse=True)
def fresh_plan_cache() -> Iterator[None]:
    """The planning cache is per process; engines (SQLite, PostgreSQL) must not share it."""
    planning_service.clear_cache()
    yield
    planning_service.clear_cache()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(MONDAY_MORNING)


@pytest.fixture
def app(engine: Engine, settings: Settings, clock: FixedClock) -> FastAPI:
    """The app; its call-agent queue is the test's own, so queue-wait figures do not mix."""
    queue = f"call-agents-{uuid.uuid4().hex[:8]}"
    settings = settings.model_copy(update={"call_agent_queue": queue})
    application = build_app(settings, engine)
    application.dependency_overrides[get_clock] = lambda: clock
    return application


@pytest.fixture
def caller() -> str:
    return unique_phone()
