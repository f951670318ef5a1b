"""Helpers every test shares: one outing builder, one error assertion."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

__all__ = ["assert_error", "outing"]


def outing(minutes_ago: int = 120, **overrides: object) -> dict[str, object]:
    """A plausible plogging outing as a citizen sends it: 5 km in an hour, 6,500 steps, 150 g
    of litter, ended ``minutes_ago`` minutes ago, with fresh evidence hashes."""
    end = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    body: dict[str, object] = {
        "started_at": (end - timedelta(hours=1)).isoformat(),
        "ended_at": end.isoformat(),
        "distance_meters": 5_000,
        "duration_seconds": 3_600,
        "steps": 6_500,
        "litter_grams": 150,
        "photo_hash": "0x" + secrets.token_hex(32),
        "track_hash": "0x" + secrets.token_hex(32),
    }
    body.update(overrides)
    return body


def assert_error(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    """The response is the service's error answer with ``status`` (and ``code``)."""
    assert response.status_code == status, f"expected {status}, got {response.status_code}: {response.text}"
    error: dict[str, Any] = response.json()["error"]
    assert error["message"], response.text
    if code is not None:
        assert error["code"] == code, f"expected code {code}, got {error['code']}: {error['message']}"
    return error
