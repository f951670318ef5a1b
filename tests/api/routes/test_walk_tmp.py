from datetime import UTC, datetime, timedelta
from tests.helpers import outing, assert_error


def test_walk(api):
    admin = api.staff("admin")
    headers, citizen = api.custodial_citizen(display_name="Lee")
    wheaders, account = api.wallet_citizen()
    now = datetime.now(UTC)
    ev = api.client.post("/v1/events", json={"title": "Green Talk Talk", "venue": "metaverse",
        "claim_start": (now - timedelta(hours=1)).isoformat(), "claim_end": (now + timedelta(days=1)).isoformat()}, headers=admin)
    assert ev.status_code == 201, ev.text
    eid = ev.json()["event_id"]
    code = api.client.post(f"/v1/events/{eid}/claim-codes", headers=admin)
    assert code.status_code == 201, code.text
    claim = api.client.post("/v1/badges/claim", json={"code": code.json()["code"]}, headers=headers)
    assert claim.status_code == 201, claim.text
    again = api.client.post("/v1/badges/claim", json={"code": code.json()["code"]}, headers=headers)
    assert_error(again, 409, "already_has_badge")
    issued = api.client.post(f"/v1/events/{eid}/badges", json={"attendees": [citizen["address"], account.address]}, headers=admin)
    assert issued.status_code == 200, issued.text
    assert issued.json()["issued"] == 1 and issued.json()["skipped"]["already_held"] == [citizen["address"]]
    awarded = api.award(headers)
    api.award(headers, minutes_ago=300)
    red = api.client.post("/v1/redemptions", json={"reward_id": api.client.post("/v1/rewards", json={"title": "t", "cost": 10}, headers=admin).json()["reward_id"]}, headers=headers)
    assert red.status_code == 201, red.text
    rev = api.client.post(f"/v1/activities/{awarded['activity_id']}/reverse", json={"reason_code": 3}, headers=admin)
    assert rev.status_code == 200, rev.text
    v = api.client.get(f"/v1/verify/citizens/{citizen['address']}").json()
    assert v["verified"], v
    assert [r["action"] for r in v["records"]] == ["badge_issued", "award", "award", "redemption", "reversal"], v["records"]
    p = api.client.post("/v1/admin/pause", headers=admin)
    assert p.status_code == 200, p.text
    assert_error(api.client.post("/v1/admin/pause", headers=admin), 409, "already_paused")
    assert api.client.get("/v1/health").json()["paused"] is True
    revoke = api.client.post(f"/v1/events/{eid}/badges/{account.address}/revoke", json={"reason_code": 2}, headers=admin)
    assert revoke.status_code == 200, revoke.text
