"""Services' answers shaped for templates (shared by the public, citizen and staff pages): the
same presenters the JSON API uses, plus names and words in the reader's language."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..presenters import activity_public, checks_public, citizen_verified, ref_public
from ..schemas import CheckPublic, OnChainRefPublic
from ..services import events, rewards, verification
from ..services.errors import NotFound
from .messages import CHECKS, RECORDS, reason_label
from .web import Page

__all__ = [
    "activity_view",
    "badge_image",
    "badge_view",
    "checks_view",
    "citizen_view",
    "event_title",
    "outcome_of",
]


def badge_image(event_id: int) -> str:
    return f"/v1/badges/{event_id:064x}.svg"


def event_title(page: Page, event_id: int, cache: dict[int, str] | None = None) -> str:
    if cache is not None and event_id in cache:
        return cache[event_id]
    try:
        row = events.get(page.ctx, event_id)
        title = (row.title_en or row.title) if page.locale == "en" else row.title
    except NotFound:
        title = page._("Event %(id)s", id=event_id)
    if cache is not None:
        cache[event_id] = title
    return title


def reward_title(page: Page, reward_id: int | None) -> str:
    if reward_id is None:
        return ""
    try:
        return rewards.get(page.ctx, reward_id, active=False).title
    except NotFound:
        return page._("Reward %(id)s", id=reward_id)


def checks_view(page: Page, checks: Sequence[CheckPublic]) -> list[dict[str, str]]:
    return [
        {"label": page._(CHECKS[c.name]) if c.name in CHECKS else c.name, "outcome": c.outcome, "detail": c.detail}
        for c in checks
    ]


def outcome_of(checks: Sequence[CheckPublic]) -> str:
    """The verdict: passed when every check passed, failed when any failed, else unknown."""
    if checks and all(c.outcome == "passed" for c in checks):
        return "passed"
    if any(c.outcome == "failed" for c in checks):
        return "failed"
    return "unknown"


def proof_url(ref: OnChainRefPublic) -> str:
    return f"/v1/proofs/records/{ref.tx_hash}/{ref.log_index}"


def citizen_view(page: Page, address: str) -> dict[str, Any]:
    """A citizen's statement: points, badges, every record with its reference, the checks."""
    answer = citizen_verified(page.ctx, verification.citizen(page.ctx, page.indexer, address))
    titles: dict[int, str] = {}
    records = []
    for line in reversed(answer.records):
        records.append(
            {
                "label": page._(RECORDS.get(line.action, line.action)),
                "action": line.action,
                "delta": line.points_delta,
                "activity_id": line.activity_id,
                "event_id": line.event_id,
                "event_title": event_title(page, line.event_id, titles) if line.event_id is not None else None,
                "reward": reward_title(page, line.reward_id),
                "reason": reason_label(page, line.reason_code) if line.reason_code is not None else "",
                "counterpart": line.counterpart,
                "ref": line.ref,
                "proof": proof_url(line.ref),
            }
        )
    badges = [
        {
            "event_id": b.event_id,
            "title": event_title(page, b.event_id, titles),
            "image": badge_image(b.event_id),
            "link": f"/?event={b.event_id}&address={answer.address}",
            "ref": b.ref,
        }
        for b in answer.badges
    ]
    return {
        "kind": "citizen",
        "answer": answer,
        "records": records,
        "badges": badges,
        "checks": checks_view(page, answer.checks),
        "outcome": outcome_of(answer.checks),
    }


def activity_view(page: Page, activity_id: int) -> dict[str, Any]:
    answer = activity_public(page.ctx, verification.activity(page.ctx, page.indexer, activity_id))
    return {
        "kind": "activity",
        "answer": answer,
        "reason": reason_label(page, answer.reversal_reason_code) if answer.reversal_reason_code is not None else "",
        "checks": checks_view(page, answer.checks),
        "outcome": outcome_of(answer.checks),
        "proof": f"/v1/proofs/activities/{answer.activity_id}",
        "reversal_proof": f"/v1/proofs/activities/{answer.activity_id}/reversal" if answer.reversed else None,
    }


def badge_view(page: Page, event_id: int, address: str) -> dict[str, Any]:
    found = verification.badge(page.ctx, page.indexer, event_id, address)
    record = found.verification
    checks = checks_public(record.checks) if record else []
    ref = ref_public(page.ctx, record.record.ref, record.finality) if record and record.record else None
    outcome = outcome_of(checks) if found.holds_badge else "failed"
    return {
        "kind": "badge",
        "event_id": event_id,
        "address": found.attendee,
        "holds": found.holds_badge,
        "issued": record is not None,
        "title": event_title(page, event_id),
        "image": badge_image(event_id),
        "ref": ref,
        "checks": checks_view(page, checks),
        "outcome": outcome,
        "proof": f"/v1/proofs/badges/{event_id}/{found.attendee}" if record else None,
        "credential": f"/v1/credentials/badges/{event_id}/{found.attendee}" if found.holds_badge else None,
    }


def event_view(page: Page, event_id: int) -> dict[str, Any]:
    row = events.get(page.ctx, event_id)
    return {
        "kind": "event",
        "event": row,
        "title": event_title(page, event_id),
        "description": (row.description_en or row.description) if page.locale == "en" else row.description,
        "image": badge_image(event_id),
        "attendees": page.ctx.ledger.city_event(event_id).attendees,
    }
