from tests.helpers import outing


def test_citizen_claim_is_approved_awarded_and_verifiable(api):
    headers, citizen = api.custodial_citizen(display_name="Kim Plogger", phone="010-1234-5678")
    claim = api.client.post("/v1/claims", json=outing(), headers=headers)
    assert claim.status_code == 201, claim.text
    assert claim.json()["status"] == "approved"
    flushed = api.settle()
    assert flushed["awarded"] == 1
    verified = api.client.get(f"/v1/verify/citizens/{citizen['address']}").json()
    assert verified["balance"] == claim.json()["points"] == verified["rebuilt_balance"]
    assert verified["verified"] is True
    assert verified["activities"][0]["ref"]["tx_hash"] == flushed["transactions"][0]
