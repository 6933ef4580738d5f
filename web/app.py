"""`create_app()`: the composition root of the web process (IVR webhooks, the console, the
simulator).

The channels' JSON API is an application of its own mounted at `/api/v1` (`web.api`), served
in production too with its OpenAPI description; the admins' page of its keys is
`/admin/api-clients` (`web.api_clients`).

It refuses production settings that still hold a development secret or switch
(`Settings.refuse_unsafe`), and at start-up a console account that still has the demo password.
In production it serves neither the console's OpenAPI description nor its documentation pages
(the channels' API keeps its own description, its contract), nor the development tools: the
phone simulator (anyone picks a caller ID) and the SMS outbox (it shows what citizens were
sent). Every console page checks its permission itself (`web.auth`); the CSRF
check wraps the whole app.
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from sqlalchemy.engine import Engine

from dispatch.config import Settings, UnsafeSettings, get_settings
from dispatch.db import make_engine, read_session
from dispatch.staff import service as staff_service
from ivr import sms_incoming as ivr_sms_incoming
from ivr import sms_status as ivr_sms_status
from ivr import webhooks as ivr_webhooks
from web import (
    admin_agents,
    admin_services,
    agent_day,
    alerts,
    api_clients,
    board,
    callbacks,
    errors,
    feedback,
    fees,
    health,
    home,
    intake,
    metrics,
    outbox,
    pendency,
    plans,
    requests,
    signin,
    simulator,
    staff,
    tasks,
)
from web.api.app import create_api, mounted
from web.auth import CsrfMiddleware
from web.logs import LogContextMiddleware, RouteNoteMiddleware
from web.metrics import MetricsMiddleware
from web.security import SecurityHeaders
from web.templating import STATIC_DIR


def create_app(*, settings: Settings | None = None, engine: Engine | None = None) -> FastAPI:
    """Build the application; nothing connects until the first request. `UnsafeSettings` if
    production settings hold development defaults."""
    settings = settings or get_settings()
    settings.refuse_unsafe()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.production:
            refuse_demo_staff(app.state.engine)
        # What the imports and the app made lives as long as the process: collected once, then
        # out of the garbage collector's sight, so a full collection no longer walks ~200k
        # objects while serving (~100 ms, which landed on a caller's booking).
        gc.collect()
        gc.freeze()
        scheduler = None
        if settings.scheduler:
            from web.worker import build_scheduler, start_scheduler

            scheduler = build_scheduler(settings)
            start_scheduler(scheduler, settings, engine=app.state.engine)
        yield
        if scheduler is not None:
            from web.worker import stop_scheduler

            stop_scheduler(scheduler)

    internal = not settings.production  # the OpenAPI description and its pages
    app = FastAPI(
        title="Doorstep",
        version="0.1.0",
        lifespan=lifespan,
        openapi_url="/openapi.json" if internal else None,
        docs_url="/docs" if internal else None,
        redoc_url="/redoc" if internal else None,
    )
    app.state.settings = settings
    app.state.engine = engine or make_engine(settings.database_url)
    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")
    app.router.routes.append(
        mounted(
            create_api(
                settings=settings, engine=app.state.engine, overrides=app.dependency_overrides
            )
        )
    )
    app.state.sign_in_throttle = signin.SignInThrottle(settings)
    app.add_middleware(RouteNoteMiddleware)  # innermost: the route matched, for those outside
    app.add_middleware(CsrfMiddleware, settings=settings)
    app.add_middleware(MetricsMiddleware)  # outside the CSRF check: refusals counted too
    app.add_middleware(LogContextMiddleware)  # around the metrics: every line has the sid
    app.include_router(health.router)
    app.include_router(metrics.router)
    app.add_middleware(SecurityHeaders, settings=settings)  # outermost: every answer
    app.include_router(home.router)
    app.include_router(signin.router)
    app.include_router(staff.router)
    app.include_router(intake.router)
    app.include_router(callbacks.router)
    app.include_router(requests.router)
    app.include_router(board.router)
    app.include_router(pendency.router)
    app.include_router(fees.router)
    app.include_router(feedback.router)
    app.include_router(alerts.router)
    app.include_router(tasks.router)
    app.include_router(admin_agents.router)
    app.include_router(admin_services.router)
    app.include_router(api_clients.router)
    app.include_router(agent_day.router)  # the signed link is the agent's proof
    app.include_router(ivr_webhooks.router)
    app.include_router(ivr_sms_status.router)
    app.include_router(ivr_sms_incoming.router)
    if not settings.production:
        app.include_router(plans.router)
        app.include_router(outbox.router)
        if settings.simulator:
            app.include_router(simulator.router)
    errors.install(app)
    return app


def refuse_demo_staff(engine: Engine) -> None:
    """`UnsafeSettings` while a console account still has the demo password (production)."""
    with read_session(engine) as session:
        holders = staff_service.demo_password_holders(session=session)
    if holders:
        raise UnsafeSettings(
            [f"console accounts {', '.join(holders)} still have the demo password"]
        )
