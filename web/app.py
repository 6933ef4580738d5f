"""`create_app()`: the composition root of the web process (console, IVR webhooks, API)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from sqlalchemy.engine import Engine

from dispatch.config import Settings, get_settings
from dispatch.db import make_engine
from ivr import webhooks as ivr_webhooks
from web import errors, home, plans, simulator
from web.templating import STATIC_DIR


def create_app(*, settings: Settings | None = None, engine: Engine | None = None) -> FastAPI:
    """Build the application; nothing connects until the first request."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        scheduler = None
        if settings.scheduler:
            from web.worker import build_scheduler

            scheduler = build_scheduler(settings)
            scheduler.start()
        yield
        if scheduler is not None:
            scheduler.shutdown(wait=False)

    app = FastAPI(title="Doorstep", version="0.1.0", lifespan=lifespan)
    app.state.settings = settings
    app.state.engine = engine or make_engine(settings.database_url)
    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")
    app.include_router(home.router)
    app.include_router(plans.router)
    app.include_router(ivr_webhooks.router)
    if settings.simulator:
        app.include_router(simulator.router)
    errors.install(app)
    return app
