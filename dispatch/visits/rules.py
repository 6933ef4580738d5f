"""Pure rules of the visit use cases: which requests a citizen may still change, visit codes,
and the fingerprint that tells a retry from a different command under the same key."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import secrets

from dispatch.requests.models import DoorstepRequest
from dispatch.requests.rules import RequestStatus

#: Requests a citizen may still move or cancel themselves (the agent is not yet on the way).
CHANGEABLE = frozenset(
    {
        RequestStatus.LOGGED,
        RequestStatus.SCHEDULED,
        RequestStatus.ASSIGNED,
        RequestStatus.RESCHEDULED,
    }
)
CODE_DIGITS = 4


def current_window(request: DoorstepRequest) -> tuple[dt.datetime, dt.datetime] | None:
    """The window a request's visit has now: never offered again as a new time for it."""
    if request.window_start is None or request.window_end is None:
        return None
    return request.window_start, request.window_end


def new_visit_code() -> str:
    """A random 4-digit code (from the operating system's secure generator)."""
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def code_matches(stored: str | None, given: str | None) -> bool:
    """Whether `given` (as keyed or typed: spaces allowed) is the visit code, in constant time."""
    if not stored or not given:
        return False
    digits = "".join(ch for ch in given if ch in "0123456789")
    return len(digits) == CODE_DIGITS and hmac.compare_digest(stored, digits)


def fingerprint(use_case: str, **arguments: object) -> str:
    """A digest of what a command asked for: the same key with other arguments is refused."""
    plain = json.dumps({"use_case": use_case, **arguments}, sort_keys=True, default=str)
    return hashlib.sha256(plain.encode()).hexdigest()
