"""Idempotency-Key on writes: a retry answers the first result and never writes on-chain twice,
even when the first answer was lost (the chain work is an intent found by the same key)."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta

from eth_account import Account
from eth_account.messages import encode_defunct
from fastapi.testclient import TestClient
from sqlalchemy import delete, select

from api.services.context import Leases
from api.store import IdempotencyRecord, Intent
from ledger import PointsRedeemed
from tests.api.conftest import PIN
from tests.helpers import assert_error, outing


def _event_body(title: str = "Beach clean-up") -> dict:
    now = datetime.now(UTC)
    return {
        "title": title,
        "venue": "physical",
        "claim_start": now.isoformat(),
        "claim_end": (now + timedelta(hours=1)).isoformat(),
    }


def _with_key(headers: dict[str, str], key: str) -> dict[str, str]:
    return {**headers, "Idempotency-Key": key}


def _forget_answers(api) -> None:
    """As if the first answer was never stored (the process died before it could answer)."""
    with api.ctx.store.session() as session:
        session.execute(delete(IdempotencyRecord))
        session.commit()


def _redemptions_of(api, address: str) -> list[PointsRedeemed]:
    return [r for r in api.ledger.history(address) if isinstance(r, PointsRedeemed)]


def test_idempotency_same_key_and_body_replays_the_event_without_a_second_one_on_chain(api):
    before = api.ledger.event_count()
    issuer = api.staff("issuer")
    body = _event_body()
    first = api.client.post("/v1/events", json=body, headers=_with_key(issuer, "event-1"))
    assert first.status_code == 201, first.text
    assert "Idempotent-Replayed" not in first.headers
    assert api.ledger.event_count() == before + 1

    again = api.client.post("/v1/events", json=body, headers=_with_key(issuer, "event-1"))
    assert again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.headers["content-type"].startswith("application/json")
    assert api.ledger.event_count() == before + 1
    assert len(api.client.get("/v1/events").json()) == 1


def test_idempotency_same_key_with_another_body_or_route_is_409(api):
    before = api.ledger.event_count()
    issuer = api.staff("issuer")
    body = _event_body()
    created = api.client.post("/v1/events", json=body, headers=_with_key(issuer, "k"))
    assert created.status_code == 201
    changed = api.client.post("/v1/events", json={**body, "title": "Another"}, headers=_with_key(issuer, "k"))
    assert_error(changed, 409, "idempotency_key_reused")
    elsewhere = api.client.post(f"/v1/events/{created.json()['event_id']}/claim-codes", headers=_with_key(issuer, "k"))
    assert_error(elsewhere, 409, "idempotency_key_reused")
    assert api.ledger.event_count() == before + 1


def test_idempotency_keys_belong_to_their_caller(api):
    before = api.ledger.event_count()
    body = _event_body()
    first = api.client.post("/v1/events", json=body, headers=_with_key(api.staff("issuer"), "shared"))
    second = api.client.post("/v1/events", json=body, headers=_with_key(api.staff("issuer"), "shared"))
    assert first.status_code == second.status_code == 201
    assert "Idempotent-Replayed" not in second.headers
    assert first.json()["event_id"] != second.json()["event_id"]
    assert api.ledger.event_count() == before + 2


def test_idempotency_without_a_key_each_request_writes(api):
    before = api.ledger.event_count()
    issuer = api.staff("issuer")
    body = _event_body()
    assert api.client.post("/v1/events", json=body, headers=issuer).status_code == 201
    assert api.client.post("/v1/events", json=body, headers=issuer).status_code == 201
    assert api.ledger.event_count() == before + 2


def test_idempotency_malformed_key_is_422(api):
    before = api.ledger.event_count()
    for key in ("x" * 201, ""):
        response = api.client.post("/v1/events", json=_event_body(), headers=_with_key(api.staff("issuer"), key))
        assert_error(response, 422, "invalid_idempotency_key")
    assert api.ledger.event_count() == before


def _record_in_progress(api, headers: dict[str, str], key: str, body: bytes, owner: str) -> None:
    principal = hashlib.sha256(headers["Authorization"].encode()).hexdigest()[:32]
    fingerprint = hashlib.sha256(b"POST /v1/events\n" + body).hexdigest()
    with api.ctx.store.session() as session:  # as the first of two concurrent requests leaves it
        session.add(IdempotencyRecord(principal=principal, key=key, request_hash=fingerprint, owner=owner))
        session.commit()


def test_idempotency_request_still_in_progress_in_a_live_process_is_409(api):
    before = api.ledger.event_count()
    issuer = api.staff("issuer")
    body = json.dumps(_event_body()).encode()
    Leases(api.ctx.store, "other-process").hold("process:other-process")  # that process is alive
    _record_in_progress(api, issuer, "busy", body, owner="other-process")
    response = api.client.post(
        "/v1/events", content=body, headers={**_with_key(issuer, "busy"), "Content-Type": "application/json"}
    )
    assert_error(response, 409, "idempotency_key_in_use")
    assert api.ledger.event_count() == before


def test_idempotency_request_left_by_a_dead_process_runs_again(api):
    before = api.ledger.event_count()
    issuer = api.staff("issuer")
    body = json.dumps(_event_body()).encode()
    _record_in_progress(api, issuer, "orphan", body, owner="a-process-that-died")
    response = api.client.post(
        "/v1/events", content=body, headers={**_with_key(issuer, "orphan"), "Content-Type": "application/json"}
    )
    assert response.status_code == 201, response.text
    assert api.ledger.event_count() == before + 1


def test_idempotency_claim_retried_with_its_key_is_recorded_and_awarded_once(api):
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
    assert third.status_code == 201 and third.json()["claim_id"] == first.json()["claim_id"]
    assert len(api.client.get("/v1/claims", headers=headers).json()) == 1
    # The same evidence with another outing is refused.
    other = api.client.post("/v1/claims", json=body | {"steps": body["steps"] + 1}, headers=headers)
    assert_error(other, 409, "evidence_already_used")

    assert api.settle()["awarded"] == 1
    assert api.ledger.balance_of(citizen["address"]) == first.json()["points"]
    assert (
        api.ledger.last_activity_id()
        == api.client.get(f"/v1/claims/{first.json()['claim_id']}", headers=headers).json()["activity_id"]
    )


def test_idempotency_flush_retried_with_its_key_sends_one_transaction(api):
    citizen_headers, citizen = api.custodial_citizen()
    claim = api.client.post("/v1/claims", json=outing(), headers=citizen_headers).json()
    minter = _with_key(api.staff("minter"), "flush-1")
    first = api.client.post("/v1/awards/flush", headers=minter)
    block = api.ledger.head()
    again = api.client.post("/v1/awards/flush", headers=minter)
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert first.json()["awarded"] == 1
    assert again.headers["Idempotent-Replayed"] == "true"
    assert api.ledger.head() == block
    assert api.ledger.balance_of(citizen["address"]) == claim["points"]


def test_idempotency_redemption_retried_with_its_key_spends_once(api):
    headers, citizen = api.custodial_citizen()
    api.award(headers)
    reward = api.client.post("/v1/rewards", json={"title": "Tumbler", "cost": 30}, headers=api.staff()).json()
    body = {"reward_id": reward["reward_id"]}

    first = api.client.post("/v1/redemptions", json=body, headers=_with_key(headers, "redeem-1"))
    again = api.client.post("/v1/redemptions", json=body, headers=_with_key(headers, "redeem-1"))
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert api.ledger.balance_of(citizen["address"]) == 75 - 30
    # The answer was lost: the retry runs again, finds the redemption its intent made, spends nothing.
    _forget_answers(api)
    lost = api.client.post("/v1/redemptions", json=body, headers=_with_key(headers, "redeem-1"))
    assert lost.status_code == 201, lost.text
    assert "Idempotent-Replayed" not in lost.headers
    assert lost.json()["tx_hash"] == first.json()["tx_hash"]
    assert api.ledger.balance_of(citizen["address"]) == 75 - 30
    assert len(_redemptions_of(api, citizen["address"])) == 1
    # A new key is a new redemption.
    third = api.client.post("/v1/redemptions", json=body, headers=_with_key(headers, "redeem-2"))
    assert third.status_code == 201
    assert api.ledger.balance_of(citizen["address"]) == 75 - 60
    assert len(_redemptions_of(api, citizen["address"])) == 2


def test_idempotency_issuance_retried_with_its_key_issues_once(api):
    issuer = api.staff("issuer")
    event = api.client.post("/v1/events", json=_event_body(), headers=issuer).json()
    attendees = [Account.create().address for _ in range(3)]
    url = f"/v1/events/{event['event_id']}/badges"
    first = api.client.post(url, json={"attendees": attendees}, headers=_with_key(issuer, "issue-1"))
    assert first.status_code == 200, first.text
    assert first.json()["issued"] == 3
    block = api.ledger.head()
    again = api.client.post(url, json={"attendees": attendees}, headers=_with_key(issuer, "issue-1"))
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    _forget_answers(api)
    lost = api.client.post(url, json={"attendees": attendees}, headers=_with_key(issuer, "issue-1"))
    assert lost.status_code == 200, lost.text
    assert lost.json() == first.json()  # the intent's own result: issued once, by the same transaction
    assert api.ledger.head() == block
    assert api.ledger.city_event(event["event_id"]).attendees == 3


def test_idempotency_event_creation_retried_with_its_key_creates_one_event_on_chain(api):
    """Even with the answer and the intent lost, the retry finds the event by the client
    reference derived from the key instead of creating a second."""
    before = api.ledger.event_count()
    issuer = api.staff("issuer")
    body = _event_body()
    first = api.client.post("/v1/events", json=body, headers=_with_key(issuer, "create-1"))
    assert first.status_code == 201, first.text
    _forget_answers(api)
    lost = api.client.post("/v1/events", json=body, headers=_with_key(issuer, "create-1"))
    assert lost.status_code == 201, lost.text
    assert lost.json()["event_id"] == first.json()["event_id"]
    _forget_answers(api)
    with api.ctx.store.session() as session:
        session.execute(delete(Intent))
        session.commit()
    block = api.ledger.head()
    forgotten = api.client.post("/v1/events", json=body, headers=_with_key(issuer, "create-1"))
    assert forgotten.status_code == 201, forgotten.text
    assert forgotten.json()["event_id"] == first.json()["event_id"]
    assert api.ledger.head() == block
    assert api.ledger.event_count() == before + 1
    assert len(api.client.get("/v1/events").json()) == 1


def test_idempotency_client_errors_are_replayed_but_server_errors_may_be_retried(api):
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


def test_idempotency_redemption_refused_while_paused_is_retried_with_its_key(api):
    headers, citizen = api.custodial_citizen()
    api.award(headers)
    reward = api.client.post("/v1/rewards", json={"title": "Tumbler", "cost": 30}, headers=api.staff()).json()
    keyed = _with_key(headers, "redeem-while-paused")
    assert api.client.post("/v1/admin/pause", headers=api.staff("pauser")).status_code == 200
    paused = api.client.post("/v1/redemptions", json={"reward_id": reward["reward_id"]}, headers=keyed)
    assert_error(paused, 503, "ledger_paused")
    assert api.ledger.balance_of(citizen["address"]) == 75
    assert api.client.post("/v1/admin/unpause", headers=api.staff("pauser")).status_code == 200
    retried = api.client.post("/v1/redemptions", json={"reward_id": reward["reward_id"]}, headers=keyed)
    assert retried.status_code == 201, retried.text
    assert "Idempotent-Replayed" not in retried.headers
    assert api.ledger.balance_of(citizen["address"]) == 45
    again = api.client.post("/v1/redemptions", json={"reward_id": reward["reward_id"]}, headers=keyed)
    assert (again.status_code, again.headers.get("Idempotent-Replayed")) == (201, "true")
    assert api.ledger.balance_of(citizen["address"]) == 45


def test_idempotency_unexpected_failure_does_not_pin_the_key(api, monkeypatch):
    """A request that crashes (500) must leave its key free for the retry, not failed forever."""
    before = api.ledger.event_count()
    client = TestClient(api.client.app, raise_server_exceptions=False)
    issuer = _with_key(api.staff("issuer"), "crash-then-retry")
    body = _event_body()
    real = api.ledger.create_event
    calls = []

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("the process lost its connection mid-request")
        return real(*args, **kwargs)

    monkeypatch.setattr(api.ledger, "create_event", flaky)
    crashed = client.post("/v1/events", json=body, headers=issuer)
    assert_error(crashed, 500, "internal_error")
    retried = client.post("/v1/events", json=body, headers=issuer)
    assert retried.status_code == 201, retried.text
    assert api.ledger.event_count() == before + 1
    with api.ctx.store.session() as session:
        (record,) = session.scalars(select(IdempotencyRecord).where(IdempotencyRecord.key == "crash-then-retry"))
        assert record.status_code == 201


def test_idempotency_reads_ignore_the_key(api):
    headers, _ = api.custodial_citizen()
    for _ in range(2):
        response = api.client.get("/v1/claims", headers=_with_key(headers, "read"))
        assert response.status_code == 200
        assert "Idempotent-Replayed" not in response.headers


# ---------------------------------------------------------------- responses that carry secrets


def _kept_bodies(api) -> str:
    with api.ctx.store.session() as session:
        return "\n".join(r.response_body or "" for r in session.scalars(select(IdempotencyRecord)))


def test_idempotency_private_key_export_is_never_kept(api):
    headers, _ = api.custodial_citizen()
    exported = api.client.post("/v1/citizens/me/key-export", json={"pin": PIN}, headers=_with_key(headers, "export"))
    assert exported.status_code == 200, exported.text
    private_key = exported.json()["private_key"]
    assert private_key[2:] not in _kept_bodies(api)


def test_idempotency_tokens_cards_and_personal_data_are_never_kept(api):
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
    for secret in ("minji@example.org", "Lee Minji", created.json()["card"]["code"], staff.json()["token"]):
        assert secret not in kept


def test_idempotency_used_sign_in_message_cannot_be_replayed_through_the_key(api):
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
