"""City events and their badges: creation (once, by client reference), issuance in resumable
chunks, claim codes (rotating; single-use at a kiosk), claims at the venue, revocation and the
explicit re-issue of a revoked badge."""

from __future__ import annotations

import csv
import io
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from ledger import BadgeIssued, Venue, checksum
from ledger.commitments import keccak_hex
from ledger.errors import InvalidInput

from ..store import Citizen, CityEventRow, ClaimCode, utcnow
from .context import Context
from .errors import Conflict, Gone, Invalid, NotFound
from .intents import IntentView, handler, outcome, send_once, sent_result, submit
from .security import hash_token

__all__ = [
    "CodeIssued",
    "EventDraft",
    "attendees_from_csv",
    "claim_badge",
    "create",
    "get",
    "issue",
    "list_events",
    "new_claim_code",
    "reissue",
    "revoke",
]


@dataclass(frozen=True)
class EventDraft:
    title: str
    venue: str
    claim_start: int
    claim_end: int
    capacity: int
    description: str = ""
    title_en: str | None = None
    description_en: str | None = None


@dataclass(frozen=True)
class CodeIssued:
    event_id: int
    code: str
    expires_at: datetime
    claim_url: str
    single_use: bool


def get(ctx: Context, event_id: int) -> CityEventRow:
    with ctx.store.session() as session:
        row = session.get(CityEventRow, event_id) if 0 < event_id < 2**63 else None
    if row is None:
        raise NotFound("event_not_found", f"no event {event_id}")
    return row


def list_events(ctx: Context) -> list[CityEventRow]:
    with ctx.store.session() as session:
        return list(session.scalars(select(CityEventRow).order_by(CityEventRow.id)))


def attendee_counts(ctx: Context, rows: list[CityEventRow]) -> dict[int, int]:
    return {row.id: ctx.ledger.city_event(row.id).attendees for row in rows}


def create(ctx: Context, draft: EventDraft, *, principal: str | None, key: str | None) -> CityEventRow:
    """Creates the event on-chain under a client reference (derived from the Idempotency-Key
    when there is one), so that a retry, or a restart after a crash, finds the event the first
    attempt created instead of creating a second."""
    if draft.claim_end < draft.claim_start:
        raise Invalid("invalid_claim_window", "claim_end must not be before claim_start")
    if draft.claim_end < ctx.ledger.chain_time():
        raise Invalid("claim_window_over", "the claim window has already ended")
    reference = keccak_hex(f"{principal}:{key}".encode()) if key else "0x" + secrets.token_hex(32)
    payload = {
        "title": draft.title,
        "title_en": draft.title_en,
        "description": draft.description,
        "description_en": draft.description_en,
        "venue": draft.venue,
        "claim_start": draft.claim_start,
        "claim_end": draft.claim_end,
        "capacity": draft.capacity,
        "client_ref": reference,
    }
    intent = submit(ctx, "create_event", payload, principal=principal, key=key)
    return get(ctx, int(outcome(ctx, intent)["event_id"]))


@handler("create_event")
def _create_event(ctx: Context, intent: IntentView) -> dict[str, Any]:
    p = intent.payload
    reference = bytes.fromhex(p["client_ref"][2:])
    event_id = ctx.ledger.event_id_for(reference)
    tx_hash = ""
    if event_id is None:

        def send(label: str) -> Any:
            return ctx.ledger.create_event(
                Venue[p["venue"].upper()], p["claim_start"], p["claim_end"], p["capacity"], reference, intent=label
            )[1]

        result = send_once(ctx, intent.id, send)
        tx_hash = result.tx_hash
        event_id = ctx.ledger.event_id_for(reference)
        assert event_id is not None
    with ctx.store.session() as session:
        if session.get(CityEventRow, event_id) is None:
            session.add(
                CityEventRow(
                    id=event_id,
                    title=p["title"],
                    title_en=p.get("title_en"),
                    description=p.get("description") or "",
                    description_en=p.get("description_en"),
                    venue=p["venue"],
                    claim_start=p["claim_start"],
                    claim_end=p["claim_end"],
                    capacity=p["capacity"],
                    client_ref=p["client_ref"],
                    tx_hash=tx_hash,
                )
            )
            session.commit()
    return {"event_id": event_id}


# ---------------------------------------------------------------------- issuance


def attendees_from_csv(raw: bytes, max_rows: int) -> list[str]:
    """Attendees from a CSV file as a person saves it: UTF-8 (with or without BOM) or Korean
    Excel's CP949/EUC-KR, comma or semicolon separated, an ``address`` or ``citizen_id`` column
    matched whatever its case."""
    text = None
    for encoding in ("utf-8-sig", "cp949"):
        try:
            text = raw.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    if text is None:
        raise Invalid("invalid_csv", "the CSV must be UTF-8 or CP949 (EUC-KR) text")
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    csv.field_size_limit(4096)
    try:
        reader = csv.reader(io.StringIO(text), dialect)
        header = [h.strip().lower() for h in next(reader, [])]
        column = next((header.index(c) for c in ("address", "citizen_id") if c in header), None)
        if column is None:
            raise Invalid("invalid_csv", "the CSV needs an 'address' or 'citizen_id' column")
        entries: list[str] = []
        for line_no, row in enumerate(reader, start=2):
            if len(entries) >= max_rows:
                raise Invalid("csv_too_long", f"the CSV lists more than {max_rows} attendees: split it")
            if column < len(row) and row[column].strip():
                entries.append(row[column].strip())
            elif any(cell.strip() for cell in row):
                raise Invalid("invalid_csv", f"line {line_no} has no {header[column]}")
    except csv.Error as exc:
        raise Invalid("invalid_csv", f"the CSV cannot be read: {exc}") from exc
    if not entries:
        raise Invalid("invalid_csv", "the CSV lists no attendees")
    return entries


def resolve_attendees(ctx: Context, entries: list[str]) -> list[str]:
    """Addresses for a list of addresses and citizen ids; unknown ids are an error naming them."""
    addresses: list[str] = []
    unknown: list[str] = []
    ids = [e for e in entries if not (e.startswith("0x") and len(e) == 42)]
    with ctx.store.session() as session:
        known = {c.id: c.address for c in session.scalars(select(Citizen).where(Citizen.id.in_(ids)))} if ids else {}
    for entry in entries:
        if entry.startswith("0x") and len(entry) == 42:
            try:
                address = checksum(entry, "attendee")
            except InvalidInput as exc:
                raise Invalid("invalid_attendee", str(exc)) from exc
            if int(address, 16) == 0:
                raise Invalid("invalid_attendee", "the zero address cannot hold a badge")
            addresses.append(address)
        elif entry in known:
            addresses.append(known[entry])
        else:
            unknown.append(entry)
    if unknown:
        raise Invalid("unknown_attendees", f"not an address or citizen id: {', '.join(unknown[:10])}")
    seen: set[str] = set()
    return [a for a in addresses if not (a in seen or seen.add(a))]  # type: ignore[func-returns-value]


def issue(ctx: Context, event_id: int, entries: list[str], *, principal: str | None, key: str | None) -> dict[str, Any]:
    """Issues the event's badge to every attendee who does not hold it yet; those who do are
    skipped and reported, as are those whose badge was revoked (re-issuing is explicit). Long
    lists go out in chunks, each recorded under the intent, so a retry or restart resumes."""
    event = get(ctx, event_id)
    addresses = resolve_attendees(ctx, entries)
    if not addresses:
        raise Invalid("no_attendees", "no attendees given")
    intent = submit(ctx, "issue_badges", {"event_id": event.id, "attendees": addresses}, principal=principal, key=key)
    return outcome(ctx, intent)


@handler("issue_badges")
def _issue_badges(ctx: Context, intent: IntentView) -> dict[str, Any]:
    event_id, attendees = int(intent.payload["event_id"]), list(intent.payload["attendees"])
    size = max(1, min(ctx.settings.award_batch_size, ctx.ledger.max_batch()))
    issued: list[str] = list(intent.progress.get("issued", []))
    transactions: list[str] = list(intent.progress.get("transactions", []))
    skipped: dict[str, list[str]] = intent.progress.get("skipped") or {"already_held": [], "revoked": []}
    chunk_no = int(intent.progress.get("chunks", 0))
    # Chunks a crash interrupted after sending: their receipts say who got a badge.
    for n in range(chunk_no):
        result = sent_result(ctx, f"{intent.id}:{n}")
        if result is not None and result.tx_hash not in transactions:
            transactions.append(result.tx_hash)
            issued += [r.attendee for r in result.records if isinstance(r, BadgeIssued)]
    if "skipped" not in intent.progress:
        holdings = ctx.ledger.badge_holdings(event_id, attendees)
        skipped["already_held"] = [a for a in attendees if holdings[a]]
        skipped["revoked"] = [a for a in attendees if not holdings[a] and ctx.ledger.is_badge_revoked(event_id, a)]
        intent.save(ctx, skipped=skipped)
    done = set(issued) | set(skipped["already_held"]) | set(skipped["revoked"])
    remaining = [a for a in attendees if a not in done]
    event = ctx.ledger.city_event(event_id)
    if event.capacity and event.attendees + len(remaining) > event.capacity:
        raise Conflict(
            "event_full", f"the event has {event.capacity - event.attendees} places left, not {len(remaining)}"
        )
    for start in range(0, len(remaining), size):
        chunk = remaining[start : start + size]
        label = f"{intent.id}:{chunk_no}"
        intent.save(ctx, chunks=chunk_no + 1)

        def send(label: str, chunk: list[str] = chunk) -> Any:
            return ctx.ledger.issue_badges(event_id, chunk, chunk_size=len(chunk), intent=label)[0]

        result = send_once(ctx, label, send)
        transactions.append(result.tx_hash)
        issued += [r.attendee for r in result.records if isinstance(r, BadgeIssued)]
        chunk_no += 1
        intent.save(ctx, issued=issued, transactions=transactions)
    return {
        "event_id": event_id,
        "issued": len(issued),
        "transactions": transactions,
        "skipped": skipped,
    }


def revoke(
    ctx: Context, event_id: int, address: str, reason_code: int, *, principal: str | None, key: str | None
) -> dict[str, Any]:
    """Revokes a badge with a reason code; the revocation is remembered on-chain."""
    return _badge_act(ctx, "revoke_badge", event_id, address, reason_code, principal, key)


def reissue(
    ctx: Context, event_id: int, address: str, reason_code: int, *, principal: str | None, key: str | None
) -> dict[str, Any]:
    """Issues a revoked badge again: an explicit act with a reason code."""
    return _badge_act(ctx, "reissue_badge", event_id, address, reason_code, principal, key)


def _badge_act(
    ctx: Context, kind: str, event_id: int, address: str, reason_code: int, principal: str | None, key: str | None
) -> dict[str, Any]:
    get(ctx, event_id)
    try:
        attendee = checksum(address, "attendee")
    except InvalidInput as exc:
        raise Invalid("invalid_attendee", str(exc)) from exc
    payload = {"event_id": event_id, "attendee": attendee, "reason_code": reason_code}
    return outcome(ctx, submit(ctx, kind, payload, principal=principal, key=key))


@handler("revoke_badge")
@handler("reissue_badge")
def _revoke_or_reissue(ctx: Context, intent: IntentView) -> dict[str, Any]:
    p = intent.payload
    act = ctx.ledger.revoke_badge if intent.kind == "revoke_badge" else ctx.ledger.reissue_badge
    result = send_once(ctx, intent.id, lambda label: act(p["event_id"], p["attendee"], p["reason_code"], intent=label))
    issued = 1 if intent.kind == "reissue_badge" else 0
    return {"event_id": p["event_id"], "issued": issued, "transactions": [result.tx_hash]}


# ---------------------------------------------------------------------- claim codes and claims


def new_claim_code(ctx: Context, event_id: int, *, single_use: bool) -> CodeIssued:
    """A code to show at the venue (as a QR code of its claim link). Staff's codes rotate every
    ``claim_code_ttl_seconds``; a kiosk's are single-use and rotate faster, so a photo of the
    screen passed around mints nothing."""
    event = get(ctx, event_id)
    now = ctx.ledger.chain_time()
    if now > event.claim_end:
        raise Conflict("claim_window_closed", "the event's claim window is closed: no more codes")
    code = secrets.token_urlsafe(16)
    ttl = ctx.settings.kiosk_code_ttl_seconds if single_use else ctx.settings.claim_code_ttl_seconds
    expires = utcnow() + timedelta(seconds=ttl)
    with ctx.store.session() as session:
        session.add(ClaimCode(code_hash=hash_token(code), event_id=event_id, expires_at=expires, single_use=single_use))
        session.commit()
    url = f"{ctx.settings.public_base_url.rstrip('/')}/claim?code={code}"
    return CodeIssued(event_id, code, expires, url, single_use)


def claim_badge(ctx: Context, citizen: Citizen, code: str, *, principal: str | None, key: str | None) -> dict[str, Any]:
    """Claims the badge of the event whose code the citizen scanned. The city signs a voucher
    for the citizen's address and relays it, paying the gas."""
    now = utcnow()
    with ctx.store.session() as session:
        row = session.get(ClaimCode, hash_token(code))
        if row is None:
            raise NotFound("claim_code_unknown", "this claim code is not valid")
        if row.used_by == citizen.id:
            event_id = row.event_id  # this citizen's own retry of a single-use code
        else:
            if row.expires_at <= now:
                raise Gone("claim_code_expired", "this claim code has expired; scan the current one")
            if row.single_use:
                taken = session.execute(
                    update(ClaimCode)
                    .where(ClaimCode.code_hash == row.code_hash, ClaimCode.used_at.is_(None))
                    .values(used_at=now, used_by=citizen.id)
                )
                if taken.rowcount != 1:  # type: ignore[attr-defined]
                    raise Gone("claim_code_used", "this code was used already; scan the code on the screen now")
                session.commit()
            event_id = row.event_id
    event = get(ctx, event_id)
    chain_now = ctx.ledger.chain_time()
    if not event.claim_start <= chain_now <= event.claim_end:
        raise Conflict("claim_window_closed", "the event's claim window is not open")
    if ctx.ledger.is_badge_revoked(event_id, citizen.address):
        raise Conflict("badge_was_revoked", "your badge for this event was revoked; ask the organisers")
    payload = {"event_id": event_id, "citizen_id": citizen.id, "attendee": citizen.address}
    intent = submit(ctx, "claim_badge", payload, principal=principal, key=key)
    return outcome(ctx, intent)


@handler("claim_badge")
def _claim(ctx: Context, intent: IntentView) -> dict[str, Any]:
    p = intent.payload
    event_id, attendee = int(p["event_id"]), str(p["attendee"])

    def send(label: str) -> Any:
        return ctx.ledger.claim_badge(ctx.ledger.sign_voucher(event_id, attendee), intent=label)

    result = send_once(ctx, intent.id, send)
    record = next(r for r in result.records if isinstance(r, BadgeIssued))
    return {"event_id": event_id, "attendee": attendee, "ref": _ref(record)}


def _ref(record: BadgeIssued) -> dict[str, Any]:
    ref = record.ref
    return {
        "chain_id": ref.chain_id,
        "contract": ref.contract,
        "tx_hash": ref.tx_hash,
        "block_number": ref.block_number,
        "block_hash": ref.block_hash,
        "log_index": ref.log_index,
    }
