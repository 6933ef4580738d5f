"""The SMS outbox: queued with the change, sent once through the port; a refused send retried
with backoff over hours and then given up on, visibly; a send that may have reached the
provider never sent again by itself; a person may re-send; delivery reports only move a
message forward."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from dataclasses import dataclass, field

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from dispatch.audit import service as audit_service
from dispatch.db import read_session, write_session
from dispatch.errors import InvalidInput, InvalidPhone, InvalidTransition
from dispatch.notifications import delivery, dlt, rules
from dispatch.notifications import service as notification_service
from dispatch.notifications.models import MessageStatus, OutboxMessage
from dispatch.notifications.service import OutboxSender
from dispatch.ports import SmsNotAccepted, SmsOutcomeUnknown
from tests.conftest import unique_phone

T0 = dt.datetime(2030, 1, 7, 4, 0, tzinfo=dt.UTC)
HINDI = "आपका अनुरोध दर्ज हो गया है।"


@dataclass
class Sent:
    to: str
    body: str
    template_id: str | None
    reference: str | None
    sid: str


@dataclass
class RecordingSender:
    """A fake SMS port: records what it was asked to send; refuses while `down`, leaves the
    outcome unknown while `timing_out`."""

    sent: list[Sent] = field(default_factory=list)
    down: bool = False
    permanent: bool = False
    timing_out: bool = False

    def send(
        self,
        *,
        to: str,
        body: str,
        template_id: str | None = None,
        reference: str | None = None,
    ) -> str:
        if self.down:
            raise SmsNotAccepted("provider unreachable", code="503", permanent=self.permanent)
        if self.timing_out:
            raise SmsOutcomeUnknown("read timed out")
        self.sent.append(Sent(to, body, template_id, reference, f"SM{uuid.uuid4().hex}"))
        return self.sent[-1].sid


def test_queueing_normalises_the_number_and_is_idempotent(session: Session) -> None:
    first = notification_service.queue(
        session=session, to="98765 43210", body="hello", kind="test", idempotency_key="k-1"
    )
    again = notification_service.queue(
        session=session, to="+919876543210", body="other", kind="test", idempotency_key="k-1"
    )
    assert first.id == again.id and first.to == "+919876543210"
    assert first.status is MessageStatus.QUEUED
    with pytest.raises(InvalidPhone):
        notification_service.queue(session=session, to="12", body="x", kind="test")
    with pytest.raises(InvalidInput):
        notification_service.queue(session=session, to="+919876543210", body=" ", kind="test")


def test_queueing_counts_segments_and_encoding(session: Session) -> None:
    english = notification_service.queue(
        session=session, to=unique_phone(), body="x" * 161, kind="test"
    )
    hindi = notification_service.queue(session=session, to=unique_phone(), body=HINDI, kind="test")
    assert (english.segments, english.encoding) == (2, "GSM-7")
    assert (hindi.segments, hindi.encoding) == (1, "UCS-2")


def test_queueing_a_template_stores_its_dlt_registration(session: Session) -> None:
    registrations = dlt.Registrations(
        [dlt.Registration("booked", "en", "1107000000000000001", "Booked {#var#}.")]
    )
    message = notification_service.queue(
        session=session,
        to=unique_phone(),
        body="Booked JK-26-000123-7.",
        kind="booked",
        template="booked",
        language="en",
        registrations=registrations,
    )
    assert message.dlt_template_id == "1107000000000000001"
    assert (message.template, message.language) == ("booked", "en")
    unregistered = notification_service.queue(
        session=session,
        to=unique_phone(),
        body="Booked.",
        kind="booked",
        template="booked",
        language="ur",
        registrations=registrations,
    )
    assert unregistered.dlt_template_id is None and unregistered.template == "booked"


def test_the_seeded_registrations_are_used_by_default(session: Session) -> None:
    message = notification_service.queue(
        session=session,
        to=unique_phone(),
        body="DigiDost: request JK-26-000123-7 - Income Certificate has been cancelled. "
        "No fee is due.",
        kind="cancelled",
        template="cancelled",
        language="en",
    )
    assert message.dlt_template_id is not None


def _queued(engine: Engine, body: str, *, now: dt.datetime = T0) -> int:
    with write_session(engine) as session:
        message = notification_service.queue(
            session=session, to=unique_phone(), body=body, kind="test", now=now
        )
        assert message.id is not None
        return message.id


def _stored(engine: Engine, message_id: int) -> OutboxMessage:
    with read_session(engine) as session:
        found = session.get(OutboxMessage, message_id)
        assert found is not None
        return found


def _pending_ids(engine: Engine, now: dt.datetime) -> set[int | None]:
    with read_session(engine) as session:
        return {m.id for m in notification_service.pending(session=session, now=now, limit=10**6)}


def test_sending_sends_once_with_the_attempts_reference(engine: Engine) -> None:
    sender = RecordingSender()
    message_id = _queued(engine, "booked")
    assert notification_service.send(engine=engine, message_id=message_id, sender=sender) == "sent"
    assert notification_service.send(engine=engine, message_id=message_id, sender=sender) is None
    message = _stored(engine, message_id)
    assert [(s.to, s.body, s.reference) for s in sender.sent] == [
        (message.to, "booked", f"{message_id}.1")
    ]
    assert message.status is MessageStatus.SENT and message.provider_id == sender.sent[0].sid
    assert message.attempts == 1 and message.sent_at is not None


def test_a_refused_send_is_retried_after_a_wait(engine: Engine) -> None:
    sender = RecordingSender(down=True)
    message_id = _queued(engine, "retry me")
    assert notification_service.send(
        engine=engine, message_id=message_id, sender=sender, now=T0
    ) == ("queued")
    message = _stored(engine, message_id)
    assert message.attempts == 1 and message.failures == 1
    assert message.next_attempt_at == T0 + dt.timedelta(minutes=1)
    assert message.last_error == "provider unreachable" and message.error_code == "503"
    assert message_id not in _pending_ids(engine, T0 + dt.timedelta(seconds=59))
    too_early = T0 + dt.timedelta(seconds=30)
    assert (
        notification_service.send(
            engine=engine, message_id=message_id, sender=sender, now=too_early
        )
        is None
    )
    sender.down = False
    later = T0 + dt.timedelta(minutes=1)
    assert message_id in _pending_ids(engine, later)
    notification_service.send(engine=engine, message_id=message_id, sender=sender, now=later)
    message = _stored(engine, message_id)
    assert message.status is MessageStatus.SENT and message.attempts == 2
    assert message.failures == 0 and message.next_attempt_at is None and message.last_error is None


def test_backoff_spans_twelve_hours_then_gives_up_visibly(engine: Engine) -> None:
    """A provider down for hours: waits double from a minute to two hours; after the last
    refusal, more than twelve hours after the first, the message is failed and not pending."""
    sender = RecordingSender(down=True)
    message_id = _queued(engine, "outage")
    now, waits = T0, []
    while True:
        status = notification_service.send(
            engine=engine, message_id=message_id, sender=sender, now=now
        )
        message = _stored(engine, message_id)
        if status is MessageStatus.FAILED:
            break
        assert status is MessageStatus.QUEUED and message.next_attempt_at is not None
        waits.append(message.next_attempt_at - now)
        now = message.next_attempt_at
    minutes = [int(w.total_seconds() // 60) for w in waits]
    assert minutes == [1, 2, 4, 8, 16, 32, 64, 120, 120, 120, 120, 120]
    assert now - T0 >= dt.timedelta(hours=12)
    assert message.attempts == rules.MAX_FAILURES and message.next_attempt_at is None
    assert message_id not in _pending_ids(engine, now + dt.timedelta(days=1))


def test_a_permanent_refusal_is_given_up_at_once(engine: Engine) -> None:
    sender = RecordingSender(down=True, permanent=True)
    message_id = _queued(engine, "bad number")
    assert notification_service.send(engine=engine, message_id=message_id, sender=sender) == (
        "failed"
    )
    assert _stored(engine, message_id).attempts == 1


def test_a_timeout_after_sending_is_never_sent_again_by_itself(engine: Engine) -> None:
    """The provider may have taken it: no automatic re-send (the citizen would get two)."""
    sender = RecordingSender(timing_out=True)
    message_id = _queued(engine, "maybe sent")
    assert notification_service.send(
        engine=engine, message_id=message_id, sender=sender, now=T0
    ) == ("uncertain")
    sender.timing_out = False
    for hours in (0, 1, 24):
        later = T0 + dt.timedelta(hours=hours)
        assert message_id not in _pending_ids(engine, later)
        assert (
            notification_service.send(
                engine=engine, message_id=message_id, sender=sender, now=later
            )
            is None
        )
    message = _stored(engine, message_id)
    assert message.attempts == 1 and message.last_error == "read timed out"
    assert sender.sent == []


def test_any_other_sender_error_counts_as_refused(engine: Engine) -> None:
    class Broken:
        def send(self, *, to: str, body: str) -> str:
            raise RuntimeError("bug")

    message_id = _queued(engine, "broken")
    assert notification_service.send(engine=engine, message_id=message_id, sender=Broken()) == (
        "queued"
    )
    assert _stored(engine, message_id).last_error == "RuntimeError: bug"


def test_a_sender_without_the_new_keywords_still_works(engine: Engine) -> None:
    class OldSender:
        def send(self, *, to: str, body: str) -> str:
            return "SM-old"

    message_id = _queued(engine, "old port")
    assert notification_service.send(engine=engine, message_id=message_id, sender=OldSender()) == (
        "sent"
    )


def test_people_can_resend_what_was_given_up_on_and_it_is_audited(engine: Engine) -> None:
    sender = RecordingSender(timing_out=True)
    message_id = _queued(engine, "again please")
    notification_service.send(engine=engine, message_id=message_id, sender=sender, now=T0)
    with write_session(engine) as session:
        message = notification_service.resend(
            session=session, message_id=message_id, actor="console", now=T0
        )
        assert message.status is MessageStatus.QUEUED and message.next_attempt_at is None
    sender.timing_out = False
    assert notification_service.send(engine=engine, message_id=message_id, sender=sender) == "sent"
    assert [s.reference for s in sender.sent] == [f"{message_id}.2"]
    with read_session(engine) as session:
        [entry] = audit_service.history(
            session=session, entity="outbox_message", entity_id=message_id
        )
        assert entry.action == "resend" and entry.actor == "console"
        assert entry.detail["status"] == "uncertain"
    with write_session(engine) as session, pytest.raises(InvalidTransition):
        notification_service.resend(session=session, message_id=message_id, actor="console")


def test_a_claim_left_by_a_stopped_sender_becomes_uncertain_not_resent(engine: Engine) -> None:
    message_id = _queued(engine, "orphan")
    with write_session(engine) as session:
        assert notification_service.claim(session=session, message_id=message_id, now=T0)
    within = T0 + notification_service.SENDING_LEASE - dt.timedelta(seconds=1)
    with write_session(engine) as session:
        notification_service.settle_abandoned(session=session, now=within)
    assert _stored(engine, message_id).status is MessageStatus.SENDING
    later = T0 + notification_service.SENDING_LEASE + dt.timedelta(seconds=1)
    with write_session(engine) as session:
        assert notification_service.settle_abandoned(session=session, now=later) >= 1
    assert _stored(engine, message_id).status is MessageStatus.UNCERTAIN
    assert message_id not in _pending_ids(engine, later)


def test_no_transaction_is_open_while_the_provider_answers(engine: Engine) -> None:
    """A slow provider must not hold the database: while it 'answers', another writer (a
    caller's webhook) gets the write lock at once."""
    message_id = _queued(engine, "slow")
    waits: list[float] = []

    class SlowSender:
        def send(self, *, to: str, body: str) -> str:
            started = time.monotonic()
            with write_session(engine, wait_s=1.0) as session:
                notification_service.queue(
                    session=session, to=unique_phone(), body="meanwhile", kind="test"
                )
            waits.append(time.monotonic() - started)
            return "SM-slow"

    assert notification_service.send(engine=engine, message_id=message_id, sender=SlowSender())
    assert len(waits) == 1 and waits[0] < 0.5


def test_the_outbox_sender_keeps_messages_in_the_database(engine: Engine) -> None:
    message_id = _queued(engine, "dev")
    notification_service.send(engine=engine, message_id=message_id, sender=OutboxSender())
    message = _stored(engine, message_id)
    assert message.status is MessageStatus.SENT
    assert (message.provider_id or "").startswith("outbox-")


# --- delivery reports ---------------------------------------------------------------------


def _sent(engine: Engine) -> tuple[int, str]:
    message_id = _queued(engine, "report on me")
    sender = RecordingSender()
    notification_service.send(engine=engine, message_id=message_id, sender=sender)
    sid = _stored(engine, message_id).provider_id
    assert sid is not None
    return message_id, sid


def _report(
    engine: Engine, sid: str, status: str, *, error: str | None = None, ref: str | None = None
) -> OutboxMessage | None:
    with write_session(engine) as session:
        return delivery.report(
            session=session,
            provider_id=sid,
            status=status,
            error_code=error,
            reference=ref,
            now=T0,
        )


def test_reports_move_a_message_forward_only(engine: Engine) -> None:
    message_id, sid = _sent(engine)
    _report(engine, sid, "sent")
    assert _stored(engine, message_id).provider_status == "sent"
    _report(engine, sid, "delivered")
    for late in ("sent", "queued", "undelivered", "delivered"):  # replayed, out of order
        _report(engine, sid, late, error="30003")
    message = _stored(engine, message_id)
    assert message.status is MessageStatus.DELIVERED and message.provider_status == "delivered"
    assert message.error_code is None and message.reported_at == T0


def test_an_undelivered_report_keeps_the_error_code(engine: Engine) -> None:
    message_id, sid = _sent(engine)
    _report(engine, sid, "undelivered", error="30005")
    message = _stored(engine, message_id)
    assert message.status is MessageStatus.UNDELIVERED and message.error_code == "30005"


def test_a_report_about_an_unknown_message_changes_nothing(engine: Engine) -> None:
    assert _report(engine, "SM" + "e" * 32, "delivered") is None
    assert _report(engine, "SM" + "e" * 32, "delivered", ref="999999999.1") is None
    assert _report(engine, "", "delivered") is None


def test_a_report_with_our_reference_settles_an_uncertain_message(engine: Engine) -> None:
    """The SID never reached us (timeout after sending); the reference in the report's URL
    names the message and attempt."""
    message_id = _queued(engine, "did it go?")
    notification_service.send(
        engine=engine, message_id=message_id, sender=RecordingSender(timing_out=True)
    )
    _report(engine, "SM" + "a" * 32, "delivered", ref=f"{message_id}.1")
    message = _stored(engine, message_id)
    assert message.status is MessageStatus.DELIVERED and message.provider_id == "SM" + "a" * 32


def test_a_report_for_an_earlier_attempt_is_ignored(engine: Engine) -> None:
    message_id, sid = _sent(engine)
    _report(engine, sid, "undelivered")
    with write_session(engine) as session:
        notification_service.resend(session=session, message_id=message_id, actor="console")
    notification_service.send(engine=engine, message_id=message_id, sender=RecordingSender())
    _report(engine, sid, "failed", ref=f"{message_id}.1")  # the first attempt's, replayed
    message = _stored(engine, message_id)
    assert message.status is MessageStatus.SENT and message.attempts == 2
    assert message.provider_id != sid and message.provider_status is None


def test_a_report_that_beats_the_senders_record_stands(engine: Engine) -> None:
    """Twilio may report before our sender has written down the SID: delivered stays."""
    message_id = _queued(engine, "fast report")
    with write_session(engine) as session:
        claimed = notification_service.claim(session=session, message_id=message_id, now=T0)
        assert claimed is not None
    _report(engine, "SM" + "b" * 32, "delivered", ref=f"{message_id}.1")
    with write_session(engine) as session:
        notification_service.record_sent(
            session=session, message_id=message_id, attempt=1, provider_id="SM" + "b" * 32, now=T0
        )
    message = _stored(engine, message_id)
    assert message.status is MessageStatus.DELIVERED and message.sent_at is not None
