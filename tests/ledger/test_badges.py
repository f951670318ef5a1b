"""CivicBadges through the Ledger: events, issuance, voucher claims, revocation and the ERC-1155 surface."""

from __future__ import annotations

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import keccak
from web3.logs import DISCARD

from ledger import BadgeRecord, CityEvent, Ledger, OnChainRef, Venue, errors, load_artifact

ZERO = "0x" + "00" * 20
VOUCHER_TYPES = {
    "Voucher": [
        {"name": "eventId", "type": "uint256"},
        {"name": "attendee", "type": "address"},
        {"name": "nonce", "type": "uint256"},
        {"name": "deadline", "type": "uint256"},
    ]
}


def event_args(ledger, event, tx_hash):
    """The args of every ``event`` the badge contract emitted in ``tx_hash``."""
    receipt = ledger.w3.eth.get_transaction_receipt(tx_hash)
    return [
        dict(log["args"]) for log in getattr(ledger.badges.events, event)().process_receipt(receipt, errors=DISCARD)
    ]


def open_event(chain, ledger, capacity=0, uri="ipfs://event"):
    """An event whose claim window is open now and for the next day."""
    now = chain.now()
    event_id, _ = ledger.create_event(Venue.PHYSICAL, now - 60, now + 86_400, capacity, uri)
    return event_id


def voucher_signable(ledger, event_id, attendee, nonce, deadline):
    message = {"eventId": event_id, "attendee": attendee, "nonce": nonce, "deadline": deadline}
    return encode_typed_data(ledger._domains["badges"], VOUCHER_TYPES, message)


def attendees(ledger, event_id):
    return ledger.city_event(event_id).attendees


def assert_block_time(timestamp, before, chain):
    assert before <= timestamp <= chain.now() + 1


# ---------------------------------------------------------------- createEvent


def test_create_event_assigns_ids_from_one_and_stores_fields(chain, ledger):
    now = chain.now()
    assert ledger.event_count() == 0

    first, result = ledger.create_event(Venue.PHYSICAL, now, now + 3_600, 0, "ipfs://cleanup-day")
    second, _ = ledger.create_event(Venue.METAVERSE, now + 10, now + 20, 50, "https://city.example/town-hall")

    assert (first, second) == (1, 2)
    assert ledger.event_count() == 2
    assert ledger.city_event(1) == CityEvent(1, Venue.PHYSICAL, now, now + 3_600, 0, 0, "ipfs://cleanup-day")
    assert ledger.city_event(2) == CityEvent(
        2, Venue.METAVERSE, now + 10, now + 20, 50, 0, "https://city.example/town-hall"
    )
    assert ledger.badges.functions.uri(2).call() == "https://city.example/town-hall"
    assert event_args(ledger, "EventCreated", result.tx_hash) == [
        {
            "eventId": 1,
            "venue": 0,
            "claimStart": now,
            "claimEnd": now + 3_600,
            "capacity": 0,
            "uri": "ipfs://cleanup-day",
        }
    ]
    assert event_args(ledger, "Locked", result.tx_hash) == [{"tokenId": 1}]
    assert event_args(ledger, "URI", result.tx_hash) == [{"value": "ipfs://cleanup-day", "id": 1}]


def test_create_event_window_of_one_instant_is_valid(chain, ledger):
    at = chain.now() + 100

    event_id, _ = ledger.create_event(Venue.PHYSICAL, at, at, 0, "ipfs://x")

    assert (ledger.city_event(event_id).claim_start, ledger.city_event(event_id).claim_end) == (at, at)


def test_create_event_window_ending_before_start_reverts_invalid_claim_window(chain, ledger):
    now = chain.now()

    with pytest.raises(errors.InvalidClaimWindow) as exc:
        ledger.create_event(Venue.PHYSICAL, now + 100, now + 99, 0, "ipfs://x")

    assert exc.value.values == {"claim_start": now + 100, "claim_end": now + 99}
    assert ledger.event_count() == 0


def test_city_event_unknown_id_raises_unknown_event(ledger):
    with pytest.raises(errors.UnknownEvent) as exc:
        ledger.city_event(99)

    assert exc.value.values == {"event_id": 99}


def test_city_event_unknown_id_reverts_unknown_event_on_contract(ledger):
    with pytest.raises(errors.UnknownEvent) as exc:
        ledger._send(ledger.badges.functions.cityEvent(99))

    assert exc.value.values == {"event_id": 99}


# ---------------------------------------------------------------- issueBadge / issueBadges


def test_issue_badge_gives_attendee_the_badge(chain, ledger, city, citizens):
    attendee, other = citizens[0].address, citizens[1].address
    event_id = open_event(chain, ledger, uri="ipfs://plogging-1")

    result = ledger.issue_badge(event_id, attendee)

    assert ledger.has_badge(event_id, attendee) is True
    assert ledger.has_badge(event_id, other) is False
    ref = OnChainRef(ledger.deployment.chain_id, ledger.badges.address, result.tx_hash, result.block_number, 0)
    assert ledger.badges_of(attendee) == [BadgeRecord(event_id, attendee, ref)]
    assert ledger.badges_of(other) == []
    assert ledger.attendees_of(event_id) == [BadgeRecord(event_id, attendee, ref)]
    assert attendees(ledger, event_id) == 1
    erc1155 = ledger.badges.functions
    assert erc1155.balanceOf(attendee, event_id).call() == 1
    assert erc1155.balanceOf(other, event_id).call() == 0
    assert erc1155.balanceOfBatch([attendee, other, attendee], [event_id, event_id, event_id + 1]).call() == [1, 0, 0]
    assert erc1155.uri(event_id).call() == "ipfs://plogging-1"
    assert event_args(ledger, "TransferSingle", result.tx_hash) == [
        {"operator": city.address, "from": ZERO, "to": attendee, "id": event_id, "value": 1}
    ]


def test_issue_badge_badges_of_several_events_are_independent(chain, ledger, citizens):
    attendee = citizens[0].address
    first, second, third = (open_event(chain, ledger) for _ in range(3))

    ledger.issue_badge(first, attendee)
    ledger.issue_badge(third, attendee)

    assert sorted(b.event_id for b in ledger.badges_of(attendee)) == [first, third]
    assert ledger.badges.functions.balanceOfBatch([attendee] * 3, [first, second, third]).call() == [1, 0, 1]


def test_balance_of_batch_mismatched_lengths_reverts_erc1155_invalid_array_length(ledger, citizens):
    with pytest.raises(errors.ContractRevert) as exc:
        ledger._send(ledger.badges.functions.balanceOfBatch([citizens[0].address], [1, 2]))

    assert exc.value.name == "ERC1155InvalidArrayLength"
    assert exc.value.values == {"ids_length": 2, "values_length": 1}


def test_issue_badge_twice_reverts_already_has_badge(chain, ledger, citizens):
    attendee = citizens[0].address
    event_id = open_event(chain, ledger)
    ledger.issue_badge(event_id, attendee)

    with pytest.raises(errors.AlreadyHasBadge) as exc:
        ledger.issue_badge(event_id, attendee)

    assert exc.value.values == {"event_id": event_id, "attendee": attendee}
    assert attendees(ledger, event_id) == 1
    assert len(ledger.attendees_of(event_id)) == 1


def test_issue_badge_at_capacity_reverts_event_full(chain, ledger, citizens):
    event_id = open_event(chain, ledger, capacity=2)
    ledger.issue_badge(event_id, citizens[0].address)
    ledger.issue_badge(event_id, citizens[1].address)

    with pytest.raises(errors.EventFull) as exc:
        ledger.issue_badge(event_id, citizens[2].address)

    assert exc.value.values == {"event_id": event_id, "capacity": 2}
    assert ledger.has_badge(event_id, citizens[2].address) is False
    assert attendees(ledger, event_id) == 2


def test_issue_badge_unknown_event_reverts_unknown_event(chain, ledger, citizens):
    open_event(chain, ledger)

    with pytest.raises(errors.UnknownEvent) as exc:
        ledger.issue_badge(2, citizens[0].address)

    assert exc.value.values == {"event_id": 2}
    assert ledger.has_badge(2, citizens[0].address) is False


def test_issue_badge_zero_address_reverts_invalid_attendee(chain, ledger):
    event_id = open_event(chain, ledger)

    with pytest.raises(errors.InvalidAttendee) as exc:
        ledger._send(ledger.badges.functions.issueBadge(event_id, ZERO))

    assert exc.value.values == {"attendee": ZERO}
    assert attendees(ledger, event_id) == 0


def test_issue_badge_while_paused_reverts_ledger_paused(chain, ledger, citizens):
    event_id = open_event(chain, ledger)
    ledger.pause()

    with pytest.raises(errors.LedgerPaused) as exc:
        ledger.issue_badge(event_id, citizens[0].address)

    assert exc.value.values == {}
    assert ledger.has_badge(event_id, citizens[0].address) is False


def test_unpause_restores_issuance(chain, ledger, citizens):
    event_id = open_event(chain, ledger)
    ledger.pause()
    with pytest.raises(errors.LedgerPaused):
        ledger.issue_badge(event_id, citizens[0].address)

    ledger.unpause()

    ledger.issue_badge(event_id, citizens[0].address)
    assert ledger.has_badge(event_id, citizens[0].address) is True


def test_issue_badges_gives_every_attendee_the_badge(chain, ledger, citizens):
    event_id = open_event(chain, ledger, capacity=3)
    addresses = [c.address for c in citizens[:3]]

    results = ledger.issue_badges(event_id, addresses)

    assert [r.records for r in results] == [3]
    assert all(ledger.has_badge(event_id, a) for a in addresses)
    assert sorted(b.attendee for b in ledger.attendees_of(event_id)) == sorted(addresses)
    assert attendees(ledger, event_id) == 3
    assert ledger.has_badge(event_id, citizens[3].address) is False


def test_issue_badges_with_existing_holder_reverts_already_has_badge_and_writes_nothing(chain, ledger, citizens):
    event_id = open_event(chain, ledger)
    holder = citizens[1].address
    ledger.issue_badge(event_id, holder)

    with pytest.raises(errors.AlreadyHasBadge) as exc:
        ledger.issue_badges(event_id, [citizens[0].address, holder, citizens[2].address])

    assert exc.value.values == {"event_id": event_id, "attendee": holder}
    assert ledger.has_badge(event_id, citizens[0].address) is False
    assert ledger.has_badge(event_id, citizens[2].address) is False
    assert attendees(ledger, event_id) == 1
    assert [b.attendee for b in ledger.attendees_of(event_id)] == [holder]


def test_issue_badges_duplicate_attendee_rejected_client_side(chain, ledger, citizens):
    event_id = open_event(chain, ledger)
    block = chain.w3.eth.block_number

    with pytest.raises(errors.InvalidInput):
        ledger.issue_badges(event_id, [citizens[0].address, citizens[1].address, citizens[0].address.lower()])

    assert chain.w3.eth.block_number == block


def test_issue_badges_duplicate_attendee_reverts_already_has_badge(chain, ledger, citizens):
    event_id = open_event(chain, ledger)
    a, b = citizens[0].address, citizens[1].address

    with pytest.raises(errors.AlreadyHasBadge) as exc:
        ledger._send(ledger.badges.functions.issueBadges(event_id, [a, b, a]))

    assert exc.value.values == {"event_id": event_id, "attendee": a}
    assert ledger.has_badge(event_id, a) is False
    assert attendees(ledger, event_id) == 0


def test_issue_badges_over_capacity_reverts_event_full_and_writes_nothing(chain, ledger, citizens):
    event_id = open_event(chain, ledger, capacity=3)
    ledger.issue_badge(event_id, citizens[0].address)

    with pytest.raises(errors.EventFull) as exc:
        ledger.issue_badges(event_id, [c.address for c in citizens[1:4]])

    assert exc.value.values == {"event_id": event_id, "capacity": 3}
    assert [ledger.has_badge(event_id, c.address) for c in citizens[:4]] == [True, False, False, False]
    assert attendees(ledger, event_id) == 1


def test_issue_badges_empty_rejected_client_side(chain, ledger):
    event_id = open_event(chain, ledger)

    with pytest.raises(errors.InvalidInput):
        ledger.issue_badges(event_id, [])


def test_issue_badges_empty_reverts_empty_batch(chain, ledger):
    event_id = open_event(chain, ledger)

    with pytest.raises(errors.EmptyBatch) as exc:
        ledger._send(ledger.badges.functions.issueBadges(event_id, []))

    assert exc.value.values == {}


def test_issue_badges_unknown_event_reverts_unknown_event(ledger, citizens):
    with pytest.raises(errors.UnknownEvent) as exc:
        ledger.issue_badges(7, [citizens[0].address])

    assert exc.value.values == {"event_id": 7}


def test_issue_badges_zero_address_reverts_invalid_attendee(chain, ledger, citizens):
    event_id = open_event(chain, ledger)

    with pytest.raises(errors.InvalidAttendee) as exc:
        ledger._send(ledger.badges.functions.issueBadges(event_id, [citizens[0].address, ZERO]))

    assert exc.value.values == {"attendee": ZERO}
    assert ledger.has_badge(event_id, citizens[0].address) is False


def test_issue_badges_while_paused_reverts_ledger_paused(chain, ledger, citizens):
    event_id = open_event(chain, ledger)
    ledger.pause()

    with pytest.raises(errors.LedgerPaused):
        ledger.issue_badges(event_id, [citizens[0].address, citizens[1].address])

    assert attendees(ledger, event_id) == 0


# ---------------------------------------------------------------- claimBadge


def test_claim_badge_with_voucher_gives_badge_to_attendee(chain, ledger, city, citizens):
    attendee = citizens[0].address  # holds no ether: the city relays
    event_id = open_event(chain, ledger)
    voucher = ledger.sign_voucher(event_id, attendee, nonce=12345)
    assert voucher.issuer == city.address

    result = ledger.claim_badge(voucher)

    assert ledger.has_badge(event_id, attendee) is True
    assert ledger.has_badge(event_id, city.address) is False
    assert attendees(ledger, event_id) == 1
    assert event_args(ledger, "BadgeClaimed", result.tx_hash) == [
        {"eventId": event_id, "attendee": attendee, "issuer": city.address, "nonce": 12345}
    ]
    assert event_args(ledger, "TransferSingle", result.tx_hash) == [
        {"operator": city.address, "from": ZERO, "to": attendee, "id": event_id, "value": 1}
    ]
    assert ledger.badges.functions.isVoucherNonceUsed(city.address, 12345).call() is True
    assert ledger.badges.functions.isVoucherNonceUsed(city.address, 12346).call() is False
    (entry,) = ledger.history(attendee)
    assert (entry.action, entry.event_id, entry.points_delta) == ("badge_issued", event_id, 0)
    assert entry.ref.tx_hash == result.tx_hash


def test_claim_badge_relayed_by_stranger_still_goes_to_attendee(chain, ledger, citizens):
    attendee = citizens[0].address
    relayer = chain.new_account(funded=True)
    event_id = open_event(chain, ledger)
    voucher = ledger.sign_voucher(event_id, attendee)

    Ledger(chain.w3, ledger.deployment, relayer).claim_badge(voucher)

    assert ledger.has_badge(event_id, attendee) is True
    assert ledger.has_badge(event_id, relayer.address) is False


def test_claim_badge_expired_voucher_reverts_voucher_expired(chain, ledger, citizens):
    attendee = citizens[0].address
    event_id = open_event(chain, ledger)
    before = chain.now()
    voucher = ledger.sign_voucher(event_id, attendee, deadline=before - 1)

    with pytest.raises(errors.VoucherExpired) as exc:
        ledger.claim_badge(voucher)

    assert exc.value.values["deadline"] == before - 1
    assert_block_time(exc.value.values["timestamp"], before, chain)
    assert set(exc.value.values) == {"deadline", "timestamp"}
    assert ledger.has_badge(event_id, attendee) is False


def test_claim_badge_before_window_reverts_claim_window_closed(chain, ledger, citizens):
    attendee = citizens[0].address
    before = chain.now()
    event_id, _ = ledger.create_event(Venue.PHYSICAL, before + 1_000, before + 2_000, 0, "ipfs://later")
    voucher = ledger.sign_voucher(event_id, attendee, deadline=before + 5_000)

    with pytest.raises(errors.ClaimWindowClosed) as exc:
        ledger.claim_badge(voucher)

    values = exc.value.values
    assert {k: values[k] for k in ("event_id", "claim_start", "claim_end")} == {
        "event_id": event_id,
        "claim_start": before + 1_000,
        "claim_end": before + 2_000,
    }
    assert_block_time(values["timestamp"], before, chain)
    assert ledger.has_badge(event_id, attendee) is False
    # Once the window opens the same voucher works (the failed attempt did not use its nonce).
    chain.advance(1_000)
    ledger.claim_badge(voucher)
    assert ledger.has_badge(event_id, attendee) is True


def test_claim_badge_after_window_reverts_claim_window_closed(chain, ledger, citizens):
    attendee = citizens[0].address
    now = chain.now()
    event_id, _ = ledger.create_event(Venue.METAVERSE, now, now + 100, 0, "ipfs://past")
    voucher = ledger.sign_voucher(event_id, attendee, deadline=now + 10_000)
    chain.advance(200)
    before = chain.now()

    with pytest.raises(errors.ClaimWindowClosed) as exc:
        ledger.claim_badge(voucher)

    values = exc.value.values
    assert {k: values[k] for k in ("event_id", "claim_start", "claim_end")} == {
        "event_id": event_id,
        "claim_start": now,
        "claim_end": now + 100,
    }
    assert_block_time(values["timestamp"], before, chain)
    assert ledger.has_badge(event_id, attendee) is False


def test_claim_badge_reused_voucher_reverts_voucher_already_used(chain, ledger, city, citizens):
    attendee = citizens[0].address
    event_id = open_event(chain, ledger)
    voucher = ledger.sign_voucher(event_id, attendee, nonce=7)
    ledger.claim_badge(voucher)
    ledger.revoke_badge(event_id, attendee, reason_code=1)

    with pytest.raises(errors.VoucherAlreadyUsed) as exc:
        ledger.claim_badge(voucher)

    assert exc.value.values == {"issuer": city.address, "nonce": 7}
    assert ledger.has_badge(event_id, attendee) is False


def test_claim_badge_nonce_is_per_issuer_not_per_event(chain, ledger, citizens):
    first, second = open_event(chain, ledger), open_event(chain, ledger)
    ledger.claim_badge(ledger.sign_voucher(first, citizens[0].address, nonce=1))

    with pytest.raises(errors.VoucherAlreadyUsed):
        ledger.claim_badge(ledger.sign_voucher(second, citizens[1].address, nonce=1))

    assert ledger.has_badge(second, citizens[1].address) is False


def test_claim_badge_attendee_already_holding_reverts_already_has_badge(chain, ledger, city, citizens):
    attendee = citizens[0].address
    event_id = open_event(chain, ledger)
    ledger.issue_badge(event_id, attendee)
    voucher = ledger.sign_voucher(event_id, attendee, nonce=3)

    with pytest.raises(errors.AlreadyHasBadge) as exc:
        ledger.claim_badge(voucher)

    assert exc.value.values == {"event_id": event_id, "attendee": attendee}
    assert ledger.badges.functions.isVoucherNonceUsed(city.address, 3).call() is False
    assert attendees(ledger, event_id) == 1


def test_claim_badge_full_event_reverts_event_full(chain, ledger, citizens):
    event_id = open_event(chain, ledger, capacity=1)
    ledger.issue_badge(event_id, citizens[0].address)

    with pytest.raises(errors.EventFull) as exc:
        ledger.claim_badge(ledger.sign_voucher(event_id, citizens[1].address))

    assert exc.value.values == {"event_id": event_id, "capacity": 1}
    assert ledger.has_badge(event_id, citizens[1].address) is False


def test_claim_badge_unknown_event_reverts_unknown_event(ledger, citizens):
    with pytest.raises(errors.UnknownEvent) as exc:
        ledger.claim_badge(ledger.sign_voucher(4, citizens[0].address))

    assert exc.value.values == {"event_id": 4}


def test_claim_badge_zero_attendee_reverts_invalid_attendee(chain, ledger):
    event_id = open_event(chain, ledger)

    with pytest.raises(errors.InvalidAttendee) as exc:
        ledger.claim_badge(ledger.sign_voucher(event_id, ZERO))

    assert exc.value.values == {"attendee": ZERO}


def test_sign_voucher_without_issuer_role_raises_access_denied(chain, ledger, citizens):
    stranger = chain.new_account(funded=True)
    event_id = open_event(chain, ledger)

    with pytest.raises(errors.AccessDenied):
        Ledger(chain.w3, ledger.deployment, stranger).sign_voucher(event_id, citizens[0].address)


def test_claim_badge_voucher_signed_by_non_issuer_reverts_invalid_voucher_signer(chain, ledger, citizens):
    stranger = chain.new_account()
    attendee = citizens[0].address
    event_id = open_event(chain, ledger)
    deadline = chain.now() + 600
    signable = voucher_signable(ledger, event_id, attendee, 1, deadline)
    signature = bytes(stranger.sign_message(signable).signature)

    with pytest.raises(errors.InvalidVoucherSigner) as exc:
        ledger._send(ledger.badges.functions.claimBadge((event_id, attendee, 1, deadline), signature))

    assert exc.value.values == {"signer": stranger.address}
    assert ledger.has_badge(event_id, attendee) is False


def test_claim_badge_voucher_redirected_to_other_attendee_reverts_invalid_voucher_signer(chain, ledger, citizens):
    intended, thief = citizens[0].address, citizens[1].address
    event_id = open_event(chain, ledger)
    voucher = ledger.sign_voucher(event_id, intended, nonce=5)
    redirected = (event_id, thief, voucher.nonce, voucher.deadline)
    recovered = Account.recover_message(
        voucher_signable(ledger, event_id, thief, voucher.nonce, voucher.deadline), signature=voucher.signature
    )

    with pytest.raises(errors.InvalidVoucherSigner) as exc:
        ledger._send(ledger.badges.functions.claimBadge(redirected, voucher.signature))

    assert exc.value.values == {"signer": recovered}
    assert ledger.has_badge(event_id, thief) is False
    assert ledger.has_badge(event_id, intended) is False


def test_claim_badge_truncated_signature_reverts_invalid_signature(chain, ledger, citizens):
    event_id = open_event(chain, ledger)
    voucher = ledger.sign_voucher(event_id, citizens[0].address)

    with pytest.raises(errors.InvalidSignature) as exc:
        ledger._send(ledger.badges.functions.claimBadge(voucher.as_tuple(), voucher.signature[:64]))

    assert exc.value.values == {"length": 64}


def test_voucher_digest_matches_the_eip712_hash_signed_off_chain(chain, ledger, citizens):
    event_id = open_event(chain, ledger)
    voucher = ledger.sign_voucher(event_id, citizens[0].address)
    signable = voucher_signable(ledger, event_id, voucher.attendee, voucher.nonce, voucher.deadline)

    digest = ledger.badges.functions.voucherDigest(voucher.as_tuple()).call()

    assert digest == keccak(b"\x19" + signable.version + signable.header + signable.body)
    assert ledger._domains["badges"]["verifyingContract"] == ledger.badges.address


def test_claim_badge_reentrant_attendee_gets_one_badge(chain, ledger):
    artifact = load_artifact("ReentrantAttendee")
    deploy = chain.w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"]).constructor(
        ledger.badges.address
    )
    receipt = ledger.tx.send(deploy.build_transaction({"from": ledger.tx.address, "gas": 2_000_000}), budget=2_000_000)
    attacker = chain.w3.eth.contract(address=receipt["contractAddress"], abi=artifact["abi"])
    event_id = open_event(chain, ledger)
    voucher = ledger.sign_voucher(event_id, attacker.address)
    ledger._send(attacker.functions.arm(voucher.as_tuple(), voucher.signature))

    ledger.claim_badge(voucher)

    assert ledger.has_badge(event_id, attacker.address) is True
    assert attendees(ledger, event_id) == 1
    assert attacker.functions.reentryAttempts().call() == 1
    assert attacker.functions.reentrySuccesses().call() == 0
    refused = ledger.tx._decoder.decode(attacker.functions.lastReentryError().call())
    assert isinstance(refused, errors.ReentrantCall)
    assert refused.values == {}


def test_claim_badge_while_paused_reverts_ledger_paused(chain, ledger, citizens):
    event_id = open_event(chain, ledger)
    voucher = ledger.sign_voucher(event_id, citizens[0].address)
    ledger.pause()

    with pytest.raises(errors.LedgerPaused) as exc:
        ledger.claim_badge(voucher)

    assert exc.value.values == {}
    assert ledger.has_badge(event_id, citizens[0].address) is False
    ledger.unpause()
    ledger.claim_badge(voucher)
    assert ledger.has_badge(event_id, citizens[0].address) is True


# ---------------------------------------------------------------- revokeBadge


def test_revoke_badge_burns_badge_and_emits_badge_revoked(chain, ledger, city, citizens):
    attendee, other = citizens[0].address, citizens[1].address
    event_id = open_event(chain, ledger)
    ledger.issue_badges(event_id, [attendee, other])

    result = ledger.revoke_badge(event_id, attendee, reason_code=4)

    assert ledger.has_badge(event_id, attendee) is False
    assert ledger.badges.functions.balanceOf(attendee, event_id).call() == 0
    assert attendees(ledger, event_id) == 1
    assert ledger.badges_of(attendee) == []
    assert [b.attendee for b in ledger.attendees_of(event_id)] == [other]
    assert event_args(ledger, "TransferSingle", result.tx_hash) == [
        {"operator": city.address, "from": attendee, "to": ZERO, "id": event_id, "value": 1}
    ]
    assert event_args(ledger, "BadgeRevoked", result.tx_hash) == [
        {"eventId": event_id, "attendee": attendee, "reasonCode": 4}
    ]
    issued, revoked = ledger.history(attendee)
    assert (issued.action, issued.event_id) == ("badge_issued", event_id)
    assert (revoked.action, revoked.event_id, revoked.reason_code) == ("badge_revoked", event_id, 4)
    assert revoked.ref.tx_hash == result.tx_hash


def test_revoke_badge_then_reissue_succeeds(chain, ledger, citizens):
    attendee = citizens[0].address
    event_id = open_event(chain, ledger)
    ledger.issue_badge(event_id, attendee)
    ledger.revoke_badge(event_id, attendee, reason_code=1)

    result = ledger.issue_badge(event_id, attendee)

    assert ledger.has_badge(event_id, attendee) is True
    assert attendees(ledger, event_id) == 1
    (badge,) = ledger.badges_of(attendee)
    assert badge.ref.tx_hash == result.tx_hash


def test_revoke_badge_frees_capacity(chain, ledger, citizens):
    event_id = open_event(chain, ledger, capacity=1)
    ledger.issue_badge(event_id, citizens[0].address)
    ledger.revoke_badge(event_id, citizens[0].address, reason_code=1)

    ledger.issue_badge(event_id, citizens[1].address)

    assert ledger.has_badge(event_id, citizens[1].address) is True
    assert attendees(ledger, event_id) == 1


def test_revoke_badge_without_badge_reverts_no_badge(chain, ledger, citizens):
    event_id = open_event(chain, ledger)
    ledger.issue_badge(event_id, citizens[1].address)

    with pytest.raises(errors.NoBadge) as exc:
        ledger.revoke_badge(event_id, citizens[0].address, reason_code=1)

    assert exc.value.values == {"event_id": event_id, "attendee": citizens[0].address}
    assert attendees(ledger, event_id) == 1


def test_revoke_badge_unknown_event_reverts_unknown_event(ledger, citizens):
    with pytest.raises(errors.UnknownEvent) as exc:
        ledger.revoke_badge(3, citizens[0].address, reason_code=1)

    assert exc.value.values == {"event_id": 3}


def test_revoke_badge_works_while_paused(chain, ledger, citizens):
    event_id = open_event(chain, ledger)
    ledger.issue_badge(event_id, citizens[0].address)
    ledger.pause()

    ledger.revoke_badge(event_id, citizens[0].address, reason_code=2)

    assert ledger.has_badge(event_id, citizens[0].address) is False


# ---------------------------------------------------------------- soulbound ERC-1155 surface


@pytest.mark.parametrize(
    "build",
    [
        lambda f, holder, other, event_id: f.safeTransferFrom(holder, other, event_id, 1, b""),
        lambda f, holder, other, event_id: f.safeBatchTransferFrom(holder, other, [event_id], [1], b""),
        lambda f, holder, other, event_id: f.setApprovalForAll(other, True),
    ],
    ids=["safeTransferFrom", "safeBatchTransferFrom", "setApprovalForAll"],
)
def test_transfer_functions_revert_badge_non_transferable(build, chain, ledger, citizens):
    holder, other = citizens[0], citizens[1].address
    chain.fund(holder.address)
    event_id = open_event(chain, ledger)
    ledger.issue_badge(event_id, holder.address)
    as_holder = Ledger(chain.w3, ledger.deployment, holder)

    with pytest.raises(errors.BadgeNonTransferable) as exc:
        as_holder._send(build(as_holder.badges.functions, holder.address, other, event_id))

    assert exc.value.values == {}
    assert ledger.has_badge(event_id, holder.address) is True
    assert ledger.has_badge(event_id, other) is False
    assert ledger.badges.functions.isApprovedForAll(holder.address, other).call() is False


def test_locked_is_true_for_existing_event(chain, ledger):
    event_id = open_event(chain, ledger)

    assert ledger.badges.functions.locked(event_id).call() is True


def test_locked_unknown_event_reverts_unknown_event(chain, ledger):
    open_event(chain, ledger)

    with pytest.raises(errors.UnknownEvent) as exc:
        ledger._send(ledger.badges.functions.locked(2))

    assert exc.value.values == {"event_id": 2}


@pytest.mark.parametrize(
    ("interface_id", "supported"),
    [
        ("0xd9b67a26", True),
        ("0x0e89341c", True),
        ("0xb45a3c0e", True),
        ("0x01ffc9a7", True),
        ("0xffffffff", False),
    ],
    ids=["erc1155", "erc1155-metadata-uri", "erc5192", "erc165", "invalid"],
)
def test_supports_interface_reports_badge_interfaces(ledger, interface_id, supported):
    assert ledger.badges.functions.supportsInterface(bytes.fromhex(interface_id[2:])).call() is supported
