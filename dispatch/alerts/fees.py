"""The daily fee reconciliation's scheduled task: every morning, from `fees_reconcile_at` (each
state's local time), yesterday's agent-days are reconciled (`dispatch.ledger.days.fee_days`,
the same reading and flags as the fees pages) and each agent-day with a flag becomes one alert
for the state's supervisors, with the flags' reasons in rupees.

Once per state and day: when every flagged agent-day has its alert, the reconciliation is
recorded in the audit log (`entity="fees_reconciliation"`, id `<state>:<day>`, with how many
agent-days were read and flagged), and later runs do nothing more for that state and day. A
failed agent-day is logged and the others go on; the day is then not recorded as done, and the
next run tries again (the alerts' keys, `fees:<agent>:<day>`, keep those already raised from
being raised twice). A day missed — the scheduler stopped from the reconciliation hour till
midnight, or every run failing — is caught up by the next run, oldest first, up to
`rules.FEES_LOOKBACK_DAYS` back (the audit record says which days are done). A declaration made
after the reconciliation does not withdraw its alert: the fees page shows the day as it is now.

Not here: the reconciliation itself (`dispatch.ledger.reconcile`), money words
(`dispatch.money.rupees`, which the flags' reasons already use).
"""

from __future__ import annotations

import datetime as dt
import logging
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from dispatch.alerts import rules
from dispatch.alerts import service as alert_service
from dispatch.alerts.models import AlertKind
from dispatch.audit import service as audit
from dispatch.clock import time_of_day
from dispatch.config import Settings
from dispatch.db import read_session, write_session
from dispatch.ledger import days as fee_days
from dispatch.states.models import State

log = logging.getLogger(__name__)
ACTOR = "scheduler:fees"
ENTITY = "fees_reconciliation"
ACTION = "reconciled"


def reconcile_due_days(*, engine: Engine, settings: Settings, now: dt.datetime) -> list[int]:
    """In every state, for each day due (`rules.fees_days_due`: yesterday once the state's
    reconciliation time has come, and the days before it a missed run left) that is not yet
    reconciled, oldest first: one alert per flagged agent-day. The ids of the alerts raised."""
    at = time_of_day(settings.fees_reconcile_at)
    with read_session(engine) as session:
        zones = {
            s.code: ZoneInfo(s.timezone)
            for s in session.exec(select(State).order_by(col(State.code)))
        }
    raised: list[int] = []
    for state_code, tz in zones.items():
        local = now.astimezone(tz)
        for day in rules.fees_days_due(local, at):
            try:
                raised += _reconcile(engine, state_code, day, local.date(), now)
            except Exception:  # the next day is its own unit; this one is tried again later
                log.exception("reconciling the fees of %s on %s failed", state_code, day)
    return raised


def reconciled(*, session: Session, state_code: str, day: dt.date) -> bool:
    """Whether the state's fees of `day` were reconciled (alerts raised for every flag)."""
    return (
        audit.count(
            session=session,
            entity=ENTITY,
            entity_id=f"{state_code}:{day.isoformat()}",
            actions=[ACTION],
            since=dt.datetime.combine(day, dt.time(), dt.UTC) - dt.timedelta(days=1),
        )
        > 0
    )


def _reconcile(
    engine: Engine, state_code: str, day: dt.date, today: dt.date, now: dt.datetime
) -> list[int]:
    with read_session(engine) as session:
        if reconciled(session=session, state_code=state_code, day=day):
            return []
        rows = fee_days.fee_days(
            session=session, state_code=state_code, first=day, last=day, today=today
        )
    flagged = [row for row in rows if row.money.flags]
    raised: list[int] = []
    failed = 0
    for row in flagged:
        try:
            with write_session(engine) as session:
                alert_id = alert_service.raise_once(
                    session=session,
                    key=rules.fees_key(row.agent.id, day),
                    kind=AlertKind.FEES,
                    state_code=state_code,
                    detail=_detail(row),
                    now=now,
                    district_id=row.agent.district_id,
                    agent_id=row.agent.id,
                    day=day,
                )
            if alert_id is not None:
                raised.append(alert_id)
        except Exception:
            failed += 1
            log.exception("the fees alert of agent %s on %s failed", row.agent.id, day)
    if failed == 0:
        with write_session(engine) as session:
            audit.record(
                session=session,
                actor=ACTOR,
                entity=ENTITY,
                entity_id=f"{state_code}:{day.isoformat()}",
                action=ACTION,
                at=now,
                agent_days=len(rows),
                flagged=len(flagged),
                alerts=raised,
            )
    return raised


def _detail(row: fee_days.FeeDay) -> str:
    """The flags' reasons, most serious first (`reconcile.FlagKind`'s order), in one line."""
    flags = row.money.flags
    head = "1 flag" if len(flags) == 1 else f"{len(flags)} flags"
    return f"{head}: " + "; ".join(f"{flag.kind.label}: {flag.reason}" for flag in flags)
