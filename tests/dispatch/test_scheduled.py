"""Scheduled plan improvement: changed zone-days are re-planned once, off the write lock."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine

from dispatch import scheduled
from dispatch.db import read_session, write_session
from dispatch.planning import service as planning
from dispatch.planning import zone
from dispatch.planning.models import ZonePlan
from routing.checker import check
from tests import factories


def test_changed_plans_are_improved_once(engine: Engine) -> None:
    now = dt.datetime(2026, 12, 8, 7, 0, tzinfo=ZoneInfo("Asia/Kolkata"))  # a Tuesday
    planning.clear_cache()
    with write_session(engine) as s:
        for _ in range(6):
            r, offer = factories.booked_request(s, district_code="UDH", now=now)
        district_id, day = r.district_id, offer.day
    assert (district_id, day) in scheduled.zone_days_to_improve(engine=engine, today=day)
    outcomes = scheduled.improve_plans(engine=engine, today=day, time_limit_s=0.3)
    mine = [o for o in outcomes if (o.district_id, o.day) == (district_id, day)]
    assert len(mine) == 1 and mine[0].assigned == 6
    with read_session(engine) as s:
        zp = s.get(ZonePlan, (district_id, day))
        assert zp is not None and zp.improved_version == zp.version == mine[0].version
        zd = zone.load(s, district_id, day)
        assert check(zd.problem, zd.plan, require_all_accounted=False) == []
    assert (district_id, day) not in scheduled.zone_days_to_improve(engine=engine, today=day)


class RecordingSender:
    """A fake SMS port that records what it was asked to send, failing the first `fail` times."""

    def __init__(self, fail: int = 0) -> None:
        self.sent: list[tuple[str, str]] = []
        self.fail = fail

    def send(self, *, to: str, body: str) -> str:
        if self.fail:
            self.fail -= 1
            raise ConnectionError("provider down")
        self.sent.append((to, body))
        return f"SM{len(self.sent):032d}"


def test_left_over_sms_are_sent_once_and_failures_retried(engine: Engine) -> None:
    from dispatch.notifications import service as notification_service
    from tests.conftest import unique_phone

    # Long before anything other tests queue in the shared outbox: only this message is due.
    old = dt.datetime(2001, 1, 20, 10, 0, tzinfo=dt.UTC)
    phone = unique_phone()
    with write_session(engine) as s:
        message = notification_service.queue(
            session=s, to=phone, body="Visit booked", kind="test", now=old
        )
        message_id = message.id
    sender = RecordingSender(fail=1)
    later = old + dt.timedelta(minutes=5)
    scheduled.send_pending_sms(engine=engine, sender=sender, now=later)
    assert sender.sent == []  # the provider failed once
    scheduled.send_pending_sms(engine=engine, sender=sender, now=later)
    assert sender.sent == []  # a refused message waits for its next try, a minute later
    retry = later + dt.timedelta(minutes=1)
    scheduled.send_pending_sms(engine=engine, sender=sender, now=retry)
    scheduled.send_pending_sms(engine=engine, sender=sender, now=retry)
    assert sender.sent == [(phone, "Visit booked")]
    with read_session(engine) as s:
        stored = s.get(notification_service.OutboxMessage, message_id)
        assert stored is not None and stored.status == "sent" and stored.attempts == 2
