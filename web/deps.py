"""Dependency aliases for the web adapters: settings, engine, sessions. Tests override them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Path, Request
from sqlalchemy.engine import Engine
from sqlmodel import Session

from dispatch.config import Settings
from dispatch.db import read_session, write_session


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def get_read_session(engine: Annotated[Engine, Depends(get_engine)]) -> Iterator[Session]:
    with read_session(engine) as session:
        yield session


def get_write_session(engine: Annotated[Engine, Depends(get_engine)]) -> Iterator[Session]:
    with write_session(engine) as session:
        yield session


SettingsDep = Annotated[Settings, Depends(get_settings)]
EngineDep = Annotated[Engine, Depends(get_engine)]
ReadSessionDep = Annotated[Session, Depends(get_read_session)]
#: Committed when the route function returns, before the answer goes out (`scope="function"`):
#: a page never says "done" for a write that then fails to commit.
WriteSessionDep = Annotated[Session, Depends(get_write_session, scope="function")]

#: A row id in a path: within what every database holds, else 422 (never an overflow).
RowId = Annotated[int, Path(ge=1, le=2**31 - 1)]
