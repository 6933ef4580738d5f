"""`/metrics`: webhook latency per IVR step and HTTP requests by route template (this process,
or every process of the machine in multiprocess mode), the business read from the database
(the same whichever process is scraped), a bearer token in production, no personal data."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr
from sqlalchemy.engine import Engine

from dispatch.config import REPO_ROOT, Settings
from dispatch.db import utcnow, write_session
from dispatch.ports import SolveJob
from dispatch.requests import service as request_service
from dispatch.requests.models import DoorstepRequest
from dispatch.requests.rules import Channel
from tests import factories
from tests.conftest import registered_seed_dir
from tests.ivr.caller import phone
from tests.ivr.conftest import IST, MONDAY_MORNING
from web.app import create_app
from web.metrics import DatabaseCollector, registry_for

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return out


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def scrape(client: TestClient, **headers: str) -> Samples:
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return parse(response.text)


def test_webhook_latency_is_labelled_by_step_and_requests_by_route(
    app: FastAPI, caller: str
) -> None:
    client = TestClient(app)
    before = scrape(client)
    call = phone(app, caller=caller)
    call.dial()
    call.press("1")  # the language
    client.get("/a/not-a-real-token")  # a signed link's path: its template, not the token
    after = scrape(client)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("doorstep_ivr_webhook_duration_seconds_count", step="incoming") == 1
    answered = {
        dict(labels)["step"]
        for (name, labels) in after
        if name == "doorstep_ivr_webhook_duration_seconds_count"
        and dict(labels)["step"].startswith("answer/")
        and grew(name, **dict(labels)) == 1
    }
    assert len(answered) == 1 and "answer/unknown" not in answered
    assert grew("doorstep_ivr_webhook_duration_seconds_bucket", step="incoming", le="15.0") == 1
    assert (
        grew(
            "doorstep_http_requests_total", route="/ivr/voice/incoming", method="POST", status="200"
        )
        == 1
    )
    assert (
        grew(
            "doorstep_http_requests_total",
            route="/ivr/voice/answer/{step}",
            method="POST",
            status="200",
        )
        >= 1
    )
    routes = {dict(labels).get("route") for (_name, labels) in after}
    assert "/a/not-a-real-token" not in routes and caller not in str(after)


def test_a_made_up_step_does_not_grow_the_series(app: FastAPI) -> None:
    from ivr.standin import new_call_sid, signed_headers, twilio_params

    settings: Settings = app.state.settings
    client = TestClient(app)
    url = settings.public_base_url + "/ivr/voice/answer/no-such-step-xyz"
    params = twilio_params(settings, call_sid=new_call_sid(), caller="+919800000000", called="1447")
    client.post(
        "/ivr/voice/answer/no-such-step-xyz",
        data=params,
        headers=signed_headers(settings, url, params),
    )
    steps = {dict(labels).get("step") for (_name, labels) in scrape(client)}
    assert "answer/no-such-step-xyz" not in steps and "answer/unknown" in steps


def test_the_business_is_read_from_the_database(engine: Engine) -> None:
    """A booking, its SMS and its place in the plan show in the figures; a visit planned past
    its window counts late by exactly its minutes."""
    now = MONDAY_MORNING.astimezone(dt.UTC)

    def figures() -> Samples:
        registry = registry_for(engine)
        from prometheus_client.exposition import generate_latest

        return parse(generate_latest(registry).decode())

    def quality() -> Samples:
        from prometheus_client import CollectorRegistry
        from prometheus_client.exposition import generate_latest

        registry = CollectorRegistry()
        registry.register(DatabaseCollector(engine, now=now))
        return parse(generate_latest(registry).decode())

    before, plans_before = figures(), quality()
    with write_session(engine) as session:
        booked, _offer = factories.booked_request(session, district_code="SXR", now=now)
        request_id = booked.id
    after, plans_after = figures(), quality()
    assert value(after, "doorstep_database_up") == 1
    assert (
        value(after, "doorstep_bookings_total", channel="console")
        - value(before, "doorstep_bookings_total", channel="console")
        == 1
    )
    status = str(booked.status)
    assert (
        value(after, "doorstep_requests", status=status, channel="console")
        - value(before, "doorstep_requests", status=status, channel="console")
        == 1
    )
    assert sum(v for (n, _), v in after.items() if n == "doorstep_sms_messages") > sum(
        v for (n, _), v in before.items() if n == "doorstep_sms_messages"
    )
    placed = value(plans_after, "doorstep_plan_visits", placement="placed") - value(
        plans_before, "doorstep_plan_visits", placement="placed"
    )
    unplaced = value(plans_after, "doorstep_plan_visits", placement="unplaced") - value(
        plans_before, "doorstep_plan_visits", placement="unplaced"
    )
    assert placed + unplaced == 1

    # Planned to arrive 25 minutes after its window's end: late, by 25 minutes.
    with write_session(engine) as session:
        row = request_service.get(session=session, request_id=request_id or 0)
        assert row.window_end is not None
        if row.agent_id is None:
            from sqlmodel import select

            from dispatch.agents.models import Agent

            row.agent_id = session.exec(select(Agent)).first().id  # type: ignore[union-attr]
        row.planned_arrival = row.window_end + dt.timedelta(minutes=25)
        session.add(row)
    late = quality()
    assert (
        value(late, "doorstep_plan_visits", placement="late")
        - value(plans_after, "doorstep_plan_visits", placement="late")
        == 1
    )
    assert value(late, "doorstep_plan_late_minutes") - value(
        plans_after, "doorstep_plan_late_minutes"
    ) == pytest.approx(25.0, abs=0.11)


def test_an_unreadable_database_says_so_and_still_scrapes(tmp_path: Path) -> None:
    from prometheus_client.exposition import generate_latest

    from dispatch.db import make_engine

    nowhere = make_engine(f"sqlite:///{tmp_path}/gone/none.db")
    (tmp_path / "gone").rmdir()
    samples = parse(generate_latest(registry_for(nowhere)).decode())
    assert value(samples, "doorstep_database_up") == 0
    assert not any(name.startswith("doorstep_requests") for name, _ in samples)


def test_two_processes_are_summed_in_multiprocess_mode(engine: Engine, tmp_path: Path) -> None:
    """Two worker processes each answer a webhook; a scrape in either counts both."""
    folder = tmp_path / "prom"
    folder.mkdir()
    worker = textwrap.dedent(
        """
        from web import metrics
        metrics.WEBHOOK_DURATION.labels("incoming").observe(0.05)
        metrics.HTTP_REQUESTS.labels("/ivr/voice/incoming", "POST", "200").inc()
        """
    )
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(folder)}
    for _ in range(2):
        subprocess.run([sys.executable, "-c", worker], env=env, cwd=REPO_ROOT, check=True)
    from prometheus_client.exposition import generate_latest

    samples = parse(generate_latest(registry_for(engine, directory=str(folder))).decode())
    assert value(samples, "doorstep_ivr_webhook_duration_seconds_count", step="incoming") == 2
    assert (
        value(
            samples,
            "doorstep_http_requests_total",
            route="/ivr/voice/incoming",
            method="POST",
            status="200",
        )
        == 2
    )
    assert value(samples, "doorstep_database_up") == 1  # the database's figures beside them


def test_the_token_guards_metrics(settings: Settings, engine: Engine) -> None:
    guarded = settings.model_copy(update={"metrics_token": SecretStr("s3cret-scrape-token")})
    client = TestClient(create_app(settings=guarded, engine=engine))
    assert client.get("/metrics").status_code == 401
    wrong = client.get("/metrics", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and wrong.headers["www-authenticate"] == "Bearer"
    assert scrape(client, Authorization="Bearer s3cret-scrape-token")


def test_production_serves_metrics_only_with_a_token(engine: Engine) -> None:
    from tests.web.test_production import SAFE

    production = Settings(**{**SAFE, "seed_dir": registered_seed_dir()})  # type: ignore[arg-type]
    assert (
        TestClient(create_app(settings=production, engine=engine)).get("/metrics").status_code
        == 404
    )
    with_token = production.model_copy(update={"metrics_token": SecretStr("from-the-vault")})
    client = TestClient(create_app(settings=with_token, engine=engine))
    assert client.get("/metrics").status_code == 401
    assert scrape(client, Authorization="Bearer from-the-vault")


def test_no_personal_data_in_the_figures(app: FastAPI, engine: Engine, caller: str) -> None:
    call = phone(app, caller=caller)
    call.dial()
    with write_session(engine) as session:
        booked = factories.request(session)
        citizen_phone = booked.citizen_id
        reference = booked.reference
    text = TestClient(app).get("/metrics").text
    assert caller not in text and caller.removeprefix("+91") not in text
    assert reference not in text and f'citizen_id="{citizen_phone}"' not in text
    assert isinstance(booked, DoorstepRequest) and booked.channel is Channel.CONSOLE


# --- the dispatch loop's zone solves ----------------------------------------------------------

SOLVING = Settings(
    database_url="sqlite://",
    scheduler=False,
    replan_seconds=0.3,
    replan_quiet_seconds=0,
    replan_most_wait_seconds=0,
    solve_lease_seconds=120,
)


def database_figures(engine: Engine) -> Samples:
    """One scrape of the database's figures (what every process answers alike)."""
    from prometheus_client import CollectorRegistry
    from prometheus_client.exposition import generate_latest

    registry = CollectorRegistry()
    registry.register(DatabaseCollector(engine))
    return parse(generate_latest(registry).decode())


def claimed_zone_day(engine: Engine, now: dt.datetime, bookings: int) -> SolveJob:
    """Bookings into one zone-day, then the loop's claim of it as a solver's job."""
    from dispatch.planning import loop
    from dispatch.visits import replan

    zone_days = set()
    with write_session(engine) as session:
        for n in range(bookings):
            booked, _ = factories.booked_request(session, district_code="SXR", now=now, choice=n)
            assert booked.window_start is not None
            zone_days.add((booked.district_id, booked.window_start.astimezone(IST).date()))
    [(district_id, day)] = zone_days
    with write_session(engine) as session:
        claim = loop.claim(
            session=session,
            district_id=district_id,
            day=day,
            now=utcnow(),
            timing=replan.timing_of(SOLVING),
        )
    assert claim is not None
    return SolveJob(district_id, day, claim.token, SOLVING.replan_seconds)


def test_a_zone_solve_shows_with_its_time_in_every_scrape(engine: Engine) -> None:
    """A real zone solve, run as a solver process or machine runs it (`run_solve_job`), is in
    the database's figures: one more saved solve, its wall time in the seconds and in the
    histogram's bucket that holds it, nothing else."""
    from dispatch import scheduled
    from dispatch.planning import loop
    from dispatch.visits.replan import SolveStatus

    job = claimed_zone_day(engine, dt.datetime(2027, 3, 1, 7, 0, tzinfo=IST), 3)
    before = database_figures(engine)
    outcome = scheduled.run_solve_job(engine=engine, settings=SOLVING, job=job)
    after = database_figures(engine)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert outcome.status is SolveStatus.SAVED and 0 < outcome.wall_s <= outcome.elapsed_s
    assert grew("doorstep_zone_solves_total", status="saved") == 1
    assert grew("doorstep_zone_solve_seconds_total", status="saved") == pytest.approx(
        outcome.elapsed_s
    )
    assert grew("doorstep_zone_solve_duration_seconds_count", status="saved") == 1
    assert grew("doorstep_zone_solve_duration_seconds_sum", status="saved") == pytest.approx(
        outcome.elapsed_s
    )
    holds = min(b for b in loop.SOLVE_BUCKETS_S if outcome.elapsed_s <= b)
    for bound in loop.SOLVE_BUCKETS_S:
        bucket = grew("doorstep_zone_solve_duration_seconds_bucket", status="saved", le=str(bound))
        assert bucket == (1 if bound >= holds else 0)
    assert grew("doorstep_zone_solve_duration_seconds_bucket", status="saved", le="+Inf") == 1
    others = {
        dict(labels)["status"]
        for (name, labels) in after
        if name == "doorstep_zone_solves_total" and grew(name, **dict(labels)) != 0
    }
    assert others == {"saved"}
    # Every outcome is shown from zero: a first failure is a rise, not a new series.
    shown = {
        dict(labels)["status"] for (name, labels) in after if name == "doorstep_zone_solves_total"
    }
    assert {str(s) for s in SolveStatus} | {loop.LAPSED} <= shown


def test_a_solve_whose_process_died_counts_as_failed(engine: Engine) -> None:
    """`web.solving` settles a solve whose process failed (killed, stopped at its lease): one
    failed solve, as long as it held its lease; settled again (the lease is back), nothing."""
    from concurrent.futures import Future
    from concurrent.futures.process import BrokenProcessPool

    from dispatch.planning import loop
    from dispatch.visits.replan import SolveOutcome
    from tests.web.test_faults_solver import settings_for
    from web import solving

    job = claimed_zone_day(engine, dt.datetime(2027, 3, 2, 7, 0, tzinfo=IST), 2)
    claim = loop.Claim(job.district_id, job.day, job.token)
    with write_session(engine) as session:  # the solver began 40 s ago, then died
        assert loop.begin(session=session, claim=claim, now=utcnow() - dt.timedelta(seconds=40))
    died: Future[SolveOutcome] = Future()
    died.set_exception(BrokenProcessPool("a child process terminated abruptly"))
    before = database_figures(engine)
    solving._settle_failure(settings_for(engine), job, died)
    after = database_figures(engine)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("doorstep_zone_solves_total", status="failed") == 1
    assert 40 <= grew("doorstep_zone_solve_seconds_total", status="failed") < 100
    assert grew("doorstep_zone_solve_duration_seconds_bucket", status="failed", le="30.0") == 0
    assert grew("doorstep_zone_solve_duration_seconds_bucket", status="failed", le="60.0") == 1
    solving._settle_failure(settings_for(engine), job, died)  # the lease is back: nothing
    again = database_figures(engine)
    assert {k: v for k, v in again.items() if "zone_solve" in k[0]} == {
        k: v for k, v in after.items() if "zone_solve" in k[0]
    }
