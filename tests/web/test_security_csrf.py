"""CSRF on every unsafe console route: the test walks every POST, PUT, PATCH and DELETE route of
the app outside the prefixes with a proof of their own (`web.auth.CSRF_EXEMPT_PREFIXES`: Twilio's
signed webhooks, the agents' signed links, the API's keys) and sends each one, from a browser
signed in as an admin, without the CSRF token, with a forged one in the form and with a forged
one in htmx's header: 403 every time, and no row of any table written."""

from __future__ import annotations

import re

from fastapi import FastAPI
from sqlalchemy.engine import Engine

from dispatch.staff.rules import Role
from tests.console import signed_in
from tests.replay import api_routes, row_counts
from web.auth import CSRF_EXEMPT_PREFIXES

UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


def _unsafe_console_routes(app: FastAPI) -> list[tuple[str, str]]:
    found = []
    for route in api_routes(app.routes):
        if route.path.startswith(CSRF_EXEMPT_PREFIXES):
            continue
        url = re.sub(r"\{[^}]+\}", "1", route.path)
        found += [(method, url) for method in sorted(route.methods & UNSAFE)]
    return found


def test_every_unsafe_console_route_refuses_a_request_without_its_csrf_token(
    app: FastAPI, engine: Engine
) -> None:
    admin = signed_in(app, engine, Role.ADMIN)
    real = admin.csrf()
    form = {"username": "csrf_victim", "name": "X", "role": "admin", "password": "p" * 12}
    routes = _unsafe_console_routes(app)
    assert {("POST", "/admin/staff"), ("POST", "/intake/book"), ("POST", "/logout")} <= set(routes)
    before = row_counts(engine)
    wrong = []
    for method, url in routes:
        attempts = {
            "no token": admin.request(method, url, data=form),
            "forged in the form": admin.request(
                method, url, data={**form, "csrftoken": real[:-4] + "AAAA"}
            ),
            "forged in the header": admin.request(
                method, url, data=form, headers={"HX-Request": "true", "x-csrftoken": "forged"}
            ),
        }
        wrong += [f"{method} {url} {name}: {r.status_code}" for name, r in attempts.items()]
        wrong = [w for w in wrong if not w.endswith(": 403")]
    assert len(routes) > 30 and wrong == []
    assert row_counts(engine) == before
    assert admin.get("/admin/staff").status_code == 200  # the session is still there
