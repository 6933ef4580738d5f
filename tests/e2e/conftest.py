"""Fixtures of the browser journeys. Each test module says what they need by module-level
constants: `SCREENSHOTS` (the folder under `var/test-artifacts/` its pictures go to, unless
`$DOORSTEP_SCREENSHOTS` is set) and `NOW` (the time the served app's clock stands at)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright
from sqlalchemy.engine import Engine

from dispatch.config import REPO_ROOT, Settings
from ivr.deps import get_clock
from tests.e2e.served import CHROMIUM_ARGS, served
from tests.ivr.conftest import FixedClock
from web.app import create_app


@pytest.fixture(scope="module")
def shots(request: pytest.FixtureRequest) -> Path:
    """The module's screenshot folder: `$DOORSTEP_SCREENSHOTS`, else
    `var/test-artifacts/<SCREENSHOTS>`."""
    area: str = request.module.SCREENSHOTS
    folder = Path(
        os.environ.get("DOORSTEP_SCREENSHOTS") or REPO_ROOT / "var" / "test-artifacts" / area
    )
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def live_url(request: pytest.FixtureRequest, engine: Engine, settings: Settings) -> Iterator[str]:
    """The app served by uvicorn on a free port, in a thread, its clock stopped at the
    module's `NOW`."""
    now = request.module.NOW
    app = create_app(settings=settings, engine=engine)
    app.dependency_overrides[get_clock] = lambda: FixedClock(now)
    with served(app) as url:
        yield url


@pytest.fixture
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless, closed after the test."""
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            launched.close()
