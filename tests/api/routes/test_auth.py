"""Signing in: Sign-In with Ethereum, sign-in cards for citizens without a wallet, staff tokens,
who may call what, the per-client rate limits and the hardening headers."""

from __future__ import annotations

import re
import threading
import time
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api import ratelimit
from api.store import AuditEntry, Citizen, CitizenCard, CitizenSession, RateHit, SiweNonce, StaffToken
from tests.api.conftest import PIN
from tests.helpers import assert_error, outing


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _nonce(api) -> str:
    response = api.client.post("/v1/auth/siwe/nonce")
    assert response.status_code == 200, response.text
    return response.json()["nonce"]


def _sign(account, message: str) -> str:
    return account.sign_message(encode_defunct(text=message)).signature.to_0x_hex()


def _verify(api, message: str, signature: str):
    return api.client.post("/v1/auth/siwe/verify", json={"message": message, "signature": signature})


def _sign_in(api, account, **overrides):
    message = api.siwe_message(account, _nonce(api), **overrides)
    return _verify(api, message, _sign(account, message))


def _count(api, model, *where) -> int:
    with api.ctx.store.session() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where))


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# ---------------------------------------------------------------- SIWE


def test_nonce_names_what_the_message_must_carry(api):
    body = api.client.post("/v1/auth/siwe/nonce").json()
    # The domain and URI come from public_base_url (http://testserver here), never the request.
    assert body["domain"] == "testserver"
    assert body["uri"] == "http://testserver"
    assert body["chain_id"] == api.ledger.chain_id
    assert len(body["nonce"]) >= 8 and body["nonce"].isalnum()
    assert body["nonce"] != api.client.post("/v1/auth/siwe/nonce").json()["nonce"]


def test_nonce_ignores_the_request_host(api):
    body = api.client.post("/v1/auth/siwe/nonce", headers={"Host": "evil.example"}).json()
    assert body["domain"] == "testserver" and body["uri"] == "http://testserver"


def test_siwe_happy_path_opens_a_session(api):
    account = Account.create()
    response = _sign_in(api, account)
    assert response.status_code == 200, response.text
    session = response.json()
    assert session["address"] == account.address
    assert session["token"].startswith("cit_")
    me = api.client.get("/v1/citizens/me", headers=_bearer(session["token"]))
    assert me.status_code == 200, me.text
    assert me.json() == {
        "citizen_id": session["citizen_id"],
        "address": account.address,
        "custodial": False,
        "display_name": None,
        "email": None,
        "phone": None,
        "erased": False,
        "former_addresses": [],
    }
    # Only the token's hash is stored.
    with api.ctx.store.session() as db:
        hashes = db.scalars(select(CitizenSession.token_hash)).all()
    assert hashes and session["token"] not in hashes


def test_second_sign_in_returns_the_same_citizen(api):
    account = Account.create()
    first = _sign_in(api, account).json()
    second = _sign_in(api, account).json()
    assert first["citizen_id"] == second["citizen_id"]
    assert first["token"] != second["token"]
    assert _count(api, Citizen) == 1
    for token in (first["token"], second["token"]):
        me = api.client.get("/v1/citizens/me", headers=_bearer(token))
        assert me.json()["citizen_id"] == first["citizen_id"]


def test_replayed_nonce_is_refused(api):
    account = Account.create()
    message = api.siwe_message(account, _nonce(api))
    signature = _sign(account, message)
    assert _verify(api, message, signature).status_code == 200
    assert_error(_verify(api, message, signature), 401, "siwe_nonce_used")
    assert _count(api, CitizenSession) == 1


def test_a_nonce_is_single_use_even_under_concurrent_sign_ins(api):
    account = Account.create()
    message = api.siwe_message(account, _nonce(api))
    signature = _sign(account, message)
    statuses: list[int] = []
    barrier = threading.Barrier(6)

    def attempt() -> None:
        client = TestClient(api.client.app)
        barrier.wait()
        statuses.append(
            client.post("/v1/auth/siwe/verify", json={"message": message, "signature": signature}).status_code
        )

    threads = [threading.Thread(target=attempt) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200, 401, 401, 401, 401, 401]
    assert _count(api, CitizenSession) == 1


def test_concurrent_first_sign_ins_by_one_address_make_one_citizen(api):
    account = Account.create()
    messages = [api.siwe_message(account, _nonce(api)) for _ in range(6)]
    answers: list = []
    barrier = threading.Barrier(len(messages))

    def attempt(message: str) -> None:
        client = TestClient(api.client.app, raise_server_exceptions=False)
        barrier.wait()
        answers.append(
            client.post("/v1/auth/siwe/verify", json={"message": message, "signature": _sign(account, message)})
        )

    threads = [threading.Thread(target=attempt, args=(m,)) for m in messages]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [a.status_code for a in answers] == [200] * 6, [a.text for a in answers]
    assert len({a.json()["citizen_id"] for a in answers}) == 1
    assert _count(api, Citizen) == 1
    assert _count(api, CitizenSession) == 6


def test_unknown_nonce_is_refused(api):
    account = Account.create()
    message = api.siwe_message(account, "neverissued1234")
    assert_error(_verify(api, message, _sign(account, message)), 401, "siwe_unknown_nonce")


def test_expired_nonce_is_refused(api):
    account = Account.create()
    nonce = _nonce(api)
    with api.ctx.store.session() as session:
        session.get(SiweNonce, nonce).expires_at = datetime.now(UTC) - timedelta(seconds=1)
        session.commit()
    message = api.siwe_message(account, nonce)
    assert_error(_verify(api, message, _sign(account, message)), 401, "siwe_unknown_nonce")


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"domain": "evil.example"}, "siwe_wrong_domain"),
        ({"domain": "testserver:8001"}, "siwe_wrong_domain"),
        ({"uri": "https://evil.example"}, "siwe_wrong_domain"),
        ({"uri": "http://testserver/other"}, "siwe_wrong_domain"),
        ({"chain_id": 1}, "siwe_wrong_chain"),
        ({"expiration_time": _iso(datetime.now(UTC) - timedelta(seconds=1))}, "siwe_expired"),
        ({"expiration_time": "not a time"}, "siwe_invalid"),
        ({"expiration_time": "2030-01-01T00:00:00"}, "siwe_invalid"),  # no time zone
        ({"issued_at": "yesterday"}, "siwe_invalid"),
    ],
    ids=[
        "wrong-domain",
        "wrong-port",
        "wrong-uri",
        "wrong-uri-path",
        "wrong-chain",
        "expired",
        "bad-expiry",
        "naive-expiry",
        "bad-issued-at",
    ],
)
def test_siwe_message_checks(api, overrides, code):
    account = Account.create()
    response = _sign_in(api, account, **overrides)
    assert_error(response, 401, code)
    assert _count(api, Citizen) == 0
    assert _count(api, CitizenSession) == 0


def test_a_failed_sign_in_does_not_burn_the_nonce(api):
    account = Account.create()
    nonce = _nonce(api)
    wrong = api.siwe_message(account, nonce, domain="evil.example")
    assert_error(_verify(api, wrong, _sign(account, wrong)), 401, "siwe_wrong_domain")
    right = api.siwe_message(account, nonce)
    assert _verify(api, right, _sign(account, right)).status_code == 200


def test_unsupported_version_is_refused(api):
    account = Account.create()
    message = api.siwe_message(account, _nonce(api)).replace("Version: 1", "Version: 2")
    assert_error(_verify(api, message, _sign(account, message)), 401, "siwe_invalid")


def test_not_before_in_the_future_is_refused(api):
    account = Account.create()
    later = _iso(datetime.now(UTC) + timedelta(minutes=2))
    message = api.siwe_message(account, _nonce(api)) + f"\nNot Before: {later}"
    assert_error(_verify(api, message, _sign(account, message)), 401, "siwe_not_yet_valid")


def test_not_before_in_the_past_is_accepted(api):
    account = Account.create()
    earlier = _iso(datetime.now(UTC) - timedelta(minutes=2))
    message = api.siwe_message(account, _nonce(api)) + f"\nNot Before: {earlier}\nRequest ID: 42"
    response = _verify(api, message, _sign(account, message))
    assert response.status_code == 200, response.text


def test_signature_by_another_key_is_refused(api):
    account, other = Account.create(), Account.create()
    message = api.siwe_message(account, _nonce(api))
    assert_error(_verify(api, message, _sign(other, message)), 401, "siwe_bad_signature")
    assert _count(api, Citizen) == 0


def test_signature_over_another_message_is_refused(api):
    account = Account.create()
    nonce = _nonce(api)
    message = api.siwe_message(account, nonce)
    signed = api.siwe_message(account, nonce, domain="evil.example")
    assert_error(_verify(api, message, _sign(account, signed)), 401, "siwe_bad_signature")


@pytest.mark.parametrize(
    "message",
    [
        "hello",
        "",
        "testserver wants you to sign in with your Ethereum account:\n0x1234\n\nURI: http://testserver",
    ],
    ids=["prose", "empty", "truncated"],
)
def test_malformed_message_is_siwe_invalid(api, message):
    account = Account.create()
    assert_error(_verify(api, message, _sign(account, message)), 401, "siwe_invalid")


def test_message_with_garbage_appended_is_siwe_invalid(api):
    account = Account.create()
    message = api.siwe_message(account, _nonce(api)) + "\n\n<script>"
    assert_error(_verify(api, message, _sign(account, message)), 401, "siwe_invalid")


def test_signature_that_recovers_no_key_is_siwe_invalid(api):
    account = Account.create()
    message = api.siwe_message(account, _nonce(api))
    assert_error(_verify(api, message, "0x" + "00" * 65), 401, "siwe_invalid")


@pytest.mark.parametrize(
    "signature",
    ["0x1234", "not hex", "0x" + "zz" * 65, "0x" + "ab" * 66, 12345, None],
    ids=["short", "text", "non-hex", "long", "number", "null"],
)
def test_malformed_signature_is_an_invalid_request(api, signature):
    account = Account.create()
    message = api.siwe_message(account, _nonce(api))
    assert_error(_verify(api, message, signature), 422, "invalid_request")


@pytest.mark.parametrize(
    "body",
    [{}, {"message": "x"}, {"message": "x", "signature": "0x" + "00" * 65, "extra": 1}, [], "x"],
    ids=["empty", "missing-signature", "unknown-field", "list", "string"],
)
def test_malformed_verify_body_is_an_invalid_request(api, body):
    assert_error(api.client.post("/v1/auth/siwe/verify", json=body), 422, "invalid_request")


def test_overlong_message_is_an_invalid_request(api):
    account = Account.create()
    message = api.siwe_message(account, _nonce(api), domain="a" * 2_000)
    assert_error(_verify(api, message, _sign(account, message)), 422, "invalid_request")


def test_sign_out_ends_the_session(api):
    headers, _ = api.wallet_citizen()
    other, _ = api.wallet_citizen()
    assert api.client.post("/v1/auth/sign-out", headers=headers).status_code == 204
    assert_error(api.client.get("/v1/citizens/me", headers=headers), 401, "invalid_token")
    assert api.client.get("/v1/citizens/me", headers=other).status_code == 200


# ---------------------------------------------------------------- sign-in cards


def _enrol(api, staff_headers=None, **profile):
    response = api.client.post("/v1/citizens", json=profile, headers=staff_headers or api.staff("minter"))
    assert response.status_code == 201, response.text
    return response.json()


def _activate(api, code: str, pin: str = PIN):
    return api.client.post("/v1/auth/card/activate", json={"code": code, "pin": pin})


def _card_sign_in(api, code: str, pin: str = PIN):
    return api.client.post("/v1/auth/card", json={"code": code, "pin": pin})


def test_enrolment_returns_a_card_and_no_session(api):
    minter = api.staff("minter")
    body = _enrol(api, minter, display_name="Han Card")
    card = body["card"]
    assert re.fullmatch(r"[A-Z2-7]{4}(-[A-Z2-7]{4}){4}", card["code"]), card
    activate_by = datetime.fromisoformat(card["activate_by"])
    assert timedelta(days=29) < activate_by - datetime.now(UTC) <= timedelta(days=30)
    assert card["activate_url"].startswith("http://testserver/")
    assert card["code"] in card["activate_url"]
    assert not {"token", "session_token", "session"} & set(body)
    assert "cit_" not in str(body)
    assert _count(api, CitizenSession) == 0
    # Only the code's hash is kept.
    with api.ctx.store.session() as session:
        stored = session.scalars(select(CitizenCard.code_hash)).all()
    assert len(stored) == 1 and card["code"] not in stored[0] and card["code"].replace("-", "") not in stored[0]


def test_the_card_activation_link_leads_to_a_page(api):
    body = _enrol(api)
    url = body["card"]["activate_url"].removeprefix("http://testserver")
    response = api.client.get(url)
    assert response.status_code == 200, f"{url}: {response.status_code}"


def test_enrolling_staff_cannot_act_as_the_citizen(api):
    minter = api.staff("minter")
    body = _enrol(api, minter, display_name="Staff Cannot")
    code = body["card"]["code"]
    # The enrolling staff token is refused on the citizen's routes.
    for method, path, json in (
        ("GET", "/v1/citizens/me", None),
        ("POST", "/v1/claims", outing()),
        ("POST", "/v1/citizens/me/key-export", {"pin": PIN}),
    ):
        assert_error(api.client.request(method, path, json=json, headers=minter), 403, "forbidden")
    # The card's code alone opens nothing: it is no bearer token, and sign-in needs the PIN.
    assert_error(api.client.get("/v1/citizens/me", headers=_bearer(code)), 401, "invalid_token")
    assert_error(api.client.post("/v1/auth/card", json={"code": code}), 422, "invalid_request")
    assert_error(_card_sign_in(api, code, "0000"), 403, "card_not_active")
    assert _count(api, CitizenSession) == 0


def test_activating_the_card_with_a_pin_opens_a_session(api):
    body = _enrol(api, display_name="Activator")
    # The code is read off a card: case, spaces and dashes do not matter.
    typed = body["card"]["code"].lower().replace("-", " ")
    response = _activate(api, typed)
    assert response.status_code == 200, response.text
    session = response.json()
    assert session["citizen_id"] == body["citizen_id"] and session["address"] == body["address"]
    assert session["token"].startswith("cit_")
    me = api.client.get("/v1/citizens/me", headers=_bearer(session["token"]))
    assert me.status_code == 200, me.text
    assert me.json() == {k: v for k, v in body.items() if k != "card"}
    assert _count(api, AuditEntry, AuditEntry.action == "card_activated") == 1
    with api.ctx.store.session() as db:
        card = db.scalar(select(CitizenCard))
    assert card.pin_hash and PIN not in card.pin_hash


@pytest.mark.parametrize(
    "pin",
    ["123", "123456789", "12a4", "", "12 34", "١٢٣٤", 1234, None],
    ids=["3-digits", "9-digits", "letter", "empty", "space", "arabic-digits", "number", "null"],
)
def test_activation_needs_a_pin_of_4_to_8_digits(api, pin):
    body = _enrol(api)
    response = api.client.post("/v1/auth/card/activate", json={"code": body["card"]["code"], "pin": pin})
    error = assert_error(response, 422, "invalid_request")
    assert "pin" in error["message"]
    assert _count(api, CitizenSession) == 0
    # The card is still waiting for its PIN.
    assert _activate(api, body["card"]["code"], "4321").status_code == 200


@pytest.mark.parametrize("pin", ["0000", "12345678"], ids=["4-digits", "8-digits"])
def test_activation_accepts_pins_at_the_bounds(api, pin):
    body = _enrol(api)
    assert _activate(api, body["card"]["code"], pin).status_code == 200
    assert _card_sign_in(api, body["card"]["code"], pin).status_code == 200


def test_activating_twice_is_refused(api):
    body = _enrol(api)
    code = body["card"]["code"]
    assert _activate(api, code).status_code == 200
    assert_error(_activate(api, code, "9999"), 403, "card_already_active")
    assert_error(_activate(api, code), 403, "card_already_active")
    # The PIN chosen first stays the PIN.
    assert_error(_card_sign_in(api, code, "9999"), 401, "wrong_pin")
    assert _card_sign_in(api, code).status_code == 200


def test_an_unknown_card_is_refused(api):
    assert_error(_activate(api, "AAAA-BBBB-CCCC-DDDD-EEEE"), 401, "card_invalid")
    assert_error(_card_sign_in(api, "AAAA-BBBB-CCCC-DDDD-EEEE"), 401, "card_invalid")


def test_the_citizen_signs_in_again_next_week_with_code_and_pin(make_api):
    api = make_api(session_ttl_seconds=1)
    body = _enrol(api, display_name="Next Week")
    code = body["card"]["code"]
    first = _activate(api, code).json()
    assert api.client.get("/v1/citizens/me", headers=_bearer(first["token"])).status_code == 200
    time.sleep(1.2)
    assert_error(api.client.get("/v1/citizens/me", headers=_bearer(first["token"])), 401, "session_expired")
    again = _card_sign_in(api, code)
    assert again.status_code == 200, again.text
    assert again.json()["citizen_id"] == body["citizen_id"] and again.json()["token"] != first["token"]
    me = api.client.get("/v1/citizens/me", headers=_bearer(again.json()["token"]))
    assert me.status_code == 200 and me.json()["citizen_id"] == body["citizen_id"]


def test_wrong_pins_are_refused_and_the_fifth_locks_the_card(api):
    body = _enrol(api)
    code = body["card"]["code"]
    assert _activate(api, code).status_code == 200
    for _ in range(4):
        assert_error(_card_sign_in(api, code, "1111"), 401, "wrong_pin")
    assert_error(_card_sign_in(api, code, "1111"), 401, "wrong_pin")  # the fifth: refused, and locks
    locked = _card_sign_in(api, code)  # even the right PIN
    assert_error(locked, 429, "card_locked")
    assert 60 < int(locked.headers["Retry-After"]) <= 15 * 60 + 1
    assert_error(_card_sign_in(api, code, "1111"), 429, "card_locked")
    # Once the lock has passed, the right PIN works again.
    with api.ctx.store.session() as session:
        session.scalar(select(CitizenCard)).locked_until = datetime.now(UTC) - timedelta(seconds=1)
        session.commit()
    assert _card_sign_in(api, code).status_code == 200


def test_a_right_pin_resets_the_count_of_wrong_ones(api):
    body = _enrol(api)
    code = body["card"]["code"]
    assert _activate(api, code).status_code == 200
    for _ in range(2):
        for _ in range(4):
            assert_error(_card_sign_in(api, code, "1111"), 401, "wrong_pin")
        assert _card_sign_in(api, code).status_code == 200


def test_one_locked_card_does_not_lock_another(api):
    alice, bob = _enrol(api), _enrol(api)
    for body in (alice, bob):
        assert _activate(api, body["card"]["code"]).status_code == 200
    for _ in range(5):
        _card_sign_in(api, alice["card"]["code"], "1111")
    assert_error(_card_sign_in(api, alice["card"]["code"]), 429, "card_locked")
    assert _card_sign_in(api, bob["card"]["code"]).status_code == 200


@pytest.mark.parametrize("role", ["minter", "issuer", "admin"])
def test_staff_reissue_a_card_the_old_one_and_its_sessions_stop(api, role):
    headers, body = api.custodial_citizen(display_name="Lost Card")
    old = body["card"]["code"]
    reissued = api.client.post(f"/v1/citizens/{body['citizen_id']}/card", headers=api.staff(role))
    assert reissued.status_code == 201, reissued.text
    new = reissued.json()["code"]
    assert new != old and new in reissued.json()["activate_url"]
    assert_error(api.client.get("/v1/citizens/me", headers=headers), 401, "invalid_token")
    assert_error(_card_sign_in(api, old), 401, "card_invalid")
    assert_error(_activate(api, old), 401, "card_invalid")
    # The new card is activated with a new PIN (a forgotten PIN is replaced this way).
    assert_error(_card_sign_in(api, new), 403, "card_not_active")
    session = _activate(api, new, "5555")
    assert session.status_code == 200, session.text
    assert session.json()["citizen_id"] == body["citizen_id"]
    assert _count(api, AuditEntry, AuditEntry.action == "card_issued") == 2


@pytest.mark.parametrize("role", ["minter", "issuer", "admin"])
def test_staff_revoke_a_card_sign_in_and_sessions_stop(api, role):
    headers, body = api.custodial_citizen(display_name="Revoked")
    code = body["card"]["code"]
    second = _card_sign_in(api, code).json()
    response = api.client.delete(f"/v1/citizens/{body['citizen_id']}/card", headers=api.staff(role))
    assert response.status_code == 204, response.text
    for token_headers in (headers, _bearer(second["token"])):
        assert_error(api.client.get("/v1/citizens/me", headers=token_headers), 401, "invalid_token")
    assert_error(_card_sign_in(api, code), 401, "card_invalid")
    assert_error(_activate(api, code), 401, "card_invalid")
    assert_error(
        api.client.delete(f"/v1/citizens/{body['citizen_id']}/card", headers=api.staff(role)), 404, "card_not_found"
    )
    assert _count(api, AuditEntry, AuditEntry.action == "card_revoked") == 1


def test_revoking_one_citizens_card_leaves_others_signed_in(api):
    alice, alice_body = api.custodial_citizen(display_name="Alice")
    bob, _ = api.custodial_citizen(display_name="Bob")
    assert api.client.delete(f"/v1/citizens/{alice_body['citizen_id']}/card", headers=api.staff()).status_code == 204
    assert api.client.get("/v1/citizens/me", headers=bob).status_code == 200
    assert api.client.get("/v1/citizens/me", headers=alice).status_code == 401


@pytest.mark.parametrize("role", ["redeemer", "pauser"])
def test_other_staff_cannot_reissue_or_revoke_cards(api, role):
    headers, body = api.custodial_citizen()
    staff = api.staff(role)
    assert_error(api.client.post(f"/v1/citizens/{body['citizen_id']}/card", headers=staff), 403, "forbidden")
    assert_error(api.client.delete(f"/v1/citizens/{body['citizen_id']}/card", headers=staff), 403, "forbidden")
    assert api.client.get("/v1/citizens/me", headers=headers).status_code == 200
    assert _card_sign_in(api, body["card"]["code"]).status_code == 200


def test_citizens_cannot_reissue_or_revoke_cards(api):
    victim, victim_body = api.custodial_citizen()
    attacker, _ = api.custodial_citizen()
    for method in ("POST", "DELETE"):
        response = api.client.request(method, f"/v1/citizens/{victim_body['citizen_id']}/card", headers=attacker)
        assert_error(response, 403, "forbidden")
    assert api.client.get("/v1/citizens/me", headers=victim).status_code == 200


def test_card_routes_for_an_unknown_citizen_are_404(api):
    for method in ("POST", "DELETE"):
        response = api.client.request(method, "/v1/citizens/nobody/card", headers=api.staff("minter"))
        assert_error(response, 404, "citizen_not_found")


def test_a_card_not_activated_in_time_is_refused(make_api):
    api = make_api(card_activation_days=0)
    body = _enrol(api)
    assert_error(_activate(api, body["card"]["code"]), 410, "card_activation_expired")
    assert _count(api, CitizenSession) == 0
    # Staff re-issue it; the new card is refused in the same way (no days to activate it).
    code = api.client.post(f"/v1/citizens/{body['citizen_id']}/card", headers=api.staff("minter")).json()["code"]
    assert_error(_activate(api, code), 410, "card_activation_expired")


def test_a_card_activated_in_time_keeps_working_after_the_activation_deadline(api):
    _, body = api.custodial_citizen()
    with api.ctx.store.session() as session:
        session.scalar(select(CitizenCard)).activate_by = datetime.now(UTC) - timedelta(days=1)
        session.commit()
    assert _card_sign_in(api, body["card"]["code"]).status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"code": "AAAA-BBBB-CCCC-DDDD-EEEE"},
        {"pin": PIN},
        {"code": "short", "pin": PIN},
        {"code": "x" * 41, "pin": PIN},
    ],
    ids=["empty", "no-pin", "no-code", "short-code", "long-code"],
)
def test_malformed_card_requests_are_invalid(api, body):
    for path in ("/v1/auth/card", "/v1/auth/card/activate"):
        assert_error(api.client.post(path, json=body), 422, "invalid_request")


# ---------------------------------------------------------------- staff tokens


def test_admin_creates_a_token_shown_once_that_works_and_revokes_it(api):
    admin = api.staff("admin")
    created = api.client.post("/v1/staff-tokens", json={"label": "night reviewer", "role": "minter"}, headers=admin)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["label"] == "night reviewer" and body["role"] == "minter"
    assert body["token"].startswith("staff_")
    minter = _bearer(body["token"])
    assert api.client.get("/v1/review/claims", headers=minter).status_code == 200
    with api.ctx.store.session() as session:
        row = session.get(StaffToken, body["id"])
        assert row.token_hash != body["token"] and body["token"] not in row.token_hash

    revoked = api.client.delete(f"/v1/staff-tokens/{body['id']}", headers=admin)
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["token"] is None  # shown once: never again
    assert revoked.json()["revoked"] is True
    assert_error(api.client.get("/v1/review/claims", headers=minter), 401, "invalid_token")
    assert_error(api.client.post("/v1/awards/flush", headers=minter), 401, "invalid_token")


def test_admin_lists_staff_tokens_without_their_secrets(api):
    admin = api.staff("admin", label="head of service")
    created = [
        api.client.post("/v1/staff-tokens", json={"label": f"clerk {role}", "role": role}, headers=admin).json()
        for role in ("minter", "pauser")
    ]
    api.client.delete(f"/v1/staff-tokens/{created[1]['id']}", headers=admin)
    api.client.get("/v1/review/claims", headers=_bearer(created[0]["token"]))

    response = api.client.get("/v1/staff-tokens", headers=admin)
    assert response.status_code == 200, response.text
    listed = {t["id"]: t for t in response.json()}
    assert {t["label"] for t in listed.values()} >= {"head of service", "clerk minter", "clerk pauser"}
    assert all(t["token"] is None for t in listed.values())
    for made in created:
        assert made["token"] not in response.text
    with api.ctx.store.session() as session:
        hashes = session.scalars(select(StaffToken.token_hash)).all()
    assert not any(h in response.text for h in hashes)
    assert listed[created[0]["id"]]["role"] == "minter" and listed[created[0]["id"]]["last_used_at"] is not None
    assert listed[created[0]["id"]]["revoked"] is False and listed[created[1]["id"]]["revoked"] is True


@pytest.mark.parametrize("role", ["minter", "issuer", "redeemer", "pauser"])
def test_only_admins_list_staff_tokens(api, role):
    assert_error(api.client.get("/v1/staff-tokens", headers=api.staff(role)), 403, "forbidden")


def test_revoking_an_unknown_token_is_404(api):
    assert_error(api.client.delete("/v1/staff-tokens/999", headers=api.staff("admin")), 404, "staff_token_not_found")


@pytest.mark.parametrize("token_id", ["-1", "0", str(2**63), str(2**300), "abc"])
def test_revoking_an_out_of_range_token_id_is_a_client_error(api, token_id):
    response = api.client.delete(f"/v1/staff-tokens/{token_id}", headers=api.staff("admin"))
    assert response.status_code in (404, 422), response.text
    assert response.json()["error"]["code"] in ("staff_token_not_found", "invalid_request")


def test_a_revoked_admin_token_cannot_create_tokens(api):
    admin = api.staff("admin")
    other = api.client.post("/v1/staff-tokens", json={"label": "x", "role": "admin"}, headers=admin).json()
    other_headers = _bearer(other["token"])
    assert api.client.delete(f"/v1/staff-tokens/{other['id']}", headers=admin).status_code == 200
    assert_error(
        api.client.post("/v1/staff-tokens", json={"label": "y", "role": "admin"}, headers=other_headers),
        401,
        "invalid_token",
    )


@pytest.mark.parametrize("role", ["minter", "issuer", "redeemer", "pauser"])
def test_non_admin_staff_cannot_create_or_revoke_tokens(api, role):
    headers = api.staff(role)
    before = _count(api, StaffToken)
    for wanted in ("admin", role):
        response = api.client.post("/v1/staff-tokens", json={"label": "escalate", "role": wanted}, headers=headers)
        assert_error(response, 403, "forbidden")
    assert_error(api.client.delete("/v1/staff-tokens/1", headers=headers), 403, "forbidden")
    assert _count(api, StaffToken) == before
    assert _count(api, StaffToken, StaffToken.revoked_at.is_not(None)) == 0


@pytest.mark.parametrize(
    "body",
    [{"label": "x", "role": "root"}, {"label": "", "role": "minter"}, {"role": "minter"}, {"label": "x"}],
    ids=["unknown-role", "empty-label", "no-label", "no-role"],
)
def test_bad_staff_token_requests(api, body):
    admin = api.staff("admin")
    before = _count(api, StaffToken)
    assert_error(api.client.post("/v1/staff-tokens", json=body, headers=admin), 422, "invalid_request")
    assert _count(api, StaffToken) == before


ADDRESS = "0x" + "11" * 20
STAFF_ROUTES = [
    ("post", "/v1/staff-tokens", {"label": "x", "role": "admin"}),
    ("get", "/v1/staff-tokens", None),
    ("delete", "/v1/staff-tokens/1", None),
    ("post", "/v1/events", {"title": "t", "venue": "physical", "claim_start": 0, "claim_end": 2**40}),
    ("post", "/v1/events/1/badges", {"attendees": [ADDRESS]}),
    ("post", f"/v1/events/1/badges/{ADDRESS}/revoke", {"reason_code": 1}),
    ("post", f"/v1/events/1/badges/{ADDRESS}/reissue", {"reason_code": 1}),
    ("post", "/v1/events/1/claim-codes", None),
    ("post", "/v1/awards/flush", None),
    ("post", "/v1/awards", {"citizen": ADDRESS, "points": 10, "reference": "r"}),
    ("get", "/v1/review/claims", None),
    ("post", "/v1/review/claims/1", {"decision": "approve", "reason": "ok"}),
    ("post", "/v1/citizens", {"display_name": "x"}),
    ("get", "/v1/citizens?q=a", None),
    ("get", "/v1/citizens/some-id", None),
    ("delete", "/v1/citizens/some-id/personal-data", None),
    ("post", "/v1/citizens/some-id/card", None),
    ("delete", "/v1/citizens/some-id/card", None),
    ("get", f"/v1/citizens/some-id/rebinding?new_address={ADDRESS}", None),
    ("post", "/v1/rewards", {"title": "t", "cost": 1}),
    ("patch", "/v1/rewards/1", {"active": False}),
    ("post", "/v1/activities/1/reverse", {"reason_code": 1}),
    ("get", "/v1/admin/roles", None),
    ("post", "/v1/admin/roles", {"role": "minter", "address": ADDRESS, "grant": True}),
    ("post", "/v1/admin/activity-kinds", {"kind": 1, "label": "volunteering", "enabled": True}),
    ("get", "/v1/admin/limits", None),
    ("post", "/v1/admin/pause", None),
    ("post", "/v1/admin/unpause", None),
]
CITIZEN_ROUTES = [
    ("get", "/v1/citizens/me", None),
    ("delete", "/v1/citizens/me/personal-data", None),
    ("post", "/v1/citizens/me/key-export", {"pin": PIN}),
    ("post", "/v1/claims", None),
    ("get", "/v1/claims", None),
    ("get", "/v1/claims/1", None),
    ("post", "/v1/claims/1/appeal", {"note": "please look again"}),
    ("post", "/v1/badges/claim", {"code": "x" * 20}),
    ("get", "/v1/redemptions/consent?reward_id=1", None),
    ("post", "/v1/redemptions", {"reward_id": 1}),
]


def _call(api, method: str, path: str, body, headers):
    kwargs = {"headers": headers}
    if path == "/v1/claims" and method == "post":
        body = outing()
    if body is not None:
        kwargs["json"] = body
    return api.client.request(method.upper(), path, **kwargs)


def _ids(routes):
    return [f"{m} {p}" for m, p, _ in routes]


@pytest.mark.parametrize(("method", "path", "body"), STAFF_ROUTES, ids=_ids(STAFF_ROUTES))
def test_citizen_token_on_staff_routes_is_forbidden(api, method, path, body):
    custodial, _ = api.custodial_citizen(display_name="Curious")
    wallet, _ = api.wallet_citizen()
    block = api.ledger.head()
    for headers in (custodial, wallet):
        assert_error(_call(api, method, path, body, headers), 403, "forbidden")
    assert api.ledger.head() == block


def _mismatches(api, routes, headers_list, status: int, code: str) -> list[str]:
    """Every (route, headers) whose answer is not ``status`` with ``code``: one test covers every
    route."""
    wrong = []
    for method, path, body in routes:
        for headers in headers_list:
            response = _call(api, method, path, body, headers)
            got = (response.status_code, response.json().get("error", {}).get("code"))
            if got != (status, code):
                wrong.append(f"{method} {path} {headers}: {got}")
            elif status == 401 and response.headers.get("WWW-Authenticate") != "Bearer":
                wrong.append(f"{method} {path}: no WWW-Authenticate")
    return wrong


def test_no_authorization_is_401_everywhere(api):
    headers = [{}, {"Authorization": "Basic dXNlcjpwYXNz"}, {"Authorization": "Bearer"}, {"Authorization": "Bearer "}]
    assert _mismatches(api, STAFF_ROUTES + CITIZEN_ROUTES, headers, 401, "not_authenticated") == []


def test_unknown_token_is_401_everywhere(api):
    headers = [{"Authorization": "Bearer not-a-real-token"}, {"Authorization": "bearer nope"}]
    assert _mismatches(api, STAFF_ROUTES + CITIZEN_ROUTES, headers, 401, "invalid_token") == []


@pytest.mark.parametrize("role", ["admin", "minter", "issuer", "redeemer", "pauser"])
def test_staff_token_on_citizen_routes_is_forbidden(api, role):
    block = api.ledger.head()
    assert _mismatches(api, CITIZEN_ROUTES, [api.staff(role)], 403, "forbidden") == []
    assert api.ledger.head() == block


def test_expired_citizen_session_is_401(api):
    headers, _ = api.custodial_citizen(display_name="Late")
    with api.ctx.store.session() as session:
        for row in session.scalars(select(CitizenSession)):
            row.expires_at = datetime.now(UTC) - timedelta(seconds=1)
        session.commit()
    assert_error(api.client.get("/v1/citizens/me", headers=headers), 401, "session_expired")


# ---------------------------------------------------------------- rate limits


@pytest.fixture
def frozen_minute(monkeypatch):
    """The rate limiter's clock, stopped half-way through a minute (moved by hand). The minute is
    one of the next ten whose number ends in 0: not in the past, where housekeeping forgets counts."""
    minute = (int(time.time() // 60) // 10 + 1) * 10
    now = [minute * 60 + 30.0]
    monkeypatch.setattr(ratelimit, "time", SimpleNamespace(time=lambda: now[0]))
    return now


def test_sign_in_is_rate_limited(make_api, frozen_minute):
    api = make_api(rate_limit_per_minute=3)
    for _ in range(3):
        assert api.client.post("/v1/auth/siwe/nonce").status_code == 200
    response = api.client.post("/v1/auth/siwe/nonce")
    assert_error(response, 429, "rate_limited")
    assert response.headers["Retry-After"] == "31"
    # The sign-in bucket covers verification and the card routes too.
    assert_error(api.client.post("/v1/auth/siwe/verify", json={}), 429, "rate_limited")
    assert_error(_card_sign_in(api, "AAAA-BBBB-CCCC-DDDD-EEEE"), 429, "rate_limited")
    assert_error(_activate(api, "AAAA-BBBB-CCCC-DDDD-EEEE"), 429, "rate_limited")
    assert _count(api, SiweNonce) == 3


def test_guessing_card_pins_is_rate_limited_across_cards(make_api, frozen_minute):
    api = make_api(rate_limit_per_minute=4)
    codes = [_enrol(api)["card"]["code"] for _ in range(2)]
    for code in codes:
        assert _activate(api, code).status_code == 200
    for code in codes:
        assert_error(_card_sign_in(api, code, "1111"), 401, "wrong_pin")
    assert_error(_card_sign_in(api, codes[0], "2222"), 429, "rate_limited")


def test_claims_are_rate_limited(make_api, frozen_minute):
    api = make_api(rate_limit_per_minute=3)
    headers, _ = api.custodial_citizen(display_name="Busy")
    for minutes in (600, 400, 200):
        response = api.client.post("/v1/claims", json=outing(minutes_ago=minutes), headers=headers)
        assert response.status_code == 201, response.text
    response = api.client.post("/v1/claims", json=outing(minutes_ago=100), headers=headers)
    assert_error(response, 429, "rate_limited")
    assert 1 <= int(response.headers["Retry-After"]) <= 61
    assert len(api.client.get("/v1/claims", headers=headers).json()) == 3
    # Sign-in has its own bucket (the card activation above used one of its three).
    assert api.client.post("/v1/auth/siwe/nonce").status_code == 200


def test_rate_limit_window_is_the_minute(make_api, frozen_minute):
    api = make_api(rate_limit_per_minute=2)
    assert api.client.post("/v1/auth/siwe/nonce").status_code == 200
    frozen_minute[0] += 20
    assert api.client.post("/v1/auth/siwe/nonce").status_code == 200
    response = api.client.post("/v1/auth/siwe/nonce")
    assert_error(response, 429, "rate_limited")
    assert response.headers["Retry-After"] == "11"  # the minute ends in 10 s
    frozen_minute[0] += 10  # the next minute
    assert api.client.post("/v1/auth/siwe/nonce").status_code == 200
    assert api.client.post("/v1/auth/siwe/nonce").status_code == 200
    assert_error(api.client.post("/v1/auth/siwe/nonce"), 429, "rate_limited")


def test_rate_limiter_forgets_idle_clients(frozen_minute):
    limiter = ratelimit.RateLimiter(None)
    for n in range(1_000):
        limiter.check(f"10.0.{n // 256}.{n % 256}", "public", 5)
    assert len(limiter._local) == 1_000
    frozen_minute[0] += 61
    limiter.check("10.9.9.9", "public", 5)
    assert [k[0] for k in limiter._local] == ["10.9.9.9"]


def test_shared_rate_limit_rows_are_swept(api, frozen_minute):
    frozen_minute[0] -= 29  # the minute's number ends in 0: the sweep runs
    limiter = ratelimit.RateLimiter(api.ctx.store)
    for n in range(50):
        limiter.check(f"10.0.0.{n}", "claims", 5)
    assert _count(api, RateHit) == 50
    frozen_minute[0] += 600
    limiter.check("10.9.9.9", "claims", 5)
    assert _count(api, RateHit) == 1


def test_rate_limits_are_per_client(make_api, frozen_minute):
    api = make_api(rate_limit_per_minute=1)
    assert api.client.post("/v1/auth/siwe/nonce").status_code == 200
    assert_error(api.client.post("/v1/auth/siwe/nonce"), 429, "rate_limited")
    other = TestClient(api.client.app, client=("203.0.113.7", 50000))
    assert other.post("/v1/auth/siwe/nonce").status_code == 200


def test_rotating_forwarded_for_from_an_untrusted_peer_does_not_dodge_the_limit(make_api, frozen_minute):
    api = make_api(rate_limit_per_minute=5)
    for n in range(5):
        response = api.client.post("/v1/auth/siwe/nonce", headers={"X-Forwarded-For": f"198.51.100.{n}"})
        assert response.status_code == 200, response.text
    response = api.client.post("/v1/auth/siwe/nonce", headers={"X-Forwarded-For": "198.51.100.99"})
    assert_error(response, 429, "rate_limited")
    assert_error(api.client.post("/v1/auth/siwe/nonce"), 429, "rate_limited")


def test_a_trusted_proxys_forwarded_address_is_the_client(make_api, frozen_minute):
    api = make_api(rate_limit_per_minute=5, trusted_proxies="10.0.0.1, testclient")
    alice = {"X-Forwarded-For": "198.51.100.1"}
    for _ in range(5):
        assert api.client.post("/v1/auth/siwe/nonce", headers=alice).status_code == 200
    assert_error(api.client.post("/v1/auth/siwe/nonce", headers=alice), 429, "rate_limited")
    # What the client wrote before the proxy appended the real address does not count.
    spoofed = {"X-Forwarded-For": "203.0.113.50, 198.51.100.1"}
    assert_error(api.client.post("/v1/auth/siwe/nonce", headers=spoofed), 429, "rate_limited")
    # Through a chain of trusted proxies, the last untrusted hop is the client.
    chained = {"X-Forwarded-For": "198.51.100.1, 10.0.0.1"}
    assert_error(api.client.post("/v1/auth/siwe/nonce", headers=chained), 429, "rate_limited")
    # Another client behind the same proxy has a limit of its own.
    assert api.client.post("/v1/auth/siwe/nonce", headers={"X-Forwarded-For": "198.51.100.2"}).status_code == 200
    with api.ctx.store.session() as session:
        clients = set(session.scalars(select(RateHit.client)))
    assert clients == {"198.51.100.1", "198.51.100.2"}


# ---------------------------------------------------------------- hardening headers

_LOCAL_SOURCES = {"'self'", "'none'", "'unsafe-inline'", "data:", "blob:"}


@pytest.mark.parametrize("path", ["/", "/docs", "/v1/health", "/v1/no-such-route"])
def test_answers_carry_hardening_headers(api, path):
    response = api.client.get(path)
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    policy = response.headers["Content-Security-Policy"]
    directives = {d.split()[0]: d.split()[1:] for d in policy.split(";") if d.strip()}
    assert directives["default-src"] == ["'self'"]
    assert directives["frame-ancestors"] == ["'none'"]
    others = {source for sources in directives.values() for source in sources} - _LOCAL_SOURCES
    assert others == set(), policy


def test_the_api_docs_load_nothing_from_another_host(api):
    page = api.client.get("/docs")
    assert page.status_code == 200
    sources = re.findall(r"""(?:src|href)=["']([^"']+)["']""", page.text)
    assert sources and all(s.startswith("/") and not s.startswith("//") for s in sources), sources
    for source in sources:
        assert api.client.get(source).status_code == 200, source
