"""Travel times without a road network: great-circle distance × road factor ÷ time-of-day speed."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from ..domain.geo import haversine_m
from ..domain.routing import Matrix, Point

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
