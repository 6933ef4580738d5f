"""Alembic environment: runs migrations on the engine `dispatch.migrate` passes in."""

from __future__ import annotations

from alembic import context

from dispatch.tables import metadata

config = context.config


def run_migrations_online() -> None:
    connectable = config.attributes.get("connection")
    if connectable is None:
        from dispatch.config import get_settings
        from dispatch.db import make_engine

        engine = make_engine(
            config.get_main_option("sqlalchemy.url") or get_settings().database_url
        )
        with engine.connect() as connection:
            _run(connection)
        engine.dispose()
    else:
        _run(connectable)


def _run(connection: object) -> None:
    context.configure(
        connection=connection,  # type: ignore[arg-type]
        target_metadata=metadata,
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()
