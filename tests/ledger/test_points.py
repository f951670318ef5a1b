"""CivicPoints through the Ledger: awards, limits, redemption, reversal, pausing and the ERC-20 surface.

Ledger fixture limits: 1,000 points per award, 3,000 points per citizen per city day (Asia/Seoul,
UTC+9: the day starts at 15:00 UTC). What a wallet or an explorer reads (ERC-20 events and views)
is read with plain web3 (``tests.conftest.contract``), not through the ledger.
"""

from __future__ import annotations

import dataclasses

import pytest
from web3.logs import DISCARD

from ledger import (
    ActivityAward,
    ActivityKindSet,
    AwardRecorded,
    AwardReversed,
    LimitsChanged,
    Metrics,
    OnChainRef,
    PointsRedeemed,
    errors,
    merkle,
)
from tests.conftest import clock, contract, send_as

ZERO = "0x" + "00" * 20
DAY = 86_400
SEOUL_OFFSET = 9 * 3_600
#: 15:00 UTC, midnight in Seoul.
CITY_MIDNIGHT_UTC = DAY - SEOUL_OFFSET
NO_EVIDENCE = b"\0" * 32
EVIDENCE = bytes.fromhex("5e" * 16 + "a1" * 16)


# ---------------------------------------------------------------- helpers


def points_contract(chain, ledger):
    return contract(chain, ledger, "points")


def events_of(chain, ledger, event, tx_hash):
    """``(log index, args)`` of every ``event`` the points contract emitted in ``tx_hash``,
    decoded with the plain web3 event ABI."""
    receipt = chain.w3.eth.get_transaction_receipt(tx_hash)
    logs = getattr(points_contract(chain, ledger).events, event)().process_receipt(receipt, errors=DISCARD)
    return [(log["logIndex"], dict(log["args"])) for log in logs]


def head(citizen, points, reserved=0):
    return (int(citizen, 16) << 96) | (points << 32) | reserved


def body(activity_id, kind=0, metrics=0, reserved=0):
    return (activity_id << 192) | reserved | (kind << 128) | metrics


def award(ledger, *awards, **options):
    """Awards ``awards`` in one transaction and returns its result."""
    (result,) = ledger.award_points(list(awards), **options)
    return result


def awards_in(result):
    return [r for r in result.records if isinstance(r, AwardRecorded)]


def advance_to_utc(chain, seconds_of_day):
    """Moves chain time forward to the next moment (at least a minute away) that is
    ``seconds_of_day`` past UTC midnight."""
    chain.advance((seconds_of_day - clock(chain) - 60) % DAY + 60)


def start_next_city_day(chain):
    """Moves chain time to one minute past the city's next midnight, so a test's awards share a day."""
    advance_to_utc(chain, CITY_MIDNIGHT_UTC + 60)


def snapshot(ledger, *addresses):
    return ledger.total_supply(), [ledger.balance_of(a) for a in addresses]


def ref_of(chain, ledger, result, log_index):
    return OnChainRef(
        chain_id=ledger.chain_id,
        contract=ledger.deployment.points_address,
        tx_hash=result.tx_hash,
        block_number=result.block_number,
        block_hash=chain.w3.eth.get_block(result.block_number)["hash"].to_0x_hex(),
        log_index=log_index,
    )


# ---------------------------------------------------------------- awards


def test_award_points_credits_balance_and_total_supply(ledger, citizens):
    a, b = citizens[0].address, citizens[1].address

    award(ledger, ActivityAward(1, a, 120))
    award(ledger, ActivityAward(2, b, 30))
    award(ledger, ActivityAward(3, a, 5))

    assert ledger.balance_of(a) == 125
    assert ledger.balance_of(b) == 30
    assert ledger.total_supply() == 155
    assert ledger.awarded_today(a) == 125
    assert ledger.last_activity_id() == 3
    assert ledger.is_reversed(1) is False


def test_award_points_records_activity_with_metrics_evidence_and_chain_ref(chain, ledger, citizens):
    citizen = citizens[0].address
    metrics = Metrics(distance_meters=5_200, duration_seconds=3_600, litter_grams=850, steps=7_000)

    result = award(ledger, ActivityAward(77, citizen, 250, metrics=metrics, evidence_hash=EVIDENCE))

    recorded, reversal = ledger.activity(77)
    assert recorded == AwardRecorded(
        ref=ref_of(chain, ledger, result, log_index=1),  # the ActivityRecorded log, after the Transfer
        activity_id=77,
        citizen=citizen,
        points=250,
        kind=0,
        metrics=metrics,
        evidence_hash="0x" + EVIDENCE.hex(),
    )
    assert reversal is None
    assert awards_in(result) == [recorded]


def test_award_points_emits_transfer_from_zero_then_activity_recorded(chain, ledger, citizens):
    a, b = citizens[0].address, citizens[1].address
    metrics = Metrics(distance_meters=5_200, duration_seconds=3_600, litter_grams=850, steps=7_000)
    first = ActivityAward(21, a, 250, metrics=metrics, evidence_hash=EVIDENCE)
    second = ActivityAward(22, b, 40)

    result = award(ledger, first, second)

    transfers = events_of(chain, ledger, "Transfer", result.tx_hash)
    recorded = events_of(chain, ledger, "ActivityRecorded", result.tx_hash)
    assert [args for _, args in transfers] == [
        {"from": ZERO, "to": a, "value": 250},
        {"from": ZERO, "to": b, "value": 40},
    ]
    assert [args for _, args in recorded] == [
        {"activity": first.body, "evidenceHash": EVIDENCE},
        {"activity": second.body, "evidenceHash": NO_EVIDENCE},
    ]
    # Each ActivityRecorded comes right after the Transfer that says who got how many points.
    assert [index for index, _ in recorded] == [index + 1 for index, _ in transfers]
    unpacked = points_contract(chain, ledger).functions.unpackActivity(first.body).call()
    assert unpacked == [21, 0, 5_200, 3_600, 850, 7_000]


def test_award_points_metrics_at_field_limits_round_trip(ledger, citizens):
    metrics = Metrics(distance_meters=2**32 - 1, duration_seconds=1, litter_grams=2**32 - 1, steps=0)

    award(ledger, ActivityAward(1, citizens[0].address, 10, metrics=metrics))

    assert ledger.activity(1)[0].metrics == metrics


def test_activity_unknown_id_returns_none(ledger, citizens):
    award(ledger, ActivityAward(1, citizens[0].address, 10))

    assert ledger.activity(2) is None


def test_unpack_activity_splits_body_into_id_kind_and_metrics(chain, ledger):
    packed = Metrics(distance_meters=1_234, duration_seconds=5_678, litter_grams=90, steps=2**32 - 1).pack()

    unpacked = points_contract(chain, ledger).functions.unpackActivity(body(2**64 - 1, 7, packed)).call()

    assert unpacked == [2**64 - 1, 7, 1_234, 5_678, 90, 2**32 - 1]


def test_award_points_stores_batch_merkle_root_under_first_activity_id(chain, ledger, citizens):
    awards = [ActivityAward(5, citizens[0].address, 10), ActivityAward(9, citizens[1].address, 20)]

    award(ledger, *awards)

    roots = points_contract(chain, ledger).functions
    assert roots.awardRoot(5).call() == merkle.make_tree([a.leaf() for a in awards])[0]
    assert roots.awardRoot(9).call() == NO_EVIDENCE


# ---------------------------------------------------------------- activity ids


def test_award_points_same_id_again_reverts_activity_id_not_increasing(ledger, citizens):
    a, b = citizens[0].address, citizens[1].address
    award(ledger, ActivityAward(5, a, 100))

    with pytest.raises(errors.ActivityIdNotIncreasing) as exc:
        award(ledger, ActivityAward(5, b, 200))

    assert exc.value.values == {"activity_id": 5, "last_activity_id": 5}
    assert snapshot(ledger, a, b) == (100, [100, 0])
    assert ledger.activity(5)[0].citizen == a


def test_award_points_lower_id_reverts_activity_id_not_increasing(ledger, citizens):
    a = citizens[0].address
    award(ledger, ActivityAward(10, a, 100))

    with pytest.raises(errors.ActivityIdNotIncreasing) as exc:
        award(ledger, ActivityAward(3, a, 100))

    assert exc.value.values == {"activity_id": 3, "last_activity_id": 10}
    assert ledger.last_activity_id() == 10
    assert ledger.activity(3) is None


def test_award_points_ids_may_skip_values(ledger, citizens):
    a = citizens[0].address
    award(ledger, ActivityAward(10, a, 100))

    award(ledger, ActivityAward(1_000, a, 100))

    assert ledger.last_activity_id() == 1_000
    assert ledger.balance_of(a) == 200


def test_award_points_reversed_id_reverts_activity_id_not_increasing(ledger, citizens):
    citizen = citizens[0].address
    award(ledger, ActivityAward(5, citizen, 100))
    ledger.reverse_award(5, reason_code=1)

    with pytest.raises(errors.ActivityIdNotIncreasing) as exc:
        award(ledger, ActivityAward(5, citizen, 100))

    assert exc.value.values == {"activity_id": 5, "last_activity_id": 5}
    assert ledger.balance_of(citizen) == 0


def test_award_points_batch_with_id_awarded_earlier_reverts_activity_id_not_increasing(ledger, citizens):
    a, b = citizens[0].address, citizens[1].address
    award(ledger, ActivityAward(2, a, 100))

    with pytest.raises(errors.ActivityIdNotIncreasing) as exc:
        award(ledger, ActivityAward(1, b, 50), ActivityAward(2, b, 50), ActivityAward(3, b, 50))

    assert exc.value.values == {"activity_id": 1, "last_activity_id": 2}
    assert snapshot(ledger, a, b) == (100, [100, 0])
    assert ledger.activity(3) is None


def test_award_points_ids_not_increasing_inside_batch_rejected_client_side(ledger, chain, citizens):
    a = citizens[0].address
    block = chain.w3.eth.block_number

    with pytest.raises(errors.InvalidInput):
        ledger.award_points([ActivityAward(1, a, 10), ActivityAward(3, a, 10), ActivityAward(2, a, 10)])
    with pytest.raises(errors.InvalidInput):
        ledger.award_points([ActivityAward(1, a, 10), ActivityAward(1, a, 10)])

    assert chain.w3.eth.block_number == block  # nothing was sent
    assert ledger.balance_of(a) == 0


@pytest.mark.parametrize(("first", "second"), [(2, 1), (4, 4)], ids=["decreasing", "repeated"])
def test_award_points_batch_ids_not_increasing_inside_batch_revert_activity_id_not_increasing(
    chain, ledger, city, citizens, first, second
):
    a = citizens[0].address
    batch = [(head(a, 10), body(first), NO_EVIDENCE), (head(a, 10), body(second), NO_EVIDENCE)]

    with pytest.raises(errors.ActivityIdNotIncreasing) as exc:
        send_as(chain, city, points_contract(chain, ledger).functions.awardPointsBatch(batch))

    assert exc.value.values == {"activity_id": second, "last_activity_id": first}
    assert snapshot(ledger, a) == (0, [0])
    assert ledger.last_activity_id() == 0


def test_award_points_ids_not_increasing_across_chunks_rejected_client_side(ledger, chain, citizens):
    a = citizens[0].address
    block = chain.w3.eth.block_number

    with pytest.raises(errors.InvalidInput):
        ledger.award_points([ActivityAward(2, a, 10), ActivityAward(3, a, 10), ActivityAward(1, a, 10)], chunk_size=2)

    assert chain.w3.eth.block_number == block


# ---------------------------------------------------------------- malformed and invalid awards


@pytest.mark.parametrize(
    ("head_reserved", "body_reserved"),
    [(1, 0), (1 << 31, 0), (0, 1 << 136), (0, 1 << 191)],
    ids=["head-bit-0", "head-bit-31", "body-bit-136", "body-bit-191"],
)
def test_award_points_reserved_bits_revert_malformed_award(chain, ledger, city, citizens, head_reserved, body_reserved):
    a, b = citizens[0].address, citizens[1].address
    batch = [
        (head(a, 10), body(1), NO_EVIDENCE),
        (head(b, 10, reserved=head_reserved), body(2, reserved=body_reserved), NO_EVIDENCE),
    ]

    with pytest.raises(errors.MalformedAward) as exc:
        send_as(chain, city, points_contract(chain, ledger).functions.awardPointsBatch(batch))

    assert exc.value.values == {"index": 1}
    assert snapshot(ledger, a, b) == (0, [0, 0])
    assert ledger.last_activity_id() == 0


def test_award_points_zero_points_rejected_client_side(citizens):
    with pytest.raises(errors.InvalidInput):
        ActivityAward(1, citizens[0].address, 0)


def test_award_points_zero_points_reverts_zero_points_award(chain, ledger, city, citizens):
    citizen = citizens[0].address

    batch = [(head(citizen, 0), body(9), NO_EVIDENCE)]

    with pytest.raises(errors.ZeroPointsAward) as exc:
        send_as(chain, city, points_contract(chain, ledger).functions.awardPointsBatch(batch))

    assert exc.value.values == {"activity_id": 9}
    assert ledger.last_activity_id() == 0


def test_award_points_at_maximum_succeeds(ledger, citizens):
    award(ledger, ActivityAward(1, citizens[0].address, 1_000))

    assert ledger.balance_of(citizens[0].address) == 1_000


def test_award_points_over_maximum_reverts_award_too_large(ledger, citizens):
    citizen = citizens[0].address

    with pytest.raises(errors.AwardTooLarge) as exc:
        award(ledger, ActivityAward(3, citizen, 1_001))

    assert exc.value.values == {"activity_id": 3, "points": 1_001, "max_points_per_award": 1_000}
    assert snapshot(ledger, citizen) == (0, [0])
    assert ledger.activity(3) is None


def test_award_points_unknown_kind_reverts_unknown_activity_kind(ledger, citizens):
    citizen = citizens[0].address

    with pytest.raises(errors.UnknownActivityKind) as exc:
        award(ledger, ActivityAward(11, citizen, 50, kind=3))

    assert exc.value.values == {"activity_id": 11, "kind": 3}
    assert ledger.balance_of(citizen) == 0


def test_set_activity_kind_enables_kind_and_emits_activity_kind_set(chain, ledger, citizens):
    citizen = citizens[0].address
    kinds = points_contract(chain, ledger).functions
    assert kinds.isActivityKindEnabled(3).call() is False

    result = ledger.set_activity_kind(3, True, "tree planting")

    assert [(r.kind, r.enabled, r.label) for r in result.records if isinstance(r, ActivityKindSet)] == [
        (3, True, "tree planting")
    ]
    assert kinds.isActivityKindEnabled(3).call() is True
    award(ledger, ActivityAward(11, citizen, 50, kind=3))
    assert ledger.activity(11)[0].kind == 3
    assert ledger.balance_of(citizen) == 50


def test_set_activity_kind_disabled_kind_reverts_unknown_activity_kind(chain, ledger, citizens):
    citizen = citizens[0].address
    kinds = points_contract(chain, ledger).functions
    assert kinds.isActivityKindEnabled(0).call() is True  # plogging, enabled at deploy

    ledger.set_activity_kind(0, False, "plogging")

    assert kinds.isActivityKindEnabled(0).call() is False
    with pytest.raises(errors.UnknownActivityKind) as exc:
        award(ledger, ActivityAward(1, citizen, 50))
    assert exc.value.values == {"activity_id": 1, "kind": 0}


def test_award_points_zero_address_reverts_invalid_citizen(ledger, citizens):
    # The client-side record accepts the zero address (it is a well-formed address); the contract refuses.
    with pytest.raises(errors.InvalidCitizen) as exc:
        award(ledger, ActivityAward(1, ZERO, 10))

    assert exc.value.values == {"citizen": ZERO}
    with pytest.raises(errors.InvalidCitizen) as exc:
        award(ledger, ActivityAward(1, citizens[0].address, 10), ActivityAward(2, ZERO, 10))
    assert exc.value.values == {"citizen": ZERO}
    assert ledger.total_supply() == 0
    assert ledger.balance_of(citizens[0].address) == 0


# ---------------------------------------------------------------- the daily cap


def test_award_points_over_daily_cap_reverts_daily_cap_exceeded(chain, ledger, citizens):
    a, b = citizens[0].address, citizens[1].address
    start_next_city_day(chain)
    for activity_id in (1, 2, 3):  # exactly the cap is allowed
        award(ledger, ActivityAward(activity_id, a, 1_000))

    with pytest.raises(errors.DailyCapExceeded) as exc:
        award(ledger, ActivityAward(4, a, 1))

    assert exc.value.values == {"citizen": a, "awarded_today": 3_000, "points": 1, "daily_cap": 3_000}
    assert ledger.activity(4) is None
    assert ledger.balance_of(a) == 3_000
    # The cap is per citizen.
    award(ledger, ActivityAward(5, b, 1_000))
    assert ledger.balance_of(b) == 1_000


def test_award_points_daily_cap_counts_partial_awards(chain, ledger, citizens):
    a = citizens[0].address
    start_next_city_day(chain)
    award(ledger, ActivityAward(1, a, 1_000))
    award(ledger, ActivityAward(2, a, 1_000))
    award(ledger, ActivityAward(3, a, 900))

    with pytest.raises(errors.DailyCapExceeded) as exc:
        award(ledger, ActivityAward(4, a, 101))

    assert exc.value.values == {"citizen": a, "awarded_today": 2_900, "points": 101, "daily_cap": 3_000}
    award(ledger, ActivityAward(5, a, 100))
    assert ledger.balance_of(a) == 3_000


def test_today_counts_days_in_the_city_time_zone(chain, ledger):
    assert ledger.deployment.day_offset_seconds == SEOUL_OFFSET
    assert points_contract(chain, ledger).functions.dayOffset().call() == SEOUL_OFFSET

    advance_to_utc(chain, CITY_MIDNIGHT_UTC - 600)
    before = ledger.today()
    assert before == (chain.now() + SEOUL_OFFSET) // DAY
    chain.advance(1_200)

    assert ledger.today() == before + 1


def test_award_points_daily_cap_resets_at_city_midnight_not_utc_midnight(chain, ledger, citizens):
    a = citizens[0].address
    advance_to_utc(chain, CITY_MIDNIGHT_UTC - 300)  # 14:55 UTC, 23:55 in Seoul
    utc_day, city_day = chain.now() // DAY, ledger.today()
    for activity_id in (1, 2, 3):
        award(ledger, ActivityAward(activity_id, a, 1_000))
    with pytest.raises(errors.DailyCapExceeded):
        award(ledger, ActivityAward(4, a, 1_000))

    chain.advance(360)  # 15:01 UTC: the same UTC day, a new day in Seoul

    assert chain.now() // DAY == utc_day
    assert ledger.today() == city_day + 1
    assert ledger.awarded_today(a) == 0
    award(ledger, ActivityAward(4, a, 1_000))
    assert ledger.awarded_today(a) == 1_000
    assert ledger.balance_of(a) == 4_000


def test_award_points_daily_cap_does_not_reset_at_utc_midnight(chain, ledger, citizens):
    a = citizens[0].address
    advance_to_utc(chain, DAY - 300)  # 23:55 UTC, 08:55 in Seoul
    utc_day, city_day = chain.now() // DAY, ledger.today()
    for activity_id in (1, 2, 3):
        award(ledger, ActivityAward(activity_id, a, 1_000))

    chain.advance(360)  # 00:01 UTC: a new UTC day, still the same day in Seoul

    assert chain.now() // DAY == utc_day + 1
    assert ledger.today() == city_day
    assert ledger.awarded_today(a) == 3_000
    with pytest.raises(errors.DailyCapExceeded) as exc:
        award(ledger, ActivityAward(4, a, 1))
    assert exc.value.values == {"citizen": a, "awarded_today": 3_000, "points": 1, "daily_cap": 3_000}


def test_award_points_batch_daily_cap_accumulates_within_batch(chain, ledger, citizens):
    a = citizens[0].address
    start_next_city_day(chain)
    award(ledger, ActivityAward(1, a, 500))

    with pytest.raises(errors.DailyCapExceeded) as exc:
        award(ledger, ActivityAward(2, a, 1_000), ActivityAward(3, a, 1_000), ActivityAward(4, a, 600))

    assert exc.value.values == {"citizen": a, "awarded_today": 2_500, "points": 600, "daily_cap": 3_000}
    assert ledger.balance_of(a) == 500
    assert ledger.awarded_today(a) == 500


# ---------------------------------------------------------------- pausing


def test_award_points_while_paused_reverts_ledger_paused(ledger, citizens):
    citizen = citizens[0].address
    ledger.pause()
    assert ledger.is_paused() is True

    with pytest.raises(errors.LedgerPaused) as exc:
        award(ledger, ActivityAward(1, citizen, 10))

    assert exc.value.values == {}
    assert ledger.balance_of(citizen) == 0


def test_unpause_restores_awards(ledger, citizens):
    citizen = citizens[0].address
    ledger.pause()
    with pytest.raises(errors.LedgerPaused):
        award(ledger, ActivityAward(1, citizen, 10))

    ledger.unpause()

    assert ledger.is_paused() is False
    award(ledger, ActivityAward(1, citizen, 10))
    assert ledger.balance_of(citizen) == 10


def test_pause_when_paused_sends_nothing_and_contract_reverts_ledger_paused(ledger):
    ledger.pause()

    assert ledger.pause() == []  # the ledger pauses only what is not paused yet
    with pytest.raises(errors.LedgerPaused) as exc:
        ledger.set_paused("points", True)
    assert exc.value.values == {}
    assert ledger.is_paused_contract("points") is True


def test_unpause_when_not_paused_sends_nothing_and_contract_reverts_expected_pause(ledger):
    assert ledger.unpause() == []

    with pytest.raises(errors.ContractRevert) as exc:
        ledger.set_paused("points", False)

    assert exc.value.name == "ExpectedPause"
    assert exc.value.values == {}


def test_award_points_batch_while_paused_reverts_ledger_paused(ledger, citizens):
    a = citizens[0].address
    ledger.pause()

    with pytest.raises(errors.LedgerPaused):
        award(ledger, ActivityAward(1, a, 10), ActivityAward(2, a, 10))

    assert ledger.balance_of(a) == 0


# ---------------------------------------------------------------- batches


def test_award_points_batch_credits_each_citizen_in_one_transaction(chain, ledger, citizens):
    a, b = citizens[0].address, citizens[1].address

    results = ledger.award_points(
        [
            ActivityAward(10, a, 100),
            ActivityAward(11, b, 200, evidence_hash=EVIDENCE),
            ActivityAward(12, a, 300, metrics=Metrics(steps=4_000)),
        ]
    )

    assert len(results) == 1
    assert ledger.balance_of(a) == 400
    assert ledger.balance_of(b) == 200
    assert ledger.total_supply() == 600
    records = [ledger.activity(i)[0] for i in (10, 11, 12)]
    assert awards_in(results[0]) == records
    assert [(r.citizen, r.points) for r in records] == [(a, 100), (b, 200), (a, 300)]
    assert {r.ref.tx_hash for r in records} == {results[0].tx_hash}
    assert [r.ref.log_index for r in records] == [1, 3, 5]
    assert records[1].evidence_hash == "0x" + EVIDENCE.hex()
    assert records[2].metrics == Metrics(steps=4_000)


def test_award_points_batch_failing_midway_writes_nothing(ledger, citizens):
    a, b = citizens[0].address, citizens[1].address

    with pytest.raises(errors.AwardTooLarge) as exc:
        award(ledger, ActivityAward(1, a, 100), ActivityAward(2, b, 200), ActivityAward(3, a, 5_000))

    assert exc.value.values == {"activity_id": 3, "points": 5_000, "max_points_per_award": 1_000}
    assert snapshot(ledger, a, b) == (0, [0, 0])
    assert [ledger.activity(i) for i in (1, 2, 3)] == [None, None, None]
    assert ledger.last_activity_id() == 0
    assert ledger.history(a) == []
    assert ledger.history(b) == []


def test_award_points_batch_chunks_commit_independently(ledger, citizens):
    a = citizens[0].address
    awards = [ActivityAward(1, a, 100), ActivityAward(2, a, 200), ActivityAward(3, a, 1_001)]

    with pytest.raises(errors.AwardTooLarge):
        ledger.award_points(awards, chunk_size=2)

    # The first chunk was its own transaction and stays; only the failing chunk is undone.
    assert ledger.balance_of(a) == 300
    assert ledger.last_activity_id() == 2
    assert [ledger.activity(i) is not None for i in (1, 2, 3)] == [True, True, False]


def test_award_points_batch_splits_into_chunks(ledger, citizens):
    a = citizens[0].address
    awards = [ActivityAward(i, a, 10) for i in range(1, 6)]

    results = ledger.award_points(awards, chunk_size=2)

    assert [[r.activity_id for r in awards_in(result)] for result in results] == [[1, 2], [3, 4], [5]]
    assert len({r.tx_hash for r in results}) == 3
    assert ledger.balance_of(a) == 50


def test_award_points_batch_empty_rejected_client_side(ledger):
    with pytest.raises(errors.InvalidInput):
        ledger.award_points([])


def test_award_points_batch_empty_reverts_empty_batch(chain, ledger, city):
    with pytest.raises(errors.EmptyBatch) as exc:
        send_as(chain, city, points_contract(chain, ledger).functions.awardPointsBatch([]))

    assert exc.value.values == {}


# ---------------------------------------------------------------- ERC-20 surface


def test_erc20_views_report_name_symbol_zero_decimals_and_no_allowance(chain, ledger, citizens):
    a, b = citizens[0].address, citizens[1].address
    erc20 = points_contract(chain, ledger).functions
    assert erc20.name().call() == "City ESG Points"
    assert erc20.symbol().call() == "ESG"
    assert erc20.decimals().call() == 0
    assert erc20.totalSupply().call() == 0

    award(ledger, ActivityAward(1, a, 40))

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
def test_transfer_functions_revert_points_non_transferable(build, chain, ledger, city, citizens):
    holder, other = citizens[0], citizens[1].address
    chain.fund(holder.address)
    award(ledger, ActivityAward(1, holder.address, 100))
    erc20 = points_contract(chain, ledger).functions

    with pytest.raises(errors.PointsNonTransferable) as exc:
        send_as(chain, holder, build(erc20, holder.address, other))
    assert exc.value.values == {}
    # The city's operating account cannot move points either.
    with pytest.raises(errors.PointsNonTransferable):
        send_as(chain, city, build(erc20, holder.address, other))

    assert ledger.balance_of(holder.address) == 100
    assert ledger.balance_of(other) == 0


# ---------------------------------------------------------------- setLimits


def test_set_limits_updates_limits_and_emits_limits_changed(ledger, citizens):
    citizen = citizens[0].address
    assert ledger.limits() == (1_000, 3_000)

    result = ledger.set_limits(500, 500)  # the maximum may equal the cap

    assert ledger.limits() == (500, 500)
    assert [(r.max_points_per_award, r.daily_cap) for r in result.records if isinstance(r, LimitsChanged)] == [
        (500, 500)
    ]
    with pytest.raises(errors.AwardTooLarge) as exc:
        award(ledger, ActivityAward(1, citizen, 501))
    assert exc.value.values == {"activity_id": 1, "points": 501, "max_points_per_award": 500}


def test_set_limits_lowered_cap_applies_to_points_already_awarded_today(chain, ledger, citizens):
    citizen = citizens[0].address
    start_next_city_day(chain)
    award(ledger, ActivityAward(1, citizen, 400))
    ledger.set_limits(200, 500)

    with pytest.raises(errors.DailyCapExceeded) as exc:
        award(ledger, ActivityAward(2, citizen, 101))

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


def test_redeem_burns_points_and_emits_transfer_to_zero_and_points_redeemed(chain, ledger, citizens):
    citizen = citizens[0]
    chain.fund(citizen.address)
    award(ledger, ActivityAward(1, citizen.address, 300))

    result = ledger.redeem(citizen, 120, reward_id=7)

    assert ledger.balance_of(citizen.address) == 180
    assert ledger.total_supply() == 180
    (transfer,) = events_of(chain, ledger, "Transfer", result.tx_hash)
    (redeemed,) = events_of(chain, ledger, "PointsRedeemed", result.tx_hash)
    assert transfer[1] == {"from": citizen.address, "to": ZERO, "value": 120}
    assert redeemed == (
        transfer[0] + 1,
        {"citizen": citizen.address, "rewardId": 7, "points": 120, "relayer": citizen.address},
    )
    (redemption,) = [r for r in ledger.history(citizen.address) if isinstance(r, PointsRedeemed)]
    assert redemption == PointsRedeemed(
        ref=ref_of(chain, ledger, result, log_index=redeemed[0]),
        citizen=citizen.address,
        reward_id=7,
        points=120,
        relayer=citizen.address,
    )


def test_redeem_whole_balance_leaves_zero(chain, ledger, citizens):
    citizen = citizens[0]
    chain.fund(citizen.address)
    award(ledger, ActivityAward(1, citizen.address, 300))

    ledger.redeem(citizen, 300, reward_id=1)

    assert ledger.balance_of(citizen.address) == 0
    assert ledger.total_supply() == 0


def test_redeem_more_than_balance_reverts_insufficient_points(chain, ledger, citizens):
    citizen = citizens[0]
    chain.fund(citizen.address)
    award(ledger, ActivityAward(1, citizen.address, 100))

    with pytest.raises(errors.InsufficientPoints) as exc:
        ledger.redeem(citizen, 101, reward_id=7)

    assert exc.value.values == {"citizen": citizen.address, "balance": 100, "needed": 101}
    assert ledger.balance_of(citizen.address) == 100
    assert not any(isinstance(r, PointsRedeemed) for r in ledger.history(citizen.address))


def test_redeem_zero_points_reverts_insufficient_points(chain, ledger, citizens):
    citizen = citizens[0]
    chain.fund(citizen.address)
    award(ledger, ActivityAward(1, citizen.address, 100))

    with pytest.raises(errors.InsufficientPoints) as exc:
        ledger.redeem(citizen, 0, reward_id=7)

    assert exc.value.values == {"citizen": citizen.address, "balance": 100, "needed": 0}


def test_redeem_while_paused_reverts_ledger_paused(chain, ledger, citizens):
    citizen = citizens[0]
    chain.fund(citizen.address)
    award(ledger, ActivityAward(1, citizen.address, 100))
    ledger.pause()

    with pytest.raises(errors.LedgerPaused) as exc:
        ledger.redeem(citizen, 60, reward_id=2)

    assert exc.value.values == {}
    assert ledger.balance_of(citizen.address) == 100
    ledger.unpause()
    ledger.redeem(citizen, 60, reward_id=2)
    assert ledger.balance_of(citizen.address) == 40


# ---------------------------------------------------------------- redeemWithConsent


def redemptions(ledger, citizen):
    return [r for r in ledger.history(citizen) if isinstance(r, PointsRedeemed)]


def test_redeem_with_consent_spends_points_relayed_by_city(chain, ledger, city, citizens):
    citizen = citizens[0]  # holds no ether: the city relays and pays
    award(ledger, ActivityAward(1, citizen.address, 500))
    consent = ledger.sign_redemption(citizen, 200, reward_id=9)
    assert consent.nonce == 0

    result = ledger.redeem_with_consent(consent)

    assert ledger.balance_of(citizen.address) == 300
    assert ledger.total_supply() == 300
    assert ledger.consent_nonce(citizen.address) == 1
    (redemption,) = redemptions(ledger, citizen.address)
    assert (redemption.citizen, redemption.reward_id, redemption.points) == (citizen.address, 9, 200)
    assert redemption.relayer == city.address
    assert redemption.ref.tx_hash == result.tx_hash
    (transfer,) = events_of(chain, ledger, "Transfer", result.tx_hash)
    assert transfer[1] == {"from": citizen.address, "to": ZERO, "value": 200}


def test_redeem_with_consent_second_consent_uses_next_nonce(ledger, citizens):
    citizen = citizens[0]
    award(ledger, ActivityAward(1, citizen.address, 500))
    ledger.redeem_with_consent(ledger.sign_redemption(citizen, 100, reward_id=1))

    second = ledger.sign_redemption(citizen, 150, reward_id=2)
    ledger.redeem_with_consent(second)

    assert second.nonce == 1
    assert ledger.consent_nonce(citizen.address) == 2
    assert ledger.balance_of(citizen.address) == 250
    assert [(r.reward_id, r.points) for r in redemptions(ledger, citizen.address)] == [(1, 100), (2, 150)]


def test_redeem_with_consent_expired_reverts_consent_expired(chain, ledger, citizens):
    citizen = citizens[0]
    award(ledger, ActivityAward(1, citizen.address, 500))
    before = chain.now()
    consent = ledger.sign_redemption(citizen, 100, reward_id=9, deadline=before - 1)

    with pytest.raises(errors.ConsentExpired) as exc:
        ledger.redeem_with_consent(consent)

    values = exc.value.values
    assert values["deadline"] == before - 1
    assert before <= values["timestamp"] <= chain.now() + 1
    assert set(values) == {"deadline", "timestamp"}
    assert ledger.balance_of(citizen.address) == 500
    assert ledger.consent_nonce(citizen.address) == 0


def test_redeem_with_consent_signed_by_someone_else_reverts_invalid_consent_signature(ledger, citizens):
    victim, forger = citizens[0], citizens[1]
    award(ledger, ActivityAward(1, victim.address, 500))
    forged = dataclasses.replace(ledger.sign_redemption(forger, 100, reward_id=9), citizen=victim.address)

    with pytest.raises(errors.InvalidConsentSignature) as exc:
        ledger.redeem_with_consent(forged)

    assert exc.value.values == {"citizen": victim.address}
    assert ledger.balance_of(victim.address) == 500


def test_redeem_with_consent_replayed_reverts_invalid_consent_signature(ledger, citizens):
    citizen = citizens[0]
    award(ledger, ActivityAward(1, citizen.address, 500))
    consent = ledger.sign_redemption(citizen, 100, reward_id=9)
    ledger.redeem_with_consent(consent)

    with pytest.raises(errors.InvalidConsentSignature) as exc:
        ledger.redeem_with_consent(consent)

    assert exc.value.values == {"citizen": citizen.address}
    assert ledger.balance_of(citizen.address) == 400
    assert len(redemptions(ledger, citizen.address)) == 1


@pytest.mark.parametrize(
    ("field", "value"),
    [("points", 400), ("reward_id", 10), ("deadline", 2**40)],
)
def test_redeem_with_consent_tampered_terms_revert_invalid_consent_signature(ledger, citizens, field, value):
    citizen = citizens[0]
    award(ledger, ActivityAward(1, citizen.address, 500))
    tampered = dataclasses.replace(ledger.sign_redemption(citizen, 100, reward_id=9), **{field: value})

    with pytest.raises(errors.InvalidConsentSignature) as exc:
        ledger.redeem_with_consent(tampered)

    assert exc.value.values == {"citizen": citizen.address}
    assert ledger.balance_of(citizen.address) == 500
    assert ledger.consent_nonce(citizen.address) == 0


def test_redeem_with_consent_more_than_balance_reverts_and_keeps_consent_usable(ledger, citizens):
    citizen = citizens[0]
    award(ledger, ActivityAward(1, citizen.address, 100))
    consent = ledger.sign_redemption(citizen, 150, reward_id=9)

    with pytest.raises(errors.InsufficientPoints) as exc:
        ledger.redeem_with_consent(consent)

    assert exc.value.values == {"citizen": citizen.address, "balance": 100, "needed": 150}
    assert ledger.consent_nonce(citizen.address) == 0
    # The nonce was not consumed, so the same consent works once the citizen has the points.
    award(ledger, ActivityAward(2, citizen.address, 100))
    ledger.redeem_with_consent(consent)
    assert ledger.balance_of(citizen.address) == 50


def test_redeem_with_consent_while_paused_reverts_ledger_paused(ledger, citizens):
    citizen = citizens[0]
    award(ledger, ActivityAward(1, citizen.address, 100))
    consent = ledger.sign_redemption(citizen, 30, reward_id=1)
    ledger.pause()

    with pytest.raises(errors.LedgerPaused) as exc:
        ledger.redeem_with_consent(consent)

    assert exc.value.values == {}
    assert ledger.balance_of(citizen.address) == 100
    assert ledger.consent_nonce(citizen.address) == 0
    ledger.unpause()
    ledger.redeem_with_consent(consent)
    assert ledger.balance_of(citizen.address) == 70


# ---------------------------------------------------------------- reverseAward


def test_reverse_award_takes_points_back_and_keeps_original_record(chain, ledger, citizens):
    citizen = citizens[0].address
    metrics = Metrics(distance_meters=3_000, steps=4_000)
    awarded = award(ledger, ActivityAward(1, citizen, 400, metrics=metrics, evidence_hash=EVIDENCE))
    award(ledger, ActivityAward(2, citizen, 100))

    result = ledger.reverse_award(1, reason_code=3)

    assert ledger.balance_of(citizen) == 100
    assert ledger.total_supply() == 100
    assert ledger.is_reversed(1) is True
    assert ledger.is_reversed(2) is False
    recorded, reversal = ledger.activity(1)
    assert (recorded.citizen, recorded.points, recorded.metrics) == (citizen, 400, metrics)
    assert recorded.evidence_hash == "0x" + EVIDENCE.hex()
    assert recorded.ref.tx_hash == awarded.tx_hash
    (reversed_log,) = events_of(chain, ledger, "AwardReversed", result.tx_hash)
    assert reversal == AwardReversed(
        ref=ref_of(chain, ledger, result, log_index=reversed_log[0]),
        activity_id=1,
        citizen=citizen,
        points=400,
        reason_code=3,
    )
    assert ledger.activity(2)[1] is None


def test_reverse_award_emits_transfer_to_zero_then_award_reversed(chain, ledger, citizens):
    citizen = citizens[0].address
    award(ledger, ActivityAward(1, citizen, 400))

    result = ledger.reverse_award(1, reason_code=3)

    (transfer,) = events_of(chain, ledger, "Transfer", result.tx_hash)
    (reversed_log,) = events_of(chain, ledger, "AwardReversed", result.tx_hash)
    assert transfer[1] == {"from": citizen, "to": ZERO, "value": 400}
    assert reversed_log == (
        transfer[0] + 1,
        {"activityId": 1, "citizen": citizen, "points": 400, "reasonCode": 3},
    )


def test_reverse_award_of_award_inside_a_batch_takes_back_only_that_award(ledger, citizens):
    a, b = citizens[0].address, citizens[1].address
    award(ledger, ActivityAward(1, a, 10), ActivityAward(2, b, 20), ActivityAward(3, a, 30), ActivityAward(4, b, 40))

    ledger.reverse_award(3, reason_code=4)

    assert [ledger.is_reversed(i) for i in (1, 2, 3, 4)] == [False, False, True, False]
    assert snapshot(ledger, a, b) == (70, [10, 60])


@pytest.mark.parametrize("forgery", ["other-citizen", "more-points", "fewer-points", "wrong-proof", "wrong-batch-key"])
def test_reverse_award_forged_award_reverts_award_not_found(chain, ledger, city, citizens, forgery):
    victim, holder = citizens[0].address, citizens[1].address
    result = award(ledger, ActivityAward(1, holder, 400), ActivityAward(2, victim, 100))
    awards = awards_in(result)
    tree = merkle.make_tree([a.leaf() for a in awards])
    real = {"head": awards[0].head, "body": awards[0].body, "batch_key": 1, "proof": merkle.proof_for(tree, 0)}
    forged = dict(real)
    if forgery == "other-citizen":  # the victim holds 100: naming them must not take 400 from them
        forged["head"] = head(victim, 400)
    elif forgery == "more-points":
        forged["head"] = head(holder, 900)
    elif forgery == "fewer-points":
        forged["head"] = head(holder, 100)
    elif forgery == "wrong-proof":
        forged["proof"] = [bytes.fromhex("11" * 32)]
    else:
        forged["batch_key"] = 2
    reverse = points_contract(chain, ledger).functions.reverseAward

    with pytest.raises(errors.AwardNotFound) as exc:
        send_as(chain, city, reverse(forged["head"], forged["body"], forged["batch_key"], forged["proof"], 1))

    assert exc.value.values == {"activity_id": 1}
    assert snapshot(ledger, holder, victim) == (500, [400, 100])
    assert ledger.is_reversed(1) is False
    # The real reversal still works afterwards.
    ledger.reverse_award(1, reason_code=1)
    assert snapshot(ledger, holder, victim) == (100, [0, 100])


def test_reverse_award_unknown_id_reverts_award_not_found(chain, ledger, city, citizens):
    citizen = citizens[0].address
    award(ledger, ActivityAward(1, citizen, 100))
    reverse = points_contract(chain, ledger).functions.reverseAward

    with pytest.raises(errors.AwardNotFound) as exc:
        send_as(chain, city, reverse(head(citizen, 100), body(42), 42, [], 1))

    assert exc.value.values == {"activity_id": 42}
    assert ledger.balance_of(citizen) == 100


def test_reverse_award_twice_reverts_activity_already_reversed(ledger, citizens):
    citizen = citizens[0].address
    award(ledger, ActivityAward(1, citizen, 400))
    award(ledger, ActivityAward(2, citizen, 400))
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


def test_reverse_award_with_award_tx_reads_the_batch_from_that_transaction(ledger, citizens):
    a, b = citizens[0].address, citizens[1].address
    result = award(ledger, ActivityAward(1, a, 10), ActivityAward(2, b, 20))

    ledger.reverse_award(2, reason_code=1, award_tx=result.tx_hash)

    assert snapshot(ledger, a, b) == (10, [10, 0])


def test_reverse_award_after_points_spent_reverts_insufficient_points(chain, ledger, citizens):
    citizen = citizens[0]
    chain.fund(citizen.address)
    award(ledger, ActivityAward(1, citizen.address, 400))
    ledger.redeem(citizen, 300, reward_id=1)

    with pytest.raises(errors.InsufficientPoints) as exc:
        ledger.reverse_award(1, reason_code=2)

    assert exc.value.values == {"citizen": citizen.address, "balance": 100, "needed": 400}
    assert ledger.is_reversed(1) is False
    assert ledger.activity(1)[1] is None
    assert ledger.balance_of(citizen.address) == 100


def test_reverse_award_works_while_paused(ledger, citizens):
    citizen = citizens[0].address
    award(ledger, ActivityAward(1, citizen, 400))
    ledger.pause()

    ledger.reverse_award(1, reason_code=2)

    assert ledger.balance_of(citizen) == 0


# ---------------------------------------------------------------- history


def points_delta(record):
    if isinstance(record, AwardRecorded):
        return record.points
    if isinstance(record, AwardReversed | PointsRedeemed):
        return -record.points
    return 0


def test_history_lists_points_records_in_chain_order_and_deltas_sum_to_balance(chain, ledger, citizens):
    citizen, other = citizens[0], citizens[1]
    chain.fund(citizen.address)
    award(ledger, ActivityAward(1, citizen.address, 300))
    award(
        ledger,
        ActivityAward(2, citizen.address, 200),
        ActivityAward(3, other.address, 50),
        ActivityAward(4, citizen.address, 100),
    )
    ledger.redeem(citizen, 150, reward_id=8)
    ledger.reverse_award(2, reason_code=5)

    history = ledger.history(citizen.address)

    assert [(type(r).__name__, points_delta(r)) for r in history] == [
        ("AwardRecorded", 300),
        ("AwardRecorded", 200),
        ("AwardRecorded", 100),
        ("PointsRedeemed", -150),
        ("AwardReversed", -200),
    ]
    assert [getattr(r, "activity_id", None) for r in history] == [1, 2, 4, None, 2]
    assert history[3].reward_id == 8
    assert history[4].reason_code == 5
    positions = [(r.ref.block_number, r.ref.log_index) for r in history]
    assert positions == sorted(positions) and len(set(positions)) == len(positions)
    assert sum(points_delta(r) for r in history) == ledger.balance_of(citizen.address) == 250


def test_history_lists_only_the_citizen_awards_with_their_reversals(ledger, citizens):
    a, b = citizens[0].address, citizens[1].address
    award(ledger, ActivityAward(1, a, 10), ActivityAward(2, b, 20), ActivityAward(3, a, 30))
    ledger.reverse_award(3, reason_code=4)

    history = ledger.history(a)

    assert [(type(r).__name__, r.activity_id, r.points) for r in history] == [
        ("AwardRecorded", 1, 10),
        ("AwardRecorded", 3, 30),
        ("AwardReversed", 3, 30),
    ]
    assert history[2].reason_code == 4
    assert [(r.activity_id, r.points) for r in ledger.history(b)] == [(2, 20)]
