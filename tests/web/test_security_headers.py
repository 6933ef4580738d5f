"""Security headers on every answer (`web.security`): every GET route of the app — the console,
the agents' day page, the channels' API, the phone line — answers with a Content-Security-Policy
that no page may frame, nosniff, a Referrer-Policy and a Permissions-Policy, and HSTS in
production only; and no template holds what that policy would refuse (inline script, a style
attribute, a `<style>` without the answer's nonce, an htmx filter that needs eval)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from starlette.routing import Mount

from dispatch.config import Settings
from dispatch.db import write_session
from dispatch.staff.rules import Role
from tests import factories
from tests.console import PASSWORD, Console, make_user, signed_in
from tests.web.test_production import SAFE
from web.app import create_app
from web.security import HSTS_SECONDS
from web.templating import TEMPLATES_DIR

EVERY_ANSWER = ("x-content-type-options", "referrer-policy", "permissions-policy")


def _routes(routes: Iterable[Any], prefix: str = "") -> Iterator[tuple[str, APIRoute]]:
    """Every endpoint with its full path: through included routers and the API's mount."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield prefix + route.path, route
        elif isinstance(route, Mount) and isinstance(route.app, FastAPI):
            yield from _routes(route.app.routes, prefix + route.path)
        elif (router := getattr(route, "original_router", None)) is not None:
            yield from _routes(router.routes, prefix)


def _get_urls(app: FastAPI) -> list[str]:
    urls = [
        re.sub(r"\{[^}]+\}", "1", path) for path, r in _routes(app.routes) if "GET" in r.methods
    ]
    return [*urls, "/static/doorstep.css", "/no-such-page", "/api/v1/no-such-thing"]


def _directives(policy: str) -> dict[str, str]:
    found = {}
    for part in filter(None, (p.strip() for p in policy.split(";"))):
        name, _, value = part.partition(" ")
        found[name] = value
    return found


def _problems(url: str, headers: Any, *, production: bool) -> list[str]:
    found = []
    policy = _directives(headers.get("content-security-policy", ""))
    if policy.get("frame-ancestors") != "'none'":
        found.append(f"{url}: frame-ancestors {policy.get('frame-ancestors')!r}")
    if "'unsafe-eval'" in policy.get("script-src", ""):
        found.append(f"{url}: eval allowed")
    docs = url in {"/docs", "/redoc", "/docs/oauth2-redirect", "/api/v1/docs"}
    if "'unsafe-inline'" in policy.get("script-src", "") and not docs:
        found.append(f"{url}: inline script allowed")
    if headers.get("x-content-type-options") != "nosniff":
        found.append(f"{url}: no nosniff")
    found += [f"{url}: no {name}" for name in EVERY_ANSWER if name not in headers]
    if ("strict-transport-security" in headers) != production:
        found.append(f"{url}: HSTS {'missing' if production else 'in development'}")
    return found


def _walk(console: TestClient, app: FastAPI, *, production: bool) -> tuple[int, list[str]]:
    urls = _get_urls(app)
    problems = []
    for url in urls:
        problems += _problems(url, console.get(url).headers, production=production)
    return len(urls), problems


def test_every_get_route_answers_with_the_security_headers(
    settings: Settings, engine: Engine
) -> None:
    app = create_app(settings=settings, engine=engine)
    for role in (Role.ADMIN, Role.SUPERVISOR):  # between them, every page opens
        walked, problems = _walk(signed_in(app, engine, role), app, production=False)
        assert walked > 50 and problems == []
    # and to a stranger (a redirect to the sign-in form, a 401, a 404, the API's 401)
    walked, problems = _walk(TestClient(app, follow_redirects=False), app, production=False)
    assert problems == []


def test_production_adds_hsts_to_every_answer(engine: Engine) -> None:
    app = create_app(settings=Settings(**SAFE), engine=engine)
    user = make_user(engine, Role.ADMIN)
    console = Console(app, base_url="https://testserver", follow_redirects=False)
    console.submit("/login", {"username": user.username, "password": PASSWORD})  # Secure cookies
    walked, problems = _walk(console, app, production=True)
    assert walked > 50 and problems == []
    hsts = console.get("/login").headers["strict-transport-security"]
    assert hsts == f"max-age={HSTS_SECONDS}; includeSubDomains"


def test_refused_and_unsafe_answers_carry_them_too(app: FastAPI, engine: Engine) -> None:
    """A CSRF refusal (made by a middleware, not a route) and a webhook's refusal."""
    console = signed_in(app, engine, Role.ADMIN)
    refused = console.post("/admin/staff", data={"username": "x"})
    assert refused.status_code == 403 and _problems("csrf", refused.headers, production=False) == []
    unsigned = TestClient(app).post("/ivr/voice/incoming", data={"CallSid": "CAx"})
    assert unsigned.status_code == 403
    assert _problems("/ivr/voice/incoming", unsigned.headers, production=False) == []


def test_the_console_policy_allows_only_the_sites_own_script_and_nonced_styles(
    app: FastAPI, engine: Engine
) -> None:
    with write_session(engine) as session:
        factories.request(session)  # something open, so that the pendency page draws a chart
    console = signed_in(app, engine, Role.SUPERVISOR)
    first, second = console.get("/pendency"), console.get("/pendency")
    policy = _directives(first.headers["content-security-policy"])
    assert policy["default-src"] == "'self'" and policy["script-src"] == "'self'"
    assert policy["object-src"] == "'none'" and policy["form-action"] == "'self'"
    nonce = re.fullmatch(r"'self' 'nonce-([A-Za-z0-9_-]{20,})'", policy["style-src"])
    assert nonce is not None
    assert nonce.group(1) not in second.headers["content-security-policy"]  # fresh per answer
    # the charts' inline stylesheets carry this answer's nonce, and no script of pygal's is left
    styles = re.findall(r"<style[^>]*>", first.text)
    assert styles and all(f'nonce="{nonce.group(1)}"' in tag for tag in styles)
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", first.text) == []
    assert first.headers["referrer-policy"] == "strict-origin-when-cross-origin"


def test_the_agent_day_page_lets_nothing_in_but_its_own_stylesheet(app: FastAPI) -> None:
    page = TestClient(app).get("/a/1-300101-forged")  # a bare 404, drawn with the same style
    assert page.status_code == 404
    policy = _directives(page.headers["content-security-policy"])
    nonce = policy["style-src"].removeprefix("'nonce-").removesuffix("'")
    assert policy["default-src"] == "'none'" and "script-src" not in policy
    assert f'<style nonce="{nonce}">' in page.text
    assert page.headers["referrer-policy"] == "no-referrer"
    assert page.headers["cache-control"] == "no-store"


def test_the_api_answers_with_a_policy_that_loads_nothing(app: FastAPI) -> None:
    answer = TestClient(app).get("/api/v1/requests/JK-26-000001-1")
    assert answer.status_code == 401
    assert _directives(answer.headers["content-security-policy"])["default-src"] == "'none'"


def _templates() -> Iterator[tuple[Path, str]]:
    for path in sorted(TEMPLATES_DIR.rglob("*.html")):
        html = re.sub(r"\{#.*?#\}", "", path.read_text(encoding="utf-8"), flags=re.S)
        yield path.relative_to(TEMPLATES_DIR), html  # without Jinja's comments


def test_no_template_holds_what_the_policy_refuses() -> None:
    wrong = []
    for name, html in _templates():
        for tag in re.findall(r"<script\b[^>]*>", html):
            if "src=" not in tag and 'type="application/json"' not in tag:
                wrong.append(f"{name}: inline script {tag}")
        for tag in re.findall(r"<style\b[^>]*>", html):
            if "request.state.csp_nonce" not in tag:
                wrong.append(f"{name}: <style> without the nonce")
        wrong += [f"{name}: style attribute" for _ in re.findall(r"\sstyle=", html)]
        wrong += [f"{name}: inline handler {h}" for h in re.findall(r"\son[a-z]+=", html)]
        wrong += [f"{name}: hx-on (eval)" for _ in re.findall(r"\shx-on", html)]
        wrong += [
            f"{name}: trigger filter (eval) {t}" for t in re.findall(r'hx-trigger="[^"]*\[', html)
        ]
        wrong += [f"{name}: javascript: URL" for _ in re.findall(r"javascript:", html)]
    assert wrong == []
    assert len(list(_templates())) > 40


def test_the_console_has_htmx_without_eval() -> None:
    base = (TEMPLATES_DIR / "base.html").read_text(encoding="utf-8")
    assert '"allowEval": false' in base and '"includeIndicatorStyles": false' in base
