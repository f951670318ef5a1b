"""Activity claims: points from the city's rules, plausibility holds, and batched awards."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ledger import ActivityAward, Ledger, Metrics
from ledger.errors import AwardTooLarge, DailyCapExceeded, DuplicateActivity, UnknownActivityKind, ZeroPointsAward
from ledger.rules import PointsRules

from .errors import ApiError
from .schemas import ClaimCreate, StaffAwardCreate
from .security import keccak_hex
from .store import ActivityClaim, Citizen, ClaimStatus, EvidenceUse, utcnow

__all__ = ["award_approved", "evidence_commitment", "hold_reasons", "submit_claim"]


def evidence_commitment(*hashes: str, salt: str) -> str:
    """What goes on-chain for an award's evidence (a claim's photo and track hashes, or a staff
    award's one hash): a salted hash, so it cannot be linked back to the evidence without the
    salt kept (and erasable) off-chain."""
    return keccak_hex(bytes.fromhex(salt[2:]) + b"".join(bytes.fromhex(h[2:]) for h in hashes))


def hold_reasons(
    session: Session, citizen: Citizen, claim: ClaimCreate, points: int, max_speed_kmh: float, daily_cap: int
) -> list[str]:
    """Why a claim looks implausible and needs a reviewer; empty when it does not."""
    reasons = []
    elapsed = (claim.ended_at - claim.started_at).total_seconds()
    if claim.duration_seconds > elapsed + 60:
        reasons.append("duration is longer than the time between start and end")
    if claim.duration_seconds > 0 and claim.distance_meters / claim.duration_seconds * 3.6 > max_speed_kmh:
        reasons.append(f"average speed above {max_speed_kmh:g} km/h")
    if claim.duration_seconds == 0 and claim.distance_meters > 0:
        reasons.append("distance with no duration")
    overlapping = session.scalar(
        select(func.count(ActivityClaim.id)).where(
            ActivityClaim.citizen_id == citizen.id,
            ActivityClaim.status != ClaimStatus.REJECTED,
            ActivityClaim.started_at < claim.ended_at,
            ActivityClaim.ended_at > claim.started_at,
        )
    )
    if overlapping:
        reasons.append("overlaps another outing")
    day_start = claim.started_at.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    today = session.scalar(
        select(func.coalesce(func.sum(ActivityClaim.points), 0)).where(
            ActivityClaim.citizen_id == citizen.id,
            ActivityClaim.status != ClaimStatus.REJECTED,
            ActivityClaim.started_at >= day_start,
            ActivityClaim.started_at < day_start + timedelta(days=1),
        )
    )
    if int(today or 0) + points > daily_cap:
        reasons.append(f"over the daily cap of {daily_cap} points")
    return reasons


def submit_claim(
    session: Session,
    citizen: Citizen,
    claim: ClaimCreate,
    rules: PointsRules,
    *,
    auto_approve: bool,
    max_speed_kmh: float,
    daily_cap: int,
    now: datetime,
) -> ActivityClaim:
    if claim.started_at.tzinfo is None or claim.ended_at.tzinfo is None:
        raise ApiError(422, "invalid_time", "started_at and ended_at must carry a time zone")
    if claim.ended_at <= claim.started_at:
        raise ApiError(422, "invalid_time", "ended_at must be after started_at")
    if claim.ended_at > now + timedelta(minutes=5):
        raise ApiError(422, "invalid_time", "the outing cannot end in the future")
    if claim.started_at.year < 2000:
        raise ApiError(422, "invalid_time", "started_at is before the year 2000")
    if claim.photo_hash.lower() == claim.track_hash.lower():
        raise ApiError(422, "invalid_evidence", "photo_hash and track_hash must differ")
    used = session.scalars(
        select(EvidenceUse.evidence_hash).where(
            EvidenceUse.evidence_hash.in_([claim.photo_hash.lower(), claim.track_hash.lower()])
        )
    ).all()
    if used:
        earlier = _same_claim(session, citizen, claim)
        if earlier is not None:
            return earlier  # a retry of a claim already recorded: the same claim, not a second one
        raise ApiError(409, "evidence_already_used", "this evidence already backs another claim")
    metrics = Metrics(claim.distance_meters, claim.duration_seconds, claim.litter_grams, claim.steps)
    points = rules.points_for(metrics)
    reasons = hold_reasons(session, citizen, claim, points, max_speed_kmh, daily_cap)
    status = ClaimStatus.APPROVED if auto_approve and not reasons else ClaimStatus.HELD
    if not auto_approve and not reasons:
        reasons = ["the city reviews every claim"]
    salt = "0x" + secrets.token_hex(32)
    row = ActivityClaim(
        citizen_id=citizen.id,
        started_at=claim.started_at,
        ended_at=claim.ended_at,
        distance_meters=claim.distance_meters,
        duration_seconds=claim.duration_seconds,
        steps=claim.steps,
        litter_grams=claim.litter_grams,
        photo_hash=claim.photo_hash.lower(),
        track_hash=claim.track_hash.lower(),
        evidence_salt=salt,
        evidence_commitment=evidence_commitment(claim.photo_hash.lower(), claim.track_hash.lower(), salt=salt),
        points=points,
        status=status,
        hold_reasons="\n".join(reasons),
    )
    session.add(row)
    session.flush()
    session.add_all(
        [
            EvidenceUse(evidence_hash=row.photo_hash, claim_id=row.id),
            EvidenceUse(evidence_hash=row.track_hash, claim_id=row.id),
        ]
    )
    try:
        session.commit()
    except IntegrityError as exc:
        # A concurrent claim recorded the same evidence after the check above.
        session.rollback()
        raise ApiError(409, "evidence_already_used", "this evidence already backs another claim") from exc
    return row


def _same_claim(session: Session, citizen: Citizen, claim: ClaimCreate) -> ActivityClaim | None:
    """The citizen's recorded claim with exactly this outing and evidence, if there is one."""
    row = session.scalar(
        select(ActivityClaim).where(
            ActivityClaim.citizen_id == citizen.id,
            ActivityClaim.photo_hash == claim.photo_hash.lower(),
            ActivityClaim.track_hash == claim.track_hash.lower(),
        )
    )
    if row is None:
        return None
    same = (
        row.started_at == claim.started_at
        and row.ended_at == claim.ended_at
        and (row.distance_meters, row.duration_seconds, row.steps, row.litter_grams)
        == (claim.distance_meters, claim.duration_seconds, claim.steps, claim.litter_grams)
    )
    return row if same else None


def record_staff_award(session: Session, citizen: Citizen, body: StaffAwardCreate, staff: str) -> ActivityClaim:
    """Stores a staff award as approved, before anything is sent: a crash leaves it for the
    next batch, never lost."""
    now = utcnow()
    salt = "0x" + secrets.token_hex(32)
    evidence = body.evidence_hash or keccak_hex(body.reference.encode())
    row = ActivityClaim(
        citizen_id=citizen.id,
        kind=body.kind,
        source="staff",
        note=body.note,
        reference=body.reference,
        started_at=now,
        ended_at=now,
        distance_meters=0,
        duration_seconds=0,
        steps=0,
        litter_grams=0,
        evidence_salt=salt,
        evidence_commitment=evidence_commitment(evidence, salt=salt),
        points=body.points,
        status=ClaimStatus.APPROVED,
        hold_reasons=f"awarded by {staff}",
    )
    session.add(row)
    try:
        session.commit()
    except IntegrityError as exc:
        session.rollback()
        raise ApiError(409, "reference_in_use", "an award with this reference is being recorded") from exc
    return row


def _award(row: ActivityClaim, address: str) -> ActivityAward:
    """The on-chain award for a stored claim: its id, points, metrics and evidence commitment."""
    return ActivityAward(
        row.id,
        address,
        row.points,
        row.kind,
        Metrics(row.distance_meters, row.duration_seconds, row.litter_grams, row.steps),
        bytes.fromhex(row.evidence_commitment[2:]),
    )


def award_one(session: Session, ledger: Ledger, row: ActivityClaim) -> None:
    """Awards one approved row in a transaction of its own (staff awards)."""
    citizen = session.get(Citizen, row.citizen_id)
    assert citizen is not None
    if ledger.activity_status(row.id)[0]:
        _mark_awarded_from_chain(ledger, row, citizen.address)
    else:
        try:
            result = ledger.award_points(_award(row, citizen.address))
        except DuplicateActivity:
            # The award was already sent (re-sent from the outbox after a crash): read it back.
            _mark_awarded_from_chain(ledger, row, citizen.address)
            session.commit()
            return
        row.status, row.tx_hash, row.block_number = ClaimStatus.AWARDED, result.tx_hash, result.block_number
    session.commit()


def award_approved(session: Session, ledger: Ledger, batch_size: int) -> tuple[int, list[str]]:
    """Awards approved claims on-chain, oldest first, ``batch_size`` per transaction.

    Safe to repeat after a crash: the contract refuses an activity id twice, so a batch that
    was mined before the store recorded it is reconciled from the chain instead of re-sent.
    """
    awarded = 0
    transactions: list[str] = []
    while True:
        rows = session.scalars(
            select(ActivityClaim)
            .where(ActivityClaim.status == ClaimStatus.APPROVED)
            .order_by(ActivityClaim.id)
            .limit(batch_size)
        ).all()
        if not rows:
            return awarded, transactions
        citizens = {
            c.id: c.address
            for c in session.scalars(select(Citizen).where(Citizen.id.in_({r.citizen_id for r in rows})))
        }
        pending = [r for r in rows if not ledger.activity_status(r.id)[0]]
        for row in rows:
            if row not in pending:
                _mark_awarded_from_chain(ledger, row, citizens[row.citizen_id])
        if pending:
            awards = [_award(r, citizens[r.citizen_id]) for r in pending]
            try:
                (result,) = ledger.award_points_batch(awards, chunk_size=len(awards))
            except DuplicateActivity:
                session.rollback()
                continue  # another worker got there first: reconcile on the next pass
            except DailyCapExceeded as exc:
                # The contract caps awards per chain day, the service per outing day: hold what
                # does not fit instead of failing the whole batch, for every citizen, every time.
                _hold_over_daily_cap(ledger, pending, citizens, str(exc.values["citizen"]), exc)
                session.commit()
                continue
            except (AwardTooLarge, UnknownActivityKind, ZeroPointsAward) as exc:
                refused = next((r for r in pending if r.id == exc.values.get("activity_id")), None)
                if refused is None:
                    raise
                _hold(refused, f"the contract refused the award: {exc}")
                session.commit()
                continue
            for r in pending:
                r.status, r.tx_hash, r.block_number = ClaimStatus.AWARDED, result.tx_hash, result.block_number
            transactions.append(result.tx_hash)
            awarded += len(pending)
        session.commit()


def _hold(row: ActivityClaim, reason: str) -> None:
    row.status = ClaimStatus.HELD
    row.hold_reasons = "\n".join(r for r in (row.hold_reasons, reason) if r)


def _hold_over_daily_cap(
    ledger: Ledger, rows: list[ActivityClaim], citizens: dict[str, str], citizen: str, exc: DailyCapExceeded
) -> None:
    """Holds, in batch order, the claims of ``citizen`` that would take them past today's cap on-chain."""
    _, cap = ledger.limits()
    so_far = int(ledger.points.functions.awardedToday(citizen).call())
    held = False
    for row in rows:
        if citizens[row.citizen_id].lower() != citizen.lower():
            continue
        if so_far + row.points > cap:
            _hold(row, f"over the on-chain daily cap of {cap} points: approve it again on another day")
            held = True
        else:
            so_far += row.points
    if not held:
        raise exc


def _mark_awarded_from_chain(ledger: Ledger, row: ActivityClaim, address: str) -> None:
    record = ledger.activity(row.id)
    if record is not None and (
        record.citizen.lower() != address.lower() or "0x" + record.evidence_hash.hex() != row.evidence_commitment
    ):
        # The id was used on-chain for another award (a store restored from an old backup, say):
        # this claim was never awarded and must not be reported as if it were.
        _hold(row, f"activity id {row.id} is already used on-chain by another award; an operator must resolve it")
        return
    row.status = ClaimStatus.AWARDED
    if record is not None:
        row.tx_hash, row.block_number = record.ref.tx_hash, record.ref.block_number
