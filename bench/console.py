"""Console booking time: a call agent books callers by keyboard on the intake page.

The issue's target: "a trained call agent books a caller in under a minute from an open
console". Sets up a fresh SQLite database under var/bench/ (migrated, seeded, and the demo of
`doorstep seed --demo`: demo citizens, a demo day, the `callagent` account), serves it with
`doorstep serve` in a separate process (scheduler off), signs in as `callagent` in headless
Chromium and books `--callers` callers one after the other, half of them known demo citizens
(`seed_data/jk/citizens.csv`, booked at their known address), half new callers registered with
a new address through the district, block and village pickers.

Every booking is made with the keyboard alone, as a trained agent works the page: from an open
intake page the phone number is typed, Tab moves between fields, the service's first letters
pick it, the pickers are chosen by typing an option's first letters (the browser's own
type-ahead on a closed <select>), Enter shows the windows, Enter confirms the first window
offered, Enter on "Next caller" opens a fresh page for the next caller. The script types
instantly, so per booking it measures:

- keystrokes (a capital letter counts twice: Shift and the key, as the KLM counts them) and
  pointer actions (none);
- HTTP round trips to /intake* (every request the page issues, one aborted by a newer one too);
- machine time: the wall time of the journey, from the first keystroke on the open page to the
  next caller's page ready (it includes htmx's 200-300 ms typing debounce, which a person's
  typing would mostly hide), and of that the time spent in those HTTP requests.

Console time is then *estimated* with the Keystroke-Level Model (Card, Moran & Newell 1980):
K per keystroke, M = 1.35 s per mental act (one per step: caller, service, address, window,
confirm), P = 1.1 s per pointing, plus the machine time. Conversation with the caller is not
included. Each booking is checked in the database (a console request with the visit code shown,
for the right caller, service and address); the run fails loudly if one did not land.

    .venv/bin/python -m bench.console [--callers 12]

Prints the figures and writes var/bench/console.json. A benchmark, not a test: target 60 s.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlsplit

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page, Request, sync_playwright
from sqlalchemy.engine import Engine
from sqlmodel import select

from bench.common import REPO_ROOT, percentile, table, wait_until_up, write_json
from dispatch import demo, migrate, seed
from dispatch.catalogue import service as catalogue_service
from dispatch.citizens import service as citizen_service
from dispatch.citizens.models import Address, Citizen
from dispatch.config import Settings
from dispatch.db import make_engine, read_session, write_session
from dispatch.geography import service as geography_service
from dispatch.requests.models import DoorstepRequest
from dispatch.requests.rules import Channel
from dispatch.staff import service as staff_service

STATE = "JK"
TARGET_S = 60.0
#: Keystroke-Level Model operators (Card, Moran & Newell 1980, Figure 1). K = 0.28 s is their
#: "average non-secretary typist" (40 wpm): slower than their "average skilled typist" (55 wpm,
#: 0.20 s), so the estimate errs on the long side.
K_S = 0.28
K_SKILLED_S = 0.20
M_S = 1.35
P_S = 1.10
#: One mental act per step of the booking.
STEPS = ("caller", "service", "address", "window", "confirm")
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
NEW_NAMES = (
    "Bilal Ahmad Dar",
    "Rubina Akhter",
    "Sanjay Kumar",
    "Mehraj Din Bhat",
    "Shabnam Jan",
    "Rakesh Sharma",
)
LANDMARKS = (
    "near the school",
    "behind the mosque",
    "opposite the post office",
    "near the bridge",
    "beside the dispensary",
    "near the bus stand",
)


@dataclass
class Pick:
    """A picker's choice and the letters that choose it with the browser's type-ahead."""

    id: int
    typed: str


@dataclass
class Caller:
    """One caller the agent books: known (an address id) or new (name, pickers, landmark)."""

    phone: str  # +91..., typed as its 10 digits
    service_id: int
    service_typed: str
    known_address_id: int | None = None
    name: str = ""
    district: Pick | None = None
    block: Pick | None = None
    village: Pick | None = None
    landmark: str = ""

    @property
    def known(self) -> bool:
        return self.known_address_id is not None


@dataclass
class Booking:
    kind: str
    keystrokes: int
    pointer_actions: int
    round_trips: int
    machine_s: float
    to_booked_s: float
    http_s: float
    reference: str
    window: str
    klm_s: float = 0.0


@dataclass
class Recorder:
    """Requests the page sends to /intake*, and how long they took."""

    sent: int = 0
    http_ms: float = 0.0

    def on_request(self, request: Request) -> None:
        if urlsplit(request.url).path.startswith("/intake"):
            self.sent += 1

    def on_finished(self, request: Request) -> None:
        if urlsplit(request.url).path.startswith("/intake"):
            self.http_ms += max(0.0, request.timing["responseEnd"])

    def reset(self) -> None:
        self.sent, self.http_ms = 0, 0.0


class Keys:
    """The agent's keyboard: every key sent is counted."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.count = 0

    def type(self, text: str) -> None:
        self.page.keyboard.type(text)
        self.count += len(text) + sum(ch.isupper() for ch in text)  # Shift for capitals

    def press(self, key: str) -> None:
        self.page.keyboard.press(key)
        self.count += 1

    def tab_to(self, selector: str) -> None:
        """Tab until the cursor is on `selector` (the page's own tab order)."""
        for _ in range(40):
            if self.page.evaluate(
                "s => !!document.activeElement && document.activeElement.matches(s)", selector
            ):
                return
            self.press("Tab")
        raise SystemExit(f"Tab never reached {selector}")


# --- the database -----------------------------------------------------------------------------


def prepare_database(path: Path, settings: Settings) -> Engine:
    """A fresh SQLite database, seeded, with `doorstep seed --demo`'s demo data and accounts."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    engine = make_engine(settings.database_url)
    migrate.upgrade(engine)
    with write_session(engine) as session:
        seed.load(session=session, seed_dir=settings.seed_dir, states=[STATE])
    with write_session(engine) as session:
        demo.add_demo_day(session=session, settings=settings, state_code=STATE)
    with write_session(engine) as session:
        staff_service.seed_demo(session=session, state_code=STATE)
    return engine


def _type_ahead(labels: list[str], target: int) -> str | None:
    """The fewest letters that make a closed <select>'s type-ahead land on option `target`
    (the first option, in order, whose text starts with them; letters only, and never one
    letter repeated, which the browser reads as "the next option with this letter")."""
    name = labels[target].lower()
    for n in range(1, len(name) + 1):
        typed = name[:n]
        if not typed.replace(" ", "").isalpha() or typed.endswith(" "):
            return None
        if n > 1 and len(set(typed)) == 1:
            continue
        first = next(i for i, label in enumerate(labels) if label.lower().startswith(typed))
        if first == target:
            return typed
    return None


def _service_typed(engine: Engine, service_id: int, name: str) -> str:
    """The shortest start of the service's name (3 letters at least) that the page's
    type-ahead puts first, as a trained agent learns them."""
    with read_session(engine) as session:
        for n in range(3, len(name) + 1):
            found = catalogue_service.suggest(session=session, state_code=STATE, text=name[:n])
            if found and found[0].service.id == service_id:
                return name[:n].lower()
    return name.lower()


def plan_callers(engine: Engine, count: int, rng: random.Random) -> list[Caller]:
    """Half known demo citizens, half new callers (alternating), each with a service."""
    with read_session(engine) as session:
        services = catalogue_service.most_requested(session=session, state_code=STATE, limit=6)
    typed = {s.id or 0: _service_typed(engine, s.id or 0, s.name_en) for s in services}
    with (REPO_ROOT / "seed_data" / "jk" / "citizens.csv").open(encoding="utf-8") as rows:
        demo_phones = [row["phone"] for row in csv.DictReader(rows)]
    known_count = count // 2
    known: list[Caller] = []
    new: list[Caller] = []
    with read_session(engine) as session:
        for phone in rng.sample(demo_phones, known_count):
            citizen = citizen_service.find_by_phone(session=session, state_code=STATE, phone=phone)
            assert citizen is not None and citizen.id is not None, phone
            address = citizen_service.last_address(session=session, citizen_id=citizen.id)
            assert address is not None and address.id is not None, phone
            service = services[len(known) % len(services)]
            known.append(Caller(phone, service.id or 0, typed[service.id or 0], address.id))
        districts = geography_service.districts(session=session, state_code=STATE)
        district_labels = [d.name for d in districts]
        while len(new) < count - known_count:
            d = rng.randrange(len(districts))
            blocks = geography_service.blocks(session=session, district_id=districts[d].id or 0)
            b = rng.randrange(len(blocks))
            villages = geography_service.villages(session=session, block_id=blocks[b].id or 0)
            v = rng.randrange(len(villages))
            letters = (
                _type_ahead(district_labels, d),
                _type_ahead([x.name for x in blocks], b),
                _type_ahead([x.name for x in villages], v),
            )
            if not all(letters):
                continue  # a name no letters reach alone (a repeat, a dot): pick another
            i = len(new)
            service = services[(i + 3) % len(services)]
            new.append(
                Caller(
                    phone=f"+9199{4470000 + i:08d}",
                    service_id=service.id or 0,
                    service_typed=typed[service.id or 0],
                    name=NEW_NAMES[i % len(NEW_NAMES)],
                    district=Pick(districts[d].id or 0, letters[0] or ""),
                    block=Pick(blocks[b].id or 0, letters[1] or ""),
                    village=Pick(villages[v].id or 0, letters[2] or ""),
                    landmark=LANDMARKS[i % len(LANDMARKS)],
                )
            )
    return [c for pair in zip(known, new, strict=False) for c in pair] + known[len(new) :]


# --- the server -------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def start_server(database_url: str, port: int, log: Path) -> subprocess.Popen[bytes]:
    """`doorstep serve` as a separate process, the scheduler off; its log to a file."""
    env = {
        **os.environ,
        "DOORSTEP_DATABASE_URL": database_url,
        "DOORSTEP_PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "DOORSTEP_SCHEDULER": "false",
    }
    command = [sys.executable, "-m", "web.cli", "serve", "--host", "127.0.0.1"]
    with log.open("wb") as out:
        return subprocess.Popen(
            [*command, "--port", str(port)], env=env, cwd=REPO_ROOT, stdout=out, stderr=out
        )


# --- the browser ------------------------------------------------------------------------------


#: True once htmx has no request in flight and has processed what it swapped in (it binds the
#: triggers of new content when the swap settles): a script types faster than anyone, and a key
#: sent before that would reach an element not yet listening.
QUIET = "!document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling')"


def until(page: Page, condition: str, arg: object = None) -> None:
    """Wait for `condition` (a JS expression of `arg`) and a quiet htmx, polled every frame:
    Playwright's `expect` retries at 100 ms and longer, which would count as machine time."""
    page.wait_for_function(f"arg => ({condition}) && {QUIET}", arg=arg, polling="raf")


def _value(selector: str, value: int) -> tuple[str, tuple[str, str]]:
    return "document.querySelector(arg[0])?.value === arg[1]", (selector, str(value))


FOCUSED = "!!document.activeElement && document.activeElement.matches(arg)"
CHECKED = "!!document.querySelector(arg)?.checked"
PRESENT = "!!document.querySelector(arg)"


def sign_in(page: Page, base: str) -> None:
    page.goto(f"{base}/login")
    page.keyboard.type("callagent")
    page.keyboard.press("Tab")
    page.keyboard.type(staff_service.DEMO_PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(lambda url: urlsplit(url).path == "/intake")
    until(page, FOCUSED, "#phone")


def _choose(page: Page, keys: Keys, selector: str, pick: Pick, then: str) -> None:
    """A picker by its first letters (the browser's type-ahead sends the change); waits for
    `then` (the next picker's option) to arrive."""
    keys.tab_to(selector)
    keys.type(pick.typed)
    until(page, *_value(selector, pick.id))
    if then:
        until(page, PRESENT, then)


def book(page: Page, caller: Caller, recorder: Recorder) -> tuple[Booking, str]:
    """One caller, from an open intake page to the next caller's open page; returns the
    booking's figures and the visit code shown."""
    keys = Keys(page)
    recorder.reset()
    started = time.perf_counter()
    # 1. Caller: the phone number; a new caller's name.
    keys.type(caller.phone.removeprefix("+91"))
    if caller.known:
        until(page, PRESENT, "#citizen .known")
    else:
        until(page, PRESENT, "#citizen .new-caller")
        keys.tab_to("#name")
        keys.type(caller.name)
    # 2. Service: its first letters; the best match is chosen.
    keys.tab_to("#service_q")
    keys.type(caller.service_typed)
    until(page, CHECKED, f"#services input[name=service_id][value='{caller.service_id}']")
    # 3. Address: the known one (chosen already when it is the last used), or a new one.
    if caller.known:
        known = f"#known-addresses input[value='{caller.known_address_id}']"
        if not page.locator(known).is_checked():
            keys.tab_to("#known-addresses input[name=address]")
            for _ in range(10):
                if page.locator(known).is_checked():
                    break
                keys.press("ArrowDown")
        until(page, CHECKED, known)
    else:
        assert caller.district and caller.block and caller.village
        block = f"#block_id option[value='{caller.block.id}']"
        village = f"#village_id option[value='{caller.village.id}']"
        _choose(page, keys, "#district_id", caller.district, then=block)
        _choose(page, keys, "#block_id", caller.block, then=village)
        _choose(page, keys, "#village_id", caller.village, then="")
        keys.tab_to("#landmark")
        keys.type(caller.landmark)
        until(page, CHECKED, "#address-new")
    # 4. Window: Enter shows them; the first is chosen and has the cursor.
    keys.press("Enter")
    until(page, FOCUSED, "#windows input[name=offer]:checked")
    # 5. Confirm: Enter again.
    keys.press("Enter")
    until(page, FOCUSED, "#next-caller")  # the result page; "Next caller" has the cursor
    to_booked = time.perf_counter() - started
    reference = page.locator("#result-reference").inner_text().strip()
    code = page.locator("#result-code").inner_text().strip()
    window = page.locator("#result-window").inner_text().strip()
    # Next caller: a fresh page, the cursor in the empty phone field.
    with page.expect_navigation():
        keys.press("Enter")
    until(page, FOCUSED + " && document.activeElement.value === ''", "#phone")
    machine = time.perf_counter() - started
    booking = Booking(
        kind="known" if caller.known else "new",
        keystrokes=keys.count,
        pointer_actions=0,
        round_trips=recorder.sent,
        machine_s=round(machine, 3),
        to_booked_s=round(to_booked, 3),
        http_s=round(recorder.http_ms / 1000, 3),
        reference=reference,
        window=window,
    )
    booking.klm_s = round(
        K_S * booking.keystrokes + M_S * len(STEPS) + P_S * booking.pointer_actions + machine, 2
    )
    return booking, code


def run_browser(base: str, callers: list[Caller], failure_shot: Path) -> list[tuple[Booking, str]]:
    """Sign in and book every caller in turn; a booking that gets stuck stops the run, with a
    screenshot of the page as it was."""
    if not Path(CHROMIUM).exists():
        raise SystemExit(f"no Chromium at {CHROMIUM}: `make browser` installs Debian's")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
            page.set_default_timeout(15_000)
            recorder = Recorder()
            page.on("request", recorder.on_request)
            page.on("requestfinished", recorder.on_finished)
            sign_in(page, base)
            results = []
            for number, caller in enumerate(callers, start=1):
                try:
                    results.append(book(page, caller, recorder))
                except PlaywrightError as exc:
                    page.screenshot(path=str(failure_shot), full_page=True)
                    kind = "known" if caller.known else "new"
                    raise SystemExit(
                        f"booking {number} ({kind} caller) got stuck; the page is in "
                        f"{failure_shot.relative_to(REPO_ROOT)}: {exc.message.splitlines()[0]}"
                    ) from exc
            return results
        finally:
            browser.close()


# --- the check --------------------------------------------------------------------------------


def landed(engine: Engine, caller: Caller, booking: Booking, code: str) -> list[str]:
    """What is wrong with the booking in the database (nothing when it landed)."""
    with read_session(engine) as session:
        request = session.exec(
            select(DoorstepRequest).where(DoorstepRequest.reference == booking.reference)
        ).first()
        if request is None:
            return [f"{booking.reference}: no such request"]
        citizen = session.get(Citizen, request.citizen_id)
        address = session.get(Address, request.address_id)
        problems = {
            "not from the console": request.channel is not Channel.CONSOLE,
            "no visit code, or not the one shown": not code or request.visit_code != code,
            "another caller": citizen is None or citizen.phone != caller.phone,
            "another service": request.service_id != caller.service_id,
            "no window": request.window_start is None,
            "another address": address is None
            or (
                address.id != caller.known_address_id
                if caller.known
                else (caller.village is None or address.village_id != caller.village.id)
            ),
        }
    return [f"{booking.reference}: {what}" for what, wrong in problems.items() if wrong]


# --- the report -------------------------------------------------------------------------------


def _summary(bookings: list[Booking]) -> dict[str, dict[str, float]]:
    def of(values: list[float]) -> dict[str, float]:
        return {"p50": round(percentile(values, 50), 3), "max": round(max(values), 3)}

    return {
        "keystrokes": of([b.keystrokes for b in bookings]),
        "pointer_actions": of([b.pointer_actions for b in bookings]),
        "round_trips": of([b.round_trips for b in bookings]),
        "machine_s": of([b.machine_s for b in bookings]),
        "http_s": of([b.http_s for b in bookings]),
        "estimated_console_s": of([b.klm_s for b in bookings]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--callers", type=int, default=12, help="callers to book, half known")
    parser.add_argument("--seed", type=int, default=1447, help="which callers and places")
    parser.add_argument(
        "--name", default="console", help="var/bench/<name>.json and <name>.db (tests)"
    )
    args = parser.parse_args()
    if args.callers < 2:
        parser.error("--callers: at least 2 (one known caller, one new)")
    out = REPO_ROOT / "var" / "bench"
    out.mkdir(parents=True, exist_ok=True)
    db = out / f"{args.name}.db"
    settings = Settings(database_url=f"sqlite:///{db}")
    engine = prepare_database(db, settings)
    callers = plan_callers(engine, args.callers, random.Random(args.seed))
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    server = start_server(settings.database_url, port, out / f"{args.name}-server.log")
    try:
        wait_until_up(base, server, "/login")
        started = time.perf_counter()
        results = run_browser(base, callers, out / f"{args.name}-stuck.png")
        wall = time.perf_counter() - started
    finally:
        server.terminate()
        server.wait(timeout=10)
    problems = [
        p for c, (b, code) in zip(callers, results, strict=True) for p in landed(engine, c, b, code)
    ]
    engine.dispose()
    if problems:
        raise SystemExit("bookings that did not land:\n  " + "\n  ".join(problems))
    bookings = [b for b, _code in results]
    groups = {
        "known": [b for b in bookings if b.kind == "known"],
        "new": [b for b in bookings if b.kind == "new"],
        "all": bookings,
    }
    summaries = {kind: _summary(group) for kind, group in groups.items()}
    metrics = list(summaries["all"])
    rows = [
        (metric, *(summaries[k][metric][q] for k in groups for q in ("p50", "max")))
        for metric in metrics
    ]
    headers = ["per booking", "known p50", "max", "new p50", "max", "all p50", "max"]
    print(
        f"Console booking by keyboard: {len(bookings)} callers ({len(groups['known'])} known, "
        f"{len(groups['new'])} new), SQLite, one `doorstep serve`, headless Chromium"
    )
    print(table(headers, rows))
    estimate = summaries["all"]["estimated_console_s"]
    verdict = "meets" if estimate["max"] < TARGET_S else "misses"
    print(
        f"Estimated console time (Keystroke-Level Model, Card, Moran & Newell 1980: K {K_S} s "
        f"a keystroke, an average non-secretary typist at 40 wpm; M {M_S} s for each of "
        f"{len(STEPS)} steps; P {P_S} s a pointing, none here; plus the machine time): "
        f"p50 {estimate['p50']:.1f} s, max {estimate['max']:.1f} s; "
        f"{verdict} the {TARGET_S:.0f} s target."
    )
    for kind in ("known", "new"):
        slowest = max(groups[kind], key=lambda b: b.klm_s)
        print(
            f"  slowest {kind} caller: {slowest.keystrokes} keystrokes x {K_S} s = "
            f"{slowest.keystrokes * K_S:.1f} s, {len(STEPS)} mental acts x {M_S} s = "
            f"{len(STEPS) * M_S:.2f} s, machine {slowest.machine_s:.1f} s "
            f"({slowest.round_trips} round trips): {slowest.klm_s:.1f} s"
        )
    print(
        "Conversation with the caller (asking, listening, spelling a name) is NOT included: "
        "this is the agent's console time alone."
    )
    print(f"{len(bookings)} bookings landed (console channel, visit code) in {wall:.1f} s")
    path = write_json(
        args.name,
        {
            "callers": len(bookings),
            "known": len(groups["known"]),
            "new": len(groups["new"]),
            "database": "sqlite",
            "target_s": TARGET_S,
            "klm": {
                "source": "Card, Moran & Newell (1980), The Keystroke-Level Model",
                "k_s": K_S,
                "k_note": "average non-secretary typist, 40 wpm (average skilled: 0.20 s)",
                "m_s": M_S,
                "m_per_booking": list(STEPS),
                "p_s": P_S,
            },
            "estimate_with_skilled_typist_s": {
                "max": round(max(b.klm_s - (K_S - K_SKILLED_S) * b.keystrokes for b in bookings), 2)
            },
            "conversation_included": False,
            "summary": summaries,
            "meets_target": verdict == "meets",
            "bookings": [asdict(b) for b in bookings],
            "wall_s": round(wall, 2),
        },
    )
    print(f"written to {path.relative_to(REPO_ROOT)}")


if __name__ == "__main__":
    main()
