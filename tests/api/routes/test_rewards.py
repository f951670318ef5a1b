"""Rewards, redemption with consent, reversals and pausing, end to end through the chain."""

from __future__ import annotations

from eth_account import Account
from eth_account.messages import encode_typed_data

from tests.api.conftest import outing


def _code(response) -> str:
    return response.json()["error"]["code"]


def _reward(api, cost: int, title: str = "Bus pass") -> dict:
    response = api.client.post("/v1/rewards", json={"title": title, "cost": cost}, headers=api.staff("admin"))
    assert response.status_code == 201, response.text
    return response.json()


def _earn(api, headers, *claims: dict) -> list[dict]:
    """Submits plausible claims (75 points each by default) and flushes them on-chain."""
    submitted = []
    for index, body in enumerate(claims or (outing(),)):
        response = api.client.post("/v1/claims", json=body or outing(minutes_ago=120 * (index + 1)), headers=headers)
        assert response.status_code == 201, response.text
        assert response.json()["status"] == "approved"
        submitted.append(response.json())
    flushed = api.client.post("/v1/awards/flush", headers=api.staff("minter"))
    assert flushed.status_code == 200, flushed.text
    return submitted


def _consent(api, headers, reward_id: int) -> dict:
    response = api.client.get("/v1/redemptions/consent", params={"reward_id": reward_id}, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def _sign(account, typed: dict) -> str:
    return account.sign_message(encode_typed_data(full_message=typed)).signature.to_0x_hex()


# ---------------------------------------------------------------- catalogue


def test_admin_creates_rewards_that_anyone_can_list(api):
    reward = _reward(api, 50, "Tree seedling")
    assert reward["cost"] == 50
    assert reward["title"] == "Tree seedling"
    assert api.client.get("/v1/rewards").json() == [reward]
    for headers in (api.staff("minter"), api.staff("redeemer"), api.custodial_citizen()[0]):
        response = api.client.post("/v1/rewards", json={"title": "x", "cost": 1}, headers=headers)
        assert response.status_code == 403
    for bad in ({"title": "x", "cost": 0}, {"title": "", "cost": 5}, {"title": "x"}):
        response = api.client.post("/v1/rewards", json=bad, headers=api.staff())
        assert (response.status_code, _code(response)) == (422, "invalid_request")


# ---------------------------------------------------------------- custodial citizens


def test_custodial_citizen_redeems_and_the_balance_goes_down(api):
    headers, citizen = api.custodial_citizen()
    _earn(api, headers)
    assert api.ledger.balance_of(citizen["address"]) == 75
    reward = _reward(api, 50)

    response = api.client.post("/v1/redemptions", json={"reward_id": reward["reward_id"]}, headers=headers)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body == {"reward_id": reward["reward_id"], "points": 50, "tx_hash": body["tx_hash"], "balance": 25}
    assert api.ledger.balance_of(citizen["address"]) == 25
    (redemption,) = api.ledger.redemptions_of(citizen["address"])
    assert (redemption.reward_id, redemption.points) == (reward["reward_id"], 50)
    assert redemption.ref.tx_hash == body["tx_hash"]
    assert redemption.relayer == api.ledger.tx.address  # the city relays and pays the gas
    assert api.ledger.w3.eth.get_balance(citizen["address"]) == 0
    assert api.ledger.consent_nonce(citizen["address"]) == 1


def test_insufficient_points_is_409_with_no_chain_write(api):
    headers, citizen = api.custodial_citizen()
    _earn(api, headers)
    reward = _reward(api, 76)
    block = api.ledger.w3.eth.block_number

    response = api.client.post("/v1/redemptions", json={"reward_id": reward["reward_id"]}, headers=headers)
    assert (response.status_code, _code(response)) == (409, "insufficient_points")
    assert api.ledger.w3.eth.block_number == block
    assert api.ledger.balance_of(citizen["address"]) == 75
    assert api.ledger.redemptions_of(citizen["address"]) == []

    # A citizen with no points at all, custodial or with a wallet, likewise.
    for other_headers in (api.custodial_citizen()[0], api.wallet_citizen()[0]):
        response = api.client.post("/v1/redemptions", json={"reward_id": reward["reward_id"]}, headers=other_headers)
        assert (response.status_code, _code(response)) == (409, "insufficient_points")
    assert api.ledger.w3.eth.block_number == block


def test_unknown_reward(api):
    headers, _ = api.custodial_citizen()
    response = api.client.post("/v1/redemptions", json={"reward_id": 999}, headers=headers)
    assert (response.status_code, _code(response)) == (404, "reward_not_found")
    response = api.client.get("/v1/redemptions/consent", params={"reward_id": 999}, headers=headers)
    assert (response.status_code, _code(response)) == (404, "reward_not_found")
    response = api.client.post("/v1/redemptions", json={"reward_id": 0}, headers=headers)
    assert (response.status_code, _code(response)) == (422, "invalid_request")


def test_redemption_needs_a_citizen(api):
    reward = _reward(api, 5)
    assert api.client.post("/v1/redemptions", json={"reward_id": reward["reward_id"]}).status_code == 401
    response = api.client.post(
        "/v1/redemptions", json={"reward_id": reward["reward_id"]}, headers=api.staff("redeemer")
    )
    assert response.status_code == 403


def test_custodial_citizen_after_key_export_must_sign_like_a_wallet(api):
    headers, citizen = api.custodial_citizen()
    _earn(api, headers)
    reward = _reward(api, 30)
    exported = api.client.post("/v1/citizens/me/key-export", headers=headers)
    assert exported.status_code == 200, exported.text
    account = Account.from_key(exported.json()["private_key"])

    response = api.client.post("/v1/redemptions", json={"reward_id": reward["reward_id"]}, headers=headers)
    assert (response.status_code, _code(response)) == (422, "consent_required")
    consent = _consent(api, headers, reward["reward_id"])
    response = api.client.post(
        "/v1/redemptions",
        json={
            "reward_id": reward["reward_id"],
            "deadline": consent["deadline"],
            "signature": _sign(account, consent["typed_data"]),
        },
        headers=headers,
    )
    assert response.status_code == 201, response.text
    assert api.ledger.balance_of(citizen["address"]) == 45


# ---------------------------------------------------------------- wallet citizens


def test_wallet_citizen_redeems_with_a_signed_consent(api):
    headers, account = api.wallet_citizen()
    _earn(api, headers)
    reward = _reward(api, 20)

    consent = _consent(api, headers, reward["reward_id"])
    typed = consent["typed_data"]
    assert typed["primaryType"] == "Redemption"
    assert typed["message"]["citizen"] == account.address
    assert typed["message"]["points"] == 20
    assert typed["message"]["rewardId"] == reward["reward_id"]
    assert typed["message"]["deadline"] == consent["deadline"]
    assert typed["domain"]["verifyingContract"] == api.ledger.deployment.points_address
    assert typed["domain"]["chainId"] == api.ledger.deployment.chain_id

    response = api.client.post(
        "/v1/redemptions",
        json={"reward_id": reward["reward_id"], "deadline": consent["deadline"], "signature": _sign(account, typed)},
        headers=headers,
    )
    assert response.status_code == 201, response.text
    assert response.json()["balance"] == 55
    assert api.ledger.balance_of(account.address) == 55
    (redemption,) = api.ledger.redemptions_of(account.address)
    assert redemption.ref.tx_hash == response.json()["tx_hash"]
    assert api.ledger.w3.eth.get_balance(account.address) == 0

    # The consent is spent: the same signature again is refused (its nonce moved on).
    again = api.client.post(
        "/v1/redemptions",
        json={"reward_id": reward["reward_id"], "deadline": consent["deadline"], "signature": _sign(account, typed)},
        headers=headers,
    )
    assert (again.status_code, _code(again)) == (422, "invalid_consent_signature")
    assert api.ledger.balance_of(account.address) == 55


def test_wallet_citizen_without_signature_is_422(api):
    headers, account = api.wallet_citizen()
    _earn(api, headers)
    reward = _reward(api, 40)
    block = api.ledger.w3.eth.block_number
    response = api.client.post("/v1/redemptions", json={"reward_id": reward["reward_id"]}, headers=headers)
    assert (response.status_code, _code(response)) == (422, "consent_required")
    consent = _consent(api, headers, reward["reward_id"])
    response = api.client.post(
        "/v1/redemptions",
        json={"reward_id": reward["reward_id"], "signature": _sign(account, consent["typed_data"])},
        headers=headers,
    )
    assert (response.status_code, _code(response)) == (422, "invalid_request")
    assert api.ledger.w3.eth.block_number == block
    assert api.ledger.balance_of(account.address) == 75


def test_tampered_consent_signatures_are_refused(api):
    headers, account = api.wallet_citizen()
    _earn(api, headers)
    reward = _reward(api, 40)
    consent = _consent(api, headers, reward["reward_id"])
    typed = consent["typed_data"]
    good = _sign(account, typed)
    flipped_r = good[:10] + ("0" if good[10] != "0" else "1") + good[11:]
    flipped_v = good[:-2] + ("1c" if good[-2:] == "1b" else "1b")
    other_deadline = {**typed, "message": {**typed["message"], "deadline": consent["deadline"] + 1}}
    more_points = {**typed, "message": {**typed["message"], "points": 1}}
    forged = [
        flipped_r,
        flipped_v,
        _sign(Account.create(), typed),  # someone else's signature
        _sign(account, other_deadline),  # signed for another deadline than the one sent
        _sign(account, more_points),  # signed for a cheaper redemption
    ]
    for signature in forged:
        response = api.client.post(
            "/v1/redemptions",
            json={"reward_id": reward["reward_id"], "deadline": consent["deadline"], "signature": signature},
            headers=headers,
        )
        assert (response.status_code, _code(response)) == (422, "invalid_consent_signature"), signature
    response = api.client.post(
        "/v1/redemptions",
        json={"reward_id": reward["reward_id"], "deadline": consent["deadline"], "signature": "0x1234"},
        headers=headers,
    )
    assert (response.status_code, _code(response)) == (422, "invalid_request")
    assert api.ledger.balance_of(account.address) == 75
    assert api.ledger.redemptions_of(account.address) == []
    # The genuine signature still works afterwards.
    response = api.client.post(
        "/v1/redemptions",
        json={"reward_id": reward["reward_id"], "deadline": consent["deadline"], "signature": good},
        headers=headers,
    )
    assert response.status_code == 201, response.text


def test_expired_consent_is_410(api):
    headers, account = api.wallet_citizen()
    _earn(api, headers)
    reward = _reward(api, 40)
    typed = _consent(api, headers, reward["reward_id"])["typed_data"]
    deadline = api.ledger.chain_time() - 10
    typed["message"]["deadline"] = deadline
    response = api.client.post(
        "/v1/redemptions",
        json={"reward_id": reward["reward_id"], "deadline": deadline, "signature": _sign(account, typed)},
        headers=headers,
    )
    assert (response.status_code, _code(response)) == (410, "consent_expired")
    assert api.ledger.balance_of(account.address) == 75


# ---------------------------------------------------------------- reversals


def test_reverse_lowers_the_balance_once(api):
    headers, citizen = api.custodial_citizen()
    first, second = _earn(api, headers, outing(minutes_ago=120), outing(minutes_ago=300))
    assert api.ledger.balance_of(citizen["address"]) == 150
    admin = api.staff("admin")

    response = api.client.post(f"/v1/activities/{first['activity_id']}/reverse", json={"reason_code": 3}, headers=admin)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["points"] == -75
    assert body["balance"] == 75
    assert api.ledger.balance_of(citizen["address"]) == 75
    record = api.ledger.activity(first["activity_id"])
    assert record.reversal is not None
    assert (record.reversal.points, record.reversal.reason_code) == (75, 3)
    assert record.reversal.ref.tx_hash == body["tx_hash"]

    again = api.client.post(f"/v1/activities/{first['activity_id']}/reverse", json={"reason_code": 3}, headers=admin)
    assert (again.status_code, _code(again)) == (409, "activity_already_reversed")
    assert api.ledger.balance_of(citizen["address"]) == 75
    assert api.ledger.activity(second["activity_id"]).reversal is None


def test_reverse_unknown_or_malformed_activity(api):
    admin = api.staff("admin")
    for activity_id in (424242, 0):
        response = api.client.post(f"/v1/activities/{activity_id}/reverse", json={"reason_code": 1}, headers=admin)
        assert (response.status_code, _code(response)) == (404, "activity_not_found"), activity_id
    for activity_id in (-1, 2**256):
        response = api.client.post(f"/v1/activities/{activity_id}/reverse", json={"reason_code": 1}, headers=admin)
        assert (response.status_code, _code(response)) == (422, "invalid_input"), activity_id


def test_reverse_after_the_points_were_spent_is_409(api):
    headers, citizen = api.custodial_citizen()
    (claim,) = _earn(api, headers)
    reward = _reward(api, 70)
    assert (
        api.client.post("/v1/redemptions", json={"reward_id": reward["reward_id"]}, headers=headers).status_code == 201
    )
    response = api.client.post(
        f"/v1/activities/{claim['activity_id']}/reverse", json={"reason_code": 1}, headers=api.staff()
    )
    assert (response.status_code, _code(response)) == (409, "insufficient_points")
    assert api.ledger.balance_of(citizen["address"]) == 5


def test_reverse_needs_the_admin(api):
    headers, _ = api.custodial_citizen()
    (claim,) = _earn(api, headers)
    for who in (api.staff("minter"), api.staff("redeemer"), api.staff("pauser"), headers):
        response = api.client.post(
            f"/v1/activities/{claim['activity_id']}/reverse", json={"reason_code": 1}, headers=who
        )
        assert response.status_code == 403


# ---------------------------------------------------------------- pausing


def test_pause_stops_awards_and_issuance_until_unpaused(api):
    headers, citizen = api.custodial_citizen()
    claim = api.client.post("/v1/claims", json=outing(), headers=headers).json()
    now = api.ledger.chain_time()
    event = api.client.post(
        "/v1/events",
        json={"title": "x", "venue": "physical", "claim_start": now - 60, "claim_end": now + 3_600, "uri": "ipfs://e"},
        headers=api.staff("issuer"),
    ).json()
    code = api.client.post(f"/v1/events/{event['event_id']}/claim-codes", headers=api.staff("issuer")).json()["code"]
    pauser = api.staff("pauser")

    for who in (api.staff("minter"), api.staff("issuer"), headers):
        assert api.client.post("/v1/admin/pause", headers=who).status_code == 403
    response = api.client.post("/v1/admin/pause", headers=pauser)
    assert response.status_code == 200, response.text
    assert len(response.json()) == 2  # points and badges
    assert api.ledger.is_paused()

    flushed = api.client.post("/v1/awards/flush", headers=api.staff("minter"))
    assert flushed.status_code == 503, flushed.text
    issued = api.client.post(
        f"/v1/events/{event['event_id']}/badges", json={"attendees": [citizen["address"]]}, headers=api.staff("issuer")
    )
    assert issued.status_code == 503, issued.text
    claimed = api.client.post("/v1/badges/claim", json={"code": code}, headers=headers)
    assert claimed.status_code == 503, claimed.text
    assert api.ledger.balance_of(citizen["address"]) == 0
    assert not api.ledger.has_badge(event["event_id"], citizen["address"])
    # Claims are still taken, and wait.
    assert api.client.get(f"/v1/claims/{claim['activity_id']}", headers=headers).json()["status"] == "approved"

    response = api.client.post("/v1/admin/unpause", headers=pauser)
    assert response.status_code == 200, response.text
    assert not api.ledger.is_paused()
    flushed = api.client.post("/v1/awards/flush", headers=api.staff("minter"))
    assert flushed.status_code == 200
    assert flushed.json()["awarded"] == 1
    assert api.ledger.balance_of(citizen["address"]) == claim["points"]
    issued = api.client.post(
        f"/v1/events/{event['event_id']}/badges", json={"attendees": [citizen["address"]]}, headers=api.staff("issuer")
    )
    assert issued.status_code == 200
    assert api.ledger.has_badge(event["event_id"], citizen["address"])


def test_paused_ledger_answers_the_stable_code_ledger_paused(api):
    headers, _ = api.custodial_citizen()
    assert api.client.post("/v1/claims", json=outing(), headers=headers).status_code == 201
    assert api.client.post("/v1/admin/pause", headers=api.staff("pauser")).status_code == 200
    flushed = api.client.post("/v1/awards/flush", headers=api.staff("minter"))
    assert (flushed.status_code, _code(flushed)) == (503, "ledger_paused")
