"""Anchoring what the city keeps off-chain: evidence commitments and review decisions.

Once per period the records not yet anchored become the leaves of an OpenZeppelin standard Merkle
tree (``ledger.merkle``; leaf = ``ledger.commitments.anchor_leaf(type, id, content hash, time)``)
whose root is anchored on-chain in one transaction (``CivicAnchors.anchor``). The leaves and the
tree's positions are kept, so anyone shown a piece of evidence or a review decision can be given
an inclusion proof that it existed unchanged when the root was anchored, while the content itself
stays off-chain and erasable: erasing a citizen's personal data keeps every proof valid.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select

from ledger import merkle
from ledger.commitments import anchor_leaf, keccak_hex

from ..store import ActivityClaim, AnchoredRecord, AnchorPeriod, ReviewDecision, utcnow
from .context import Context
from .errors import NotFound
from .intents import IntentView, handler, outcome, send_once, submit

__all__ = ["anchor_now", "export", "proof_of", "request_anchor", "review_content_hash"]

#: Leaves per anchor at most (one transaction anchors any number: a root is 32 bytes).
MAX_LEAVES = 100_000


def review_content_hash(review: ReviewDecision) -> str:
    """What a review decision's leaf commits to: who decided what about which claim, why, when."""
    content = {
        "claim_id": review.claim_id,
        "reviewer": review.reviewer,
        "decision": review.decision,
        "reason": review.reason,
        "decided_at": review.decided_at.astimezone(UTC).isoformat(),
    }
    return keccak_hex(json.dumps(content, sort_keys=True, separators=(",", ":")).encode())


def _pending(ctx: Context) -> list[tuple[str, int, str, int]]:
    """(type, id, content hash, unix time) of every record not yet anchored, oldest first."""
    with ctx.store.session() as session:
        anchored = {(t, i) for t, i in session.execute(select(AnchoredRecord.record_type, AnchoredRecord.record_id))}
        found: list[tuple[str, int, str, int]] = []
        for claim in session.scalars(select(ActivityClaim).order_by(ActivityClaim.id)):
            if ("evidence", claim.id) not in anchored:
                found.append(("evidence", claim.id, claim.evidence_commitment, int(claim.created_at.timestamp())))
        for review in session.scalars(select(ReviewDecision).order_by(ReviewDecision.id)):
            if ("review", review.id) not in anchored:
                found.append(("review", review.id, review_content_hash(review), int(review.decided_at.timestamp())))
    return sorted(found, key=lambda r: (r[3], r[0], r[1]))[:MAX_LEAVES]


def anchor_now(ctx: Context) -> None:
    """The writer's periodic job (it runs in the chain writer, so it sends directly): re-send an
    anchor a crash left unsent, then anchor what accumulated (nothing when nothing did)."""
    with ctx.store.session() as session:
        unanchored = session.scalar(select(func.count(AnchorPeriod.id)).where(AnchorPeriod.tx_hash.is_(None)))
    if unanchored:
        _retry_unsent(ctx)
    _anchor_inline(ctx)


def _retry_unsent(ctx: Context) -> None:
    with ctx.store.session() as session:
        ids = list(session.scalars(select(AnchorPeriod.id).where(AnchorPeriod.tx_hash.is_(None))))
    for period_id in ids:
        _send_anchor(ctx, f"anchor-period-{period_id}", period_id)


def _anchor_inline(ctx: Context) -> None:
    """Inside the writer (which must not wait on its own queue): build and send directly."""
    pending = _pending(ctx)
    if not pending:
        return
    leaves = [anchor_leaf(t, i, h, at) for t, i, h, at in pending]
    tree = merkle.make_tree([bytes.fromhex(leaf[2:]) for leaf in leaves])
    with ctx.store.session() as session:
        period = AnchorPeriod(
            period_start=datetime.fromtimestamp(pending[0][3], UTC),
            period_end=datetime.fromtimestamp(pending[-1][3], UTC),
            root="0x" + tree[0].hex(),
            records=len(pending),
        )
        session.add(period)
        session.flush()
        session.add_all(
            AnchoredRecord(period_id=period.id, position=i, record_type=t, record_id=rid, leaf=leaf)
            for i, ((t, rid, _, _), leaf) in enumerate(zip(pending, leaves, strict=True))
        )
        session.commit()
        period_id = period.id
    _send_anchor(ctx, f"anchor-period-{period_id}", period_id)


def _send_anchor(ctx: Context, label: str, period_id: int) -> dict[str, Any]:
    with ctx.store.session() as session:
        period = session.get(AnchorPeriod, period_id)
        assert period is not None
        root, start, end, count = period.root, period.period_start, period.period_end, period.records
    result = send_once(
        ctx,
        label,
        lambda intent: ctx.ledger.anchor_records(
            bytes.fromhex(root[2:]), int(start.timestamp()), int(end.timestamp()), count, intent=intent
        ),
    )
    with ctx.store.session() as session:
        period = session.get(AnchorPeriod, period_id)
        assert period is not None
        period.tx_hash, period.anchored_at = result.tx_hash, utcnow()
        session.commit()
    return {"period_id": period_id, "root": root, "records": count, "tx_hash": result.tx_hash}


def request_anchor(ctx: Context, *, principal: str | None, key: str | None) -> dict[str, Any]:
    """Anchors now what is not anchored yet (staff ask; the writer also does it periodically)."""
    return outcome(ctx, submit(ctx, "anchor_now", {}, principal=principal, key=key))


@handler("anchor_now")
def _anchor(ctx: Context, intent: IntentView) -> dict[str, Any]:
    anchor_now(ctx)
    with ctx.store.session() as session:
        latest = session.scalar(select(AnchorPeriod).order_by(AnchorPeriod.id.desc()).limit(1))
    if latest is None:
        return {"anchored": 0}
    return {"anchored": latest.records, "root": latest.root, "tx_hash": latest.tx_hash, "period_id": latest.id}


def proof_of(ctx: Context, record_type: str, record_id: int) -> dict[str, Any]:
    """An anchored record's leaf, its period's root and anchor transaction, and the proof."""
    with ctx.store.session() as session:
        row = session.scalar(
            select(AnchoredRecord).where(
                AnchoredRecord.record_type == record_type, AnchoredRecord.record_id == record_id
            )
        )
        if row is None:
            raise NotFound("not_anchored", f"{record_type} {record_id} is not anchored yet")
        period = session.get(AnchorPeriod, row.period_id)
        leaves = list(
            session.scalars(
                select(AnchoredRecord.leaf)
                .where(AnchoredRecord.period_id == row.period_id)
                .order_by(AnchoredRecord.position)
            )
        )
    assert period is not None
    tree = merkle.make_tree([bytes.fromhex(leaf[2:]) for leaf in leaves])
    return {
        "record_type": record_type,
        "record_id": record_id,
        "leaf": row.leaf,
        "root": period.root,
        "proof": ["0x" + p.hex() for p in merkle.proof_for(tree, row.position)],
        "anchored_in": period.tx_hash,
        "anchors_contract": ctx.ledger.deployment.anchors_address,
        "chain_id": ctx.ledger.chain_id,
    }


def export(ctx: Context) -> list[dict[str, Any]]:
    """Every anchored record with its proof (what an auditor checks with ``civic audit
    --records``), built period by period."""
    answers: list[dict[str, Any]] = []
    with ctx.store.session() as session:
        current = _current_content(session)
        periods = list(session.scalars(select(AnchorPeriod).order_by(AnchorPeriod.id)))
        for period in periods:
            rows = list(
                session.scalars(
                    select(AnchoredRecord)
                    .where(AnchoredRecord.period_id == period.id)
                    .order_by(AnchoredRecord.position)
                )
            )
            tree = merkle.make_tree([bytes.fromhex(r.leaf[2:]) for r in rows])
            for row in rows:
                content_hash, at = current.get((row.record_type, row.record_id), (None, None))
                answers.append(
                    {
                        "record_type": row.record_type,
                        "record_id": row.record_id,
                        # The record as the city holds it now (None once erased): an auditor
                        # recomputes the leaf from it and compares with the anchored one.
                        "content_hash": content_hash,
                        "at": at,
                        "leaf": row.leaf,
                        "root": period.root,
                        "proof": ["0x" + p.hex() for p in merkle.proof_for(tree, row.position)],
                        "anchored_in": period.tx_hash,
                    }
                )
    return answers


def _current_content(session: Any) -> dict[tuple[str, int], tuple[str | None, int]]:
    found: dict[tuple[str, int], tuple[str | None, int]] = {}
    for claim in session.scalars(select(ActivityClaim)):
        found[("evidence", claim.id)] = (claim.evidence_commitment, int(claim.created_at.timestamp()))
    for review in session.scalars(select(ReviewDecision)):
        erased = review.reason == "(erased)"
        found[("review", review.id)] = (
            None if erased else review_content_hash(review),
            int(review.decided_at.timestamp()),
        )
    return found
