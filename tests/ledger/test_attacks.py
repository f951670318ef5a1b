"""Attacks on the points and badge contracts, each pinned to its exact error and the end state.

Every test runs against a fresh deployment (the ``ledger`` fixture). Reverts are asserted by the
ledger's exception class (one per custom error) and, where it matters, by the values the contract
reported; after each refused attack the state it tried to change is read back unchanged.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount
from eth_keys import keys
from web3.contract import Contract

from ledger import ActivityAward, Ledger, Role, SignedVoucher, Venue, load_artifact
from ledger._ledger import _decoder
from ledger.errors import (
    AccessDenied,
    AlreadyHasBadge,
    ContractRevert,
    InsufficientPoints,
    InvalidConsentSignature,
    InvalidSignature,
    InvalidVoucherSigner,
    NotAuthorized,
    ReentrantCall,
    VoucherAlreadyUsed,
)

SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
ADMIN_ROLE_HEX = (b"\0" * 32).hex()
VOUCHER_TYPES = {
    "Voucher": [
        {"name": "eventId", "type": "uint256"},
        {"name": "attendee", "type": "address"},
        {"name": "nonce", "type": "uint256"},
        {"name": "deadline", "type": "uint256"},
    ]
}


# ---------------------------------------------------------------------------------------- helpers


def _send(ledger: Ledger, call: Any, budget: int = 400_000) -> Any:
    """Sends a contract call the Ledger has no method for, signed by the ledger's account."""
    return ledger.tx.send(call.build_transaction({"from": ledger.tx.address, "gas": budget}), budget=budget)


def _open_event(ledger: Ledger, capacity: int = 0) -> int:
    now = ledger.chain_time()
    event_id, _ = ledger.create_event(Venue.PHYSICAL, now - 60, now + 86_400, capacity, "ipfs://city-event")
    return event_id


def _deploy_attacker(ledger: Ledger) -> Contract:
    artifact = load_artifact("ReentrantAttendee")
    factory = ledger.w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    tx = factory.constructor(ledger.badges.address).build_transaction({"from": ledger.tx.address, "gas": 3_000_000})
    receipt = ledger.tx.send(tx, budget=3_000_000)
    return ledger.w3.eth.contract(address=receipt["contractAddress"], abi=artifact["abi"])


def _attendees(ledger: Ledger, event_id: int) -> int:
    return ledger.city_event(event_id).attendees


def _nonce_used(ledger: Ledger, voucher: SignedVoucher) -> bool:
    return bool(ledger.badges.functions.isVoucherNonceUsed(voucher.issuer, voucher.nonce).call())


def _sign_voucher_with(
    signer: LocalAccount, domain: dict[str, Any], event_id: int, attendee: str, nonce: int, deadline: int
) -> SignedVoucher:
    """A voucher signed by ``signer`` over an arbitrary EIP-712 domain (the ledger only signs its own)."""
    message = {"eventId": event_id, "attendee": attendee, "nonce": nonce, "deadline": deadline}
    signature = bytes(signer.sign_message(encode_typed_data(domain, VOUCHER_TYPES, message)).signature)
    return SignedVoucher(event_id, attendee, nonce, deadline, signature, str(signer.address))


def _role_hex(role: Role) -> str:
    return role.role_id.hex()


# ---------------------------------------------------------------------------------------- 1. re-entrancy


def test_reentrant_attendee_gets_exactly_one_badge_from_a_claim(ledger, citizens):
    event_id = _open_event(ledger)
    attacker = _deploy_attacker(ledger)
    voucher = ledger.sign_voucher(event_id, attacker.address)
    _send(ledger, attacker.functions.arm(voucher.as_tuple(), voucher.signature))

    ledger.claim_badge(voucher)

    assert ledger.has_badge(event_id, attacker.address)
    assert ledger.badges.functions.balanceOf(attacker.address, event_id).call() == 1
    assert _attendees(ledger, event_id) == 1
    assert [b.event_id for b in ledger.badges_of(attacker.address)] == [event_id]
    assert [b.attendee for b in ledger.attendees_of(event_id)] == [attacker.address]
    assert attacker.functions.reentryAttempts().call() >= 1
    assert attacker.functions.reentrySuccesses().call() == 0
    reason = _decoder().decode(attacker.functions.lastReentryError().call())
    # The guard runs before the nonce check, so the re-entrant claim is refused by the guard.
    assert isinstance(reason, ReentrantCall)
    assert reason.name == "ReentrancyGuardReentrantCall"
    assert _nonce_used(ledger, voucher)

    # The same voucher from outside is refused as spent, and changes nothing.
    with pytest.raises(VoucherAlreadyUsed) as info:
        ledger.claim_badge(voucher)
    assert info.value.values == {"issuer": ledger.tx.address, "nonce": voucher.nonce}
    assert _attendees(ledger, event_id) == 1


def test_reentrant_attendee_in_a_batch_issue_gets_one_badge_per_event(ledger, citizens):
    first = _open_event(ledger)
    second = _open_event(ledger)
    attacker = _deploy_attacker(ledger)
    first_voucher = ledger.sign_voucher(first, attacker.address)
    _send(ledger, attacker.functions.arm(first_voucher.as_tuple(), first_voucher.signature))
    ledger.claim_badge(first_voucher)
    attempts = attacker.functions.reentryAttempts().call()

    # Arm a fresh, unused voucher for the second event: without the guard the hook would try it
    # after the batch had already recorded the attacker's badge.
    armed = ledger.sign_voucher(second, attacker.address)
    _send(ledger, attacker.functions.arm(armed.as_tuple(), armed.signature))
    others = [c.address for c in citizens[:2]]
    ledger.issue_badges(second, [others[0], attacker.address, others[1]])

    assert attacker.functions.reentryAttempts().call() == attempts + 1  # its hook ran
    assert attacker.functions.reentrySuccesses().call() == 0
    assert isinstance(_decoder().decode(attacker.functions.lastReentryError().call()), ReentrantCall)
    assert not _nonce_used(ledger, armed)  # the re-entrant claim was rolled back entirely
    for event_id in (first, second):
        assert ledger.badges.functions.balanceOf(attacker.address, event_id).call() == 1
    assert _attendees(ledger, first) == 1
    assert _attendees(ledger, second) == 3
    assert sorted(b.event_id for b in ledger.badges_of(attacker.address)) == [first, second]

    # A batch that lists the attacker again for an event it holds is refused whole.
    with pytest.raises(AlreadyHasBadge) as info:
        ledger.issue_badges(first, [citizens[2].address, attacker.address])
    assert info.value.values == {"event_id": first, "attendee": attacker.address}
    assert not ledger.has_badge(first, citizens[2].address)
    assert _attendees(ledger, first) == 1
    assert attacker.functions.reentryAttempts().call() == attempts + 1


# ---------------------------------------------------------------------------------------- 2. replay


def test_voucher_replay_is_refused(ledger, citizens):
    event_id = _open_event(ledger)
    attendee = citizens[0].address
    voucher = ledger.sign_voucher(event_id, attendee)
    ledger.claim_badge(voucher)

    with pytest.raises(VoucherAlreadyUsed) as info:
        ledger.claim_badge(voucher)
    assert info.value.values == {"issuer": ledger.tx.address, "nonce": voucher.nonce}
    assert ledger.has_badge(event_id, attendee)
    assert _attendees(ledger, event_id) == 1


def test_voucher_replay_after_revocation_is_still_refused(ledger, citizens):
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
    assert info.value.values == {"issuer": ledger.tx.address, "nonce": voucher.nonce}
    assert not ledger.has_badge(event_id, attendee)
    assert _attendees(ledger, event_id) == 0

    # Nonces are per issuer, not per attendee or event: re-signing the spent nonce for someone
    # else, or for another event, is refused too.
    other_event = _open_event(ledger)
    for event, who in ((event_id, citizens[1].address), (other_event, attendee)):
        with pytest.raises(VoucherAlreadyUsed):
            ledger.claim_badge(ledger.sign_voucher(event, who, nonce=voucher.nonce))
        assert not ledger.has_badge(event, who)


# ---------------------------------------------------------------------------------------- 3. other deployment


def test_voucher_for_one_deployment_is_refused_by_another(chain, city, ledger, citizens):
    event_a = _open_event(ledger)
    other = Ledger.deploy(chain.w3, city)
    event_b = _open_event(other)
    assert event_a == event_b  # same event id on both: only the EIP-712 domain differs
    assert ledger.badges.address != other.badges.address
    assert other.has_role(Role.ISSUER, city.address) and ledger.has_role(Role.ISSUER, city.address)

    voucher_a = ledger.sign_voucher(event_a, citizens[0].address)
    voucher_b = other.sign_voucher(event_b, citizens[1].address)
    with pytest.raises(InvalidVoucherSigner) as info:
        other.claim_badge(voucher_a)
    assert info.value.values["signer"] != city.address
    assert not other.has_badge(event_b, citizens[0].address)
    assert not other.badges.functions.isVoucherNonceUsed(city.address, voucher_a.nonce).call()

    # Each Ledger keeps its own nonce counter for the shared key: talk to A through a fresh one.
    ledger_a = Ledger(chain.w3, ledger.deployment, city)
    with pytest.raises(InvalidVoucherSigner) as info:
        ledger_a.claim_badge(voucher_b)
    assert info.value.values["signer"] != city.address
    assert not ledger_a.has_badge(event_a, citizens[1].address)

    # Each voucher still works where it was signed for.
    ledger_a.claim_badge(voucher_a)
    Ledger(chain.w3, other.deployment, city).claim_badge(voucher_b)
    assert ledger_a.has_badge(event_a, citizens[0].address)
    assert not ledger_a.has_badge(event_a, citizens[1].address)
    assert other.has_badge(event_b, citizens[1].address)
    assert not other.has_badge(event_b, citizens[0].address)
    assert _attendees(ledger_a, event_a) == 1
    assert _attendees(other, event_b) == 1


# ---------------------------------------------------------------------------------------- 4. other chain


def test_voucher_signed_for_another_chain_id_is_refused(ledger, city, citizens):
    event_id = _open_event(ledger)
    attendee = citizens[0].address
    domain = ledger._domains["badges"]
    deadline = ledger.chain_time() + 600
    foreign = _sign_voucher_with(city, {**domain, "chainId": domain["chainId"] + 1}, event_id, attendee, 11, deadline)

    with pytest.raises(InvalidVoucherSigner) as info:
        ledger.claim_badge(foreign)
    assert info.value.values["signer"] != city.address
    assert not ledger.has_badge(event_id, attendee)
    assert not ledger.badges.functions.isVoucherNonceUsed(city.address, 11).call()

    # Control: the same hand-built voucher over the real domain is accepted, so only chainId differed.
    ledger.claim_badge(_sign_voucher_with(city, domain, event_id, attendee, 11, deadline))
    assert ledger.has_badge(event_id, attendee)


# ---------------------------------------------------------------------------------------- 5. malformed signatures


def test_malleated_signature_is_refused(ledger, citizens):
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
    digest = ledger.badges.functions.voucherDigest(voucher.as_tuple()).call()
    twin = keys.Signature(vrs=(flipped_v - 27, r, high_s))
    assert twin.recover_public_key_from_msg_hash(digest).to_checksum_address() == ledger.tx.address

    # ...and the contract still refuses it.
    with pytest.raises(InvalidSignature) as info:
        ledger.claim_badge(dataclasses.replace(voucher, signature=malleated))
    assert info.value.name == "ECDSAInvalidSignatureS"
    assert info.value.values == {"s": high_s.to_bytes(32, "big").hex()}
    assert not ledger.has_badge(event_id, attendee)
    assert not _nonce_used(ledger, voucher)

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
def test_malformed_signature_is_refused(ledger, citizens, mangle, error_name):
    event_id = _open_event(ledger)
    attendee = citizens[0].address
    voucher = ledger.sign_voucher(event_id, attendee)

    with pytest.raises(InvalidSignature) as info:
        ledger.claim_badge(dataclasses.replace(voucher, signature=mangle(voucher.signature)))
    assert info.value.name == error_name
    assert not ledger.has_badge(event_id, attendee)
    assert not _nonce_used(ledger, voucher)
    assert _attendees(ledger, event_id) == 0


# ---------------------------------------------------------------------------------------- 6. redirection


def test_voucher_redirected_to_another_attendee_is_refused(ledger, citizens):
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
        assert info.value.values["signer"] != ledger.tx.address
    assert not ledger.has_badge(event_id, b)
    assert not ledger.has_badge(other_event, a)
    assert not ledger.has_badge(event_id, a)
    assert not _nonce_used(ledger, voucher)

    ledger.claim_badge(voucher)
    assert ledger.has_badge(event_id, a)
    assert not ledger.has_badge(event_id, b)
    assert _attendees(ledger, event_id) == 1
    assert _attendees(ledger, other_event) == 0


# ---------------------------------------------------------------------------------------- 7. roles


def _assert_not_authorized(info: pytest.ExceptionInfo[ContractRevert], account: str, role: Role) -> None:
    assert info.value.values == {"account": account, "needed_role": _role_hex(role)}


def test_stranger_cannot_mint_issue_pause_or_grant(chain, ledger, citizens):
    stranger = chain.new_account(funded=True)
    rogue = Ledger(chain.w3, ledger.deployment, stranger)
    event_id = _open_event(ledger)
    ledger.issue_badge(event_id, citizens[1].address)
    ledger.award_points(ActivityAward(1, citizens[1].address, 100))

    with pytest.raises(NotAuthorized) as info:
        rogue.award_points(ActivityAward(2, stranger.address, 100))
    _assert_not_authorized(info, stranger.address, Role.MINTER)
    with pytest.raises(NotAuthorized) as info:
        rogue.award_points_batch([ActivityAward(2, stranger.address, 100), ActivityAward(3, stranger.address, 5)])
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
        rogue.create_event(Venue.METAVERSE, 0, 2**40, 0, "ipfs://rogue")
    _assert_not_authorized(info, stranger.address, Role.ISSUER)
    with pytest.raises(NotAuthorized) as info:
        rogue.pause()
    _assert_not_authorized(info, stranger.address, Role.PAUSER)
    with pytest.raises(NotAuthorized) as info:
        _send(rogue, rogue.badges.functions.pause())
    _assert_not_authorized(info, stranger.address, Role.PAUSER)
    for role in (Role.MINTER, Role.ISSUER, Role.PAUSER, Role.REDEEMER, Role.ADMIN):
        with pytest.raises(NotAuthorized) as info:
            rogue.grant_role(role, stranger.address)
        _assert_not_authorized(info, stranger.address, Role.ADMIN)
    with pytest.raises(NotAuthorized) as info:
        rogue.revoke_role(Role.MINTER, ledger.tx.address)
    _assert_not_authorized(info, stranger.address, Role.ADMIN)
    with pytest.raises(NotAuthorized) as info:
        rogue.reverse_award(1, 0)
    _assert_not_authorized(info, stranger.address, Role.ADMIN)
    with pytest.raises(NotAuthorized) as info:
        rogue.set_limits(10**6, 10**7)
    _assert_not_authorized(info, stranger.address, Role.ADMIN)

    # The ledger refuses to sign a voucher for a key without the role; one forged by hand is
    # recovered to the stranger, who is no issuer.
    with pytest.raises(AccessDenied):
        rogue.sign_voucher(event_id, stranger.address)
    forged = _sign_voucher_with(
        stranger, ledger._domains["badges"], event_id, stranger.address, 1, ledger.chain_time() + 600
    )
    with pytest.raises(InvalidVoucherSigner) as info:
        ledger.claim_badge(forged)
    assert info.value.values == {"signer": stranger.address}

    # Nothing changed.
    assert ledger.balance_of(stranger.address) == 0
    assert ledger.total_supply() == 100
    assert ledger.balance_of(citizens[1].address) == 100
    assert ledger.points.functions.activityStatus(1).call() == [True, False]
    assert ledger.points.functions.activityStatus(2).call() == [False, False]
    assert not ledger.has_badge(event_id, stranger.address)
    assert ledger.has_badge(event_id, citizens[1].address)
    assert ledger.event_count() == 1
    assert ledger.limits() == (1_000, 3_000)
    assert not ledger.is_paused()
    assert not ledger.badges.functions.paused().call()
    for role in (Role.MINTER, Role.ISSUER, Role.PAUSER, Role.REDEEMER, Role.ADMIN):
        assert not ledger.has_role(role, stranger.address)
    assert ledger.has_role(Role.MINTER, ledger.tx.address)


def test_stranger_cannot_unpause(chain, ledger):
    rogue = Ledger(chain.w3, ledger.deployment, chain.new_account(funded=True))
    ledger.pause()
    with pytest.raises(NotAuthorized) as info:
        rogue.unpause()
    _assert_not_authorized(info, rogue.tx.address, Role.PAUSER)
    assert ledger.is_paused()
    assert ledger.badges.functions.paused().call()


def test_citizen_cannot_award_themselves(chain, ledger, citizens):
    citizen = citizens[0]
    chain.fund(citizen.address)
    own = Ledger(chain.w3, ledger.deployment, citizen)

    with pytest.raises(NotAuthorized) as info:
        own.award_points(ActivityAward(1, citizen.address, 500))
    _assert_not_authorized(info, citizen.address, Role.MINTER)
    with pytest.raises(NotAuthorized) as info:
        own.award_points_batch([ActivityAward(1, citizen.address, 500)])
    _assert_not_authorized(info, citizen.address, Role.MINTER)
    with pytest.raises(NotAuthorized) as info:
        own.grant_role(Role.MINTER, citizen.address)
    _assert_not_authorized(info, citizen.address, Role.ADMIN)

    assert ledger.balance_of(citizen.address) == 0
    assert ledger.total_supply() == 0
    assert ledger.points.functions.activityStatus(1).call() == [False, False]
    assert ledger.points.functions.awardedToday(citizen.address).call() == 0
    assert not ledger.has_role(Role.MINTER, citizen.address)

    # The id was not burned by the refused attempts: the city can still award it.
    ledger.award_points(ActivityAward(1, citizen.address, 500))
    assert ledger.balance_of(citizen.address) == 500


# ---------------------------------------------------------------------------------------- 8. redemption consent


def test_redemption_consent_cannot_be_replayed_relayed_by_a_stranger_or_redirected(chain, ledger, citizens):
    alice, bob = citizens[0], citizens[1]
    ledger.award_points(ActivityAward(1, alice.address, 500))
    ledger.award_points(ActivityAward(2, bob.address, 500))
    consent = ledger.sign_redemption(alice, 100, 7)
    stranger = chain.new_account(funded=True)
    rogue = Ledger(chain.w3, ledger.deployment, stranger)

    def unchanged() -> None:
        assert ledger.balance_of(alice.address) == 500
        assert ledger.balance_of(bob.address) == 500
        assert ledger.total_supply() == 1_000
        assert ledger.points.functions.consentNonce(alice.address).call() == 0
        assert ledger.points.functions.consentNonce(bob.address).call() == 0

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
    assert ledger.points.functions.consentNonce(alice.address).call() == 1
    (redemption,) = ledger.redemptions_of(alice.address)
    assert (redemption.points, redemption.reward_id, redemption.relayer) == (100, 7, ledger.tx.address)

    # Replay: by the same redeemer, by a second legitimate redeemer, by a stranger.
    with pytest.raises(InvalidConsentSignature) as info:
        ledger.redeem_with_consent(consent)
    assert info.value.values == {"citizen": alice.address}
    operator = chain.new_account(funded=True)
    ledger.grant_role(Role.REDEEMER, operator.address)
    with pytest.raises(InvalidConsentSignature):
        Ledger(chain.w3, ledger.deployment, operator).redeem_with_consent(consent)
    with pytest.raises(NotAuthorized):
        rogue.redeem_with_consent(consent)
    assert ledger.balance_of(alice.address) == 400
    assert ledger.balance_of(bob.address) == 500
    assert ledger.total_supply() == 900
    assert ledger.points.functions.consentNonce(alice.address).call() == 1
    assert len(ledger.redemptions_of(alice.address)) == 1
    assert ledger.redemptions_of(bob.address) == []


def test_redemption_consent_beyond_balance_is_refused_and_does_not_burn_the_nonce(ledger, citizens):
    alice = citizens[0]
    ledger.award_points(ActivityAward(1, alice.address, 50))
    consent = ledger.sign_redemption(alice, 51, 3)
    with pytest.raises(InsufficientPoints) as info:
        ledger.redeem_with_consent(consent)
    assert info.value.values == {"citizen": alice.address, "balance": 50, "needed": 51}
    assert ledger.points.functions.consentNonce(alice.address).call() == 0
    assert ledger.balance_of(alice.address) == 50
