"""Attacks on the points and badge contracts, each pinned to its exact error and the end state.

Every test runs in a snapshot of the session's deployment (the ``ledger`` fixture). Reverts are
asserted by the ledger's exception class (one per custom error) and the values the contract
reported; after each refused attack the state it tried to change is read back unchanged. Calls
the Ledger has no method for (an attacker contract, a forged reversal, a direct ``rebind``) are
sent with plain web3 from an account of their own, as any wallet could send them.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount
from eth_keys import keys

from ledger import (
    ActivityAward,
    AwardRecorded,
    AwardReversed,
    BadgeIssued,
    BadgeReissued,
    BadgesMoved,
    CitizenRebound,
    Ledger,
    PointsRedeemed,
    Role,
    SignedVoucher,
    Venue,
    load_artifact,
    merkle,
)
from ledger.errors import (
    AccessDenied,
    ActivityAlreadyReversed,
    ActivityIdNotIncreasing,
    AlreadyHasBadge,
    AwardNotFound,
    BadgeWasRevoked,
    ContractRevert,
    InsufficientPoints,
    InvalidCitizen,
    InvalidConsentSignature,
    InvalidInput,
    InvalidRebinding,
    InvalidSignature,
    InvalidVoucherSigner,
    NotAuthorized,
    RebindingNotAllowed,
    RebindTargetHoldsBadges,
    ReentrantCall,
    RevertDecoder,
    VoucherAlreadyUsed,
)
from tests.conftest import TestChain, contract

SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
VOUCHER_TYPES = {
    "Voucher": [
        {"name": "eventId", "type": "uint256"},
        {"name": "attendee", "type": "address"},
        {"name": "nonce", "type": "uint256"},
        {"name": "deadline", "type": "uint256"},
    ]
}
ALL_ROLES = (Role.MINTER, Role.ISSUER, Role.PAUSER, Role.REDEEMER, Role.ANCHOR, Role.ADMIN)


# ---------------------------------------------------------------------------------------- helpers


def _transact(chain: TestChain, account: LocalAccount, call: Any, gas: int = 3_000_000) -> dict[str, Any]:
    """Sends ``call`` signed by ``account`` with plain web3. A call the contract refuses raises
    the ledger's error class for it (from an ``eth_call`` first, as a wallet checks)."""
    w3 = chain.w3
    with chain.chain.translated("sending a test transaction"):
        if hasattr(call, "call"):
            call.call({"from": account.address})
        tx = call.build_transaction(
            {
                "from": account.address,
                "gas": gas,
                "nonce": w3.eth.get_transaction_count(account.address, "pending"),
                "chainId": w3.eth.chain_id,
                "maxFeePerGas": 2 * w3.eth.get_block("latest")["baseFeePerGas"] + 10**9,
                "maxPriorityFeePerGas": 10**9,
            }
        )
        tx_hash = w3.eth.send_raw_transaction(account.sign_transaction(tx).raw_transaction)
        receipt = dict(w3.eth.wait_for_transaction_receipt(tx_hash, poll_latency=0.01))
    assert receipt["status"] == 1
    return receipt


def _open_event(ledger: Ledger, capacity: int = 0) -> int:
    now = ledger.chain_time()
    event_id, _ = ledger.create_event(Venue.PHYSICAL, now - 60, now + 86_400, capacity)
    return event_id


def _deploy_attacker(chain: TestChain, ledger: Ledger, deployer: LocalAccount) -> Any:
    artifact = load_artifact("ReentrantAttendee")
    factory = chain.w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    receipt = _transact(chain, deployer, factory.constructor(ledger.deployment.badges_address))
    return chain.w3.eth.contract(address=receipt["contractAddress"], abi=artifact["abi"])


def _revert_of(data: bytes) -> ContractRevert | None:
    return RevertDecoder([load_artifact("CivicBadges")["abi"]]).decode(data)


def _attendees(ledger: Ledger, event_id: int) -> int:
    return ledger.city_event(event_id).attendees


def _issued_on_record(ledger: Ledger, event_id: int) -> list[str]:
    """Attendees of ``event_id`` as the chain's records tell it (every badge minted)."""
    records = ledger.records_between(ledger.deployment.block_number, ledger.head())
    return [r.attendee for r in records if isinstance(r, BadgeIssued) and r.event_id == event_id]


def _nonce_used(chain: TestChain, ledger: Ledger, voucher: SignedVoucher) -> bool:
    badges = contract(chain, ledger, "badges")
    return bool(badges.functions.isVoucherNonceUsed(voucher.issuer, voucher.nonce).call())


def _badges_domain(chain: TestChain, ledger: Ledger) -> dict[str, Any]:
    """The badge contract's EIP-712 domain, as a wallet reads it (ERC-5267)."""
    _, name, version, chain_id, verifying, _, _ = contract(chain, ledger, "badges").functions.eip712Domain().call()
    return {"name": name, "version": version, "chainId": chain_id, "verifyingContract": verifying}


def _sign_voucher_with(
    signer: LocalAccount, domain: dict[str, Any], event_id: int, attendee: str, nonce: int, deadline: int
) -> SignedVoucher:
    """A voucher signed by ``signer`` over an arbitrary EIP-712 domain (the ledger only signs its own)."""
    message = {"eventId": event_id, "attendee": attendee, "nonce": nonce, "deadline": deadline}
    signature = bytes(signer.sign_message(encode_typed_data(domain, VOUCHER_TYPES, message)).signature)
    return SignedVoucher(event_id, attendee, nonce, deadline, signature, str(signer.address))


def _head(citizen: str, points: int) -> int:
    return (int(citizen, 16) << 96) | (points << 32)


def _awards_of(result: Any) -> list[AwardRecorded]:
    return [r for r in result.records if isinstance(r, AwardRecorded)]


def _assert_not_authorized(info: pytest.ExceptionInfo[NotAuthorized], account: str, role: Role) -> None:
    assert type(info.value) is NotAuthorized
    assert info.value.values == {"account": account, "needed_role": role.role_id.hex()}


# ---------------------------------------------------------------------------------------- 1. re-entrancy


def test_claim_badge_by_reentrant_attendee_gives_exactly_one_badge(chain, ledger):
    event_id = _open_event(ledger)
    deployer = chain.new_account(funded=True)
    attacker = _deploy_attacker(chain, ledger, deployer)
    voucher = ledger.sign_voucher(event_id, attacker.address)
    _transact(chain, deployer, attacker.functions.arm(voucher.as_tuple(), voucher.signature))

    result = ledger.claim_badge(voucher)

    assert [(r.event_id, r.attendee) for r in result.records if isinstance(r, BadgeIssued)] == [
        (event_id, attacker.address)
    ]
    assert ledger.has_badge(event_id, attacker.address)
    assert contract(chain, ledger, "badges").functions.balanceOf(attacker.address, event_id).call() == 1
    assert _attendees(ledger, event_id) == 1
    assert [r.event_id for r in ledger.history(attacker.address) if isinstance(r, BadgeIssued)] == [event_id]
    assert _issued_on_record(ledger, event_id) == [attacker.address]
    assert attacker.functions.reentryAttempts().call() >= 1
    assert attacker.functions.reentrySuccesses().call() == 0
    reason = _revert_of(attacker.functions.lastReentryError().call())
    # The guard runs before the nonce check, so the re-entrant claim is refused by the guard.
    assert type(reason) is ReentrantCall
    assert reason.name == "ReentrancyGuardReentrantCall"
    assert _nonce_used(chain, ledger, voucher)

    # The same voucher from outside is refused as spent, and changes nothing.
    with pytest.raises(VoucherAlreadyUsed) as info:
        ledger.claim_badge(voucher)
    assert info.value.values == {"issuer": ledger.address, "nonce": voucher.nonce}
    assert _attendees(ledger, event_id) == 1


def test_issue_badges_to_reentrant_attendee_gives_one_badge_per_event(chain, ledger, citizens):
    first = _open_event(ledger)
    second = _open_event(ledger)
    deployer = chain.new_account(funded=True)
    attacker = _deploy_attacker(chain, ledger, deployer)
    first_voucher = ledger.sign_voucher(first, attacker.address)
    _transact(chain, deployer, attacker.functions.arm(first_voucher.as_tuple(), first_voucher.signature))
    ledger.claim_badge(first_voucher)
    attempts = attacker.functions.reentryAttempts().call()

    # Arm a fresh, unused voucher for the second event: without the guard the hook would try it
    # after the batch had already recorded the attacker's badge.
    armed = ledger.sign_voucher(second, attacker.address)
    _transact(chain, deployer, attacker.functions.arm(armed.as_tuple(), armed.signature))
    others = [c.address for c in citizens[:2]]
    ledger.issue_badges(second, [others[0], attacker.address, others[1]])

    assert attacker.functions.reentryAttempts().call() == attempts + 1  # its hook ran
    assert attacker.functions.reentrySuccesses().call() == 0
    assert type(_revert_of(attacker.functions.lastReentryError().call())) is ReentrantCall
    assert not _nonce_used(chain, ledger, armed)  # the re-entrant claim was rolled back entirely
    badges = contract(chain, ledger, "badges")
    for event_id in (first, second):
        assert badges.functions.balanceOf(attacker.address, event_id).call() == 1
    assert _attendees(ledger, first) == 1
    assert _attendees(ledger, second) == 3
    assert sorted(r.event_id for r in ledger.history(attacker.address) if isinstance(r, BadgeIssued)) == [
        first,
        second,
    ]

    # A batch that lists the attacker again for an event it holds is refused whole.
    with pytest.raises(AlreadyHasBadge) as info:
        ledger.issue_badges(first, [citizens[2].address, attacker.address])
    assert info.value.values == {"event_id": first, "attendee": attacker.address}
    assert not ledger.has_badge(first, citizens[2].address)
    assert _attendees(ledger, first) == 1
    assert attacker.functions.reentryAttempts().call() == attempts + 1


# ---------------------------------------------------------------------------------------- 2. replay


def test_claim_badge_replayed_voucher_is_refused(chain, ledger, citizens):
    event_id = _open_event(ledger)
    attendee = citizens[0].address
    voucher = ledger.sign_voucher(event_id, attendee)
    ledger.claim_badge(voucher)

    with pytest.raises(VoucherAlreadyUsed) as info:
        ledger.claim_badge(voucher)
    assert info.value.values == {"issuer": ledger.address, "nonce": voucher.nonce}
    assert ledger.has_badge(event_id, attendee)
    assert _attendees(ledger, event_id) == 1


def test_claim_badge_replayed_after_revocation_is_still_refused(chain, ledger, citizens):
    event_id = _open_event(ledger)
    attendee = citizens[0].address
    voucher = ledger.sign_voucher(event_id, attendee)
    ledger.claim_badge(voucher)
    ledger.revoke_badge(event_id, attendee, 7)
    assert not ledger.has_badge(event_id, attendee)
    assert _attendees(ledger, event_id) == 0

    # The nonce is burned, not the badge: losing the badge does not revive the voucher.
    with pytest.raises(VoucherAlreadyUsed) as info:
        ledger.claim_badge(voucher)
    assert info.value.values == {"issuer": ledger.address, "nonce": voucher.nonce}
    assert not ledger.has_badge(event_id, attendee)
    assert _attendees(ledger, event_id) == 0

    # Nonces are per issuer, not per attendee or event: re-signing the spent nonce for someone
    # else, or for another event, is refused too.
    other_event = _open_event(ledger)
    for event, who in ((event_id, citizens[1].address), (other_event, attendee)):
        with pytest.raises(VoucherAlreadyUsed):
            ledger.claim_badge(ledger.sign_voucher(event, who, nonce=voucher.nonce))
        assert not ledger.has_badge(event, who)


def test_claim_badge_revoked_badge_with_fresh_voucher_is_refused(chain, ledger, citizens):
    event_id = _open_event(ledger)
    attendee = citizens[0].address
    ledger.claim_badge(ledger.sign_voucher(event_id, attendee))
    ledger.revoke_badge(event_id, attendee, 4)
    assert ledger.is_badge_revoked(event_id, attendee)

    # A fresh, validly signed voucher does not bring a revoked badge back...
    fresh = ledger.sign_voucher(event_id, attendee)
    with pytest.raises(BadgeWasRevoked) as info:
        ledger.claim_badge(fresh)
    assert info.value.values == {"event_id": event_id, "attendee": attendee}
    assert not _nonce_used(chain, ledger, fresh)  # rolled back with the claim
    # ...nor does a direct issue, alone or hidden in a batch (which is refused whole).
    with pytest.raises(BadgeWasRevoked) as info:
        ledger.issue_badge(event_id, attendee)
    assert info.value.values == {"event_id": event_id, "attendee": attendee}
    with pytest.raises(BadgeWasRevoked) as info:
        ledger.issue_badges(event_id, [citizens[1].address, attendee])
    assert info.value.values == {"event_id": event_id, "attendee": attendee}
    assert not ledger.has_badge(event_id, attendee)
    assert not ledger.has_badge(event_id, citizens[1].address)
    assert ledger.is_badge_revoked(event_id, attendee)
    assert _attendees(ledger, event_id) == 0

    # Only the explicit re-issue gives it back, recorded with its reason.
    result = ledger.reissue_badge(event_id, attendee, 12)
    assert [(r.event_id, r.attendee, r.reason_code) for r in result.records if isinstance(r, BadgeReissued)] == [
        (event_id, attendee, 12)
    ]
    assert ledger.has_badge(event_id, attendee)
    assert not ledger.is_badge_revoked(event_id, attendee)
    assert _attendees(ledger, event_id) == 1
    with pytest.raises(AlreadyHasBadge):
        ledger.claim_badge(fresh)
    assert _attendees(ledger, event_id) == 1


# ---------------------------------------------------------------------------------------- 3. other deployment


def test_claim_badge_voucher_for_another_deployment_is_refused(chain, city, ledger, citizens):
    event_a = _open_event(ledger)
    other = Ledger.deploy(chain.chain, city)
    event_b = _open_event(other)
    assert event_a == event_b  # same event id on both: only the EIP-712 domain differs
    assert ledger.deployment.badges_address != other.deployment.badges_address
    assert other.has_role(Role.ISSUER, city.address) and ledger.has_role(Role.ISSUER, city.address)

    voucher_a = ledger.sign_voucher(event_a, citizens[0].address)
    voucher_b = other.sign_voucher(event_b, citizens[1].address)
    with pytest.raises(InvalidVoucherSigner) as info:
        other.claim_badge(voucher_a)
    assert info.value.values["signer"] != city.address
    assert not other.has_badge(event_b, citizens[0].address)
    assert not contract(chain, other, "badges").functions.isVoucherNonceUsed(city.address, voucher_a.nonce).call()

    # Each Ledger keeps its own nonce counter for the shared key: talk to A through a fresh one.
    ledger_a = Ledger(chain.chain, ledger.deployment, city)
    with pytest.raises(InvalidVoucherSigner) as info:
        ledger_a.claim_badge(voucher_b)
    assert info.value.values["signer"] != city.address
    assert not ledger_a.has_badge(event_a, citizens[1].address)

    # Each voucher still works where it was signed for.
    ledger_a.claim_badge(voucher_a)
    Ledger(chain.chain, other.deployment, city).claim_badge(voucher_b)
    assert ledger_a.has_badge(event_a, citizens[0].address)
    assert not ledger_a.has_badge(event_a, citizens[1].address)
    assert other.has_badge(event_b, citizens[1].address)
    assert not other.has_badge(event_b, citizens[0].address)
    assert _attendees(ledger_a, event_a) == 1
    assert _attendees(other, event_b) == 1


# ---------------------------------------------------------------------------------------- 4. other chain


def test_claim_badge_voucher_signed_for_another_chain_id_is_refused(chain, ledger, city, citizens):
    event_id = _open_event(ledger)
    attendee = citizens[0].address
    domain = _badges_domain(chain, ledger)
    deadline = ledger.chain_time() + 600
    foreign = _sign_voucher_with(city, {**domain, "chainId": domain["chainId"] + 1}, event_id, attendee, 11, deadline)

    with pytest.raises(InvalidVoucherSigner) as info:
        ledger.claim_badge(foreign)
    assert info.value.values["signer"] != city.address
    assert not ledger.has_badge(event_id, attendee)
    assert not contract(chain, ledger, "badges").functions.isVoucherNonceUsed(city.address, 11).call()

    # Control: the same hand-built voucher over the real domain is accepted, so only chainId differed.
    ledger.claim_badge(_sign_voucher_with(city, domain, event_id, attendee, 11, deadline))
    assert ledger.has_badge(event_id, attendee)


# ---------------------------------------------------------------------------------------- 5. malformed signatures


def test_claim_badge_malleated_signature_is_refused(chain, ledger, citizens):
    event_id = _open_event(ledger)
    attendee = citizens[0].address
    voucher = ledger.sign_voucher(event_id, attendee)
    r = int.from_bytes(voucher.signature[:32], "big")
    s = int.from_bytes(voucher.signature[32:64], "big")
    v = voucher.signature[64]
    assert s <= SECP256K1_N // 2 and v in (27, 28)
    high_s = SECP256K1_N - s
    flipped_v = 55 - v  # 27 <-> 28
    malleated = r.to_bytes(32, "big") + high_s.to_bytes(32, "big") + bytes([flipped_v])

    # The twin really is a valid signature by the same key over the same digest...
    digest = contract(chain, ledger, "badges").functions.voucherDigest(voucher.as_tuple()).call()
    twin = keys.Signature(vrs=(flipped_v - 27, r, high_s))
    assert twin.recover_public_key_from_msg_hash(digest).to_checksum_address() == ledger.address

    # ...and the contract still refuses it.
    with pytest.raises(InvalidSignature) as info:
        ledger.claim_badge(dataclasses.replace(voucher, signature=malleated))
    assert info.value.name == "ECDSAInvalidSignatureS"
    assert info.value.values == {"s": high_s.to_bytes(32, "big").hex()}
    assert not ledger.has_badge(event_id, attendee)
    assert not _nonce_used(chain, ledger, voucher)

    ledger.claim_badge(voucher)
    assert ledger.has_badge(event_id, attendee)
    assert _attendees(ledger, event_id) == 1


@pytest.mark.parametrize(
    ("mangle", "error_name"),
    [
        (lambda sig: sig[:64], "ECDSAInvalidSignatureLength"),
        (lambda sig: sig[:-1], "ECDSAInvalidSignatureLength"),
        (lambda sig: b"", "ECDSAInvalidSignatureLength"),
        (lambda sig: sig + b"\0", "ECDSAInvalidSignatureLength"),
        (lambda sig: sig[:64] + bytes([sig[64] + 2]), "ECDSAInvalidSignature"),
    ],
    ids=["truncated-64", "truncated-1", "empty", "padded", "bad-v"],
)
def test_claim_badge_malformed_signature_is_refused(chain, ledger, citizens, mangle, error_name):
    event_id = _open_event(ledger)
    attendee = citizens[0].address
    voucher = ledger.sign_voucher(event_id, attendee)

    with pytest.raises(InvalidSignature) as info:
        ledger.claim_badge(dataclasses.replace(voucher, signature=mangle(voucher.signature)))
    assert info.value.name == error_name
    assert not ledger.has_badge(event_id, attendee)
    assert not _nonce_used(chain, ledger, voucher)
    assert _attendees(ledger, event_id) == 0


# ---------------------------------------------------------------------------------------- 6. redirection


def test_claim_badge_voucher_redirected_or_altered_is_refused(chain, ledger, citizens):
    event_id = _open_event(ledger)
    other_event = _open_event(ledger)
    a, b = citizens[0].address, citizens[1].address
    voucher = ledger.sign_voucher(event_id, a)

    tampered = [
        dataclasses.replace(voucher, attendee=b),
        dataclasses.replace(voucher, event_id=other_event),
        dataclasses.replace(voucher, deadline=voucher.deadline + 86_400),
        dataclasses.replace(voucher, nonce=voucher.nonce ^ 1),
    ]
    for forged in tampered:
        with pytest.raises(InvalidVoucherSigner) as info:
            ledger.claim_badge(forged)
        assert info.value.values["signer"] != ledger.address
    assert not ledger.has_badge(event_id, b)
    assert not ledger.has_badge(other_event, a)
    assert not ledger.has_badge(event_id, a)
    assert not _nonce_used(chain, ledger, voucher)

    ledger.claim_badge(voucher)
    assert ledger.has_badge(event_id, a)
    assert not ledger.has_badge(event_id, b)
    assert _attendees(ledger, event_id) == 1
    assert _attendees(ledger, other_event) == 0


# ---------------------------------------------------------------------------------------- 7. roles


def test_stranger_cannot_mint_issue_pause_grant_reverse_rebind_or_anchor(chain, ledger, citizens):
    stranger = chain.new_account(funded=True)
    rogue = Ledger(chain.chain, ledger.deployment, stranger)
    event_id = _open_event(ledger)
    ledger.issue_badge(event_id, citizens[1].address)
    ledger.award_points([ActivityAward(1, citizens[1].address, 100)])
    ledger.issue_badge(event_id, citizens[2].address)
    ledger.revoke_badge(event_id, citizens[2].address, 1)

    with pytest.raises(NotAuthorized) as info:
        rogue.award_points([ActivityAward(2, stranger.address, 100)])
    _assert_not_authorized(info, stranger.address, Role.MINTER)
    with pytest.raises(NotAuthorized) as info:
        rogue.award_points([ActivityAward(2, stranger.address, 100), ActivityAward(3, stranger.address, 5)])
    _assert_not_authorized(info, stranger.address, Role.MINTER)
    with pytest.raises(NotAuthorized) as info:
        rogue.issue_badge(event_id, stranger.address)
    _assert_not_authorized(info, stranger.address, Role.ISSUER)
    with pytest.raises(NotAuthorized) as info:
        rogue.issue_badges(event_id, [stranger.address])
    _assert_not_authorized(info, stranger.address, Role.ISSUER)
    with pytest.raises(NotAuthorized) as info:
        rogue.revoke_badge(event_id, citizens[1].address, 1)
    _assert_not_authorized(info, stranger.address, Role.ISSUER)
    with pytest.raises(NotAuthorized) as info:
        rogue.reissue_badge(event_id, citizens[2].address, 1)
    _assert_not_authorized(info, stranger.address, Role.ISSUER)
    with pytest.raises(NotAuthorized) as info:
        rogue.create_event(Venue.METAVERSE, 0, 2**40, 0)
    _assert_not_authorized(info, stranger.address, Role.ISSUER)
    with pytest.raises(NotAuthorized) as info:
        rogue.pause()
    _assert_not_authorized(info, stranger.address, Role.PAUSER)
    with pytest.raises(NotAuthorized) as info:
        rogue.set_paused("badges", True)
    _assert_not_authorized(info, stranger.address, Role.PAUSER)
    for role in ALL_ROLES:
        with pytest.raises(NotAuthorized) as info:
            rogue.grant_role(role, stranger.address)
        _assert_not_authorized(info, stranger.address, Role.ADMIN)
    with pytest.raises(NotAuthorized) as info:
        rogue.revoke_role(Role.MINTER, ledger.address)
    _assert_not_authorized(info, stranger.address, Role.ADMIN)
    with pytest.raises(NotAuthorized) as info:
        rogue.reverse_award(1, 0)
    _assert_not_authorized(info, stranger.address, Role.ADMIN)
    with pytest.raises(NotAuthorized) as info:
        rogue.set_limits(10**6, 10**7)
    _assert_not_authorized(info, stranger.address, Role.ADMIN)
    with pytest.raises(NotAuthorized) as info:
        rogue.set_activity_kind(1, True, "rogue")
    _assert_not_authorized(info, stranger.address, Role.ADMIN)
    with pytest.raises(NotAuthorized) as info:
        rogue.set_badge_metadata("https://rogue.example/{id}.json", "https://rogue.example/c.json")
    _assert_not_authorized(info, stranger.address, Role.ADMIN)
    with pytest.raises(NotAuthorized) as info:
        rogue.anchor_records(b"\x01" * 32, 0, 1, 1)
    _assert_not_authorized(info, stranger.address, Role.ANCHOR)
    # Even with the new key's genuine consent, moving a citizen's record takes the admin role.
    consent = rogue.sign_rebinding(stranger, citizens[1].address, 1)
    with pytest.raises(NotAuthorized) as info:
        rogue.rebind_citizen(consent)
    _assert_not_authorized(info, stranger.address, Role.ADMIN)

    # The ledger refuses to sign a voucher for a key without the role; one forged by hand is
    # recovered to the stranger, who is no issuer.
    with pytest.raises(AccessDenied):
        rogue.sign_voucher(event_id, stranger.address)
    forged = _sign_voucher_with(
        stranger, _badges_domain(chain, ledger), event_id, stranger.address, 1, ledger.chain_time() + 600
    )
    with pytest.raises(InvalidVoucherSigner) as info:
        ledger.claim_badge(forged)
    assert info.value.values == {"signer": stranger.address}

    # Nothing changed.
    assert ledger.balance_of(stranger.address) == 0
    assert ledger.total_supply() == 100
    assert ledger.balance_of(citizens[1].address) == 100
    assert ledger.current_address(citizens[1].address) == citizens[1].address
    assert ledger.last_activity_id() == 1
    assert not ledger.is_reversed(1)
    assert not ledger.has_badge(event_id, stranger.address)
    assert ledger.has_badge(event_id, citizens[1].address)
    assert not ledger.has_badge(event_id, citizens[2].address)
    assert ledger.is_badge_revoked(event_id, citizens[2].address)
    assert ledger.event_count() == 1
    assert ledger.limits() == (1_000, 3_000)
    assert ledger.anchored_at(b"\x01" * 32) is None
    assert ledger.badge_collection()["uri_template"] != "https://rogue.example/{id}.json"
    assert not ledger.is_paused()
    for role in ALL_ROLES:
        assert not ledger.has_role(role, stranger.address)
    assert ledger.has_role(Role.MINTER, ledger.address)


def test_operator_with_one_role_cannot_use_the_others(chain, ledger, citizens):
    minter = chain.new_account(funded=True)
    ledger.grant_role(Role.MINTER, minter.address)
    operator = Ledger(chain.chain, ledger.deployment, minter)
    event_id = _open_event(ledger)

    operator.award_points([ActivityAward(1, citizens[0].address, 300)])
    assert ledger.balance_of(citizens[0].address) == 300

    with pytest.raises(NotAuthorized) as info:
        operator.reverse_award(1, 2)
    _assert_not_authorized(info, minter.address, Role.ADMIN)
    with pytest.raises(NotAuthorized) as info:
        operator.issue_badge(event_id, citizens[0].address)
    _assert_not_authorized(info, minter.address, Role.ISSUER)
    with pytest.raises(NotAuthorized) as info:
        operator.pause()
    _assert_not_authorized(info, minter.address, Role.PAUSER)
    with pytest.raises(NotAuthorized) as info:
        operator.redeem_with_consent(ledger.sign_redemption(citizens[0], 10, 1))
    _assert_not_authorized(info, minter.address, Role.REDEEMER)
    with pytest.raises(NotAuthorized) as info:
        operator.set_limits(10**6, 10**7)
    _assert_not_authorized(info, minter.address, Role.ADMIN)
    with pytest.raises(NotAuthorized) as info:
        operator.grant_role(Role.MINTER, citizens[0].address)
    _assert_not_authorized(info, minter.address, Role.ADMIN)

    # Once the role is revoked, its holder cannot award any more.
    ledger.revoke_role(Role.MINTER, minter.address)
    with pytest.raises(NotAuthorized) as info:
        operator.award_points([ActivityAward(2, citizens[0].address, 300)])
    _assert_not_authorized(info, minter.address, Role.MINTER)
    assert ledger.balance_of(citizens[0].address) == 300
    assert not ledger.is_reversed(1)
    assert not ledger.has_badge(event_id, citizens[0].address)
    assert not ledger.is_paused()
    assert ledger.limits() == (1_000, 3_000)
    assert ledger.consent_nonce(citizens[0].address) == 0
    assert not ledger.has_role(Role.MINTER, citizens[0].address)


def test_stranger_cannot_unpause(chain, ledger):
    stranger = chain.new_account(funded=True)
    rogue = Ledger(chain.chain, ledger.deployment, stranger)
    ledger.pause()
    with pytest.raises(NotAuthorized) as info:
        rogue.unpause()
    _assert_not_authorized(info, stranger.address, Role.PAUSER)
    assert ledger.is_paused_contract("points")
    assert ledger.is_paused_contract("badges")


def test_citizen_cannot_award_themselves(chain, ledger, citizens):
    citizen = citizens[0]
    chain.fund(citizen.address)
    own = Ledger(chain.chain, ledger.deployment, citizen)

    with pytest.raises(NotAuthorized) as info:
        own.award_points([ActivityAward(1, citizen.address, 500)])
    _assert_not_authorized(info, citizen.address, Role.MINTER)
    with pytest.raises(NotAuthorized) as info:
        own.award_points([ActivityAward(1, citizen.address, 500), ActivityAward(2, citizen.address, 500)])
    _assert_not_authorized(info, citizen.address, Role.MINTER)
    with pytest.raises(NotAuthorized) as info:
        own.grant_role(Role.MINTER, citizen.address)
    _assert_not_authorized(info, citizen.address, Role.ADMIN)

    assert ledger.balance_of(citizen.address) == 0
    assert ledger.total_supply() == 0
    assert ledger.last_activity_id() == 0
    assert ledger.awarded_today(citizen.address) == 0
    assert not ledger.has_role(Role.MINTER, citizen.address)

    # The id was not used up by the refused attempts: the city can still award it.
    ledger.award_points([ActivityAward(1, citizen.address, 500)])
    assert ledger.balance_of(citizen.address) == 500


def test_badges_rebind_called_by_anyone_but_the_points_contract_is_refused(chain, ledger, citizens):
    alice, bob = citizens[0].address, citizens[1].address
    event_id = _open_event(ledger)
    ledger.issue_badge(event_id, alice)
    ledger.revoke_badge(event_id, alice, 3)
    other_event = _open_event(ledger)
    ledger.issue_badge(other_event, alice)
    stranger = chain.new_account(funded=True)
    admin = chain.new_account(funded=True)
    ledger.grant_role(Role.ADMIN, admin.address)
    ledger.grant_role(Role.ISSUER, admin.address)
    badges = contract(chain, ledger, "badges")

    # Neither a stranger nor an admin and issuer of the badge contract may move badges directly
    # (that would move a record without the new key's consent, and leave the points behind).
    for caller in (stranger, admin):
        with pytest.raises(RebindingNotAllowed) as info:
            _transact(chain, caller, badges.functions.rebind(alice, bob, caller.address))
        assert info.value.values == {"caller": caller.address}

    assert ledger.has_badge(other_event, alice)
    assert ledger.is_badge_revoked(event_id, alice)
    assert not ledger.has_badge(other_event, bob)
    assert not ledger.has_badge(event_id, bob)
    assert not ledger.is_badge_revoked(event_id, bob)
    records = ledger.records_between(ledger.deployment.block_number, ledger.head())
    assert not any(isinstance(r, BadgesMoved) for r in records)


# ---------------------------------------------------------------------------------------- 8. reversals


def test_reverse_award_against_another_citizen_or_amount_is_refused(chain, ledger, citizens):
    alice, bob = citizens[0].address, citizens[1].address
    (first,) = ledger.award_points([ActivityAward(1, alice, 100), ActivityAward(2, bob, 900)])
    (second,) = ledger.award_points([ActivityAward(3, bob, 700)])
    batch = _awards_of(first)
    tree = merkle.make_tree([a.leaf() for a in batch])
    genuine, bobs = batch
    proof = merkle.proof_for(tree, 0)
    rogue_admin = chain.new_account(funded=True)
    ledger.grant_role(Role.ADMIN, rogue_admin.address)
    points = contract(chain, ledger, "points")

    forged = {
        "another citizen": (_head(bob, 100), genuine.body, 1, proof),
        "more points": (_head(alice, 900), genuine.body, 1, proof),
        "fewer points": (_head(alice, 1), genuine.body, 1, proof),
        "another citizen and amount": (_head(bob, 900), genuine.body, 1, proof),
        "another citizen's proof": (bobs.head, genuine.body, 1, merkle.proof_for(tree, 1)),
        "no proof": (genuine.head, genuine.body, 1, []),
        "a batch without a root": (genuine.head, genuine.body, 2, proof),
        "another batch": (genuine.head, genuine.body, 3, []),
    }
    for label, (head, body, batch_key, path) in forged.items():
        with pytest.raises(AwardNotFound) as info:
            _transact(chain, rogue_admin, points.functions.reverseAward(head, body, batch_key, path, 9))
        assert info.value.values == {"activity_id": 1}, label

    assert ledger.balance_of(alice) == 100
    assert ledger.balance_of(bob) == 1_600
    assert ledger.total_supply() == 1_700
    assert not ledger.is_reversed(1)
    assert not any(isinstance(r, AwardReversed) for r in ledger.records_between(second.block_number, ledger.head()))

    # The genuine reversal is still possible, and takes back exactly the award.
    result = ledger.reverse_award(1, 9)
    (reversal,) = [r for r in result.records if isinstance(r, AwardReversed)]
    assert (reversal.activity_id, reversal.citizen, reversal.points, reversal.reason_code) == (1, alice, 100, 9)
    assert ledger.is_reversed(1)
    assert ledger.balance_of(alice) == 0
    assert ledger.balance_of(bob) == 1_600
    assert ledger.total_supply() == 1_600

    # Once reversed it stays reversed: the genuine proof again is refused as such.
    with pytest.raises(ActivityAlreadyReversed) as info:
        _transact(chain, rogue_admin, points.functions.reverseAward(genuine.head, genuine.body, 1, proof, 9))
    assert info.value.values == {"activity_id": 1}
    assert ledger.balance_of(bob) == 1_600


# ---------------------------------------------------------------------------------------- 9. activity ids


def test_award_points_resent_with_a_used_activity_id_is_refused(chain, ledger, citizens):
    alice, bob = citizens[0].address, citizens[1].address
    award = ActivityAward(5, alice, 100)
    ledger.award_points([award])

    # The same award sent again (a retry that does not know the first one was mined)...
    with pytest.raises(ActivityIdNotIncreasing) as info:
        ledger.award_points([award])
    assert info.value.values == {"activity_id": 5, "last_activity_id": 5}
    # ...or the id reused for another citizen, or a lower id, is refused.
    for reused in (ActivityAward(5, bob, 300), ActivityAward(3, bob, 300)):
        with pytest.raises(ActivityIdNotIncreasing) as info:
            ledger.award_points([reused])
        assert info.value.values == {"activity_id": reused.activity_id, "last_activity_id": 5}
    # A batch that starts with a new id and reuses one later is refused whole: by the ledger
    # before sending, and by the contract when a minter sends it by hand.
    with pytest.raises(InvalidInput):
        ledger.award_points([ActivityAward(6, bob, 300), ActivityAward(5, bob, 300)])
    minter = chain.new_account(funded=True)
    ledger.grant_role(Role.MINTER, minter.address)
    batch = [ActivityAward(6, bob, 300).packed(), ActivityAward(5, bob, 300).packed()]
    with pytest.raises(ActivityIdNotIncreasing) as info:
        _transact(chain, minter, contract(chain, ledger, "points").functions.awardPointsBatch(batch))
    assert info.value.values == {"activity_id": 5, "last_activity_id": 6}

    assert ledger.balance_of(alice) == 100
    assert ledger.balance_of(bob) == 0
    assert ledger.total_supply() == 100
    assert ledger.last_activity_id() == 5

    # A reversal does not free the id.
    ledger.reverse_award(5, 1)
    with pytest.raises(ActivityIdNotIncreasing) as info:
        ledger.award_points([award])
    assert info.value.values == {"activity_id": 5, "last_activity_id": 5}
    assert ledger.balance_of(alice) == 0
    ledger.award_points([ActivityAward(6, alice, 100)])
    assert ledger.balance_of(alice) == 100
    assert ledger.last_activity_id() == 6


# ---------------------------------------------------------------------------------------- 10. re-binding


def test_rebind_citizen_consent_cannot_be_replayed_or_redirected(chain, ledger, citizens):
    lost, bob = citizens[0], citizens[1]
    ledger.award_points([ActivityAward(1, lost.address, 300), ActivityAward(2, bob.address, 200)])
    event_id = _open_event(ledger)
    ledger.issue_badge(event_id, lost.address)
    new = chain.new_account()
    consent = ledger.sign_rebinding(new, lost.address, 3)

    def bob_unchanged() -> None:
        assert ledger.balance_of(bob.address) == 200
        assert ledger.current_address(bob.address) == bob.address

    # The new key's signature names the old address and the reason: it moves nothing else.
    for forged in (dataclasses.replace(consent, old=bob.address), dataclasses.replace(consent, reason_code=4)):
        with pytest.raises(InvalidConsentSignature) as info:
            ledger.rebind_citizen(forged)
        assert info.value.values == {"citizen": new.address}
    assert ledger.balance_of(lost.address) == 300
    assert ledger.current_address(lost.address) == lost.address
    bob_unchanged()

    result = ledger.rebind_citizen(consent)
    assert [(r.old, r.new, r.reason_code) for r in result.records if isinstance(r, CitizenRebound)] == [
        (lost.address, new.address, 3)
    ]
    assert ledger.balance_of(new.address) == 300
    assert ledger.has_badge(event_id, new.address)

    # Replayed as it was, or pointed at another fresh key: the old address is re-bound already.
    with pytest.raises(InvalidRebinding) as info:
        ledger.rebind_citizen(consent)
    assert info.value.values == {"from": lost.address, "to": new.address}
    third = chain.new_account()
    with pytest.raises(InvalidRebinding) as info:
        ledger.rebind_citizen(dataclasses.replace(consent, new=third.address))
    assert info.value.values == {"from": lost.address, "to": third.address}
    # The new key cannot take a second citizen's record onto the one it holds...
    with pytest.raises(InvalidRebinding) as info:
        ledger.rebind_citizen(ledger.sign_rebinding(new, bob.address, 3))
    assert info.value.values == {"from": bob.address, "to": new.address}
    # ...nor can a key that holds only a badge (no points) take one onto its badge.
    badge_holder = chain.new_account()
    ledger.issue_badge(event_id, badge_holder.address)
    with pytest.raises(RebindTargetHoldsBadges) as info:
        ledger.rebind_citizen(ledger.sign_rebinding(badge_holder, bob.address, 3))
    assert info.value.values == {"to": badge_holder.address}
    assert ledger.balance_of(badge_holder.address) == 0
    # And the lost address can never be awarded again.
    with pytest.raises(InvalidCitizen) as info:
        ledger.award_points([ActivityAward(3, lost.address, 10)])
    assert info.value.values == {"citizen": lost.address}

    assert ledger.balance_of(lost.address) == 0
    assert ledger.balance_of(new.address) == 300
    assert ledger.balance_of(third.address) == 0
    assert ledger.current_address(lost.address) == new.address
    assert not ledger.has_badge(event_id, lost.address)
    assert ledger.has_badge(event_id, new.address)
    assert ledger.total_supply() == 500
    bob_unchanged()


# ---------------------------------------------------------------------------------------- 11. redemption consent


def test_redeem_with_consent_cannot_be_replayed_relayed_by_a_stranger_or_redirected(chain, ledger, citizens):
    alice, bob = citizens[0], citizens[1]
    ledger.award_points([ActivityAward(1, alice.address, 500), ActivityAward(2, bob.address, 500)])
    consent = ledger.sign_redemption(alice, 100, 7)
    stranger = chain.new_account(funded=True)
    rogue = Ledger(chain.chain, ledger.deployment, stranger)

    def unchanged() -> None:
        assert ledger.balance_of(alice.address) == 500
        assert ledger.balance_of(bob.address) == 500
        assert ledger.total_supply() == 1_000
        assert ledger.consent_nonce(alice.address) == 0
        assert ledger.consent_nonce(bob.address) == 0

    # A relayer without the redeemer role cannot use it, even unspent.
    with pytest.raises(NotAuthorized) as info:
        rogue.redeem_with_consent(consent)
    _assert_not_authorized(info, stranger.address, Role.REDEEMER)
    unchanged()

    # Redirected to another citizen, or with the terms changed, the signature no longer matches.
    for forged, victim in [
        (dataclasses.replace(consent, citizen=bob.address), bob.address),
        (dataclasses.replace(consent, points=500), alice.address),
        (dataclasses.replace(consent, reward_id=8), alice.address),
        (dataclasses.replace(consent, deadline=consent.deadline + 1), alice.address),
    ]:
        with pytest.raises(InvalidConsentSignature) as info:
            ledger.redeem_with_consent(forged)
        assert info.value.values == {"citizen": victim}
    unchanged()

    ledger.redeem_with_consent(consent)
    assert ledger.balance_of(alice.address) == 400
    assert ledger.total_supply() == 900
    assert ledger.consent_nonce(alice.address) == 1

    def redemptions(citizen: str) -> list[PointsRedeemed]:
        return [r for r in ledger.history(citizen) if isinstance(r, PointsRedeemed)]

    (redemption,) = redemptions(alice.address)
    assert (redemption.points, redemption.reward_id, redemption.relayer) == (100, 7, ledger.address)

    # Replay: by the same redeemer, by a second legitimate redeemer, by a stranger.
    with pytest.raises(InvalidConsentSignature) as info:
        ledger.redeem_with_consent(consent)
    assert info.value.values == {"citizen": alice.address}
    operator = chain.new_account(funded=True)
    ledger.grant_role(Role.REDEEMER, operator.address)
    with pytest.raises(InvalidConsentSignature):
        Ledger(chain.chain, ledger.deployment, operator).redeem_with_consent(consent)
    with pytest.raises(NotAuthorized):
        rogue.redeem_with_consent(consent)
    assert ledger.balance_of(alice.address) == 400
    assert ledger.balance_of(bob.address) == 500
    assert ledger.total_supply() == 900
    assert ledger.consent_nonce(alice.address) == 1
    assert len(redemptions(alice.address)) == 1
    assert redemptions(bob.address) == []


def test_redeem_with_consent_beyond_balance_is_refused_and_keeps_the_nonce(chain, ledger, citizens):
    alice = citizens[0]
    ledger.award_points([ActivityAward(1, alice.address, 50)])
    consent = ledger.sign_redemption(alice, 51, 3)
    with pytest.raises(InsufficientPoints) as info:
        ledger.redeem_with_consent(consent)
    assert info.value.values == {"citizen": alice.address, "balance": 50, "needed": 51}
    assert ledger.consent_nonce(alice.address) == 0
    assert ledger.balance_of(alice.address) == 50
