"""The scheduler process: every task, the solver in a child process, the settings it was
built with handed to every task."""

from __future__ import annotations

from dispatch.config import Settings
from web.worker import build_scheduler


def test_the_scheduler_has_every_task_and_gives_them_its_settings() -> None:
    settings = Settings(scheduler=True, database_url="sqlite:////nowhere/else.db")
    scheduler = build_scheduler(settings)
    assert {j.id for j in scheduler.get_jobs()} == {
        "improve-plans",
        "send-sms",
        "forget-answers",
        "inform-agents",
        "set-off",
        "reminders",
        "feedback-calls",
        "replan-runs",
    }
    improve = scheduler.get_job("improve-plans")
    assert improve is not None and improve.executor == "solver"  # never in the web's threads
    for job in scheduler.get_jobs():
        assert job.args == (settings,)  # not the environment's settings
