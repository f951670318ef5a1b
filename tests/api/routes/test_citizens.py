"""Custodial citizens: enrolment with a sign-in card, profiles encrypted at rest, who may read
them, search, erasure, key export, isolation between citizens."""

from __future__ import annotations

import json

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from sqlalchemy import func, select, text

from api.store import ActivityClaim, AuditEntry, Citizen, CitizenSession
from tests.api.conftest import PIN
from tests.helpers import assert_error, outing

PROFILE = {"display_name": "Jeong Min-ji", "email": "minji.jeong@example.org", "phone": "+82-10-5555-0199"}


def _citizen_row(api, citizen_id: str) -> Citizen:
    with api.ctx.store.session() as session:
        return session.get(Citizen, citizen_id)


def _claims(api, citizen_id: str) -> list[ActivityClaim]:
    with api.ctx.store.session() as session:
        return list(session.scalars(select(ActivityClaim).where(ActivityClaim.citizen_id == citizen_id)))


def _audit(api, action: str) -> list[AuditEntry]:
    with api.ctx.store.session() as session:
        return list(session.scalars(select(AuditEntry).where(AuditEntry.action == action)))


def _sign_in(api, account):
    nonce = api.client.post("/v1/auth/siwe/nonce").json()["nonce"]
    message = api.siwe_message(account, nonce)
    signature = account.sign_message(encode_defunct(text=message)).signature.to_0x_hex()
    return api.client.post("/v1/auth/siwe/verify", json={"message": message, "signature": signature})


def _export(api, headers, pin: str = PIN):
    return api.client.post("/v1/citizens/me/key-export", json={"pin": pin}, headers=headers)


# ---------------------------------------------------------------- enrolment


@pytest.mark.parametrize("role", ["minter", "issuer", "admin"])
def test_enrollers_create_custodial_citizens(api, role):
    response = api.client.post("/v1/citizens", json=PROFILE, headers=api.staff(role))
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["custodial"] is True and body["erased"] is False
    assert {k: body[k] for k in PROFILE} == PROFILE
    assert body["card"]["code"] and "session_token" not in body and "token" not in body
    row = _citizen_row(api, body["citizen_id"])
    assert row.address == body["address"]
    assert Account.from_key(api.ctx.cipher.decrypt(row.encrypted_key)).address == body["address"]
    # The citizen, not the staff member, opens the first session by choosing the card's PIN.
    session = api.client.post("/v1/auth/card/activate", json={"code": body["card"]["code"], "pin": PIN})
    assert session.status_code == 200, session.text
    me = api.client.get("/v1/citizens/me", headers={"Authorization": f"Bearer {session.json()['token']}"})
    assert me.status_code == 200
    assert me.json() == {k: v for k, v in body.items() if k != "card"}
    assert [e.actor for e in _audit(api, "citizen_enrolled")] == [f"{role}-tester#1"]


def test_a_citizen_without_profile_can_be_enrolled(api):
    headers, body = api.custodial_citizen()
    assert body["display_name"] is None and body["email"] is None and body["phone"] is None
    assert _citizen_row(api, body["citizen_id"]).encrypted_profile is None
    assert api.client.get("/v1/citizens/me", headers=headers).json()["custodial"] is True


def test_each_enrolment_is_a_new_citizen_with_its_own_address(api):
    _, first = api.custodial_citizen(**PROFILE)
    _, second = api.custodial_citizen(**PROFILE)
    assert first["citizen_id"] != second["citizen_id"] and first["address"] != second["address"]
    assert first["card"]["code"] != second["card"]["code"]


@pytest.mark.parametrize("role", ["redeemer", "pauser"])
def test_other_staff_cannot_enrol(api, role):
    assert_error(api.client.post("/v1/citizens", json=PROFILE, headers=api.staff(role)), 403, "forbidden")
    with api.ctx.store.session() as session:
        assert session.scalar(select(func.count()).select_from(Citizen)) == 0


def test_citizens_cannot_enrol_citizens(api):
    headers, _ = api.custodial_citizen(display_name="Self-starter")
    wallet, _ = api.wallet_citizen()
    for caller in (headers, wallet):
        assert_error(api.client.post("/v1/citizens", json=PROFILE, headers=caller), 403, "forbidden")
    with api.ctx.store.session() as session:
        assert session.scalar(select(func.count()).select_from(Citizen)) == 2


def test_profile_is_encrypted_at_rest(api):
    _, body = api.custodial_citizen(**PROFILE)
    with api.ctx.store.engine.connect() as connection:
        stored, key = connection.execute(
            text("SELECT encrypted_profile, encrypted_key FROM citizens WHERE id = :id"), {"id": body["citizen_id"]}
        ).one()
    assert stored and key
    for value in PROFILE.values():
        for encoded in (value.encode(), value.encode("utf-16-le"), json.dumps(value).encode()):
            assert encoded not in stored
    assert json.loads(api.ctx.cipher.decrypt(stored)) == PROFILE
    # The custodial key is encrypted too.
    private = Account.from_key(api.ctx.cipher.decrypt(key)).key
    assert private not in key and private.hex().encode() not in key


# ---------------------------------------------------------------- reading and searching profiles


@pytest.mark.parametrize("role", ["admin", "minter", "issuer"])
def test_staff_whose_work_needs_profiles_read_a_citizen(api, role):
    _, body = api.custodial_citizen(**PROFILE)
    response = api.client.get(f"/v1/citizens/{body['citizen_id']}", headers=api.staff(role))
    assert response.status_code == 200, response.text
    assert response.json() == {k: v for k, v in body.items() if k != "card"}
    assert "card" not in response.json()
    assert_error(api.client.get("/v1/citizens/no-such-id", headers=api.staff(role)), 404, "citizen_not_found")


@pytest.mark.parametrize("role", ["redeemer", "pauser"])
def test_least_privilege_other_staff_cannot_read_profiles(api, role):
    _, body = api.custodial_citizen(**PROFILE)
    staff = api.staff(role)
    for path in (f"/v1/citizens/{body['citizen_id']}", "/v1/citizens", f"/v1/citizens?q={body['address']}"):
        response = api.client.get(path, headers=staff)
        assert_error(response, 403, "forbidden")
        assert PROFILE["email"] not in response.text


def test_a_citizen_cannot_read_another_citizens_profile(api):
    _, victim = api.custodial_citizen(**PROFILE)
    nosy, _ = api.custodial_citizen(display_name="Nosy")
    assert_error(api.client.get(f"/v1/citizens/{victim['citizen_id']}", headers=nosy), 403, "forbidden")
    assert_error(api.client.get(f"/v1/citizens?q={victim['citizen_id']}", headers=nosy), 403, "forbidden")


def _search(api, q: str | None, **params) -> list[dict]:
    query = {} if q is None else {"q": q}
    response = api.client.get("/v1/citizens", params=query | params, headers=api.staff("minter"))
    assert response.status_code == 200, response.text
    return response.json()


def test_staff_search_citizens_by_address_id_or_name(api):
    _, minji = api.custodial_citizen(**PROFILE)
    _, other = api.custodial_citizen(display_name="Park Ji-hoon")
    wallet_headers, wallet = api.wallet_citizen()
    wallet_id = api.client.get("/v1/citizens/me", headers=wallet_headers).json()["citizen_id"]
    ids = lambda found: [c["citizen_id"] for c in found]  # noqa: E731

    assert ids(_search(api, minji["address"])) == [minji["citizen_id"]]
    assert ids(_search(api, minji["address"].lower())) == [minji["citizen_id"]]
    assert ids(_search(api, minji["address"][2:12])) == [minji["citizen_id"]]
    assert ids(_search(api, wallet.address)) == [wallet_id]
    assert ids(_search(api, minji["citizen_id"])) == [minji["citizen_id"]]
    assert ids(_search(api, "jeong min")) == [minji["citizen_id"]]
    assert ids(_search(api, "JI-HOON")) == [other["citizen_id"]]
    assert sorted(ids(_search(api, "ji"))) == sorted([minji["citizen_id"], other["citizen_id"]])
    assert _search(api, "nobody by that name") == []
    # The answer is the staff view of each profile.
    assert _search(api, "jeong")[0] == {k: v for k, v in minji.items() if k != "card"}
    # No query lists everyone, up to the limit.
    assert len(_search(api, None)) == 3 and len(_search(api, "")) == 3
    assert len(_search(api, None, limit=2)) == 2


def test_search_does_not_match_other_profile_fields(api):
    api.custodial_citizen(**PROFILE)
    assert _search(api, "example.org") == []
    assert _search(api, "5555-0199") == []


def test_search_no_longer_finds_an_erased_name(api):
    headers, body = api.custodial_citizen(**PROFILE)
    assert api.client.delete("/v1/citizens/me/personal-data", headers=headers).status_code == 200
    assert _search(api, "jeong") == []
    assert [c["citizen_id"] for c in _search(api, body["address"])] == [body["citizen_id"]]


@pytest.mark.parametrize(
    "params", [{"q": "x" * 101}, {"limit": 0}, {"limit": 201}, {"limit": "many"}], ids=["long-q", "0", "201", "text"]
)
def test_bad_searches_are_invalid(api, params):
    response = api.client.get("/v1/citizens", params=params, headers=api.staff("minter"))
    error = assert_error(response, 422, "invalid_request")
    assert next(iter(params)) in error["message"]


# ---------------------------------------------------------------- erasure


def _claim_and_settle(api, headers, **overrides) -> dict:
    claim = api.client.post("/v1/claims", json=outing(**overrides), headers=headers)
    assert claim.status_code == 201, claim.text
    api.settle()
    return api.client.get(f"/v1/claims/{claim.json()['claim_id']}", headers=headers).json()


def test_citizen_erases_their_personal_data(api):
    headers, body = api.custodial_citizen(**PROFILE)
    claim = _claim_and_settle(api, headers)
    assert claim["status"] == "awarded"
    held = api.client.post("/v1/claims", json=outing(minutes_ago=600, distance_meters=50_000), headers=headers)
    assert held.json()["status"] == "held"
    assert all(c.evidence_salt and c.photo_hash and c.started_at for c in _claims(api, body["citizen_id"]))

    response = api.client.delete("/v1/citizens/me/personal-data", headers=headers)
    assert response.status_code == 200, response.text
    erased = response.json()
    assert erased["erased"] is True
    assert erased["display_name"] is None and erased["email"] is None and erased["phone"] is None
    row = _citizen_row(api, body["citizen_id"])
    assert row.encrypted_profile is None and row.erased_at is not None
    claims = _claims(api, body["citizen_id"])
    assert len(claims) == 2
    for c in claims:
        assert (c.evidence_salt, c.photo_hash, c.track_hash, c.started_at, c.ended_at) == (None,) * 5
    # The account keeps working; the claims answer without times; the award stays verifiable.
    me = api.client.get("/v1/citizens/me", headers=headers).json()
    assert me["erased"] is True and me["display_name"] is None
    mine = api.client.get("/v1/claims", headers=headers).json()
    assert [(c["started_at"], c["ended_at"]) for c in mine] == [(None, None)] * 2
    assert [c["status"] for c in mine] == ["awarded", "held"]
    verified = api.client.get(f"/v1/verify/citizens/{body['address']}").json()
    assert verified["balance"] == claim["points"] == verified["rebuilt_balance"]
    assert verified["verified"] is True
    assert [e.subject for e in _audit(api, "personal_data_erased")] == [f"citizen:{body['citizen_id']}"]


def test_admin_erases_a_citizens_personal_data(api):
    headers, body = api.custodial_citizen(**PROFILE)
    _claim_and_settle(api, headers)
    _, bystander = api.custodial_citizen(display_name="Bystander")
    for role in ("minter", "issuer", "redeemer", "pauser"):
        response = api.client.delete(f"/v1/citizens/{body['citizen_id']}/personal-data", headers=api.staff(role))
        assert_error(response, 403, "forbidden")
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
    assert_error(response, 404, "citizen_not_found")


def test_a_citizen_cannot_erase_another_citizen(api):
    _, victim = api.custodial_citizen(**PROFILE)
    attacker, _ = api.custodial_citizen(display_name="Attacker")
    response = api.client.delete(f"/v1/citizens/{victim['citizen_id']}/personal-data", headers=attacker)
    assert_error(response, 403, "forbidden")
    assert _citizen_row(api, victim["citizen_id"]).encrypted_profile is not None


# ---------------------------------------------------------------- key export


def test_key_export_hands_over_the_key_once(api):
    headers, body = api.custodial_citizen(**PROFILE)
    claim = _claim_and_settle(api, headers)
    response = _export(api, headers)
    assert response.status_code == 200, response.text
    exported = response.json()
    account = Account.from_key(exported["private_key"])
    assert exported["address"] == account.address == body["address"]

    row = _citizen_row(api, body["citizen_id"])
    assert row.encrypted_key is None and row.custodial is False and row.key_exported_at is not None
    assert_error(_export(api, headers), 409, "not_custodial")
    me = api.client.get("/v1/citizens/me", headers=headers).json()
    assert me["custodial"] is False and me["display_name"] == PROFILE["display_name"]

    # The export is recorded: who, whose, which address (never the key).
    [entry] = _audit(api, "key_exported")
    assert entry.actor == entry.subject == f"citizen:{body['citizen_id']}"
    assert body["address"] in entry.details and exported["private_key"][2:] not in entry.details

    # The citizen's own wallet now signs in as the same citizen, with the points intact.
    session = _sign_in(api, account)
    assert session.status_code == 200, session.text
    assert session.json()["citizen_id"] == body["citizen_id"]
    verified = api.client.get(f"/v1/verify/citizens/{body['address']}").json()
    assert verified["balance"] == claim["points"]


def test_key_export_with_a_wrong_pin_is_refused(api):
    headers, body = api.custodial_citizen(display_name="Careful")
    assert_error(_export(api, headers, "0000"), 401, "wrong_pin")
    row = _citizen_row(api, body["citizen_id"])
    assert row.encrypted_key is not None and row.custodial is True and row.key_exported_at is None
    assert _audit(api, "key_exported") == []
    assert _export(api, headers).status_code == 200


@pytest.mark.parametrize(
    "body",
    [None, {}, {"pin": ""}, {"pin": "12"}, {"pin": 246810}, {"pin": PIN, "confirm": True}],
    ids=["no-body", "no-pin", "empty", "short", "number", "unknown-field"],
)
def test_key_export_without_a_pin_is_invalid(api, body):
    headers, citizen = api.custodial_citizen(display_name="Hasty")
    response = api.client.post("/v1/citizens/me/key-export", json=body, headers=headers)
    assert_error(response, 422, "invalid_request")
    assert _citizen_row(api, citizen["citizen_id"]).encrypted_key is not None
    assert _audit(api, "key_exported") == []


def test_wrong_pins_on_key_export_lock_the_card(api):
    headers, body = api.custodial_citizen(display_name="Guessed")
    for _ in range(5):
        assert_error(_export(api, headers, "1111"), 401, "wrong_pin")
    assert_error(_export(api, headers), 429, "card_locked")
    assert _citizen_row(api, body["citizen_id"]).encrypted_key is not None


def test_key_export_confirms_with_the_current_cards_pin(api):
    _, body = api.custodial_citizen(display_name="Forgetful")
    # A forgotten PIN: staff re-issue the card and the citizen activates it with a new PIN.
    card = api.client.post(f"/v1/citizens/{body['citizen_id']}/card", headers=api.staff("minter")).json()
    session = api.client.post("/v1/auth/card/activate", json={"code": card["code"], "pin": "8642"}).json()
    headers = {"Authorization": f"Bearer {session['token']}"}
    assert_error(_export(api, headers, PIN), 401, "wrong_pin")
    assert _citizen_row(api, body["citizen_id"]).encrypted_key is not None
    assert _export(api, headers, "8642").json()["address"] == body["address"]


def test_after_export_the_city_cannot_redeem_for_the_citizen(api):
    headers, _ = api.custodial_citizen(display_name="Exporter")
    _claim_and_settle(api, headers)
    reward = api.client.post("/v1/rewards", json={"title": "Bus ticket", "cost": 1}, headers=api.staff("admin")).json()
    assert _export(api, headers).status_code == 200
    block = api.ledger.head()
    response = api.client.post("/v1/redemptions", json={"reward_id": reward["reward_id"]}, headers=headers)
    assert_error(response, 422, "consent_required")
    assert api.ledger.head() == block


def test_wallet_citizen_has_no_key_to_export(api):
    headers, _ = api.wallet_citizen()
    assert_error(_export(api, headers), 409, "not_custodial")


# ---------------------------------------------------------------- isolation between citizens


def test_a_citizen_cannot_read_another_citizens_claim(api):
    alice, _ = api.custodial_citizen(display_name="Alice")
    bob, _ = api.wallet_citizen()
    claim = api.client.post("/v1/claims", json=outing(), headers=alice).json()
    assert api.client.get(f"/v1/claims/{claim['claim_id']}", headers=alice).status_code == 200
    missing = api.client.get("/v1/claims/999", headers=bob)
    other = api.client.get(f"/v1/claims/{claim['claim_id']}", headers=bob)
    assert_error(other, 404, "claim_not_found")
    # Someone else's claim answers exactly like a missing one.
    assert_error(missing, 404, "claim_not_found")
    assert other.json()["error"]["message"].replace(str(claim["claim_id"]), "N") == missing.json()["error"][
        "message"
    ].replace("999", "N")
    assert api.client.get("/v1/claims", headers=bob).json() == []


def test_a_citizen_cannot_act_for_another(api):
    alice, alice_body = api.custodial_citizen(**PROFILE)
    bob, bob_body = api.custodial_citizen(display_name="Bob")
    claim = api.client.post("/v1/claims", json=outing(), headers=alice).json()
    # Bob's writes only ever touch Bob.
    body = outing() | {"citizen_id": alice_body["citizen_id"]}
    assert_error(api.client.post("/v1/claims", json=body, headers=bob), 422, "invalid_request")
    review = {"decision": "reject", "reason": "sabotage"}
    assert_error(api.client.post(f"/v1/review/claims/{claim['claim_id']}", json=review, headers=bob), 403, "forbidden")
    appeal = api.client.post(f"/v1/claims/{claim['claim_id']}/appeal", json={"note": "mine now"}, headers=bob)
    assert_error(appeal, 404, "claim_not_found")
    assert (
        api.client.delete("/v1/citizens/me/personal-data", headers=bob).json()["citizen_id"] == bob_body["citizen_id"]
    )
    exported = _export(api, bob).json()
    assert exported["address"] == bob_body["address"]
    # Alice is untouched.
    me = api.client.get("/v1/citizens/me", headers=alice).json()
    assert me["display_name"] == PROFILE["display_name"] and me["custodial"] is True and not me["erased"]
    assert api.client.get(f"/v1/claims/{claim['claim_id']}", headers=alice).json()["status"] == "approved"
    assert all(c.evidence_salt for c in _claims(api, alice_body["citizen_id"]))


def test_one_citizens_pin_does_not_export_anothers_key(api):
    _, alice_body = api.custodial_citizen(display_name="Alice")
    # Bob chose another PIN for his card.
    bob_body = api.client.post("/v1/citizens", json={}, headers=api.staff("minter")).json()
    bob = api.client.post("/v1/auth/card/activate", json={"code": bob_body["card"]["code"], "pin": "8642"}).json()
    bob_headers = {"Authorization": f"Bearer {bob['token']}"}
    assert_error(_export(api, bob_headers, PIN), 401, "wrong_pin")
    assert _export(api, bob_headers, "8642").json()["address"] == bob_body["address"]
    assert _citizen_row(api, alice_body["citizen_id"]).encrypted_key is not None


def test_sessions_belong_to_one_citizen(api):
    alice, alice_body = api.custodial_citizen(display_name="Alice")
    _, bob_body = api.custodial_citizen(display_name="Bob")
    with api.ctx.store.session() as session:
        owners = {s.citizen_id for s in session.scalars(select(CitizenSession))}
    assert owners == {alice_body["citizen_id"], bob_body["citizen_id"]}
    assert api.client.get("/v1/citizens/me", headers=alice).json()["citizen_id"] == alice_body["citizen_id"]
