"""`dispatch.visits.once.run_once`: a command that fails leaves nothing behind, not even in
the session that ran it, so the caller can go on in that session (offer windows again after a
window was taken) and read what is really there."""

from __future__ import annotations

import datetime as dt
from typing import NoReturn

import pytest
from sqlmodel import Session

from dispatch.planning import service as planning
from dispatch.planning.service import WindowTaken
from dispatch.visits.models import UseCase
from dispatch.visits.once import run_once
from tests import factories

#: 07:30 on Wednesday 10 July 2030 in J&K.
NOW = dt.datetime(2030, 7, 10, 2, 0, tzinfo=dt.UTC)


def test_a_failed_command_leaves_the_session_reading_what_the_database_holds(
    session: Session,
) -> None:
    """As a reschedule whose new window was taken meanwhile: the visit's window was freed
    (a conditional UPDATE, then the row read again) before the failure rolled it back."""
    request, offer = factories.booked_request(session, district_code="BRM", now=NOW)
    assert request.id is not None and request.window_start == offer.start

    def run() -> NoReturn:
        planning.reschedule(session=session, request_id=request.id or 0, actor="t", reason="t")
        assert request.window_start is None  # freed, as the session sees it
        raise WindowTaken(request.reference, offer.start)

    with pytest.raises(WindowTaken):
        run_once(
            session,
            key="test:failed-reschedule",
            use_case=UseCase.RESCHEDULE,
            asked="x",
            actor="test",
            now=NOW,
            run=run,
            load=lambda data: pytest.fail("nothing was stored"),
        )
    assert request.window_start == offer.start  # the window it still has
