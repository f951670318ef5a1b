"""A programme to audit, seeded through the Ledger API, and the audit's time measured on it.

:func:`seed_programme` records what a season of a city's programme records (hundreds of members,
thousands of awards in batches from two minters, a limits change, events and badges, claims by
voucher, revocations with reasons and a re-issue, reversals, redemptions, a lost key re-bound,
roles granted and revoked mid-way, a pause, anchored off-chain records) and returns what it did,
so that a test can compare the audit's totals. :func:`measure_audit` times the audit of a
programme of a given size (the figures for 10,000 and 100,000 records). Development chains only:
it moves the chain's clock and funds accounts.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import keccak, to_checksum_address

from .. import merkle
from .._ledger import Ledger
from ..commitments import anchor_leaf
from ..records import ActivityAward, AwardReversed, BadgeIssued, Metrics, Role, Venue
from ._audit import run_audit
from .report import AuditReport, write_outputs

__all__ = ["SeededProgramme", "measure_audit", "seed_awards", "seed_programme"]

DAY = 86_400


@dataclass
class SeededProgramme:
    """What :func:`seed_programme` recorded (the totals an audit must find)."""

    members: list[str]
    awards: int = 0
    points_awarded: int = 0
    points_reversed: int = 0
    points_redeemed: int = 0
    points_by_kind: dict[int, int] = field(default_factory=dict)
    reversals: list[tuple[int, int]] = field(default_factory=list)
    revocations: list[tuple[int, str, int]] = field(default_factory=list)
    reissues: list[tuple[int, str, int]] = field(default_factory=list)
    badges_issued: int = 0
    events: list[int] = field(default_factory=list)
    redemptions: list[tuple[str, int, int]] = field(default_factory=list)
    rebound: tuple[str, str] | None = None
    operator: LocalAccount | None = None
    key_holders: list[LocalAccount] = field(default_factory=list)
    award_txs: dict[int, str] = field(default_factory=dict)
    anchored_records: list[dict[str, Any]] = field(default_factory=list)
    next_activity_id: int = 1


def _address(rng: random.Random) -> str:
    return to_checksum_address("0x" + rng.randbytes(20).hex())


def seed_awards(
    ledger: Ledger,
    members: list[str],
    count: int,
    *,
    rng: random.Random,
    start_id: int,
    chunk: int = 200,
    kinds: tuple[int, ...] = (0,),
    max_points: int = 40,
    advance: Callable[[int], None] | None = None,
    every: int = 1,
    seeded: SeededProgramme | None = None,
) -> int:
    """``count`` awards to random ``members``, ``chunk`` per transaction, the chain's clock moved
    by ``advance(seconds)`` every ``every`` batches; returns the next free activity id."""
    activity_id = start_id
    for batch_no, begin in enumerate(range(0, count, chunk), start=1):
        batch = []
        for _ in range(min(chunk, count - begin)):
            points = rng.randint(1, max_points)
            kind = rng.choice(kinds)
            citizen = rng.choice(members)
            metrics = Metrics(
                rng.randint(100, 9000), rng.randint(600, 7200), rng.randint(0, 3000), rng.randint(0, 20000)
            )
            batch.append(
                ActivityAward(activity_id, citizen, points, kind, metrics, keccak(activity_id.to_bytes(8, "big")))
            )
            activity_id += 1
            if seeded is not None:
                seeded.awards += 1
                seeded.points_awarded += points
                seeded.points_by_kind[kind] = seeded.points_by_kind.get(kind, 0) + points
        results = ledger.award_points(batch, chunk_size=len(batch))
        if seeded is not None:
            for result in results:
                for award in batch:
                    seeded.award_txs.setdefault(award.activity_id, result.tx_hash)
        if advance is not None and batch_no % every == 0:
            advance(DAY + DAY // 2)
    return activity_id


def seed_programme(
    ledger: Ledger,
    *,
    fund: Callable[[str], None],
    advance: Callable[[int], None],
    members: int = 300,
    awards: int = 3_000,
    chunk: int = 200,
    seed: int = 11,
) -> SeededProgramme:
    """A season of the programme, recorded with ``ledger`` (whose key holds every role)."""
    rng = random.Random(seed)
    chain = ledger.chain
    keyed = [Account.from_key(rng.randbytes(32)) for _ in range(6)]
    addresses = [_address(rng) for _ in range(max(0, members - len(keyed)))] + [a.address for a in keyed]
    seeded = SeededProgramme(members=addresses, key_holders=keyed)
    ledger.set_activity_kind(1, True, "walking")
    ledger.set_activity_kind(2, True, "cleanup")

    operator: LocalAccount = Account.from_key(rng.randbytes(32))
    fund(operator.address)
    seeded.operator = operator
    ledger.grant_role(Role.MINTER, operator.address)
    ledger.grant_role(Role.ISSUER, operator.address)
    ops = Ledger(chain, ledger.deployment, operator)

    first = ledger.last_activity_id() + 1
    third = max(1, awards // 3)
    every = max(1, (awards // chunk) // 12)  # about a dozen city weeks
    next_id = seed_awards(
        ledger,
        addresses,
        third,
        rng=rng,
        start_id=first,
        chunk=chunk,
        kinds=(0, 1, 2),
        advance=advance,
        every=every,
        seeded=seeded,
    )
    next_id = seed_awards(
        ops,
        addresses,
        third,
        rng=rng,
        start_id=next_id,
        chunk=chunk,
        kinds=(0, 1),
        advance=advance,
        every=every,
        seeded=seeded,
    )
    ledger.set_limits(500, 2_500)  # a limits change mid-way
    ledger.revoke_role(Role.MINTER, operator.address)  # a role revoked later
    next_id = seed_awards(
        ledger,
        addresses,
        awards - 2 * third,
        rng=rng,
        start_id=next_id,
        chunk=chunk,
        kinds=(0, 2),
        advance=advance,
        every=every,
        seeded=seeded,
    )
    # the keyed members get points to redeem
    extra = [ActivityAward(next_id + i, a.address, 200, 0) for i, a in enumerate(keyed)]
    ledger.award_points(extra)
    for award in extra:
        seeded.awards += 1
        seeded.points_awarded += award.points
        seeded.points_by_kind[0] = seeded.points_by_kind.get(0, 0) + award.points
    next_id += len(extra)
    seeded.next_activity_id = next_id

    # events and badges
    now = chain.block_time()
    for venue in (Venue.PHYSICAL, Venue.METAVERSE, Venue.PHYSICAL):
        issuer = ops if venue is Venue.METAVERSE else ledger
        event_id, _ = issuer.create_event(venue, now - 3_600, now + 30 * DAY, 0)
        seeded.events.append(event_id)
        attendees = rng.sample(addresses[: -len(keyed)], k=max(1, len(addresses) * 3 // 5))
        for result in issuer.issue_badges(event_id, attendees, chunk_size=chunk):
            seeded.badges_issued += sum(1 for r in result.records if isinstance(r, BadgeIssued))
    for account in keyed[:3]:  # claims by voucher, relayed by the city
        ledger.claim_badge(ledger.sign_voucher(seeded.events[0], account.address))
        seeded.badges_issued += 1
    ledger.revoke_role(Role.ISSUER, operator.address)

    # revocations with reasons, one re-issue
    holders = [a for a in addresses[: -len(keyed)] if ledger.has_badge(seeded.events[0], a)][:5]
    for i, attendee in enumerate(holders):
        ledger.revoke_badge(seeded.events[0], attendee, 1 + i % 2)
        seeded.revocations.append((seeded.events[0], attendee, 1 + i % 2))
    ledger.reissue_badge(seeded.events[0], holders[0], 3)
    seeded.reissues.append((seeded.events[0], holders[0], 3))
    seeded.badges_issued += 1

    # reversals with reasons
    for i, activity_id in enumerate(rng.sample(range(first, first + 2 * third), k=6)):
        record = ledger.reverse_award(activity_id, 1 + i % 2, award_tx=seeded.award_txs[activity_id])
        reversed_points = next(r.points for r in record.records if isinstance(r, AwardReversed))
        seeded.points_reversed += reversed_points
        seeded.reversals.append((activity_id, 1 + i % 2))

    # redemptions: relayed with consent (the redeemer role), and one by the citizen itself
    for i, account in enumerate(keyed[:4]):
        consent = ledger.sign_redemption(account, 50 + 10 * i, 1 + i % 2)
        ledger.redeem_with_consent(consent)
        seeded.points_redeemed += consent.points
        seeded.redemptions.append((account.address, consent.reward_id, consent.points))
    fund(keyed[4].address)
    ledger.redeem(keyed[4], 30, 2)
    seeded.points_redeemed += 30
    seeded.redemptions.append((keyed[4].address, 2, 30))

    # a lost key re-bound (points and badges move)
    lost = next(a for a in addresses[: -len(keyed)] if ledger.balance_of(a) and ledger.has_badge(seeded.events[1], a))
    new_key: LocalAccount = Account.from_key(rng.randbytes(32))
    ledger.rebind_citizen(ledger.sign_rebinding(new_key, lost, 7))
    seeded.rebound = (lost, new_key.address)

    # a pause and its end
    ledger.pause()
    ledger.unpause()

    # off-chain records anchored, three consecutive periods
    start = chain.block_time() - 3 * DAY
    record_id = 1
    for period in range(3):
        period_start, period_end = start + period * DAY, start + (period + 1) * DAY - 1
        entries = []
        for _ in range(7):
            at = rng.randint(period_start, period_end)
            content_hash = "0x" + keccak(rng.randbytes(32)).hex()
            record_type = rng.choice(("evidence", "review"))
            entries.append((record_type, record_id, content_hash, at))
            record_id += 1
        leaves = [bytes.fromhex(anchor_leaf(*e)[2:]) for e in entries]
        tree = merkle.make_tree(leaves)
        ledger.anchor_records(tree[0], period_start, period_end, len(entries))
        for index, (record_type, rid, content_hash, at) in enumerate(entries):
            seeded.anchored_records.append(
                {
                    "record_type": record_type,
                    "record_id": rid,
                    "content_hash": content_hash,
                    "at": at,
                    "leaf": "0x" + leaves[index].hex(),
                    "root": "0x" + tree[0].hex(),
                    "proof": ["0x" + p.hex() for p in merkle.proof_for(tree, index)],
                }
            )
    return seeded


@dataclass(frozen=True)
class Measurement:
    backend: str
    records: int
    awards: int
    members: int
    seed_seconds: float
    audit_seconds: float
    scan_seconds: float
    clean: bool


def measure_audit(
    ledger: Ledger,
    *,
    awards: int,
    members: int,
    backend: str,
    chunk: int = 500,
    out_dir: Path | None = None,
    log: Callable[[str], None] = print,
) -> tuple[Measurement, AuditReport]:
    """Seeds ``awards`` awards over ``members`` members (batches of ``chunk``), then times
    :func:`run_audit` (and :func:`write_outputs` into ``out_dir`` if given)."""
    rng = random.Random(int.from_bytes(os.urandom(4), "big"))
    addresses = [_address(rng) for _ in range(members)]
    chain = ledger.chain
    started = time.monotonic()
    seed_awards(
        ledger,
        addresses,
        awards,
        rng=rng,
        start_id=ledger.last_activity_id() + 1,
        chunk=chunk,
        advance=chain.advance_time,
        every=20,
    )
    seeded = time.monotonic()
    log(f"{backend}: seeded {awards:,} awards over {members:,} members in {seeded - started:.1f}s")
    report = run_audit(chain, ledger.deployment)
    audited = time.monotonic()
    if out_dir is not None:
        write_outputs(report, out_dir)
    measurement = Measurement(
        backend=backend,
        records=len(report.records),
        awards=int(report.totals["awards"]),
        members=members,
        seed_seconds=round(seeded - started, 2),
        audit_seconds=round(audited - seeded, 2),
        scan_seconds=float(report.scan["scan_seconds"]),
        clean=report.clean,
    )
    log(
        f"{backend}: audit of {measurement.records:,} records took {measurement.audit_seconds:.1f}s "
        f"(scan {measurement.scan_seconds:.1f}s), {'clean' if report.clean else f'{len(report.findings)} findings'}"
    )
    return measurement, report
