"""Pure rules of the SMS outbox: when to try again, which provider reports move a message
forward, and the reference that ties a delivery report to one attempt. No database here.

Retries: a send the provider surely refused is tried again after 1 minute, then 2, 4, ... up
to `LONGEST_WAIT` between tries; after `MAX_FAILURES` refusals in a row (about twelve hours)
the message is given up on (`failed`) and a person decides. A send that may have reached the
provider is never retried here at all (`uncertain`).

Delivery reports: the provider's word for a message only ever moves forward
(queued -> sending -> sent -> delivered / undelivered / failed), so a replayed or late report
changes nothing.
"""

from __future__ import annotations

import datetime as dt
import re

from dispatch.notifications.models import MessageStatus

FIRST_WAIT = dt.timedelta(minutes=1)
LONGEST_WAIT = dt.timedelta(hours=2)
#: Refusals in a row before a message is given up on: 1+2+4+...+64 min, then every 2 h, for
#: just over 12 hours between the first try and the last.
MAX_FAILURES = 13

_REFERENCE = re.compile(r"([0-9]{1,12})\.([0-9]{1,6})")

#: Statuses a person may send again.
RESENDABLE = frozenset({MessageStatus.FAILED, MessageStatus.UNCERTAIN, MessageStatus.UNDELIVERED})

#: The provider's statuses (Twilio's words), ranked: a report never moves a message back.
PROVIDER_RANK = {
    "accepted": 1,
    "scheduled": 1,
    "queued": 1,
    "sending": 2,
    "sent": 3,
    "delivered": 4,
    "undelivered": 4,
    "failed": 4,
    "canceled": 4,
    "read": 5,
}
#: What each provider status means in our outbox.
OUR_STATUS = {
    "accepted": MessageStatus.SENT,
    "scheduled": MessageStatus.SENT,
    "queued": MessageStatus.SENT,
    "sending": MessageStatus.SENT,
    "sent": MessageStatus.SENT,
    "delivered": MessageStatus.DELIVERED,
    "read": MessageStatus.DELIVERED,
    "undelivered": MessageStatus.UNDELIVERED,
    "failed": MessageStatus.FAILED,
    "canceled": MessageStatus.FAILED,
}


def retry_wait(failures: int) -> dt.timedelta:
    """How long to wait after the `failures`-th refusal in a row (1 min, 2, 4, ... 2 h)."""
    if failures < 1:
        raise ValueError(f"failures must be at least 1, got {failures}")
    if failures > 8:  # 2**7 minutes is past the cap already; keep the power small
        return LONGEST_WAIT
    return min(FIRST_WAIT * (1 << (failures - 1)), LONGEST_WAIT)


def gives_up(failures: int) -> bool:
    return failures >= MAX_FAILURES


def moves_forward(seen: str | None, reported: str) -> bool:
    """Whether provider status `reported` is news after `seen` (None: nothing seen yet).
    An unknown status is never news."""
    rank = PROVIDER_RANK.get(reported)
    if rank is None:
        return False
    return seen is None or rank > PROVIDER_RANK.get(seen, 0)


def reference(message_id: int, attempt: int) -> str:
    """Ours for one attempt at one message, e.g. `42.3`; carried in the delivery report URL."""
    return f"{message_id}.{attempt}"


def parse_reference(text: str | None) -> tuple[int, int] | None:
    """`(message id, attempt)` from `reference(...)`; None if `text` is not one."""
    found = _REFERENCE.fullmatch(text or "")
    return (int(found[1]), int(found[2])) if found else None
