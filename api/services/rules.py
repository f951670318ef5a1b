"""The city's published rules for outings: points, and what looks plausible enough to approve
without a reviewer. Pure Python: no chain or store access."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ledger import Metrics

from ..settings import ApiSettings

__all__ = ["ClaimRules", "Outing", "Plausibility", "PointsRules"]


@dataclass(frozen=True)
class PointsRules:
    """Points for one outing: a base, litter by weight up to a ceiling, and a mission bonus for
    enough steps together with at least one cup of cigarette butts (weighed, in grams)."""

    base: int = 10
    grams_per_point: int = 10
    litter_points_max: int = 50
    mission_steps: int = 5_000
    mission_litter_grams: int = 80
    mission_bonus: int = 50

    def points_for(self, metrics: Metrics) -> int:
        points = self.base + min(metrics.litter_grams // self.grams_per_point, self.litter_points_max)
        if self.mission_completed(metrics):
            points += self.mission_bonus
        return points

    def mission_completed(self, metrics: Metrics) -> bool:
        return metrics.steps >= self.mission_steps and metrics.litter_grams >= self.mission_litter_grams


@dataclass(frozen=True)
class Outing:
    started_at: datetime
    ended_at: datetime
    metrics: Metrics


@dataclass(frozen=True)
class Plausibility:
    """Bounds a walking or jogging plogger stays inside; an outing outside any of them is held
    for a reviewer (never refused: a reviewer may know better)."""

    max_speed_kmh: float = 12.0
    #: A brisk runner's cadence is about 180 steps a minute.
    max_steps_per_minute: int = 220
    #: Metres per step, for outings with both: shorter or longer strides are not walking.
    min_stride_meters: float = 0.3
    max_stride_meters: float = 2.0
    #: Litter a person can pick up: per minute of the outing, and per outing.
    max_litter_grams_per_minute: int = 300
    max_litter_grams: int = 20_000
    max_duration: timedelta = timedelta(hours=8)
    max_distance_meters: int = 60_000
    max_age: timedelta = timedelta(days=7)

    def reasons(self, outing: Outing, now: datetime) -> list[str]:
        m = outing.metrics
        reasons = []
        elapsed = (outing.ended_at - outing.started_at).total_seconds()
        minutes = max(m.duration_seconds, 1) / 60
        if m.duration_seconds > elapsed + 60:
            reasons.append("duration is longer than the time between start and end")
        if m.duration_seconds > 0 and m.distance_meters / m.duration_seconds * 3.6 > self.max_speed_kmh:
            reasons.append(f"average speed above {self.max_speed_kmh:g} km/h")
        if m.duration_seconds == 0 and (m.distance_meters > 0 or m.steps > 0 or m.litter_grams > 0):
            reasons.append("an outing with no duration")
        if m.steps / minutes > self.max_steps_per_minute:
            reasons.append(f"more than {self.max_steps_per_minute} steps a minute")
        if m.steps > 0 and m.distance_meters > 0:
            stride = m.distance_meters / m.steps
            if not self.min_stride_meters <= stride <= self.max_stride_meters:
                reasons.append(f"{stride:.2f} m a step is not a walking or jogging stride")
        if m.litter_grams / minutes > self.max_litter_grams_per_minute or m.litter_grams > self.max_litter_grams:
            reasons.append("more litter than one person picks up in that time")
        if m.duration_seconds > self.max_duration.total_seconds() or elapsed > self.max_duration.total_seconds():
            reasons.append(f"longer than {self.max_duration.total_seconds() / 3600:g} hours")
        if m.distance_meters > self.max_distance_meters:
            reasons.append(f"farther than {self.max_distance_meters / 1000:g} km")
        if now - outing.ended_at > self.max_age:
            reasons.append(f"the outing is older than {self.max_age.days} days")
        return reasons


@dataclass(frozen=True)
class ClaimRules:
    points: PointsRules = field(default_factory=PointsRules)
    plausibility: Plausibility = field(default_factory=Plausibility)

    @classmethod
    def from_settings(cls, settings: ApiSettings) -> ClaimRules:
        """The rules with the city's configured speed and age limits."""
        return cls(
            plausibility=Plausibility(
                max_speed_kmh=settings.max_speed_kmh, max_age=timedelta(days=settings.max_claim_age_days)
            )
        )
