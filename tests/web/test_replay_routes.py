"""Every POST route of the app is replayed by some scenario (tests/*/test_replay_*.py), or
listed here with the reason it is not: a new POST route fails this test until a replay
scenario records it. None is left "not yet replayed"."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from dispatch.config import Settings
from tests.api.test_replay_api import COVERED as API
from tests.conftest import build_app
from tests.ivr.test_replay_webhooks import COVERED as WEBHOOKS
from tests.replay import post_routes
from tests.web.test_replay_admin import COVERED as ADMIN
from tests.web.test_replay_console import COVERED as DESK
from tests.web.test_replay_supervision import COVERED as SUPERVISION

#: Not replayed, by design.
EXCLUDED = {
    "/login": "each sign-in opens a session of its own, by design (and is rate limited)",
    "/logout": "ends the session every other replay is sent under; ending it again is a no-op",
    "/simulator/api/dial": "development tool (off in production): each dial is a new call",
    "/simulator/api/turn": "development tool: relays to /ivr/voice/*, which are replayed",
    "/simulator/api/hangup": "development tool: relays to /ivr/voice/status, which is replayed",
}


def test_every_post_route_is_replayed_or_excluded_with_a_reason(
    settings: Settings, engine: Engine
) -> None:
    routes = post_routes(build_app(settings, engine))
    replayed = WEBHOOKS | API | DESK | ADMIN | SUPERVISION
    assert routes - replayed - set(EXCLUDED) == set(), "add it to a replay scenario"
    assert (replayed | set(EXCLUDED)) - routes == set(), "a route that is gone"
    assert replayed & set(EXCLUDED) == set()
