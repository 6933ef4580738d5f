"""Typed factories for tiny, hand-checkable routing problems on a straight road.

Places are points on a line at integer kilometres; travel between two places takes one minute
per kilometre for every travel mode, so every time in a test can be worked out by hand.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from routing.model import (
    Agent,
    Break,
    Location,
    Objective,
    Problem,
    TimeWindow,
    TravelMatrix,
    TravelMode,
    Visit,
)

MINUTE = 60
HOUR = 3600


def place(km: int) -> Location:
    """The point `km` kilometres along the road."""
    return Location(lat=0.0, lon=km * 0.01)


def road(kms: Sequence[int], modes: Sequence[TravelMode] = tuple(TravelMode)) -> TravelMatrix:
    """Travel matrix over the given points: 60 s per km, same for every mode."""
    pts = sorted(set(kms))
    mat = tuple(tuple(abs(a - b) * MINUTE for b in pts) for a in pts)
    return TravelMatrix(tuple(place(k) for k in pts), {m: mat for m in modes})


def agent(
    agent_id: str = "a1",
    *,
    home: int = 0,
    shift: tuple[int, int] = (8 * HOUR, 18 * HOUR),
    skills: Collection[str] = (),
    languages: Collection[str] = ("hi",),
    brk: tuple[int, int, int] | None = None,
    max_visits: int | None = None,
    capacity: int | None = None,
) -> Agent:
    return Agent(
        id=agent_id,
        start=place(home),
        end=place(home),
        shift=TimeWindow(*shift),
        skills=frozenset(skills),
        languages=frozenset(languages),
        break_=Break(*brk) if brk else None,
        max_visits=max_visits,
        capacity=capacity,
    )


def visit(
    visit_id: str,
    km: int,
    *windows: tuple[int, int],
    service: int = 10 * MINUTE,
    skills: Collection[str] = (),
    language: str | None = None,
    load: int = 0,
    **kwargs: object,
) -> Visit:
    wins = windows or ((8 * HOUR, 18 * HOUR),)
    return Visit(
        id=visit_id,
        location=place(km),
        windows=tuple(TimeWindow(*w) for w in wins),
        service=service,
        skills=frozenset(skills),
        language=language,
        load=load,
        **kwargs,  # type: ignore[arg-type]
    )


def problem(
    agents: Sequence[Agent], visits: Sequence[Visit], objective: Objective | None = None
) -> Problem:
    kms = [round(a.start.lon * 100) for a in agents]
    kms += [round(a.end.lon * 100) for a in agents]
    kms += [round(v.location.lon * 100) for v in visits]
    return Problem(tuple(agents), tuple(visits), road(kms), objective or Objective())


class RoadTravel:
    """A travel provider for the same road: 60 s per km of longitude difference."""

    def __init__(self) -> None:
        self.calls = 0

    def durations(
        self, origins: Sequence[Location], destinations: Sequence[Location], mode: TravelMode
    ) -> list[list[int]]:
        self.calls += 1
        return [
            [abs(round(o.lon * 100) - round(d.lon * 100)) * MINUTE for d in destinations]
            for o in origins
        ]
