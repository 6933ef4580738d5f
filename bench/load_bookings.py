"""Console sessions and `/api/v1` clients booking into one zone-day at once, over HTTP to a
running server: no window booked beyond what the agents can make, no booking lost.

`run(base, engine, ...)` makes the call agents (console accounts) and API clients it needs in
the database, picks one district, a few of its villages and the most requested service, then
lets every session and client book `each` new citizens there at once, as fast as the server
answers, each taking the first window offered — so they all contend for the same windows of
the same zone-day. The console books as a browser without JavaScript does (`POST
/intake/windows`, then the page's own form with the first window to `POST /intake/book`); an
API client asks `POST /api/v1/offers` and books with `POST /api/v1/requests`. A window taken
meanwhile (the console's "just been taken", the API's 409 `window-taken`) is tried again with
fresh windows, up to `TRIES` times.

Afterwards the database must hold exactly the bookings answered OK (`Bookings.problems`):
each one a scheduled request of the district, none extra, none missing; the rest (audit,
charges, plans within what the agents can make) is `bench.load_integrity`'s.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import re
import statistics
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

import httpx
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from bench.common import percentile, table
from dispatch.catalogue import service as catalogue_service
from dispatch.channels import service as channel_service
from dispatch.db import read_session, write_session
from dispatch.geography import service as geography_service
from dispatch.requests.models import DoorstepRequest
from dispatch.requests.rules import PLANNED, Channel
from dispatch.staff import service as staff_service
from dispatch.staff.rules import Role

STATE = "JK"
PASSWORD = "load bench password 1447"
TRIES = 5
TIMEOUT_S = 30.0
TAKEN_CONSOLE = "That window has just been taken"
REFERENCE = re.compile(r'id="result-reference">([^<]+)<')


@dataclass(frozen=True)
class Target:
    """Where everyone books: one district, some of its villages, one service."""

    district_id: int
    places: list[tuple[int, int]]  # (block id, village id)
    service_id: int
    service_code: str
    service_name: str


@dataclass
class Bookings:
    sessions: int
    api_clients: int
    each: int
    asked: int = 0
    booked: list[tuple[str, str]] = field(default_factory=list)  # (channel, reference)
    taken: Counter[str] = field(default_factory=Counter)  # window taken, tried again
    failed: Counter[str] = field(default_factory=Counter)  # gave up: why
    latency_ms: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    windows: Counter[str] = field(default_factory=Counter)  # visits per window booked
    problems: list[str] = field(default_factory=list)
    wall_s: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return {
            "sessions": self.sessions,
            "api_clients": self.api_clients,
            "bookings_each": self.each,
            "asked": self.asked,
            "booked": len(self.booked),
            "booked_by_channel": dict(Counter(c for c, _ in self.booked)),
            "window_taken_tried_again": dict(self.taken),
            "failed": dict(self.failed),
            "wall_s": round(self.wall_s, 1),
            "latency_ms": {
                k: {
                    "n": len(v),
                    "p50": round(statistics.median(v), 1),
                    "p99": round(percentile(v, 99), 1),
                }
                for k, v in sorted(self.latency_ms.items())
            },
            "visits_per_window": dict(self.windows.most_common()),
            "problems": self.problems[:50],
            "ok": self.ok,
        }


class FormFields(HTMLParser):
    """The fields a browser would post from a page's form: inputs (radios and checkboxes only
    when checked), selected options, text areas; and every value offered for `offer`."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[str, str] = {}
        self.offers: list[str] = []
        self._select: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        name = a.get("name", "")
        if tag == "input" and name:
            kind = a.get("type", "text")
            if name == "offer" and a.get("value", "") != "later":
                self.offers.append(a.get("value", ""))
            if kind in {"radio", "checkbox"}:
                if "checked" in a:
                    self.fields[name] = a.get("value", "on")
            elif kind not in {"submit", "button"}:
                self.fields[name] = a.get("value", "")
        elif tag == "select":
            self._select = name
        elif tag == "option" and self._select and ("selected" in a):
            self.fields[self._select] = a.get("value", "")
        elif tag == "textarea" and name:
            self._textarea = name
            self.fields[name] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None

    def handle_data(self, data: str) -> None:
        if self._textarea:
            self.fields[self._textarea] += data


def form_of(html: str) -> FormFields:
    parser = FormFields()
    parser.feed(html)
    return parser


# --- setting up ---------------------------------------------------------------------------------


def target(engine: Engine, rng: random.Random) -> Target:
    """The district with the most agents' villages on the list first: its first villages."""
    with read_session(engine) as session:
        district = geography_service.districts(session=session, state_code=STATE)[0]
        assert district.id is not None
        places = []
        for block in geography_service.blocks(session=session, district_id=district.id):
            assert block.id is not None
            for village in geography_service.villages(session=session, block_id=block.id)[:2]:
                assert village.id is not None
                places.append((block.id, village.id))
        service = catalogue_service.most_requested(session=session, state_code=STATE, limit=1)[0]
        assert service.id is not None
    rng.shuffle(places)
    return Target(district.id, places[:6], service.id, service.code, service.name_en)


def call_agents(engine: Engine, count: int) -> list[str]:
    names = []
    with write_session(engine) as session:
        for _ in range(count):
            user = staff_service.create(
                session=session,
                state_code=STATE,
                username=f"load_{uuid.uuid4().hex[:10]}",
                name="Load call agent",
                role=Role.CALL_AGENT,
                password=PASSWORD,
                actor="bench.load",
            )
            names.append(user.username)
    return names


def api_keys(engine: Engine, count: int) -> list[str]:
    keys = []
    with write_session(engine) as session:
        for _ in range(count):
            made = channel_service.create(
                session=session,
                state_code=STATE,
                name=f"load-{uuid.uuid4().hex[:10]}",
                rate_per_minute=100_000,
                actor="bench.load",
            )
            keys.append(made.key)
    return keys


# --- booking ------------------------------------------------------------------------------------


class Booker:
    def __init__(self, base: str, where: Target, tally: Bookings, rng: random.Random) -> None:
        self.base, self.where, self.tally, self.rng = base, where, tally, rng

    def citizen(self) -> tuple[str, tuple[int, int]]:
        return f"98{self.rng.randrange(10**8):08d}", self.rng.choice(self.where.places)

    async def timed(
        self, client: httpx.AsyncClient, what: str, method: str, url: str, **kw: Any
    ) -> httpx.Response | None:
        started = time.perf_counter()
        try:
            response = await client.request(method, url, **kw)
        except httpx.HTTPError as exc:
            self.tally.failed[f"{what}: {type(exc).__name__}"] += 1
            return None
        self.tally.latency_ms[what].append((time.perf_counter() - started) * 1000)
        if response.status_code >= 500:
            self.tally.failed[f"{what}: HTTP {response.status_code}"] += 1
            return None
        return response

    async def console(self, username: str) -> None:
        async with httpx.AsyncClient(base_url=self.base, timeout=TIMEOUT_S) as client:
            await client.get("/login")
            csrf = client.cookies.get("csrftoken") or ""
            signed = await client.post(
                "/login", data={"username": username, "password": PASSWORD, "csrftoken": csrf}
            )
            if signed.status_code != 303:
                self.tally.failed[f"console sign-in: HTTP {signed.status_code}"] += self.tally.each
                return
            for _ in range(self.tally.each):
                await self._console_booking(client, csrf)

    async def _console_booking(self, client: httpx.AsyncClient, csrf: str) -> None:
        self.tally.asked += 1
        phone, (block_id, village_id) = self.citizen()
        form = {
            "key": uuid.uuid4().hex,
            "phone": phone,
            "name": "Load Test Citizen",
            "language": "hi",
            "service_q": self.where.service_name,
            "suggested_for": self.where.service_name,
            "service_id": str(self.where.service_id),
            "address": "new",
            "district_id": str(self.where.district_id),
            "block_id": str(block_id),
            "village_id": str(village_id),
            "landmark": "near the school",
            "csrftoken": csrf,
        }
        page = await self.timed(client, "console windows", "POST", "/intake/windows", data=form)
        for _try in range(TRIES):
            if page is None:
                return
            fields = form_of(page.text)
            if not fields.offers:  # fresh windows after a window taken come with a 409
                self.tally.failed[f"console: HTTP {page.status_code}, no window shown"] += 1
                return
            posted = {**fields.fields, "offer": fields.offers[0], "csrftoken": csrf}
            page = await self.timed(client, "console book", "POST", "/intake/book", data=posted)
            if page is None:
                return
            if found := REFERENCE.search(page.text):
                self.tally.booked.append((Channel.CONSOLE.value, found.group(1).strip()))
                return
            if TAKEN_CONSOLE not in page.text:
                self.tally.failed[f"console book: HTTP {page.status_code}"] += 1
                return
            self.tally.taken["console"] += 1
        self.tally.failed["console: window taken every try"] += 1

    async def api(self, key: str) -> None:
        headers = {"Authorization": f"Bearer {key}"}
        async with httpx.AsyncClient(
            base_url=self.base + "/api/v1", timeout=TIMEOUT_S, headers=headers
        ) as client:
            for _ in range(self.tally.each):
                await self._api_booking(client)

    async def _api_booking(self, client: httpx.AsyncClient) -> None:
        self.tally.asked += 1
        phone, (_block, village_id) = self.citizen()
        asked = {
            "service": self.where.service_code,
            "citizen": {"phone": f"+91{phone}", "language": "hi"},
            "address": {"village_id": village_id, "landmark": "near the school"},
        }
        for _try in range(TRIES):
            offers = await self.timed(client, "api offers", "POST", "/offers", json=asked)
            if offers is None:
                return
            windows = offers.json().get("windows", []) if offers.status_code == 200 else []
            if not windows:
                self.tally.failed[f"api offers: HTTP {offers.status_code}, no window"] += 1
                return
            body = {
                **asked,
                "citizen": {**asked["citizen"], "name": "Load Test Citizen"},  # type: ignore[dict-item]
                "offer_id": windows[0]["offer_id"],
            }
            made = await self.timed(
                client,
                "api requests",
                "POST",
                "/requests",
                json=body,
                headers={"Idempotency-Key": uuid.uuid4().hex},
            )
            if made is None:
                return
            if made.status_code == 201:
                self.tally.booked.append((Channel.API.value, made.json()["reference"]))
                return
            if made.status_code != 409 or "window-taken" not in made.text:
                self.tally.failed[f"api requests: HTTP {made.status_code}"] += 1
                return
            self.tally.taken["api"] += 1
        self.tally.failed["api: window taken every try"] += 1


async def _book_all(
    base: str, where: Target, tally: Bookings, users: list[str], keys: list[str], seed: int
) -> None:
    rng = random.Random(seed)
    jobs = [Booker(base, where, tally, random.Random(rng.random())).console(u) for u in users]
    jobs += [Booker(base, where, tally, random.Random(rng.random())).api(k) for k in keys]
    await asyncio.gather(*jobs)


def run(
    base: str, engine: Engine, *, sessions: int, api_clients: int, each: int, seed: int
) -> Bookings:
    rng = random.Random(seed)
    where = target(engine, rng)
    users = call_agents(engine, sessions)
    keys = api_keys(engine, api_clients)
    tally = Bookings(sessions, api_clients, each)
    since = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    started = time.perf_counter()
    asyncio.run(_book_all(base, where, tally, users, keys, seed))
    tally.wall_s = time.perf_counter() - started
    verify(engine, where, since, tally)
    return tally


def verify(engine: Engine, where: Target, since: dt.datetime, tally: Bookings) -> None:
    """Exactly the bookings answered OK are in the database, each planned with a window."""
    answered = Counter(ref for _, ref in tally.booked)
    tally.problems += [f"{ref} answered {n} times" for ref, n in answered.items() if n > 1]
    with read_session(engine) as session:
        made = list(
            session.exec(
                select(DoorstepRequest).where(
                    DoorstepRequest.logged_at >= since,
                    col(DoorstepRequest.channel).in_([Channel.CONSOLE, Channel.API]),
                )
            )
        )
    written = {r.reference: r for r in made}
    tally.problems += [
        f"{ref} answered OK but not written" for ref in answered if ref not in written
    ]
    tally.problems += [
        f"{ref} written ({written[ref].channel}) but never answered OK"
        for ref in written
        if ref not in answered
    ]
    for ref in answered:
        request = written.get(ref)
        if request is None:
            continue
        if request.status not in PLANNED or request.window_start is None:
            tally.problems.append(f"{ref} answered booked but {request.status}, no window")
            continue
        if request.district_id != where.district_id:
            tally.problems.append(f"{ref} booked in district {request.district_id}")
        tally.windows[f"{request.window_start:%Y-%m-%d %H:%M} UTC"] += 1


def report(tally: Bookings) -> str:
    lines = [
        f"{tally.sessions} console sessions and {tally.api_clients} API clients, {tally.each} "
        f"bookings each, at once into one district: {len(tally.booked)}/{tally.asked} booked "
        f"in {tally.wall_s:.1f} s; window taken and tried again: {dict(tally.taken) or 0}; "
        f"gave up: {dict(tally.failed) or 0}",
        table(
            ["request", "n", "p50 ms", "p99 ms"],
            [
                (k, len(v), statistics.median(v), percentile(v, 99))
                for k, v in sorted(tally.latency_ms.items())
            ],
        ),
        "visits per window booked: "
        + ", ".join(f"{w}: {n}" for w, n in sorted(tally.windows.items())),
        "answered OK = written, each planned: "
        + ("yes" if tally.ok else f"NO, {len(tally.problems)} problems: {tally.problems[:5]}"),
    ]
    return "\n".join(lines)
