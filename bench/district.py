"""A generated Jammu & Kashmir-like district: CSC agents and doorstep visits for one day.

Holds `district(seed, agents, visits)`, a deterministic generator (seeded RNG): villages in
clusters around a valley town, plains on the valley floor, hills around it and a few
high-altitude hamlets; agents living in villages with two-wheelers (some on foot in the hills,
some four-wheel drives), 09:00-17:00 shifts with a 30-minute break starting 13:00-14:00,
skills and languages of the region; visits with one 2-hour window, 15-40 minutes of service,
one required skill, a language and a few HIGH / URGENT priorities. It only makes data.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from routing.model import (
    Agent,
    Break,
    Location,
    Priority,
    Problem,
    Terrain,
    TimeWindow,
    TravelMode,
    Visit,
)
from routing.travel import HaversineTravel

H = 3600
CENTRE = (33.73, 75.15)  # a valley town (Anantnag-like)
SKILLS = ["aadhaar", "pension", "certificates", "land_records", "banking", "health_card"]
SKILL_WEIGHTS = [30, 20, 20, 12, 10, 8]
LANGUAGES = ["ks", "ur", "doi", "hi"]
LANGUAGE_WEIGHTS = [65, 20, 5, 10]
SLOTS = [(9 * H, 11 * H), (11 * H, 13 * H), (13 * H, 15 * H), (15 * H, 17 * H)]


@dataclass(frozen=True)
class Village:
    location: Location
    spread_km: float


def _offset(lat: float, lon: float, km_north: float, km_east: float) -> tuple[float, float]:
    return (
        lat + km_north / 111.0,
        lon + km_east / (111.0 * math.cos(math.radians(lat))),
    )


def villages(rng: random.Random, count: int) -> list[Village]:
    out = []
    for _ in range(count):
        r = 24.0 * math.sqrt(rng.random())  # km from the town
        theta = rng.uniform(0, 2 * math.pi)
        lat, lon = _offset(*CENTRE, r * math.cos(theta), r * math.sin(theta))
        terrain = Terrain.PLAINS if r < 12 else Terrain.HILLS if r < 26 else Terrain.HIGH_ALTITUDE
        out.append(Village(Location(round(lat, 5), round(lon, 5), terrain), 0.3 + r / 40))
    return out


def _near(rng: random.Random, v: Village) -> Location:
    lat, lon = _offset(
        v.location.lat, v.location.lon, rng.gauss(0, v.spread_km), rng.gauss(0, v.spread_km)
    )
    return Location(round(lat, 5), round(lon, 5), v.location.terrain)


def district(
    seed: int = 1, agents: int = 60, visits: int = 600, n_villages: int | None = None
) -> Problem:
    """The district's problem for one day (travel by the default haversine provider)."""
    rng = random.Random(seed)
    vs = villages(rng, n_villages or max(8, visits // 12))
    agent_list: list[Agent] = []
    for i in range(agents):
        home_v = vs[i % len(vs)]
        home = _near(rng, home_v)
        if home_v.location.terrain is Terrain.PLAINS:
            mode = TravelMode.TWO_WHEELER
        else:
            mode = rng.choices(
                [TravelMode.TWO_WHEELER, TravelMode.FOUR_WHEEL_DRIVE, TravelMode.ON_FOOT],
                [70, 20, 10],
            )[0]
        skills = set(rng.sample(SKILLS, rng.randint(4, 6))) | {"aadhaar"}
        langs = {"ks", "ur", "hi"} | ({"doi"} if rng.random() < 0.4 else set())
        agent_list.append(
            Agent(
                id=f"agent{i + 1:03d}",
                start=home,
                end=home,
                shift=TimeWindow(9 * H, 17 * H + 30 * 60),
                mode=mode,
                skills=frozenset(skills),
                languages=frozenset(langs),
                break_=Break(13 * H, 14 * H, 30 * 60),
                max_visits=14,
            )
        )
    visit_list: list[Visit] = []
    for j in range(visits):
        v = rng.choice(vs)
        slot = rng.choice(SLOTS)
        visit_list.append(
            Visit(
                id=f"visit{j + 1:04d}",
                location=_near(rng, v),
                windows=(TimeWindow(*slot),),
                service=rng.randint(15, 40) * 60,
                skills=frozenset({rng.choices(SKILLS, SKILL_WEIGHTS)[0]}),
                language=rng.choices(LANGUAGES, LANGUAGE_WEIGHTS)[0],
                priority=rng.choices(list(Priority), [87, 10, 3])[0],
            )
        )
    return Problem.build(agent_list, visit_list, HaversineTravel())


def new_visit(rng: random.Random, problem: Problem, visit_id: str) -> Visit:
    """A fresh booking request somewhere in the district (any time of day)."""
    base = rng.choice(problem.visits)
    lat, lon = _offset(base.location.lat, base.location.lon, rng.gauss(0, 1), rng.gauss(0, 1))
    return Visit(
        id=visit_id,
        location=Location(round(lat, 5), round(lon, 5), base.location.terrain),
        windows=(TimeWindow(9 * H, 17 * H),),
        service=rng.randint(15, 40) * 60,
        skills=frozenset({rng.choices(SKILLS, SKILL_WEIGHTS)[0]}),
        language=rng.choices(LANGUAGES, LANGUAGE_WEIGHTS)[0],
    )
