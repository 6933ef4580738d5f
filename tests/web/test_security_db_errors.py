"""A database error's text names no value: the engine hides bound parameters
(`hide_parameters=True`), and on PostgreSQL drops the DETAIL line that quotes the failing key or
row ("Key (username)=(...) already exists", "Failing row contains (...)"). Checked on every
exception of the chain, as a log line with its traceback would print them; the structured
details stay readable to code (`orig.diag` on PostgreSQL)."""

from __future__ import annotations

import traceback
import uuid

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from dispatch.db import write_session
from dispatch.staff.models import StaffUser
from dispatch.staff.rules import Role


def _texts(exc: BaseException) -> list[str]:
    """What a log would print of each exception in the chain (without the source lines)."""
    found = []
    seen: BaseException | None = exc
    while seen is not None:
        found.append("".join(traceback.format_exception_only(type(seen), seen)))
        seen = seen.__cause__ or seen.__context__
    return found


def _user(username: str) -> StaffUser:
    return StaffUser(
        state_code="JK", username=username, name="Test", role=Role.CALL_AGENT, password_hash="x"
    )


def test_a_unique_violation_names_no_value(engine: Engine) -> None:
    secret = f"u{uuid.uuid4().hex}"
    with write_session(engine) as session:
        session.add(_user(secret))
    with pytest.raises(sa.exc.IntegrityError) as caught, write_session(engine) as session:
        session.add(_user(secret))
    texts = _texts(caught.value)
    assert len(texts) >= 2  # SQLAlchemy's and the driver's
    assert [t for t in texts if secret in t] == []
    assert "hidden" in str(caught.value)  # hide_parameters
    if engine.dialect.name == "postgresql":  # code can still read what failed
        assert secret in caught.value.orig.diag.message_detail  # type: ignore[union-attr]


def test_a_not_null_violation_names_no_value(engine: Engine) -> None:
    secret = f"+9198{uuid.uuid4().int % 10**8:08d}"
    insert = sa.text(
        "INSERT INTO staff_user (state_code, username, name, role, password_hash, active, "
        "created_at, password_changed_at) VALUES ('JK', :username, NULL, 'call_agent', 'x', "
        "true, :now, :now)"
    )
    now = "2030-01-01 00:00:00"
    with pytest.raises(sa.exc.IntegrityError) as caught, engine.begin() as conn:
        conn.execute(insert, {"username": secret, "now": now})
    assert [t for t in _texts(caught.value) if secret in t] == []
