"""Travel providers: the haversine default's calibration, and OSRM against a local fake."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from routing.errors import TravelTimeError
from routing.model import Agent, Location, Problem, Terrain, TimeWindow, TravelMode, Visit
from routing.travel import HaversineTravel, OsrmTravel, extend_matrix, haversine_m

SRINAGAR = Location(34.0837, 74.7973)
ANANTNAG = Location(33.7311, 75.1487)


def test_haversine_distance_is_plausible() -> None:
    """Srinagar to Anantnag is about 50 km as the crow flies."""
    assert 48_000 < haversine_m(SRINAGAR, ANANTNAG) < 52_000


def test_speed_and_terrain_order() -> None:
    t = HaversineTravel()
    hill = Location(33.7311, 75.1487, Terrain.HILLS)
    flat = t.seconds(SRINAGAR, ANANTNAG, TravelMode.TWO_WHEELER)
    hilly = t.seconds(SRINAGAR, hill, TravelMode.TWO_WHEELER)
    walk = t.seconds(SRINAGAR, ANANTNAG, TravelMode.ON_FOOT)
    # 50 km x 1.3 / 30 km/h = 2.2 h on a two-wheeler in the plains.
    assert 2.0 * 3600 < flat < 2.4 * 3600
    assert hilly > flat and walk > hilly
    assert t.seconds(SRINAGAR, SRINAGAR, TravelMode.ON_FOOT) == 0


def test_matrix_matches_pairwise_seconds() -> None:
    t = HaversineTravel()
    locs = [SRINAGAR, ANANTNAG, Location(34.2, 74.9, Terrain.HIGH_ALTITUDE)]
    mat = t.durations(locs, locs, TravelMode.FOUR_WHEEL_DRIVE)
    for i, a in enumerate(locs):
        for j, b in enumerate(locs):
            assert mat[i][j] == t.seconds(a, b, TravelMode.FOUR_WHEEL_DRIVE)


def test_problem_build_and_extend_matrix() -> None:
    a = Agent("a1", SRINAGAR, SRINAGAR, TimeWindow(0, 36_000))
    v = Visit("v1", ANANTNAG, (TimeWindow(0, 36_000),), 600)
    p = Problem.build([a], [v], HaversineTravel())
    assert p.travel.durations[TravelMode.TWO_WHEELER][0][1] > 0
    new = Location(34.0, 74.8)
    grown = extend_matrix(p.travel, [new], HaversineTravel())
    assert grown.locations[-1] == new
    mat = grown.durations[TravelMode.TWO_WHEELER]
    assert len(mat) == 3 and all(len(r) == 3 for r in mat) and mat[2][2] == 0


class _FakeOsrm(BaseHTTPRequestHandler):
    """Answers /table/v1/<profile>/<coords> like OSRM: 100 s per coordinate index apart."""

    def do_GET(self) -> None:
        url = urlsplit(self.path)  # urlparse would split ";" as params
        parts = url.path.split("/")
        if len(parts) < 5 or parts[1] != "table":
            self._send(400, {"code": "InvalidUrl", "message": "bad path"})
            return
        coords = parts[4].split(";")
        q = parse_qs(url.query)
        src = [int(x) for x in q["sources"][0].split(";")]
        dst = [int(x) for x in q["destinations"][0].split(";")]
        lons = [float(c.split(",")[0]) for c in coords]
        rows = [[None if lons[j] < 0 else abs(lons[i] - lons[j]) * 100.0 for j in dst] for i in src]
        self._send(200, {"code": "Ok", "durations": rows})

    def _send(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def osrm_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeOsrm)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_osrm_table_in_blocks(osrm_url: str) -> None:
    """Five points with a table limit of 2 force 3x3 blocks; values and order must survive."""
    locs = [Location(0.0, float(k)) for k in range(5)]
    t = OsrmTravel(osrm_url, max_table_size=2)
    mat = t.durations(locs, locs, TravelMode.TWO_WHEELER)
    assert mat == [[abs(i - j) * 100 for j in range(5)] for i in range(5)]


def test_osrm_unreachable_pairs(osrm_url: str) -> None:
    locs = [Location(0.0, 1.0), Location(0.0, -1.0)]
    mat = OsrmTravel(osrm_url, unreachable_s=999).durations(locs, locs, TravelMode.ON_FOOT)
    assert mat[0][1] == 999


def test_osrm_errors_become_travel_time_errors(osrm_url: str) -> None:
    with pytest.raises(TravelTimeError, match="HTTP 400"):
        OsrmTravel(osrm_url + "/nope").durations([SRINAGAR], [SRINAGAR], TravelMode.ON_FOOT)
    with pytest.raises(TravelTimeError, match="request failed"):
        OsrmTravel("http://127.0.0.1:9", timeout_s=0.5).durations(
            [SRINAGAR], [SRINAGAR], TravelMode.ON_FOOT
        )
