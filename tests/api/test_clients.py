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
from sqlalchemy.exc import IntegrityError
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


def _counted(failures: list[dt.datetime], window: dt.timedelta, at: dt.datetime) -> int:
    """The count the lockout is checked on (`dispatch.visits.proof.recent_failures`)."""
    return sum(1 for failure in failures if at - window <= failure <= at)


@given(
    st.lists(st.integers(min_value=-7_200_000_000, max_value=0), max_size=25),
    st.integers(min_value=1, max_value=8),
    st.integers(min_value=1, max_value=120),
)
def test_a_proof_lockout_lasts_exactly_until_the_count_falls_back(
    offsets_us: list[int], allowed: int, minutes: int
) -> None:
    """`proofs_locked_for` is the first whole second at which fewer than `allowed` failures are
    within the window: none before it (one second earlier the count is still at its limit)."""
    now = dt.datetime(2039, 8, 1, 2, 0, tzinfo=dt.UTC)
    window = dt.timedelta(minutes=minutes)
    failures = [now + dt.timedelta(microseconds=us) for us in offsets_us]
    wait = rules.proofs_locked_for(failures, allowed=allowed, window=window, now=now)
    if wait == 0:
        assert _counted(failures, window, now) < allowed
        return
    assert 1 <= wait <= window.total_seconds() + 1
    assert _counted(failures, window, now + dt.timedelta(seconds=wait)) < allowed
    assert _counted(failures, window, now + dt.timedelta(seconds=wait - 1)) >= allowed


def test_a_client_may_fail_ten_times_as_many_proofs_as_a_phone_number() -> None:
    assert rules.CLIENT_PROOFS_FACTOR == 10
    assert rules.client_proofs_allowed(6) == 60


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


def test_names_are_unique_in_a_state_whatever_their_case(session: Session) -> None:
    """Another state's client may have the same name: its admin learns nothing from ours."""
    name = _name()
    channel_service.create(session=session, state_code="JK", name=name, actor="test")
    with pytest.raises(InvalidInput, match="exists"):
        channel_service.create(session=session, state_code="JK", name=name.upper(), actor="test")
    theirs = channel_service.create(session=session, state_code="PB", name=name, actor="test")
    assert theirs.client.state_code == "PB" and theirs.client.name == name
    with pytest.raises(InvalidInput):
        channel_service.create(
            session=session, state_code="JK", name=_name(), rate_per_minute=0, actor="test"
        )


def test_the_table_holds_names_unique_per_state(session: Session) -> None:
    """The database itself refuses a second client of the same name in a state."""
    name = _name()
    for state_code in ("JK", "PB"):
        channel_service.create(session=session, state_code=state_code, name=name, actor="test")
    twin = ApiClient(
        state_code="JK",
        name=name,
        key_prefix=rules.prefix_of(rules.new_key()),
        key_hash="0" * 64,
        created_by="test",
    )
    with pytest.raises(IntegrityError), session.begin_nested():
        session.add(twin)
        session.flush()


def test_a_form_finds_the_client_it_made_and_no_other(session: Session) -> None:
    name = _name()
    made = channel_service.create(
        session=session, state_code="JK", name=name, actor="test", form_key="form-1"
    )
    found = channel_service.made_by_form(
        session=session, state_code="JK", name=f" {name.upper()} ", form_key="form-1"
    )
    assert found is not None and found.id == made.client.id
    for state_code, key in (("JK", "form-2"), ("JK", ""), ("PB", "form-1")):
        assert (
            channel_service.made_by_form(
                session=session, state_code=state_code, name=name, form_key=key
            )
            is None
        )
    [entry] = audit.history(session=session, entity="api_client", entity_id=made.client.id)
    assert entry.detail["form_key"] == "form-1" and made.key not in str(entry.detail)


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


def _form_key(admin: Console) -> str:
    page = admin.get("/admin/api-clients")
    found = re.search(r'name="key" value="([^"]+)"', page.text)
    assert found is not None
    return found.group(1)


def test_the_form_posted_twice_makes_one_client_and_says_why(
    admin: Console, engine: Engine
) -> None:
    """The retry finds what the first sending made; the key is kept nowhere, so the answer
    says where it was shown and how to replace it, and shows no key."""
    name = _name()
    form = {"name": name, "rate_per_minute": "60", "key": _form_key(admin)}
    first = admin.submit("/admin/api-clients", form)
    assert first.status_code == 200
    key = _context(first)["made"].key
    again = admin.submit("/admin/api-clients", form)
    assert again.status_code == 200
    assert _context(again)["made"] is None and _context(again)["errors"] == {}
    client = _context(again)["again"]
    assert client.name == name
    assert "was already created by this form" in again.text
    assert "cannot be shown again" in again.text
    assert f'href="/admin/api-clients/{client.id}/revoke"' in again.text
    assert key[rules.SHOWN :] not in again.text
    assert again.headers["Cache-Control"] == "no-store"
    with read_session(engine) as session:
        assert len(session.exec(select(ApiClient).where(ApiClient.name == name)).all()) == 1


def test_a_name_taken_in_this_state_is_refused_by_its_field(admin: Console, engine: Engine) -> None:
    """Another form (another token) with a name this state has is refused; a name only another
    state has is free here."""
    ours = make_client(engine)
    taken = admin.submit(
        "/admin/api-clients",
        {"name": ours.name, "rate_per_minute": "60", "key": _form_key(admin)},
    )
    assert taken.status_code == 422 and _context(taken)["again"] is None
    assert "choose another name" in _context(taken)["errors"]["name"]
    theirs = make_client(engine, state_code="PB")
    free = admin.submit(
        "/admin/api-clients",
        {"name": theirs.name, "rate_per_minute": "60", "key": _form_key(admin)},
    )
    assert free.status_code == 200 and _context(free)["made"].client.state_code == "JK"


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
