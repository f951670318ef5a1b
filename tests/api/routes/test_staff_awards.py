"""Points awarded directly by staff: one transaction each, safe to retry by reference."""

from concurrent.futures import ThreadPoolExecutor

from ledger import AwardRecorded
from tests.helpers import assert_error, outing


def _awards_of(api, address: str) -> list[AwardRecorded]:
    return [r for r in api.ledger.history(address) if isinstance(r, AwardRecorded)]


def test_award_points_is_on_chain_at_once_and_a_retry_returns_it(api):
    _, citizen = api.custodial_citizen()
    body = {"citizen": citizen["citizen_id"], "points": 120, "reference": "volunteer-hours-2026-11-25-1"}
    first = api.client.post("/v1/awards", json=body, headers=api.staff("minter"))
    assert first.status_code == 201, first.text
    assert first.json()["status"] == "awarded" and first.json()["tx_hash"]
    assert first.json()["activity_id"] is not None
    again = api.client.post("/v1/awards", json=body, headers=api.staff("minter"))
    assert again.status_code == 201, again.text
    assert again.json()["claim_id"] == first.json()["claim_id"]
    assert again.json()["activity_id"] == first.json()["activity_id"]
    assert again.json()["tx_hash"] == first.json()["tx_hash"]
    assert api.ledger.balance_of(citizen["address"]) == 120
    (award,) = _awards_of(api, citizen["address"])
    assert (award.activity_id, award.points, award.ref.tx_hash) == (
        first.json()["activity_id"],
        120,
        first.json()["tx_hash"],
    )


def test_award_points_same_reference_for_another_award_is_409(api):
    _, citizen = api.custodial_citizen()
    _, other = api.custodial_citizen()
    minter = api.staff("minter")
    body = {"citizen": citizen["address"], "points": 30, "reference": "festival-volunteers-7"}
    assert api.client.post("/v1/awards", json=body, headers=minter).status_code == 201
    for changed in ({"points": 31}, {"citizen": other["address"]}, {"kind": 1}):
        response = api.client.post("/v1/awards", json=body | changed, headers=minter)
        assert_error(response, 409, "reference_in_use")
    assert api.ledger.balance_of(citizen["address"]) == 30
    assert api.ledger.balance_of(other["address"]) == 0
    assert len(_awards_of(api, citizen["address"])) == 1


def test_award_points_is_a_transaction_of_its_own(api):
    """Approved citizens' claims waiting for settlement do not ride along with a staff award."""
    citizen_headers, citizen = api.custodial_citizen()
    claim = api.client.post("/v1/claims", json=outing(), headers=citizen_headers).json()
    assert claim["status"] == "approved"
    _, volunteer = api.custodial_citizen()
    response = api.client.post(
        "/v1/awards",
        json={"citizen": volunteer["address"], "points": 40, "reference": "own-transaction-1"},
        headers=api.staff("minter"),
    )
    assert response.status_code == 201, response.text
    result = api.ledger.result_of(response.json()["tx_hash"])
    awards = [r for r in result.records if isinstance(r, AwardRecorded)]
    assert [(a.citizen, a.points) for a in awards] == [(volunteer["address"], 40)]
    waiting = api.client.get(f"/v1/claims/{claim['claim_id']}", headers=citizen_headers).json()
    assert (waiting["status"], waiting["activity_id"]) == ("approved", None)
    assert api.ledger.balance_of(citizen["address"]) == 0


def test_award_points_needs_the_minter_role_and_an_enabled_kind(api):
    _, citizen = api.custodial_citizen()
    body = {"citizen": citizen["address"], "points": 10, "reference": "r-1", "kind": 7}
    assert api.client.post("/v1/awards", json=body, headers=api.staff("issuer")).status_code == 403
    assert api.client.post("/v1/awards", json=body).status_code == 401
    refused = api.client.post("/v1/awards", json=body, headers=api.staff("minter"))
    assert_error(refused, 422, "unknown_activity_kind")
    assert api.ledger.balance_of(citizen["address"]) == 0
    enabled = api.client.post(
        "/v1/admin/activity-kinds", json={"kind": 7, "label": "volunteering", "enabled": True}, headers=api.staff()
    )
    assert enabled.status_code == 200, enabled.text
    body["reference"] = "r-2"
    created = api.client.post("/v1/awards", json=body, headers=api.staff("minter"))
    assert created.status_code == 201, created.text
    assert api.ledger.balance_of(citizen["address"]) == 10
    (award,) = _awards_of(api, citizen["address"])
    assert award.kind == 7


def test_award_points_fifty_concurrent_awards_land_once_each_with_contiguous_nonces(api):
    _, citizen = api.custodial_citizen()
    headers = api.staff("minter")
    w3 = api.test_chain.w3
    start_nonce = w3.eth.get_transaction_count(api.ledger.address)

    def award(i: int) -> int:
        body = {"citizen": citizen["address"], "points": 10, "reference": f"concurrent-{i}"}
        return api.client.post("/v1/awards", json=body, headers=headers).status_code

    with ThreadPoolExecutor(max_workers=16) as pool:
        statuses = list(pool.map(award, range(50)))
    assert statuses == [201] * 50
    assert api.ledger.balance_of(citizen["address"]) == 500
    records = _awards_of(api, citizen["address"])
    assert len(records) == len({r.activity_id for r in records}) == 50
    nonces = sorted(w3.eth.get_transaction(r.ref.tx_hash)["nonce"] for r in records)
    assert nonces == list(range(start_nonce, start_nonce + 50))
