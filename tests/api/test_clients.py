"""API clients: the key's lifecycle in the domain (made and shown once, only its hash kept,
checked, revoked, its last use noted), the pure rules behind it (keys, signed offers), the
admins' page `/admin/api-clients` (list, create with the key shown once, revoke after a
confirmation, each audited; supervisors refused) and `doorstep api-client`."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from dispatch.audit import service as audit
from dispatch.channels import rules
from dispatch.channels import service as channel_service
from dispatch.channels.models import ApiClient
from dispatch.channels.service import KeyRefused
from dispatch.db import read_session, write_session
from dispatch.errors import InvalidInput
from dispatch.staff.rules import Role
from tests.api.conftest import make_client
from tests.console import Console, signed_in
from web import cli

SECRET = "a test secret"


def _name() -> str:
    return f"channel-{uuid.uuid4().hex[:8]}"


# --- the pure rules ---------------------------------------------------------------------------


def test_a_new_key_is_well_formed_random_and_found_by_its_prefix() -> None:
    keys = {rules.new_key() for _ in range(50)}
    assert len(keys) == 50
    for key in keys:
        assert rules.well_formed(key) and key.startswith("dsk_")
        assert len(rules.prefix_of(key)) == rules.SHOWN == 12
        assert re.fullmatch(r"[0-9a-f]{64}", rules.digest(key))
        assert rules.key_matches(rules.digest(key), key)
        assert not rules.key_matches(rules.digest(key), key[:-1] + ("A" if key[-1] != "A" else "B"))
    assert len({rules.prefix_of(k) for k in keys}) == 50


def test_last_use_is_written_at_most_once_a_minute() -> None:
    now = dt.datetime(2039, 8, 1, 2, 0, tzinfo=dt.UTC)
    assert rules.touch_due(None, now)
    assert not rules.touch_due(now - dt.timedelta(seconds=59), now)
    assert rules.touch_due(now - dt.timedelta(seconds=60), now)


@given(
    st.dictionaries(
        st.text(min_size=1, max_size=12),
        st.one_of(st.integers(), st.text(max_size=20), st.none()),
        max_size=6,
    )
)
def test_a_sealed_offer_opens_to_itself_and_only_with_its_secret(offer: dict[str, Any]) -> None:
    sealed = rules.seal_offer(offer, SECRET)
    assert rules.open_offer(sealed, SECRET) == offer
    with pytest.raises(InvalidInput):
        rules.open_offer(sealed, "another secret")


@given(st.text(max_size=200))
def test_anything_else_is_not_an_offer(text: str) -> None:
    """Random text, and a sealed offer with one character changed, are refused, never a crash."""
    sealed = rules.seal_offer({"district_id": 1, "start": "2039-08-01T03:30:00+00:00"}, SECRET)
    for candidate in (text, sealed[:-1] + ("A" if sealed[-1] != "A" else "B")):
        with pytest.raises(InvalidInput):
            rules.open_offer(candidate, SECRET)


@pytest.mark.parametrize("name", ["", "x", " -leading", "has/slash", "a" * 61, "emoji 🙂"])
def test_a_client_name_must_be_plain(name: str) -> None:
    with pytest.raises(InvalidInput):
        rules.client_name(name)


def test_idempotency_keys_are_namespaced_by_client() -> None:
    assert rules.command_key(7, "6f1c2a1e-3c4b") == "api:7:6f1c2a1e-3c4b"
    assert rules.command_key(7, "k" * 8) != rules.command_key(8, "k" * 8)
    for bad in ("short", "has space in it", "k" * 65, "per%cent-key"):
        with pytest.raises(InvalidInput):
            rules.command_key(7, bad)


# --- the domain -------------------------------------------------------------------------------


def test_a_client_keeps_the_hash_of_its_key_never_the_key(session: Session) -> None:
    made = channel_service.create(
        session=session, state_code="JK", name=_name(), rate_per_minute=30, actor="staff:admin"
    )
    row = session.get(ApiClient, made.client.id)
    assert row is not None
    assert row.key_prefix == made.key[:12] and row.key_hash == rules.digest(made.key)
    stored = " ".join(str(v) for v in row.model_dump().values())
    assert made.key not in stored and made.key[12:] not in stored
    caller = channel_service.authenticate(session=session, key=made.key)
    assert (caller.id, caller.state_code, caller.rate_per_minute) == (row.id, "JK", 30)
    assert caller.actor == f"api:{row.name}"
    [entry] = audit.history(session=session, entity="api_client", entity_id=row.id)
    assert entry.action == "create" and entry.actor == "staff:admin"
    assert made.key not in str(entry.detail)


@pytest.mark.parametrize(
    "given_key", [None, "", "dsk_nothing", "Bearer whatever", "dsk_AAAAAAAA_" + "x" * 43]
)
def test_a_key_that_is_not_one_is_refused(session: Session, given_key: str | None) -> None:
    with pytest.raises(KeyRefused):
        channel_service.authenticate(session=session, key=given_key)


def test_a_key_with_its_prefix_but_another_secret_is_refused(session: Session) -> None:
    made = channel_service.create(session=session, state_code="JK", name=_name(), actor="test")
    forged = rules.prefix_of(made.key) + "_" + "A" * 43
    with pytest.raises(KeyRefused, match="not valid"):
        channel_service.authenticate(session=session, key=forged)


def test_a_revoked_key_is_refused_for_good_and_audited(session: Session) -> None:
    made = channel_service.create(session=session, state_code="JK", name=_name(), actor="test")
    assert made.client.id is not None
    channel_service.revoke(session=session, client_id=made.client.id, actor="staff:admin")
    channel_service.revoke(session=session, client_id=made.client.id, actor="staff:other")
    with pytest.raises(KeyRefused, match="revoked"):
        channel_service.authenticate(session=session, key=made.key)
    entries = audit.history(session=session, entity="api_client", entity_id=made.client.id)
    assert [e.action for e in entries] == ["create", "revoke"]  # the second changed nothing
    assert entries[1].detail["before"] == {"revoked_at": None}
    assert entries[1].detail["after"]["revoked_at"]
    assert made.client.revoked_by == "staff:admin"


def test_names_are_unique_whatever_their_case(session: Session) -> None:
    name = _name()
    channel_service.create(session=session, state_code="JK", name=name, actor="test")
    with pytest.raises(InvalidInput, match="exists"):
        channel_service.create(session=session, state_code="JK", name=name.upper(), actor="test")
    with pytest.raises(InvalidInput):
        channel_service.create(
            session=session, state_code="JK", name=_name(), rate_per_minute=0, actor="test"
        )


def test_last_use_is_noted_once_a_minute(session: Session) -> None:
    made = channel_service.create(session=session, state_code="JK", name=_name(), actor="test")
    assert made.client.id is not None
    now = dt.datetime(2039, 8, 1, 2, 0, tzinfo=dt.UTC)
    assert channel_service.touch(session=session, client_id=made.client.id, now=now)
    soon = now + dt.timedelta(seconds=30)
    assert not channel_service.touch(session=session, client_id=made.client.id, now=soon)
    later = now + dt.timedelta(minutes=1)
    assert channel_service.touch(session=session, client_id=made.client.id, now=later)
    session.expire_all()
    assert channel_service.get(session=session, client_id=made.client.id).last_used_at == later


# --- the admins' page -------------------------------------------------------------------------


@pytest.fixture
def admin(app: FastAPI, engine: Engine) -> Console:
    return signed_in(app, engine, Role.ADMIN)


def _template(response: Response) -> str:
    name: str = response.template.name  # type: ignore[attr-defined]
    return name


def _context(response: Response) -> Any:
    return response.context  # type: ignore[attr-defined]


def test_the_page_lists_this_states_clients(admin: Console, engine: Engine) -> None:
    ours = make_client(engine)
    theirs = make_client(engine, state_code="PB")
    response = admin.get("/admin/api-clients")
    assert response.status_code == 200
    assert _template(response) == "api_clients/index.html"
    ids = {c.id for c in _context(response)["clients"]}
    assert ours.client_id in ids and theirs.client_id not in ids
    assert ours.name in response.text and ours.key[:12] in response.text
    assert ours.key not in response.text
    assert response.headers["Cache-Control"] == "no-store"


def test_a_new_client_shows_its_key_once(admin: Console, app: FastAPI, engine: Engine) -> None:
    name = _name()
    made = admin.submit("/admin/api-clients", {"name": name, "rate_per_minute": "120"})
    assert made.status_code == 200
    key = _context(made)["made"].key
    assert rules.well_formed(key) and made.text.count(key) == 1
    assert "shown only this once" in made.text
    assert made.headers["Cache-Control"] == "no-store"
    with read_session(engine) as session:
        row = session.exec(select(ApiClient).where(ApiClient.name == name)).one()
        entries = audit.history(session=session, entity="api_client", entity_id=row.id)
    assert row.rate_per_minute == 120 and row.state_code == "JK"
    assert row.created_by == f"staff:{admin.user.username}"
    assert [e.action for e in entries] == ["create"]
    assert key not in admin.get("/admin/api-clients").text  # never again
    channel = TestClient(app, headers={"Authorization": f"Bearer {key}"})
    assert channel.get("/api/v1/catalogue").status_code == 200


def test_the_form_posted_twice_makes_one_client_and_says_why(
    admin: Console, engine: Engine
) -> None:
    name = _name()
    form = {"name": name, "rate_per_minute": "60"}
    assert admin.submit("/admin/api-clients", form).status_code == 200
    again = admin.submit("/admin/api-clients", form)
    assert again.status_code == 422
    assert "shown once" in _context(again)["errors"]["name"]
    assert _context(again)["made"] is None
    with read_session(engine) as session:
        assert len(session.exec(select(ApiClient).where(ApiClient.name == name)).all()) == 1


def test_a_wrong_form_is_shown_again_with_each_problem_by_its_field(admin: Console) -> None:
    typed = {"name": "bad/name", "rate_per_minute": "lots"}
    response = admin.submit("/admin/api-clients", typed)
    assert response.status_code == 422
    errors = _context(response)["errors"]
    assert set(errors) == {"name", "rate_per_minute"}
    assert _context(response)["form"] == typed
    assert 'value="bad/name"' in response.text and 'id="name-error"' in response.text
    assert 'aria-describedby="rate-error"' in response.text
    too_fast = admin.submit("/admin/api-clients", {"name": _name(), "rate_per_minute": "0"})
    assert too_fast.status_code == 422
    assert "between 1 and 100,000" in _context(too_fast)["errors"]["rate_per_minute"]


def test_revoking_asks_first_then_refuses_the_key(
    admin: Console, app: FastAPI, engine: Engine
) -> None:
    client = make_client(engine)
    confirm = admin.get(f"/admin/api-clients/{client.client_id}/revoke")
    assert confirm.status_code == 200 and _template(confirm) == "api_clients/revoke.html"
    assert "cannot be undone" in confirm.text
    done = admin.submit(f"/admin/api-clients/{client.client_id}/revoke")
    assert done.status_code == 303
    assert done.headers["location"].startswith("/admin/api-clients?done=revoked")
    again = admin.submit(f"/admin/api-clients/{client.client_id}/revoke")
    assert again.status_code == 303
    with read_session(engine) as session:
        row = channel_service.get(session=session, client_id=client.client_id)
        actions = [
            e.action for e in audit.history(session=session, entity="api_client", entity_id=row.id)
        ]
    assert row.revoked_by == f"staff:{admin.user.username}" and actions == ["create", "revoke"]
    listed = admin.get(done.headers["location"])
    assert "revoked" in listed.text and f"revoked {client.name}" in listed.text
    refused = TestClient(app).get("/api/v1/catalogue", headers={"X-API-Key": client.key})
    assert refused.status_code == 401


def test_another_states_client_cannot_be_revoked_here(admin: Console, engine: Engine) -> None:
    theirs = make_client(engine, state_code="PB")
    assert admin.get(f"/admin/api-clients/{theirs.client_id}/revoke").status_code == 404
    assert admin.submit(f"/admin/api-clients/{theirs.client_id}/revoke").status_code == 404
    with read_session(engine) as session:
        assert channel_service.get(session=session, client_id=theirs.client_id).revoked_at is None


def test_a_supervisor_may_not_manage_api_clients(app: FastAPI, engine: Engine) -> None:
    supervisor = signed_in(app, engine, Role.SUPERVISOR)
    client = make_client(engine)
    assert supervisor.get("/admin/api-clients").status_code == 403
    created = supervisor.submit("/admin/api-clients", {"name": _name(), "rate_per_minute": "60"})
    assert created.status_code == 403
    assert supervisor.submit(f"/admin/api-clients/{client.client_id}/revoke").status_code == 403
    with read_session(engine) as session:
        assert channel_service.get(session=session, client_id=client.client_id).revoked_at is None


# --- the command line -------------------------------------------------------------------------


def test_the_command_line_prints_the_key_once_lists_and_revokes(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(cli, "make_engine", lambda url: engine)
    name = _name()
    assert cli.main(["api-client", "create", "--name", name, "--state", "JK", "--rate", "90"]) == 0
    printed = capsys.readouterr().out
    [key] = re.findall(r"dsk_\S+", printed)
    with write_session(engine) as session:
        caller = channel_service.authenticate(session=session, key=key)
    assert caller.name == name and caller.rate_per_minute == 90
    assert cli.main(["api-client", "list", "--state", "JK"]) == 0
    listed = capsys.readouterr().out
    assert name in listed and key[:12] in listed and key not in listed
    assert cli.main(["api-client", "revoke", "--name", name, "--state", "JK"]) == 0
    with read_session(engine) as session, pytest.raises(KeyRefused):
        channel_service.authenticate(session=session, key=key)
    assert cli.main(["api-client", "create", "--state", "JK"]) == 1
    assert cli.main(["api-client", "create", "--name", name, "--state", "JK"]) == 1
    assert "exists" in capsys.readouterr().err
