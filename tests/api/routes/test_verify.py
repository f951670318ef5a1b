"""Public verification: no account needed, and every reference checks out against the chain itself."""

from __future__ import annotations

import pytest
from eth_account import Account

from tests.api.conftest import outing


def _code(response) -> str:
    return response.json()["error"]["code"]


def _check_ref(api, ref: dict, contract: str) -> dict:
    """The log ``ref`` names exists: in that transaction, at that block and index, from ``contract``."""
    assert set(ref) == {"chain_id", "contract", "tx_hash", "block_number", "log_index", "finality"}
    # The embedded chain has one honest node: a mined record is final at once (confirmations 0).
    assert ref["finality"] == "final"
    assert ref["chain_id"] == api.ledger.deployment.chain_id
    assert ref["contract"] == contract
    receipt = api.ledger.w3.eth.get_transaction_receipt(ref["tx_hash"])
    assert receipt["status"] == 1
    assert receipt["blockNumber"] == ref["block_number"]
    (log,) = [log for log in receipt["logs"] if log["logIndex"] == ref["log_index"]]
    assert log["address"] == contract
    assert log["blockNumber"] == ref["block_number"]
    return log


def _topic_int(log: dict, index: int) -> int:
    return int.from_bytes(bytes(log["topics"][index]), "big")


@pytest.fixture
def history(api):
    """A citizen with two awards (one reversed), a redemption and two badges (one revoked)."""
    headers, citizen = api.custodial_citizen()
    claims = []
    for minutes_ago in (120, 300):
        response = api.client.post("/v1/claims", json=outing(minutes_ago=minutes_ago), headers=headers)
        assert response.status_code == 201
        claims.append(response.json())
    assert api.client.post("/v1/awards/flush", headers=api.staff("minter")).json()["awarded"] == 2
    reward = api.client.post("/v1/rewards", json={"title": "Tote bag", "cost": 20}, headers=api.staff()).json()
    assert (
        api.client.post("/v1/redemptions", json={"reward_id": reward["reward_id"]}, headers=headers).status_code == 201
    )
    assert (
        api.client.post(
            f"/v1/activities/{claims[1]['activity_id']}/reverse", json={"reason_code": 9}, headers=api.staff()
        ).status_code
        == 200
    )
    now = api.ledger.chain_time()
    events = []
    for title in ("Clean-up", "Festival"):
        response = api.client.post(
            "/v1/events",
            json={"title": title, "venue": "physical", "claim_start": now - 60, "claim_end": now + 3_600, "uri": "u"},
            headers=api.staff("issuer"),
        )
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
    return {"citizen": citizen, "claims": claims, "events": events, "reward": reward}


def test_citizen_verification_matches_the_chain(api, history):
    citizen = history["citizen"]
    response = api.client.get(f"/v1/verify/citizens/{citizen['address']}")
    assert response.status_code == 200, response.text
    body = response.json()
    deployment = api.ledger.deployment
    assert body["address"] == citizen["address"]
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
        assert _topic_int(log, 1) == claim["activity_id"]  # ActivityRecorded(activityId indexed, ...)
        assert "0x" + bytes(log["data"]).hex()[-64:] == activity["evidence_commitment"]
        assert len(activity["evidence_commitment"]) == 66
    kept, reversed_ = (activities[c["activity_id"]] for c in history["claims"])
    assert kept["reversed"] is False and kept["reversal_ref"] is None
    assert reversed_["reversed"] is True
    log = _check_ref(api, reversed_["reversal_ref"], deployment.points_address)
    assert _topic_int(log, 1) == history["claims"][1]["activity_id"]

    (badge,) = body["badges"]  # the revoked one is gone
    assert badge["event_id"] == history["events"][1]
    assert badge["attendee"] == citizen["address"]
    log = _check_ref(api, badge["ref"], deployment.badges_address)
    assert "0x" + bytes(log["topics"][3])[-20:].hex() == citizen["address"].lower()  # TransferSingle(.., to, ..)


def test_verification_needs_no_account_and_ignores_credentials(api, history):
    address = history["citizen"]["address"]
    anonymous = api.client.get(f"/v1/verify/citizens/{address}")
    with_junk = api.client.get(f"/v1/verify/citizens/{address}", headers={"Authorization": "Bearer nonsense"})
    assert anonymous.status_code == with_junk.status_code == 200
    assert anonymous.json() == with_junk.json()


def test_addresses_in_any_case_are_accepted_and_checksummed(api, history):
    address = history["citizen"]["address"]
    lower = api.client.get(f"/v1/verify/citizens/{address.lower()}").json()
    assert lower["address"] == address
    assert lower["balance"] == api.ledger.balance_of(address)


def test_unknown_citizen_verifies_as_empty_and_consistent(api):
    address = Account.create().address
    body = api.client.get(f"/v1/verify/citizens/{address}").json()
    assert (body["balance"], body["rebuilt_balance"], body["consistent"]) == (0, 0, True)
    assert body["activities"] == body["badges"] == []


@pytest.mark.parametrize("address", ["0x1234", "not-an-address", "0x" + "zz" * 20, "0x" + "ab" * 21])
def test_malformed_address_is_422(api, address):
    for url in (f"/v1/verify/citizens/{address}", f"/v1/verify/events/1/badges/{address}"):
        response = api.client.get(url)
        assert (response.status_code, _code(response)) == (422, "invalid_input"), url


def test_activity_verification(api, history):
    claim = history["claims"][0]
    response = api.client.get(f"/v1/verify/activities/{claim['activity_id']}")
    assert response.status_code == 200
    body = response.json()
    assert body["activity_id"] == claim["activity_id"]
    assert body["points"] == claim["points"]
    assert body["citizen"] == history["citizen"]["address"]
    assert body["reversed"] is False
    _check_ref(api, body["ref"], api.ledger.deployment.points_address)
    assert (
        body["ref"]["tx_hash"]
        == api.client.get(f"/v1/verify/citizens/{history['citizen']['address']}").json()["activities"][0]["ref"][
            "tx_hash"
        ]
    )
    reversed_ = api.client.get(f"/v1/verify/activities/{history['claims'][1]['activity_id']}").json()
    assert reversed_["reversed"] is True
    _check_ref(api, reversed_["reversal_ref"], api.ledger.deployment.points_address)


def test_unknown_or_unawarded_activity_is_404(api):
    headers, _ = api.custodial_citizen()
    pending = api.client.post("/v1/claims", json=outing(), headers=headers).json()  # approved, not yet awarded
    for activity_id in (pending["activity_id"], 424242, 0):
        response = api.client.get(f"/v1/verify/activities/{activity_id}")
        assert (response.status_code, _code(response)) == (404, "activity_not_found")
    for activity_id in (-1, 2**256):
        response = api.client.get(f"/v1/verify/activities/{activity_id}")
        assert (response.status_code, _code(response)) == (422, "invalid_input")
    response = api.client.get("/v1/verify/activities/abc")
    assert (response.status_code, _code(response)) == (422, "invalid_request")


def test_badge_verification(api, history):
    address = history["citizen"]["address"]
    revoked, held = history["events"]
    response = api.client.get(f"/v1/verify/events/{held}/badges/{address.lower()}")
    assert response.status_code == 200
    body = response.json()
    assert body["event_id"] == held
    assert body["attendee"] == address
    assert body["holds_badge"] is True
    log = _check_ref(api, body["ref"], api.ledger.deployment.badges_address)
    assert "0x" + bytes(log["topics"][3])[-20:].hex() == address.lower()

    gone = api.client.get(f"/v1/verify/events/{revoked}/badges/{address}").json()
    assert (gone["holds_badge"], gone["ref"]) == (False, None)
    stranger = api.client.get(f"/v1/verify/events/{held}/badges/{Account.create().address}").json()
    assert (stranger["holds_badge"], stranger["ref"]) == (False, None)
    unknown_event = api.client.get(f"/v1/verify/events/999/badges/{address}").json()
    assert (unknown_event["holds_badge"], unknown_event["ref"]) == (False, None)


@pytest.mark.parametrize("event_id", [-1, 2**256])
def test_badge_verification_of_an_impossible_event_id_is_422(api, event_id):
    response = api.client.get(f"/v1/verify/events/{event_id}/badges/{Account.create().address}")
    assert (response.status_code, _code(response)) == (422, "invalid_input")


def test_a_record_is_confirmed_until_enough_blocks_follow_it(api):
    _, citizen = api.custodial_citizen()
    body = {"citizen": citizen["address"], "points": 5, "reference": "finality-1"}
    assert api.client.post("/v1/awards", json=body, headers=api.staff("minter")).status_code == 201
    api.ledger.confirmations = 2
    ref = api.client.get(f"/v1/verify/citizens/{citizen['address']}").json()["activities"][0]["ref"]
    assert ref["finality"] == "confirmed"
    for _ in range(2):
        api.ledger.w3.provider.ethereum_tester.mine_blocks()
    ref = api.client.get(f"/v1/verify/citizens/{citizen['address']}").json()["activities"][0]["ref"]
    assert ref["finality"] == "final"
