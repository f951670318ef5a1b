"""CivicBadges through the Ledger: events, issuance, voucher claims, revocation and re-issue,
metadata and the soulbound ERC-1155 surface (read with plain web3, as a wallet reads it)."""

from __future__ import annotations

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import keccak
from web3.logs import DISCARD

from ledger import (
    BadgeIssued,
    BadgeReissued,
    BadgeRevoked,
    CityEvent,
    EventCreated,
    Ledger,
    Venue,
    errors,
    load_artifact,
)
from tests.conftest import clock, contract, open_event, send_as

ZERO = "0x" + "00" * 20
URI_TEMPLATE = "http://localhost:8000/v1/badges/{id}.json"
CONTRACT_URI = "http://localhost:8000/v1/badges/collection.json"
VOUCHER_TYPES = {
    "Voucher": [
        {"name": "eventId", "type": "uint256"},
        {"name": "attendee", "type": "address"},
        {"name": "nonce", "type": "uint256"},
        {"name": "deadline", "type": "uint256"},
    ]
}


# ---------------------------------------------------------------- helpers


def badges_contract(chain, ledger):
    return contract(chain, ledger, "badges")


def event_args(chain, ledger, event, tx_hash):
    """The args of every ``event`` the badge contract emitted in ``tx_hash`` (plain web3 ABI)."""
    receipt = chain.w3.eth.get_transaction_receipt(tx_hash)
    logs = getattr(badges_contract(chain, ledger).events, event)().process_receipt(receipt, errors=DISCARD)
    return [dict(log["args"]) for log in logs]


def call_view(chain, call):
    """A plain web3 view call; a revert raises the ledger's error class."""
    with chain.chain.translated("calling a view"):
        return call.call()


def voucher_signable(chain, ledger, event_id, attendee, nonce, deadline):
    _, name, version, chain_id, verifying, _, _ = badges_contract(chain, ledger).functions.eip712Domain().call()
    domain = {"name": name, "version": version, "chainId": chain_id, "verifyingContract": verifying}
    message = {"eventId": event_id, "attendee": attendee, "nonce": nonce, "deadline": deadline}
    return encode_typed_data(domain, VOUCHER_TYPES, message)


def attendees(ledger, event_id):
    return ledger.city_event(event_id).attendees


def badge_records(ledger, citizen):
    return [r for r in ledger.history(citizen) if isinstance(r, BadgeIssued | BadgeRevoked | BadgeReissued)]


def assert_block_time(timestamp, before, chain):
    assert before <= timestamp <= chain.now() + 1


# ---------------------------------------------------------------- createEvent


def test_create_event_assigns_ids_from_one_and_stores_fields(chain, ledger):
    now = clock(chain)
    ref = keccak(text="cleanup-day")
    assert ledger.event_count() == 0

    first, result = ledger.create_event(Venue.PHYSICAL, now, now + 3_600, 0, client_ref=ref)
    second, _ = ledger.create_event(Venue.METAVERSE, now + 10, now + 20, 50)

    assert (first, second) == (1, 2)
    assert ledger.event_count() == 2
    assert ledger.city_event(1) == CityEvent(1, Venue.PHYSICAL, now, now + 3_600, 0, 0)
    assert ledger.city_event(2) == CityEvent(2, Venue.METAVERSE, now + 10, now + 20, 50, 0)
    (created,) = [r for r in result.records if isinstance(r, EventCreated)]
    assert (created.event_id, created.venue, created.claim_start, created.claim_end, created.capacity) == (
        1,
        Venue.PHYSICAL,
        now,
        now + 3_600,
        0,
    )
    assert created.client_ref == "0x" + ref.hex()
    assert event_args(chain, ledger, "EventCreated", result.tx_hash) == [
        {"eventId": 1, "venue": 0, "claimStart": now, "claimEnd": now + 3_600, "capacity": 0, "clientRef": ref}
    ]
    assert event_args(chain, ledger, "Locked", result.tx_hash) == [{"tokenId": 1}]
    assert event_args(chain, ledger, "URI", result.tx_hash) == [{"value": URI_TEMPLATE, "id": 1}]


def test_create_event_window_of_one_instant_is_valid(chain, ledger):
    at = clock(chain) + 100

    event_id, _ = ledger.create_event(Venue.PHYSICAL, at, at, 0)

    assert (ledger.city_event(event_id).claim_start, ledger.city_event(event_id).claim_end) == (at, at)


def test_create_event_window_ending_before_start_reverts_invalid_claim_window(chain, ledger):
    now = clock(chain)

    with pytest.raises(errors.InvalidClaimWindow) as exc:
        ledger.create_event(Venue.PHYSICAL, now + 100, now + 99, 0)

    assert exc.value.values == {"claim_start": now + 100, "claim_end": now + 99}
    assert ledger.event_count() == 0


def test_create_event_same_client_ref_reverts_event_already_created(chain, ledger):
    now = clock(chain)
    ref = keccak(text="town-hall-2026")
    event_id, _ = ledger.create_event(Venue.PHYSICAL, now, now + 100, 0, client_ref=ref)

    with pytest.raises(errors.EventAlreadyCreated) as exc:
        ledger.create_event(Venue.METAVERSE, now, now + 500, 10, client_ref=ref)

    assert exc.value.values == {"client_ref": ref.hex(), "event_id": event_id}
    assert ledger.event_count() == 1
    assert ledger.city_event(event_id) == CityEvent(event_id, Venue.PHYSICAL, now, now + 100, 0, 0)


def test_event_id_for_finds_event_by_client_ref(chain, ledger):
    now = clock(chain)
    ref, other = keccak(text="a"), keccak(text="b")
    ledger.create_event(Venue.PHYSICAL, now, now + 100, 0)
    event_id, _ = ledger.create_event(Venue.PHYSICAL, now, now + 100, 0, client_ref=ref)

    assert ledger.event_id_for(ref) == event_id == 2
    assert ledger.event_id_for(other) is None
    assert badges_contract(chain, ledger).functions.eventIdFor(ref).call() == 2


def test_create_event_zero_client_ref_reverts_invalid_client_reference(chain, ledger):
    now = clock(chain)

    with pytest.raises(errors.InvalidClientReference) as exc:
        ledger.create_event(Venue.PHYSICAL, now, now + 100, 0, client_ref=b"\0" * 32)

    assert exc.value.values == {}
    assert ledger.event_count() == 0


def test_city_event_unknown_id_raises_unknown_event(ledger):
    with pytest.raises(errors.UnknownEvent) as exc:
        ledger.city_event(99)

    assert exc.value.values == {"event_id": 99}


def test_city_event_unknown_id_reverts_unknown_event_on_contract(chain, ledger):
    with pytest.raises(errors.UnknownEvent) as exc:
        call_view(chain, badges_contract(chain, ledger).functions.cityEvent(99))

    assert exc.value.values == {"event_id": 99}


# ---------------------------------------------------------------- metadata


def test_badge_collection_reports_name_symbol_contract_uri_and_uri_template(chain, ledger):
    badges = badges_contract(chain, ledger).functions
    event_id = open_event(chain, ledger)

    assert badges.name().call() == "City Event Badges"
    assert badges.symbol().call() == "BADGE"
    assert badges.contractURI().call() == CONTRACT_URI
    # One ERC-1155 template for every event: clients substitute {id}.
    assert badges.uri(event_id).call() == URI_TEMPLATE
    assert badges.uri(event_id + 1).call() == URI_TEMPLATE
    assert "{id}" in badges.uri(0).call()
    assert ledger.badge_collection() == {
        "name": "City Event Badges",
        "symbol": "BADGE",
        "uri_template": URI_TEMPLATE,
        "contract_uri": CONTRACT_URI,
    }


def test_set_badge_metadata_changes_uri_template_and_contract_uri(chain, ledger):
    template, collection = "https://city.example/b/{id}.json", "https://city.example/b/collection.json"

    uri_result, contract_result = ledger.set_badge_metadata(template, collection)

    badges = badges_contract(chain, ledger).functions
    assert badges.uri(1).call() == template
    assert badges.contractURI().call() == collection
    assert event_args(chain, ledger, "URITemplateChanged", uri_result.tx_hash) == [{"template": template}]
    assert event_args(chain, ledger, "ContractURIUpdated", contract_result.tx_hash) == [{}]


# ---------------------------------------------------------------- issueBadge / issueBadges


def test_issue_badge_gives_attendee_the_badge(chain, ledger, city, citizens):
    attendee, other = citizens[0].address, citizens[1].address
    event_id = open_event(chain, ledger)

    result = ledger.issue_badge(event_id, attendee)

    assert ledger.has_badge(event_id, attendee) is True
    assert ledger.has_badge(event_id, other) is False
    (issued,) = badge_records(ledger, attendee)
    assert isinstance(issued, BadgeIssued)
    assert (issued.event_id, issued.attendee, issued.operator, issued.voucher_issuer) == (
        event_id,
        attendee,
        city.address,
        None,
    )
    assert issued.ref.tx_hash == result.tx_hash
    assert list(result.records) == [issued]
    assert badge_records(ledger, other) == []
    assert ledger.badge_holdings(event_id, [attendee, other]) == {attendee: True, other: False}
    assert attendees(ledger, event_id) == 1
    erc1155 = badges_contract(chain, ledger).functions
    assert erc1155.balanceOf(attendee, event_id).call() == 1
    assert erc1155.balanceOf(other, event_id).call() == 0
    assert erc1155.balanceOfBatch([attendee, other, attendee], [event_id, event_id, event_id + 1]).call() == [1, 0, 0]
    assert event_args(chain, ledger, "TransferSingle", result.tx_hash) == [
        {"operator": city.address, "from": ZERO, "to": attendee, "id": event_id, "value": 1}
    ]


def test_issue_badge_badges_of_several_events_are_independent(chain, ledger, citizens):
    attendee = citizens[0].address
    first, second, third = (open_event(chain, ledger) for _ in range(3))

    ledger.issue_badge(first, attendee)
    ledger.issue_badge(third, attendee)

    assert sorted(r.event_id for r in badge_records(ledger, attendee)) == [first, third]
    balances = badges_contract(chain, ledger).functions.balanceOfBatch([attendee] * 3, [first, second, third])
    assert balances.call() == [1, 0, 1]


def test_balance_of_batch_mismatched_lengths_reverts_erc1155_invalid_array_length(chain, ledger, citizens):
    with pytest.raises(errors.ContractRevert) as exc:
        call_view(chain, badges_contract(chain, ledger).functions.balanceOfBatch([citizens[0].address], [1, 2]))

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
    assert len(badge_records(ledger, attendee)) == 1


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
        ledger.issue_badge(event_id, ZERO)

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

    assert len(results) == 1
    assert [r.attendee for r in results[0].records if isinstance(r, BadgeIssued)] == addresses
    assert all(ledger.has_badge(event_id, a) for a in addresses)
    assert attendees(ledger, event_id) == 3
    assert ledger.has_badge(event_id, citizens[3].address) is False


def test_issue_badges_splits_into_chunks(chain, ledger, citizens):
    event_id = open_event(chain, ledger)
    addresses = [c.address for c in citizens]

    results = ledger.issue_badges(event_id, addresses, chunk_size=2)

    assert [[r.attendee for r in result.records if isinstance(r, BadgeIssued)] for result in results] == [
        addresses[0:2],
        addresses[2:4],
        addresses[4:5],
    ]
    assert attendees(ledger, event_id) == 5


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


def test_issue_badges_duplicate_attendee_rejected_client_side(chain, ledger, citizens):
    event_id = open_event(chain, ledger)
    block = chain.w3.eth.block_number

    with pytest.raises(errors.InvalidInput):
        ledger.issue_badges(event_id, [citizens[0].address, citizens[1].address, citizens[0].address.lower()])

    assert chain.w3.eth.block_number == block


def test_issue_badges_duplicate_attendee_reverts_already_has_badge(chain, ledger, city, citizens):
    event_id = open_event(chain, ledger)
    a, b = citizens[0].address, citizens[1].address

    with pytest.raises(errors.AlreadyHasBadge) as exc:
        send_as(chain, city, badges_contract(chain, ledger).functions.issueBadges(event_id, [a, b, a]))

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


def test_issue_badges_empty_reverts_empty_batch(chain, ledger, city):
    event_id = open_event(chain, ledger)

    with pytest.raises(errors.EmptyBatch) as exc:
        send_as(chain, city, badges_contract(chain, ledger).functions.issueBadges(event_id, []))

    assert exc.value.values == {}


def test_issue_badges_unknown_event_reverts_unknown_event(ledger, citizens):
    with pytest.raises(errors.UnknownEvent) as exc:
        ledger.issue_badges(7, [citizens[0].address])

    assert exc.value.values == {"event_id": 7}


def test_issue_badges_zero_address_reverts_invalid_attendee(chain, ledger, citizens):
    event_id = open_event(chain, ledger)

    with pytest.raises(errors.InvalidAttendee) as exc:
        ledger.issue_badges(event_id, [citizens[0].address, ZERO])

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
    assert event_args(chain, ledger, "BadgeClaimed", result.tx_hash) == [
        {"eventId": event_id, "attendee": attendee, "issuer": city.address, "nonce": 12345}
    ]
    assert event_args(chain, ledger, "TransferSingle", result.tx_hash) == [
        {"operator": city.address, "from": ZERO, "to": attendee, "id": event_id, "value": 1}
    ]
    badges = badges_contract(chain, ledger).functions
    assert badges.isVoucherNonceUsed(city.address, 12345).call() is True
    assert badges.isVoucherNonceUsed(city.address, 12346).call() is False
    (entry,) = badge_records(ledger, attendee)
    assert (type(entry), entry.event_id, entry.voucher_issuer) == (BadgeIssued, event_id, city.address)
    assert entry.ref.tx_hash == result.tx_hash


def test_claim_badge_relayed_by_stranger_still_goes_to_attendee(chain, ledger, citizens):
    attendee = citizens[0].address
    relayer = chain.new_account(funded=True)
    event_id = open_event(chain, ledger)
    voucher = ledger.sign_voucher(event_id, attendee)

    Ledger(chain.chain, ledger.deployment, relayer).claim_badge(voucher)

    assert ledger.has_badge(event_id, attendee) is True
    assert ledger.has_badge(event_id, relayer.address) is False


def test_claim_badge_expired_voucher_reverts_voucher_expired(chain, ledger, citizens):
    attendee = citizens[0].address
    event_id = open_event(chain, ledger)
    before = clock(chain)
    voucher = ledger.sign_voucher(event_id, attendee, deadline=before - 1)

    with pytest.raises(errors.VoucherExpired) as exc:
        ledger.claim_badge(voucher)

    assert exc.value.values["deadline"] == before - 1
    assert_block_time(exc.value.values["timestamp"], before, chain)
    assert set(exc.value.values) == {"deadline", "timestamp"}
    assert ledger.has_badge(event_id, attendee) is False


def test_claim_badge_before_window_reverts_claim_window_closed(chain, ledger, citizens):
    attendee = citizens[0].address
    before = clock(chain)
    event_id, _ = ledger.create_event(Venue.PHYSICAL, before + 1_000, before + 2_000, 0)
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
    now = clock(chain)
    event_id, _ = ledger.create_event(Venue.METAVERSE, now, now + 100, 0)
    voucher = ledger.sign_voucher(event_id, attendee, deadline=now + 10_000)
    chain.advance(200)
    before = clock(chain)

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
    assert badges_contract(chain, ledger).functions.isVoucherNonceUsed(city.address, 3).call() is False
    assert attendees(ledger, event_id) == 1


def test_claim_badge_full_event_reverts_event_full(chain, ledger, citizens):
    event_id = open_event(chain, ledger, capacity=1)
    ledger.issue_badge(event_id, citizens[0].address)

    with pytest.raises(errors.EventFull) as exc:
        ledger.claim_badge(ledger.sign_voucher(event_id, citizens[1].address))

    assert exc.value.values == {"event_id": event_id, "capacity": 1}
    assert ledger.has_badge(event_id, citizens[1].address) is False


def test_claim_badge_unknown_event_reverts_unknown_event(chain, ledger, citizens):
    clock(chain)  # the voucher's deadline counts from the chain's time

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
        Ledger(chain.chain, ledger.deployment, stranger).sign_voucher(event_id, citizens[0].address)


def test_claim_badge_voucher_signed_by_non_issuer_reverts_invalid_voucher_signer(chain, ledger, city, citizens):
    stranger = chain.new_account()
    attendee = citizens[0].address
    event_id = open_event(chain, ledger)
    deadline = chain.now() + 600
    signature = bytes(stranger.sign_message(voucher_signable(chain, ledger, event_id, attendee, 1, deadline)).signature)
    claim = badges_contract(chain, ledger).functions.claimBadge((event_id, attendee, 1, deadline), signature)

    with pytest.raises(errors.InvalidVoucherSigner) as exc:
        send_as(chain, city, claim)

    assert exc.value.values == {"signer": stranger.address}
    assert ledger.has_badge(event_id, attendee) is False


def test_claim_badge_voucher_redirected_to_other_attendee_reverts_invalid_voucher_signer(chain, ledger, city, citizens):
    intended, thief = citizens[0].address, citizens[1].address
    event_id = open_event(chain, ledger)
    voucher = ledger.sign_voucher(event_id, intended, nonce=5)
    redirected = (event_id, thief, voucher.nonce, voucher.deadline)
    recovered = Account.recover_message(
        voucher_signable(chain, ledger, event_id, thief, voucher.nonce, voucher.deadline),
        signature=voucher.signature,
    )

    with pytest.raises(errors.InvalidVoucherSigner) as exc:
        send_as(chain, city, badges_contract(chain, ledger).functions.claimBadge(redirected, voucher.signature))

    assert exc.value.values == {"signer": recovered}
    assert ledger.has_badge(event_id, thief) is False
    assert ledger.has_badge(event_id, intended) is False


def test_claim_badge_truncated_signature_reverts_invalid_signature(chain, ledger, city, citizens):
    event_id = open_event(chain, ledger)
    voucher = ledger.sign_voucher(event_id, citizens[0].address)
    claim = badges_contract(chain, ledger).functions.claimBadge(voucher.as_tuple(), voucher.signature[:64])

    with pytest.raises(errors.InvalidSignature) as exc:
        send_as(chain, city, claim)

    assert exc.value.values == {"length": 64}


def test_voucher_digest_matches_the_eip712_hash_signed_off_chain(chain, ledger, citizens):
    event_id = open_event(chain, ledger)
    voucher = ledger.sign_voucher(event_id, citizens[0].address)
    signable = voucher_signable(chain, ledger, event_id, voucher.attendee, voucher.nonce, voucher.deadline)

    digest = badges_contract(chain, ledger).functions.voucherDigest(voucher.as_tuple()).call()

    assert digest == keccak(b"\x19" + signable.version + signable.header + signable.body)
    assert Account.recover_message(signable, signature=voucher.signature) == voucher.issuer


def test_claim_badge_reentrant_attendee_gets_one_badge(chain, ledger):
    artifact = load_artifact("ReentrantAttendee")
    deployer = chain.new_account(funded=True)
    factory = chain.w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    receipt = send_as(chain, deployer, factory.constructor(ledger.deployment.badges_address))
    attacker = chain.w3.eth.contract(address=receipt["contractAddress"], abi=artifact["abi"])
    event_id = open_event(chain, ledger)
    voucher = ledger.sign_voucher(event_id, attacker.address)
    send_as(chain, deployer, attacker.functions.arm(voucher.as_tuple(), voucher.signature))

    ledger.claim_badge(voucher)

    assert ledger.has_badge(event_id, attacker.address) is True
    assert attendees(ledger, event_id) == 1
    assert attacker.functions.reentryAttempts().call() == 1
    assert attacker.functions.reentrySuccesses().call() == 0
    decoder = errors.RevertDecoder([load_artifact("CivicBadges")["abi"]])
    refused = decoder.decode(attacker.functions.lastReentryError().call())
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
    assert ledger.has_badge(event_id, other) is True
    assert badges_contract(chain, ledger).functions.balanceOf(attendee, event_id).call() == 0
    assert attendees(ledger, event_id) == 1
    assert event_args(chain, ledger, "TransferSingle", result.tx_hash) == [
        {"operator": city.address, "from": attendee, "to": ZERO, "id": event_id, "value": 1}
    ]
    assert event_args(chain, ledger, "BadgeRevoked", result.tx_hash) == [
        {"eventId": event_id, "attendee": attendee, "reasonCode": 4}
    ]
    issued, revoked = badge_records(ledger, attendee)
    assert (type(issued), issued.event_id) == (BadgeIssued, event_id)
    assert (type(revoked), revoked.event_id, revoked.reason_code) == (BadgeRevoked, event_id, 4)
    assert revoked.ref.tx_hash == result.tx_hash
    assert ledger.is_badge_revoked(event_id, attendee) is True
    assert ledger.is_badge_revoked(event_id, other) is False


def test_issue_badge_after_revoke_reverts_badge_was_revoked(chain, ledger, citizens):
    attendee = citizens[0].address
    event_id = open_event(chain, ledger)
    ledger.issue_badge(event_id, attendee)
    ledger.revoke_badge(event_id, attendee, reason_code=1)

    with pytest.raises(errors.BadgeWasRevoked) as exc:
        ledger.issue_badge(event_id, attendee)

    assert exc.value.values == {"event_id": event_id, "attendee": attendee}
    assert ledger.has_badge(event_id, attendee) is False
    assert attendees(ledger, event_id) == 0


def test_issue_badges_with_revoked_attendee_reverts_badge_was_revoked_and_writes_nothing(chain, ledger, citizens):
    revoked, other = citizens[0].address, citizens[1].address
    event_id = open_event(chain, ledger)
    ledger.issue_badge(event_id, revoked)
    ledger.revoke_badge(event_id, revoked, reason_code=1)

    with pytest.raises(errors.BadgeWasRevoked) as exc:
        ledger.issue_badges(event_id, [other, revoked])

    assert exc.value.values == {"event_id": event_id, "attendee": revoked}
    assert ledger.badge_holdings(event_id, [other, revoked]) == {other: False, revoked: False}
    assert attendees(ledger, event_id) == 0


def test_claim_badge_after_revoke_reverts_badge_was_revoked(chain, ledger, city, citizens):
    attendee = citizens[0].address
    event_id = open_event(chain, ledger)
    ledger.claim_badge(ledger.sign_voucher(event_id, attendee, nonce=1))
    ledger.revoke_badge(event_id, attendee, reason_code=2)
    fresh_voucher = ledger.sign_voucher(event_id, attendee, nonce=2)

    with pytest.raises(errors.BadgeWasRevoked) as exc:
        ledger.claim_badge(fresh_voucher)

    assert exc.value.values == {"event_id": event_id, "attendee": attendee}
    assert ledger.has_badge(event_id, attendee) is False
    assert badges_contract(chain, ledger).functions.isVoucherNonceUsed(city.address, 2).call() is False


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


def test_revoke_badge_twice_reverts_no_badge(chain, ledger, citizens):
    attendee = citizens[0].address
    event_id = open_event(chain, ledger)
    ledger.issue_badge(event_id, attendee)
    ledger.revoke_badge(event_id, attendee, reason_code=1)

    with pytest.raises(errors.NoBadge) as exc:
        ledger.revoke_badge(event_id, attendee, reason_code=1)

    assert exc.value.values == {"event_id": event_id, "attendee": attendee}
    assert attendees(ledger, event_id) == 0


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


# ---------------------------------------------------------------- reissueBadge


def test_reissue_badge_restores_revoked_badge_and_emits_badge_reissued(chain, ledger, city, citizens):
    attendee = citizens[0].address
    event_id = open_event(chain, ledger)
    ledger.issue_badge(event_id, attendee)
    ledger.revoke_badge(event_id, attendee, reason_code=1)

    result = ledger.reissue_badge(event_id, attendee, reason_code=6)

    assert ledger.has_badge(event_id, attendee) is True
    assert ledger.is_badge_revoked(event_id, attendee) is False
    assert attendees(ledger, event_id) == 1
    assert badges_contract(chain, ledger).functions.balanceOf(attendee, event_id).call() == 1
    assert event_args(chain, ledger, "TransferSingle", result.tx_hash) == [
        {"operator": city.address, "from": ZERO, "to": attendee, "id": event_id, "value": 1}
    ]
    assert event_args(chain, ledger, "BadgeReissued", result.tx_hash) == [
        {"eventId": event_id, "attendee": attendee, "reasonCode": 6}
    ]
    (reissued,) = [r for r in result.records if isinstance(r, BadgeReissued)]
    assert (reissued.event_id, reissued.attendee, reissued.reason_code) == (event_id, attendee, 6)
    assert [type(r) for r in badge_records(ledger, attendee)][-1] is BadgeReissued


def test_reissue_badge_then_revoke_again_is_remembered_again(chain, ledger, citizens):
    attendee = citizens[0].address
    event_id = open_event(chain, ledger)
    ledger.issue_badge(event_id, attendee)
    ledger.revoke_badge(event_id, attendee, reason_code=1)
    ledger.reissue_badge(event_id, attendee, reason_code=2)

    ledger.revoke_badge(event_id, attendee, reason_code=3)

    assert ledger.is_badge_revoked(event_id, attendee) is True
    with pytest.raises(errors.BadgeWasRevoked):
        ledger.issue_badge(event_id, attendee)


@pytest.mark.parametrize("held", [True, False], ids=["holder", "never-held"])
def test_reissue_badge_not_revoked_reverts_badge_not_revoked(chain, ledger, citizens, held):
    attendee = citizens[0].address
    event_id = open_event(chain, ledger)
    if held:
        ledger.issue_badge(event_id, attendee)

    with pytest.raises(errors.BadgeNotRevoked) as exc:
        ledger.reissue_badge(event_id, attendee, reason_code=1)

    assert exc.value.values == {"event_id": event_id, "attendee": attendee}
    assert ledger.has_badge(event_id, attendee) is held
    assert attendees(ledger, event_id) == int(held)


def test_reissue_badge_unknown_event_reverts_unknown_event(ledger, citizens):
    with pytest.raises(errors.UnknownEvent) as exc:
        ledger.reissue_badge(5, citizens[0].address, reason_code=1)

    assert exc.value.values == {"event_id": 5}


def test_reissue_badge_full_event_reverts_event_full(chain, ledger, citizens):
    attendee, other = citizens[0].address, citizens[1].address
    event_id = open_event(chain, ledger, capacity=1)
    ledger.issue_badge(event_id, attendee)
    ledger.revoke_badge(event_id, attendee, reason_code=1)
    ledger.issue_badge(event_id, other)

    with pytest.raises(errors.EventFull) as exc:
        ledger.reissue_badge(event_id, attendee, reason_code=1)

    assert exc.value.values == {"event_id": event_id, "capacity": 1}
    assert ledger.is_badge_revoked(event_id, attendee) is True
    assert ledger.has_badge(event_id, attendee) is False


def test_reissue_badge_while_paused_reverts_ledger_paused(chain, ledger, citizens):
    attendee = citizens[0].address
    event_id = open_event(chain, ledger)
    ledger.issue_badge(event_id, attendee)
    ledger.revoke_badge(event_id, attendee, reason_code=1)
    ledger.pause()

    with pytest.raises(errors.LedgerPaused) as exc:
        ledger.reissue_badge(event_id, attendee, reason_code=1)

    assert exc.value.values == {}
    assert ledger.is_badge_revoked(event_id, attendee) is True


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
    erc1155 = badges_contract(chain, ledger).functions

    with pytest.raises(errors.BadgeNonTransferable) as exc:
        send_as(chain, holder, build(erc1155, holder.address, other, event_id))

    assert exc.value.values == {}
    assert ledger.has_badge(event_id, holder.address) is True
    assert ledger.has_badge(event_id, other) is False
    assert erc1155.isApprovedForAll(holder.address, other).call() is False


@pytest.mark.parametrize("view", ["locked", "isSoulbound"])
def test_soulbound_views_are_true_for_existing_event(chain, ledger, view):
    event_id = open_event(chain, ledger)

    assert getattr(badges_contract(chain, ledger).functions, view)(event_id).call() is True


@pytest.mark.parametrize("view", ["locked", "isSoulbound"])
def test_soulbound_views_unknown_event_revert_unknown_event(chain, ledger, view):
    open_event(chain, ledger)

    with pytest.raises(errors.UnknownEvent) as exc:
        call_view(chain, getattr(badges_contract(chain, ledger).functions, view)(2))

    assert exc.value.values == {"event_id": 2}


@pytest.mark.parametrize(
    ("interface_id", "supported"),
    [
        ("0x01ffc9a7", True),
        ("0xd9b67a26", True),
        ("0x0e89341c", True),
        ("0xb45a3c0e", True),
        ("0x911ec470", True),
        ("0xffffffff", False),
    ],
    ids=["erc165", "erc1155", "erc1155-metadata-uri", "erc5192", "erc5633", "invalid"],
)
def test_supports_interface_reports_badge_interfaces(chain, ledger, interface_id, supported):
    supports = badges_contract(chain, ledger).functions.supportsInterface(bytes.fromhex(interface_id[2:]))

    assert supports.call() is supported
