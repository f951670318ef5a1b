"""Idempotency-Key on writes: a retry answers the first result and never writes on-chain twice."""

from __future__ import annotations

import hashlib
import json

from eth_account import Account
from eth_account.messages import encode_defunct
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.store import IdempotencyRecord
from tests.api.conftest import outing


def _code(response) -> str:
    return response.json()["error"]["code"]


def _event_body(api, title: str = "Beach clean-up") -> dict:
    now = api.ledger.chain_time()
    return {"title": title, "venue": "physical", "claim_start": now, "claim_end": now + 3_600, "uri": "ipfs://e"}


def _with_key(headers: dict[str, str], key: str) -> dict[str, str]:
    return {**headers, "Idempotency-Key": key}


def test_same_key_and_body_replays_the_event_without_a_second_one_on_chain(api):
    issuer = api.staff("issuer")
    body = _event_body(api)
    first = api.client.post("/v1/events", json=body, headers=_with_key(issuer, "event-1"))
    assert first.status_code == 201, first.text
    assert "Idempotent-Replayed" not in first.headers
    assert api.ledger.event_count() == 1

    again = api.client.post("/v1/events", json=body, headers=_with_key(issuer, "event-1"))
    assert again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.headers["content-type"].startswith("application/json")
    assert api.ledger.event_count() == 1
    assert len(api.client.get("/v1/events").json()) == 1


def test_same_key_with_another_body_or_route_is_409(api):
    issuer = api.staff("issuer")
    body = _event_body(api)
    assert api.client.post("/v1/events", json=body, headers=_with_key(issuer, "k")).status_code == 201
    changed = api.client.post("/v1/events", json={**body, "title": "Another"}, headers=_with_key(issuer, "k"))
    assert (changed.status_code, _code(changed)) == (409, "idempotency_key_reused")
    elsewhere = api.client.post("/v1/events/1/claim-codes", headers=_with_key(issuer, "k"))
    assert (elsewhere.status_code, _code(elsewhere)) == (409, "idempotency_key_reused")
    assert api.ledger.event_count() == 1


def test_keys_belong_to_their_caller(api):
    body = _event_body(api)
    first = api.client.post("/v1/events", json=body, headers=_with_key(api.staff("issuer"), "shared"))
    second = api.client.post("/v1/events", json=body, headers=_with_key(api.staff("issuer"), "shared"))
    assert first.status_code == second.status_code == 201
    assert "Idempotent-Replayed" not in second.headers
    assert first.json()["event_id"] != second.json()["event_id"]
    assert api.ledger.event_count() == 2


def test_without_a_key_each_request_writes(api):
    issuer = api.staff("issuer")
    body = _event_body(api)
    assert api.client.post("/v1/events", json=body, headers=issuer).status_code == 201
    assert api.client.post("/v1/events", json=body, headers=issuer).status_code == 201
    assert api.ledger.event_count() == 2


def test_malformed_key_is_422(api):
    response = api.client.post("/v1/events", json=_event_body(api), headers=_with_key(api.staff("issuer"), "x" * 201))
    assert (response.status_code, _code(response)) == (422, "invalid_idempotency_key")
    response = api.client.post("/v1/events", json=_event_body(api), headers=_with_key(api.staff("issuer"), ""))
    assert (response.status_code, _code(response)) == (422, "invalid_idempotency_key")
    assert api.ledger.event_count() == 0


def test_a_request_still_in_progress_is_409(api):
    issuer = api.staff("issuer")
    principal = hashlib.sha256(issuer["Authorization"].encode()).hexdigest()[:32]
    body = json.dumps(_event_body(api)).encode()
    fingerprint = hashlib.sha256(b"POST /v1/events\n" + body).hexdigest()
    with api.state.store.session() as session:  # as the first of two concurrent requests leaves it
        session.add(IdempotencyRecord(principal=principal, key="busy", request_hash=fingerprint))
        session.commit()
    response = api.client.post(
        "/v1/events", content=body, headers={**_with_key(issuer, "busy"), "Content-Type": "application/json"}
    )
    assert (response.status_code, _code(response)) == (409, "idempotency_key_in_use")
    assert api.ledger.event_count() == 0


def test_claim_retried_with_its_key_is_recorded_and_awarded_once(api):
    headers, citizen = api.custodial_citizen()
    body = outing()
    first = api.client.post("/v1/claims", json=body, headers=_with_key(headers, "claim-1"))
    again = api.client.post("/v1/claims", json=body, headers=_with_key(headers, "claim-1"))
    assert first.status_code == again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert len(api.client.get("/v1/claims", headers=headers).json()) == 1
    # Without the key, the same outing with the same evidence is still the same claim, not a second.
    third = api.client.post("/v1/claims", json=body, headers=headers)
    assert third.status_code == 201 and third.json()["activity_id"] == first.json()["activity_id"]
    assert len(api.client.get("/v1/claims", headers=headers).json()) == 1
    # The same evidence with another outing is refused.
    other = api.client.post("/v1/claims", json=body | {"steps": body["steps"] + 1}, headers=headers)
    assert (other.status_code, _code(other)) == (409, "evidence_already_used")

    assert api.client.post("/v1/awards/flush", headers=api.staff("minter")).json()["awarded"] == 1
    assert api.ledger.balance_of(citizen["address"]) == first.json()["points"]
    assert len(api.ledger.activities_of(citizen["address"])) == 1


def test_flush_retried_with_its_key_sends_one_transaction(api):
    citizen_headers, citizen = api.custodial_citizen()
    claim = api.client.post("/v1/claims", json=outing(), headers=citizen_headers).json()
    minter = _with_key(api.staff("minter"), "flush-1")
    first = api.client.post("/v1/awards/flush", headers=minter)
    block = api.ledger.w3.eth.block_number
    again = api.client.post("/v1/awards/flush", headers=minter)
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert first.json()["awarded"] == 1
    assert again.headers["Idempotent-Replayed"] == "true"
    assert api.ledger.w3.eth.block_number == block
    assert api.ledger.balance_of(citizen["address"]) == claim["points"]


def test_redemption_retried_with_its_key_spends_once(api):
    headers, citizen = api.custodial_citizen()
    api.client.post("/v1/claims", json=outing(), headers=headers)
    api.client.post("/v1/awards/flush", headers=api.staff("minter"))
    reward = api.client.post("/v1/rewards", json={"title": "Tumbler", "cost": 30}, headers=api.staff()).json()
    body = {"reward_id": reward["reward_id"]}

    first = api.client.post("/v1/redemptions", json=body, headers=_with_key(headers, "redeem-1"))
    again = api.client.post("/v1/redemptions", json=body, headers=_with_key(headers, "redeem-1"))
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert api.ledger.balance_of(citizen["address"]) == 75 - 30
    assert len(api.ledger.redemptions_of(citizen["address"])) == 1
    # A new key is a new redemption.
    third = api.client.post("/v1/redemptions", json=body, headers=_with_key(headers, "redeem-2"))
    assert third.status_code == 201
    assert api.ledger.balance_of(citizen["address"]) == 75 - 60


def test_client_errors_are_replayed_but_server_errors_may_be_retried(api):
    headers, citizen = api.custodial_citizen()
    future = outing(minutes_ago=-60)
    refused = api.client.post("/v1/claims", json=future, headers=_with_key(headers, "bad"))
    replayed = api.client.post("/v1/claims", json=future, headers=_with_key(headers, "bad"))
    assert refused.status_code == replayed.status_code == 422
    assert replayed.headers["Idempotent-Replayed"] == "true"

    api.client.post("/v1/claims", json=outing(), headers=headers)
    assert api.client.post("/v1/admin/pause", headers=api.staff("pauser")).status_code == 200
    minter = _with_key(api.staff("minter"), "flush-while-paused")
    paused = api.client.post("/v1/awards/flush", headers=minter)
    assert paused.status_code == 503
    assert api.client.post("/v1/admin/unpause", headers=api.staff("pauser")).status_code == 200
    retried = api.client.post("/v1/awards/flush", headers=minter)
    assert retried.status_code == 200, retried.text
    assert "Idempotent-Replayed" not in retried.headers
    assert retried.json()["awarded"] == 1
    assert api.ledger.balance_of(citizen["address"]) == 75


def test_an_unexpected_failure_does_not_pin_the_key(api, monkeypatch):
    """A request that crashes (500) must leave its key free for the retry, not 'in progress' forever."""
    client = TestClient(api.client.app, raise_server_exceptions=False)
    issuer = _with_key(api.staff("issuer"), "crash-then-retry")
    body = _event_body(api)
    real = api.ledger.create_event
    calls = []

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("the process lost its connection mid-request")
        return real(*args, **kwargs)

    monkeypatch.setattr(api.ledger, "create_event", flaky)
    crashed = client.post("/v1/events", json=body, headers=issuer)
    assert (crashed.status_code, _code(crashed)) == (500, "internal_error")
    retried = client.post("/v1/events", json=body, headers=issuer)
    assert retried.status_code == 201, retried.text
    assert api.ledger.event_count() == 1
    with api.state.store.session() as session:
        (record,) = session.scalars(select(IdempotencyRecord).where(IdempotencyRecord.key == "crash-then-retry"))
        assert record.status_code == 201


def test_reads_ignore_the_key(api):
    headers, _ = api.custodial_citizen()
    for _ in range(2):
        response = api.client.get("/v1/claims", headers=_with_key(headers, "read"))
        assert response.status_code == 200
        assert "Idempotent-Replayed" not in response.headers


# ---------------------------------------------------------------- responses that carry secrets


def _kept_bodies(api) -> str:
    with api.state.store.session() as session:
        return "\n".join(r.response_body or "" for r in session.scalars(select(IdempotencyRecord)))


def test_a_private_key_export_is_never_kept_in_the_idempotency_store(api):
    headers, _ = api.custodial_citizen()
    exported = api.client.post("/v1/citizens/me/key-export", headers=_with_key(headers, "export"))
    assert exported.status_code == 200, exported.text
    private_key = exported.json()["private_key"]
    assert private_key[2:] not in _kept_bodies(api)


def test_tokens_and_personal_data_are_never_kept_in_the_idempotency_store(api):
    created = api.client.post(
        "/v1/citizens",
        json={"display_name": "Lee Minji", "email": "minji@example.org"},
        headers=_with_key(api.staff("minter"), "enrol"),
    )
    assert created.status_code == 201, created.text
    staff = api.client.post(
        "/v1/staff-tokens", json={"label": "night shift", "role": "minter"}, headers=_with_key(api.staff(), "staff")
    )
    assert staff.status_code == 201, staff.text
    kept = _kept_bodies(api)
    for secret in ("minji@example.org", "Lee Minji", created.json()["session_token"], staff.json()["token"]):
        assert secret not in kept


def test_a_used_sign_in_message_cannot_be_replayed_through_the_key(api):
    """Sign-in is anonymous: every caller shares the empty principal, so a replay through the key
    would hand anyone holding the signed message the session token, past the single-use nonce."""
    account = Account.create()
    nonce = api.client.post("/v1/auth/siwe/nonce").json()["nonce"]
    message = api.siwe_message(account, nonce)
    signature = account.sign_message(encode_defunct(text=message)).signature.to_0x_hex()
    body = {"message": message, "signature": signature}
    signed_in = api.client.post("/v1/auth/siwe/verify", json=body, headers={"Idempotency-Key": "login"})
    assert signed_in.status_code == 200, signed_in.text
    replayed = api.client.post("/v1/auth/siwe/verify", json=body, headers={"Idempotency-Key": "login"})
    assert replayed.status_code == 401
    assert signed_in.json()["token"] not in replayed.text
