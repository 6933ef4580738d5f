"""Fixtures for the API tests: the app on the seeded test database with a fixed clock (a Monday
morning no other test books on; Samba's plans are these tests' alone), an API client of J&K
with its key, and a `TestClient` that sends it."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from dispatch.channels import service as channel_service
from dispatch.db import write_session
from tests.ivr.conftest import FixedClock, app, fresh_plan_cache

__all__ = ["app", "fresh_plan_cache"]

IST = ZoneInfo("Asia/Kolkata")
#: 07:30 on Monday 1 August 2039: the day's first bookable window is 09:00-11:00.
MONDAY = dt.datetime(2039, 8, 1, 7, 30, tzinfo=IST)
DISTRICT = "SMB"


@dataclass(frozen=True)
class Key:
    client_id: int
    name: str
    key: str


def make_client(engine: Engine, *, rate: int = 1000, state_code: str = "JK") -> Key:
    """A new API client (committed: the app reads it) and its key."""
    name = f"test-channel-{uuid.uuid4().hex[:8]}"
    with write_session(engine) as session:
        made = channel_service.create(
            session=session, state_code=state_code, name=name, rate_per_minute=rate, actor="test"
        )
        assert made.client.id is not None
        return Key(made.client.id, name, made.key)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(MONDAY)


@pytest.fixture
def key(engine: Engine) -> Key:
    return make_client(engine)


@pytest.fixture
def api(app: FastAPI, key: Key) -> TestClient:
    """A channel calling the API with its key."""
    return TestClient(app, headers={"Authorization": f"Bearer {key.key}"})
