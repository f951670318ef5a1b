"""Points awarded directly by staff: one transaction each, safe to retry by reference."""

from concurrent.futures import ThreadPoolExecutor


def test_staff_award_is_on_chain_at_once_and_a_retry_returns_it(api):
    _, citizen = api.custodial_citizen()
    body = {"citizen": citizen["citizen_id"], "points": 120, "reference": "volunteer-hours-2026-11-25-1"}
    first = api.client.post("/v1/awards", json=body, headers=api.staff("minter"))
    assert first.status_code == 201, first.text
    assert first.json()["status"] == "awarded" and first.json()["tx_hash"]
    again = api.client.post("/v1/awards", json=body, headers=api.staff("minter"))
    assert again.json()["activity_id"] == first.json()["activity_id"]
    assert api.ledger.balance_of(citizen["address"]) == 120


def test_staff_award_needs_the_minter_role_and_an_enabled_kind(api):
    _, citizen = api.custodial_citizen()
    body = {"citizen": citizen["address"], "points": 10, "reference": "r-1", "kind": 7}
    assert api.client.post("/v1/awards", json=body, headers=api.staff("issuer")).status_code == 403
    refused = api.client.post("/v1/awards", json=body, headers=api.staff("minter"))
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "unknown_activity_kind"
    enabled = api.client.post(
        "/v1/admin/activity-kinds", json={"kind": 7, "label": "volunteering", "enabled": True}, headers=api.staff()
    )
    assert enabled.status_code == 200
    body["reference"] = "r-2"
    assert api.client.post("/v1/awards", json=body, headers=api.staff("minter")).status_code == 201
    assert api.ledger.balance_of(citizen["address"]) == 10


def test_fifty_concurrent_awards_with_one_key_land_once_each_with_contiguous_nonces(api):
    _, citizen = api.custodial_citizen()
    headers = api.staff("minter")
    start_nonce = api.ledger.w3.eth.get_transaction_count(api.ledger.tx.address)

    def award(i: int) -> int:
        body = {"citizen": citizen["address"], "points": 10, "reference": f"concurrent-{i}"}
        return api.client.post("/v1/awards", json=body, headers=headers).status_code

    with ThreadPoolExecutor(max_workers=16) as pool:
        statuses = list(pool.map(award, range(50)))
    assert statuses == [201] * 50
    assert api.ledger.balance_of(citizen["address"]) == 500
    records = api.ledger.activities_of(citizen["address"])
    assert len(records) == len({r.activity_id for r in records}) == 50
    nonces = sorted(api.ledger.w3.eth.get_transaction(r.ref.tx_hash)["nonce"] for r in records)
    assert nonces == list(range(start_nonce, start_nonce + 50))
