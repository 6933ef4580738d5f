"""Prometheus metrics at `GET /metrics` (prometheus-client), right with any number of processes.

Two kinds of figures, each from where it is true:

- **Timings and counts of this process's HTTP work** (`MetricsMiddleware`): requests by route
  template, method and status (`doorstep_http_requests_total`), their duration
  (`doorstep_http_request_duration_seconds`), and each IVR webhook's duration labelled by its
  step (`doorstep_ivr_webhook_duration_seconds{step="answer/offer"}`, measured until the
  answer's last byte went out). Each process counts its own; with several uvicorn workers on
  one machine set `PROMETHEUS_MULTIPROC_DIR` to an empty directory before they start (`doorstep
  serve --workers N` does it for you) and every worker's scrape sums them all
  (prometheus-client's multiprocess mode); with several machines, Prometheus scrapes each and
  `sum()` adds them up.
- **The business, read from the database on each scrape** (`DatabaseCollector`): requests by
  status and channel, bookings, the SMS outbox by status, the dispatchers' re-plan runs and
  their durations, the dispatch loop's zone solves by outcome with their time and its
  distribution (counted where each solve settles, on whichever machine ran it:
  `dispatch.planning.loop.record_solve`), zone-days waiting for the solver, the scheduled
  tasks' runs and failures,
  and the quality of the current plans (open visits unplaced, late and by how many minutes, at
  risk). Every process and every machine reads the same rows, so they all answer the same
  figures whichever one is scraped (aggregate them with `max()`, not `sum()`); counting them
  in-process would miss what other processes did and start at zero on each restart.

`/metrics` wants `Authorization: Bearer <DOORSTEP_METRICS_TOKEN>` when that is set; without it
the endpoint is open in development and absent (404) in production. No label carries
personal data: route templates (not raw paths), step names, statuses, channels, task names.

Not here: the logs (`web.logs`), `/healthz` and `/readyz` (`web.health`).
"""

from __future__ import annotations

import datetime as dt
import hmac
import logging
import os
import time
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
    SummaryMetricFamily,
)
from prometheus_client.exposition import generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy.engine import Engine
from sqlmodel import col, func, select
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dispatch.config import Settings
from dispatch.db import WAIT_MS, read_session, utcnow
from dispatch.notifications.models import OutboxMessage
from dispatch.planning import loop
from dispatch.planning.models import ReplanRun, ReplanStatus, ZonePlan, ZoneSolveStat
from dispatch.requests.models import DoorstepRequest, RequestEvent
from dispatch.requests.rules import RequestStatus
from dispatch.taskruns.models import TaskRun
from dispatch.visits.replan import SolveStatus
from web.deps import EngineDep, SettingsDep
from web.logs import path_params, route_template

log = logging.getLogger(__name__)
router = APIRouter(tags=["operations"])

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
#: Twilio gives up after 15 s; the issue's target is p99 <= 300 ms.
WEBHOOK_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 15.0)
#: How long a scrape waits for the database's locks.
SCRAPE_WAIT_S = 2.0

# This process's own figures (in multiprocess mode, written to PROMETHEUS_MULTIPROC_DIR).
PROCESS = CollectorRegistry(auto_describe=True)
HTTP_REQUESTS = Counter(
    "doorstep_http_requests",
    "HTTP requests answered, by route template, method and status.",
    ["route", "method", "status"],
    registry=PROCESS,
)
HTTP_DURATION = Histogram(
    "doorstep_http_request_duration_seconds",
    "Time to answer an HTTP request (until its last byte), by route template and method.",
    ["route", "method"],
    registry=PROCESS,
)
WEBHOOK_DURATION = Histogram(
    "doorstep_ivr_webhook_duration_seconds",
    "Time to answer a Twilio webhook, by IVR step (incoming, ask/<step>, answer/<step>, "
    "status, queue/wait, sms/incoming, sms/status).",
    ["step"],
    buckets=WEBHOOK_BUCKETS,
    registry=PROCESS,
)


def ivr_step(scope: Scope, template: str) -> str | None:
    """The IVR step a webhook answers (from its route), or None if it is not a webhook. Only
    known step names become labels (a made-up path cannot grow the series)."""
    from ivr.flow import ANSWER, ASK  # the steps registered by the IVR package

    if template.startswith("/ivr/sms/"):
        return "sms/" + ("status" if "status" in template else "incoming")
    if not template.startswith("/ivr/voice/"):
        return None
    tail = template.removeprefix("/ivr/voice/")
    if tail in {"ask/{step}", "answer/{step}"}:
        step = str(path_params(scope).get("step", ""))
        kind = tail.split("/")[0]
        known = ANSWER if kind == "answer" else ASK
        return f"{kind}/{step}" if step in known else f"{kind}/unknown"
    return tail


class MetricsMiddleware:
    """Counts and times every HTTP request of this process (pure ASGI: the timing ends with
    the answer's last byte, before any background task such as sending an SMS)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope.setdefault("state", {})  # where the route is noted (`web.logs.RouteNoteMiddleware`)
        start = time.perf_counter()
        status = 500
        done = False

        def observe() -> None:
            nonlocal done
            if done:
                return
            done = True
            elapsed = time.perf_counter() - start
            template = route_template(scope)
            method = str(scope.get("method", ""))
            HTTP_REQUESTS.labels(template, method, str(status)).inc()
            HTTP_DURATION.labels(template, method).observe(elapsed)
            step = ivr_step(scope, template)
            if step is not None:
                WEBHOOK_DURATION.labels(step).observe(elapsed)

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                observe()

        try:
            await self.app(scope, receive, sending)
        finally:
            observe()  # an app that failed before answering: counted as 500


# --- figures read from the database -------------------------------------------------------------

#: Visits still to make: the plan's quality is measured over these.
OPEN = (RequestStatus.SCHEDULED, RequestStatus.ASSIGNED, RequestStatus.EN_ROUTE)


class DatabaseCollector(Collector):
    """The business figures, read on each scrape in one read-only session (so every process
    gives the same). A database that cannot be read gives `doorstep_database_up 0` and nothing
    else, never a failed scrape."""

    def __init__(self, engine: Engine, *, now: dt.datetime | None = None) -> None:
        self.engine = engine
        self.now = now

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("doorstep_database_up", "The database answered this scrape.")
        try:
            families = list(self._read(self.now or utcnow()))
        except Exception:
            log.warning("metrics: the database could not be read", exc_info=True)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families

    def _read(self, now: dt.datetime) -> Iterator[Metric]:
        bounded = self.engine.execution_options(**{WAIT_MS: SCRAPE_WAIT_S * 1000})
        with read_session(bounded) as session:
            requests = GaugeMetricFamily(
                "doorstep_requests",
                "Doorstep requests by status and channel.",
                labels=["status", "channel"],
            )
            for status, channel, n in session.exec(
                select(DoorstepRequest.status, DoorstepRequest.channel, func.count()).group_by(
                    DoorstepRequest.status, DoorstepRequest.channel
                )
            ):
                requests.add_metric([str(status), str(channel)], n)
            yield requests

            bookings = CounterMetricFamily(
                "doorstep_bookings",
                "Requests booked into a window (their first booking), by channel.",
                labels=["channel"],
            )
            for channel, n in session.exec(
                select(DoorstepRequest.channel, func.count())
                .join(RequestEvent, col(RequestEvent.request_id) == col(DoorstepRequest.id))
                .where(
                    RequestEvent.from_status == RequestStatus.LOGGED,
                    RequestEvent.to_status == RequestStatus.SCHEDULED,
                )
                .group_by(DoorstepRequest.channel)
            ):
                bookings.add_metric([str(channel)], n)
            yield bookings

            sms = GaugeMetricFamily(
                "doorstep_sms_messages",
                "SMS in the outbox by status (queued, sending, sent, delivered, undelivered, "
                "failed, uncertain).",
                labels=["status"],
            )
            for status, n in session.exec(
                select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
            ):
                sms.add_metric([str(status)], n)
            yield sms

            yield from self._solver(session)
            yield from self._tasks(session)
            yield from self._plans(session, now)

    def _solver(self, session: Any) -> Iterator[Metric]:
        runs = GaugeMetricFamily(
            "doorstep_replan_runs",
            "Dispatchers' re-plan runs by status (queued, running, done, failed).",
            labels=["status"],
        )
        for status, n in session.exec(
            select(ReplanRun.status, func.count()).group_by(ReplanRun.status)
        ):
            runs.add_metric([str(status)], n)
        yield runs
        finished = session.exec(
            select(ReplanRun.started_at, ReplanRun.finished_at).where(
                col(ReplanRun.status).in_([ReplanStatus.DONE, ReplanStatus.FAILED]),
                col(ReplanRun.started_at).is_not(None),
                col(ReplanRun.finished_at).is_not(None),
            )
        ).all()
        seconds = sum((end - start).total_seconds() for start, end in finished)
        duration = SummaryMetricFamily(
            "doorstep_replan_run_duration_seconds",
            "Time the finished re-plan runs took, start to end.",
            count_value=len(finished),
            sum_value=seconds,
        )
        yield duration
        yield from self._zone_solves(session)
        waiting = session.exec(
            select(func.count()).where(col(ZonePlan.improved_version) < col(ZonePlan.version))
        ).one()
        yield GaugeMetricFamily(
            "doorstep_zone_days_waiting_for_solver",
            "Zone-days whose plan changed since the solver last improved it.",
            value=waiting,
        )

    def _zone_solves(self, session: Any) -> Iterator[Metric]:
        """The dispatch loop's zone solves by how they ended: counts, seconds, and a histogram
        of their durations (per outcome: a saved solve's time is its searches', a lapsed one's
        at least its lease). Every outcome is shown from zero, so a first failure is a rise."""
        rows = session.exec(
            select(ZoneSolveStat.status, ZoneSolveStat.le_ms, ZoneSolveStat.solves,
                   ZoneSolveStat.seconds)
        ).all()  # fmt: skip
        statuses = sorted({*(str(s) for s in SolveStatus), loop.LAPSED, *(r[0] for r in rows)})
        bounds = [round(b * 1000) for b in loop.SOLVE_BUCKETS_S]
        solves = CounterMetricFamily(
            "doorstep_zone_solves",
            "Zone solves of the dispatch loop by how they ended (saved, empty, outdated, lost, "
            "failed, lapsed), wherever they ran.",
            labels=["status"],
        )
        seconds = CounterMetricFamily(
            "doorstep_zone_solve_seconds",
            "Wall time of the zone solves (start to the transaction that settled them), summed, "
            "by how they ended.",
            labels=["status"],
        )
        histogram = HistogramMetricFamily(
            "doorstep_zone_solve_duration_seconds",
            "Wall time of the zone solves by how they ended.",
            labels=["status"],
        )
        for status in statuses:
            mine = [(le_ms, n, s) for st, le_ms, n, s in rows if st == status]
            count, total = sum(n for _, n, _ in mine), sum(s for _, _, s in mine)
            solves.add_metric([status], count)
            seconds.add_metric([status], total)
            # A row whose bound is no longer one of ours counts in the next bound above it.
            buckets = [
                (str(b / 1000), sum(n for le_ms, n, _ in mine if le_ms <= b)) for b in bounds
            ]
            histogram.add_metric([status], [*buckets, ("+Inf", count)], sum_value=total)
        yield solves
        yield seconds
        yield histogram

    def _tasks(self, session: Any) -> Iterator[Metric]:
        runs = CounterMetricFamily(
            "doorstep_task_runs", "Runs of each scheduled task.", labels=["task"]
        )
        failures = CounterMetricFamily(
            "doorstep_task_failures", "Failed runs of each scheduled task.", labels=["task"]
        )
        last = GaugeMetricFamily(
            "doorstep_task_last_finished_timestamp_seconds",
            "When each scheduled task last finished a run (Unix time).",
            labels=["task"],
        )
        for row in session.exec(select(TaskRun)):
            runs.add_metric([row.name], row.runs)
            failures.add_metric([row.name], row.failures)
            if row.last_finished_at is not None:
                last.add_metric([row.name], row.last_finished_at.timestamp())
        yield runs
        yield failures
        yield last

    def _plans(self, session: Any, now: dt.datetime) -> Iterator[Metric]:
        """Over the open visits whose window has not ended: placed in a plan or not, planned
        to arrive after their window and by how much, flagged at risk by the agent's day."""
        rows = session.exec(
            select(
                DoorstepRequest.planned_arrival,
                DoorstepRequest.agent_id,
                DoorstepRequest.window_end,
                DoorstepRequest.at_risk,
            ).where(
                col(DoorstepRequest.status).in_(OPEN),
                col(DoorstepRequest.window_end) >= now,
            )
        ).all()
        placed = unplaced = late = at_risk = 0
        late_s = 0.0
        for arrival, agent_id, window_end, risky in rows:
            if arrival is None or agent_id is None:
                unplaced += 1
            else:
                placed += 1
                if arrival > window_end:
                    late += 1
                    late_s += (arrival - window_end).total_seconds()
            at_risk += bool(risky)
        visits = GaugeMetricFamily(
            "doorstep_plan_visits",
            "Open visits whose window has not ended, by how the current plans place them "
            "(placed, unplaced, late: placed to arrive after the window's end).",
            labels=["placement"],
        )
        visits.add_metric(["placed"], placed)
        visits.add_metric(["unplaced"], unplaced)
        visits.add_metric(["late"], late)
        yield visits
        yield GaugeMetricFamily(
            "doorstep_plan_late_minutes",
            "Minutes past their windows' ends that the current plans arrive, summed over late "
            "visits.",
            value=round(late_s / 60, 1),
        )
        yield GaugeMetricFamily(
            "doorstep_plan_at_risk_visits",
            "Open visits the agent's real progress says can no longer be made in their window.",
            value=at_risk,
        )


# --- the endpoint ------------------------------------------------------------------------------


def multiproc_dir() -> str | None:
    """The multiprocess directory, if this process runs in prometheus-client's multiprocess
    mode."""
    return os.environ.get(MULTIPROC_ENV) or None


def registry_for(engine: Engine, *, directory: str | None = None) -> CollectorRegistry:
    """What one scrape shows: every process's HTTP figures (this one's, or all of this
    machine's from `directory`), and the database's."""
    registry = CollectorRegistry(auto_describe=False)
    if directory:
        MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
    else:
        registry.register(PROCESS)
    registry.register(DatabaseCollector(engine))
    return registry


def _allowed(request: Request, settings: Settings) -> None:
    token = settings.metrics_token.get_secret_value() if settings.metrics_token else ""
    if not token:
        if settings.production:
            raise HTTPException(status_code=404)
        return
    given = request.headers.get("authorization", "")
    scheme, _, credential = given.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        credential.strip().encode(), token.encode()
    ):
        raise HTTPException(
            status_code=401,
            detail="a bearer token is needed",
            headers={"WWW-Authenticate": "Bearer"},
        )


@router.get("/metrics", include_in_schema=False)
def metrics(request: Request, settings: SettingsDep, engine: EngineDep) -> Response:
    """The Prometheus text exposition (plain `def`: the database is read in a thread)."""
    _allowed(request, settings)
    body = generate_latest(registry_for(engine, directory=multiproc_dir()))
    return Response(
        content=body, media_type=CONTENT_TYPE_LATEST, headers={"Cache-Control": "no-store"}
    )
