"""The catalogue's service functions: validated creation, lookup, search by speech or text, and
the console's type-ahead (`suggest`)."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from sqlmodel import Session, col, select

from dispatch import matching, validation
from dispatch.audit import service as audit
from dispatch.catalogue import rules
from dispatch.catalogue.models import Service, ServiceCategory
from dispatch.errors import InvalidInput, NotFound
from dispatch.states import service as state_service

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
    doorstep_fee_paise: int | None = None,
    government_fee_paise: int = 0,
    time_limit_days: int | None = None,
    visit_minutes: int = 30,
    required_skill: str | None = None,
    name_ur: str | None = None,
    aliases: list[str] | None = None,
    documents_en: list[str] | None = None,
    documents_hi: list[str] | None = None,
    popularity: int = 999,
    actor: str = "system",
) -> Service:
    """Add an e-service. A missing doorstep fee takes the state's rule for the category."""
    state = state_service.get(session=session, code=state_code)
    code = validation.text(code, field="code", max_length=48).upper()
    if session.exec(
        select(Service).where(Service.state_code == state.code, Service.code == code)
    ).first():
        raise InvalidInput("code", code, "a service with this code exists")
    cat = ServiceCategory(
        validation.choice(category, field="category", allowed={"citizen", "business"})
    )
    if doorstep_fee_paise is None:
        doorstep_fee_paise = rules.doorstep_fee(
            cat,
            citizen_fee_paise=state.citizen_fee_paise,
            business_fee_paise=state.business_fee_paise,
        )
    if time_limit_days is not None:
        validation.integer(time_limit_days, field="time_limit_days", low=1, high=365)
    if required_skill:
        validation.choice(required_skill, field="required_skill", allowed=SKILLS)
    docs_en = documents_en or []
    docs_hi = documents_hi or []
    if docs_hi and len(docs_hi) != len(docs_en):
        raise InvalidInput("documents_hi", docs_hi, "must list the same documents as documents_en")
    service = Service(
        state_code=state.code,
        code=code,
        name_en=validation.text(name_en, field="name_en"),
        name_hi=validation.text(name_hi, field="name_hi"),
        name_ur=(name_ur or "").strip() or None,
        aliases=[a.strip() for a in aliases or [] if a.strip()],
        department=validation.text(department, field="department"),
        category=cat,
        doorstep_fee_paise=validation.fee(doorstep_fee_paise, field="doorstep_fee_paise"),
        government_fee_paise=validation.fee(government_fee_paise, field="government_fee_paise"),
        time_limit_days=time_limit_days,
        visit_minutes=validation.integer(visit_minutes, field="visit_minutes", low=5, high=240),
        required_skill=required_skill or None,
        documents_en=docs_en,
        documents_hi=docs_hi,
        popularity=validation.integer(popularity, field="popularity", low=1),
    )
    session.add(service)
    session.flush()
    audit.record(
        session=session,
        actor=actor,
        entity="service",
        entity_id=service.id,
        action="create",
        code=code,
    )
    return service


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
