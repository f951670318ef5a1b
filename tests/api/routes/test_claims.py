"""Activity claims end to end: submission, plausibility holds, review and appeal, and settlement
(batched awards on-chain, activity ids given at settlement)."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from api.store import ActivityClaim, EvidenceUse, IdAllocator
from ledger import ActivityAward, AwardRecorded, Metrics
from tests.helpers import assert_error, outing


def _day(days_ago: int, hour: int) -> datetime:
    """``hour`` o'clock UTC ``days_ago`` days ago: outings that share (or not) a day."""
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


def _claims_of(api, headers) -> list[dict]:
    response = api.client.get("/v1/claims", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def _claim(api, headers, claim_id: int) -> dict:
    response = api.client.get(f"/v1/claims/{claim_id}", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def _award_of(api, activity_id: int) -> AwardRecorded | None:
    found = api.ledger.activity(activity_id)
    return None if found is None else found[0]


def _review(api, claim_id: int, decision: str, reason: str, headers=None):
    return api.client.post(
        f"/v1/review/claims/{claim_id}",
        json={"decision": decision, "reason": reason},
        headers=headers or api.staff("minter"),
    )


# ---------------------------------------------------------------- approval, points and batched awards


def test_create_claim_plausible_is_approved_and_settled_on_chain(api):
    headers, citizen = api.custodial_citizen()
    claim = _submit(api, headers)
    assert claim["status"] == "approved"
    assert claim["hold_reasons"] == []
    assert claim["tx_hash"] is None
    assert claim["activity_id"] is None  # given at settlement
    assert claim["claim_id"] >= 1
    assert api.ledger.balance_of(citizen["address"]) == 0

    flushed = _flush(api)
    assert flushed["awarded"] == 1
    assert len(flushed["transactions"]) == 1
    awarded = _claim(api, headers, claim["claim_id"])
    assert awarded["status"] == "awarded"
    assert awarded["activity_id"] is not None
    assert awarded["tx_hash"] == flushed["transactions"][0]
    record = _award_of(api, awarded["activity_id"])
    assert record is not None
    assert record.citizen == citizen["address"]
    assert record.points == claim["points"]
    assert record.metrics == Metrics(5_000, 3_600, 150, 6_500)
    assert record.ref.tx_hash == flushed["transactions"][0]
    assert record.ref.block_number == awarded["block_number"]
    assert api.ledger.balance_of(citizen["address"]) == claim["points"]


def test_settle_batch_of_five_claims_from_three_citizens_is_one_transaction(api):
    citizens = [api.custodial_citizen() for _ in range(3)]
    submitted: list[tuple[dict, str, dict]] = []
    for index, minutes_ago in enumerate((120, 240, 360, 480, 600)):
        headers, citizen = citizens[index % 3]
        body = outing(minutes_ago=minutes_ago, litter_grams=10 * (index + 1), steps=1_000, distance_meters=800)
        submitted.append((headers, citizen["address"], _submit(api, headers, body)))
    assert all(claim["status"] == "approved" for *_, claim in submitted)

    flushed = _flush(api)
    assert flushed["awarded"] == 5
    assert len(flushed["transactions"]) == 1
    (tx_hash,) = flushed["transactions"]
    receipt = api.test_chain.w3.eth.get_transaction_receipt(tx_hash)
    assert receipt["status"] == 1

    for _, citizen in citizens:
        expected = sum(claim["points"] for _, address, claim in submitted if address == citizen["address"])
        assert api.ledger.balance_of(citizen["address"]) == expected > 0
    for headers, _, claim in submitted:
        awarded = _claim(api, headers, claim["claim_id"])
        assert _award_of(api, awarded["activity_id"]).ref.tx_hash == tx_hash
    assert api.ledger.total_supply() == sum(claim["points"] for *_, claim in submitted)
    # Nothing is left to award: a second flush sends nothing.
    assert _flush(api) == {"awarded": 0, "transactions": []}


@pytest.mark.parametrize(
    ("steps", "litter", "mission"),
    [
        (5_000, 80, True),  # both thresholds exactly
        (6_500, 150, True),
        (12_000, 2_000, True),  # litter points capped at 50
        (4_999, 1_000, False),  # a step short
        (9_999, 79, False),  # a gram short
        (0, 0, False),
    ],
)
def test_create_claim_points_follow_the_city_rules(api, steps, litter, mission):
    headers, citizen = api.custodial_citizen()
    claim = _submit(api, headers, outing(steps=steps, litter_grams=litter))
    expected = 10 + min(litter // 10, 50) + (50 if mission else 0)
    assert claim["status"] == "approved", claim["hold_reasons"]
    assert claim["mission_completed"] is mission
    assert claim["points"] == expected
    _flush(api)
    assert api.ledger.balance_of(citizen["address"]) == expected
    assert _award_of(api, _claim(api, headers, claim["claim_id"])["activity_id"]).points == expected


# ---------------------------------------------------------------- claim ids and activity ids


def test_settle_gives_activity_ids_in_settlement_order(api):
    headers, citizen = api.custodial_citizen()
    first = _submit(api, headers, outing(minutes_ago=600))
    held = _submit(api, headers, outing(minutes_ago=400, distance_meters=12_500))  # too fast: held
    last = _submit(api, headers, outing(minutes_ago=200))
    assert [c["activity_id"] for c in (first, held, last)] == [None, None, None]
    assert first["claim_id"] < held["claim_id"] < last["claim_id"]

    _flush(api)
    first, held, last = (_claim(api, headers, c["claim_id"]) for c in (first, held, last))
    assert held["activity_id"] is None and held["status"] == "held"
    assert last["activity_id"] == first["activity_id"] + 1
    assert first["activity_id"] > 0

    assert _review(api, held["claim_id"], "approve", "a downhill run").status_code == 200
    assert _claim(api, headers, held["claim_id"])["activity_id"] is None  # approved, not yet awarded
    _flush(api)
    held = _claim(api, headers, held["claim_id"])
    # Settled later, so a later id although the claim is older.
    assert held["status"] == "awarded"
    assert held["activity_id"] > last["activity_id"]
    assert api.ledger.last_activity_id() == held["activity_id"]
    for claim in (first, last, held):
        assert _award_of(api, claim["activity_id"]).citizen == citizen["address"]
    assert len({c["activity_id"] for c in (first, last, held)}) == 3


def test_settle_never_reuses_an_activity_id_already_on_chain(api):
    """Another writer's awards, or a store restored from an old backup, cannot make two awards
    share an id: ids come from the store's allocator floored at the chain's last id."""
    headers, citizen = api.custodial_citizen()
    _, stranger = api.custodial_citizen()
    first = _submit(api, headers, outing(minutes_ago=400))
    _flush(api)
    first = _claim(api, headers, first["claim_id"])

    # The store is restored from a backup taken before any award, and an award is made outside it.
    with api.ctx.store.session() as session:
        session.get(IdAllocator, "activity").next_value = 1
        session.commit()
    outside = first["activity_id"] + 10
    api.ledger.award_points([ActivityAward(outside, stranger["address"], 5)])

    second = _submit(api, headers, outing(minutes_ago=120))
    assert _flush(api)["awarded"] == 1
    second = _claim(api, headers, second["claim_id"])
    assert second["status"] == "awarded"
    assert second["activity_id"] > outside
    assert _award_of(api, outside).citizen == stranger["address"]
    assert _award_of(api, second["activity_id"]).citizen == citizen["address"]
    assert api.ledger.balance_of(stranger["address"]) == 5
    assert api.ledger.balance_of(citizen["address"]) == first["points"] + second["points"]


# ---------------------------------------------------------------- evidence and time checks


@pytest.mark.parametrize("field", ["photo_hash", "track_hash"])
def test_create_claim_reused_evidence_is_409(api, field):
    first, _ = api.custodial_citizen()
    second, other = api.custodial_citizen()
    body = outing()
    _submit(api, first, body)

    for reused_hash in (body[field], str(body[field]).upper().replace("0X", "0x")):
        response = api.client.post("/v1/claims", json=outing(**{field: reused_hash}), headers=second)
        assert_error(response, 409, "evidence_already_used")
    # The photo of one claim cannot be another claim's track either.
    swapped = outing(track_hash=body["photo_hash"])
    assert_error(api.client.post("/v1/claims", json=swapped, headers=second), 409, "evidence_already_used")
    # The same citizen cannot reuse it either, and nothing was stored for the refused claims.
    response = api.client.post("/v1/claims", json=outing(minutes_ago=600, **{field: body[field]}), headers=first)
    assert_error(response, 409, "evidence_already_used")
    assert _claims_of(api, second) == []
    _flush(api)
    assert api.ledger.balance_of(other["address"]) == 0


def test_create_claim_photo_and_track_must_differ(api):
    headers, _ = api.custodial_citizen()
    same = "0x" + secrets.token_hex(32)
    response = api.client.post("/v1/claims", json=outing(photo_hash=same, track_hash=same), headers=headers)
    assert_error(response, 422, "invalid_evidence")


def test_create_claim_future_end_is_refused(api):
    headers, _ = api.custodial_citizen()
    response = api.client.post("/v1/claims", json=outing(minutes_ago=-30), headers=headers)
    assert_error(response, 422, "invalid_time")
    assert _claims_of(api, headers) == []


@pytest.mark.parametrize("gap_minutes", [0, -30])
def test_create_claim_end_not_after_start_is_refused(api, gap_minutes):
    headers, _ = api.custodial_citizen()
    end = datetime.now(UTC) - timedelta(hours=2)
    body = outing(started_at=end.isoformat(), ended_at=(end + timedelta(minutes=gap_minutes)).isoformat())
    assert_error(api.client.post("/v1/claims", json=body, headers=headers), 422, "invalid_time")


def test_create_claim_times_without_a_zone_are_refused(api):
    headers, _ = api.custodial_citizen()
    end = datetime.now(UTC).replace(tzinfo=None) - timedelta(hours=2)
    body = outing(started_at=(end - timedelta(hours=1)).isoformat(), ended_at=end.isoformat())
    # The request schema takes only times with a zone.
    assert_error(api.client.post("/v1/claims", json=body, headers=headers), 422, "invalid_request")
    assert _claims_of(api, headers) == []


def test_create_claim_malformed_bodies_are_422(api):
    headers, _ = api.custodial_citizen()
    for body in (
        outing(photo_hash="0x1234"),
        outing(distance_meters=-1),
        outing(steps=2**32),
        outing(extra_field=1),
        {k: v for k, v in outing().items() if k != "litter_grams"},
    ):
        response = api.client.post("/v1/claims", json=body, headers=headers)
        assert_error(response, 422, "invalid_request")


def test_create_claim_needs_a_citizen_session(api):
    assert api.client.post("/v1/claims", json=outing()).status_code == 401
    response = api.client.post("/v1/claims", json=outing(), headers=api.staff("minter"))
    assert_error(response, 403, "forbidden")


# ---------------------------------------------------------------- plausibility holds


def _held_for(api, headers, body, reason_fragment: str) -> dict:
    claim = _submit(api, headers, body)
    assert claim["status"] == "held", claim
    assert any(reason_fragment in reason for reason in claim["hold_reasons"]), claim["hold_reasons"]
    return claim


def test_create_claim_speed_above_12_kmh_is_held(api):
    headers, citizen = api.custodial_citizen()
    # 12.0 km/h exactly is plausible; 12.5 km/h is not.
    ok = _submit(api, headers, outing(minutes_ago=400, distance_meters=12_000, steps=10_000))
    assert ok["status"] == "approved", ok["hold_reasons"]
    held = _held_for(api, headers, outing(distance_meters=12_500, steps=10_000), "average speed above 12 km/h")
    flushed = _flush(api)
    assert flushed["awarded"] == 1
    still = _claim(api, headers, held["claim_id"])
    assert (still["status"], still["activity_id"], still["tx_hash"]) == ("held", None, None)
    assert api.ledger.balance_of(citizen["address"]) == ok["points"]


def test_create_claim_implausible_outing_is_held_with_its_reasons(api):
    """One minute, 100,000 steps and 100 kg of litter: held for a reviewer, never awarded."""
    headers, citizen = api.custodial_citizen()
    end = datetime.now(UTC) - timedelta(hours=1)
    body = outing(
        started_at=(end - timedelta(minutes=1)).isoformat(),
        ended_at=end.isoformat(),
        duration_seconds=60,
        distance_meters=150,
        steps=100_000,
        litter_grams=100_000,
    )
    claim = _held_for(api, headers, body, "more than 220 steps a minute")
    assert "more litter than one person picks up in that time" in claim["hold_reasons"]
    assert _flush(api)["awarded"] == 0
    assert _claim(api, headers, claim["claim_id"])["status"] == "held"
    assert api.ledger.balance_of(citizen["address"]) == 0


def test_create_claim_outing_without_duration_is_held(api):
    headers, _ = api.custodial_citizen()
    _held_for(api, headers, outing(duration_seconds=0), "an outing with no duration")


def test_create_claim_outing_years_ago_is_held_not_refused(api):
    headers, _ = api.custodial_citizen()
    claim = _held_for(api, headers, _on(3 * 365, 8), "the outing is older than 7 days")
    assert _flush(api)["awarded"] == 0
    assert _claim(api, headers, claim["claim_id"])["status"] == "held"


@pytest.mark.parametrize(("max_age", "days_ago", "status"), [(30, 10, "approved"), (2, 3, "held")])
def test_create_claim_age_limit_follows_the_setting(make_api, max_age, days_ago, status):
    api = make_api(max_claim_age_days=max_age)
    headers, _ = api.custodial_citizen()
    claim = _submit(api, headers, _on(days_ago, 8))
    assert claim["status"] == status, claim["hold_reasons"]
    aged = [r for r in claim["hold_reasons"] if "older than" in r]
    assert aged == ([] if status == "approved" else [f"the outing is older than {max_age} days"])


def test_create_claim_overlapping_outings_of_the_same_citizen_are_held(api):
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


def test_create_claim_rejected_outing_does_not_count_as_overlap(api):
    headers, _ = api.custodial_citizen()
    held = _held_for(api, headers, outing(distance_meters=50_000, steps=40_000), "average speed")
    assert _review(api, held["claim_id"], "reject", "a bicycle").status_code == 200
    assert _submit(api, headers, outing())["status"] == "approved"


def test_create_claim_over_the_daily_cap_is_held(make_api):
    api = make_api(daily_points_cap=100)
    headers, citizen = api.custodial_citizen()
    first = _submit(api, headers, _on(1, 8))  # 75 points
    assert (first["points"], first["status"]) == (75, "approved")
    small = _submit(api, headers, _on(1, 12, litter_grams=50, steps=100, distance_meters=100))  # 15: 90 in all
    assert (small["points"], small["status"]) == (15, "approved"), small["hold_reasons"]
    held = _held_for(api, headers, _on(1, 10), "over the daily cap of 100 points")
    # Another day has its own cap.
    other_day = _submit(api, headers, _on(2, 10))
    assert other_day["status"] == "approved"
    _flush(api)
    assert api.ledger.balance_of(citizen["address"]) == 75 + 15 + 75
    assert _claim(api, headers, held["claim_id"])["activity_id"] is None


def test_create_claim_duration_longer_than_the_span_is_held(api):
    headers, _ = api.custodial_citizen()
    _held_for(api, headers, outing(duration_seconds=7_200), "duration is longer than the time between start and end")


def test_create_claim_without_auto_approve_every_claim_is_held(make_api):
    api = make_api(auto_approve=False)
    headers, citizen = api.custodial_citizen()
    claim = _held_for(api, headers, outing(), "the city reviews every claim")
    assert claim["hold_reasons"] == ["the city reviews every claim"]
    assert _flush(api)["awarded"] == 0
    assert api.ledger.balance_of(citizen["address"]) == 0
    # An implausible claim keeps its real reasons.
    implausible = _held_for(api, headers, outing(minutes_ago=400, distance_meters=50_000), "average speed")
    assert "the city reviews every claim" not in implausible["hold_reasons"]


def test_create_claim_times_in_any_zone_are_compared_as_instants(api):
    """An outing sent with a +09:00 offset overlaps the same hour sent in UTC."""
    headers, _ = api.custodial_citizen()
    start = _day(1, 8)
    assert _submit(api, headers, _on(1, 8))["status"] == "approved"
    seoul = timezone(timedelta(hours=9))
    local_start = start.astimezone(seoul) + timedelta(minutes=30)
    body = outing(started_at=local_start.isoformat(), ended_at=(local_start + timedelta(hours=1)).isoformat())
    assert "+09:00" in str(body["started_at"])
    _held_for(api, headers, body, "overlaps another outing")


def test_create_claim_evidence_recorded_by_a_concurrent_claim_is_409_not_500(api, monkeypatch):
    """Two claims with the same photo racing each other: the second to commit gets the 409."""
    import api.services.claims as claims_module

    first_headers, _ = api.custodial_citizen()
    second_headers, _ = api.custodial_citizen()
    earlier = _submit(api, first_headers)
    body = outing(minutes_ago=300)
    real_hold_reasons = claims_module._hold_reasons

    def racing_hold_reasons(*args, **kwargs):
        # Between this request's evidence check and its commit, another request commits the photo.
        with api.ctx.store.session() as other:
            other.add(EvidenceUse(evidence_hash=str(body["photo_hash"]), claim_id=earlier["claim_id"]))
            other.commit()
        return real_hold_reasons(*args, **kwargs)

    monkeypatch.setattr(claims_module, "_hold_reasons", racing_hold_reasons)
    response = api.client.post("/v1/claims", json=body, headers=second_headers)
    assert_error(response, 409, "evidence_already_used")
    assert _claims_of(api, second_headers) == []


# ---------------------------------------------------------------- review


def test_review_claim_lists_held_claims_and_approval_is_recorded_and_awarded(api):
    headers, citizen = api.custodial_citizen()
    approved = _submit(api, headers, outing(minutes_ago=400))
    held = _held_for(api, headers, outing(distance_meters=30_000, steps=20_000), "average speed")
    minter = api.staff("minter", label="Reviewer Park")

    listed = api.client.get("/v1/review/claims", headers=minter)
    assert listed.status_code == 200
    assert [c["claim_id"] for c in listed.json()] == [held["claim_id"]]
    assert listed.json()[0]["reviews"] == []
    by_status = api.client.get("/v1/review/claims", params={"status": "approved"}, headers=minter).json()
    assert [c["claim_id"] for c in by_status] == [approved["claim_id"]]

    before = datetime.now(UTC)
    response = _review(api, held["claim_id"], "approve", "GPS track checked: a downhill run", minter)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "approved"
    assert body["reviewer_reason"] == "GPS track checked: a downhill run"
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

    mine = _claims_of(api, headers)
    assert {c["claim_id"] for c in mine} == {approved["claim_id"], held["claim_id"]}
    for claim in mine:
        assert claim["status"] == "awarded"
        assert claim["tx_hash"] == flushed["transactions"][0]
        assert claim["block_number"] == _award_of(api, claim["activity_id"]).ref.block_number
    assert _claim(api, headers, held["claim_id"])["status"] == "awarded"


def test_review_claim_rejected_is_never_awarded_and_the_citizen_sees_why(api):
    headers, citizen = api.custodial_citizen()
    held = _held_for(api, headers, outing(distance_meters=30_000, steps=20_000), "average speed")
    response = _review(api, held["claim_id"], "reject", "too fast for plogging")
    assert response.status_code == 200
    assert response.json()["status"] == "rejected"
    assert response.json()["reviews"][0]["decision"] == "reject"
    assert _flush(api)["awarded"] == 0
    assert api.ledger.balance_of(citizen["address"]) == 0
    mine = _claim(api, headers, held["claim_id"])
    assert (mine["status"], mine["activity_id"]) == ("rejected", None)
    assert mine["reviewer_reason"] == "too fast for plogging"
    assert mine["appealed"] is False
    assert _claims_of(api, headers)[0]["reviewer_reason"] == "too fast for plogging"
    # A decided claim cannot be reviewed again.
    assert_error(_review(api, held["claim_id"], "approve", "changed my mind"), 409, "claim_not_held")


def test_review_claim_not_held_or_unknown(api):
    headers, _ = api.custodial_citizen()
    approved = _submit(api, headers)
    minter = api.staff("minter")
    assert_error(_review(api, approved["claim_id"], "approve", "ok", minter), 409, "claim_not_held")
    _flush(api)
    assert_error(_review(api, approved["claim_id"], "approve", "ok", minter), 409, "claim_not_held")
    assert_error(_review(api, 9999, "approve", "ok", minter), 404, "claim_not_found")
    # A decision needs a reason and one of the two verdicts.
    for bad in ({"decision": "approve", "reason": ""}, {"decision": "maybe", "reason": "x"}, {"decision": "approve"}):
        response = api.client.post(f"/v1/review/claims/{approved['claim_id']}", json=bad, headers=minter)
        assert_error(response, 422, "invalid_request")


def test_review_claim_and_flush_need_the_minter_role(api):
    headers, _ = api.custodial_citizen()
    held = _held_for(api, headers, outing(distance_meters=30_000, steps=20_000), "average speed")
    decision = {"decision": "approve", "reason": "ok"}
    for who in (api.staff("issuer"), api.staff("redeemer"), headers):
        assert api.client.get("/v1/review/claims", headers=who).status_code == 403
        assert api.client.post(f"/v1/review/claims/{held['claim_id']}", json=decision, headers=who).status_code == 403
        assert api.client.post("/v1/awards/flush", headers=who).status_code == 403
    assert api.client.post("/v1/awards/flush").status_code == 401
    # The admin may do everything.
    assert _review(api, held["claim_id"], "approve", "ok", api.staff()).status_code == 200


# ---------------------------------------------------------------- appeal


def _rejected(api, headers, reason: str = "too fast for plogging") -> dict:
    held = _held_for(api, headers, outing(distance_meters=30_000, steps=20_000), "average speed")
    response = _review(api, held["claim_id"], "reject", reason)
    assert response.status_code == 200, response.text
    return response.json()


def _appeal(api, headers, claim_id: int, note: str = "I was running downhill, see the track"):
    return api.client.post(f"/v1/claims/{claim_id}/appeal", json={"note": note}, headers=headers)


def test_appeal_claim_goes_back_to_review_once(api):
    headers, _ = api.custodial_citizen()
    rejected = _rejected(api, headers)

    response = _appeal(api, headers, rejected["claim_id"])
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "held"
    assert body["appealed"] is True
    assert [(r["decision"], r["reason"]) for r in body["reviews"]] == [
        ("reject", "too fast for plogging"),
        ("appeal", "I was running downhill, see the track"),
    ]
    minter = api.staff("minter")
    (listed,) = api.client.get("/v1/review/claims", headers=minter).json()
    assert listed["claim_id"] == rejected["claim_id"]
    assert listed["reviews"][-1]["reason"] == "I was running downhill, see the track"

    assert _review(api, rejected["claim_id"], "reject", "the track shows a bicycle", minter).status_code == 200
    mine = _claim(api, headers, rejected["claim_id"])
    assert (mine["status"], mine["reviewer_reason"], mine["appealed"]) == (
        "rejected",
        "the track shows a bicycle",
        True,
    )
    assert_error(_appeal(api, headers, rejected["claim_id"], "please look again"), 409, "already_appealed")
    assert _claim(api, headers, rejected["claim_id"])["status"] == "rejected"


def test_appeal_claim_approved_after_appeal_is_awarded(api):
    headers, citizen = api.custodial_citizen()
    rejected = _rejected(api, headers)
    assert _appeal(api, headers, rejected["claim_id"]).status_code == 200
    approved = _review(api, rejected["claim_id"], "approve", "the track is a steep downhill run")
    assert approved.status_code == 200, approved.text
    assert approved.json()["reviewer_reason"] == "the track is a steep downhill run"
    assert _flush(api)["awarded"] == 1
    awarded = _claim(api, headers, rejected["claim_id"])
    assert awarded["status"] == "awarded"
    assert _award_of(api, awarded["activity_id"]).citizen == citizen["address"]
    assert api.ledger.balance_of(citizen["address"]) == rejected["points"]


def test_appeal_claim_that_is_not_rejected_is_409(api):
    headers, _ = api.custodial_citizen()
    held = _held_for(api, headers, outing(distance_meters=30_000, steps=20_000), "average speed")
    approved = _submit(api, headers, outing(minutes_ago=400))
    for claim in (held, approved):
        assert_error(_appeal(api, headers, claim["claim_id"]), 409, "claim_not_rejected")
    _flush(api)
    assert_error(_appeal(api, headers, approved["claim_id"]), 409, "claim_not_rejected")
    assert _claim(api, headers, held["claim_id"])["appealed"] is False


def test_appeal_claim_of_another_citizen_or_without_a_note(api):
    headers, _ = api.custodial_citizen()
    other, _ = api.custodial_citizen()
    rejected = _rejected(api, headers)
    assert_error(_appeal(api, other, rejected["claim_id"]), 404, "claim_not_found")
    assert_error(_appeal(api, headers, 424242), 404, "claim_not_found")
    assert_error(_appeal(api, headers, rejected["claim_id"], ""), 422, "invalid_request")
    assert api.client.post(f"/v1/claims/{rejected['claim_id']}/appeal", json={"note": "x"}).status_code == 401
    assert _claim(api, headers, rejected["claim_id"])["status"] == "rejected"


# ---------------------------------------------------------------- who sees what


def test_read_my_claim_citizens_see_only_their_own_claims(api):
    alice, _ = api.custodial_citizen()
    bob, _ = api.custodial_citizen()
    claim = _submit(api, alice)
    assert [c["claim_id"] for c in _claims_of(api, alice)] == [claim["claim_id"]]
    assert _claims_of(api, bob) == []
    assert_error(api.client.get(f"/v1/claims/{claim['claim_id']}", headers=bob), 404, "claim_not_found")
    assert_error(api.client.get("/v1/claims/424242", headers=alice), 404, "claim_not_found")


def test_create_claim_wallet_citizen_is_awarded_to_their_own_address(api):
    headers, account = api.wallet_citizen()
    claim = _submit(api, headers)
    _flush(api)
    assert api.ledger.balance_of(account.address) == claim["points"]
    assert _award_of(api, _claim(api, headers, claim["claim_id"])["activity_id"]).citizen == account.address


# ---------------------------------------------------------------- settlement: repeatable and reconciling


def test_settle_reconciles_an_award_mined_before_the_store_recorded_it(api, monkeypatch):
    """The award transaction was mined but the process stopped before marking the claims
    awarded: the next settlement finds it in the outbox instead of awarding them again."""
    import api.services.settlement as settlement

    headers, citizen = api.custodial_citizen()
    crashed = _submit(api, headers, outing(minutes_ago=400))
    real_mark = settlement._mark_awarded
    calls = []

    def crash_once(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("the process stopped after the transaction was mined")
        return real_mark(*args, **kwargs)

    monkeypatch.setattr(settlement, "_mark_awarded", crash_once)
    assert_error(api.client.post("/v1/awards/flush", headers=api.staff("minter")), 500)
    assert api.ledger.balance_of(citizen["address"]) == crashed["points"]
    assert _claim(api, headers, crashed["claim_id"])["status"] == "sending"
    mined_id = api.ledger.last_activity_id()

    other = _submit(api, headers, outing(minutes_ago=120))
    flushed = _flush(api)
    assert flushed["awarded"] == 1  # only the other claim is sent; the mined one is reconciled
    reconciled = _claim(api, headers, crashed["claim_id"])
    assert reconciled["status"] == "awarded"
    assert reconciled["activity_id"] == mined_id
    award = _award_of(api, mined_id)
    assert (reconciled["tx_hash"], reconciled["block_number"]) == (award.ref.tx_hash, award.ref.block_number)
    assert reconciled["tx_hash"] not in flushed["transactions"]
    assert _claim(api, headers, other["claim_id"])["status"] == "awarded"
    assert api.ledger.balance_of(citizen["address"]) == crashed["points"] + other["points"]
    assert len([r for r in api.ledger.history(citizen["address"]) if isinstance(r, AwardRecorded)]) == 2

    # Repeating the flush changes nothing.
    assert _flush(api) == {"awarded": 0, "transactions": []}
    assert api.ledger.balance_of(citizen["address"]) == crashed["points"] + other["points"]


def test_settle_defers_every_member_over_the_daily_cap_after_one_refusal(make_api, monkeypatch):
    """A season settled at once can put many members over today's cap; the contract's refusal
    names one of them, and every member's overflow is deferred from it (not one member a pass)."""
    import api.services.settlement as settlement

    api = make_api(daily_points_cap=150)
    api.ledger.set_limits(150, 150)
    refusals = []
    handle = settlement._handle_refusal
    monkeypatch.setattr(settlement, "_handle_refusal", lambda *a: (refusals.append(a[2]), handle(*a))[1])
    members = [api.custodial_citizen() for _ in range(3)]
    todays = []
    for headers, _ in members:
        for hour in (8, 10):
            _submit(api, headers, _on(1, hour))  # 75 + 75 yesterday
        todays.append(_submit(api, headers, outing(minutes_ago=60)))  # 75 more, today on-chain

    flushed = _flush(api)
    assert flushed["awarded"] == 6
    assert len(refusals) == 1 and type(refusals[0]).__name__ == "DailyCapExceeded"
    for (headers, member), today in zip(members, todays, strict=True):
        assert api.ledger.balance_of(member["address"]) == 150
        assert _claim(api, headers, today["claim_id"])["status"] == "approved"


def test_settle_defers_claims_over_the_on_chain_daily_cap_to_the_next_city_day(make_api, monkeypatch):
    """The service caps points per outing day; the contract caps what is awarded per city day.
    Outings from two days settled together can pass the first and fail the second: the claim
    over the cap waits for the city's next day (not failed, not blocking anyone else)."""
    import api.services.settlement as settlement

    api = make_api(daily_points_cap=150)
    api.ledger.set_limits(150, 150)
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
    deferred = _claim(api, headers, today["claim_id"])
    assert (deferred["status"], deferred["activity_id"], deferred["tx_hash"]) == ("approved", None, None)
    offset = api.ledger.deployment.day_offset_seconds
    next_day = ((api.ledger.chain_time() + offset) // 86_400 + 1) * 86_400 - offset
    with api.ctx.store.session() as session:
        settle_after = session.get(ActivityClaim, today["claim_id"]).settle_after
    assert settle_after is not None
    assert next_day <= settle_after.timestamp() <= next_day + 60
    assert _flush(api) == {"awarded": 0, "transactions": []}

    # The city's next day comes (on the chain and on the service's clock).
    api.test_chain.advance(next_day - api.ledger.chain_time() + 10)
    monkeypatch.setattr(settlement, "utcnow", lambda: datetime.fromtimestamp(api.ledger.chain_time(), UTC))
    assert _flush(api)["awarded"] == 1
    assert _claim(api, headers, today["claim_id"])["status"] == "awarded"
    assert api.ledger.balance_of(citizen["address"]) == 225


def test_settle_holds_an_award_larger_than_the_contract_allows(api):
    api.ledger.set_limits(50, 3_000)
    headers, citizen = api.custodial_citizen()
    big = _submit(api, headers, outing(minutes_ago=300))  # 75 points
    small = _submit(api, headers, outing(steps=100, litter_grams=100, distance_meters=100))  # 20 points
    assert small["status"] == "approved", small["hold_reasons"]
    flushed = _flush(api)
    assert flushed["awarded"] == 1
    assert api.ledger.balance_of(citizen["address"]) == small["points"]
    big = _claim(api, headers, big["claim_id"])
    assert (big["status"], big["activity_id"]) == ("held", None)
    assert any("the contract refused the award" in reason for reason in big["hold_reasons"]), big["hold_reasons"]
    assert _claim(api, headers, small["claim_id"])["status"] == "awarded"


def test_settle_splits_large_backlogs_into_batches_of_the_configured_size(make_api):
    api = make_api(award_batch_size=2)
    headers, citizen = api.custodial_citizen()
    claims = [_submit(api, headers, outing(minutes_ago=120 * (i + 1))) for i in range(5)]
    flushed = _flush(api)
    assert flushed["awarded"] == 5
    assert len(flushed["transactions"]) == 3
    assert api.ledger.balance_of(citizen["address"]) == sum(c["points"] for c in claims)
    with api.ctx.store.session() as session:
        rows = list(session.scalars(select(ActivityClaim).order_by(ActivityClaim.id)))
    per_tx: dict[str, int] = {}
    for row in rows:
        per_tx[row.tx_hash] = per_tx.get(row.tx_hash, 0) + 1
    assert sorted(per_tx.values()) == [1, 2, 2]
    assert [per_tx[tx] for tx in flushed["transactions"]] == [2, 2, 1]
