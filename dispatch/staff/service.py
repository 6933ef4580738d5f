"""Staff accounts and sign-ins: passwords (argon2), the lockout after wrong ones, and the
server-side sessions the console's cookie points at. Every sign-in, failure, sign-out and
account change is audited.

What is not here: cookies, CSRF and the per-route permission checks (the web layer's), and the
permissions themselves (`rules.py`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlmodel import Session, col, func, select

from dispatch.audit import service as audit
from dispatch.audit.models import AuditEntry
from dispatch.config import Settings
from dispatch.db import utcnow
from dispatch.errors import Conflict, DispatchError, InvalidInput, NotFound
from dispatch.staff.models import StaffSession, StaffUser
from dispatch.staff.rules import Role

STAFF = "staff_user"
SIGNED_IN = "signed_in"
SIGN_IN_FAILED = "sign_in_failed"
SIGNED_OUT = "signed_out"
UNLOCKED = "unlocked"
#: The password every demo account gets (`doorstep seed --demo`); production refuses to start
#: while any account still has it, and nobody can choose it.
DEMO_PASSWORD = "doorstep-demo"
#: The demo accounts: username, name, role.
DEMO_STAFF = (
    ("callagent", "Shazia Call Agent", Role.CALL_AGENT),
    ("dispatcher", "Imran Dispatcher", Role.DISPATCHER),
    ("supervisor", "Rekha Supervisor", Role.SUPERVISOR),
    ("admin", "Vikram Admin", Role.ADMIN),
)
MIN_PASSWORD = 10

_hasher = PasswordHasher()
#: Verified against when the username is unknown, so that a wrong name costs the same time as a
#: wrong password (no telling which usernames exist).
_DUMMY_HASH = _hasher.hash("not-a-password-of-anyone")


class StaffLockedOut(DispatchError):
    """Too many wrong passwords for this username lately: sign-in refused until `until`."""

    def __init__(self, username: str, until: dt.datetime) -> None:
        super().__init__(f"{username}: too many wrong passwords; try again later")
        self.username = username
        self.until = until


@dataclass(frozen=True)
class Current:
    """The account behind a cookie, and when its session last saw a request."""

    user: StaffUser
    last_seen_at: dt.datetime


@dataclass(frozen=True)
class SignedIn:
    user: StaffUser
    #: The cookie's value: shown once, stored only as its SHA-256.
    token: str


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _by_token(session: Session, token: str) -> tuple[StaffSession, StaffUser] | None:
    """The session a cookie's token names, with its account."""
    row = session.exec(
        select(StaffSession, StaffUser)
        .join(StaffUser, col(StaffUser.id) == col(StaffSession.user_id))
        .where(StaffSession.token_hash == _token_hash(token))
    ).first()
    return (row[0], row[1]) if row is not None else None


def _normal(username: str) -> str:
    return username.strip().lower()


def _check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise InvalidInput("password", "****", f"at least {MIN_PASSWORD} characters")
    if password == DEMO_PASSWORD:
        raise InvalidInput("password", "****", "the demo password cannot be anyone's")
    return _hasher.hash(password)


def create(
    *,
    session: Session,
    state_code: str,
    username: str,
    name: str,
    role: Role,
    password: str,
    actor: str,
    demo: bool = False,
    form_key: str | None = None,
) -> StaffUser:
    """A new account. `demo=True` is the seed's only way to the demo password. `form_key` (a
    console form's random token) is kept with the creation, so that a form sent twice finds
    the account it made (`made_by_form`) instead of being told the username is taken."""
    username = _normal(username)
    if not username or not username.replace(".", "").replace("_", "").isalnum():
        raise InvalidInput("username", username, "letters, digits, dots and underscores")
    if session.exec(select(StaffUser).where(StaffUser.username == username)).first():
        raise Conflict(STAFF, username, "that username is taken")
    hashed = _hasher.hash(password) if demo else _check_password(password)
    user = StaffUser(
        state_code=state_code,
        username=username,
        name=name.strip()[:120] or username,
        role=role,
        password_hash=hashed,
    )
    session.add(user)
    session.flush()
    audit.record(
        session=session,
        actor=actor,
        entity=STAFF,
        entity_id=user.id,
        action="created",
        username=username,
        role=role.value,
        after={"username": username, "name": user.name, "role": role.value, "active": True},
        key=form_key,
    )
    return user


def made_by_form(
    *, session: Session, state_code: str, username: str, form_key: str
) -> StaffUser | None:
    """The account of the state a form with this token created (a retried form), if it was
    that form."""
    user = session.exec(select(StaffUser).where(StaffUser.username == _normal(username))).first()
    if user is None or user.state_code != state_code or not form_key:
        return None
    created = audit.history(session=session, entity=STAFF, entity_id=user.id)
    return user if any(_keyed(e, "created", form_key) for e in created) else None


def _keyed(entry: AuditEntry, action: str, form_key: str) -> bool:
    return entry.action == action and entry.detail.get("key") == form_key


class FormSentAgain(Conflict):
    """A form's token already used for another change of the account (a page sent again after
    being edited): nothing done; the form must be drawn again."""

    def __init__(self, user_id: int) -> None:
        super().__init__(STAFF, user_id, "this form was already sent: reload the page")


def _asked(role: Role | None, active: bool | None, password: str | None) -> str:
    """What an update asked for, to tell a retry from another change under the same token:
    the role and switch as asked, a password only as asked for (never the password itself)."""
    return f"role={role.value if role else ''};active={active};password={password is not None}"


def updated_by_form(
    *,
    session: Session,
    user_id: int,
    form_key: str,
    role: Role | None = None,
    active: bool | None = None,
    password: str | None = None,
) -> StaffUser | None:
    """The account if a form with this token already changed it (a retried form: answer as
    the first did, changing nothing again); `FormSentAgain` if that form asked for another
    change; None when the token is new."""
    if not form_key:
        return None
    user = get(session=session, user_id=user_id)
    for entry in audit.history(session=session, entity=STAFF, entity_id=user_id):
        if _keyed(entry, "updated", form_key):
            if entry.detail.get("asked") != _asked(role, active, password):
                raise FormSentAgain(user_id)
            return user
    return None


def get(*, session: Session, user_id: int) -> StaffUser:
    user = session.get(StaffUser, user_id)
    if user is None:
        raise NotFound(STAFF, user_id)
    return user


def list_all(*, session: Session, state_code: str) -> list[StaffUser]:
    stmt = select(StaffUser).where(StaffUser.state_code == state_code)
    return list(session.exec(stmt.order_by(col(StaffUser.role), col(StaffUser.username))))


def update(
    *,
    session: Session,
    user_id: int,
    actor: str,
    role: Role | None = None,
    active: bool | None = None,
    password: str | None = None,
    form_key: str | None = None,
) -> StaffUser:
    """Change an account's role, switch it on or off, or set a new password (a bad one changes
    nothing: `InvalidInput`). Switching off or a new password ends the account's sessions.
    Audited with the changed fields before and after (a password only as changed), and with
    `form_key` (a console form's random token) and what it asked, so that the form sent again
    finds it (`updated_by_form`) rather than running twice."""
    user = get(session=session, user_id=user_id)
    hashed = _check_password(password) if password is not None else None  # before any change
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    if role is not None and role is not user.role:
        before["role"], after["role"] = user.role.value, role.value
        user.role = role
    if active is not None and active != user.active:
        before["active"], after["active"] = user.active, active
        user.active = active
    if hashed is not None:
        user.password_hash = hashed
        user.password_changed_at = utcnow()
        # Never the password, not even hashed: only that it changed.
        before["password"], after["password"] = "(old)", "(new)"
    if not after:
        return user
    session.add(user)
    if not user.active or password is not None:
        end_all(session=session, user_id=user_id)
    if password is not None:  # a new password lifts a lockout
        unlock(session=session, user_id=user_id, actor=actor)
    audit.record(
        session=session,
        actor=actor,
        entity=STAFF,
        entity_id=user_id,
        action="updated",
        before=before,
        after=after,
        key=form_key,
        asked=_asked(role, active, password),
    )
    session.flush()
    return user


def _failures(session: Session, username: str, settings: Settings, now: dt.datetime) -> int:
    """Wrong passwords for `username` within the lockout window, after its last unlock."""
    since = now - dt.timedelta(minutes=settings.staff_lockout_minutes)
    unlocked = session.exec(
        select(func.max(AuditEntry.at)).where(
            AuditEntry.entity == STAFF,
            AuditEntry.entity_id == username,
            AuditEntry.action == UNLOCKED,
        )
    ).one()
    if unlocked is not None:
        unlocked = unlocked if unlocked.tzinfo else unlocked.replace(tzinfo=dt.UTC)
        since = max(since, unlocked)
    return audit.count(
        session=session,
        entity=STAFF,
        entity_id=username,
        actions=(SIGN_IN_FAILED,),
        since=since,
        until=now,
    )


def locked(
    *, session: Session, settings: Settings, username: str, now: dt.datetime | None = None
) -> bool:
    """Whether sign-in is refused to `username` now (for the staff page)."""
    now = now or utcnow()
    return _failures(session, username, settings, now) >= settings.staff_failures_allowed


def unlock(*, session: Session, user_id: int, actor: str, now: dt.datetime | None = None) -> None:
    """Let the account sign in again at once (an admin's, or a new password's, doing)."""
    user = get(session=session, user_id=user_id)
    audit.record(
        session=session,
        actor=actor,
        entity=STAFF,
        entity_id=user.username,
        action=UNLOCKED,
        at=now or utcnow(),
    )
    session.flush()


@dataclass(frozen=True)
class Attempt:
    """A sign-in checked (a read): the account whose password matched, or why it was refused."""

    username: str
    user: StaffUser | None
    refused: str | None  # "unknown", "password" or "inactive"; None when `user` may sign in


def check(
    *,
    session: Session,
    settings: Settings,
    username: str,
    password: str,
    now: dt.datetime | None = None,
) -> Attempt:
    """Whether `password` opens the active account `username` — a read only, so that the slow
    hash is checked with no write lock held. `StaffLockedOut` after
    `settings.staff_failures_allowed` failures within `settings.staff_lockout_minutes` (since
    the account was last unlocked or given a new password), right password or not, so that
    guessing stops paying. An unknown username costs the same hash time as a known one."""
    now = now or utcnow()
    username = _normal(username)[:64]
    if _failures(session, username, settings, now) >= settings.staff_failures_allowed:
        raise StaffLockedOut(username, now + dt.timedelta(minutes=settings.staff_lockout_minutes))
    user = session.exec(select(StaffUser).where(StaffUser.username == username)).first()
    ok = _verify(user.password_hash if user else _DUMMY_HASH, password)
    if user is None:
        return Attempt(username, None, "unknown")
    if not ok:
        return Attempt(username, None, "password")
    if not user.active:
        return Attempt(username, None, "inactive")
    return Attempt(username, user, None)


def record(
    *, session: Session, settings: Settings, attempt: Attempt, now: dt.datetime | None = None
) -> SignedIn | None:
    """Write what a checked attempt leads to (a short write): the failure audited under the
    username tried, or a new session (its token returned once) and the sign-in audited."""
    now = now or utcnow()
    if attempt.user is None or attempt.user.id is None:
        audit.record(
            session=session,
            actor=f"staff:{attempt.username}",
            entity=STAFF,
            entity_id=attempt.username,
            action=SIGN_IN_FAILED,
            at=now,
            reason=attempt.refused,
        )
        session.flush()
        return None
    token = secrets.token_urlsafe(32)
    session.add(
        StaffSession(
            user_id=attempt.user.id,
            token_hash=_token_hash(token),
            created_at=now,
            last_seen_at=now,
            expires_at=now + dt.timedelta(hours=settings.staff_session_hours),
        )
    )
    audit.record(
        session=session,
        actor=actor_of(attempt.user),
        entity=STAFF,
        entity_id=attempt.username,
        action=SIGNED_IN,
        at=now,
    )
    session.flush()
    return SignedIn(attempt.user, token)


def sign_in(
    *,
    session: Session,
    settings: Settings,
    username: str,
    password: str,
    now: dt.datetime | None = None,
) -> SignedIn | None:
    """`check` then `record` in one session (the command line and tests; the web keeps the
    two apart so that no write lock is held while the hash is checked)."""
    attempt = check(
        session=session, settings=settings, username=username, password=password, now=now
    )
    return record(session=session, settings=settings, attempt=attempt, now=now)


def current(
    *, session: Session, settings: Settings, token: str | None, now: dt.datetime | None = None
) -> Current | None:
    """The active account signed in with this cookie value, while its session lasts (ended by
    signing out, by `staff_session_hours`, or by `staff_idle_minutes` without a request)."""
    if not token:
        return None
    now = now or utcnow()
    row = _by_token(session, token)
    if row is None:
        return None
    staff_session, user = row
    idle = dt.timedelta(minutes=settings.staff_idle_minutes)
    if (
        staff_session.ended_at is not None
        or staff_session.expires_at <= now
        or staff_session.last_seen_at + idle <= now
        or not user.active
    ):
        return None
    return Current(user, staff_session.last_seen_at)


#: A session's last request is written down at most this often (reading pages stays a read).
TOUCH_EVERY = dt.timedelta(minutes=1)


def touch(*, session: Session, token: str, now: dt.datetime | None = None) -> None:
    """Note a request on the session: the idle limit counts from here."""
    now = now or utcnow()
    staff_session = session.exec(
        select(StaffSession).where(StaffSession.token_hash == _token_hash(token))
    ).first()
    if staff_session is not None:
        staff_session.last_seen_at = now
        session.add(staff_session)
        session.flush()


def sign_out(*, session: Session, token: str, now: dt.datetime | None = None) -> None:
    now = now or utcnow()
    row = _by_token(session, token)
    if row is None or row[0].ended_at is not None:
        return
    staff_session, user = row
    staff_session.ended_at = now
    session.add(staff_session)
    audit.record(
        session=session,
        actor=actor_of(user),
        entity=STAFF,
        entity_id=user.username,
        action=SIGNED_OUT,
        at=now,
    )
    session.flush()


def end_all(*, session: Session, user_id: int, now: dt.datetime | None = None) -> int:
    now = now or utcnow()
    rows = session.exec(
        select(StaffSession).where(
            StaffSession.user_id == user_id, col(StaffSession.ended_at).is_(None)
        )
    ).all()
    for row in rows:
        row.ended_at = now
        session.add(row)
    return len(rows)


def actor_of(user: StaffUser) -> str:
    """How the audit log and the domain name this person as the actor of a change."""
    return f"staff:{user.username}"


def seed_demo(*, session: Session, state_code: str) -> list[StaffUser]:
    """The demo accounts (development): created once, each with `DEMO_PASSWORD`."""
    made = []
    for username, name, role in DEMO_STAFF:
        if session.exec(select(StaffUser).where(StaffUser.username == username)).first():
            continue
        made.append(
            create(
                session=session,
                state_code=state_code,
                username=username,
                name=name,
                role=role,
                password=DEMO_PASSWORD,
                actor="seed",
                demo=True,
            )
        )
    return made


def demo_password_holders(*, session: Session) -> list[str]:
    """Usernames of accounts whose password is still the demo one, switched on or off (an
    account switched off could be switched on again): production refuses to start while there
    is any. Only the demo usernames are tried: `create` and `update` refuse the demo password
    for everyone else."""
    demo = {username for username, _, _ in DEMO_STAFF}
    users = session.exec(select(StaffUser).where(col(StaffUser.username).in_(demo))).all()
    holders = [u.username for u in users if _verify(u.password_hash, DEMO_PASSWORD)]
    return sorted(holders)


def changes(*, session: Session, state_code: str, limit: int = 20) -> list[AuditEntry]:
    """The latest account changes (created, updated) of the state's accounts, newest first."""
    ids = [str(u.id) for u in list_all(session=session, state_code=state_code)]
    stmt = (
        select(AuditEntry)
        .where(
            AuditEntry.entity == STAFF,
            col(AuditEntry.action).in_(["created", "updated"]),
            col(AuditEntry.entity_id).in_(ids),
        )
        .order_by(col(AuditEntry.id).desc())
        .limit(limit)
    )
    return list(session.exec(stmt))
