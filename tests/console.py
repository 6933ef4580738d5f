"""Signing in to the console in tests: a fresh account of a role, a `TestClient` holding its
session cookie, and forms posted with the CSRF token as a browser would."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx2 import Response
from sqlalchemy.engine import Engine

from dispatch.db import write_session
from dispatch.staff import service as staff_service
from dispatch.staff.models import StaffUser
from dispatch.staff.rules import Role

PASSWORD = "correct horse battery"


def make_user(engine: Engine, role: Role, *, state_code: str = "JK") -> StaffUser:
    with write_session(engine) as session:
        return staff_service.create(
            session=session,
            state_code=state_code,
            username=f"{role.value}_{uuid.uuid4().hex[:8]}",
            name=f"Test {role.label}",
            role=role,
            password=PASSWORD,
            actor="test",
        )


class Console(TestClient):
    """A browser at the console: cookies kept, the CSRF token added to every form."""

    user: StaffUser

    def csrf(self) -> str:
        if "csrftoken" not in self.cookies:
            self.get("/login")
        token: str = self.cookies["csrftoken"]
        return token

    def submit(self, url: str, data: dict[str, Any] | None = None, **kwargs: Any) -> Response:
        """POST a form as the page would (with its CSRF token)."""
        return self.post(url, data={**(data or {}), "csrftoken": self.csrf()}, **kwargs)

    def htmx(self, method: str, url: str, **kwargs: Any) -> Response:
        headers = {"HX-Request": "true", "x-csrftoken": self.csrf(), **kwargs.pop("headers", {})}
        return self.request(method, url, headers=headers, **kwargs)


def signed_in(app: FastAPI, engine: Engine, role: Role, *, state_code: str = "JK") -> Console:
    """A console signed in as a new account of `role` (redirects not followed)."""
    user = make_user(engine, role, state_code=state_code)
    client = Console(app, follow_redirects=False, headers={"accept": "text/html"})
    response = client.submit("/login", {"username": user.username, "password": PASSWORD})
    assert response.status_code == 303, response.text
    client.user = user
    return client
