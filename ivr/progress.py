"""What a caller has chosen so far, stored as JSON in `CallSession.data` between webhooks.

Plain data, no behaviour: the step handlers read and change it; `ivr.conversation` loads it
at the start of a webhook and stores it with the answer.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field, fields
from typing import Any


@dataclass
class Progress:
    retries: dict[str, int] = field(default_factory=dict)  # re-prompts per step
    page: int = 0  # the page of the paged menu being read out
    shown: list[int] = field(default_factory=list)  # ids read out on it, for keys 1, 2, ...
    more: bool = False  # whether key 9 was offered for a further page
    service_id: int | None = None
    matches: list[int] = field(default_factory=list)  # services (or villages) to choose from
    phone: str | None = None  # a contact number keyed in when caller ID is missing: not proof
    citizen_id: int | None = None  # whom a caller without a proven caller ID books for
    address_id: int | None = None
    district_id: int | None = None
    block_id: int | None = None
    village_id: int | None = None
    offers: list[dict[str, Any]] = field(default_factory=list)  # WindowOffer.to_json()
    chosen: int | None = None  # index into offers
    change_request_id: int | None = None  # the request being rescheduled or cancelled
    request_id: int | None = None  # the request booked or changed on this call
    bookings: int = 0  # requests booked on this call (a caller may book a second one)
    sms_queued: bool = False  # the confirmation of `request_id` goes out by SMS
    say_code: str | None = None  # the visit code, to be spoken (no SMS could carry it)
    reference: str | None = None  # the reference keyed, while its visit code is asked
    code: str | None = None  # the visit code that proved the caller for `change_request_id`
    failures: int = 0  # wrong references and visit codes on this call
    agent_id: int | None = None  # a field agent who proved themselves with their PIN
    visit_id: int | None = None  # the agent's visit being reported on
    paid_by: str | None = None  # "cash" or "upi": how the citizen paid, before the code
    upi: str | None = None  # the UPI reference keyed for `visit_id`
    feedback_id: int | None = None  # the feedback request a feedback call was placed for

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Progress:
        """A copy: changing it must not change the loaded column value in place (the ORM would
        then see no change to write)."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: copy.deepcopy(v) for k, v in data.items() if k in names})
