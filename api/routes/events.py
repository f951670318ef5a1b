"""City events, badge issuance (JSON, CSV or a form upload), claim codes, claims, revocation."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request

from ..deps import CitizenDep, CtxDep, IssuerDep, KeyDep, rate_limited
from ..presenters import event_public, ref_public
from ..schemas import (
    BadgeClaim,
    BadgeIssue,
    BadgeIssueResult,
    BadgePublic,
    BadgeRevoke,
    ClaimCodePublic,
    EventCreate,
    EventPublic,
)
from ..services import events
from ..services.errors import Invalid
from ..services.events import EventDraft

router = APIRouter(tags=["events and badges"])

EventIdPath = Annotated[int, Path(ge=1, le=2**63 - 1)]


def _seconds(value: datetime | int) -> int:
    return int(value.timestamp()) if isinstance(value, datetime) else int(value)


def event_draft(body: EventCreate) -> EventDraft:
    """The service's draft of an event from the API's (or the staff page's) checked form."""
    return EventDraft(
        title=body.title,
        title_en=body.title_en,
        description=body.description,
        description_en=body.description_en,
        venue=body.venue,
        claim_start=_seconds(body.claim_start),
        claim_end=_seconds(body.claim_end),
        capacity=body.capacity,
    )


@router.post("/events", response_model=EventPublic, status_code=201)
def create_event(body: EventCreate, ctx: CtxDep, _: IssuerDep, keyed: KeyDep) -> EventPublic:
    """Registers an event on-chain. Times are ISO 8601 with a time zone (or Unix seconds). With
    an Idempotency-Key, a retry finds the event the first attempt created."""
    row = events.create(ctx, event_draft(body), principal=keyed.principal, key=keyed.key)
    return event_public(ctx, row, 0, ctx.ledger.chain_time())


@router.get("/events", response_model=list[EventPublic])
def list_events(ctx: CtxDep) -> list[EventPublic]:
    rows = events.list_events(ctx)
    counts, now = events.attendee_counts(ctx, rows), ctx.ledger.chain_time()
    return [event_public(ctx, r, counts[r.id], now) for r in rows]


@router.get("/events/{event_id}", response_model=EventPublic)
def read_event(event_id: EventIdPath, ctx: CtxDep) -> EventPublic:
    row = events.get(ctx, event_id)
    return event_public(ctx, row, ctx.ledger.city_event(event_id).attendees, ctx.ledger.chain_time())


async def _attendee_entries(request: Request, max_rows: int) -> list[str]:
    """Attendees from a JSON body ({"attendees": [...]}), a CSV body, or a form upload of a
    CSV file (what a browser form sends)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        form = await request.form()
        upload: Any = form.get("file")
        if upload is None or isinstance(upload, str):
            raise Invalid("invalid_csv", "send the CSV file in a form field named 'file'")
        return events.attendees_from_csv(await upload.read(), max_rows)
    raw = await request.body()
    if content_type == "text/csv":
        return events.attendees_from_csv(raw, max_rows)
    try:
        return BadgeIssue.model_validate_json(raw).attendees
    except ValueError as exc:
        raise Invalid("invalid_request", f"expected {{'attendees': [...]}}, text/csv or a form upload: {exc}") from exc


@router.post(
    "/events/{event_id}/badges",
    response_model=BadgeIssueResult,
    openapi_extra={
        "requestBody": {
            "content": {
                "application/json": {"schema": BadgeIssue.model_json_schema()},
                "text/csv": {"schema": {"type": "string"}},
                "multipart/form-data": {
                    "schema": {"type": "object", "properties": {"file": {"type": "string", "format": "binary"}}}
                },
            }
        }
    },
)
async def issue_badges(
    event_id: EventIdPath, request: Request, ctx: CtxDep, _: IssuerDep, keyed: KeyDep
) -> BadgeIssueResult:
    """Issues the event's badge. Attendees who hold it already are skipped and reported, as
    are those whose badge was revoked (re-issue them explicitly); a CSV needs an ``address`` or
    ``citizen_id`` column (any case) and may be UTF-8 or Korean Excel's CP949."""
    from starlette.concurrency import run_in_threadpool

    entries = await _attendee_entries(request, ctx.settings.max_csv_rows)
    answer = await run_in_threadpool(events.issue, ctx, event_id, entries, principal=keyed.principal, key=keyed.key)
    return BadgeIssueResult(**answer)


@router.post("/events/{event_id}/badges/{address}/revoke", response_model=BadgeIssueResult)
def revoke_badge(
    event_id: EventIdPath, address: str, body: BadgeRevoke, ctx: CtxDep, _: IssuerDep, keyed: KeyDep
) -> BadgeIssueResult:
    """Revokes a badge with a reason code. The revocation is remembered: the attendee cannot
    claim it back; only ``.../reissue`` gives it back."""
    return BadgeIssueResult(
        **events.revoke(ctx, event_id, address, body.reason_code, principal=keyed.principal, key=keyed.key)
    )


@router.post("/events/{event_id}/badges/{address}/reissue", response_model=BadgeIssueResult)
def reissue_badge(
    event_id: EventIdPath, address: str, body: BadgeRevoke, ctx: CtxDep, _: IssuerDep, keyed: KeyDep
) -> BadgeIssueResult:
    """Issues a revoked badge again: an explicit act with a reason code."""
    return BadgeIssueResult(
        **events.reissue(ctx, event_id, address, body.reason_code, principal=keyed.principal, key=keyed.key)
    )


@router.post("/events/{event_id}/claim-codes", response_model=ClaimCodePublic, status_code=201)
def create_claim_code(
    event_id: EventIdPath, ctx: CtxDep, _: IssuerDep, kiosk: Annotated[bool, Query()] = False
) -> ClaimCodePublic:
    """A code (128 bits) to show as a QR code at the venue. ``kiosk=true``: single-use and
    short-lived, for a screen that shows a new one every few seconds."""
    code = events.new_claim_code(ctx, event_id, single_use=kiosk)
    return ClaimCodePublic(
        event_id=code.event_id,
        code=code.code,
        expires_at=code.expires_at,
        claim_url=code.claim_url,
        single_use=code.single_use,
    )


@router.post("/badges/claim", response_model=BadgePublic, status_code=201, dependencies=[rate_limited("claims")])
def claim_badge(body: BadgeClaim, citizen: CitizenDep, ctx: CtxDep, keyed: KeyDep) -> BadgePublic:
    """Claims the badge of the event whose code the citizen scanned. The city signs a voucher
    for the citizen's address and relays it, paying the gas."""
    answer = events.claim_badge(ctx, citizen, body.code, principal=keyed.principal, key=keyed.key)
    return BadgePublic(event_id=answer["event_id"], attendee=answer["attendee"], ref=ref_public(ctx, answer["ref"]))
