"""The admin's catalogue of e-services (permission: administer).

- `GET /admin/services` — the state's services (search by code or name, switched on or off),
  each with its names, department, fees, legal time limit, visit minutes and skill.
- `GET /admin/services/new`, `POST /admin/services/new` — a new service
  (`catalogue_service.create`); a form sent twice finds the service it made (its hidden
  token) rather than a "code exists".
- `GET /admin/services/{id}`, `POST /admin/services/{id}` — the service's form: names in
  English, Hindi and Urdu, department, category, the doorstep and government fees typed in
  rupees ("30" or "30.50", read as exact paise), time limit in days (empty: none), visit
  minutes, the skill it needs, documents in English and Hindi one per line, spoken aliases one
  per line, switched on (`dispatch.visits.catalogue_admin.update_service`: a change to the
  visit minutes, the skill or being offered has the days with its visits planned re-planned).
  Every bad field gets its message beside it and the form comes back as typed (422). A new fee
  applies to requests logged from then on: each request keeps the fee its citizen was told.
  The code cannot change once a request was made for the service (channels book by code).
- the service's history from the audit log, each change before → after.

Not here: the checks (`dispatch.catalogue.rules`, `dispatch.catalogue.service`).
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session

from dispatch.catalogue import rules as catalogue_rules
from dispatch.catalogue import service as catalogue_service
from dispatch.catalogue.models import Service, ServiceCategory
from dispatch.catalogue.rules import InvalidService
from dispatch.catalogue.service import SKILLS
from dispatch.errors import NotFound
from dispatch.money import plain
from dispatch.ports import Clock
from dispatch.staff.models import StaffUser
from dispatch.staff.service import actor_of
from dispatch.states import service as state_service
from dispatch.visits import catalogue_admin
from ivr.deps import get_clock
from web import admin_history
from web.auth import Administrator
from web.deps import ReadSessionDep, RowId, WriteSessionDep
from web.templating import templates

router = APIRouter()

ClockDep = Annotated[Clock, Depends(get_clock)]
Name = Annotated[str, Form(max_length=200)]
Money = Annotated[str, Form(max_length=20)]
Number = Annotated[str, Form(max_length=6)]
Lines = Annotated[str, Form(max_length=4000)]

LABELS = {
    "code": "Code",
    "name_en": "Name (English)",
    "name_hi": "Name (Hindi)",
    "name_ur": "Name (Urdu)",
    "department": "Department",
    "category": "Category",
    "doorstep_fee_paise": "Doorstep fee",
    "government_fee_paise": "Government fee",
    "time_limit_days": "Time limit (days)",
    "visit_minutes": "Visit minutes",
    "required_skill": "Skill needed",
    "documents_en": "Documents (English)",
    "documents_hi": "Documents (Hindi)",
    "aliases": "Aliases",
    "active": "Offered",
}
NOTICES = {
    "created": "The service is added to the catalogue: callers can ask for it now.",
    "saved": "Saved. A new fee is charged to requests logged from now on.",
    "replanned": "Saved. A new fee is charged to requests logged from now on; the days with "
    "visits of this service planned will be planned again with the change.",
    "unchanged": "Nothing was changed.",
}


def _service_of(session: Session, user: StaffUser, service_id: int) -> Service:
    """The service, if of the admin's state (others do not exist for them)."""
    service = session.get(Service, service_id)
    if service is None or service.state_code != user.state_code:
        raise NotFound("service", service_id)
    return service


@router.get("/admin/services", response_class=HTMLResponse)
def service_list(
    request: Request,
    user: Administrator,
    session: ReadSessionDep,
    q: Annotated[str, Query(max_length=60)] = "",
    active: Annotated[str, Query(pattern=r"^(|yes|no)$")] = "",
) -> HTMLResponse:
    services = catalogue_service.listing(
        session=session,
        state_code=user.state_code,
        text=q,
        active={"yes": True, "no": False}.get(active),
    )
    context = {"services": services, "form": {"q": q, "active": active}}
    return templates.TemplateResponse(request, "admin_services/list.html", context)


def _form_of(service: Service) -> dict[str, Any]:
    return {
        "code": service.code,
        "name_en": service.name_en,
        "name_hi": service.name_hi,
        "name_ur": service.name_ur or "",
        "department": service.department,
        "category": ServiceCategory(service.category).value,
        "doorstep_fee": plain(service.doorstep_fee_paise),
        "government_fee": plain(service.government_fee_paise),
        "time_limit_days": str(service.time_limit_days or ""),
        "visit_minutes": str(service.visit_minutes),
        "required_skill": service.required_skill or "",
        "documents_en": "\n".join(service.documents_en),
        "documents_hi": "\n".join(service.documents_hi),
        "aliases": "\n".join(service.aliases),
        "active": service.active,
    }


NEW_FORM: dict[str, Any] = {
    "code": "",
    "name_en": "",
    "name_hi": "",
    "name_ur": "",
    "department": "",
    "category": "citizen",
    "doorstep_fee": "",
    "government_fee": "0",
    "time_limit_days": "",
    "visit_minutes": "30",
    "required_skill": "",
    "documents_en": "",
    "documents_hi": "",
    "aliases": "",
    "active": True,
}


def _context(
    session: Session,
    user: StaffUser,
    service: Service | None,
    form: dict[str, Any],
    errors: dict[str, str],
    **extra: Any,
) -> dict[str, Any]:
    state = state_service.get(session=session, code=user.state_code)
    tz = ZoneInfo(state.timezone)
    history = []
    if service is not None and service.id is not None:
        entries = catalogue_service.history(session=session, service_id=service.id)
        history = admin_history.rows(entries, tz, LABELS)
    context: dict[str, Any] = {
        "service": service,
        "form": form,
        # The form's fee fields are typed in rupees; the domain names them in paise.
        "errors": {
            {"doorstep_fee_paise": "doorstep_fee", "government_fee_paise": "government_fee"}.get(
                k, k
            ): v
            for k, v in errors.items()
        },
        "skills": sorted(SKILLS),
        "categories": [c.value for c in ServiceCategory],
        "state_fees": {
            "citizen": state.citizen_fee_paise,
            "business": state.business_fee_paise,
        },
        "most_time_limit": catalogue_rules.MOST_TIME_LIMIT_DAYS,
        "visit_minutes": catalogue_rules.VISIT_MINUTES,
        "form_key": str(uuid.uuid4()),
        "history": history,
        "notice": "",
        "conflict": "",
        "version": (
            catalogue_service.service_version(session=session, service_id=service.id)
            if service is not None and service.id is not None
            else 0
        ),
    }
    context.update(extra)
    return context


def _page(request: Request, context: dict[str, Any], status_code: int = 200) -> HTMLResponse:
    return templates.TemplateResponse(
        request, "admin_services/edit.html", context, status_code=status_code
    )


@router.get("/admin/services/new", response_class=HTMLResponse)
def service_new(request: Request, user: Administrator, session: ReadSessionDep) -> HTMLResponse:
    return _page(request, _context(session, user, None, dict(NEW_FORM), {}))


@router.post("/admin/services/new", response_class=HTMLResponse)
def service_create(
    request: Request,
    user: Administrator,
    session: WriteSessionDep,
    code: Annotated[str, Form(max_length=60)] = "",
    name_en: Name = "",
    name_hi: Name = "",
    name_ur: Name = "",
    department: Name = "",
    category: Annotated[str, Form(max_length=20)] = "",
    doorstep_fee: Money = "",
    government_fee: Money = "",
    time_limit_days: Number = "",
    visit_minutes: Number = "",
    required_skill: Annotated[str, Form(max_length=40)] = "",
    documents_en: Lines = "",
    documents_hi: Lines = "",
    aliases: Lines = "",
    key: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    typed = {
        "code": code,
        "name_en": name_en,
        "name_hi": name_hi,
        "name_ur": name_ur,
        "department": department,
        "category": category,
        "doorstep_fee": doorstep_fee,
        "government_fee": government_fee,
        "time_limit_days": time_limit_days,
        "visit_minutes": visit_minutes,
        "required_skill": required_skill,
        "documents_en": documents_en,
        "documents_hi": documents_hi,
        "aliases": aliases,
        "active": True,
    }
    made = catalogue_service.made_by_form(
        session=session, state_code=user.state_code, code=code, form_key=key
    )
    if made is not None:  # the same form sent again
        return RedirectResponse(f"/admin/services/{made.id}?done=created", status_code=303)
    try:
        created = catalogue_service.create(
            session=session,
            state_code=user.state_code,
            code=code,
            name_en=name_en,
            name_hi=name_hi,
            name_ur=name_ur,
            department=department,
            category=category,
            doorstep_fee_paise=doorstep_fee,
            government_fee_paise=government_fee,
            time_limit_days=time_limit_days,
            visit_minutes=visit_minutes,
            required_skill=required_skill,
            documents_en=documents_en,
            documents_hi=documents_hi,
            aliases=aliases,
            actor=actor_of(user),
            form_key=key or None,
        )
    except InvalidService as exc:
        context = _context(session, user, None, typed, exc.problems, form_key=key)
        return _page(request, context, 422)
    return RedirectResponse(f"/admin/services/{created.id}?done=created", status_code=303)


@router.get("/admin/services/{service_id}", response_class=HTMLResponse)
def service_edit(
    request: Request,
    service_id: RowId,
    user: Administrator,
    session: ReadSessionDep,
    done: Annotated[str, Query(max_length=20)] = "",
) -> HTMLResponse:
    service = _service_of(session, user, service_id)
    context = _context(session, user, service, _form_of(service), {}, notice=NOTICES.get(done, ""))
    return _page(request, context)


@router.post("/admin/services/{service_id}", response_class=HTMLResponse)
def service_update(
    request: Request,
    service_id: RowId,
    user: Administrator,
    session: WriteSessionDep,
    clock: ClockDep,
    code: Annotated[str, Form(max_length=60)] = "",
    name_en: Name = "",
    name_hi: Name = "",
    name_ur: Name = "",
    department: Name = "",
    category: Annotated[str, Form(max_length=20)] = "",
    doorstep_fee: Money = "",
    government_fee: Money = "",
    time_limit_days: Number = "",
    visit_minutes: Number = "",
    required_skill: Annotated[str, Form(max_length=40)] = "",
    documents_en: Lines = "",
    documents_hi: Lines = "",
    aliases: Lines = "",
    active: Annotated[str, Form(max_length=3)] = "",
    version: Annotated[int | None, Form(ge=0, le=2**63 - 1)] = None,
) -> Response:
    service = _service_of(session, user, service_id)
    typed = {
        "code": code,
        "name_en": name_en,
        "name_hi": name_hi,
        "name_ur": name_ur,
        "department": department,
        "category": category,
        "doorstep_fee": doorstep_fee,
        "government_fee": government_fee,
        "time_limit_days": time_limit_days,
        "visit_minutes": visit_minutes,
        "required_skill": required_skill,
        "documents_en": documents_en,
        "documents_hi": documents_hi,
        "aliases": aliases,
        "active": active == "on",
    }
    try:
        made = catalogue_admin.update_service(
            session=session,
            service_id=service_id,
            actor=actor_of(user),
            now=clock.now(),
            code=code,
            name_en=name_en,
            name_hi=name_hi,
            name_ur=name_ur,
            department=department,
            category=category,
            # An emptied fee is a mistake here, not "the state's fee": the field says so.
            doorstep_fee_paise=doorstep_fee if doorstep_fee.strip() else "?",
            government_fee_paise=government_fee if government_fee.strip() else "0",
            time_limit_days=time_limit_days,
            visit_minutes=visit_minutes,
            required_skill=required_skill,
            documents_en=documents_en,
            documents_hi=documents_hi,
            aliases=aliases,
            active=active == "on",
            version=version,
        )
    except catalogue_service.EditedMeanwhile:
        # A form drawn before another save (sent again, or left open): nothing changed; the
        # service as it is now, to start again from.
        session.expire_all()
        service = _service_of(session, user, service_id)
        conflict = (
            "Nothing was saved: this service was changed by someone else since this form was "
            "opened. Here it is as it is now; make your change again if it is still needed."
        )
        context = _context(session, user, service, _form_of(service), {}, conflict=conflict)
        return _page(request, context, 409)
    except InvalidService as exc:
        session.expire_all()
        service = _service_of(session, user, service_id)
        return _page(request, _context(session, user, service, typed, exc.problems), 422)
    done = "unchanged"
    if made.after:
        done = "replanned" if catalogue_admin.PLANNING_FIELDS & set(made.after) else "saved"
    return RedirectResponse(f"/admin/services/{service_id}?done={done}", status_code=303)
