"""Pure rules of field work: the way a report walks a request through the lifecycle, and
what of an agent's day has changed since they were told (the itinerary's difference)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from dispatch.requests.rules import RequestStatus

#: The way to the door.
WAY = (RequestStatus.ASSIGNED, RequestStatus.EN_ROUTE, RequestStatus.ARRIVED)
#: How far along the way a report must be before its own step.
_NEEDS = {
    RequestStatus.ARRIVED: RequestStatus.ARRIVED,
    RequestStatus.COMPLETED: RequestStatus.ARRIVED,
    RequestStatus.NO_SHOW: RequestStatus.EN_ROUTE,
}


def path(current: RequestStatus, to: RequestStatus) -> list[RequestStatus]:
    """The transitions that take a visit from `current` to `to` as the agent reports it: an
    agent who says "done" without having said "arrived" passes through both. Empty when the
    visit is already there; statuses off the way (a closed request) are left to the lifecycle
    check to refuse."""
    if current is to:
        return []
    steps: list[RequestStatus] = []
    needs = _NEEDS.get(to)
    if current in WAY and needs is not None:
        steps = list(WAY[WAY.index(current) + 1 : WAY.index(needs) + 1])
    if to not in steps:
        steps.append(to)
    return steps


@dataclass(frozen=True)
class Told:
    """One visit as the agent was told of it: reference and local time (HH:MM)."""

    request_id: int
    reference: str
    time: str


@dataclass(frozen=True)
class Changes:
    added: list[Told]
    moved: list[Told]
    removed: list[Told]

    def __bool__(self) -> bool:
        return bool(self.added or self.moved or self.removed)


#: A visit whose time moved by less than this is not worth a message: the agent's own
#: progress moves every time a little.
MOVE_NOTICE_MINUTES = 30


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


def changes(told: Sequence[Told], now: Sequence[Told], finished: set[int]) -> Changes:
    """What changed between what the agent was told and their day now: visits added, moved by
    `MOVE_NOTICE_MINUTES` or more, and removed (cancelled, moved to another day or agent) —
    not the visits the agent finished themselves (`finished`)."""
    before = {t.request_id: t for t in told}
    after = {t.request_id: t for t in now}
    added = [t for t in now if t.request_id not in before]
    moved = [
        t
        for t in now
        if t.request_id in before
        and abs(_minutes(t.time) - _minutes(before[t.request_id].time)) >= MOVE_NOTICE_MINUTES
    ]
    removed = [t for t in told if t.request_id not in after and t.request_id not in finished]
    return Changes(added, moved, removed)
