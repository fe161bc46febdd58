"""Travel times: OSRM road tables, or great-circle distance × road factor ÷ time-of-day speed."""

from __future__ import annotations

import json
import logging
import urllib.request
from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from ..domain.geo import haversine_m
from ..domain.routing import Matrix, Point

log = logging.getLogger("lastmile.travel_times")

# Urban van speeds (km/h) by local hour: slower in the morning and evening peaks.
DEFAULT_SPEED_PROFILE: dict[int, float] = {
    **{h: 30.0 for h in range(24)},
    **{h: 20.0 for h in (7, 8, 9, 16, 17, 18)},
    **{h: 25.0 for h in (10, 11, 12, 13, 14, 15, 19)},
}


class HaversineTravelTimes:
    """Estimate road travel from straight-line distance, a detour factor and a speed profile."""

    def __init__(
        self,
        timezone: str = "Europe/Berlin",
        road_factor: float = 1.35,
        speed_profile: dict[int, float] | None = None,
    ) -> None:
        self.tz = ZoneInfo(timezone)
        self.road_factor = road_factor
        self.speed_profile = speed_profile or DEFAULT_SPEED_PROFILE

    def speed_mps(self, at: datetime) -> float:
        """Return the base speed in metres per second at local time ``at``."""
        return self.speed_profile[at.astimezone(self.tz).hour] / 3.6

    def matrix(self, points: Sequence[Point], depart_at: datetime) -> Matrix:
        """Return durations (s) and road distances (m) between all pairs of points."""
        speed = self.speed_mps(depart_at)
        n = len(points)
        distances = [[0.0] * n for _ in range(n)]
        durations = [[0] * n for _ in range(n)]
        for i in range(n):
            for j in range(i + 1, n):
                d = haversine_m(points[i], points[j]) * self.road_factor
                distances[i][j] = distances[j][i] = d
                durations[i][j] = durations[j][i] = int(round(d / speed))
        return Matrix(durations=durations, distances=distances)


class OsrmTravelTimes:
    """Road travel times from an OSRM table service, falling back to estimates when it fails.

    A re-plan with approximate times beats no re-plan: an unreachable server, an error
    answer or a null cell (no road between two points) uses the haversine estimate.
    """

    def __init__(
        self,
        base_url: str,
        profile: str = "driving",
        fallback: HaversineTravelTimes | None = None,
        timeout_s: float = 5.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.profile = profile
        self.fallback = fallback or HaversineTravelTimes()
        self.timeout_s = timeout_s

    def matrix(self, points: Sequence[Point], depart_at: datetime) -> Matrix:
        """Return durations (s) and distances (m) between all pairs of points."""
        estimate = self.fallback.matrix(points, depart_at)
        if len(points) < 2:
            return estimate
        coords = ";".join(f"{p.lng:.6f},{p.lat:.6f}" for p in points)
        url = f"{self.base_url}/table/v1/{self.profile}/{coords}?annotations=duration,distance"
        try:
            with urllib.request.urlopen(url, timeout=self.timeout_s) as response:
                body = json.load(response)
        except (OSError, ValueError) as error:
            log.warning("OSRM table request failed, using estimates: %s", error)
            return estimate
        if body.get("code") != "Ok" or "durations" not in body:
            log.warning("OSRM answered %s: %s", body.get("code"), body.get("message", ""))
            return estimate
        durations = [list(row) for row in estimate.durations]
        distances = [list(row) for row in estimate.distances]
        for i, row in enumerate(body["durations"]):
            for j, value in enumerate(row):
                if value is not None:
                    durations[i][j] = int(round(value))
        for i, row in enumerate(body.get("distances") or []):
            for j, value in enumerate(row):
                if value is not None:
                    distances[i][j] = float(value)
        return Matrix(durations=durations, distances=distances)
