"""The catalogue's service functions: validated creation and change (audited with before and
after), lookup, the admin's list, search by speech or text, and the console's type-ahead
(`suggest`). What a valid service is: `dispatch.catalogue.rules.check_service`."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from sqlmodel import Session, col, func, select

from dispatch import matching, validation
from dispatch.audit import service as audit
from dispatch.audit.models import AuditEntry
from dispatch.catalogue import rules
from dispatch.catalogue.models import Service, ServiceCategory
from dispatch.errors import Conflict, NotFound
from dispatch.requests.models import DoorstepRequest
from dispatch.states import service as state_service
from dispatch.states.models import State

ENTITY = "service"
SKILLS = frozenset({"biometric", "land_records", "business", "driving"})


def create(
    *,
    session: Session,
    state_code: str,
    code: str,
    name_en: str,
    name_hi: str,
    department: str,
    category: str = "citizen",
    doorstep_fee_paise: int | str | None = None,
    government_fee_paise: int | str = 0,
    time_limit_days: int | str | None = None,
    visit_minutes: int | str = 30,
    required_skill: str | None = None,
    name_ur: str | None = None,
    aliases: str | Sequence[str] | None = None,
    documents_en: str | Sequence[str] | None = None,
    documents_hi: str | Sequence[str] | None = None,
    popularity: int = 999,
    active: bool = True,
    actor: str = "system",
    form_key: str | None = None,
) -> Service:
    """Add an e-service. Fees are paise, or rupees as typed (text); a missing doorstep fee
    takes the state's rule for the category. Every bad field is named at once
    (`InvalidService`). `form_key` (a console form's random token) is kept with the creation,
    so that a form sent twice finds the service it made (`made_by_form`)."""
    state = state_service.get(session=session, code=state_code)
    form = rules.ServiceForm(
        code=code,
        name_en=name_en,
        name_hi=name_hi,
        name_ur=name_ur or "",
        department=department,
        category=category,
        doorstep_fee=doorstep_fee_paise,
        government_fee=government_fee_paise,
        time_limit_days=time_limit_days,
        visit_minutes=visit_minutes,
        required_skill=required_skill or "",
        documents_en=documents_en or [],
        documents_hi=documents_hi or [],
        aliases=aliases or [],
    )
    values = _checked(session, state, form, None)
    service = Service(
        state_code=state.code,
        popularity=validation.integer(popularity, field="popularity", low=1),
        active=active,
        **asdict(values),
    )
    session.add(service)
    session.flush()
    audit.record(
        session=session,
        actor=actor,
        entity=ENTITY,
        entity_id=service.id,
        action="create",
        code=service.code,
        after=snapshot(service),
        key=form_key,
    )
    return service


def made_by_form(*, session: Session, state_code: str, code: str, form_key: str) -> Service | None:
    """The service a form with this token created (a retried form), if it was that form."""
    wanted = "_".join((code or "").upper().replace("-", " ").split())
    service = session.exec(
        select(Service).where(Service.state_code == state_code, Service.code == wanted)
    ).first()
    if service is None or service.id is None or not form_key:
        return None
    created = [e for e in history(session=session, service_id=service.id) if e.action == "create"]
    return service if any(e.detail.get("key") == form_key for e in created) else None


def update(
    *,
    session: Session,
    service_id: int,
    actor: str,
    code: str | None = None,
    name_en: str | None = None,
    name_hi: str | None = None,
    name_ur: str | None = None,
    department: str | None = None,
    category: str | None = None,
    doorstep_fee_paise: int | str | None = None,
    government_fee_paise: int | str | None = None,
    time_limit_days: int | str | None = None,
    visit_minutes: int | str | None = None,
    required_skill: str | None = None,
    documents_en: str | Sequence[str] | None = None,
    documents_hi: str | Sequence[str] | None = None,
    aliases: str | Sequence[str] | None = None,
    active: bool | None = None,
    version: int | None = None,
) -> Changes:
    """Change what is given (None keeps a field; "" empties a text field — for the time limit
    "no limit", for the skill "none"), after checking the service as it would be: every bad
    field named at once (`InvalidService`), nothing changed then. Fees are paise, or rupees as
    typed (text); a new fee is charged to requests logged from now on (a request keeps the fee
    it was told). The code stays as it is once any request was made for the service (channels
    book by code). Audited with the changed fields' values before and after.

    What a change to the visit's minutes, skill or being offered does to the live plans is not
    here but in the use case `dispatch.visits.catalogue_admin.update_service`, which calls
    this.

    `version` is the service's `service_version` a form was drawn at: if the service was
    changed since and this would change anything, `EditedMeanwhile` and nothing changed (a
    form sent again, or left open while another admin saved, cannot undo a later change)."""
    service = get(session=session, service_id=service_id)
    current = None
    if version is not None:
        # Held until the commit on PostgreSQL (SQLite's writes are serial): two saves drawn
        # at the same version cannot both pass the check.
        session.exec(select(Service.id).where(Service.id == service_id).with_for_update()).one()
        current = service_version(session=session, service_id=service_id)
    state = state_service.get(session=session, code=service.state_code)
    before = snapshot(service)

    def kept(value: Any, current: Any) -> Any:
        return current if value is None else value

    form = rules.ServiceForm(
        code=kept(code, service.code),
        name_en=kept(name_en, service.name_en),
        name_hi=kept(name_hi, service.name_hi),
        name_ur=kept(name_ur, service.name_ur or ""),
        department=kept(department, service.department),
        category=kept(category, service.category.value),
        doorstep_fee=kept(doorstep_fee_paise, service.doorstep_fee_paise),
        government_fee=kept(government_fee_paise, service.government_fee_paise),
        time_limit_days=kept(time_limit_days, service.time_limit_days),
        visit_minutes=kept(visit_minutes, service.visit_minutes),
        required_skill=kept(required_skill, service.required_skill or ""),
        documents_en=kept(documents_en, service.documents_en),
        documents_hi=kept(documents_hi, service.documents_hi),
        aliases=kept(aliases, service.aliases),
    )
    values = _checked(session, state, form, service_id)
    for name, value in asdict(values).items():
        setattr(service, name, value)
    if active is not None:
        service.active = active
    after = snapshot(service)
    changed = [k for k in after if before[k] != after[k]]
    if not changed:
        return Changes(service, {}, {})
    if current is not None and version != current:
        session.expire(service)  # what was set above is dropped, not written
        raise EditedMeanwhile(service_id, current)
    session.add(service)
    old, new = {k: before[k] for k in changed}, {k: after[k] for k in changed}
    audit.record(
        session=session,
        actor=actor,
        entity=ENTITY,
        entity_id=service_id,
        action="update",
        before=old,
        after=new,
    )
    session.flush()
    return Changes(service, old, new)


class EditedMeanwhile(Conflict):
    """An edit drawn at an older version of the service that would change something: nothing
    was changed; `current` is the version the form must be drawn at again."""

    def __init__(self, service_id: int, current: int) -> None:
        self.current = current
        super().__init__(ENTITY, service_id, "changed by someone else since this form was drawn")


def service_version(*, session: Session, service_id: int) -> int:
    """The service's version as an edit form carries it: the id of its latest audit entry
    (made or changed; 0 before any)."""
    return audit.latest_id(session=session, entity=ENTITY, entity_id=service_id)


@dataclass(frozen=True)
class Changes:
    """A service as an update left it, and the fields it changed (as audited)."""

    service: Service
    before: dict[str, Any]
    after: dict[str, Any]


def snapshot(service: Service) -> dict[str, Any]:
    """The service's changeable fields as the audit log records them (money in paise)."""
    return {
        "code": service.code,
        "name_en": service.name_en,
        "name_hi": service.name_hi,
        "name_ur": service.name_ur,
        "department": service.department,
        "category": ServiceCategory(service.category).value,
        "doorstep_fee_paise": service.doorstep_fee_paise,
        "government_fee_paise": service.government_fee_paise,
        "time_limit_days": service.time_limit_days,
        "visit_minutes": service.visit_minutes,
        "required_skill": service.required_skill,
        "documents_en": list(service.documents_en),
        "documents_hi": list(service.documents_hi),
        "aliases": list(service.aliases),
        "active": service.active,
    }


def _checked(
    session: Session, state: State, form: rules.ServiceForm, service_id: int | None
) -> rules.ServiceValues:
    """The checked values, the code's uniqueness in the state included."""
    problems: dict[str, str] = {}
    given: dict[str, object] = {}
    values = None
    try:
        values = rules.check_service(
            form,
            skills=SKILLS,
            citizen_fee_paise=state.citizen_fee_paise,
            business_fee_paise=state.business_fee_paise,
        )
    except rules.InvalidService as exc:
        problems.update(exc.problems)
        given.update(exc.values)
    code = "_".join((form.code or "").upper().replace("-", " ").split())
    same = select(Service.id).where(Service.state_code == state.code, Service.code == code)
    if service_id is not None:
        same = same.where(Service.id != service_id)
    if code and session.exec(same).first() is not None:
        problems.setdefault("code", "a service with this code exists")
    current = session.get(Service, service_id) if service_id is not None else None
    if current is not None and code and code != current.code:
        # Channels book by code (/api/v1): a code requests were made under is in their use.
        made = session.exec(
            select(func.count())
            .select_from(DoorstepRequest)
            .where(DoorstepRequest.service_id == service_id)
        ).one()
        if made:
            problems.setdefault(
                "code",
                f"cannot change: {made} request(s) were made for {current.code}, and channels "
                "book by this code (add a new service instead)",
            )
    if problems or values is None:
        raise rules.invalid_service(problems, given)
    return values


def history(*, session: Session, service_id: int) -> list[AuditEntry]:
    """The service's audit entries, newest first."""
    return list(reversed(audit.history(session=session, entity=ENTITY, entity_id=service_id)))


def listing(
    *, session: Session, state_code: str, text: str = "", active: bool | None = None
) -> list[Service]:
    """The state's services for the admin's list, by English name: those whose code or a name holds
    `text` (any case), switched on or off."""
    stmt = select(Service).where(Service.state_code == state_code)
    if active is not None:
        stmt = stmt.where(col(Service.active) == active)
    typed = " ".join(text.split()).lower()
    if typed:
        pattern = f"%{typed}%"
        stmt = stmt.where(
            func.lower(col(Service.code)).like(pattern.replace(" ", "_"))
            | func.lower(col(Service.name_en)).like(pattern)
            | col(Service.name_hi).like(f"%{' '.join(text.split())}%")
            | func.lower(func.coalesce(col(Service.name_ur), "")).like(pattern)
        )
    return list(session.exec(stmt.order_by(col(Service.name_en), col(Service.code))))


def get(*, session: Session, service_id: int) -> Service:
    service = session.get(Service, service_id)
    if service is None:
        raise NotFound("service", service_id)
    return service


def get_by_code(*, session: Session, state_code: str, code: str) -> Service:
    service = session.exec(
        select(Service).where(Service.state_code == state_code, Service.code == code.upper())
    ).first()
    if service is None:
        raise NotFound("service", code)
    return service


def list_active(*, session: Session, state_code: str) -> list[Service]:
    stmt = (
        select(Service)
        .where(Service.state_code == state_code, col(Service.active))
        .order_by(col(Service.popularity), col(Service.code))
    )
    return list(session.exec(stmt))


def most_requested(*, session: Session, state_code: str, limit: int = 8) -> list[Service]:
    return list_active(session=session, state_code=state_code)[:limit]


def search(*, session: Session, state_code: str, text: str, limit: int = 3) -> list[Service]:
    """Services whose names or aliases match `text` (typed or recognised speech), best first."""
    services = {str(s.id): s for s in list_active(session=session, state_code=state_code)}
    candidates = [
        (key, [s.name_en, s.name_hi, *([s.name_ur] if s.name_ur else []), *s.aliases])
        for key, s in services.items()
    ]
    return [services[m.key] for m in matching.rank(text, candidates, limit=limit)]


# --- the console's type-ahead -----------------------------------------------------------------


@dataclass(frozen=True)
class Suggestion:
    """A service offered while a call agent types: `matched` is the name or alias that matched
    (shown when it is not the English name, so "aay praman patra" is seen to mean "Income
    Certificate")."""

    service: Service
    matched: str
    score: float


def suggest(*, session: Session, state_code: str, text: str, limit: int = 8) -> list[Suggestion]:
    """Services for a type-ahead over what was typed so far: a name (English, Hindi, Urdu), an
    alias or the code that starts with it, has words starting with each typed word, or contains
    it; then `search`'s fuzzy matches (a misspelling). Best first, then the most requested.
    Blank text: the most requested services."""
    active = list_active(session=session, state_code=state_code)
    typed = _fold(text)
    if not typed:
        return [Suggestion(s, s.name_en, 0.0) for s in active[:limit]]
    best: dict[int, Suggestion] = {}
    for service in active:
        key = service.id or 0
        for n, phrase in enumerate(_phrases(service)):
            score = _prefix_score(typed, _fold(phrase))
            if n == len(service.aliases) + len(_names(service)):  # the code: names win ties
                score = min(score, 0.9)
            if score > (best[key].score if key in best else 0.0):
                best[key] = Suggestion(service, phrase, score)
    if len(best) < limit:  # misspellings: the speech matcher's ranking, below every prefix hit
        by_key = {str(s.id): s for s in active}
        candidates = [(str(s.id), _phrases(s)) for s in active if (s.id or 0) not in best]
        for match in matching.rank(text, candidates, limit=limit - len(best)):
            service = by_key[match.key]
            best[service.id or 0] = Suggestion(service, service.name_en, 0.5 * match.score)
    ranked = sorted(best.values(), key=lambda s: (-s.score, s.service.popularity, s.service.code))
    return ranked[:limit]


def _names(service: Service) -> list[str]:
    return [service.name_en, service.name_hi, *([service.name_ur] if service.name_ur else [])]


def _phrases(service: Service) -> list[str]:
    """Names, aliases, then the code (last)."""
    return [*_names(service), *service.aliases, service.code.replace("_", " ")]


def _fold(text: str) -> str:
    """Lower case, punctuation to spaces, one space between words; combining marks are kept
    (Devanagari vowel signs and virama are not `\\w` to Python's `re`), so a Hindi word stays
    one word while it is typed. Unlike `matching.normalise`, filler words are kept: a prefix
    is being typed."""
    text = unicodedata.normalize("NFC", text).casefold()
    kept = (ch if ch.isalnum() or unicodedata.category(ch).startswith("M") else " " for ch in text)
    return " ".join("".join(kept).split())


def _prefix_score(typed: str, phrase: str) -> float:
    """How well a phrase answers what was typed so far (0: not at all)."""
    if not phrase:
        return 0.0
    if phrase == typed:
        return 1.0
    if phrase.startswith(typed):
        return 0.95
    words = phrase.split()
    if all(any(w.startswith(t) for w in words) for t in typed.split()):
        return 0.9
    if typed in phrase:
        return 0.8
    return 0.0
