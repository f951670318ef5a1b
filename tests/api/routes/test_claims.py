"""Activity claims end to end: submission, plausibility holds, review, and batched awards on-chain."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta, timezone

import pytest

from ledger import ActivityAward, Metrics
from tests.api.conftest import outing


def _day(days_ago: int, hour: int) -> datetime:
    """``hour`` o'clock UTC ``days_ago`` days ago: outings that share (or not) a UTC day."""
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(days=days_ago) + timedelta(hours=hour)


def _on(days_ago: int, hour: int, **overrides: object) -> dict[str, object]:
    start = _day(days_ago, hour)
    return outing(started_at=start.isoformat(), ended_at=(start + timedelta(hours=1)).isoformat(), **overrides)


def _submit(api, headers, body=None, expect: int = 201) -> dict:
    response = api.client.post("/v1/claims", json=body or outing(), headers=headers)
    assert response.status_code == expect, response.text
    return response.json()


def _flush(api, expect: int = 200) -> dict:
    response = api.client.post("/v1/awards/flush", headers=api.staff("minter"))
    assert response.status_code == expect, response.text
    return response.json()


def _code(response) -> str:
    return response.json()["error"]["code"]


def _claims_of(api, headers) -> list[dict]:
    response = api.client.get("/v1/claims", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


# ---------------------------------------------------------------- approval, points and batched awards


def test_plausible_claim_is_approved_and_flushed_on_chain(api):
    headers, citizen = api.custodial_citizen()
    claim = _submit(api, headers)
    assert claim["status"] == "approved"
    assert claim["hold_reasons"] == []
    assert claim["tx_hash"] is None
    assert api.ledger.balance_of(citizen["address"]) == 0

    flushed = _flush(api)
    assert flushed["awarded"] == 1
    assert len(flushed["transactions"]) == 1
    record = api.ledger.activity(claim["activity_id"])
    assert record is not None
    assert record.citizen == citizen["address"]
    assert record.points == claim["points"]
    assert record.metrics == Metrics(5_000, 3_600, 150, 6_500)
    assert record.ref.tx_hash == flushed["transactions"][0]
    assert api.ledger.balance_of(citizen["address"]) == claim["points"]


def test_batch_of_five_claims_from_three_citizens_is_one_transaction(api):
    citizens = [api.custodial_citizen() for _ in range(3)]
    submitted: list[tuple[str, dict]] = []
    for index, minutes_ago in enumerate((120, 240, 360, 480, 600)):
        headers, citizen = citizens[index % 3]
        body = outing(minutes_ago=minutes_ago, litter_grams=10 * (index + 1), steps=1_000)
        submitted.append((citizen["address"], _submit(api, headers, body)))
    assert all(claim["status"] == "approved" for _, claim in submitted)

    flushed = _flush(api)
    assert flushed["awarded"] == 5
    assert len(flushed["transactions"]) == 1
    (tx_hash,) = flushed["transactions"]
    receipt = api.ledger.w3.eth.get_transaction_receipt(tx_hash)
    assert receipt["status"] == 1

    for _, citizen in citizens:
        expected = sum(claim["points"] for address, claim in submitted if address == citizen["address"])
        assert api.ledger.balance_of(citizen["address"]) == expected > 0
    for _, claim in submitted:
        assert api.ledger.activity(claim["activity_id"]).ref.tx_hash == tx_hash
    assert api.ledger.total_supply() == sum(claim["points"] for _, claim in submitted)
    # Nothing is left to award: a second flush sends nothing.
    assert _flush(api) == {"awarded": 0, "transactions": []}


@pytest.mark.parametrize(
    ("steps", "litter", "mission"),
    [
        (5_000, 80, True),  # both thresholds exactly
        (6_500, 150, True),
        (20_000, 2_000, True),  # litter points capped at 50
        (4_999, 1_000, False),  # a step short
        (9_999, 79, False),  # a gram short
        (0, 0, False),
    ],
)
def test_points_follow_the_city_rules(api, steps, litter, mission):
    headers, citizen = api.custodial_citizen()
    claim = _submit(api, headers, outing(steps=steps, litter_grams=litter))
    expected = 10 + min(litter // 10, 50) + (50 if mission else 0)
    assert claim["mission_completed"] is mission
    assert claim["points"] == expected
    _flush(api)
    assert api.ledger.balance_of(citizen["address"]) == expected
    assert api.ledger.activity(claim["activity_id"]).points == expected


# ---------------------------------------------------------------- evidence and time checks


@pytest.mark.parametrize("field", ["photo_hash", "track_hash"])
def test_reused_evidence_is_refused_409(api, field):
    first, _ = api.custodial_citizen()
    second, other = api.custodial_citizen()
    body = outing()
    _submit(api, first, body)

    for reused_hash in (body[field], str(body[field]).upper().replace("0X", "0x")):
        response = api.client.post("/v1/claims", json=outing(**{field: reused_hash}), headers=second)
        assert response.status_code == 409, response.text
        assert _code(response) == "evidence_already_used"
    # The photo of one claim cannot be another claim's track either.
    swapped = outing(track_hash=body["photo_hash"])
    response = api.client.post("/v1/claims", json=swapped, headers=second)
    assert (response.status_code, _code(response)) == (409, "evidence_already_used")
    # The same citizen cannot reuse it either, and nothing was stored for the refused claims.
    response = api.client.post("/v1/claims", json=outing(minutes_ago=600, **{field: body[field]}), headers=first)
    assert (response.status_code, _code(response)) == (409, "evidence_already_used")
    assert _claims_of(api, second) == []
    _flush(api)
    assert api.ledger.balance_of(other["address"]) == 0


def test_photo_and_track_must_differ(api):
    headers, _ = api.custodial_citizen()
    same = "0x" + secrets.token_hex(32)
    response = api.client.post("/v1/claims", json=outing(photo_hash=same, track_hash=same), headers=headers)
    assert (response.status_code, _code(response)) == (422, "invalid_evidence")


def test_future_end_is_refused(api):
    headers, _ = api.custodial_citizen()
    response = api.client.post("/v1/claims", json=outing(minutes_ago=-30), headers=headers)
    assert (response.status_code, _code(response)) == (422, "invalid_time")
    assert _claims_of(api, headers) == []


@pytest.mark.parametrize("gap_minutes", [0, -30])
def test_end_not_after_start_is_refused(api, gap_minutes):
    headers, _ = api.custodial_citizen()
    end = datetime.now(UTC) - timedelta(hours=2)
    body = outing(started_at=end.isoformat(), ended_at=(end + timedelta(minutes=gap_minutes)).isoformat())
    response = api.client.post("/v1/claims", json=body, headers=headers)
    assert (response.status_code, _code(response)) == (422, "invalid_time")


def test_times_without_a_zone_are_refused(api):
    headers, _ = api.custodial_citizen()
    end = datetime.now(UTC).replace(tzinfo=None) - timedelta(hours=2)
    body = outing(started_at=(end - timedelta(hours=1)).isoformat(), ended_at=end.isoformat())
    response = api.client.post("/v1/claims", json=body, headers=headers)
    assert (response.status_code, _code(response)) == (422, "invalid_time")


def test_malformed_claim_bodies_are_422(api):
    headers, _ = api.custodial_citizen()
    for body in (
        outing(photo_hash="0x1234"),
        outing(distance_meters=-1),
        outing(steps=2**32),
        outing(extra_field=1),
        {k: v for k, v in outing().items() if k != "litter_grams"},
    ):
        response = api.client.post("/v1/claims", json=body, headers=headers)
        assert (response.status_code, _code(response)) == (422, "invalid_request"), body


def test_claims_need_a_citizen_session(api):
    assert api.client.post("/v1/claims", json=outing()).status_code == 401
    response = api.client.post("/v1/claims", json=outing(), headers=api.staff("minter"))
    assert (response.status_code, _code(response)) == (403, "forbidden")


# ---------------------------------------------------------------- plausibility holds


def _held_for(api, headers, body, reason_fragment: str) -> dict:
    claim = _submit(api, headers, body)
    assert claim["status"] == "held", claim
    assert any(reason_fragment in reason for reason in claim["hold_reasons"]), claim["hold_reasons"]
    return claim


def test_speed_above_12_kmh_is_held(api):
    headers, citizen = api.custodial_citizen()
    # 12.0 km/h exactly is plausible; 12.5 km/h is not.
    ok = _submit(api, headers, outing(minutes_ago=400, distance_meters=12_000))
    assert ok["status"] == "approved"
    held = _held_for(api, headers, outing(distance_meters=12_500), "average speed above 12 km/h")
    flushed = _flush(api)
    assert flushed["awarded"] == 1
    assert api.ledger.activity(held["activity_id"]) is None
    assert api.ledger.balance_of(citizen["address"]) == ok["points"]


def test_distance_without_duration_is_held(api):
    headers, _ = api.custodial_citizen()
    _held_for(api, headers, outing(duration_seconds=0), "distance with no duration")


def test_overlapping_outings_of_the_same_citizen_are_held(api):
    headers, _ = api.custodial_citizen()
    other_headers, _ = api.custodial_citizen()

    def at(minute: int) -> dict[str, object]:
        start = _day(1, 8) + timedelta(minutes=minute)
        return outing(started_at=start.isoformat(), ended_at=(start + timedelta(hours=1)).isoformat())

    assert _submit(api, headers, at(0))["status"] == "approved"  # 08:00 to 09:00
    _held_for(api, headers, at(30), "overlaps another outing")  # 08:30 to 09:30
    # A held claim still counts: 09:15 to 10:15 overlaps it.
    _held_for(api, headers, at(75), "overlaps another outing")
    # Back to back is not an overlap, and another citizen's outing never overlaps.
    assert _submit(api, headers, at(-60))["status"] == "approved"  # 07:00 to 08:00
    assert _submit(api, other_headers, at(0))["status"] == "approved"


def test_rejected_outing_does_not_count_as_overlap(api):
    headers, _ = api.custodial_citizen()
    held = _held_for(api, headers, outing(distance_meters=50_000), "average speed")
    reviewed = api.client.post(
        f"/v1/review/claims/{held['activity_id']}",
        json={"decision": "reject", "reason": "a bicycle"},
        headers=api.staff("minter"),
    )
    assert reviewed.status_code == 200
    assert _submit(api, headers, outing())["status"] == "approved"


def test_over_the_daily_cap_is_held(api):
    api.state.settings.daily_points_cap = 100
    headers, citizen = api.custodial_citizen()
    first = _submit(api, headers, _on(1, 8))  # 75 points
    assert (first["points"], first["status"]) == (75, "approved")
    small = _submit(api, headers, _on(1, 12, litter_grams=50, steps=100))  # 15 points: 90 in all
    assert (small["points"], small["status"]) == (15, "approved")
    held = _held_for(api, headers, _on(1, 10), "over the daily cap of 100 points")
    # Another day has its own cap.
    other_day = _submit(api, headers, _on(2, 10))
    assert other_day["status"] == "approved"
    _flush(api)
    assert api.ledger.balance_of(citizen["address"]) == 75 + 15 + 75
    assert api.ledger.activity(held["activity_id"]) is None


def test_duration_longer_than_the_span_is_held(api):
    headers, _ = api.custodial_citizen()
    _held_for(api, headers, outing(duration_seconds=7_200), "duration is longer than the time between start and end")


def test_without_auto_approve_every_claim_is_held(api):
    api.state.settings.auto_approve = False
    headers, citizen = api.custodial_citizen()
    claim = _held_for(api, headers, outing(), "the city reviews every claim")
    assert claim["hold_reasons"] == ["the city reviews every claim"]
    assert _flush(api)["awarded"] == 0
    assert api.ledger.balance_of(citizen["address"]) == 0
    # An implausible claim keeps its real reasons.
    implausible = _held_for(api, headers, outing(minutes_ago=400, distance_meters=50_000), "average speed")
    assert "the city reviews every claim" not in implausible["hold_reasons"]


# ---------------------------------------------------------------- review


def test_review_lists_held_claims_and_approval_is_recorded_and_awarded(api):
    headers, citizen = api.custodial_citizen()
    approved = _submit(api, headers, outing(minutes_ago=400))
    held = _held_for(api, headers, outing(distance_meters=30_000), "average speed")
    minter = api.staff("minter", label="Reviewer Park")

    listed = api.client.get("/v1/review/claims", headers=minter)
    assert listed.status_code == 200
    assert [c["activity_id"] for c in listed.json()] == [held["activity_id"]]
    assert listed.json()[0]["reviews"] == []
    by_status = api.client.get("/v1/review/claims", params={"status": "approved"}, headers=minter).json()
    assert [c["activity_id"] for c in by_status] == [approved["activity_id"]]

    before = datetime.now(UTC)
    response = api.client.post(
        f"/v1/review/claims/{held['activity_id']}",
        json={"decision": "approve", "reason": "GPS track checked: a downhill run"},
        headers=minter,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "approved"
    (review,) = body["reviews"]
    assert review["reviewer"].startswith("Reviewer Park#")
    assert review["decision"] == "approve"
    assert review["reason"] == "GPS track checked: a downhill run"
    decided = datetime.fromisoformat(review["decided_at"])
    assert decided.tzinfo is not None
    assert before - timedelta(seconds=5) <= decided <= datetime.now(UTC) + timedelta(seconds=5)
    assert api.client.get("/v1/review/claims", headers=minter).json() == []

    flushed = _flush(api)
    assert flushed["awarded"] == 2
    assert api.ledger.balance_of(citizen["address"]) == approved["points"] + held["points"]

    mine = {c["activity_id"]: c for c in _claims_of(api, headers)}
    for claim in mine.values():
        assert claim["status"] == "awarded"
        assert claim["tx_hash"] == flushed["transactions"][0]
        assert claim["block_number"] == api.ledger.activity(claim["activity_id"]).ref.block_number
    one = api.client.get(f"/v1/claims/{held['activity_id']}", headers=headers)
    assert one.status_code == 200
    assert one.json()["status"] == "awarded"


def test_rejected_claim_is_never_awarded(api):
    headers, citizen = api.custodial_citizen()
    held = _held_for(api, headers, outing(distance_meters=30_000), "average speed")
    response = api.client.post(
        f"/v1/review/claims/{held['activity_id']}",
        json={"decision": "reject", "reason": "too fast for plogging"},
        headers=api.staff("minter"),
    )
    assert response.status_code == 200
    assert response.json()["status"] == "rejected"
    assert response.json()["reviews"][0]["decision"] == "reject"
    assert _flush(api)["awarded"] == 0
    assert api.ledger.activity(held["activity_id"]) is None
    assert api.ledger.balance_of(citizen["address"]) == 0
    assert _claims_of(api, headers)[0]["status"] == "rejected"
    # A decided claim cannot be reviewed again.
    again = api.client.post(
        f"/v1/review/claims/{held['activity_id']}",
        json={"decision": "approve", "reason": "changed my mind"},
        headers=api.staff("minter"),
    )
    assert (again.status_code, _code(again)) == (409, "claim_not_held")


def test_reviewing_a_claim_that_is_not_held_or_unknown(api):
    headers, _ = api.custodial_citizen()
    approved = _submit(api, headers)
    minter = api.staff("minter")
    decision = {"decision": "approve", "reason": "ok"}
    response = api.client.post(f"/v1/review/claims/{approved['activity_id']}", json=decision, headers=minter)
    assert (response.status_code, _code(response)) == (409, "claim_not_held")
    _flush(api)
    response = api.client.post(f"/v1/review/claims/{approved['activity_id']}", json=decision, headers=minter)
    assert (response.status_code, _code(response)) == (409, "claim_not_held")
    response = api.client.post("/v1/review/claims/9999", json=decision, headers=minter)
    assert (response.status_code, _code(response)) == (404, "claim_not_found")
    # A decision needs a reason and one of the two verdicts.
    for bad in ({"decision": "approve", "reason": ""}, {"decision": "maybe", "reason": "x"}, {"decision": "approve"}):
        response = api.client.post(f"/v1/review/claims/{approved['activity_id']}", json=bad, headers=minter)
        assert (response.status_code, _code(response)) == (422, "invalid_request")


def test_review_and_flush_need_the_minter_role(api):
    headers, _ = api.custodial_citizen()
    held = _held_for(api, headers, outing(distance_meters=30_000), "average speed")
    decision = {"decision": "approve", "reason": "ok"}
    for who in (api.staff("issuer"), api.staff("redeemer"), headers):
        assert api.client.get("/v1/review/claims", headers=who).status_code == 403
        assert (
            api.client.post(f"/v1/review/claims/{held['activity_id']}", json=decision, headers=who).status_code == 403
        )
        assert api.client.post("/v1/awards/flush", headers=who).status_code == 403
    assert api.client.post("/v1/awards/flush").status_code == 401
    # The admin may do everything.
    assert (
        api.client.post(f"/v1/review/claims/{held['activity_id']}", json=decision, headers=api.staff()).status_code
        == 200
    )


def test_citizens_see_only_their_own_claims(api):
    alice, _ = api.custodial_citizen()
    bob, _ = api.custodial_citizen()
    claim = _submit(api, alice)
    assert [c["activity_id"] for c in _claims_of(api, alice)] == [claim["activity_id"]]
    assert _claims_of(api, bob) == []
    response = api.client.get(f"/v1/claims/{claim['activity_id']}", headers=bob)
    assert (response.status_code, _code(response)) == (404, "claim_not_found")
    response = api.client.get("/v1/claims/424242", headers=alice)
    assert (response.status_code, _code(response)) == (404, "claim_not_found")


def test_wallet_citizen_claims_are_awarded_to_their_own_address(api):
    headers, account = api.wallet_citizen()
    claim = _submit(api, headers)
    _flush(api)
    assert api.ledger.balance_of(account.address) == claim["points"]
    assert api.ledger.activity(claim["activity_id"]).citizen == account.address


# ---------------------------------------------------------------- flush: repeatable and reconciling


def _award_directly(api, claim_id: int, address: str):
    """Sends the award the flush would send, as if a flush was mined before the store recorded it."""
    from api.store import ActivityClaim

    with api.state.store.session() as session:
        row = session.get(ActivityClaim, claim_id)
        award = ActivityAward(
            row.id,
            address,
            row.points,
            row.kind,
            Metrics(row.distance_meters, row.duration_seconds, row.litter_grams, row.steps),
            bytes.fromhex(row.evidence_commitment[2:]),
        )
    (result,) = api.ledger.award_points_batch([award])
    return result


def test_flush_reconciles_an_award_mined_before_the_store_recorded_it(api):
    headers, citizen = api.custodial_citizen()
    held = _held_for(api, headers, outing(distance_meters=30_000), "average speed")
    approve = {"decision": "approve", "reason": "checked"}
    assert (
        api.client.post(
            f"/v1/review/claims/{held['activity_id']}", json=approve, headers=api.staff("minter")
        ).status_code
        == 200
    )
    other = _submit(api, headers, outing(minutes_ago=400))
    mined = _award_directly(api, held["activity_id"], citizen["address"])

    flushed = _flush(api)  # no DuplicateActivity: the mined award is reconciled, the other one sent
    assert flushed["awarded"] == 1
    assert mined.tx_hash not in flushed["transactions"]
    claims = {c["activity_id"]: c for c in _claims_of(api, headers)}
    assert claims[held["activity_id"]]["status"] == "awarded"
    assert claims[held["activity_id"]]["tx_hash"] == mined.tx_hash
    assert claims[held["activity_id"]]["block_number"] == mined.block_number
    assert claims[other["activity_id"]]["status"] == "awarded"
    assert api.ledger.balance_of(citizen["address"]) == held["points"] + other["points"]
    assert len(api.ledger.activities_of(citizen["address"])) == 2

    # Repeating the flush changes nothing.
    assert _flush(api) == {"awarded": 0, "transactions": []}
    assert api.ledger.balance_of(citizen["address"]) == held["points"] + other["points"]


def test_flush_does_not_take_another_award_with_the_same_id_as_its_own(api):
    """If the activity id is already on-chain for another citizen (say the store was restored from
    an old backup), the claim must not be reported awarded: it is held for an operator."""
    headers, citizen = api.custodial_citizen()
    _, stranger = api.custodial_citizen()
    claim = _submit(api, headers)
    _award_directly(api, claim["activity_id"], stranger["address"])

    _flush(api)
    (mine,) = _claims_of(api, headers)
    assert mine["status"] == "held"
    assert any("already used on-chain" in reason for reason in mine["hold_reasons"])
    assert mine["tx_hash"] is None
    assert api.ledger.balance_of(citizen["address"]) == 0


def test_flush_holds_claims_the_contract_daily_cap_refuses_instead_of_blocking_everyone(api):
    """The service caps points per outing day; the contract caps what is awarded per chain day.
    Outings from two days flushed together can pass the first and fail the second: that must hold
    the claim over the cap, not revert the whole batch for every citizen forever."""
    api.ledger.set_limits(150, 150)
    api.state.settings.daily_points_cap = 150
    headers, citizen = api.custodial_citizen()
    other_headers, other = api.custodial_citizen()
    yesterday = [_submit(api, headers, _on(1, hour)) for hour in (8, 10)]  # 75 + 75
    today = _submit(api, headers, outing(minutes_ago=60))  # 75, on another outing day
    bystander = _submit(api, other_headers)
    assert all(c["status"] == "approved" for c in [*yesterday, today, bystander])

    flushed = _flush(api)
    assert flushed["awarded"] == 3
    assert api.ledger.balance_of(other["address"]) == bystander["points"]
    assert api.ledger.balance_of(citizen["address"]) == 150
    claims = {c["activity_id"]: c for c in _claims_of(api, headers)}
    assert claims[today["activity_id"]]["status"] == "held"
    assert any("daily cap" in reason for reason in claims[today["activity_id"]]["hold_reasons"])
    assert _flush(api) == {"awarded": 0, "transactions": []}


def test_flush_holds_an_award_larger_than_the_contract_allows(api):
    api.ledger.set_limits(50, 3_000)
    headers, citizen = api.custodial_citizen()
    big = _submit(api, headers, outing(minutes_ago=300))  # 75 points
    small = _submit(api, headers, outing(steps=100, litter_grams=100))  # 20 points
    flushed = _flush(api)
    assert flushed["awarded"] == 1
    assert api.ledger.balance_of(citizen["address"]) == small["points"]
    claims = {c["activity_id"]: c for c in _claims_of(api, headers)}
    assert claims[big["activity_id"]]["status"] == "held"
    assert claims[small["activity_id"]]["status"] == "awarded"


def test_flush_splits_large_backlogs_into_batches(api):
    api.state.settings.award_batch_size = 2
    headers, citizen = api.custodial_citizen()
    claims = [_submit(api, headers, outing(minutes_ago=120 * (i + 1))) for i in range(5)]
    flushed = _flush(api)
    assert flushed["awarded"] == 5
    assert len(flushed["transactions"]) == 3
    assert api.ledger.balance_of(citizen["address"]) == sum(c["points"] for c in claims)


def test_evidence_recorded_by_a_concurrent_claim_is_409_not_500(api, monkeypatch):
    """Two claims with the same photo racing each other: the second to commit gets the 409."""
    import api.claims as claims_module
    from api.store import EvidenceUse

    first_headers, _ = api.custodial_citizen()
    second_headers, _ = api.custodial_citizen()
    earlier = _submit(api, first_headers)
    body = outing(minutes_ago=300)
    real_hold_reasons = claims_module.hold_reasons

    def racing_hold_reasons(*args, **kwargs):
        # Between this request's evidence check and its commit, another request commits the photo.
        with api.state.store.session() as other:
            other.add(EvidenceUse(evidence_hash=str(body["photo_hash"]), claim_id=earlier["activity_id"]))
            other.commit()
        return real_hold_reasons(*args, **kwargs)

    monkeypatch.setattr(claims_module, "hold_reasons", racing_hold_reasons)
    response = api.client.post("/v1/claims", json=body, headers=second_headers)
    assert (response.status_code, _code(response)) == (409, "evidence_already_used")
    assert _claims_of(api, second_headers) == []


def test_times_in_any_zone_are_compared_as_instants(api):
    """An outing sent with a +09:00 offset overlaps the same hour sent in UTC."""
    headers, _ = api.custodial_citizen()
    start = _day(1, 8)
    assert _submit(api, headers, _on(1, 8))["status"] == "approved"
    seoul = timezone(timedelta(hours=9))
    local_start = start.astimezone(seoul) + timedelta(minutes=30)
    body = outing(started_at=local_start.isoformat(), ended_at=(local_start + timedelta(hours=1)).isoformat())
    assert "+09:00" in str(body["started_at"])
    _held_for(api, headers, body, "overlaps another outing")
