"""Rewards, redemption with consent, reversals and pausing, end to end through the chain."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from eth_account import Account
from eth_account.messages import encode_typed_data

from api.store import Reward
from ledger import AwardReversed, PointsRedeemed
from tests.api.conftest import PIN
from tests.helpers import assert_error, outing


def _reward(api, cost: int, title: str = "Bus pass", stock: int | None = None) -> dict:
    body: dict[str, object] = {"title": title, "cost": cost}
    if stock is not None:
        body["stock"] = stock
    response = api.client.post("/v1/rewards", json=body, headers=api.staff("admin"))
    assert response.status_code == 201, response.text
    return response.json()


def _earn(api, headers, *claims: dict) -> list[dict]:
    """Submits plausible claims (75 points each by default) and settles them: the awarded claims."""
    submitted = []
    for index, body in enumerate(claims or (outing(),)):
        response = api.client.post("/v1/claims", json=body or outing(minutes_ago=120 * (index + 1)), headers=headers)
        assert response.status_code == 201, response.text
        assert response.json()["status"] == "approved"
        submitted.append(response.json())
    api.settle()
    awarded = [api.client.get(f"/v1/claims/{c['claim_id']}", headers=headers).json() for c in submitted]
    assert all(c["status"] == "awarded" for c in awarded), awarded
    return awarded


def _consent(api, headers, reward_id: int) -> dict:
    response = api.client.get("/v1/redemptions/consent", params={"reward_id": reward_id}, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def _sign(account, typed: dict) -> str:
    return account.sign_message(encode_typed_data(full_message=typed)).signature.to_0x_hex()


def _redeem(api, headers, reward_id: int, **consent: object):
    return api.client.post("/v1/redemptions", json={"reward_id": reward_id, **consent}, headers=headers)


def _redemptions_of(api, address: str) -> list[PointsRedeemed]:
    return [r for r in api.ledger.history(address) if isinstance(r, PointsRedeemed)]


def _stock(api, reward_id: int) -> int | None:
    with api.ctx.store.session() as session:
        return session.get(Reward, reward_id).stock


# ---------------------------------------------------------------- catalogue


def test_create_reward_admin_creates_rewards_that_anyone_can_list(api):
    reward = _reward(api, 50, "Tree seedling")
    assert (reward["cost"], reward["title"], reward["stock"], reward["active"]) == (50, "Tree seedling", None, True)
    assert api.client.get("/v1/rewards").json() == [reward]
    limited = _reward(api, 10, "Tumbler", stock=3)
    assert limited["stock"] == 3
    assert api.client.get("/v1/rewards").json() == [reward, limited]
    for headers in (api.staff("minter"), api.staff("redeemer"), api.custodial_citizen()[0]):
        response = api.client.post("/v1/rewards", json={"title": "x", "cost": 1}, headers=headers)
        assert response.status_code == 403
    for bad in (
        {"title": "x", "cost": 0},
        {"title": "", "cost": 5},
        {"title": "x"},
        {"title": "x", "cost": 1, "stock": -1},
    ):
        assert_error(api.client.post("/v1/rewards", json=bad, headers=api.staff()), 422, "invalid_request")


def test_change_reward_edits_retires_and_restocks(api):
    reward = _reward(api, 50, "Bus pass", stock=2)
    admin = api.staff("admin")
    url = f"/v1/rewards/{reward['reward_id']}"

    edited = api.client.patch(url, json={"title": "Monthly bus pass", "cost": 60}, headers=admin)
    assert edited.status_code == 200, edited.text
    assert edited.json() == reward | {"title": "Monthly bus pass", "cost": 60}
    assert api.client.get("/v1/rewards").json() == [edited.json()]

    restocked = api.client.patch(url, json={"stock": 10}, headers=admin).json()
    assert (restocked["stock"], restocked["cost"]) == (10, 60)
    unlimited = api.client.patch(url, json={"unlimited": True}, headers=admin).json()
    assert unlimited["stock"] is None

    retired = api.client.patch(url, json={"active": False}, headers=admin)
    assert retired.status_code == 200
    assert retired.json()["active"] is False
    assert api.client.get("/v1/rewards").json() == []
    assert api.client.get("/v1/rewards", params={"include_retired": True}).json() == [retired.json()]
    headers, _ = api.custodial_citizen()
    assert_error(_redeem(api, headers, reward["reward_id"]), 404, "reward_not_found")
    response = api.client.get("/v1/redemptions/consent", params={"reward_id": reward["reward_id"]}, headers=headers)
    assert_error(response, 404, "reward_not_found")

    back = api.client.patch(url, json={"active": True}, headers=admin).json()
    assert back["active"] is True
    assert [r["reward_id"] for r in api.client.get("/v1/rewards").json()] == [reward["reward_id"]]


def test_change_reward_needs_the_admin_and_valid_fields(api):
    reward = _reward(api, 50)
    url = f"/v1/rewards/{reward['reward_id']}"
    for headers in (api.staff("minter"), api.staff("redeemer"), api.custodial_citizen()[0]):
        assert api.client.patch(url, json={"cost": 1}, headers=headers).status_code == 403
    assert api.client.patch(url, json={"cost": 1}).status_code == 401
    for bad in ({"cost": 0}, {"stock": -1}, {"title": ""}, {"price": 3}):
        assert_error(api.client.patch(url, json=bad, headers=api.staff()), 422, "invalid_request")
    assert_error(api.client.patch("/v1/rewards/9999", json={"cost": 5}, headers=api.staff()), 404, "reward_not_found")
    assert api.client.get("/v1/rewards").json() == [reward]


# ---------------------------------------------------------------- custodial citizens


def test_redeem_custodial_citizen_and_the_balance_goes_down(api):
    headers, citizen = api.custodial_citizen()
    _earn(api, headers)
    assert api.ledger.balance_of(citizen["address"]) == 75
    reward = _reward(api, 50)

    response = _redeem(api, headers, reward["reward_id"])
    assert response.status_code == 201, response.text
    body = response.json()
    assert body == {"reward_id": reward["reward_id"], "points": 50, "tx_hash": body["tx_hash"], "balance": 25}
    assert api.ledger.balance_of(citizen["address"]) == 25
    (redemption,) = _redemptions_of(api, citizen["address"])
    assert (redemption.reward_id, redemption.points) == (reward["reward_id"], 50)
    assert redemption.ref.tx_hash == body["tx_hash"]
    assert redemption.relayer == api.ledger.address  # the city relays and pays the gas
    assert api.test_chain.w3.eth.get_balance(citizen["address"]) == 0
    assert api.ledger.consent_nonce(citizen["address"]) == 1


def test_redeem_insufficient_points_is_409_with_no_chain_write(api):
    headers, citizen = api.custodial_citizen()
    _earn(api, headers)
    reward = _reward(api, 76, stock=5)
    block = api.ledger.head()

    assert_error(_redeem(api, headers, reward["reward_id"]), 409, "insufficient_points")
    assert api.ledger.head() == block
    assert api.ledger.balance_of(citizen["address"]) == 75
    assert _redemptions_of(api, citizen["address"]) == []
    assert _stock(api, reward["reward_id"]) == 5

    # A citizen with no points at all, custodial or with a wallet, likewise.
    for other_headers in (api.custodial_citizen()[0], api.wallet_citizen()[0]):
        consent = _consent(api, other_headers, reward["reward_id"])
        response = _redeem(
            api, other_headers, reward["reward_id"], deadline=consent["deadline"], signature="0x" + "11" * 65
        )
        assert_error(response, 409, "insufficient_points")
    assert api.ledger.head() == block
    assert _stock(api, reward["reward_id"]) == 5


def test_redeem_unknown_reward(api):
    headers, _ = api.custodial_citizen()
    assert_error(_redeem(api, headers, 999), 404, "reward_not_found")
    response = api.client.get("/v1/redemptions/consent", params={"reward_id": 999}, headers=headers)
    assert_error(response, 404, "reward_not_found")
    assert_error(_redeem(api, headers, 0), 422, "invalid_request")


def test_redeem_needs_a_citizen(api):
    reward = _reward(api, 5)
    assert api.client.post("/v1/redemptions", json={"reward_id": reward["reward_id"]}).status_code == 401
    response = api.client.post(
        "/v1/redemptions", json={"reward_id": reward["reward_id"]}, headers=api.staff("redeemer")
    )
    assert response.status_code == 403


def test_redeem_custodial_citizen_after_key_export_must_sign_like_a_wallet(api):
    headers, citizen = api.custodial_citizen()
    _earn(api, headers)
    reward = _reward(api, 30)
    exported = api.client.post("/v1/citizens/me/key-export", json={"pin": PIN}, headers=headers)
    assert exported.status_code == 200, exported.text
    account = Account.from_key(exported.json()["private_key"])
    assert account.address == citizen["address"]

    assert_error(_redeem(api, headers, reward["reward_id"]), 422, "consent_required")
    consent = _consent(api, headers, reward["reward_id"])
    response = _redeem(
        api, headers, reward["reward_id"], deadline=consent["deadline"], signature=_sign(account, consent["typed_data"])
    )
    assert response.status_code == 201, response.text
    assert api.ledger.balance_of(citizen["address"]) == 45


# ---------------------------------------------------------------- stock


def test_redeem_out_of_stock_is_409_and_spends_nothing(api):
    headers, citizen = api.custodial_citizen()
    _earn(api, headers, outing(minutes_ago=120), outing(minutes_ago=300))
    reward = _reward(api, 20, "Tote bag", stock=1)
    assert _redeem(api, headers, reward["reward_id"]).status_code == 201
    assert _stock(api, reward["reward_id"]) == 0
    assert api.client.get("/v1/rewards").json()[0]["stock"] == 0

    block = api.ledger.head()
    assert_error(_redeem(api, headers, reward["reward_id"]), 409, "out_of_stock")
    assert api.ledger.head() == block
    assert api.ledger.balance_of(citizen["address"]) == 150 - 20
    assert len(_redemptions_of(api, citizen["address"])) == 1
    # Restocked, it can be redeemed again.
    api.client.patch(f"/v1/rewards/{reward['reward_id']}", json={"stock": 1}, headers=api.staff())
    assert _redeem(api, headers, reward["reward_id"]).status_code == 201
    assert api.ledger.balance_of(citizen["address"]) == 150 - 40


def test_redeem_failing_on_chain_gives_the_unit_back_to_the_stock(api):
    headers, account = api.wallet_citizen()
    _earn(api, headers)
    reward = _reward(api, 40, stock=1)
    consent = _consent(api, headers, reward["reward_id"])
    stranger_signature = _sign(Account.create(), consent["typed_data"])

    response = _redeem(api, headers, reward["reward_id"], deadline=consent["deadline"], signature=stranger_signature)
    assert_error(response, 422, "invalid_consent_signature")
    assert _stock(api, reward["reward_id"]) == 1
    assert api.ledger.balance_of(account.address) == 75

    response = _redeem(
        api, headers, reward["reward_id"], deadline=consent["deadline"], signature=_sign(account, consent["typed_data"])
    )
    assert response.status_code == 201, response.text
    assert _stock(api, reward["reward_id"]) == 0
    assert api.ledger.balance_of(account.address) == 35


# ---------------------------------------------------------------- wallet citizens


def test_redeem_wallet_citizen_with_a_signed_consent(api):
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
    assert typed["message"]["nonce"] == api.ledger.consent_nonce(account.address) == 0
    assert typed["domain"]["verifyingContract"] == api.ledger.deployment.points_address
    assert typed["domain"]["chainId"] == api.ledger.deployment.chain_id
    assert consent["deadline"] > api.ledger.chain_time()

    signature = _sign(account, typed)
    response = _redeem(api, headers, reward["reward_id"], deadline=consent["deadline"], signature=signature)
    assert response.status_code == 201, response.text
    assert response.json()["balance"] == 55
    assert api.ledger.balance_of(account.address) == 55
    (redemption,) = _redemptions_of(api, account.address)
    assert redemption.ref.tx_hash == response.json()["tx_hash"]
    assert api.test_chain.w3.eth.get_balance(account.address) == 0

    # The consent is spent: the same signature again is refused (its nonce moved on).
    again = _redeem(api, headers, reward["reward_id"], deadline=consent["deadline"], signature=signature)
    assert_error(again, 422, "invalid_consent_signature")
    assert api.ledger.balance_of(account.address) == 55


def test_redeem_wallet_citizen_without_signature_is_422(api):
    headers, account = api.wallet_citizen()
    _earn(api, headers)
    reward = _reward(api, 40)
    block = api.ledger.head()
    assert_error(_redeem(api, headers, reward["reward_id"]), 422, "consent_required")
    consent = _consent(api, headers, reward["reward_id"])
    response = _redeem(api, headers, reward["reward_id"], signature=_sign(account, consent["typed_data"]))
    assert_error(response, 422, "invalid_request")
    assert api.ledger.head() == block
    assert api.ledger.balance_of(account.address) == 75


def test_redeem_tampered_consent_signatures_are_refused(api):
    headers, account = api.wallet_citizen()
    _earn(api, headers)
    reward = _reward(api, 40)
    consent = _consent(api, headers, reward["reward_id"])
    typed = consent["typed_data"]
    good = _sign(account, typed)
    flipped_r = good[:10] + ("0" if good[10] != "0" else "1") + good[11:]
    other_deadline = {**typed, "message": {**typed["message"], "deadline": consent["deadline"] + 1}}
    fewer_points = {**typed, "message": {**typed["message"], "points": 1}}
    forged = [
        flipped_r,
        _sign(Account.create(), typed),  # someone else's signature
        _sign(account, other_deadline),  # signed for another deadline than the one sent
        _sign(account, fewer_points),  # signed for a cheaper redemption
    ]
    for signature in forged:
        response = _redeem(api, headers, reward["reward_id"], deadline=consent["deadline"], signature=signature)
        assert response.status_code == 422, (signature, response.text)
        assert response.json()["error"]["code"] in ("invalid_consent_signature", "invalid_signature"), response.text
    assert_error(
        _redeem(api, headers, reward["reward_id"], deadline=consent["deadline"], signature="0x1234"),
        422,
        "invalid_request",
    )
    assert api.ledger.balance_of(account.address) == 75
    assert _redemptions_of(api, account.address) == []
    # The genuine signature still works afterwards.
    response = _redeem(api, headers, reward["reward_id"], deadline=consent["deadline"], signature=good)
    assert response.status_code == 201, response.text


def test_redeem_expired_consent_is_410(api):
    headers, account = api.wallet_citizen()
    _earn(api, headers)
    reward = _reward(api, 40)
    typed = _consent(api, headers, reward["reward_id"])["typed_data"]
    deadline = api.ledger.chain_time() - 10
    typed["message"]["deadline"] = deadline
    response = _redeem(api, headers, reward["reward_id"], deadline=deadline, signature=_sign(account, typed))
    assert_error(response, 410, "consent_expired")
    assert api.ledger.balance_of(account.address) == 75


# ---------------------------------------------------------------- reversals


def test_reverse_award_lowers_the_balance_once_and_answers_the_reversal(api):
    headers, citizen = api.custodial_citizen()
    first, second = _earn(api, headers, outing(minutes_ago=120), outing(minutes_ago=300))
    assert api.ledger.balance_of(citizen["address"]) == 150
    admin = api.staff("admin")

    response = api.client.post(f"/v1/activities/{first['activity_id']}/reverse", json={"reason_code": 3}, headers=admin)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body == {
        "activity_id": first["activity_id"],
        "points": -75,
        "reason_code": 3,
        "tx_hash": body["tx_hash"],
        "balance": 75,
    }
    assert api.ledger.balance_of(citizen["address"]) == 75
    _, reversal = api.ledger.activity(first["activity_id"])
    assert reversal is not None
    assert (reversal.citizen, reversal.points, reversal.reason_code) == (citizen["address"], 75, 3)
    assert reversal.ref.tx_hash == body["tx_hash"]
    assert api.ledger.is_reversed(first["activity_id"])

    again = api.client.post(f"/v1/activities/{first['activity_id']}/reverse", json={"reason_code": 3}, headers=admin)
    assert_error(again, 409, "activity_already_reversed")
    assert api.ledger.balance_of(citizen["address"]) == 75
    assert api.ledger.activity(second["activity_id"])[1] is None
    assert [r.activity_id for r in api.ledger.history(citizen["address"]) if isinstance(r, AwardReversed)] == [
        first["activity_id"]
    ]


def test_reverse_award_unknown_or_malformed_activity(api):
    admin = api.staff("admin")
    response = api.client.post("/v1/activities/424242/reverse", json={"reason_code": 1}, headers=admin)
    assert_error(response, 404, "activity_not_found")
    for activity_id in (0, -1, 2**256, "abc"):
        response = api.client.post(f"/v1/activities/{activity_id}/reverse", json={"reason_code": 1}, headers=admin)
        assert_error(response, 422, "invalid_request")


def test_reverse_award_after_the_points_were_spent_is_409(api):
    headers, citizen = api.custodial_citizen()
    (claim,) = _earn(api, headers)
    reward = _reward(api, 70)
    assert _redeem(api, headers, reward["reward_id"]).status_code == 201
    response = api.client.post(
        f"/v1/activities/{claim['activity_id']}/reverse", json={"reason_code": 1}, headers=api.staff()
    )
    assert_error(response, 409, "insufficient_points")
    assert api.ledger.balance_of(citizen["address"]) == 5
    assert not api.ledger.is_reversed(claim["activity_id"])


def test_reverse_award_needs_the_admin(api):
    headers, _ = api.custodial_citizen()
    (claim,) = _earn(api, headers)
    for who in (api.staff("minter"), api.staff("redeemer"), api.staff("pauser"), headers):
        response = api.client.post(
            f"/v1/activities/{claim['activity_id']}/reverse", json={"reason_code": 1}, headers=who
        )
        assert response.status_code == 403
    assert not api.ledger.is_reversed(claim["activity_id"])


# ---------------------------------------------------------------- pausing


def test_pause_stops_awards_issuance_and_redemption_until_unpaused(api):
    headers, citizen = api.custodial_citizen()
    _earn(api, headers, outing(minutes_ago=400))
    claim = api.client.post("/v1/claims", json=outing(), headers=headers).json()
    reward = _reward(api, 30, stock=2)
    now = datetime.now(UTC)
    event = api.client.post(
        "/v1/events",
        json={
            "title": "x",
            "venue": "physical",
            "claim_start": (now - timedelta(minutes=1)).isoformat(),
            "claim_end": (now + timedelta(hours=1)).isoformat(),
        },
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
    assert_error(api.client.post("/v1/admin/pause", headers=pauser), 409, "already_paused")

    assert_error(api.client.post("/v1/awards/flush", headers=api.staff("minter")), 503, "ledger_paused")
    issued = api.client.post(
        f"/v1/events/{event['event_id']}/badges", json={"attendees": [citizen["address"]]}, headers=api.staff("issuer")
    )
    assert_error(issued, 503, "ledger_paused")
    assert_error(api.client.post("/v1/badges/claim", json={"code": code}, headers=headers), 503, "ledger_paused")
    assert_error(_redeem(api, headers, reward["reward_id"]), 503, "ledger_paused")
    assert api.ledger.balance_of(citizen["address"]) == 75
    assert _redemptions_of(api, citizen["address"]) == []
    assert _stock(api, reward["reward_id"]) == 2
    assert not api.ledger.has_badge(event["event_id"], citizen["address"])
    # Claims are still taken, and wait.
    waiting = api.client.get(f"/v1/claims/{claim['claim_id']}", headers=headers).json()
    assert (waiting["status"], waiting["activity_id"], waiting["hold_reasons"]) == ("approved", None, [])

    response = api.client.post("/v1/admin/unpause", headers=pauser)
    assert response.status_code == 200, response.text
    assert not api.ledger.is_paused()
    flushed = api.client.post("/v1/awards/flush", headers=api.staff("minter"))
    assert flushed.status_code == 200
    assert flushed.json()["awarded"] == 1
    assert api.ledger.balance_of(citizen["address"]) == 75 + claim["points"]
    assert _redeem(api, headers, reward["reward_id"]).status_code == 201
    issued = api.client.post(
        f"/v1/events/{event['event_id']}/badges", json={"attendees": [citizen["address"]]}, headers=api.staff("issuer")
    )
    assert issued.status_code == 200
    assert api.ledger.has_badge(event["event_id"], citizen["address"])


def test_redeem_while_paused_is_503_and_nothing_is_spent(api):
    headers, citizen = api.custodial_citizen()
    wallet_headers, account = api.wallet_citizen()
    _earn(api, headers)
    _earn(api, wallet_headers)
    reward = _reward(api, 30, stock=5)
    consent = _consent(api, wallet_headers, reward["reward_id"])
    assert api.client.post("/v1/admin/pause", headers=api.staff("pauser")).status_code == 200

    assert_error(_redeem(api, headers, reward["reward_id"]), 503, "ledger_paused")
    signature = _sign(account, consent["typed_data"])
    response = _redeem(api, wallet_headers, reward["reward_id"], deadline=consent["deadline"], signature=signature)
    assert_error(response, 503, "ledger_paused")
    for address in (citizen["address"], account.address):
        assert api.ledger.balance_of(address) == 75
        assert api.ledger.consent_nonce(address) == 0
        assert _redemptions_of(api, address) == []
    assert _stock(api, reward["reward_id"]) == 5

    assert api.client.post("/v1/admin/unpause", headers=api.staff("pauser")).status_code == 200
    response = _redeem(api, wallet_headers, reward["reward_id"], deadline=consent["deadline"], signature=signature)
    assert response.status_code == 201, response.text
    assert api.ledger.balance_of(account.address) == 45
    assert _stock(api, reward["reward_id"]) == 4


def test_pause_the_paused_ledger_answers_the_stable_code_ledger_paused(api):
    headers, _ = api.custodial_citizen()
    assert api.client.post("/v1/claims", json=outing(), headers=headers).status_code == 201
    assert api.client.post("/v1/admin/pause", headers=api.staff("pauser")).status_code == 200
    assert api.client.get("/v1/health").json()["paused"] is True
    assert_error(api.client.post("/v1/awards/flush", headers=api.staff("minter")), 503, "ledger_paused")
