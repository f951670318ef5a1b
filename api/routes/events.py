"""City events, badge issuance (JSON or CSV), rotating QR claim codes, and revocation."""

from __future__ import annotations

import csv
import io
import secrets
from datetime import timedelta

from fastapi import APIRouter, Request
from sqlalchemy import select

from ledger import Venue
from ledger.records import checksum

from ..deps import CitizenDep, IssuerDep, SessionDep, StateDep, rate_limited
from ..errors import ApiError
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
from ..security import hash_token
from ..store import Citizen, CityEventRow, ClaimCode, utcnow
from .verify import ref_public

router = APIRouter(prefix="/v1", tags=["events and badges"])

_ADDRESS_LEN = 42


def _event_public(row: CityEventRow, attendees: int) -> EventPublic:
    return EventPublic(
        event_id=row.id,
        title=row.title,
        venue=row.venue,
        claim_start=row.claim_start,
        claim_end=row.claim_end,
        capacity=row.capacity,
        attendees=attendees,
        uri=row.uri,
    )


def _event(session: SessionDep, event_id: int) -> CityEventRow:
    # Ids outside the store's 64-bit column are not events (and would overflow the query).
    row = session.get(CityEventRow, event_id) if 0 < event_id < 2**63 else None
    if row is None:
        raise ApiError(404, "event_not_found", f"no event {event_id}")
    return row


@router.post("/events", response_model=EventPublic, status_code=201)
def create_event(body: EventCreate, state: StateDep, session: SessionDep, _: IssuerDep) -> EventPublic:
    if body.claim_end < body.claim_start:
        raise ApiError(422, "invalid_claim_window", "claim_end must not be before claim_start")
    with state.chain() as ledger:
        event_id, result = ledger.create_event(
            Venue[body.venue.upper()], body.claim_start, body.claim_end, body.capacity, body.uri
        )
    row = CityEventRow(
        id=event_id,
        title=body.title,
        venue=body.venue,
        claim_start=body.claim_start,
        claim_end=body.claim_end,
        capacity=body.capacity,
        uri=body.uri,
        tx_hash=result.tx_hash,
    )
    session.add(row)
    session.commit()
    return _event_public(row, 0)


@router.get("/events", response_model=list[EventPublic])
def list_events(state: StateDep, session: SessionDep) -> list[EventPublic]:
    rows = session.scalars(select(CityEventRow).order_by(CityEventRow.id)).all()
    with state.chain() as ledger:
        counts = {r.id: ledger.city_event(r.id).attendees for r in rows}
    return [_event_public(r, counts[r.id]) for r in rows]


@router.get("/events/{event_id}", response_model=EventPublic)
def read_event(event_id: int, state: StateDep, session: SessionDep) -> EventPublic:
    row = _event(session, event_id)
    with state.chain() as ledger:
        return _event_public(row, ledger.city_event(event_id).attendees)


def _resolve_attendees(session: SessionDep, entries: list[str]) -> list[str]:
    """Addresses for a list of addresses and citizen ids; unknown ids are a 422 naming them."""
    addresses, unknown = [], []
    for entry in (e.strip() for e in entries):
        if entry.startswith("0x") and len(entry) == _ADDRESS_LEN:
            addresses.append(entry)
            continue
        citizen = session.get(Citizen, entry)
        if citizen is None:
            unknown.append(entry)
        else:
            addresses.append(citizen.address)
    if unknown:
        raise ApiError(422, "unknown_attendees", f"not an address or citizen id: {', '.join(unknown[:10])}")
    return addresses


async def _attendee_entries(request: Request) -> list[str]:
    """Attendees from a JSON body ({"attendees": [...]}) or a CSV upload with an
    ``address`` or ``citizen_id`` column."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip()
    raw = await request.body()
    if content_type == "text/csv":
        try:
            reader = csv.DictReader(io.StringIO(raw.decode("utf-8-sig")))
            column = next((c for c in ("address", "citizen_id") if c in (reader.fieldnames or [])), None)
            if column is None:
                raise ApiError(422, "invalid_csv", "the CSV needs an 'address' or 'citizen_id' column")
            entries = [row[column] for row in reader if row.get(column)]
        except UnicodeDecodeError as exc:
            raise ApiError(422, "invalid_csv", "the CSV must be UTF-8") from exc
        if not entries:
            raise ApiError(422, "invalid_csv", "the CSV lists no attendees")
        return entries
    try:
        return BadgeIssue.model_validate_json(raw).attendees
    except ValueError as exc:
        raise ApiError(422, "invalid_request", f"expected {{'attendees': [...]}} or text/csv: {exc}") from exc


@router.post(
    "/events/{event_id}/badges",
    response_model=BadgeIssueResult,
    openapi_extra={
        "requestBody": {
            "content": {
                "application/json": {"schema": BadgeIssue.model_json_schema()},
                "text/csv": {"schema": {"type": "string"}},
            }
        }
    },
)
async def issue_badges(
    event_id: int,
    request: Request,
    state: StateDep,
    session: SessionDep,
    _: IssuerDep,
) -> BadgeIssueResult:
    _event(session, event_id)
    addresses = _resolve_attendees(session, await _attendee_entries(request))
    addresses = [checksum(a, "attendee") for a in addresses]
    with state.chain() as ledger:
        # Long lists go out in several transactions: refuse up front what a later one would
        # refuse, so that issuance stays all or none.
        held = ledger.badges.functions.balanceOfBatch(addresses, [event_id] * len(addresses)).call()
        holders = [a for a, count in zip(addresses, held, strict=True) if count]
        if holders:
            raise ApiError(409, "already_has_badge", f"already holding this event's badge: {', '.join(holders[:10])}")
        event = ledger.city_event(event_id)
        if event.capacity and event.attendees + len(addresses) > event.capacity:
            raise ApiError(
                409, "event_full", f"the event has {event.capacity - event.attendees} places left, not {len(addresses)}"
            )
        results = ledger.issue_badges(event_id, addresses)
    return BadgeIssueResult(event_id=event_id, issued=len(addresses), transactions=[r.tx_hash for r in results])


@router.post("/events/{event_id}/badges/{address}/revoke", response_model=BadgeIssueResult)
def revoke_badge(
    event_id: int,
    address: str,
    body: BadgeRevoke,
    state: StateDep,
    session: SessionDep,
    _: IssuerDep,
) -> BadgeIssueResult:
    _event(session, event_id)
    with state.chain() as ledger:
        result = ledger.revoke_badge(event_id, address, body.reason_code)
    return BadgeIssueResult(event_id=event_id, issued=0, transactions=[result.tx_hash])


@router.post("/events/{event_id}/claim-codes", response_model=ClaimCodePublic, status_code=201)
def create_claim_code(event_id: int, state: StateDep, session: SessionDep, _: IssuerDep) -> ClaimCodePublic:
    """A short-lived code (128 bits) to show as a QR code at the venue; a new one each rotation."""
    _event(session, event_id)
    code = secrets.token_urlsafe(16)
    expires = utcnow() + timedelta(seconds=state.settings.claim_code_ttl_seconds)
    session.add(ClaimCode(code_hash=hash_token(code), event_id=event_id, expires_at=expires))
    session.commit()
    return ClaimCodePublic(
        event_id=event_id, code=code, expires_at=expires, claim_url=f"{state.settings.siwe_uri}/claim?code={code}"
    )


@router.post("/badges/claim", response_model=BadgePublic, status_code=201, dependencies=[rate_limited("claims")])
def claim_badge(body: BadgeClaim, citizen: CitizenDep, state: StateDep, session: SessionDep) -> BadgePublic:
    """Claims the badge of the event whose code the citizen scanned. The city signs a voucher
    for the citizen's address and relays it, paying the gas."""
    row = session.get(ClaimCode, hash_token(body.code))
    if row is None:
        raise ApiError(404, "claim_code_unknown", "this claim code is not valid")
    if row.expires_at <= utcnow():
        raise ApiError(410, "claim_code_expired", "this claim code has expired; scan the current one")
    with state.chain() as ledger:
        voucher = ledger.sign_voucher(row.event_id, citizen.address)
        ledger.claim_badge(voucher)
        badge = next(b for b in ledger.badges_of(citizen.address) if b.event_id == row.event_id)
    return BadgePublic(event_id=badge.event_id, attendee=badge.attendee, ref=ref_public(badge.ref))
