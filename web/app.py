"""`create_app()`: the composition root of the web process (console, IVR webhooks, API)."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from sqlalchemy.engine import Engine

from dispatch.config import Settings, get_settings
from dispatch.db import make_engine
from web import errors, home
from web.templating import STATIC_DIR


def create_app(*, settings: Settings | None = None, engine: Engine | None = None) -> FastAPI:
    """Build the application; nothing connects until the first request."""
    settings = settings or get_settings()
    app = FastAPI(title="Doorstep", version="0.1.0")
    app.state.settings = settings
    app.state.engine = engine or make_engine(settings.database_url)
    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")
    app.include_router(home.router)
    errors.install(app)
    return app
