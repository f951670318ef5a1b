"""Custodial citizens: enrolment, profiles encrypted at rest, erasure, key export, isolation."""

from __future__ import annotations

import json

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from sqlalchemy import func, select, text

from api.store import ActivityClaim, Citizen, CitizenSession
from tests.api.conftest import outing

PROFILE = {"display_name": "Jeong Min-ji", "email": "minji.jeong@example.org", "phone": "+82-10-5555-0199"}


def _error(response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code, response.text


def _citizen_row(api, citizen_id: str) -> Citizen:
    with api.state.store.session() as session:
        return session.get(Citizen, citizen_id)


def _claims(api, citizen_id: str) -> list[ActivityClaim]:
    with api.state.store.session() as session:
        return list(session.scalars(select(ActivityClaim).where(ActivityClaim.citizen_id == citizen_id)))


def _sign_in(api, account):
    nonce = api.client.post("/v1/auth/siwe/nonce").json()["nonce"]
    message = api.siwe_message(account, nonce)
    signature = account.sign_message(encode_defunct(text=message)).signature.to_0x_hex()
    return api.client.post("/v1/auth/siwe/verify", json={"message": message, "signature": signature})


# ---------------------------------------------------------------- enrolment


@pytest.mark.parametrize("role", ["minter", "issuer", "admin"])
def test_enrollers_create_custodial_citizens(api, role):
    response = api.client.post("/v1/citizens", json=PROFILE, headers=api.staff(role))
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["custodial"] is True and body["erased"] is False
    assert {k: body[k] for k in PROFILE} == PROFILE
    assert body["session_token"].startswith("cit_")
    row = _citizen_row(api, body["citizen_id"])
    assert row.address == body["address"]
    assert Account.from_key(api.state.cipher.decrypt(row.encrypted_key)).address == body["address"]
    me = api.client.get("/v1/citizens/me", headers={"Authorization": f"Bearer {body['session_token']}"})
    assert me.status_code == 200
    assert me.json() == {k: v for k, v in body.items() if k != "session_token"}


def test_a_citizen_without_profile_can_be_enrolled(api):
    headers, body = api.custodial_citizen()
    assert body["display_name"] is None and body["email"] is None and body["phone"] is None
    assert _citizen_row(api, body["citizen_id"]).encrypted_profile is None
    assert api.client.get("/v1/citizens/me", headers=headers).json()["custodial"] is True


@pytest.mark.parametrize("role", ["redeemer", "pauser"])
def test_other_staff_cannot_enrol(api, role):
    _error(api.client.post("/v1/citizens", json=PROFILE, headers=api.staff(role)), 403, "forbidden")


def test_citizens_cannot_enrol_citizens(api):
    headers, _ = api.custodial_citizen(display_name="Self-starter")
    wallet, _ = api.wallet_citizen()
    for caller in (headers, wallet):
        _error(api.client.post("/v1/citizens", json=PROFILE, headers=caller), 403, "forbidden")
    with api.state.store.session() as session:
        assert session.scalar(select(func.count()).select_from(Citizen)) == 2


def test_profile_is_encrypted_at_rest(api):
    _, body = api.custodial_citizen(**PROFILE)
    with api.state.store.engine.connect() as connection:
        stored, key = connection.execute(
            text("SELECT encrypted_profile, encrypted_key FROM citizens WHERE id = :id"), {"id": body["citizen_id"]}
        ).one()
    assert stored and key
    for value in PROFILE.values():
        for encoded in (value.encode(), value.encode("utf-16-le"), json.dumps(value).encode()):
            assert encoded not in stored
    assert json.loads(api.state.cipher.decrypt(stored)) == PROFILE
    # The custodial key is encrypted too.
    private = Account.from_key(api.state.cipher.decrypt(key)).key
    assert private not in key and private.hex().encode() not in key


def test_staff_read_a_citizen(api):
    _, body = api.custodial_citizen(**PROFILE)
    for role in ("admin", "minter", "issuer", "redeemer", "pauser"):
        response = api.client.get(f"/v1/citizens/{body['citizen_id']}", headers=api.staff(role))
        assert response.status_code == 200, response.text
        assert response.json()["display_name"] == PROFILE["display_name"]
        assert "session_token" not in response.json()
    _error(api.client.get("/v1/citizens/no-such-id", headers=api.staff("minter")), 404, "citizen_not_found")


def test_a_citizen_cannot_read_another_citizens_profile(api):
    _, victim = api.custodial_citizen(**PROFILE)
    nosy, _ = api.custodial_citizen(display_name="Nosy")
    _error(api.client.get(f"/v1/citizens/{victim['citizen_id']}", headers=nosy), 403, "forbidden")


# ---------------------------------------------------------------- erasure


def _claim_and_flush(api, headers) -> dict:
    claim = api.client.post("/v1/claims", json=outing(), headers=headers)
    assert claim.status_code == 201, claim.text
    flushed = api.client.post("/v1/awards/flush", headers=api.staff("minter"))
    assert flushed.status_code == 200, flushed.text
    return claim.json()


def test_citizen_erases_their_personal_data(api):
    headers, body = api.custodial_citizen(**PROFILE)
    claim = _claim_and_flush(api, headers)
    held = api.client.post("/v1/claims", json=outing(minutes_ago=600, distance_meters=50_000), headers=headers)
    assert held.json()["status"] == "held"
    assert all(c.evidence_salt for c in _claims(api, body["citizen_id"]))

    response = api.client.delete("/v1/citizens/me/personal-data", headers=headers)
    assert response.status_code == 200, response.text
    erased = response.json()
    assert erased["erased"] is True
    assert erased["display_name"] is None and erased["email"] is None and erased["phone"] is None
    row = _citizen_row(api, body["citizen_id"])
    assert row.encrypted_profile is None and row.erased_at is not None
    claims = _claims(api, body["citizen_id"])
    assert len(claims) == 2 and all(c.evidence_salt is None for c in claims)
    # The account keeps working; the award stays verifiable on-chain.
    me = api.client.get("/v1/citizens/me", headers=headers).json()
    assert me["erased"] is True and me["display_name"] is None
    verified = api.client.get(f"/v1/verify/citizens/{body['address']}").json()
    assert verified["balance"] == claim["points"] and verified["consistent"]


def test_admin_erases_a_citizens_personal_data(api):
    headers, body = api.custodial_citizen(**PROFILE)
    _claim_and_flush(api, headers)
    _, bystander = api.custodial_citizen(display_name="Bystander")
    for role in ("minter", "issuer", "redeemer", "pauser"):
        response = api.client.delete(f"/v1/citizens/{body['citizen_id']}/personal-data", headers=api.staff(role))
        _error(response, 403, "forbidden")
    assert _citizen_row(api, body["citizen_id"]).encrypted_profile is not None

    response = api.client.delete(f"/v1/citizens/{body['citizen_id']}/personal-data", headers=api.staff("admin"))
    assert response.status_code == 200, response.text
    assert response.json()["erased"] is True and response.json()["display_name"] is None
    assert _citizen_row(api, body["citizen_id"]).encrypted_profile is None
    assert all(c.evidence_salt is None for c in _claims(api, body["citizen_id"]))
    staff_view = api.client.get(f"/v1/citizens/{body['citizen_id']}", headers=api.staff("minter")).json()
    assert staff_view["erased"] is True and staff_view["email"] is None
    # Nobody else is touched.
    assert _citizen_row(api, bystander["citizen_id"]).encrypted_profile is not None
    assert _citizen_row(api, bystander["citizen_id"]).erased_at is None


def test_erasing_an_unknown_citizen_is_404(api):
    response = api.client.delete("/v1/citizens/nobody/personal-data", headers=api.staff("admin"))
    _error(response, 404, "citizen_not_found")


def test_a_citizen_cannot_erase_another_citizen(api):
    _, victim = api.custodial_citizen(**PROFILE)
    attacker, _ = api.custodial_citizen(display_name="Attacker")
    _error(api.client.delete(f"/v1/citizens/{victim['citizen_id']}/personal-data", headers=attacker), 403, "forbidden")
    assert _citizen_row(api, victim["citizen_id"]).encrypted_profile is not None


# ---------------------------------------------------------------- key export


def test_key_export_hands_over_the_key_once(api):
    headers, body = api.custodial_citizen(**PROFILE)
    claim = _claim_and_flush(api, headers)
    response = api.client.post("/v1/citizens/me/key-export", headers=headers)
    assert response.status_code == 200, response.text
    exported = response.json()
    account = Account.from_key(exported["private_key"])
    assert exported["address"] == account.address == body["address"]

    row = _citizen_row(api, body["citizen_id"])
    assert row.encrypted_key is None and row.custodial is False and row.key_exported_at is not None
    _error(api.client.post("/v1/citizens/me/key-export", headers=headers), 409, "not_custodial")
    me = api.client.get("/v1/citizens/me", headers=headers).json()
    assert me["custodial"] is False and me["display_name"] == PROFILE["display_name"]

    # The citizen's own wallet now signs in as the same citizen, with the points intact.
    session = _sign_in(api, account)
    assert session.status_code == 200, session.text
    assert session.json()["citizen_id"] == body["citizen_id"]
    verified = api.client.get(f"/v1/verify/citizens/{body['address']}").json()
    assert verified["balance"] == claim["points"]


def test_after_export_the_city_cannot_redeem_for_the_citizen(api):
    headers, _ = api.custodial_citizen(display_name="Exporter")
    _claim_and_flush(api, headers)
    reward = api.client.post("/v1/rewards", json={"title": "Bus ticket", "cost": 1}, headers=api.staff("admin")).json()
    assert api.client.post("/v1/citizens/me/key-export", headers=headers).status_code == 200
    block = api.ledger.w3.eth.block_number
    response = api.client.post("/v1/redemptions", json={"reward_id": reward["reward_id"]}, headers=headers)
    _error(response, 422, "consent_required")
    assert api.ledger.w3.eth.block_number == block


def test_wallet_citizen_has_no_key_to_export(api):
    headers, _ = api.wallet_citizen()
    _error(api.client.post("/v1/citizens/me/key-export", headers=headers), 409, "not_custodial")


# ---------------------------------------------------------------- isolation between citizens


def test_a_citizen_cannot_read_another_citizens_claim(api):
    alice, _ = api.custodial_citizen(display_name="Alice")
    bob, _ = api.wallet_citizen()
    claim = api.client.post("/v1/claims", json=outing(), headers=alice).json()
    assert api.client.get(f"/v1/claims/{claim['activity_id']}", headers=alice).status_code == 200
    missing = api.client.get("/v1/claims/999", headers=bob)
    other = api.client.get(f"/v1/claims/{claim['activity_id']}", headers=bob)
    _error(other, 404, "claim_not_found")
    # Someone else's claim answers exactly like a missing one.
    _error(missing, 404, "claim_not_found")
    assert other.json()["error"]["message"].replace(str(claim["activity_id"]), "N") == missing.json()["error"][
        "message"
    ].replace("999", "N")
    assert api.client.get("/v1/claims", headers=bob).json() == []


def test_a_citizen_cannot_act_for_another(api):
    alice, alice_body = api.custodial_citizen(**PROFILE)
    bob, bob_body = api.custodial_citizen(display_name="Bob")
    claim = api.client.post("/v1/claims", json=outing(), headers=alice).json()
    # Bob's writes only ever touch Bob.
    body = outing() | {"citizen_id": alice_body["citizen_id"]}
    _error(api.client.post("/v1/claims", json=body, headers=bob), 422, "invalid_request")
    review = {"decision": "reject", "reason": "sabotage"}
    _error(api.client.post(f"/v1/review/claims/{claim['activity_id']}", json=review, headers=bob), 403, "forbidden")
    assert (
        api.client.delete("/v1/citizens/me/personal-data", headers=bob).json()["citizen_id"] == bob_body["citizen_id"]
    )
    exported = api.client.post("/v1/citizens/me/key-export", headers=bob).json()
    assert exported["address"] == bob_body["address"]
    # Alice is untouched.
    me = api.client.get("/v1/citizens/me", headers=alice).json()
    assert me["display_name"] == PROFILE["display_name"] and me["custodial"] is True and not me["erased"]
    assert api.client.get(f"/v1/claims/{claim['activity_id']}", headers=alice).json()["status"] == "approved"
    assert all(c.evidence_salt for c in _claims(api, alice_body["citizen_id"]))


def test_sessions_belong_to_one_citizen(api):
    alice, alice_body = api.custodial_citizen(display_name="Alice")
    _, bob_body = api.custodial_citizen(display_name="Bob")
    with api.state.store.session() as session:
        owners = {s.citizen_id for s in session.scalars(select(CitizenSession))}
    assert owners == {alice_body["citizen_id"], bob_body["citizen_id"]}
    assert api.client.get("/v1/citizens/me", headers=alice).json()["citizen_id"] == alice_body["citizen_id"]
