"""The permission matrix: every route of the app is either public (listed in `web.auth.PUBLIC`,
or a webhook / signed link with its own proof) or names exactly one permission, and for every
such route and every role the server lets in exactly the roles that carry it; nobody without a
session gets anything but the way to the sign-in form."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from dispatch.config import Settings
from dispatch.staff.rules import Permission, Role, allows
from tests.console import Console, signed_in
from web.app import create_app
from web.auth import PUBLIC, PUBLIC_PREFIXES


def _permissions(dependant: Any) -> Iterator[Permission]:
    for dep in dependant.dependencies:
        if (found := getattr(dep.call, "permission", None)) is not None:
            yield found
        yield from _permissions(dep)


def _api_routes(routes: Iterable[Any]) -> Iterator[APIRoute]:
    """Every endpoint, through included routers (FastAPI keeps those as objects of their own;
    none of ours is included with a prefix)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif (router := getattr(route, "original_router", None)) is not None:
            yield from _api_routes(router.routes)


def _console_routes(app: FastAPI) -> list[tuple[str, str, Permission]]:
    out = []
    for route in _api_routes(app.routes):
        if route.path in PUBLIC or route.path.startswith(PUBLIC_PREFIXES):
            continue
        found = set(_permissions(route.dependant))
        assert len(found) == 1, f"{route.path} names {found or 'no'} permission"
        for method in sorted(route.methods):
            out.append(
                (
                    method,
                    route.path,
                    found.pop()
                    if len(found) == 1
                    else next(iter(set(_permissions(route.dependant)))),
                )
            )
    return out


def _url(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path)


def _app(settings: Settings, engine: Engine) -> FastAPI:
    return create_app(settings=settings, engine=engine)


def test_every_route_is_public_or_names_one_permission(settings: Settings, engine: Engine) -> None:
    routes = _console_routes(_app(settings, engine))
    paths = {path for _, path, _ in routes}
    assert {"/board", "/intake", "/callbacks", "/requests", "/admin/staff", "/outbox"} <= paths


def _call(client: TestClient, method: str, url: str) -> int:
    if method == "GET":
        return client.get(url).status_code
    token = client.cookies.get("csrftoken") or ""
    return client.request(method, url, data={"csrftoken": token}).status_code


def test_each_role_is_let_in_exactly_where_its_permissions_say(
    settings: Settings, engine: Engine
) -> None:
    app = _app(settings, engine)
    routes = _console_routes(app)
    consoles: dict[Role, Console] = {role: signed_in(app, engine, role) for role in Role}
    wrong = []
    for method, path, permission in routes:
        url = _url(path)
        for role, console in consoles.items():
            status = _call(console, method, url)
            let_in = status != 403
            if let_in != allows(role, permission):
                wrong.append(f"{method} {path} as {role.value}: {status}")
    assert wrong == []


def test_nobody_without_a_session_gets_past_the_sign_in(settings: Settings, engine: Engine) -> None:
    app = _app(settings, engine)
    browser = Console(app, follow_redirects=False, headers={"accept": "text/html"})
    browser.csrf()  # a browser that has the CSRF cookie, but no session
    wrong = []
    for method, path, _ in _console_routes(app):
        response = browser.get(_url(path)) if method == "GET" else browser.submit(_url(path))
        if response.status_code != 303 or not response.headers["location"].startswith("/login"):
            wrong.append(f"{method} {path}: {response.status_code}")
    assert wrong == []
