"""Re-binding a lost key at the ledger level: the admin moves a citizen's record (points, the day's
total, the consent nonce, badges and revocations) from the lost address to a fresh one the citizen
signed for. What wallets and explorers see (ERC-20 ``Transfer``, ERC-1155 ``TransferBatch``) is
read with plain web3 (``tests.conftest.contract``)."""

from __future__ import annotations

import dataclasses

import pytest
from eth_account.messages import encode_typed_data
from web3.logs import DISCARD

from ledger import (
    ActivityAward,
    AwardRecorded,
    AwardReversed,
    BadgeIssued,
    BadgesMoved,
    CitizenRebound,
    Ledger,
    PointsRedeemed,
    PointsTransferred,
    RebindingConsent,
    Role,
    errors,
)
from tests.conftest import clock, contract, open_event

ZERO = "0x" + "00" * 20
DAY = 86_400
CITY_MIDNIGHT_UTC = DAY - 9 * 3_600  # 15:00 UTC, midnight in Seoul


# ---------------------------------------------------------------- helpers


def logs_of(chain, ledger, name, event, tx_hash):
    """The args of every ``event`` that contract ``name`` emitted in ``tx_hash`` (plain web3 ABI)."""
    receipt = chain.w3.eth.get_transaction_receipt(tx_hash)
    logs = getattr(contract(chain, ledger, name).events, event)().process_receipt(receipt, errors=DISCARD)
    return [dict(log["args"]) for log in logs]


def award(ledger, *awards):
    (result,) = ledger.award_points(list(awards))
    return result


def rebind(ledger, new, old, reason_code=7, **options):
    """The new key signs for ``old``'s record and the admin re-binds it."""
    return ledger.rebind_citizen(ledger.sign_rebinding(new, old, reason_code, **options))


def points_delta(record):
    if isinstance(record, AwardRecorded):
        return record.points
    if isinstance(record, AwardReversed | PointsRedeemed):
        return -record.points
    return 0


@pytest.fixture
def old(citizens):
    """The citizen's lost key."""
    return citizens[0]


@pytest.fixture
def new(chain):
    """The citizen's fresh key."""
    return chain.new_account()


def assert_not_rebound(ledger, old_address, balance):
    assert ledger.current_address(old_address) == old_address
    assert ledger.balance_of(old_address) == balance


# ---------------------------------------------------------------- moving the record


def test_rebind_citizen_moves_balance_and_badges_to_new_address(chain, ledger, city, old, new):
    award(ledger, ActivityAward(1, old.address, 300), ActivityAward(2, old.address, 200))
    first, second, third = (open_event(chain, ledger) for _ in range(3))
    ledger.issue_badge(first, old.address)
    ledger.issue_badge(third, old.address)

    result = rebind(ledger, new, old.address, reason_code=7)

    assert ledger.balance_of(new.address) == 500
    assert ledger.total_supply() == 500
    assert ledger.badge_holdings(first, [old.address, new.address]) == {old.address: False, new.address: True}
    assert ledger.badge_holdings(second, [new.address]) == {new.address: False}
    assert ledger.badge_holdings(third, [old.address, new.address]) == {old.address: False, new.address: True}
    assert [ledger.city_event(e).attendees for e in (first, second, third)] == [1, 0, 1]
    # What a wallet or an explorer sees: one ERC-20 Transfer and one ERC-1155 TransferBatch.
    assert logs_of(chain, ledger, "points", "Transfer", result.tx_hash) == [
        {"from": old.address, "to": new.address, "value": 500}
    ]
    assert logs_of(chain, ledger, "badges", "TransferBatch", result.tx_hash) == [
        {"operator": city.address, "from": old.address, "to": new.address, "ids": [first, third], "values": [1, 1]}
    ]
    assert logs_of(chain, ledger, "points", "CitizenRebound", result.tx_hash) == [
        {"from": old.address, "to": new.address, "reasonCode": 7}
    ]
    erc1155 = contract(chain, ledger, "badges").functions
    assert erc1155.balanceOfBatch([new.address, new.address], [first, third]).call() == [1, 1]
    assert contract(chain, ledger, "points").functions.balanceOf(new.address).call() == 500
    # The same, as the ledger's typed records.
    records = {type(r): r for r in result.records}
    assert set(records) == {PointsTransferred, BadgesMoved, CitizenRebound}
    assert (records[PointsTransferred].sender, records[PointsTransferred].recipient) == (old.address, new.address)
    assert records[PointsTransferred].points == 500
    assert (records[BadgesMoved].old, records[BadgesMoved].new) == (old.address, new.address)
    assert records[BadgesMoved].event_ids == (first, third)
    rebound = records[CitizenRebound]
    assert (rebound.old, rebound.new, rebound.reason_code) == (old.address, new.address, 7)


def test_rebind_citizen_without_badges_emits_no_transfer_batch(chain, ledger, old, new):
    award(ledger, ActivityAward(1, old.address, 300))

    result = rebind(ledger, new, old.address)

    assert logs_of(chain, ledger, "badges", "TransferBatch", result.tx_hash) == []
    assert ledger.balance_of(new.address) == 300


def test_rebind_citizen_leaves_old_address_empty_and_never_awardable_again(chain, ledger, old, new, citizens):
    other = citizens[1].address
    award(ledger, ActivityAward(1, old.address, 300))
    event_id = open_event(chain, ledger)
    ledger.issue_badge(event_id, old.address)

    rebind(ledger, new, old.address)

    assert ledger.balance_of(old.address) == 0
    assert ledger.awarded_today(old.address) == 0
    assert ledger.has_badge(event_id, old.address) is False
    assert ledger.current_address(old.address) == new.address
    assert ledger.current_address(new.address) == new.address
    with pytest.raises(errors.InvalidCitizen) as exc:
        award(ledger, ActivityAward(2, old.address, 10))
    assert exc.value.values == {"citizen": old.address}
    with pytest.raises(errors.InvalidCitizen):
        award(ledger, ActivityAward(2, other, 10), ActivityAward(3, old.address, 10))
    assert ledger.balance_of(other) == 0
    assert ledger.balance_of(old.address) == 0
    # The new address is an ordinary citizen.
    award(ledger, ActivityAward(2, new.address, 10))
    assert ledger.balance_of(new.address) == 310


def test_rebind_citizen_moves_the_day_total_so_the_cap_still_holds(chain, ledger, old, new):
    chain.advance((CITY_MIDNIGHT_UTC - clock(chain)) % DAY + 60)  # a minute into a city day
    award(ledger, ActivityAward(1, old.address, 1_000), ActivityAward(2, old.address, 1_000))
    award(ledger, ActivityAward(3, old.address, 500))

    rebind(ledger, new, old.address)

    assert ledger.awarded_today(new.address) == 2_500
    with pytest.raises(errors.DailyCapExceeded) as exc:
        award(ledger, ActivityAward(4, new.address, 600))
    assert exc.value.values == {"citizen": new.address, "awarded_today": 2_500, "points": 600, "daily_cap": 3_000}
    award(ledger, ActivityAward(4, new.address, 500))
    assert ledger.balance_of(new.address) == 3_000


def test_rebind_citizen_lets_the_new_key_consent_to_redemptions(ledger, old, new):
    award(ledger, ActivityAward(1, old.address, 500))
    ledger.redeem_with_consent(ledger.sign_redemption(old, 100, reward_id=1))

    rebind(ledger, new, old.address)

    assert ledger.consent_nonce(new.address) == 1
    ledger.redeem_with_consent(ledger.sign_redemption(new, 150, reward_id=2))
    assert ledger.balance_of(new.address) == 250
    # The lost key's consent no longer spends anything: its address holds nothing.
    with pytest.raises(errors.InsufficientPoints):
        ledger.redeem_with_consent(ledger.sign_redemption(old, 10, reward_id=3))


def test_rebind_citizen_moves_revocations_with_the_badges(chain, ledger, old, new):
    revoked, held = open_event(chain, ledger), open_event(chain, ledger)
    ledger.issue_badges(revoked, [old.address])
    ledger.issue_badges(held, [old.address])
    ledger.revoke_badge(revoked, old.address, reason_code=2)

    result = rebind(ledger, new, old.address)

    (moved,) = [r for r in result.records if isinstance(r, BadgesMoved)]
    assert moved.event_ids == (held,)  # only held badges are transferred
    assert ledger.is_badge_revoked(revoked, new.address) is True
    with pytest.raises(errors.BadgeWasRevoked) as exc:
        ledger.issue_badge(revoked, new.address)
    assert exc.value.values == {"event_id": revoked, "attendee": new.address}
    ledger.reissue_badge(revoked, new.address, reason_code=3)
    assert ledger.has_badge(revoked, new.address) is True


def test_reverse_award_made_to_old_address_takes_points_from_new_address(chain, ledger, old, new):
    award(ledger, ActivityAward(1, old.address, 400), ActivityAward(2, old.address, 100))
    rebind(ledger, new, old.address)

    result = ledger.reverse_award(1, reason_code=3)

    assert ledger.balance_of(new.address) == 100
    assert ledger.balance_of(old.address) == 0
    assert ledger.total_supply() == 100
    assert logs_of(chain, ledger, "points", "Transfer", result.tx_hash) == [
        {"from": new.address, "to": ZERO, "value": 400}
    ]
    assert logs_of(chain, ledger, "points", "AwardReversed", result.tx_hash) == [
        {"activityId": 1, "citizen": new.address, "points": 400, "reasonCode": 3}
    ]
    recorded, reversal = ledger.activity(1)
    assert recorded.citizen == old.address  # the original record stays as it was
    assert (reversal.citizen, reversal.points) == (new.address, 400)


def test_history_of_new_address_includes_the_old_address_records(chain, ledger, old, new):
    award(ledger, ActivityAward(1, old.address, 300))
    event_id = open_event(chain, ledger)
    ledger.issue_badge(event_id, old.address)
    rebind(ledger, new, old.address)
    award(ledger, ActivityAward(2, new.address, 50))

    history = ledger.history(new.address)

    assert [(type(r), getattr(r, "citizen", getattr(r, "attendee", None))) for r in history] == [
        (AwardRecorded, old.address),
        (BadgeIssued, old.address),
        (BadgesMoved, None),
        (CitizenRebound, None),
        (AwardRecorded, new.address),
    ]
    assert [r.activity_id for r in history if isinstance(r, AwardRecorded)] == [1, 2]
    assert sum(points_delta(r) for r in history) == ledger.balance_of(new.address) == 350


def test_rebind_citizen_twice_follows_every_rebinding(chain, ledger, old, new):
    newest = chain.new_account()
    award(ledger, ActivityAward(1, old.address, 300))
    rebind(ledger, new, old.address)
    award(ledger, ActivityAward(2, new.address, 50))

    rebind(ledger, newest, new.address)

    assert ledger.current_address(old.address) == newest.address
    assert ledger.current_address(new.address) == newest.address
    assert ledger.balance_of(newest.address) == 350
    ledger.reverse_award(1, reason_code=1)  # awarded to the first address, taken from the last
    assert ledger.balance_of(newest.address) == 50
    history = ledger.history(newest.address)
    assert [(r.old, r.new) for r in history if isinstance(r, CitizenRebound)] == [
        (old.address, new.address),
        (new.address, newest.address),
    ]
    assert [r.activity_id for r in history if isinstance(r, AwardRecorded)] == [1, 2]
    assert sum(points_delta(r) for r in history) == 50


# ---------------------------------------------------------------- refusals


def test_rebind_citizen_to_address_holding_points_reverts_invalid_rebinding(ledger, old, new):
    award(ledger, ActivityAward(1, old.address, 300), ActivityAward(2, new.address, 5))

    with pytest.raises(errors.InvalidRebinding) as exc:
        rebind(ledger, new, old.address)

    assert exc.value.values == {"from": old.address, "to": new.address}
    assert_not_rebound(ledger, old.address, 300)
    assert ledger.balance_of(new.address) == 5


def test_rebind_citizen_to_same_address_reverts_invalid_rebinding(ledger, old):
    award(ledger, ActivityAward(1, old.address, 300))

    with pytest.raises(errors.InvalidRebinding) as exc:
        rebind(ledger, old, old.address)

    assert exc.value.values == {"from": old.address, "to": old.address}
    assert_not_rebound(ledger, old.address, 300)


def test_rebind_citizen_to_an_address_rebound_before_reverts_invalid_rebinding(chain, ledger, old, new, citizens):
    other = citizens[1]
    award(ledger, ActivityAward(1, old.address, 300), ActivityAward(2, other.address, 40))
    rebind(ledger, new, old.address)

    with pytest.raises(errors.InvalidRebinding) as exc:
        rebind(ledger, old, other.address)  # the lost address is not a fresh target

    assert exc.value.values == {"from": other.address, "to": old.address}
    assert_not_rebound(ledger, other.address, 40)
    assert ledger.current_address(old.address) == new.address


def test_rebind_citizen_from_an_address_rebound_before_reverts_invalid_rebinding(chain, ledger, old, new):
    third = chain.new_account()
    award(ledger, ActivityAward(1, old.address, 300))
    rebind(ledger, new, old.address)

    with pytest.raises(errors.InvalidRebinding) as exc:
        rebind(ledger, third, old.address)

    assert exc.value.values == {"from": old.address, "to": third.address}
    assert ledger.current_address(old.address) == new.address
    assert ledger.balance_of(new.address) == 300
    assert ledger.balance_of(third.address) == 0


@pytest.mark.parametrize("old_badge", [True, False], ids=["old-holds-a-badge", "old-holds-no-badge"])
@pytest.mark.parametrize("target_badge", ["held", "revoked"])
def test_rebind_citizen_to_address_holding_badges_reverts_rebind_target_holds_badges(
    chain, ledger, old, new, old_badge, target_badge
):
    award(ledger, ActivityAward(1, old.address, 300))
    event_id = open_event(chain, ledger)
    ledger.issue_badge(event_id, new.address)
    if target_badge == "revoked":
        ledger.revoke_badge(event_id, new.address, reason_code=1)
    if old_badge:
        ledger.issue_badge(open_event(chain, ledger), old.address)

    # The target is not fresh: it holds (or held) a badge, though no points.
    with pytest.raises(errors.RebindTargetHoldsBadges) as exc:
        rebind(ledger, new, old.address)

    assert exc.value.values == {"to": new.address}
    assert_not_rebound(ledger, old.address, 300)
    assert ledger.balance_of(new.address) == 0


@pytest.mark.parametrize("signer", ["old-key", "stranger"])
def test_rebind_citizen_signed_by_other_key_reverts_invalid_consent_signature(chain, ledger, old, new, signer):
    award(ledger, ActivityAward(1, old.address, 300))
    key = old if signer == "old-key" else chain.new_account()
    deadline = chain.now() + 3_600
    typed = ledger.rebinding_typed_data(old.address, new.address, 7, deadline)
    signature = bytes(key.sign_message(encode_typed_data(full_message=typed)).signature)
    forged = RebindingConsent(old.address, new.address, 7, deadline, signature)

    with pytest.raises(errors.InvalidConsentSignature) as exc:
        ledger.rebind_citizen(forged)

    assert exc.value.values == {"citizen": new.address}
    assert_not_rebound(ledger, old.address, 300)
    assert ledger.balance_of(new.address) == 0


@pytest.mark.parametrize("field", ["old", "reason_code", "deadline"])
def test_rebind_citizen_tampered_terms_revert_invalid_consent_signature(chain, ledger, old, new, citizens, field):
    victim = citizens[1].address
    award(ledger, ActivityAward(1, old.address, 300), ActivityAward(2, victim, 80))
    consent = ledger.sign_rebinding(new, old.address, 7)
    value = {"old": victim, "reason_code": 8, "deadline": consent.deadline + 1}[field]

    with pytest.raises(errors.InvalidConsentSignature) as exc:
        ledger.rebind_citizen(dataclasses.replace(consent, **{field: value}))

    assert exc.value.values == {"citizen": new.address}
    assert_not_rebound(ledger, old.address, 300)
    assert_not_rebound(ledger, victim, 80)
    assert ledger.balance_of(new.address) == 0


def test_rebind_citizen_without_signature_reverts_invalid_consent_signature(ledger, old, new):
    award(ledger, ActivityAward(1, old.address, 300))
    consent = ledger.sign_rebinding(new, old.address, 7)

    with pytest.raises(errors.InvalidConsentSignature) as exc:
        ledger.rebind_citizen(dataclasses.replace(consent, signature=b""))

    assert exc.value.values == {"citizen": new.address}
    assert_not_rebound(ledger, old.address, 300)


def test_rebind_citizen_after_deadline_reverts_consent_expired(chain, ledger, old, new):
    award(ledger, ActivityAward(1, old.address, 300))
    consent = ledger.sign_rebinding(new, old.address, 7, deadline=chain.now() + 60)
    chain.advance(120)
    before = chain.now()

    with pytest.raises(errors.ConsentExpired) as exc:
        ledger.rebind_citizen(consent)

    assert exc.value.values["deadline"] == consent.deadline
    assert before <= exc.value.values["timestamp"] <= chain.now() + 1
    assert set(exc.value.values) == {"deadline", "timestamp"}
    assert_not_rebound(ledger, old.address, 300)


@pytest.mark.parametrize("role", [None, Role.MINTER, Role.ISSUER, Role.PAUSER])
def test_rebind_citizen_without_admin_role_reverts_not_authorized(chain, ledger, old, new, role):
    stranger = chain.new_account(funded=True)
    if role is not None:
        ledger.grant_role(role, stranger.address)
    award(ledger, ActivityAward(1, old.address, 300))
    consent = ledger.sign_rebinding(new, old.address, 7)

    with pytest.raises(errors.NotAuthorized) as exc:
        Ledger(chain.chain, ledger.deployment, stranger).rebind_citizen(consent)

    assert exc.value.values == {"account": stranger.address, "needed_role": Role.ADMIN.role_id.hex()}
    assert_not_rebound(ledger, old.address, 300)
    assert ledger.balance_of(new.address) == 0


def test_rebind_citizen_while_paused_reverts_ledger_paused(ledger, old, new):
    award(ledger, ActivityAward(1, old.address, 300))
    consent = ledger.sign_rebinding(new, old.address, 7)
    ledger.pause()

    with pytest.raises(errors.LedgerPaused) as exc:
        ledger.rebind_citizen(consent)

    assert exc.value.values == {}
    assert_not_rebound(ledger, old.address, 300)
    ledger.unpause()
    ledger.rebind_citizen(consent)
    assert ledger.current_address(old.address) == new.address
