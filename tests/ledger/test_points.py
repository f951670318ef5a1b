"""CivicPoints through the Ledger: awards, limits, redemption, reversal, pausing and the ERC-20 surface.

Ledger fixture limits: 1,000 points per award, 3,000 points per citizen per UTC day.
"""

from __future__ import annotations

import dataclasses

import pytest
from web3.logs import DISCARD

from ledger import ActivityAward, Ledger, Metrics, OnChainRef, Redemption, Reversal, errors

ZERO = "0x" + "00" * 20
DAY = 86_400
NO_EVIDENCE = b"\0" * 32
EVIDENCE = bytes.fromhex("5e" * 16 + "a1" * 16)


def event_args(ledger, event, tx_hash):
    """The args of every ``event`` the points contract emitted in ``tx_hash``."""
    receipt = ledger.w3.eth.get_transaction_receipt(tx_hash)
    return [
        dict(log["args"]) for log in getattr(ledger.points.events, event)().process_receipt(receipt, errors=DISCARD)
    ]


def start_next_utc_day(chain):
    """Moves chain time to one minute past the next UTC midnight, so a test's awards share a day."""
    chain.advance(DAY - chain.now() % DAY + 60)


def status(ledger, activity_id):
    return tuple(ledger.points.functions.activityStatus(activity_id).call())


def snapshot(ledger, *addresses):
    return ledger.total_supply(), [ledger.balance_of(a) for a in addresses]


# ---------------------------------------------------------------- awardPoints


def test_award_points_credits_balance_and_total_supply(ledger, citizens):
    a, b = citizens[0].address, citizens[1].address

    ledger.award_points(ActivityAward(1, a, 120))
    ledger.award_points(ActivityAward(2, b, 30))
    ledger.award_points(ActivityAward(3, a, 5))

    assert ledger.balance_of(a) == 125
    assert ledger.balance_of(b) == 30
    assert ledger.total_supply() == 155
    assert ledger.points.functions.awardedToday(a).call() == 125
    assert status(ledger, 1) == (True, False)
    assert status(ledger, 4) == (False, False)


def test_award_points_records_activity_with_metrics_evidence_and_chain_ref(ledger, citizens):
    citizen = citizens[0].address
    metrics = Metrics(distance_meters=5_200, duration_seconds=3_600, litter_grams=850, steps=7_000)

    result = ledger.award_points(ActivityAward(77, citizen, 250, metrics=metrics, evidence_hash=EVIDENCE))

    record = ledger.activity(77)
    assert record is not None
    assert record.activity_id == 77
    assert record.citizen == citizen
    assert record.points == 250
    assert record.kind == 0
    assert record.metrics == metrics
    assert record.evidence_hash == EVIDENCE
    assert record.reversal is None
    assert record.ref == OnChainRef(
        chain_id=ledger.deployment.chain_id,
        contract=ledger.points.address,
        tx_hash=result.tx_hash,
        block_number=result.block_number,
        log_index=0,
    )
    assert event_args(ledger, "ActivityRecorded", result.tx_hash) == [
        {
            "activityId": 77,
            "citizen": citizen,
            "kind": 0,
            "points": 250,
            "metrics": metrics.pack(),
            "evidenceHash": EVIDENCE,
        }
    ]
    # Awards emit no ERC-20 Transfer (by design: ActivityRecorded is the record).
    assert event_args(ledger, "Transfer", result.tx_hash) == []


def test_award_points_metrics_at_field_limits_round_trip(ledger, citizens):
    metrics = Metrics(distance_meters=2**32 - 1, duration_seconds=1, litter_grams=2**32 - 1, steps=0)

    ledger.award_points(ActivityAward(1, citizens[0].address, 10, metrics=metrics))

    assert ledger.activity(1).metrics == metrics


def test_activity_unknown_id_returns_none(ledger, citizens):
    ledger.award_points(ActivityAward(1, citizens[0].address, 10))

    assert ledger.activity(2) is None


def test_unpack_metrics_splits_packed_word_high_to_low(ledger):
    packed = Metrics(distance_meters=1_234, duration_seconds=5_678, litter_grams=90, steps=2**32 - 1).pack()

    assert ledger.points.functions.unpackMetrics(packed).call() == [1_234, 5_678, 90, 2**32 - 1]


def test_award_points_duplicate_id_reverts_duplicate_activity(ledger, citizens):
    a, b = citizens[0].address, citizens[1].address
    ledger.award_points(ActivityAward(5, a, 100))

    with pytest.raises(errors.DuplicateActivity) as exc:
        ledger.award_points(ActivityAward(5, b, 200))

    assert exc.value.values == {"activity_id": 5}
    assert snapshot(ledger, a, b) == (100, [100, 0])
    assert ledger.activity(5).citizen == a


def test_award_points_reversed_id_reverts_duplicate_activity(ledger, citizens):
    citizen = citizens[0].address
    ledger.award_points(ActivityAward(5, citizen, 100))
    ledger.reverse_award(5, reason_code=1)

    with pytest.raises(errors.DuplicateActivity) as exc:
        ledger.award_points(ActivityAward(5, citizen, 100))

    assert exc.value.values == {"activity_id": 5}
    assert ledger.balance_of(citizen) == 0


def test_award_points_zero_points_rejected_client_side(citizens):
    with pytest.raises(errors.InvalidInput):
        ActivityAward(1, citizens[0].address, 0)


def test_award_points_zero_points_reverts_zero_points_award(ledger, citizens):
    citizen = citizens[0].address

    with pytest.raises(errors.ZeroPointsAward) as exc:
        ledger._send(ledger.points.functions.awardPoints((9, citizen, 0, 0, 0, NO_EVIDENCE)))

    assert exc.value.values == {"activity_id": 9}
    assert status(ledger, 9) == (False, False)


def test_award_points_at_maximum_succeeds(ledger, citizens):
    ledger.award_points(ActivityAward(1, citizens[0].address, 1_000))

    assert ledger.balance_of(citizens[0].address) == 1_000


def test_award_points_over_maximum_reverts_award_too_large(ledger, citizens):
    citizen = citizens[0].address

    with pytest.raises(errors.AwardTooLarge) as exc:
        ledger.award_points(ActivityAward(3, citizen, 1_001))

    assert exc.value.values == {"activity_id": 3, "points": 1_001, "max_points_per_award": 1_000}
    assert snapshot(ledger, citizen) == (0, [0])
    assert ledger.activity(3) is None


def test_award_points_over_daily_cap_reverts_daily_cap_exceeded(chain, ledger, citizens):
    a, b = citizens[0].address, citizens[1].address
    start_next_utc_day(chain)
    for activity_id in (1, 2, 3):  # exactly the cap is allowed
        ledger.award_points(ActivityAward(activity_id, a, 1_000))

    with pytest.raises(errors.DailyCapExceeded) as exc:
        ledger.award_points(ActivityAward(4, a, 1))

    assert exc.value.values == {"citizen": a, "awarded_today": 3_000, "points": 1, "daily_cap": 3_000}
    assert status(ledger, 4) == (False, False)
    assert ledger.balance_of(a) == 3_000
    # The cap is per citizen.
    ledger.award_points(ActivityAward(5, b, 1_000))
    assert ledger.balance_of(b) == 1_000


def test_award_points_daily_cap_counts_partial_awards(chain, ledger, citizens):
    a = citizens[0].address
    start_next_utc_day(chain)
    ledger.award_points(ActivityAward(1, a, 1_000))
    ledger.award_points(ActivityAward(2, a, 1_000))
    ledger.award_points(ActivityAward(3, a, 900))

    with pytest.raises(errors.DailyCapExceeded) as exc:
        ledger.award_points(ActivityAward(4, a, 101))

    assert exc.value.values == {"citizen": a, "awarded_today": 2_900, "points": 101, "daily_cap": 3_000}
    ledger.award_points(ActivityAward(5, a, 100))
    assert ledger.balance_of(a) == 3_000


def test_award_points_daily_cap_resets_next_utc_day(chain, ledger, citizens):
    a = citizens[0].address
    start_next_utc_day(chain)
    for activity_id in (1, 2, 3):
        ledger.award_points(ActivityAward(activity_id, a, 1_000))
    with pytest.raises(errors.DailyCapExceeded):
        ledger.award_points(ActivityAward(4, a, 1_000))

    chain.advance(DAY)

    assert ledger.points.functions.awardedToday(a).call() == 0
    ledger.award_points(ActivityAward(4, a, 1_000))
    assert ledger.points.functions.awardedToday(a).call() == 1_000
    assert ledger.balance_of(a) == 4_000


def test_award_points_unknown_kind_reverts_unknown_activity_kind(ledger, citizens):
    citizen = citizens[0].address

    with pytest.raises(errors.UnknownActivityKind) as exc:
        ledger.award_points(ActivityAward(11, citizen, 50, kind=3))

    assert exc.value.values == {"activity_id": 11, "kind": 3}
    assert ledger.balance_of(citizen) == 0


def test_set_activity_kind_enables_kind_and_emits_activity_kind_set(ledger, citizens):
    citizen = citizens[0].address
    assert ledger.points.functions.isActivityKindEnabled(3).call() is False

    result = ledger.set_activity_kind(3, True, "tree planting")

    assert event_args(ledger, "ActivityKindSet", result.tx_hash) == [
        {"kind": 3, "enabled": True, "label": "tree planting"}
    ]
    assert ledger.points.functions.isActivityKindEnabled(3).call() is True
    ledger.award_points(ActivityAward(11, citizen, 50, kind=3))
    assert ledger.activity(11).kind == 3
    assert ledger.balance_of(citizen) == 50


def test_set_activity_kind_disabled_kind_reverts_unknown_activity_kind(ledger, citizens):
    citizen = citizens[0].address
    assert ledger.points.functions.isActivityKindEnabled(0).call() is True  # plogging, enabled at deploy

    ledger.set_activity_kind(0, False, "plogging")

    assert ledger.points.functions.isActivityKindEnabled(0).call() is False
    with pytest.raises(errors.UnknownActivityKind) as exc:
        ledger.award_points(ActivityAward(1, citizen, 50))
    assert exc.value.values == {"activity_id": 1, "kind": 0}


def test_award_points_zero_address_reverts_invalid_citizen(ledger):
    with pytest.raises(errors.InvalidCitizen) as exc:
        ledger._send(ledger.points.functions.awardPoints((1, ZERO, 10, 0, 0, NO_EVIDENCE)))

    assert exc.value.values == {"citizen": ZERO}
    # The client-side record accepts the zero address (it is a well-formed address); the contract refuses.
    with pytest.raises(errors.InvalidCitizen):
        ledger.award_points(ActivityAward(1, ZERO, 10))
    assert ledger.total_supply() == 0


def test_award_points_while_paused_reverts_ledger_paused(ledger, citizens):
    citizen = citizens[0].address
    ledger.pause()
    assert ledger.is_paused() is True

    with pytest.raises(errors.LedgerPaused) as exc:
        ledger.award_points(ActivityAward(1, citizen, 10))

    assert exc.value.values == {}
    assert ledger.balance_of(citizen) == 0


def test_unpause_restores_awards(ledger, citizens):
    citizen = citizens[0].address
    ledger.pause()
    with pytest.raises(errors.LedgerPaused):
        ledger.award_points(ActivityAward(1, citizen, 10))

    ledger.unpause()

    assert ledger.is_paused() is False
    ledger.award_points(ActivityAward(1, citizen, 10))
    assert ledger.balance_of(citizen) == 10


def test_pause_when_paused_reverts_ledger_paused(ledger):
    ledger.pause()

    with pytest.raises(errors.LedgerPaused):
        ledger.pause()


def test_unpause_when_not_paused_reverts_expected_pause(ledger):
    with pytest.raises(errors.ContractRevert) as exc:
        ledger.unpause()

    assert exc.value.name == "ExpectedPause"
    assert exc.value.values == {}


# ---------------------------------------------------------------- awardPointsBatch


def test_award_points_batch_credits_each_citizen_in_one_transaction(ledger, citizens):
    a, b = citizens[0].address, citizens[1].address
    awards = [
        ActivityAward(10, a, 100),
        ActivityAward(11, b, 200, evidence_hash=EVIDENCE),
        ActivityAward(12, a, 300, metrics=Metrics(steps=4_000)),
    ]

    results = ledger.award_points_batch(awards)

    assert len(results) == 1
    assert results[0].records == 3
    assert ledger.balance_of(a) == 400
    assert ledger.balance_of(b) == 200
    assert ledger.total_supply() == 600
    records = [ledger.activity(i) for i in (10, 11, 12)]
    assert [(r.citizen, r.points) for r in records] == [(a, 100), (b, 200), (a, 300)]
    assert {r.ref.tx_hash for r in records} == {results[0].tx_hash}
    assert [r.ref.log_index for r in records] == [0, 1, 2]
    assert records[1].evidence_hash == EVIDENCE
    assert records[2].metrics == Metrics(steps=4_000)


def test_award_points_batch_id_awarded_earlier_reverts_duplicate_activity(ledger, citizens):
    a, b = citizens[0].address, citizens[1].address
    ledger.award_points(ActivityAward(2, a, 100))

    with pytest.raises(errors.DuplicateActivity) as exc:
        ledger.award_points_batch([ActivityAward(1, b, 50), ActivityAward(2, b, 50), ActivityAward(3, b, 50)])

    assert exc.value.values == {"activity_id": 2}
    assert snapshot(ledger, a, b) == (100, [100, 0])
    assert status(ledger, 1) == (False, False)
    assert ledger.activity(1) is None


def test_award_points_batch_duplicate_ids_inside_batch_rejected_client_side(ledger, chain, citizens):
    a = citizens[0].address
    block = chain.w3.eth.block_number

    with pytest.raises(errors.InvalidInput):
        ledger.award_points_batch([ActivityAward(1, a, 10), ActivityAward(2, a, 10), ActivityAward(1, a, 10)])

    assert chain.w3.eth.block_number == block  # nothing was sent
    assert ledger.balance_of(a) == 0


def test_award_points_batch_duplicate_ids_inside_batch_reverts_duplicate_activity(ledger, citizens):
    a = citizens[0].address
    batch = [(1, a, 10, 0, 0, NO_EVIDENCE), (2, a, 10, 0, 0, NO_EVIDENCE), (1, a, 10, 0, 0, NO_EVIDENCE)]

    with pytest.raises(errors.DuplicateActivity) as exc:
        ledger._send(ledger.points.functions.awardPointsBatch(batch))

    assert exc.value.values == {"activity_id": 1}
    assert snapshot(ledger, a) == (0, [0])
    assert status(ledger, 1) == (False, False)


def test_award_points_batch_failing_midway_writes_nothing(ledger, citizens):
    a, b = citizens[0].address, citizens[1].address

    with pytest.raises(errors.AwardTooLarge) as exc:
        ledger.award_points_batch([ActivityAward(1, a, 100), ActivityAward(2, b, 200), ActivityAward(3, a, 5_000)])

    assert exc.value.values == {"activity_id": 3, "points": 5_000, "max_points_per_award": 1_000}
    assert snapshot(ledger, a, b) == (0, [0, 0])
    assert [status(ledger, i) for i in (1, 2, 3)] == [(False, False)] * 3
    assert ledger.activities_of(a) == []
    assert ledger.activities_of(b) == []


def test_award_points_batch_daily_cap_accumulates_within_batch(chain, ledger, citizens):
    a = citizens[0].address
    start_next_utc_day(chain)
    ledger.award_points(ActivityAward(1, a, 500))
    awards = [ActivityAward(2, a, 1_000), ActivityAward(3, a, 1_000), ActivityAward(4, a, 600)]

    with pytest.raises(errors.DailyCapExceeded) as exc:
        ledger.award_points_batch(awards)

    assert exc.value.values == {"citizen": a, "awarded_today": 2_500, "points": 600, "daily_cap": 3_000}
    assert ledger.balance_of(a) == 500
    assert ledger.points.functions.awardedToday(a).call() == 500


def test_award_points_batch_chunks_commit_independently(ledger, citizens):
    a = citizens[0].address
    awards = [ActivityAward(1, a, 100), ActivityAward(2, a, 200), ActivityAward(3, a, 1_001)]

    with pytest.raises(errors.AwardTooLarge):
        ledger.award_points_batch(awards, chunk_size=2)

    # The first chunk was its own transaction and stays; only the failing chunk is undone.
    assert ledger.balance_of(a) == 300
    assert [status(ledger, i) for i in (1, 2, 3)] == [(True, False), (True, False), (False, False)]


def test_award_points_batch_splits_into_chunks(ledger, citizens):
    a = citizens[0].address
    awards = [ActivityAward(i, a, 10) for i in range(1, 6)]

    results = ledger.award_points_batch(awards, chunk_size=2)

    assert [r.records for r in results] == [2, 2, 1]
    assert len({r.tx_hash for r in results}) == 3
    assert ledger.balance_of(a) == 50


def test_award_points_batch_empty_rejected_client_side(ledger):
    with pytest.raises(errors.InvalidInput):
        ledger.award_points_batch([])


def test_award_points_batch_empty_reverts_empty_batch(ledger):
    with pytest.raises(errors.EmptyBatch) as exc:
        ledger._send(ledger.points.functions.awardPointsBatch([]))

    assert exc.value.values == {}


def test_award_points_batch_zero_address_reverts_invalid_citizen(ledger, citizens):
    a = citizens[0].address
    batch = [(1, a, 10, 0, 0, NO_EVIDENCE), (2, ZERO, 10, 0, 0, NO_EVIDENCE)]

    with pytest.raises(errors.InvalidCitizen) as exc:
        ledger._send(ledger.points.functions.awardPointsBatch(batch))

    assert exc.value.values == {"citizen": ZERO}
    assert ledger.balance_of(a) == 0


def test_award_points_batch_while_paused_reverts_ledger_paused(ledger, citizens):
    a = citizens[0].address
    ledger.pause()

    with pytest.raises(errors.LedgerPaused):
        ledger.award_points_batch([ActivityAward(1, a, 10), ActivityAward(2, a, 10)])

    assert ledger.balance_of(a) == 0


# ---------------------------------------------------------------- ERC-20 surface


def test_erc20_views_report_name_symbol_zero_decimals_and_no_allowance(ledger, citizens):
    a, b = citizens[0].address, citizens[1].address
    erc20 = ledger.points.functions
    assert erc20.name().call() == "City ESG Points"
    assert erc20.symbol().call() == "ESG"
    assert erc20.decimals().call() == 0
    assert erc20.totalSupply().call() == 0

    ledger.award_points(ActivityAward(1, a, 40))

    assert erc20.totalSupply().call() == 40
    assert erc20.balanceOf(a).call() == 40
    assert erc20.balanceOf(b).call() == 0
    assert erc20.allowance(a, b).call() == 0


@pytest.mark.parametrize(
    "build",
    [
        lambda f, holder, other: f.transfer(other, 1),
        lambda f, holder, other: f.approve(other, 1),
        lambda f, holder, other: f.transferFrom(holder, other, 1),
    ],
    ids=["transfer", "approve", "transferFrom"],
)
def test_transfer_functions_revert_points_non_transferable(build, chain, ledger, citizens):
    holder, other = citizens[0], citizens[1].address
    chain.fund(holder.address)
    ledger.award_points(ActivityAward(1, holder.address, 100))
    as_holder = Ledger(chain.w3, ledger.deployment, holder)

    with pytest.raises(errors.PointsNonTransferable) as exc:
        as_holder._send(build(as_holder.points.functions, holder.address, other))
    assert exc.value.values == {}
    # The city's operating account cannot move points either.
    with pytest.raises(errors.PointsNonTransferable):
        ledger._send(build(ledger.points.functions, holder.address, other))

    assert ledger.balance_of(holder.address) == 100
    assert ledger.balance_of(other) == 0


# ---------------------------------------------------------------- setLimits


def test_set_limits_updates_limits_and_emits_limits_changed(ledger, citizens):
    citizen = citizens[0].address
    assert ledger.limits() == (1_000, 3_000)

    result = ledger.set_limits(500, 500)  # the maximum may equal the cap

    assert ledger.limits() == (500, 500)
    assert event_args(ledger, "LimitsChanged", result.tx_hash) == [{"maxPointsPerAward": 500, "dailyCap": 500}]
    with pytest.raises(errors.AwardTooLarge) as exc:
        ledger.award_points(ActivityAward(1, citizen, 501))
    assert exc.value.values == {"activity_id": 1, "points": 501, "max_points_per_award": 500}


def test_set_limits_lowered_cap_applies_to_points_already_awarded_today(chain, ledger, citizens):
    citizen = citizens[0].address
    start_next_utc_day(chain)
    ledger.award_points(ActivityAward(1, citizen, 400))
    ledger.set_limits(200, 500)

    with pytest.raises(errors.DailyCapExceeded) as exc:
        ledger.award_points(ActivityAward(2, citizen, 101))

    assert exc.value.values == {"citizen": citizen, "awarded_today": 400, "points": 101, "daily_cap": 500}


@pytest.mark.parametrize(
    ("max_points", "cap"),
    [(0, 100), (0, 0), (101, 100)],
    ids=["zero-maximum", "both-zero", "maximum-above-cap"],
)
def test_set_limits_invalid_values_revert_invalid_limits(ledger, max_points, cap):
    with pytest.raises(errors.InvalidLimits) as exc:
        ledger.set_limits(max_points, cap)

    assert exc.value.values == {"max_points_per_award": max_points, "daily_cap": cap}
    assert ledger.limits() == (1_000, 3_000)


# ---------------------------------------------------------------- redeem


def test_redeem_burns_points_and_emits_points_redeemed(chain, ledger, citizens):
    citizen = citizens[0]
    chain.fund(citizen.address)
    ledger.award_points(ActivityAward(1, citizen.address, 300))

    result = ledger.redeem(citizen, 120, reward_id=7)

    assert ledger.balance_of(citizen.address) == 180
    assert ledger.total_supply() == 180
    assert event_args(ledger, "PointsRedeemed", result.tx_hash) == [
        {"citizen": citizen.address, "rewardId": 7, "points": 120, "relayer": citizen.address}
    ]
    (redemption,) = ledger.redemptions_of(citizen.address)
    assert redemption == Redemption(
        citizen=citizen.address,
        reward_id=7,
        points=120,
        relayer=citizen.address,
        ref=OnChainRef(ledger.deployment.chain_id, ledger.points.address, result.tx_hash, result.block_number, 0),
    )


def test_redeem_whole_balance_leaves_zero(chain, ledger, citizens):
    citizen = citizens[0]
    chain.fund(citizen.address)
    ledger.award_points(ActivityAward(1, citizen.address, 300))

    ledger.redeem(citizen, 300, reward_id=1)

    assert ledger.balance_of(citizen.address) == 0
    assert ledger.total_supply() == 0


def test_redeem_more_than_balance_reverts_insufficient_points(chain, ledger, citizens):
    citizen = citizens[0]
    chain.fund(citizen.address)
    ledger.award_points(ActivityAward(1, citizen.address, 100))

    with pytest.raises(errors.InsufficientPoints) as exc:
        ledger.redeem(citizen, 101, reward_id=7)

    assert exc.value.values == {"citizen": citizen.address, "balance": 100, "needed": 101}
    assert ledger.balance_of(citizen.address) == 100
    assert ledger.redemptions_of(citizen.address) == []


def test_redeem_zero_points_reverts_insufficient_points(chain, ledger, citizens):
    citizen = citizens[0]
    chain.fund(citizen.address)
    ledger.award_points(ActivityAward(1, citizen.address, 100))

    with pytest.raises(errors.InsufficientPoints) as exc:
        ledger.redeem(citizen, 0, reward_id=7)

    assert exc.value.values == {"citizen": citizen.address, "balance": 100, "needed": 0}


def test_redeem_works_while_paused(chain, ledger, citizens):
    citizen = citizens[0]
    chain.fund(citizen.address)
    ledger.award_points(ActivityAward(1, citizen.address, 100))
    ledger.pause()

    ledger.redeem(citizen, 60, reward_id=2)

    assert ledger.balance_of(citizen.address) == 40


# ---------------------------------------------------------------- redeemWithConsent


def test_redeem_with_consent_spends_points_relayed_by_city(ledger, city, citizens):
    citizen = citizens[0]  # holds no ether: the city relays and pays
    ledger.award_points(ActivityAward(1, citizen.address, 500))
    consent = ledger.sign_redemption(citizen, 200, reward_id=9)
    assert consent.nonce == 0

    result = ledger.redeem_with_consent(consent)

    assert ledger.balance_of(citizen.address) == 300
    assert ledger.total_supply() == 300
    assert ledger.points.functions.consentNonce(citizen.address).call() == 1
    (redemption,) = ledger.redemptions_of(citizen.address)
    assert (redemption.citizen, redemption.reward_id, redemption.points) == (citizen.address, 9, 200)
    assert redemption.relayer == city.address
    assert redemption.ref.tx_hash == result.tx_hash


def test_redeem_with_consent_second_consent_uses_next_nonce(ledger, citizens):
    citizen = citizens[0]
    ledger.award_points(ActivityAward(1, citizen.address, 500))
    ledger.redeem_with_consent(ledger.sign_redemption(citizen, 100, reward_id=1))

    second = ledger.sign_redemption(citizen, 150, reward_id=2)
    ledger.redeem_with_consent(second)

    assert second.nonce == 1
    assert ledger.points.functions.consentNonce(citizen.address).call() == 2
    assert ledger.balance_of(citizen.address) == 250
    assert [(r.reward_id, r.points) for r in ledger.redemptions_of(citizen.address)] == [(1, 100), (2, 150)]


def test_redeem_with_consent_expired_reverts_consent_expired(chain, ledger, citizens):
    citizen = citizens[0]
    ledger.award_points(ActivityAward(1, citizen.address, 500))
    before = chain.now()
    consent = ledger.sign_redemption(citizen, 100, reward_id=9, deadline=before - 1)

    with pytest.raises(errors.ConsentExpired) as exc:
        ledger.redeem_with_consent(consent)

    values = exc.value.values
    assert values["deadline"] == before - 1
    assert before <= values["timestamp"] <= chain.now() + 1
    assert set(values) == {"deadline", "timestamp"}
    assert ledger.balance_of(citizen.address) == 500
    assert ledger.points.functions.consentNonce(citizen.address).call() == 0


def test_redeem_with_consent_signed_by_someone_else_reverts_invalid_consent_signature(ledger, citizens):
    victim, forger = citizens[0], citizens[1]
    ledger.award_points(ActivityAward(1, victim.address, 500))
    forged = dataclasses.replace(ledger.sign_redemption(forger, 100, reward_id=9), citizen=victim.address)

    with pytest.raises(errors.InvalidConsentSignature) as exc:
        ledger.redeem_with_consent(forged)

    assert exc.value.values == {"citizen": victim.address}
    assert ledger.balance_of(victim.address) == 500


def test_redeem_with_consent_replayed_reverts_invalid_consent_signature(ledger, citizens):
    citizen = citizens[0]
    ledger.award_points(ActivityAward(1, citizen.address, 500))
    consent = ledger.sign_redemption(citizen, 100, reward_id=9)
    ledger.redeem_with_consent(consent)

    with pytest.raises(errors.InvalidConsentSignature) as exc:
        ledger.redeem_with_consent(consent)

    assert exc.value.values == {"citizen": citizen.address}
    assert ledger.balance_of(citizen.address) == 400
    assert len(ledger.redemptions_of(citizen.address)) == 1


@pytest.mark.parametrize(
    ("field", "value"),
    [("points", 400), ("reward_id", 10), ("deadline", 2**40)],
)
def test_redeem_with_consent_tampered_terms_revert_invalid_consent_signature(ledger, citizens, field, value):
    citizen = citizens[0]
    ledger.award_points(ActivityAward(1, citizen.address, 500))
    tampered = dataclasses.replace(ledger.sign_redemption(citizen, 100, reward_id=9), **{field: value})

    with pytest.raises(errors.InvalidConsentSignature) as exc:
        ledger.redeem_with_consent(tampered)

    assert exc.value.values == {"citizen": citizen.address}
    assert ledger.balance_of(citizen.address) == 500
    assert ledger.points.functions.consentNonce(citizen.address).call() == 0


def test_redeem_with_consent_more_than_balance_reverts_and_keeps_consent_usable(ledger, citizens):
    citizen = citizens[0]
    ledger.award_points(ActivityAward(1, citizen.address, 100))
    consent = ledger.sign_redemption(citizen, 150, reward_id=9)

    with pytest.raises(errors.InsufficientPoints) as exc:
        ledger.redeem_with_consent(consent)

    assert exc.value.values == {"citizen": citizen.address, "balance": 100, "needed": 150}
    assert ledger.points.functions.consentNonce(citizen.address).call() == 0
    # The nonce was not consumed, so the same consent works once the citizen has the points.
    ledger.award_points(ActivityAward(2, citizen.address, 100))
    ledger.redeem_with_consent(consent)
    assert ledger.balance_of(citizen.address) == 50


def test_redeem_with_consent_works_while_paused(ledger, citizens):
    citizen = citizens[0]
    ledger.award_points(ActivityAward(1, citizen.address, 100))
    consent = ledger.sign_redemption(citizen, 30, reward_id=1)
    ledger.pause()

    ledger.redeem_with_consent(consent)

    assert ledger.balance_of(citizen.address) == 70


# ---------------------------------------------------------------- reverseAward


def test_reverse_award_takes_points_back_and_keeps_original_record(ledger, citizens):
    citizen = citizens[0].address
    metrics = Metrics(distance_meters=3_000, steps=4_000)
    awarded = ledger.award_points(ActivityAward(1, citizen, 400, metrics=metrics, evidence_hash=EVIDENCE))
    ledger.award_points(ActivityAward(2, citizen, 100))

    result = ledger.reverse_award(1, reason_code=3)

    assert ledger.balance_of(citizen) == 100
    assert ledger.total_supply() == 100
    assert status(ledger, 1) == (True, True)
    assert status(ledger, 2) == (True, False)
    record = ledger.activity(1)
    assert (record.citizen, record.points, record.metrics, record.evidence_hash) == (citizen, 400, metrics, EVIDENCE)
    assert record.ref.tx_hash == awarded.tx_hash
    assert record.reversal == Reversal(
        points=400,
        reason_code=3,
        ref=OnChainRef(ledger.deployment.chain_id, ledger.points.address, result.tx_hash, result.block_number, 0),
    )
    assert ledger.activity(2).reversal is None
    assert event_args(ledger, "AwardReversed", result.tx_hash) == [
        {"activityId": 1, "citizen": citizen, "points": 400, "reasonCode": 3}
    ]


def test_reverse_award_twice_reverts_activity_already_reversed(ledger, citizens):
    citizen = citizens[0].address
    ledger.award_points(ActivityAward(1, citizen, 400))
    ledger.award_points(ActivityAward(2, citizen, 400))
    ledger.reverse_award(1, reason_code=3)

    with pytest.raises(errors.ActivityAlreadyReversed) as exc:
        ledger.reverse_award(1, reason_code=3)

    assert exc.value.values == {"activity_id": 1}
    assert ledger.balance_of(citizen) == 400


def test_reverse_award_unknown_id_rejected_client_side(ledger, chain):
    block = chain.w3.eth.block_number

    with pytest.raises(errors.InvalidInput):
        ledger.reverse_award(42, reason_code=1)

    assert chain.w3.eth.block_number == block


def test_reverse_award_unknown_id_reverts_activity_not_awarded(ledger, citizens):
    citizen = citizens[0].address
    ledger.award_points(ActivityAward(1, citizen, 100))

    with pytest.raises(errors.ActivityNotAwarded) as exc:
        ledger._send(ledger.points.functions.reverseAward(42, citizen, 100, 1))

    assert exc.value.values == {"activity_id": 42}
    assert ledger.balance_of(citizen) == 100


def test_reverse_award_after_points_spent_reverts_insufficient_points(chain, ledger, citizens):
    citizen = citizens[0]
    chain.fund(citizen.address)
    ledger.award_points(ActivityAward(1, citizen.address, 400))
    ledger.redeem(citizen, 300, reward_id=1)

    with pytest.raises(errors.InsufficientPoints) as exc:
        ledger.reverse_award(1, reason_code=2)

    assert exc.value.values == {"citizen": citizen.address, "balance": 100, "needed": 400}
    assert status(ledger, 1) == (True, False)
    assert ledger.activity(1).reversal is None
    assert ledger.balance_of(citizen.address) == 100


def test_reverse_award_works_while_paused(ledger, citizens):
    citizen = citizens[0].address
    ledger.award_points(ActivityAward(1, citizen, 400))
    ledger.pause()

    ledger.reverse_award(1, reason_code=2)

    assert ledger.balance_of(citizen) == 0


# ---------------------------------------------------------------- history


def test_history_lists_points_records_in_chain_order_and_deltas_sum_to_balance(chain, ledger, citizens):
    citizen, other = citizens[0], citizens[1]
    chain.fund(citizen.address)
    ledger.award_points(ActivityAward(1, citizen.address, 300))
    ledger.award_points_batch(
        [
            ActivityAward(2, citizen.address, 200),
            ActivityAward(3, other.address, 50),
            ActivityAward(4, citizen.address, 100),
        ]
    )
    ledger.redeem(citizen, 150, reward_id=8)
    ledger.reverse_award(2, reason_code=5)

    history = ledger.history(citizen.address)

    assert [(e.action, e.points_delta) for e in history] == [
        ("award", 300),
        ("award", 200),
        ("award", 100),
        ("redemption", -150),
        ("reversal", -200),
    ]
    assert [e.activity_id for e in history] == [1, 2, 4, None, 2]
    assert history[3].reward_id == 8
    assert history[4].reason_code == 5
    positions = [(e.ref.block_number, e.ref.log_index) for e in history]
    assert positions == sorted(positions) and len(set(positions)) == len(positions)
    assert sum(e.points_delta for e in history) == ledger.balance_of(citizen.address) == 250


def test_activities_of_lists_citizen_awards_with_reversals(ledger, citizens):
    a, b = citizens[0].address, citizens[1].address
    ledger.award_points_batch([ActivityAward(1, a, 10), ActivityAward(2, b, 20), ActivityAward(3, a, 30)])
    ledger.reverse_award(3, reason_code=4)

    records = ledger.activities_of(a)

    assert [(r.activity_id, r.points) for r in records] == [(1, 10), (3, 30)]
    assert records[0].reversal is None
    assert records[1].reversal.points == 30
    assert records[1].reversal.reason_code == 4
