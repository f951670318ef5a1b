"""The city's published points rules for plogging outings. Pure Python: no chain access."""

from __future__ import annotations

from dataclasses import dataclass

from .records import Metrics

__all__ = ["PointsRules"]


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
        if metrics.steps >= self.mission_steps and metrics.litter_grams >= self.mission_litter_grams:
            points += self.mission_bonus
        return points

    def mission_completed(self, metrics: Metrics) -> bool:
        return metrics.steps >= self.mission_steps and metrics.litter_grams >= self.mission_litter_grams
