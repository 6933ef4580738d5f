"""Staff accounts: argon2 passwords, sign-in with a lockout after wrong ones, server-side
sessions that end on sign-out, expiry, idleness or the account switched off; all audited."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from sqlmodel import Session

from dispatch.audit import service as audit_service
from dispatch.config import Settings
from dispatch.errors import Conflict, InvalidInput
from dispatch.staff import service as staff_service
from dispatch.staff.models import StaffUser
from dispatch.staff.rules import Permission, Role, allows, roles_with

PASSWORD = "a long enough password"
NOW = dt.datetime(2026, 12, 1, 4, 0, tzinfo=dt.UTC)


def _user(session: Session, role: Role = Role.CALL_AGENT, password: str = PASSWORD) -> StaffUser:
    return staff_service.create(
        session=session,
        state_code="JK",
        username=f"u_{uuid.uuid4().hex[:10]}",
        name="Test Person",
        role=role,
        password=password,
        actor="test",
    )


def test_the_password_is_stored_as_an_argon2_hash(session: Session) -> None:
    user = _user(session)
    assert user.password_hash.startswith("$argon2") and PASSWORD not in user.password_hash
    [entry] = audit_service.history(session=session, entity="staff_user", entity_id=user.id)
    assert entry.action == "created" and entry.detail["role"] == "call_agent"


@pytest.mark.parametrize("password", ["short", staff_service.DEMO_PASSWORD])
def test_weak_and_demo_passwords_are_refused(session: Session, password: str) -> None:
    with pytest.raises(InvalidInput):
        _user(session, password=password)


def test_usernames_are_unique_whatever_the_case(session: Session) -> None:
    user = _user(session)
    with pytest.raises(Conflict):
        staff_service.create(
            session=session,
            state_code="JK",
            username=user.username.upper(),
            name="Twin",
            role=Role.ADMIN,
            password=PASSWORD,
            actor="test",
        )


def test_sign_in_opens_a_session_the_token_finds(session: Session, settings: Settings) -> None:
    user = _user(session)
    signed = staff_service.sign_in(
        session=session, settings=settings, username=user.username, password=PASSWORD, now=NOW
    )
    assert signed is not None and signed.user.id == user.id
    found = staff_service.current(session=session, settings=settings, token=signed.token, now=NOW)
    assert found is not None and found.user.id == user.id
    actions = [
        e.action
        for e in audit_service.history(
            session=session, entity="staff_user", entity_id=user.username
        )
    ]
    assert actions == ["signed_in"]


def test_a_wrong_password_or_unknown_name_opens_nothing(
    session: Session, settings: Settings
) -> None:
    user = _user(session)
    for username, password in [(user.username, "wrong password!"), ("nobody_here", PASSWORD)]:
        assert (
            staff_service.sign_in(
                session=session, settings=settings, username=username, password=password, now=NOW
            )
            is None
        )
    [failed] = audit_service.history(session=session, entity="staff_user", entity_id=user.username)
    assert failed.action == "sign_in_failed" and failed.detail == {"reason": "password"}


def test_too_many_wrong_passwords_lock_the_username_even_against_the_right_one(
    session: Session, settings: Settings
) -> None:
    user = _user(session)
    for _ in range(settings.staff_failures_allowed):
        staff_service.sign_in(
            session=session, settings=settings, username=user.username, password="nope", now=NOW
        )
    with pytest.raises(staff_service.StaffLockedOut):
        staff_service.sign_in(
            session=session, settings=settings, username=user.username, password=PASSWORD, now=NOW
        )
    later = NOW + dt.timedelta(minutes=settings.staff_lockout_minutes + 1)
    assert staff_service.sign_in(
        session=session, settings=settings, username=user.username, password=PASSWORD, now=later
    )


def test_a_session_ends_on_sign_out_expiry_idleness_and_switch_off(
    session: Session, settings: Settings
) -> None:
    user = _user(session)

    def token() -> str:
        signed = staff_service.sign_in(
            session=session, settings=settings, username=user.username, password=PASSWORD, now=NOW
        )
        assert signed is not None
        return signed.token

    def alive(t: str, at: dt.datetime) -> bool:
        return (
            staff_service.current(session=session, settings=settings, token=t, now=at) is not None
        )

    ended = token()
    staff_service.sign_out(session=session, token=ended, now=NOW)
    assert not alive(ended, NOW)

    kept = token()
    hours = dt.timedelta(hours=settings.staff_session_hours)
    idle = dt.timedelta(minutes=settings.staff_idle_minutes)
    assert alive(kept, NOW + idle - dt.timedelta(minutes=1))
    assert not alive(kept, NOW + idle)  # nothing seen meanwhile
    staff_service.touch(session=session, token=kept, now=NOW + idle - dt.timedelta(minutes=1))
    assert alive(kept, NOW + idle)
    assert not alive(kept, NOW + hours)

    switched = token()
    assert user.id is not None
    staff_service.update(session=session, user_id=user.id, actor="test", active=False)
    assert not alive(switched, NOW)


def test_a_new_password_ends_the_accounts_sessions(session: Session, settings: Settings) -> None:
    user = _user(session)
    signed = staff_service.sign_in(
        session=session, settings=settings, username=user.username, password=PASSWORD, now=NOW
    )
    assert signed is not None and user.id is not None
    staff_service.update(
        session=session, user_id=user.id, actor="test", password="another long one"
    )
    assert (
        staff_service.current(session=session, settings=settings, token=signed.token, now=NOW)
        is None
    )


def test_demo_accounts_are_made_once_and_found_by_the_production_check(session: Session) -> None:
    made = staff_service.seed_demo(session=session, state_code="JK")
    again = staff_service.seed_demo(session=session, state_code="JK")
    assert {u.username for u in made} <= {name for name, _, _ in staff_service.DEMO_STAFF}
    assert again == []
    assert staff_service.demo_password_holders(session=session) == sorted(
        name for name, _, _ in staff_service.DEMO_STAFF
    )
    admin = next(
        u for u in staff_service.list_all(session=session, state_code="JK") if u.username == "admin"
    )
    assert admin.id is not None
    staff_service.update(
        session=session, user_id=admin.id, actor="test", password="a vault password"
    )
    assert "admin" not in staff_service.demo_password_holders(session=session)


def test_roles_carry_their_permissions() -> None:
    assert allows(Role.CALL_AGENT, Permission.INTAKE)
    assert not allows(Role.CALL_AGENT, Permission.DISPATCH)
    assert not allows(Role.DISPATCHER, Permission.INTAKE)
    assert roles_with(Permission.MANAGE_STAFF) == [Role.ADMIN]
    admin_only = {Permission.MANAGE_STAFF, Permission.ADMINISTER}
    assert roles_with(Permission.ADMINISTER) == [Role.ADMIN]
    assert roles_with(Permission.SUPERVISE) == [Role.SUPERVISOR, Role.ADMIN]
    assert all(allows(Role.SUPERVISOR, p) for p in Permission if p not in admin_only)


def test_a_new_password_or_an_unlock_lifts_the_lockout(
    session: Session, settings: Settings
) -> None:
    user = _user(session)
    assert user.id is not None
    now = dt.datetime.now(dt.UTC)

    def lock(at: dt.datetime) -> None:
        for _ in range(settings.staff_failures_allowed):
            staff_service.sign_in(
                session=session, settings=settings, username=user.username, password="x", now=at
            )
        assert staff_service.locked(
            session=session, settings=settings, username=user.username, now=at
        )

    lock(now - dt.timedelta(minutes=5))
    staff_service.unlock(
        session=session, user_id=user.id, actor="staff:admin", now=now - dt.timedelta(minutes=4)
    )
    assert staff_service.sign_in(
        session=session,
        settings=settings,
        username=user.username,
        password=PASSWORD,
        now=now - dt.timedelta(minutes=3),
    )
    lock(now - dt.timedelta(minutes=2))
    staff_service.update(session=session, user_id=user.id, actor="cli", password="brand new one")
    assert not staff_service.locked(session=session, settings=settings, username=user.username)


def test_a_demo_account_switched_off_still_counts_for_the_production_check(
    session: Session,
) -> None:
    staff_service.seed_demo(session=session, state_code="JK")
    [admin] = [
        u for u in staff_service.list_all(session=session, state_code="JK") if u.username == "admin"
    ]
    assert admin.id is not None
    staff_service.update(session=session, user_id=admin.id, actor="test", active=False)
    assert "admin" in staff_service.demo_password_holders(session=session)


def test_a_form_key_finds_the_account_it_made_and_only_that_one(session: Session) -> None:
    key = str(uuid.uuid4())
    username = f"u_{uuid.uuid4().hex[:10]}"
    assert (
        staff_service.made_by_form(
            session=session, state_code="JK", username=username, form_key=key
        )
        is None
    )
    made = staff_service.create(
        session=session,
        state_code="JK",
        username=username,
        name="Form Person",
        role=Role.DISPATCHER,
        password=PASSWORD,
        actor="test",
        form_key=key,
    )

    found = staff_service.made_by_form
    assert found(session=session, state_code="JK", username=username.upper(), form_key=key) == made
    assert found(session=session, state_code="JK", username=username, form_key="other") is None
    assert found(session=session, state_code="PB", username=username, form_key=key) is None
    assert found(session=session, state_code="JK", username=username, form_key="") is None


def test_an_update_sent_again_with_its_key_is_found_and_another_change_under_it_refused(
    session: Session,
) -> None:
    """A retried password change must not run twice (sessions ended, lockout lifted and
    audited again); a page edited and sent with the same key is refused, not ignored."""
    user = _user(session)
    assert user.id is not None
    key = str(uuid.uuid4())
    asked = {"role": Role.CALL_AGENT, "active": None, "password": "another long one"}
    assert (
        staff_service.updated_by_form(session=session, user_id=user.id, form_key=key, **asked)
        is None
    )
    staff_service.update(session=session, user_id=user.id, actor="test", form_key=key, **asked)

    again = staff_service.updated_by_form(session=session, user_id=user.id, form_key=key, **asked)

    assert again == user
    [entry] = [
        e
        for e in audit_service.history(session=session, entity="staff_user", entity_id=user.id)
        if e.action == "updated"
    ]
    assert "another long one" not in str(entry.detail)  # what was asked, never the password
    with pytest.raises(staff_service.FormSentAgain):
        staff_service.updated_by_form(
            session=session, user_id=user.id, form_key=key, **{**asked, "active": False}
        )
    assert (
        staff_service.updated_by_form(session=session, user_id=user.id, form_key="new", **asked)
        is None
    )
