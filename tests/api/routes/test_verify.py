"""Public verification: no account needed, every record that changed a citizen's points or
badges is listed and adds up, every check is named, and every reference checks out against the
chain itself."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from eth_account import Account

from tests.helpers import assert_error, outing

STEPS = ["record_found", "emitted_by_contract", "block_canonical", "confirmations", "not_undone", "sender_authorised"]
REF_FIELDS = {"chain_id", "contract", "tx_hash", "block_number", "block_hash", "log_index", "finality", "explorer_url"}


def _check_ref(api, ref: dict, contract: str) -> dict:
    """The log ``ref`` names exists: in that transaction, at that block and index, from ``contract``."""
    assert set(ref) == REF_FIELDS
    # The test chain has one honest node and the service counts no confirmations: final at once.
    assert ref["finality"] == "final"
    assert ref["chain_id"] == api.ledger.deployment.chain_id
    assert ref["contract"] == contract
    receipt = api.test_chain.w3.eth.get_transaction_receipt(ref["tx_hash"])
    assert receipt["status"] == 1
    assert receipt["blockNumber"] == ref["block_number"]
    assert receipt["blockHash"].to_0x_hex() == ref["block_hash"]
    (log,) = [log for log in receipt["logs"] if log["logIndex"] == ref["log_index"]]
    assert log["address"] == contract
    return log


def _topic_int(log: dict, index: int) -> int:
    return int.from_bytes(bytes(log["topics"][index]), "big")


def _steps(checks: list[dict]) -> dict[str, str]:
    assert [c["name"] for c in checks] == STEPS
    assert all(c["detail"] for c in checks)
    return {c["name"]: c["outcome"] for c in checks}


def _statement(api, address: str) -> dict:
    response = api.client.get(f"/v1/verify/citizens/{address}")
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture
def history(api):
    """A citizen with two awards (one reversed), a redemption and two badges (one revoked)."""
    headers, citizen = api.custodial_citizen()
    claims = []
    for minutes_ago in (120, 300):
        response = api.client.post("/v1/claims", json=outing(minutes_ago=minutes_ago), headers=headers)
        assert response.status_code == 201
        claims.append(response.json())
    assert api.settle()["awarded"] == 2
    claims = [api.client.get(f"/v1/claims/{c['claim_id']}", headers=headers).json() for c in claims]
    reward = api.client.post("/v1/rewards", json={"title": "Tote bag", "cost": 20}, headers=api.staff()).json()
    assert (
        api.client.post("/v1/redemptions", json={"reward_id": reward["reward_id"]}, headers=headers).status_code == 201
    )
    reversal = api.client.post(
        f"/v1/activities/{claims[1]['activity_id']}/reverse", json={"reason_code": 9}, headers=api.staff()
    )
    assert reversal.status_code == 200, reversal.text
    now = datetime.now(UTC)
    events = []
    for title in ("Clean-up", "Festival"):
        response = api.client.post(
            "/v1/events",
            json={
                "title": title,
                "venue": "physical",
                "claim_start": (now - timedelta(minutes=1)).isoformat(),
                "claim_end": (now + timedelta(hours=1)).isoformat(),
            },
            headers=api.staff("issuer"),
        )
        assert response.status_code == 201, response.text
        events.append(response.json()["event_id"])
    issuer = api.staff("issuer")
    assert (
        api.client.post(f"/v1/events/{events[0]}/badges", json={"attendees": [citizen["address"]]}, headers=issuer)
    ).status_code == 200
    code = api.client.post(f"/v1/events/{events[1]}/claim-codes", headers=issuer).json()["code"]
    assert api.client.post("/v1/badges/claim", json={"code": code}, headers=headers).status_code == 201
    assert (
        api.client.post(
            f"/v1/events/{events[0]}/badges/{citizen['address']}/revoke", json={"reason_code": 2}, headers=issuer
        ).status_code
        == 200
    )
    return {"citizen": citizen, "claims": claims, "events": events, "reward": reward, "reversal": reversal.json()}


def test_verify_citizen_statement_lists_every_record_and_adds_up(api, history):
    citizen, (kept, reversed_) = history["citizen"], history["claims"]
    revoked_event, held_event = history["events"]
    body = _statement(api, citizen["address"])
    records = [
        (r["action"], r["points_delta"], r["activity_id"], r["event_id"], r["reward_id"], r["reason_code"])
        for r in body["records"]
    ]
    awards = sorted([kept["activity_id"], reversed_["activity_id"]])
    assert records == [
        ("award", 75, awards[0], None, None, None),
        ("award", 75, awards[1], None, None, None),
        ("redemption", -20, None, None, history["reward"]["reward_id"], None),
        ("reversal", -75, reversed_["activity_id"], None, None, 9),
        ("badge_issued", 0, None, revoked_event, None, None),
        ("badge_issued", 0, None, held_event, None, None),
        ("badge_revoked", 0, None, revoked_event, None, 2),
    ]
    assert all(r["address"] == citizen["address"] for r in body["records"])
    assert sum(r["points_delta"] for r in body["records"]) == body["rebuilt_balance"]
    assert body["rebuilt_balance"] == body["balance"] == api.ledger.balance_of(citizen["address"]) == 55
    assert body["consistent"] is True
    assert body["verified"] is True
    assert {c["name"]: c["outcome"] for c in body["checks"]} == {
        "records_found": "passed",
        "balance_matches_contract": "passed",
        "badges_match_contract": "passed",
    }
    assert body["as_of_block"] >= max(r["ref"]["block_number"] for r in body["records"])
    for record in body["records"]:
        contract = api.ledger.deployment.badges_address if record["event_id"] else api.ledger.deployment.points_address
        _check_ref(api, record["ref"], contract)


def test_verify_citizen_matches_the_chain(api, history):
    citizen = history["citizen"]
    body = _statement(api, citizen["address"])
    deployment = api.ledger.deployment
    assert body["address"] == citizen["address"]
    assert body["addresses"] == [citizen["address"]]
    assert body["chain_id"] == deployment.chain_id
    assert body["points_contract"] == deployment.points_address
    assert body["badges_contract"] == deployment.badges_address
    assert body["balance"] == api.ledger.balance_of(citizen["address"]) == 75 + 75 - 20 - 75
    assert body["rebuilt_balance"] == body["balance"]
    assert body["consistent"] is True

    activities = {a["activity_id"]: a for a in body["activities"]}
    assert set(activities) == {c["activity_id"] for c in history["claims"]}
    for claim in history["claims"]:
        activity = activities[claim["activity_id"]]
        assert activity["citizen"] == citizen["address"]
        assert activity["points"] == claim["points"]
        assert (activity["distance_meters"], activity["duration_seconds"]) == (5_000, 3_600)
        assert (activity["litter_grams"], activity["steps"]) == (150, 6_500)
        log = _check_ref(api, activity["ref"], deployment.points_address)
        data = bytes(log["data"])  # ActivityRecorded(uint256 activity, bytes32 evidenceHash)
        assert int.from_bytes(data[:32], "big") >> 192 == claim["activity_id"]
        assert "0x" + data[32:64].hex() == activity["evidence_commitment"]
        assert len(activity["evidence_commitment"]) == 66
    kept, reversed_ = (activities[c["activity_id"]] for c in history["claims"])
    assert kept["reversed"] is False and kept["reversal_ref"] is None
    assert (reversed_["reversed"], reversed_["reversal_reason_code"]) == (True, 9)
    log = _check_ref(api, reversed_["reversal_ref"], deployment.points_address)
    assert _topic_int(log, 1) == history["claims"][1]["activity_id"]  # AwardReversed(activityId indexed, ...)
    assert reversed_["reversal_ref"]["tx_hash"] == history["reversal"]["tx_hash"]

    (badge,) = body["badges"]  # the revoked one is gone
    assert badge["event_id"] == history["events"][1]
    assert badge["attendee"] == citizen["address"]
    log = _check_ref(api, badge["ref"], deployment.badges_address)
    assert "0x" + bytes(log["topics"][3])[-20:].hex() == citizen["address"].lower()  # TransferSingle(.., to, ..)


def test_verify_citizen_needs_no_account_and_ignores_credentials(api, history):
    address = history["citizen"]["address"]
    anonymous = api.client.get(f"/v1/verify/citizens/{address}")
    with_junk = api.client.get(f"/v1/verify/citizens/{address}", headers={"Authorization": "Bearer nonsense"})
    assert anonymous.status_code == with_junk.status_code == 200
    assert anonymous.json() == with_junk.json()


def test_verify_citizen_address_in_any_case_is_accepted_and_checksummed(api, history):
    address = history["citizen"]["address"]
    lower = _statement(api, address.lower())
    assert lower["address"] == address
    assert lower["balance"] == api.ledger.balance_of(address)


def test_verify_citizen_unknown_verifies_as_empty_and_consistent(api):
    body = _statement(api, Account.create().address)
    assert (body["balance"], body["rebuilt_balance"], body["consistent"], body["verified"]) == (0, 0, True, True)
    assert body["activities"] == body["badges"] == body["records"] == []


@pytest.mark.parametrize("address", ["0x1234", "not-an-address", "0x" + "zz" * 20, "0x" + "ab" * 21])
def test_verify_malformed_address_is_422(api, address):
    for url in (f"/v1/verify/citizens/{address}", f"/v1/verify/events/1/badges/{address}"):
        assert_error(api.client.get(url), 422, "invalid_address")


def test_verify_activity_lists_its_checks(api, history):
    claim = history["claims"][0]
    response = api.client.get(f"/v1/verify/activities/{claim['activity_id']}")
    assert response.status_code == 200
    body = response.json()
    assert body["activity_id"] == claim["activity_id"]
    assert body["points"] == claim["points"]
    assert body["citizen"] == history["citizen"]["address"]
    assert body["reversed"] is False
    assert body["verified"] is True
    assert set(_steps(body["checks"]).values()) == {"passed"}
    _check_ref(api, body["ref"], api.ledger.deployment.points_address)
    listed = {a["activity_id"]: a for a in _statement(api, history["citizen"]["address"])["activities"]}
    assert body["ref"]["tx_hash"] == listed[claim["activity_id"]]["ref"]["tx_hash"] == claim["tx_hash"]


def test_verify_activity_reversed_fails_not_undone(api, history):
    reversed_ = api.client.get(f"/v1/verify/activities/{history['claims'][1]['activity_id']}").json()
    assert (reversed_["reversed"], reversed_["reversal_reason_code"]) == (True, 9)
    _check_ref(api, reversed_["reversal_ref"], api.ledger.deployment.points_address)
    steps = _steps(reversed_["checks"])
    assert steps.pop("not_undone") == "failed"
    assert set(steps.values()) == {"passed"}
    assert reversed_["verified"] is False


def test_verify_activity_unknown_or_unawarded_is_404(api):
    headers, _ = api.custodial_citizen()
    pending = api.client.post("/v1/claims", json=outing(), headers=headers).json()  # approved, not yet awarded
    assert pending["activity_id"] is None
    next_id = api.ledger.last_activity_id() + 1  # the id the next settlement would give
    for activity_id in (next_id, 424242, 0):
        assert_error(api.client.get(f"/v1/verify/activities/{activity_id}"), 404, "activity_not_found")
    assert_error(api.client.get("/v1/verify/activities/-1"), 422, "invalid_request")
    assert_error(api.client.get("/v1/verify/activities/abc"), 422, "invalid_request")
    assert_error(api.client.get(f"/v1/verify/activities/{2**256}"), 422, "invalid_input")


def test_verify_badge_held_and_revoked(api, history):
    address = history["citizen"]["address"]
    revoked, held = history["events"]
    response = api.client.get(f"/v1/verify/events/{held}/badges/{address.lower()}")
    assert response.status_code == 200
    body = response.json()
    assert body["event_id"] == held
    assert body["attendee"] == address
    assert body["holds_badge"] is True
    assert body["verified"] is True
    assert set(_steps(body["checks"]).values()) == {"passed"}
    log = _check_ref(api, body["ref"], api.ledger.deployment.badges_address)
    assert "0x" + bytes(log["topics"][3])[-20:].hex() == address.lower()

    gone = api.client.get(f"/v1/verify/events/{revoked}/badges/{address}").json()
    assert (gone["holds_badge"], gone["verified"]) == (False, False)
    _check_ref(api, gone["ref"], api.ledger.deployment.badges_address)  # the issuance, since revoked
    steps = _steps(gone["checks"])
    assert steps.pop("not_undone") == "failed"
    assert set(steps.values()) == {"passed"}


def test_verify_badge_never_issued(api, history):
    address = history["citizen"]["address"]
    held = history["events"][1]
    for event_id, attendee in ((held, Account.create().address), (999, address)):
        body = api.client.get(f"/v1/verify/events/{event_id}/badges/{attendee}").json()
        assert (body["holds_badge"], body["ref"], body["verified"], body["checks"]) == (False, None, False, [])


def test_verify_badge_of_an_impossible_event_id_is_422(api):
    address = Account.create().address
    assert_error(api.client.get(f"/v1/verify/events/-1/badges/{address}"), 422, "invalid_request")
    assert_error(api.client.get(f"/v1/verify/events/{2**256}/badges/{address}"), 422, "invalid_input")


def test_verify_record_is_confirmed_until_enough_blocks_follow_it(api):
    _, citizen = api.custodial_citizen()
    body = {"citizen": citizen["address"], "points": 5, "reference": "finality-1"}
    awarded = api.client.post("/v1/awards", json=body, headers=api.staff("minter"))
    assert awarded.status_code == 201, awarded.text
    api.ledger.confirmations = 2
    ref = _statement(api, citizen["address"])["activities"][0]["ref"]
    assert ref["finality"] == "confirmed"
    steps = _steps(api.client.get(f"/v1/verify/activities/{awarded.json()['activity_id']}").json()["checks"])
    assert steps["confirmations"] == "unknown"
    for _ in range(2):
        api.test_chain.chain.mine()
    # Blocks another process mined are seen within the indexer's head cache (a quarter second).
    time.sleep(0.3)
    ref = _statement(api, citizen["address"])["activities"][0]["ref"]
    assert ref["finality"] == "final"
    steps = _steps(api.client.get(f"/v1/verify/activities/{awarded.json()['activity_id']}").json()["checks"])
    assert steps["confirmations"] == "passed"
