"""Travel-time providers: integer-second matrices between locations, per travel mode.

Holds the `TravelTimeProvider` protocol, the default `HaversineTravel` (great-circle distance x
detour factor / speed, by terrain class and travel mode), `OsrmTravel` (an OSRM `table` server
over HTTP, stdlib urllib only) and `extend_matrix` to add locations to a `TravelMatrix`.
It does not cache across calls, plan routes, or know about agents and visits.
"""

from __future__ import annotations

import contextlib
import json
import math
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from typing import Protocol

import numpy as np

from routing.errors import TravelTimeError
from routing.model import Location, Matrix, Terrain, TravelMatrix, TravelMode


class TravelTimeProvider(Protocol):
    """Anything that can time journeys between locations for a travel mode."""

    def durations(
        self, origins: Sequence[Location], destinations: Sequence[Location], mode: TravelMode
    ) -> list[list[int]]:
        """Seconds from each origin (row) to each destination (column); 0 on the diagonal."""
        ...


_EARTH_RADIUS_M = 6_371_008.8  # mean Earth radius (IUGG)

_SEVERITY = {Terrain.PLAINS: 0, Terrain.HILLS: 1, Terrain.HIGH_ALTITUDE: 2}

#: Road distance / great-circle distance, by terrain.
#: Rural road networks measure 1.2-1.4 times the straight line in flat country (circuity studies
#: of national road networks cluster around 1.3); Himalayan foothill roads follow contours and
#: switchbacks, which we take as 1.6, and high-altitude roads (few valleys, passes, long ways
#: round) 1.9. The worse terrain of the two end points is used for a journey.
DEFAULT_DETOUR: Mapping[Terrain, float] = {
    Terrain.PLAINS: 1.3,
    Terrain.HILLS: 1.6,
    Terrain.HIGH_ALTITUDE: 1.9,
}

#: Door-to-door average speeds in km/h (including junctions, village lanes and asking the way),
#: by travel mode and terrain.
#: - Two-wheeler: ~30 km/h on rural plains roads, ~20 km/h on hill roads, ~15 km/h at altitude.
#: - On foot: 4.5 km/h on the flat; Naismith's rule (+1 h per 600 m climbed) roughly halves a
#:   hill walk's speed over a round trip, so 3.0 km/h in hills and 2.5 km/h at altitude.
#: - Four-wheel drive: a little faster than a two-wheeler on bad roads, same order on good ones:
#:   35 / 25 / 20 km/h.
DEFAULT_SPEED_KMH: Mapping[TravelMode, Mapping[Terrain, float]] = {
    TravelMode.TWO_WHEELER: {
        Terrain.PLAINS: 30.0,
        Terrain.HILLS: 20.0,
        Terrain.HIGH_ALTITUDE: 15.0,
    },
    TravelMode.ON_FOOT: {Terrain.PLAINS: 4.5, Terrain.HILLS: 3.0, Terrain.HIGH_ALTITUDE: 2.5},
    TravelMode.FOUR_WHEEL_DRIVE: {
        Terrain.PLAINS: 35.0,
        Terrain.HILLS: 25.0,
        Terrain.HIGH_ALTITUDE: 20.0,
    },
}


def haversine_m(a: Location, b: Location) -> float:
    """Great-circle distance in metres."""
    p1, p2 = math.radians(a.lat), math.radians(b.lat)
    dp = p2 - p1
    dl = math.radians(b.lon - a.lon)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * _EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


class HaversineTravel:
    """Default provider: haversine metres x detour(terrain) / speed(mode, terrain), rounded up.

    Cheap, offline and deterministic; good enough to plan a day when no road network is at hand.
    The worse terrain of a journey's two ends decides both detour and speed. Whole matrices are
    computed with numpy (1100 x 1100 places in ~0.1 s).
    """

    def __init__(
        self,
        detour: Mapping[Terrain, float] | None = None,
        speed_kmh: Mapping[TravelMode, Mapping[Terrain, float]] | None = None,
    ) -> None:
        self.detour = dict(detour if detour is not None else DEFAULT_DETOUR)
        self.speed_kmh = {m: dict(s) for m, s in (speed_kmh or DEFAULT_SPEED_KMH).items()}
        self._cache: dict[int, tuple[Sequence[Location], np.ndarray]] = {}
        for t, f in self.detour.items():
            if not f >= 1.0:
                raise ValueError(f"detour[{t}] must be >= 1, got {f}")
        for m, by_t in self.speed_kmh.items():
            for t, s in by_t.items():
                if not s > 0:
                    raise ValueError(f"speed_kmh[{m}][{t}] must be > 0, got {s}")

    def seconds(self, a: Location, b: Location, mode: TravelMode) -> int:
        return self.durations([a], [b], mode)[0][0]

    #: Journeys take as long both ways; callers may time one direction only.
    symmetric = True

    def _prepared(self, locations: Sequence[Location]) -> np.ndarray:
        """[4, n]: latitude and longitude in radians, cos(latitude), terrain severity."""
        # Slot offers time one new place against the same few hundred places again and again
        # (the same list object each time): keep the per-place trigonometry of that list.
        cached = self._cache.get(id(locations))
        if cached is not None and cached[0] is locations:
            return cached[1]
        lat = np.radians(np.array([d.lat for d in locations], dtype=np.float64))
        lon = np.radians(np.array([d.lon for d in locations], dtype=np.float64))
        severity = np.array([_SEVERITY[d.terrain] for d in locations], dtype=np.float64)
        prepared = np.stack([lat, lon, np.cos(lat), severity])
        if len(self._cache) >= 4:
            self._cache.pop(next(iter(self._cache), 0), None)
        self._cache[id(locations)] = (locations, prepared)
        return prepared

    def durations(
        self, origins: Sequence[Location], destinations: Sequence[Location], mode: TravelMode
    ) -> list[list[int]]:
        if not origins or not destinations:
            return [[] for _ in origins]
        # Seconds per metre by severity of the worse terrain of a journey's two ends.
        by_terrain = sorted(Terrain, key=_SEVERITY.__getitem__)
        per_m = np.array([self.detour[t] * 3.6 / self.speed_kmh[mode][t] for t in by_terrain])
        o, d = self._prepared(origins), self._prepared(destinations)
        half_dp = (d[0][None, :] - o[0][:, None]) / 2
        half_dl = (d[1][None, :] - o[1][:, None]) / 2
        h = np.sin(half_dp) ** 2 + o[2][:, None] * d[2][None, :] * np.sin(half_dl) ** 2
        metres = 2 * _EARTH_RADIUS_M * np.arcsin(np.minimum(1.0, np.sqrt(h)))
        worse = np.maximum(o[3][:, None], d[3][None, :]).astype(np.intp)
        seconds: list[list[int]] = np.ceil(metres * per_m[worse]).astype(np.int64).tolist()
        return seconds


#: OSRM profile per travel mode; a server is usually built for one profile, so override freely.
DEFAULT_OSRM_PROFILES: Mapping[TravelMode, str] = {
    TravelMode.TWO_WHEELER: "driving",
    TravelMode.ON_FOOT: "foot",
    TravelMode.FOUR_WHEEL_DRIVE: "driving",
}


class OsrmTravel:
    """Provider backed by an OSRM server's `table` service (HTTP, JSON).

    Splits large matrices into blocks of at most `max_table_size` sources x destinations (the
    server's ``--max-table-size``, 100 by default). Pairs the server cannot route (``null``)
    get `unreachable_s`, which is large enough that no plan uses them. Raises
    `TravelTimeError` when the server is unreachable or answers anything but ``code: Ok``.
    """

    def __init__(
        self,
        base_url: str,
        *,
        profiles: Mapping[TravelMode, str] | None = None,
        timeout_s: float = 10.0,
        max_table_size: int = 100,
        unreachable_s: int = 10_000_000,
    ) -> None:
        if max_table_size < 2:
            raise ValueError("max_table_size must be >= 2")
        self.base_url = base_url.rstrip("/")
        self.profiles = dict(profiles if profiles is not None else DEFAULT_OSRM_PROFILES)
        self.timeout_s = timeout_s
        self.max_table_size = max_table_size
        self.unreachable_s = unreachable_s

    def durations(
        self, origins: Sequence[Location], destinations: Sequence[Location], mode: TravelMode
    ) -> list[list[int]]:
        out = [[0] * len(destinations) for _ in origins]
        half = max(1, self.max_table_size // 2)
        for i0 in range(0, len(origins), half):
            src = origins[i0 : i0 + half]
            for j0 in range(0, len(destinations), half):
                dst = destinations[j0 : j0 + half]
                block = self._table(src, dst, mode)
                for di, row in enumerate(block):
                    out[i0 + di][j0 : j0 + len(dst)] = row
        return out

    def _table(
        self, src: Sequence[Location], dst: Sequence[Location], mode: TravelMode
    ) -> list[list[int]]:
        coords = ";".join(f"{loc.lon:.6f},{loc.lat:.6f}" for loc in (*src, *dst))
        sources = ";".join(str(i) for i in range(len(src)))
        destinations = ";".join(str(len(src) + j) for j in range(len(dst)))
        profile = self.profiles[mode]
        url = (
            f"{self.base_url}/table/v1/{profile}/{coords}"
            f"?sources={sources}&destinations={destinations}&annotations=duration"
        )
        try:
            with urllib.request.urlopen(url, timeout=self.timeout_s) as resp:
                body = json.loads(resp.read().decode("utf-8"))
        except urllib.error.HTTPError as exc:
            detail = ""
            with contextlib.suppress(ValueError, OSError):
                detail = json.loads(exc.read().decode("utf-8")).get("message", "")
            raise TravelTimeError("osrm", f"HTTP {exc.code} {detail}".strip()) from exc
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise TravelTimeError("osrm", f"request failed: {exc}") from exc
        if not isinstance(body, dict) or body.get("code") != "Ok":
            code = body.get("code") if isinstance(body, dict) else None
            raise TravelTimeError("osrm", f"server answered code={code!r}")
        rows = body.get("durations")
        if not isinstance(rows, list) or len(rows) != len(src):
            raise TravelTimeError("osrm", "reply has no durations of the expected shape")
        result: list[list[int]] = []
        for row in rows:
            if not isinstance(row, list) or len(row) != len(dst):
                raise TravelTimeError("osrm", "reply row of the wrong length")
            result.append([self.unreachable_s if x is None else math.ceil(float(x)) for x in row])
        return result


def extend_matrix(
    matrix: TravelMatrix, new: Sequence[Location], provider: TravelTimeProvider
) -> TravelMatrix:
    """`matrix` with the locations in `new` that it lacks appended (rows and columns)."""
    added: list[Location] = []
    for loc in new:
        if loc not in matrix and loc not in added:
            added.append(loc)
    if not added:
        return matrix
    old = list(matrix.locations)
    everything = old + added
    n_old = len(old)

    def grow(mat: Matrix, mode: TravelMode) -> Matrix:
        out_rows = provider.durations(old, added, mode)
        in_rows = provider.durations(added, everything, mode)
        rows = [tuple(r) + tuple(o) for r, o in zip(mat, out_rows, strict=True)]
        rows.extend(tuple(r) for r in in_rows)
        assert all(len(r) == n_old + len(added) for r in rows)
        return tuple(rows)

    durations = {mode: grow(mat, mode) for mode, mat in matrix.durations.items()}
    costs = None
    if matrix.costs is not None:
        costs = {mode: grow(mat, mode) for mode, mat in matrix.costs.items()}
    return TravelMatrix(tuple(everything), durations, costs)
