"""API clients: make one (its key returned once), check a key, note when it was last used, revoke
one, list a state's; and the record of what a channel asked under each of its idempotency keys.

- `create` returns the key once; the table keeps its prefix and SHA-256 (`rules`). Creating and
  revoking are audited (entity `api_client`); revoking is for good. Names are unique within a
  state. A console form's token kept with the creation lets `made_by_form` tell a form sent
  twice from a new client with a name taken (the key itself is never kept: a retry cannot
  show it again).
- `authenticate` finds the row by the key's prefix and compares digests in constant time; an
  unknown, malformed or revoked key is refused (`KeyRefused`, with why), and an unknown prefix
  costs the same comparison as a known one.
- `touch` writes `last_used_at` at most once a minute (a conditional update: two calls at once
  write it once).
- `seen` / `remember`: a channel's command (book, reschedule, cancel) is recorded in the audit
  log under the client and its idempotency key with a digest of the whole request, in the
  command's own transaction. A retry finds it and gets the first outcome; the same key with
  another request is refused (`KeyReused`) — even where the domain's own fingerprint, which
  covers what it acts on, would not tell them apart (a name or a language).

- `proofs_locked_for` / `proof_failed`: failed citizen proofs through a channel are counted
  against the client always and against the verified phone number when one was sent (the
  phone line's count for that number: `dispatch.visits.proof`); either past its allowance
  (`rules.client_proofs_allowed`) refuses proofs for the time the count takes to fall back.

Not here: the HTTP side (`web.api`), the rate limit (per client, at the edge), the visit use
cases themselves (`dispatch.visits.service`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa
from sqlmodel import Session, col, select

from dispatch.audit import service as audit
from dispatch.audit.models import AuditEntry
from dispatch.channels import rules
from dispatch.channels.models import ApiClient
from dispatch.config import Settings
from dispatch.db import utcnow
from dispatch.errors import DispatchError, InvalidInput, NotFound
from dispatch.states import service as state_service
from dispatch.visits import proof as visit_proof
from dispatch.visits.models import VisitCommand
from dispatch.visits.once import KeyReused
from dispatch.visits.service import VisitResult

ENTITY = "api_client"
COMMAND = "api_command"


class KeyRefused(DispatchError):
    """An API key that opens nothing: missing, malformed, unknown or revoked (`reason`)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


@dataclass(frozen=True)
class NewClient:
    """A client just made, with its key: the only time the key exists outside the caller."""

    client: ApiClient
    key: str


@dataclass(frozen=True)
class Caller:
    """The client a key proved, as the API needs it (no row kept across sessions)."""

    id: int
    name: str
    state_code: str
    key_prefix: str
    rate_per_minute: int
    last_used_at: dt.datetime | None

    @property
    def actor(self) -> str:
        return rules.actor(self.name)


def create(
    *,
    session: Session,
    state_code: str,
    name: str,
    rate_per_minute: int = 60,
    actor: str,
    now: dt.datetime | None = None,
    form_key: str | None = None,
) -> NewClient:
    """A new client of `state_code` and its key (returned here once, kept only hashed).
    `InvalidInput` for a bad name or rate, or a name already taken in the state, in any case
    (revoked clients keep theirs: the audit log names them). `form_key` (a console form's
    random token, never the API key) is kept with the creation, so that a form sent twice
    finds the client it made (`made_by_form`)."""
    state = state_service.get(session=session, code=state_code)
    clean = rules.client_name(name)
    rate = rules.rate(rate_per_minute)
    taken = _named(session, state.code, clean)
    if taken is not None:
        raise InvalidInput("name", clean, "a client with this name exists; choose another name")
    key = rules.new_key()
    client = ApiClient(
        state_code=state.code,
        name=clean,
        key_prefix=rules.prefix_of(key),
        key_hash=rules.digest(key),
        rate_per_minute=rate,
        created_at=now or utcnow(),
        created_by=actor,
    )
    session.add(client)
    session.flush()
    audit.record(
        session=session,
        actor=actor,
        entity=ENTITY,
        entity_id=client.id,
        action="create",
        at=client.created_at,
        name=clean,
        key_prefix=client.key_prefix,
        rate_per_minute=rate,
        form_key=form_key,
    )
    return NewClient(client=client, key=key)


def _named(session: Session, state_code: str, name: str) -> ApiClient | None:
    return session.exec(
        select(ApiClient).where(
            ApiClient.state_code == state_code,
            sa.func.lower(ApiClient.name) == name.lower(),
        )
    ).first()


def made_by_form(
    *, session: Session, state_code: str, name: str, form_key: str
) -> ApiClient | None:
    """The client of `state_code` named `name` that a form with this token created (the same
    form sent again), if it was that form."""
    if not form_key:
        return None
    try:
        clean = rules.client_name(name)
    except InvalidInput:
        return None
    client = _named(session, state_code, clean)
    if client is None:
        return None
    made = session.exec(
        select(AuditEntry).where(
            AuditEntry.entity == ENTITY,
            AuditEntry.entity_id == str(client.id),
            AuditEntry.action == "create",
        )
    ).first()
    return client if made is not None and made.detail.get("form_key") == form_key else None


def authenticate(*, session: Session, key: str | None) -> Caller:
    """The client whose key this is; `KeyRefused` (saying why) otherwise."""
    if not key:
        raise KeyRefused("no API key: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'")
    given = key.strip()
    client = None
    if rules.well_formed(given):
        client = session.exec(
            select(ApiClient).where(ApiClient.key_prefix == rules.prefix_of(given))
        ).first()
    # The comparison is made whether or not a row was found, so timing tells nothing.
    stored = client.key_hash if client is not None else "0" * 64
    if not rules.key_matches(stored, given) or client is None or client.id is None:
        raise KeyRefused("this API key is not valid")
    if client.revoked_at is not None:
        raise KeyRefused("this API key was revoked")
    return Caller(
        id=client.id,
        name=client.name,
        state_code=client.state_code,
        key_prefix=client.key_prefix,
        rate_per_minute=client.rate_per_minute,
        last_used_at=client.last_used_at,
    )


def touch(*, session: Session, client_id: int, now: dt.datetime) -> bool:
    """Note that the client was just used, unless that was noted less than a minute ago;
    whether it was written."""
    since = now - rules.TOUCH_EVERY
    table = ApiClient.__table__  # type: ignore[attr-defined]
    result = session.execute(
        sa.update(table)
        .where(
            table.c.id == client_id,
            sa.or_(table.c.last_used_at.is_(None), table.c.last_used_at <= since),
        )
        .values(last_used_at=now)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def get(*, session: Session, client_id: int, state_code: str | None = None) -> ApiClient:
    """A client (of `state_code`, when given: another state's is `NotFound`)."""
    client = session.get(ApiClient, client_id)
    if client is None or (state_code is not None and client.state_code != state_code):
        raise NotFound(ENTITY, client_id)
    return client


def list_all(*, session: Session, state_code: str) -> list[ApiClient]:
    """A state's clients, those still in use first, then by name."""
    stmt = (
        select(ApiClient)
        .where(ApiClient.state_code == state_code)
        .order_by(col(ApiClient.revoked_at).is_not(None), sa.func.lower(ApiClient.name))
    )
    return list(session.exec(stmt))


def revoke(
    *,
    session: Session,
    client_id: int,
    actor: str,
    state_code: str | None = None,
    now: dt.datetime | None = None,
) -> ApiClient:
    """Refuse the client's key from now on (for good). Revoking a revoked client changes
    nothing (a retried form)."""
    client = get(session=session, client_id=client_id, state_code=state_code)
    if client.revoked_at is not None:
        return client
    client.revoked_at = now or utcnow()
    client.revoked_by = actor
    session.add(client)
    session.flush()
    audit.record(
        session=session,
        actor=actor,
        entity=ENTITY,
        entity_id=client.id,
        action="revoke",
        at=client.revoked_at,
        before={"revoked_at": None},
        after={"revoked_at": client.revoked_at.isoformat()},
    )
    return client


# --- what a channel asked under each idempotency key ---------------------------------------


def _command_entity_id(client_id: int, key: str) -> str:
    return rules.command_key(client_id, key)


def seen(
    *, session: Session, client_id: int, key: str, action: str, digest: str
) -> VisitResult | None:
    """The outcome of the command this client already ran under `key`, if any (`KeyReused`
    when that was another action or another request)."""
    entity_id = _command_entity_id(client_id, key)
    found = session.exec(
        select(AuditEntry)
        .where(AuditEntry.entity == COMMAND, AuditEntry.entity_id == entity_id)
        .order_by(col(AuditEntry.id))
    ).first()
    if found is None:
        return None
    if found.action != action or found.detail.get("digest") != digest:
        raise KeyReused(key)
    command = session.exec(
        select(VisitCommand).where(VisitCommand.idempotency_key == entity_id)
    ).first()
    if command is None:  # recorded with its command: cannot be, but never replay nothing
        raise KeyReused(key)
    return VisitResult.from_json(command.outcome, replayed=True)


def remember(
    *,
    session: Session,
    client: Caller,
    key: str,
    action: str,
    digest: str,
    request_id: int,
    now: dt.datetime,
) -> None:
    """Record what the client asked under `key` (in the command's transaction)."""
    audit.record(
        session=session,
        actor=client.actor,
        entity=COMMAND,
        entity_id=_command_entity_id(client.id, key),
        action=action,
        at=now,
        digest=digest,
        request_id=request_id,
    )
    session.flush()


# --- failed citizen proofs through a channel ---------------------------------------------------


def proof_counter(client_id: int) -> str:
    """What a client's failed proofs are counted under (kept hashed, as a caller ID is)."""
    return f"api-client:{client_id}"


def _proof_counts(settings: Settings, client_id: int, phone: str | None) -> list[tuple[str, int]]:
    counts = [
        (proof_counter(client_id), rules.client_proofs_allowed(settings.proof_failures_allowed))
    ]
    if phone:
        counts.append((phone, settings.proof_failures_allowed))
    return counts


def proofs_locked_for(
    *,
    session: Session,
    settings: Settings,
    client_id: int,
    phone: str | None,
    now: dt.datetime,
) -> int:
    """Seconds before a proof shown through this client (for this verified phone number, when
    given) is taken again; 0 when it is taken now. Both counts must be under their allowance."""
    window = dt.timedelta(minutes=settings.proof_lockout_minutes)
    waits = [0]
    for caller, allowed in _proof_counts(settings, client_id, phone):
        newest = session.exec(
            select(AuditEntry.at)
            .where(
                AuditEntry.entity == visit_proof.CALLER,
                AuditEntry.entity_id == visit_proof.caller_key(settings, caller),
                AuditEntry.action == visit_proof.FAILED,
                col(AuditEntry.at) >= now - window,
            )
            .order_by(col(AuditEntry.at).desc())
            .limit(allowed)
        ).all()
        waits.append(rules.proofs_locked_for(newest, allowed=allowed, window=window, now=now))
    return max(waits)


def proof_failed(
    *, session: Session, settings: Settings, client: Caller, phone: str | None, now: dt.datetime
) -> None:
    """Count one failed proof against the client, and against the phone number when given."""
    for caller, _ in _proof_counts(settings, client.id, phone):
        visit_proof.record_failure(
            session=session,
            settings=settings,
            caller=caller,
            what="visit code (api)",
            actor=client.actor,
            now=now,
        )
