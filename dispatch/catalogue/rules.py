"""Pure catalogue rules: fees by state rule, rupees as typed read as exact paise, and what a
valid service is (`check_service`: every bad field of a form named at once). Matching names is
`dispatch.matching`; uniqueness of a code is the service's."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from dispatch import money, validation
from dispatch.catalogue.models import ServiceCategory
from dispatch.errors import InvalidFee, InvalidInput


def doorstep_fee(
    category: ServiceCategory, *, citizen_fee_paise: int, business_fee_paise: int
) -> int:
    """The state's fixed doorstep fee for a service category."""
    return business_fee_paise if category is ServiceCategory.BUSINESS else citizen_fee_paise


# --- a service's form ---------------------------------------------------------------------------

#: The most a fee may be (₹1,00,000): a doorstep fee is tens of rupees, a government fee rarely
#: more than a few thousand.
MOST_FEE_PAISE = 100_000_00
#: A time limit longer than a year is no guarantee.
MOST_TIME_LIMIT_DAYS = 365
VISIT_MINUTES = (5, 240)
CODE_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")


class InvalidService(InvalidInput):
    """A service's form with one or more bad fields: `problems` maps each to its reason (the
    error's own field and reason are the first of them); `values` holds what was given for
    those that were given as data (a seed row's number, say)."""

    def __init__(self, problems: dict[str, str], values: dict[str, object] | None = None) -> None:
        field, reason = next(iter(problems.items()))
        self.values = dict(values or {})
        super().__init__(field, self.values.get(field), reason)
        self.problems = dict(problems)

    def __str__(self) -> str:
        return "; ".join(
            f"{field}={self.values[field]!r}: {reason}"
            if field in self.values
            else f"{field}: {reason}"
            for field, reason in self.problems.items()
        )


class InvalidServiceFee(InvalidService, InvalidFee):
    """A service's form whose fee (among other fields, maybe) is bad."""


FEE_FIELDS = frozenset({"doorstep_fee_paise", "government_fee_paise"})


def invalid_service(
    problems: dict[str, str], values: dict[str, object] | None = None
) -> InvalidService:
    """The error for a form's problems: an `InvalidFee` too when a fee is among them."""
    if FEE_FIELDS & set(problems):
        return InvalidServiceFee(problems, values)
    return InvalidService(problems, values)


def paise_from_rupees(text: str, *, field: str) -> int:
    """A fee as typed in rupees ("30", "30.50", "1,250", "₹ 30") as exact paise, at most
    `MOST_FEE_PAISE`; `InvalidFee` for anything else (a blank fee too: type 0 for none)."""
    return money.paise_of(text, field=field, most=MOST_FEE_PAISE, blank=None)


def lines(value: str | Sequence[str]) -> list[str]:
    """A list typed one per line (or given as a list): each trimmed, blank ones left out."""
    items = value.splitlines() if isinstance(value, str) else list(value)
    return [" ".join(item.split()) for item in items if item.strip()]


@dataclass(frozen=True)
class ServiceForm:
    """A service's fields as typed: fees as paise (a number) or rupees (text, "" for the
    state's doorstep fee or no government fee), lists one per line or as lists."""

    code: str
    name_en: str
    name_hi: str
    name_ur: str
    department: str
    category: str
    doorstep_fee: int | str | None
    government_fee: int | str
    time_limit_days: int | str | None
    visit_minutes: int | str
    required_skill: str
    documents_en: str | Sequence[str]
    documents_hi: str | Sequence[str]
    aliases: str | Sequence[str]


@dataclass(frozen=True)
class ServiceValues:
    code: str
    name_en: str
    name_hi: str
    name_ur: str | None
    department: str
    category: ServiceCategory
    doorstep_fee_paise: int
    government_fee_paise: int
    time_limit_days: int | None
    visit_minutes: int
    required_skill: str | None
    documents_en: list[str]
    documents_hi: list[str]
    aliases: list[str]


def _fee(value: int | str, field: str, problems: dict[str, str], given: dict[str, object]) -> int:
    try:
        if isinstance(value, str):
            if value.strip().startswith("-"):
                raise InvalidInput(field, value, "must not be negative")
            return paise_from_rupees(value, field=field)
        paise = validation.fee(value, field=field)
        if paise > MOST_FEE_PAISE:
            raise InvalidInput(field, value, f"at most ₹{MOST_FEE_PAISE // 100:,}")
        return paise
    except InvalidInput as exc:
        problems.setdefault(field, exc.reason)
        if not isinstance(value, str):
            given[field] = value
        return 0


def _whole(value: int | str, field: str, low: int, high: int, problems: dict[str, str]) -> int:
    try:
        return validation.integer(value, field=field, low=low, high=high)
    except InvalidInput as exc:
        problems.setdefault(field, exc.reason)
        return low


def check_service(
    form: ServiceForm,
    *,
    skills: Collection[str],
    citizen_fee_paise: int,
    business_fee_paise: int,
) -> ServiceValues:
    """The typed service, or `InvalidService` naming every bad field. A doorstep fee left
    empty is the state's for the category (`doorstep_fee`)."""
    problems: dict[str, str] = {}
    given: dict[str, object] = {}
    code = "_".join((form.code or "").upper().replace("-", " ").split())
    if not code:
        problems["code"] = "is required"
    elif len(code) > 48 or set(code) - CODE_CHARS:
        problems["code"] = "letters, digits and underscores, at most 48"
    texts: dict[str, str] = {}
    for name, value, required in (
        ("name_en", form.name_en, True),
        ("name_hi", form.name_hi, True),
        ("name_ur", form.name_ur, False),
        ("department", form.department, True),
    ):
        try:
            texts[name] = validation.text(value, field=name, required=required)
        except InvalidInput as exc:
            problems.setdefault(name, exc.reason)
    category = ServiceCategory.CITIZEN
    if form.category in {c.value for c in ServiceCategory}:
        category = ServiceCategory(form.category)
    else:
        problems["category"] = "citizen or business"
    if form.doorstep_fee is None or form.doorstep_fee == "":
        doorstep = doorstep_fee(
            category, citizen_fee_paise=citizen_fee_paise, business_fee_paise=business_fee_paise
        )
    else:
        doorstep = _fee(form.doorstep_fee, "doorstep_fee_paise", problems, given)
    government_fee = form.government_fee if form.government_fee != "" else 0
    government = _fee(government_fee, "government_fee_paise", problems, given)
    limit: int | None = None
    if form.time_limit_days is not None and str(form.time_limit_days).strip():
        limit = _whole(form.time_limit_days, "time_limit_days", 1, MOST_TIME_LIMIT_DAYS, problems)
    low, high = VISIT_MINUTES
    minutes = _whole(form.visit_minutes, "visit_minutes", low, high, problems)
    skill = (form.required_skill or "").strip() or None
    if skill is not None and skill not in skills:
        problems["required_skill"] = f"expected one of {', '.join(sorted(skills))}, or none"
    docs_en, docs_hi = lines(form.documents_en), lines(form.documents_hi)
    if docs_hi and len(docs_hi) != len(docs_en):
        problems["documents_hi"] = (
            f"list the same documents as in English, one per line ({len(docs_en)} lines)"
        )
    aliases = list(dict.fromkeys(lines(form.aliases)))
    if problems:
        raise invalid_service(problems, given)
    return ServiceValues(
        code=code,
        name_en=texts["name_en"],
        name_hi=texts["name_hi"],
        name_ur=texts["name_ur"] or None,
        department=texts["department"],
        category=category,
        doorstep_fee_paise=doorstep,
        government_fee_paise=government,
        time_limit_days=limit,
        visit_minutes=minutes,
        required_skill=skill,
        documents_en=docs_en,
        documents_hi=docs_hi,
        aliases=aliases,
    )
