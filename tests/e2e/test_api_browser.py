"""The channels' API in a real browser (Debian's Chromium, headless) and over real HTTP:

- an admin makes an API client on `/admin/api-clients` and sees its key once; another channel
  books a visit with that key through `/api/v1` (offers, then a request with an
  Idempotency-Key) and the request is on the citizen's record; the admin revokes the client
  after the confirmation, and the same key is refused at once;
- a supervisor is refused the page;
- the API's documentation page (`/api/v1/docs`, development only) draws every operation from
  the vendored Swagger UI, with nothing fetched from elsewhere.

Every page is checked for labelled controls and for fitting 1280 px and a phone's 390 px, and
photographed into `var/test-artifacts/api/` (or `$DOORSTEP_SCREENSHOTS`)."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.sync_api import Browser, expect
from sqlalchemy.engine import Engine

from dispatch.db import read_session
from dispatch.requests import service as request_service
from dispatch.requests.rules import Channel
from dispatch.staff.rules import Role
from tests import factories
from tests.api.conftest import make_client
from tests.conftest import unique_phone
from tests.console import make_user
from tests.e2e.browser import DESKTOP, PHONE, looked_at, open_page, sign_in

pytestmark = pytest.mark.browser

IST = ZoneInfo("Asia/Kolkata")
#: A Monday no other test books on, in a district of its own for this file.
NOW = dt.datetime(2039, 8, 8, 7, 30, tzinfo=IST)
DISTRICT = "RMB"
SCREENSHOTS = "api"


def _channel_books(url: str, key: str, village_id: int) -> str:
    """What a WhatsApp bot does with its key: windows for the citizen, then the request."""
    phone = unique_phone()
    citizen = {"phone": phone, "phone_verified": True, "language": "hi"}
    address = {"village_id": village_id, "landmark": "by the bridge"}
    with httpx.Client(base_url=f"{url}/api/v1", headers={"X-API-Key": key}) as api:
        offers = api.post(
            "/offers", json={"service": "INCOME_CERT", "citizen": citizen, "address": address}
        )
        assert offers.status_code == 200, offers.text
        chosen = offers.json()["windows"][0]["offer_id"]
        body = {
            "service": "INCOME_CERT",
            "citizen": {**citizen, "name": "Bilal Browser"},
            "address": address,
            "offer_id": chosen,
        }
        made = api.post("/requests", json=body, headers={"Idempotency-Key": str(uuid.uuid4())})
        assert made.status_code == 201, made.text
        reference: str = made.json()["reference"]
    return reference


def test_an_admin_makes_a_key_a_channel_books_with_it_and_the_admin_revokes_it(
    live_url: str, engine: Engine, browser: Browser, shots: Path
) -> None:
    admin = make_user(engine, Role.ADMIN)
    page = open_page(browser, DESKTOP)
    sign_in(page, live_url, admin)
    page.goto(f"{live_url}/admin/api-clients")
    looked_at(page, shots, "api-clients-list")

    # A wrong form comes back with the problem next to its field, what was typed kept.
    page.locator("#client-name").fill("bad/name")
    page.locator("#client-rate").fill("lots")
    page.locator("#create-client").click()
    expect(page.locator("#name-error")).to_be_visible()
    expect(page.locator("#rate-error")).to_be_visible()
    expect(page.locator("#client-name")).to_have_value("bad/name")
    looked_at(page, shots, "api-clients-invalid")

    name = f"whatsapp-bot-{uuid.uuid4().hex[:6]}"
    page.locator("#client-name").fill(name)
    page.locator("#client-rate").fill("120")
    page.locator("#create-client").click()
    key_field = page.locator("#api-key")
    expect(key_field).to_be_visible()
    expect(key_field).to_be_focused()  # selected, ready to copy
    key = key_field.input_value()
    assert key.startswith("dsk_")
    expect(page.locator("#copy-key")).to_be_visible()
    looked_at(page, shots, "api-clients-key-once")

    with read_session(engine) as session:
        village = factories.village_in(session, DISTRICT)
    assert village.id is not None
    reference = _channel_books(live_url, key, village.id)
    with read_session(engine) as session:
        request = request_service.get_by_reference(
            session=session, reference=reference, default_state="JK"
        )
        events = request_service.events(session=session, request_id=request.id or 0)
    assert request.channel is Channel.API and {e.actor for e in events} == {f"api:{name}"}

    portal = make_client(engine, rate=300)  # another channel, still in use
    page.goto(f"{live_url}/admin/api-clients")
    assert key not in page.content()  # shown once, never again
    row = page.locator("#api-clients tr", has_text=name)
    expect(row).not_to_contain_text("never")  # its last use is noted
    row.get_by_role("link", name="Revoke…").click()
    expect(page.locator("#revoke-title")).to_contain_text(name)
    looked_at(page, shots, "api-clients-revoke-confirm")
    page.locator("#confirm-revoke").click()
    expect(page.locator("#done")).to_contain_text(f"revoked {name}")
    expect(page.locator("#api-clients tr", has_text=name)).to_contain_text("revoked")
    expect(page.locator("#api-clients tr", has_text=portal.name)).to_contain_text("active")
    looked_at(page, shots, "api-clients-revoked")

    refused = httpx.get(f"{live_url}/api/v1/catalogue", headers={"X-API-Key": key})
    assert refused.status_code == 401
    assert refused.headers["content-type"] == "application/problem+json"

    narrow = open_page(browser, PHONE)
    sign_in(narrow, live_url, admin)
    narrow.goto(f"{live_url}/admin/api-clients")
    expect(narrow.locator("#api-clients")).to_contain_text(name)
    looked_at(narrow, shots, "api-clients-list")


def test_a_supervisor_is_refused_the_api_clients(
    live_url: str, engine: Engine, browser: Browser
) -> None:
    page = open_page(browser, DESKTOP)
    sign_in(page, live_url, make_user(engine, Role.SUPERVISOR))
    response = page.goto(f"{live_url}/admin/api-clients")
    assert response is not None and response.status == 403
    expect(page.locator("nav")).not_to_contain_text("API clients")


def test_the_docs_page_draws_every_operation_from_the_vendored_swagger_ui(
    live_url: str, browser: Browser, shots: Path
) -> None:
    page = open_page(browser, DESKTOP)
    outside: list[str] = []
    page.on(
        "request",
        lambda r: outside.append(r.url) if not r.url.startswith(live_url) else None,
    )
    page.goto(f"{live_url}/api/v1/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Doorstep channels API")
    operations = page.locator(".swagger-ui .opblock")
    expect(operations.first).to_be_visible()
    schema = httpx.get(f"{live_url}/api/v1/openapi.json").json()
    expected = sum(len(ops) for ops in schema["paths"].values())
    expect(operations).to_have_count(expected)
    expect(page.locator(".swagger-ui .btn.authorize")).to_be_visible()
    page.screenshot(path=str(shots / "api-docs-1280.png"), full_page=True)
    assert outside == []
