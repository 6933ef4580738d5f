"""Signing in to the console: the form, the cookie (HttpOnly, SameSite, Secure in production),
the way back to the page asked for, the lockout, CSRF on every form, signing out, and
production refusing to start while a demo account keeps its demo password."""

from __future__ import annotations

import uuid

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from dispatch.config import Settings, UnsafeSettings
from dispatch.db import write_session
from dispatch.staff import service as staff_service
from dispatch.staff.rules import Role
from tests.console import PASSWORD, Console, make_user, signed_in
from tests.web.test_production import SAFE
from web.app import create_app


def _browser(app: FastAPI) -> Console:
    return Console(app, follow_redirects=False, headers={"accept": "text/html"})


def test_the_form_is_a_labelled_page_with_a_csrf_field(app: FastAPI) -> None:
    response = _browser(app).get("/login")
    assert response.status_code == 200
    assert response.template.name == "signin/login.html"  # type: ignore[attr-defined]
    html = response.text
    assert '<label for="username">' in html and '<label for="password">' in html
    assert 'name="csrftoken"' in html


def test_board_without_a_session_goes_to_the_sign_in_form_and_back(
    app: FastAPI, engine: Engine
) -> None:
    browser = _browser(app)
    response = browser.get("/board?district=ANT")
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2Fboard%3Fdistrict%3DANT"
    user = make_user(engine, Role.DISPATCHER)
    response = browser.submit(
        "/login", {"username": user.username, "password": PASSWORD, "next": "/board?district=ANT"}
    )
    assert response.status_code == 303 and response.headers["location"] == "/board?district=ANT"
    cookie = response.headers["set-cookie"]
    assert "doorstep_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert "Secure" not in cookie  # development runs on http://127.0.0.1


def test_board_redirects_any_client_but_one_asking_for_json(app: FastAPI) -> None:
    plain = TestClient(app, follow_redirects=False)
    assert plain.get("/board").status_code == 303  # curl's Accept: */*
    assert plain.get("/board", headers={"accept": "application/json"}).status_code == 401


def test_after_sign_in_each_role_lands_on_its_own_page(app: FastAPI, engine: Engine) -> None:
    for role, home in [(Role.CALL_AGENT, "/intake"), (Role.ADMIN, "/admin/staff")]:
        user = make_user(engine, role)
        response = _browser(app).submit("/login", {"username": user.username, "password": PASSWORD})
        assert response.headers["location"] == home


def test_next_never_leaves_the_site(app: FastAPI, engine: Engine) -> None:
    user = make_user(engine, Role.CALL_AGENT)
    for evil in ["https://evil.example/", "//evil.example/x", "/\\evil.example"]:
        response = _browser(app).submit(
            "/login", {"username": user.username, "password": PASSWORD, "next": evil}
        )
        assert response.headers["location"] == "/intake"


def test_a_wrong_password_shows_the_form_again_with_the_username(
    app: FastAPI, engine: Engine
) -> None:
    user = make_user(engine, Role.CALL_AGENT)
    response = _browser(app).submit("/login", {"username": user.username, "password": "wrong one"})
    assert response.status_code == 401
    assert response.context["username"] == user.username  # type: ignore[attr-defined]
    assert "do not match" in response.text and "doorstep_session" not in response.cookies


def test_the_lockout_answers_429_even_to_the_right_password(
    app: FastAPI, engine: Engine, settings: Settings
) -> None:
    user = make_user(engine, Role.CALL_AGENT)
    browser = _browser(app)
    for _ in range(settings.staff_failures_allowed):
        browser.submit("/login", {"username": user.username, "password": "guess"})
    response = browser.submit("/login", {"username": user.username, "password": PASSWORD})
    assert response.status_code == 429 and "Too many wrong passwords" in response.text


def test_a_form_posted_without_its_csrf_token_is_refused(app: FastAPI, engine: Engine) -> None:
    console = signed_in(app, engine, Role.ADMIN)
    response = console.post(
        "/admin/staff",
        data={"username": "csrf_victim", "name": "X", "role": "admin", "password": "p" * 12},
    )
    assert response.status_code == 403
    forged = console.post(
        "/admin/staff",
        data={
            "username": "csrf_victim",
            "name": "X",
            "role": "admin",
            "password": "p" * 12,
            "csrftoken": "forged",
        },
    )
    assert forged.status_code == 403
    # the sign-in form too, even from a browser that has no cookie yet (login CSRF)
    bare = TestClient(app).post("/login", data={"username": "a", "password": "b"})
    assert bare.status_code == 403


def test_signing_out_ends_the_session_server_side(app: FastAPI, engine: Engine) -> None:
    console = signed_in(app, engine, Role.ADMIN)
    token = console.cookies["doorstep_session"]
    assert console.get("/admin/staff").status_code == 200
    assert console.submit("/logout").headers["location"] == "/login"
    replay = _browser(app)
    replay.cookies.set("doorstep_session", token)
    assert replay.get("/admin/staff").status_code == 303  # the old cookie opens nothing


def test_an_admin_creates_an_account_that_can_sign_in(app: FastAPI, engine: Engine) -> None:
    admin = signed_in(app, engine, Role.ADMIN)
    username = f"new_{admin.user.username[-8:]}"
    response = admin.submit(
        "/admin/staff",
        {"username": username, "name": "New Agent", "role": "call_agent", "password": PASSWORD},
    )
    assert response.status_code == 303
    page = admin.get("/admin/staff")
    assert page.template.name == "staff/index.html"  # type: ignore[attr-defined]
    assert username in [u.username for u in page.context["users"]]  # type: ignore[attr-defined]
    login = _browser(app).submit("/login", {"username": username, "password": PASSWORD})
    assert login.headers["location"] == "/intake"


def test_an_admin_cannot_switch_themself_off(app: FastAPI, engine: Engine) -> None:
    admin = signed_in(app, engine, Role.ADMIN)
    response = admin.submit(f"/admin/staff/{admin.user.id}", {"active": "off"})
    assert response.status_code == 422 and "yourself" in response.text


def test_production_sets_the_cookie_secure(engine: Engine) -> None:
    app = create_app(settings=Settings(**SAFE), engine=engine)
    user = make_user(engine, Role.SUPERVISOR)
    browser = Console(app, base_url="https://testserver", follow_redirects=False)
    response = browser.submit("/login", {"username": user.username, "password": PASSWORD})
    assert response.status_code == 303
    assert "Secure" in response.headers["set-cookie"]


def test_production_refuses_to_start_while_a_demo_password_is_left(
    tmp_path: object, engine: Engine
) -> None:
    from dispatch import migrate, seed
    from dispatch.config import REPO_ROOT
    from dispatch.db import make_engine

    fresh = make_engine(f"sqlite:///{tmp_path}/demo.db")
    migrate.upgrade(fresh)
    with write_session(fresh) as session:
        seed.load(session=session, seed_dir=REPO_ROOT / "seed_data", states=["JK"])
        staff_service.seed_demo(session=session, state_code="JK")
    app = create_app(settings=Settings(**SAFE), engine=fresh)
    with pytest.raises(UnsafeSettings, match="still have the demo password"), TestClient(app):
        pass
    with write_session(fresh) as session:
        for user in staff_service.list_all(session=session, state_code="JK"):
            assert user.id is not None
            staff_service.update(
                session=session, user_id=user.id, actor="test", password="from the vault!"
            )
    with TestClient(app) as client:
        assert client.get("/login").status_code == 200
    fresh.dispose()


def test_an_admin_of_one_state_cannot_touch_another_states_accounts(
    app: FastAPI, engine: Engine
) -> None:
    jk_user = make_user(engine, Role.CALL_AGENT, state_code="JK")
    pb_admin = signed_in(app, engine, Role.ADMIN, state_code="PB")
    response = pb_admin.submit(
        f"/admin/staff/{jk_user.id}", {"role": "admin", "password": "taken over!!"}
    )
    assert response.status_code == 404
    assert (
        _browser(app)
        .submit("/login", {"username": jk_user.username, "password": PASSWORD})
        .headers["location"]
        == "/intake"
    )  # unchanged


def test_an_admin_unlocks_a_locked_out_account(
    app: FastAPI, engine: Engine, settings: Settings
) -> None:
    user = make_user(engine, Role.DISPATCHER)
    for _ in range(settings.staff_failures_allowed):
        _browser(app).submit("/login", {"username": user.username, "password": "guess"})
    admin = signed_in(app, engine, Role.ADMIN)
    page = admin.get("/admin/staff")
    assert user.username in page.context["locked"]  # type: ignore[attr-defined]
    assert f'id="unlock-{user.id}"' in page.text
    assert admin.submit(f"/admin/staff/{user.id}", {"unlock": "1"}).status_code == 303
    login = _browser(app).submit("/login", {"username": user.username, "password": PASSWORD})
    assert login.status_code == 303


def test_polls_do_not_keep_an_unused_session_alive(app: FastAPI, engine: Engine) -> None:
    import datetime as dt

    from sqlmodel import select

    from dispatch.staff.models import StaffSession

    console = signed_in(app, engine, Role.CALL_AGENT)
    long_ago = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)

    def last_seen() -> dt.datetime:
        with write_session(engine) as session:
            row = session.exec(
                select(StaffSession).where(StaffSession.user_id == console.user.id)
            ).one()
            return row.last_seen_at

    def set_last_seen(when: dt.datetime) -> None:
        with write_session(engine) as session:
            row = session.exec(
                select(StaffSession).where(StaffSession.user_id == console.user.id)
            ).one()
            row.last_seen_at = when
            session.add(row)

    recent = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=30)
    set_last_seen(recent)
    assert console.htmx("GET", "/callbacks/count").status_code == 200
    assert last_seen() == recent  # the navigation's poll is not the person
    assert console.get("/callbacks").status_code == 200
    assert last_seen() > recent  # opening a page is
    set_last_seen(long_ago)
    assert console.get("/callbacks").status_code == 303  # idle too long: sign in again


def test_an_id_or_day_out_of_range_is_bad_input_not_a_crash(app: FastAPI, engine: Engine) -> None:
    admin = signed_in(app, engine, Role.ADMIN)
    assert admin.submit("/admin/staff/99999999999999999999", {"unlock": "1"}).status_code == 422
    assert admin.get("/requests/99999999999999999999").status_code in {404, 422}


def _from(app: FastAPI, address: str, *, https: bool = False) -> Console:
    """A browser at its own client address (the throttle counts per address)."""
    base = "https://testserver" if https else "http://testserver"
    return Console(
        app,
        base_url=base,
        follow_redirects=False,
        headers={"accept": "text/html"},
        client=(address, 50000),
    )


def _address() -> str:
    return f"198.51.100.{uuid.uuid4().int % 250 + 1}-{uuid.uuid4().hex[:6]}"


@pytest.fixture(params=["memory", "redis"])
def throttled(request: pytest.FixtureRequest, settings: Settings, engine: Engine) -> FastAPI:
    """The app with small throttles, counted in memory or in Redis (unique keys per test)."""
    url = "memory://" if request.param == "memory" else "redis://127.0.0.1:6379/0"
    small = settings.model_copy(
        update={
            "rate_limit_url": url,
            "sign_in_failures_per_address": 4,
            "sign_in_attempts_per_username": 6,
            "staff_failures_allowed": 100,  # the database's lockout out of the way
        }
    )
    return create_app(settings=small, engine=engine)


def test_failed_sign_ins_from_one_address_are_throttled_whatever_the_username(
    throttled: FastAPI, engine: Engine
) -> None:
    address = _address()
    guesser = _from(throttled, address)
    for n in range(4):  # each at another username, none of them near its own lockout
        answer = guesser.submit("/login", {"username": f"nobody{n}", "password": "guess"})
        assert answer.status_code == 401
    user = make_user(engine, Role.CALL_AGENT)
    refused = guesser.submit("/login", {"username": user.username, "password": PASSWORD})
    assert refused.status_code == 429 and "Too many sign-in attempts" in refused.text
    assert 0 < int(refused.headers["retry-after"]) <= 15 * 60
    assert "doorstep_session" not in refused.cookies
    # another address is not held up, and the guesser's count is kept across its browsers
    assert (
        _from(throttled, _address())
        .submit("/login", {"username": user.username, "password": PASSWORD})
        .headers["location"]
        == "/intake"
    )
    again = _from(throttled, address).submit("/login", {"username": "x", "password": "y"})
    assert again.status_code == 429


def test_successful_sign_ins_from_one_address_are_not_counted_against_it(
    throttled: FastAPI, engine: Engine
) -> None:
    """An office behind one address: its people signing in do not throttle each other."""
    address = _address()
    for _ in range(6):
        user = make_user(engine, Role.CALL_AGENT)
        answer = _from(throttled, address).submit(
            "/login", {"username": user.username, "password": PASSWORD}
        )
        assert answer.status_code == 303


def test_attempts_at_one_username_are_throttled_from_any_address(
    throttled: FastAPI, engine: Engine
) -> None:
    user = make_user(engine, Role.CALL_AGENT)
    for _ in range(6):  # from six addresses: no address reaches its own limit
        answer = _from(throttled, _address()).submit(
            "/login", {"username": user.username.upper(), "password": "guess"}
        )
        assert answer.status_code == 401
    right = _from(throttled, _address()).submit(
        "/login", {"username": user.username, "password": PASSWORD}
    )
    assert right.status_code == 429 and "doorstep_session" not in right.cookies


def test_the_throttle_lets_sign_in_through_when_its_storage_is_down(
    settings: Settings, engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    """Redis unreachable: sign-in goes on (the database's lockout still holds), with a warning."""
    down = settings.model_copy(update={"rate_limit_url": "redis://127.0.0.1:1/0"})
    app = create_app(settings=down, engine=engine)
    user = make_user(engine, Role.CALL_AGENT)
    answer = _from(app, _address()).submit(
        "/login", {"username": user.username, "password": PASSWORD}
    )
    assert answer.status_code == 303
    assert "sign-in throttle not counted" in caplog.text


def test_cookie_flags_in_development_and_production(settings: Settings, engine: Engine) -> None:
    """The session cookie: HttpOnly, SameSite=Lax, Secure in production; the CSRF cookie:
    SameSite=Lax, Secure in production (readable by the page: the double-submit check)."""
    for production, app in [
        (False, create_app(settings=settings, engine=engine)),
        (True, create_app(settings=Settings(**SAFE), engine=engine)),
    ]:
        browser = _from(app, _address(), https=production)
        form = browser.get("/login")
        csrf_cookie = form.headers["set-cookie"]
        assert csrf_cookie.startswith("csrftoken=")
        assert "SameSite=Lax" in csrf_cookie and "Path=/" in csrf_cookie
        assert ("Secure" in csrf_cookie) is production
        user = make_user(engine, Role.CALL_AGENT)
        signed = browser.submit("/login", {"username": user.username, "password": PASSWORD})
        session_cookie = signed.headers["set-cookie"]
        assert session_cookie.startswith("doorstep_session=")
        parts = {part.strip().split("=")[0].lower() for part in session_cookie.split(";")}
        assert {"httponly", "samesite", "path", "max-age"} <= parts
        assert "samesite=lax" in session_cookie.lower()
        assert ("secure" in parts) is production
        assert f"Max-Age={settings.staff_session_hours * 3600}" in session_cookie
        out = browser.submit("/logout")
        assert (
            'doorstep_session=""' in out.headers["set-cookie"]
            or "Max-Age=0" in (out.headers["set-cookie"])
        )
