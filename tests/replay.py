"""The replay harness: records every POST a scenario sends to the app, then sends each again
1-3 times (in order, shuffled, or after the clock moved on a day) exactly as it was first sent
(same body, same headers: the Twilio signature, the session cookie and CSRF token, the API key
and Idempotency-Key), and says what the replays changed in the database.

A retried webhook or a form posted twice must change nothing: no second request, charge, SMS or
audit entry, and no row put back the way it was before a later change. `snapshot` reads the
tables whose rows are the product's effects (not the seed's geography, not the bookkeeping of
sessions and scheduled tasks), leaving out the columns that only say when something was last
seen; `changes` lists the difference between two snapshots row by row.

`post_routes` reads every POST route of an app (the channels' API under its mount too), so a
test can fail when a new one appears that no scenario records.

`assert_replays_change_nothing` is every scenario's ending: the routes it recorded checked, each
POST sent again as `schedule` says, and no row changed. `waiting_callback` and `ok` are the
scenarios' shared set-up; `api_routes` and `row_counts` serve the tests that walk every route
and check that a refused request wrote no row.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import re
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel
from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import dispatch.tables  # noqa: F401  (every table on the metadata)
from dispatch.calls.models import Callback, CallbackReason
from dispatch.db import write_session
from tests import factories
from tests.ivr.conftest import FixedClock

#: Tables not read: the seed's geography and calendar (never written by a request), and the
#: bookkeeping of sign-in sessions, scheduled tasks and the scheduler's lease.
NOT_READ = {
    "state",
    "district",
    "block",
    "village",
    "holiday",
    "staff_session",
    "task_run",
    "scheduler_lease",
}
#: Columns that say when a row was last seen or used, not what it holds.
VOLATILE = {
    ("api_client", "last_used_at"),
    ("address", "last_used_at"),
    ("zone_plan", "updated_at"),
    ("zone_plan", "pending_since"),
}


class Mode(StrEnum):
    """How the replays are sent: each right after its first sending's turn in the scenario
    (in order), all shuffled, or shuffled after the clock moved on a day."""

    IN_ORDER = "in-order"
    SHUFFLED = "shuffled"
    DAY_LATER = "day-later"


@dataclass(frozen=True)
class Post:
    """One POST as the app received it, and the route template that answered it."""

    route: str
    path: str
    query: bytes
    headers: list[tuple[bytes, bytes]]
    body: bytes
    status: int

    def replay(self, client: TestClient) -> int:
        url = self.path + (("?" + self.query.decode()) if self.query else "")
        headers = [
            (k.decode("latin-1"), v.decode("latin-1"))
            for k, v in self.headers
            if k.lower() not in {b"host", b"content-length"}
        ]
        response = client.post(url, content=self.body, headers=headers)
        return response.status_code


@dataclass
class Recorder:
    """ASGI middleware (outermost) keeping every POST while `recording`."""

    app: ASGIApp
    templates: set[str] = field(default_factory=set)
    posts: list[Post] = field(default_factory=list)
    recording: bool = True

    def route_of(self, path: str) -> str:
        """The route template `path` matches (a literal segment before a parameter's)."""
        for template in sorted(self.templates, key=lambda t: (t.count("{"), t)):
            pattern = re.sub(r"\\{[^}]+\\}", "[^/]+", re.escape(template))
            if re.fullmatch(pattern, path):
                return template
        return path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or not self.recording:
            await self.app(scope, receive, send)
            return
        messages: list[Message] = []
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request" or not message.get("more_body"):
                break
        body = b"".join(m.get("body", b"") for m in messages)
        pending = iter(messages)

        async def again() -> Message:
            return next(pending, None) or await receive()

        status = [0]

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        path = scope["path"]
        await self.app(scope, again, sending)
        self.posts.append(
            Post(
                route=self.route_of(path),
                path=path,
                query=scope.get("query_string", b""),
                headers=list(scope["headers"]),
                body=body,
                status=status[0],
            )
        )


def record(app: FastAPI) -> Recorder:
    """Wrap `app` (not yet started) so that every POST it receives is kept."""
    holder: list[Recorder] = []

    def factory(inner: ASGIApp) -> Recorder:
        recorder = Recorder(inner, post_routes(app))
        holder.append(recorder)
        return recorder

    app.add_middleware(_Wrapped, make=factory)
    TestClient(app).get("/login")  # builds the middleware stack
    return holder[0]


class _Wrapped:
    def __init__(self, app: ASGIApp, make: Callable[[ASGIApp], Recorder]) -> None:
        self.inner = make(app)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.inner(scope, receive, send)


def schedule(posts: list[Post], rng: random.Random, mode: Mode) -> list[Post]:
    """Each post 1-3 times: after its own turn in the scenario's order (IN_ORDER), or all of
    them shuffled."""
    copies = [(n, post) for n, post in enumerate(posts) for _ in range(rng.randint(1, 3))]
    if mode is Mode.IN_ORDER:
        return [post for _, post in copies]
    rng.shuffle(copies)
    return [post for _, post in copies]


def _rows(engine: Engine, name: str) -> set[tuple[Any, ...]]:
    table = SQLModel.metadata.tables[name]
    columns = [c for c in table.columns if (name, c.name) not in VOLATILE]
    with engine.connect() as conn:
        return {tuple(map(_hashable, row)) for row in conn.execute(sa.select(*columns))}


def _hashable(value: Any) -> Any:
    return json.dumps(value, sort_keys=True) if isinstance(value, list | dict) else value


Snapshot = dict[str, set[tuple[Any, ...]]]


def snapshot(engine: Engine) -> Snapshot:
    return {
        name: _rows(engine, name)
        for name in sorted(SQLModel.metadata.tables)
        if name not in NOT_READ
    }


def changes(before: Snapshot, after: Snapshot) -> list[str]:
    """Every row a replay added, removed or changed, one line each."""
    out = []
    for name in sorted(before):
        for row in sorted(after[name] - before[name], key=repr):
            out.append(f"{name} +{row}")
        for row in sorted(before[name] - after[name], key=repr):
            out.append(f"{name} -{row}")
    return out


def post_routes(app: FastAPI) -> set[str]:
    """Every POST route of `app`, mounted applications' with their mount path."""

    def walk(routes: Iterable[Any], prefix: str) -> Iterator[str]:
        for route in routes:
            if (router := getattr(route, "original_router", None)) is not None:
                yield from walk(router.routes, prefix)
            elif isinstance(route, Mount):
                yield from walk(getattr(route.app, "routes", []), prefix + route.path)
            elif "POST" in (getattr(route, "methods", None) or set()):
                yield prefix + route.path

    return set(walk(app.routes, ""))


def api_routes(routes: Iterable[Any]) -> Iterator[APIRoute]:
    """Every API route of `routes`, included routers' too (mounted applications' not)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif (router := getattr(route, "original_router", None)) is not None:
            yield from api_routes(router.routes)


def row_counts(engine: Engine) -> dict[str, int]:
    """Every table's row count, bookkeeping included: a refused request must not change it."""
    with engine.connect() as conn:
        return {
            name: conn.execute(sa.text(f'SELECT count(*) FROM "{name}"')).scalar_one()
            for name in sa.inspect(conn).get_table_names()
        }


#: The console's sign-in: recorded before a scenario's forms, never replayed (each sign-in opens
#: a session of its own, by design; tests/web/test_replay_routes.py says so).
SIGN_IN = "/login"


def assert_replays_change_nothing(
    app: FastAPI,
    engine: Engine,
    clock: FixedClock,
    recorder: Recorder,
    *,
    covered: set[str],
    mode: Mode,
    seed: int,
) -> None:
    """Stop recording; check the scenario sent a POST to each route of `covered` and to no
    other (a sign-in aside); send each POST again 1-3 times as `schedule` says (after moving
    `clock` on a day for `Mode.DAY_LATER`): no answer is a 5xx and no row changed."""
    recorder.recording = False
    assert {p.route for p in recorder.posts} - {SIGN_IN} == covered
    posts = [p for p in recorder.posts if p.route != SIGN_IN]
    before = snapshot(engine)
    if mode is Mode.DAY_LATER:
        clock.at += dt.timedelta(days=1)
    client = TestClient(app, follow_redirects=False)
    replays = schedule(posts, random.Random(seed), mode)
    answered = [(post.route, post.replay(client)) for post in replays]
    assert [a for a in answered if a[1] >= 500] == []
    changed = changes(before, snapshot(engine))
    assert not changed, "\n".join(changed)


def ok(response: Any) -> Any:
    """`response`, which must be a page (200) or a redirect after a form (303)."""
    assert response.status_code in (200, 303), response.text
    return response


def waiting_callback(engine: Engine, *, district_code: str) -> int:
    """A new citizen of the district waiting for a call-back (no window was free): its id."""
    with write_session(engine) as session:
        person = factories.citizen(session, district_code=district_code)
        callback = Callback(
            state_code="JK",
            call_sid=f"CA{uuid.uuid4().hex}",
            phone=person.phone,
            citizen_id=person.id,
            language="hi",
            reason=CallbackReason.NO_WINDOW,
        )
        session.add(callback)
        session.flush()
        assert callback.id is not None
        return callback.id
