"""What verifying a citizen or a record means, once for every reader.

The command line (records read from a node), the service (records from its index) and the pages
all build their answers here, from typed records and contract state, so they cannot disagree.
Each answer lists the checks it made in the manner of the Blockcerts verifier: every check
``passed``, ``failed`` or ``unknown`` ("could not be checked"), and a record or statement is
called verified only when every check it depends on passed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from .records import (
    AwardRecorded,
    AwardReversed,
    BadgeIssued,
    BadgeReissued,
    BadgeRevoked,
    BadgesMoved,
    ChainRecord,
    CitizenRebound,
    Finality,
    OnChainRef,
    PointsRedeemed,
    Role,
    RoleChanged,
    finality,
)

__all__ = [
    "Check",
    "CitizenStatement",
    "Outcome",
    "RecordVerification",
    "StatementLine",
    "citizen_statement",
    "rebinding_chain",
    "role_holders",
    "verify_record",
]

Outcome = Literal["passed", "failed", "unknown"]


@dataclass(frozen=True)
class Check:
    """One step of a verification: what was checked, its outcome, and why."""

    name: str
    outcome: Outcome
    detail: str


@dataclass(frozen=True)
class StatementLine:
    """One record that changed a citizen's points or badges, with its effect on the balance."""

    action: Literal[
        "award",
        "reversal",
        "redemption",
        "rebinding",
        "badge_issued",
        "badge_revoked",
        "badge_reissued",
        "badges_moved",
    ]
    points_delta: int
    ref: OnChainRef
    finality: Finality
    address: str
    activity_id: int | None = None
    event_id: int | None = None
    reward_id: int | None = None
    reason_code: int | None = None
    counterpart: str | None = None
    record: ChainRecord | None = None


@dataclass(frozen=True)
class CitizenStatement:
    address: str
    #: Every address the citizen's record lived at (the current one first).
    addresses: tuple[str, ...]
    lines: tuple[StatementLine, ...]
    rebuilt_balance: int
    balance: int | None
    badges: tuple[tuple[int, OnChainRef], ...]
    as_of_block: int | None
    checks: tuple[Check, ...]
    #: The highest block treated as final when the statement was made.
    final_block: int = 0

    @property
    def verified(self) -> bool:
        return all(c.outcome == "passed" for c in self.checks)

    @property
    def consistent(self) -> bool:
        return self.balance is not None and self.balance == self.rebuilt_balance


def rebinding_chain(address: str, records: Sequence[ChainRecord]) -> list[str]:
    """``address`` and every address re-bound to it, directly or through others (any order of
    records, any number of re-bindings)."""
    found = [address]
    changed = True
    while changed:
        changed = False
        for record in records:
            if isinstance(record, CitizenRebound) and record.new in found and record.old not in found:
                found.append(record.old)
                changed = True
    return found


def citizen_statement(
    address: str,
    records: Iterable[ChainRecord],
    *,
    final_block: int,
    balance: int | None,
    badges_on_chain: Mapping[int, bool] | None,
    as_of_block: int | None,
) -> CitizenStatement:
    """A citizen's statement: every record that changed their points or badges (across
    re-bindings), the balance those records add up to, and the checks against contract state
    (``balance`` and ``badges_on_chain`` as read at ``as_of_block``; None when they could not
    be read)."""
    ordered = sorted(records, key=lambda r: (r.ref.block_number, r.ref.log_index))
    addresses = rebinding_chain(address, ordered)
    mine = set(addresses)
    lines: list[StatementLine] = []
    held: dict[int, OnChainRef] = {}

    def line(action: str, record: ChainRecord, delta: int = 0, **extra: object) -> None:
        lines.append(
            StatementLine(
                action,  # type: ignore[arg-type]
                delta,
                record.ref,
                finality(record.ref.block_number, final_block),
                str(extra.pop("who")),
                record=record,
                **extra,  # type: ignore[arg-type]
            )
        )

    for record in ordered:
        match record:
            case AwardRecorded() if record.citizen in mine:
                line("award", record, record.points, who=record.citizen, activity_id=record.activity_id)
            case AwardReversed() if record.citizen in mine:
                line(
                    "reversal",
                    record,
                    -record.points,
                    who=record.citizen,
                    activity_id=record.activity_id,
                    reason_code=record.reason_code,
                )
            case PointsRedeemed() if record.citizen in mine:
                line("redemption", record, -record.points, who=record.citizen, reward_id=record.reward_id)
            case CitizenRebound() if record.new in mine:
                line("rebinding", record, who=record.new, counterpart=record.old, reason_code=record.reason_code)
            case BadgeIssued() if record.attendee in mine:
                held[record.event_id] = record.ref
                line("badge_issued", record, who=record.attendee, event_id=record.event_id)
            case BadgeReissued() if record.attendee in mine:
                line(
                    "badge_reissued",
                    record,
                    who=record.attendee,
                    event_id=record.event_id,
                    reason_code=record.reason_code,
                )
            case BadgeRevoked() if record.attendee in mine:
                held.pop(record.event_id, None)
                line(
                    "badge_revoked",
                    record,
                    who=record.attendee,
                    event_id=record.event_id,
                    reason_code=record.reason_code,
                )
            case BadgesMoved() if record.new in mine:
                line("badges_moved", record, who=record.new, counterpart=record.old)
    rebuilt = sum(item.points_delta for item in lines)
    checks = [
        Check(
            "records_found",
            "passed",
            f"{len(lines)} records on-chain for {', '.join(addresses)}",
        )
    ]
    if balance is None:
        checks.append(Check("balance_matches_contract", "unknown", "the contract's balance could not be read"))
    elif balance == rebuilt:
        checks.append(
            Check(
                "balance_matches_contract", "passed", f"the records add up to {rebuilt}, the balance the contract holds"
            )
        )
    else:
        checks.append(
            Check(
                "balance_matches_contract", "failed", f"the records add up to {rebuilt}; the contract holds {balance}"
            )
        )
    if badges_on_chain is None:
        checks.append(Check("badges_match_contract", "unknown", "the contract's badges could not be read"))
    else:
        rebuilt_ids = set(held)
        on_chain = {event_id for event_id, holds in badges_on_chain.items() if holds}
        if rebuilt_ids == on_chain:
            checks.append(Check("badges_match_contract", "passed", f"{len(on_chain)} badges, as the contract holds"))
        else:
            checks.append(
                Check(
                    "badges_match_contract",
                    "failed",
                    f"the records show badges {sorted(rebuilt_ids)}; the contract shows {sorted(on_chain)}",
                )
            )
    return CitizenStatement(
        address=address,
        addresses=tuple(addresses),
        lines=tuple(lines),
        rebuilt_balance=rebuilt,
        balance=balance,
        badges=tuple(sorted(held.items())),
        as_of_block=as_of_block,
        checks=tuple(checks),
        final_block=final_block,
    )


# ---------------------------------------------------------------------- single records


def role_holders(role_records: Iterable[RoleChanged], at_block: int) -> dict[tuple[str, Role], set[str]]:
    """Who held each role on each contract at the end of ``at_block``, from the role history."""
    holders: dict[tuple[str, Role], set[str]] = {}
    for record in sorted(role_records, key=lambda r: (r.ref.block_number, r.ref.log_index)):
        if record.ref.block_number > at_block or record.role is None:
            continue
        members = holders.setdefault((record.contract_name, record.role), set())
        if record.granted:
            members.add(record.account)
        else:
            members.discard(record.account)
    return holders


#: The role a record's sender needs, and on which contract (None: the record names its own authority).
REQUIRED_ROLE: dict[type[ChainRecord], tuple[str, Role] | None] = {
    AwardRecorded: ("points", Role.MINTER),
    AwardReversed: ("points", Role.ADMIN),
    PointsRedeemed: None,  # the citizen's own transaction, or a redeemer relaying their signature
    CitizenRebound: ("points", Role.ADMIN),
    BadgeIssued: ("badges", Role.ISSUER),
    BadgeRevoked: ("badges", Role.ISSUER),
    BadgeReissued: ("badges", Role.ISSUER),
}


@dataclass(frozen=True)
class RecordVerification:
    record: ChainRecord | None
    finality: Finality
    checks: tuple[Check, ...] = field(default_factory=tuple)
    undone_by: ChainRecord | None = None
    final_block: int = 0

    @property
    def verified(self) -> bool:
        return bool(self.checks) and all(c.outcome == "passed" for c in self.checks)


def verify_record(
    record: ChainRecord | None,
    *,
    expected_contract: str | None,
    canonical_hash: str | None,
    final_block: int,
    undone_by: ChainRecord | None,
    sender: str | None,
    holders: Mapping[tuple[str, Role], set[str]] | None,
) -> RecordVerification:
    """The steps for one record: found, emitted by the recorded contract, in a canonical block,
    its confirmations, not reversed or revoked since, and sent by an account holding the role
    the act needs at that block. ``canonical_hash`` is the chain's hash at the record's height
    now (None: could not be read); ``holders`` the role holders at the record's block."""
    if record is None:
        return RecordVerification(None, "pending", (Check("record_found", "failed", "no such record on-chain"),))
    ref = record.ref
    checks = [Check("record_found", "passed", f"log {ref.log_index} of transaction {ref.tx_hash}")]
    if expected_contract is None:
        checks.append(Check("emitted_by_contract", "unknown", "the deployment's address was not given"))
    elif ref.contract.lower() == expected_contract.lower():
        checks.append(Check("emitted_by_contract", "passed", f"emitted by {ref.contract}, the recorded contract"))
    else:
        checks.append(Check("emitted_by_contract", "failed", f"emitted by {ref.contract}, not {expected_contract}"))
    if canonical_hash is None:
        checks.append(Check("block_canonical", "unknown", "the node did not answer for the block"))
    elif canonical_hash == ref.block_hash:
        checks.append(Check("block_canonical", "passed", f"block {ref.block_number} is on the canonical chain"))
    else:
        checks.append(Check("block_canonical", "failed", f"block {ref.block_number} was replaced by a reorganisation"))
    state = finality(ref.block_number, final_block)
    confirmations = max(0, final_block - ref.block_number)
    checks.append(
        Check(
            "confirmations",
            "passed" if state == "final" else "unknown",
            f"final ({confirmations} blocks past finality)" if state == "final" else "mined, not final yet",
        )
    )
    if undone_by is None:
        checks.append(Check("not_undone", "passed", "not reversed or revoked since"))
    else:
        what = "reversed" if isinstance(undone_by, AwardReversed) else "revoked"
        checks.append(Check("not_undone", "failed", f"{what} in transaction {undone_by.ref.tx_hash}"))
    needed = REQUIRED_ROLE.get(type(record))
    if needed is None:
        checks.append(Check("sender_authorised", "passed", "the act needs no role: it carries its own signature"))
    elif sender is None or holders is None:
        checks.append(Check("sender_authorised", "unknown", "the sender or the role history could not be read"))
    else:
        contract_name, role = needed
        authority = sender
        if isinstance(record, BadgeIssued) and record.voucher_issuer is not None:
            authority = record.voucher_issuer  # a claim: the voucher's signer is the authority
        if authority in holders.get((contract_name, role), set()):
            checks.append(
                Check("sender_authorised", "passed", f"{authority} held {role.value} on {contract_name} at that block")
            )
        else:
            checks.append(
                Check("sender_authorised", "failed", f"{authority} did not hold {role.value} on {contract_name} then")
            )
    return RecordVerification(record, state, tuple(checks), undone_by, final_block)
