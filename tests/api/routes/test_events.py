"""City events and badges end to end: creation, issuance (JSON and CSV), QR claim codes, revocation."""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest
from eth_account import Account

from api.security import hash_token
from api.store import ClaimCode, utcnow


def _code(response) -> str:
    return response.json()["error"]["code"]


def _create_event(api, expect: int = 201, **overrides: object) -> dict:
    now = api.ledger.chain_time()
    body: dict[str, object] = {
        "title": "Han River clean-up",
        "venue": "physical",
        "claim_start": now - 3_600,
        "claim_end": now + 3_600,
        "capacity": 0,
        "uri": "ipfs://bafy-event-metadata",
    } | overrides
    response = api.client.post("/v1/events", json=body, headers=api.staff("issuer"))
    assert response.status_code == expect, response.text
    return response.json()


def _issue(api, event_id: int, attendees: list[str]):
    return api.client.post(f"/v1/events/{event_id}/badges", json={"attendees": attendees}, headers=api.staff("issuer"))


def _issue_csv(api, event_id: int, text: str):
    headers = {**api.staff("issuer"), "Content-Type": "text/csv"}
    return api.client.post(f"/v1/events/{event_id}/badges", content=text.encode(), headers=headers)


def _new_code(api, event_id: int) -> dict:
    response = api.client.post(f"/v1/events/{event_id}/claim-codes", headers=api.staff("issuer"))
    assert response.status_code == 201, response.text
    return response.json()


def _claim(api, headers, code: str):
    return api.client.post("/v1/badges/claim", json={"code": code}, headers=headers)


# ---------------------------------------------------------------- events


def test_create_and_read_event(api):
    before = api.ledger.event_count()
    event = _create_event(api, venue="metaverse", capacity=50, title="Carbon-neutral festival")
    assert api.ledger.event_count() == before + 1
    assert event["event_id"] == before + 1
    assert event["attendees"] == 0
    on_chain = api.ledger.city_event(event["event_id"])
    assert (on_chain.claim_start, on_chain.claim_end, on_chain.capacity) == (
        event["claim_start"],
        event["claim_end"],
        50,
    )
    assert on_chain.venue.name == "METAVERSE"
    assert on_chain.uri == event["uri"]

    read = api.client.get(f"/v1/events/{event['event_id']}")
    assert read.status_code == 200
    assert read.json() == event
    listed = api.client.get("/v1/events")
    assert listed.status_code == 200
    assert [e["event_id"] for e in listed.json()] == [event["event_id"]]


def test_unknown_event_is_404(api):
    for event_id in (999, 0, -1, 2**70):
        response = api.client.get(f"/v1/events/{event_id}")
        assert (response.status_code, _code(response)) == (404, "event_not_found"), event_id
    assert (_issue(api, 999, [Account.create().address]).status_code, "event_not_found") == (404, "event_not_found")
    response = api.client.post("/v1/events/999/claim-codes", headers=api.staff("issuer"))
    assert (response.status_code, _code(response)) == (404, "event_not_found")
    response = api.client.post(
        f"/v1/events/999/badges/{Account.create().address}/revoke", json={"reason_code": 1}, headers=api.staff()
    )
    assert (response.status_code, _code(response)) == (404, "event_not_found")


def test_event_input_is_checked(api):
    now = api.ledger.chain_time()
    response = api.client.post(
        "/v1/events",
        json={"title": "x", "venue": "physical", "claim_start": now, "claim_end": now - 1, "uri": "ipfs://x"},
        headers=api.staff("issuer"),
    )
    assert (response.status_code, _code(response)) == (422, "invalid_claim_window")
    for bad in ({"venue": "online"}, {"title": ""}, {"capacity": -1}, {"claim_start": -5}, {"extra": 1}):
        _create_event(api, expect=422, **bad)
    assert api.ledger.event_count() == 0


def test_events_need_the_issuer_role(api):
    citizen_headers, _ = api.custodial_citizen()
    body = {"title": "x", "venue": "physical", "claim_start": 0, "claim_end": 1, "uri": "ipfs://x"}
    for headers in (api.staff("minter"), api.staff("redeemer"), citizen_headers):
        assert api.client.post("/v1/events", json=body, headers=headers).status_code == 403
    assert api.client.post("/v1/events", json=body).status_code == 401
    assert api.client.post("/v1/events", json=body, headers=api.staff("admin")).status_code == 201
    event_id = api.client.get("/v1/events").json()[0]["event_id"]
    for headers in (api.staff("minter"), citizen_headers):
        assert (
            api.client.post(
                f"/v1/events/{event_id}/badges", json={"attendees": [Account.create().address]}, headers=headers
            ).status_code
            == 403
        )
        assert api.client.post(f"/v1/events/{event_id}/claim-codes", headers=headers).status_code == 403
    assert api.ledger.event_count() == 1


# ---------------------------------------------------------------- issuance to listed attendees


def test_issue_badges_to_addresses_and_citizen_ids(api):
    event = _create_event(api)
    _, custodial = api.custodial_citizen()
    _, wallet = api.wallet_citizen()
    outsider = Account.create().address
    attendees = [custodial["citizen_id"], wallet.address.lower(), outsider]

    response = _issue(api, event["event_id"], attendees)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["event_id"] == event["event_id"]
    assert body["issued"] == 3
    assert len(body["transactions"]) == 1
    for address in (custodial["address"], wallet.address, outsider):
        assert api.ledger.has_badge(event["event_id"], address)
        (badge,) = api.ledger.badges_of(address)
        assert badge.ref.tx_hash == body["transactions"][0]
    assert api.ledger.city_event(event["event_id"]).attendees == 3
    assert api.client.get(f"/v1/events/{event['event_id']}").json()["attendees"] == 3


@pytest.mark.parametrize("column", ["address", "citizen_id"])
def test_issue_badges_from_a_csv_upload(api, column):
    event = _create_event(api)
    citizens = [api.custodial_citizen()[1] for _ in range(3)]
    rows = "\r\n".join(c[column] for c in citizens)
    response = _issue_csv(api, event["event_id"], f"\ufeff{column},name\r\n{rows}\r\n")
    assert response.status_code == 200, response.text
    assert response.json()["issued"] == 3
    assert all(api.ledger.has_badge(event["event_id"], c["address"]) for c in citizens)


def test_csv_problems_are_422(api):
    event = _create_event(api)
    for text, code in (
        ("email\nkim@example.org\n", "invalid_csv"),
        ("address\n", "invalid_csv"),
    ):
        response = _issue_csv(api, event["event_id"], text)
        assert (response.status_code, _code(response)) == (422, code), text
    headers = {**api.staff("issuer"), "Content-Type": "text/csv"}
    response = api.client.post(
        f"/v1/events/{event['event_id']}/badges", content=b"address\n\xff\xfe\n", headers=headers
    )
    assert (response.status_code, _code(response)) == (422, "invalid_csv")
    response = _issue_csv(api, event["event_id"], "citizen_id\nno-such-citizen\n")
    assert (response.status_code, _code(response)) == (422, "unknown_attendees")
    assert api.ledger.city_event(event["event_id"]).attendees == 0


def test_unknown_citizen_id_is_422_and_nothing_is_issued(api):
    event = _create_event(api)
    _, citizen = api.custodial_citizen()
    response = _issue(api, event["event_id"], [citizen["citizen_id"], "not-a-citizen", "0x1234"])
    assert (response.status_code, _code(response)) == (422, "unknown_attendees")
    assert "not-a-citizen" in response.json()["error"]["message"]
    assert not api.ledger.has_badge(event["event_id"], citizen["address"])
    assert api.ledger.city_event(event["event_id"]).attendees == 0


def test_malformed_attendee_lists_are_422(api):
    event = _create_event(api)
    address = Account.create().address
    for attendees, code in (
        (["0x" + "zz" * 20], "invalid_input"),
        ([address, address.lower()], "invalid_input"),  # the same attendee twice
        (["0x" + "00" * 20], "invalid_attendee"),
    ):
        response = _issue(api, event["event_id"], attendees)
        assert (response.status_code, _code(response)) == (422, code), attendees
    response = api.client.post(
        f"/v1/events/{event['event_id']}/badges", json={"attendees": []}, headers=api.staff("issuer")
    )
    assert (response.status_code, _code(response)) == (422, "invalid_request")
    response = api.client.post(f"/v1/events/{event['event_id']}/badges", json={"who": []}, headers=api.staff("issuer"))
    assert (response.status_code, _code(response)) == (422, "invalid_request")
    assert api.ledger.city_event(event["event_id"]).attendees == 0


def test_already_has_badge_is_409_and_nothing_is_issued(api):
    event = _create_event(api)
    holder, newcomer = Account.create().address, Account.create().address
    assert _issue(api, event["event_id"], [holder]).status_code == 200

    response = _issue(api, event["event_id"], [newcomer, holder])
    assert (response.status_code, _code(response)) == (409, "already_has_badge")
    assert not api.ledger.has_badge(event["event_id"], newcomer)
    assert api.ledger.city_event(event["event_id"]).attendees == 1


def test_issuance_larger_than_one_transaction_is_still_all_or_none(api):
    """Attendee lists over 200 go out in several transactions: a refusal found in a later chunk
    must not leave the earlier chunks issued."""
    event = _create_event(api)
    holder = Account.create().address
    assert _issue(api, event["event_id"], [holder]).status_code == 200
    newcomers = [Account.create().address for _ in range(230)]

    response = _issue(api, event["event_id"], [*newcomers, holder])
    assert (response.status_code, _code(response)) == (409, "already_has_badge")
    assert api.ledger.city_event(event["event_id"]).attendees == 1
    assert not any(api.ledger.has_badge(event["event_id"], a) for a in newcomers[:5])

    response = _issue(api, event["event_id"], newcomers)
    assert response.status_code == 200, response.text
    assert response.json()["issued"] == 230
    assert len(response.json()["transactions"]) == 2
    assert api.ledger.city_event(event["event_id"]).attendees == 231


def test_capacity_is_enforced_all_or_none(api):
    event = _create_event(api, capacity=2)
    first = Account.create().address
    assert _issue(api, event["event_id"], [first]).status_code == 200
    late = [Account.create().address, Account.create().address]
    response = _issue(api, event["event_id"], late)
    assert (response.status_code, _code(response)) == (409, "event_full")
    assert api.ledger.city_event(event["event_id"]).attendees == 1
    assert _issue(api, event["event_id"], late[:1]).status_code == 200


# ---------------------------------------------------------------- QR claim codes


def test_claim_codes_carry_enough_entropy(api):
    event = _create_event(api)
    first, second = _new_code(api, event["event_id"]), _new_code(api, event["event_id"])
    assert first["code"] != second["code"]
    for issued in (first, second):
        code = issued["code"]
        assert len(code) >= 11
        raw = base64.urlsafe_b64decode(code + "=" * (-len(code) % 4))
        assert len(raw) >= 8
        assert issued["event_id"] == event["event_id"]
        assert issued["claim_url"].endswith(f"?code={code}")
    # Only the hash is stored.
    with api.state.store.session() as session:
        stored = session.get(ClaimCode, hash_token(first["code"]))
        assert stored is not None
        assert session.get(ClaimCode, first["code"]) is None


def test_citizen_claims_a_badge_with_a_code_and_the_city_pays_the_gas(api):
    event = _create_event(api)
    headers, citizen = api.custodial_citizen()
    code = _new_code(api, event["event_id"])["code"]
    w3 = api.ledger.w3
    assert w3.eth.get_balance(citizen["address"]) == 0

    response = _claim(api, headers, code)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["event_id"] == event["event_id"]
    assert body["attendee"] == citizen["address"]
    ref = body["ref"]
    assert ref["chain_id"] == api.ledger.deployment.chain_id
    assert ref["contract"] == api.ledger.deployment.badges_address
    receipt = w3.eth.get_transaction_receipt(ref["tx_hash"])
    assert receipt["blockNumber"] == ref["block_number"]
    assert receipt["from"] == api.ledger.tx.address  # relayed by the city
    assert api.ledger.has_badge(event["event_id"], citizen["address"])
    assert w3.eth.get_balance(citizen["address"]) == 0
    assert w3.eth.get_transaction_count(citizen["address"]) == 0

    again = _claim(api, headers, code)
    assert (again.status_code, _code(again)) == (409, "already_has_badge")
    assert api.ledger.city_event(event["event_id"]).attendees == 1


def test_one_code_serves_every_attendee_at_the_venue(api):
    event = _create_event(api)
    code = _new_code(api, event["event_id"])["code"]
    custodial_headers, custodial = api.custodial_citizen()
    wallet_headers, wallet = api.wallet_citizen()
    assert _claim(api, custodial_headers, code).status_code == 201
    assert _claim(api, wallet_headers, code).status_code == 201
    assert api.ledger.has_badge(event["event_id"], custodial["address"])
    assert api.ledger.has_badge(event["event_id"], wallet.address)
    assert api.ledger.w3.eth.get_balance(wallet.address) == 0


def test_expired_code_is_410(api):
    event = _create_event(api)
    headers, citizen = api.custodial_citizen()
    api.state.settings.claim_code_ttl_seconds = -1
    expired = _new_code(api, event["event_id"])["code"]
    response = _claim(api, headers, expired)
    assert (response.status_code, _code(response)) == (410, "claim_code_expired")

    api.state.settings.claim_code_ttl_seconds = 60
    rotated = _new_code(api, event["event_id"])["code"]
    with api.state.store.session() as session:
        session.get(ClaimCode, hash_token(rotated)).expires_at = utcnow() - timedelta(seconds=1)
        session.commit()
    response = _claim(api, headers, rotated)
    assert (response.status_code, _code(response)) == (410, "claim_code_expired")
    assert not api.ledger.has_badge(event["event_id"], citizen["address"])


def test_unknown_or_malformed_code(api):
    headers, _ = api.custodial_citizen()
    response = _claim(api, headers, "A" * 22)
    assert (response.status_code, _code(response)) == (404, "claim_code_unknown")
    response = _claim(api, headers, "short")
    assert (response.status_code, _code(response)) == (422, "invalid_request")
    # Claiming needs a citizen session.
    event = _create_event(api)
    code = _new_code(api, event["event_id"])["code"]
    assert api.client.post("/v1/badges/claim", json={"code": code}).status_code == 401
    assert api.client.post("/v1/badges/claim", json={"code": code}, headers=api.staff("issuer")).status_code == 403


@pytest.mark.parametrize("window", ["past", "future"])
def test_claim_outside_the_event_window_is_409(api, window):
    now = api.ledger.chain_time()
    start, end = (now - 7_200, now - 3_600) if window == "past" else (now + 3_600, now + 7_200)
    event = _create_event(api, claim_start=start, claim_end=end)
    headers, citizen = api.custodial_citizen()
    response = _claim(api, headers, _new_code(api, event["event_id"])["code"])
    assert (response.status_code, _code(response)) == (409, "claim_window_closed")
    assert not api.ledger.has_badge(event["event_id"], citizen["address"])


def test_claim_after_being_issued_the_badge_is_409(api):
    event = _create_event(api)
    headers, citizen = api.custodial_citizen()
    assert _issue(api, event["event_id"], [citizen["citizen_id"]]).status_code == 200
    response = _claim(api, headers, _new_code(api, event["event_id"])["code"])
    assert (response.status_code, _code(response)) == (409, "already_has_badge")


# ---------------------------------------------------------------- revocation


def test_revoke_removes_the_badge_on_chain(api):
    event = _create_event(api)
    headers, citizen = api.custodial_citizen()
    assert _claim(api, headers, _new_code(api, event["event_id"])["code"]).status_code == 201
    assert api.ledger.has_badge(event["event_id"], citizen["address"])

    response = api.client.post(
        f"/v1/events/{event['event_id']}/badges/{citizen['address'].lower()}/revoke",
        json={"reason_code": 7},
        headers=api.staff("issuer"),
    )
    assert response.status_code == 200, response.text
    (tx_hash,) = response.json()["transactions"]
    assert api.ledger.w3.eth.get_transaction_receipt(tx_hash)["status"] == 1
    assert not api.ledger.has_badge(event["event_id"], citizen["address"])
    assert api.ledger.badges_of(citizen["address"]) == []
    assert api.ledger.city_event(event["event_id"]).attendees == 0
    revoked = [e for e in api.ledger.history(citizen["address"]) if e.action == "badge_revoked"]
    assert [(e.event_id, e.reason_code) for e in revoked] == [(event["event_id"], 7)]

    again = api.client.post(
        f"/v1/events/{event['event_id']}/badges/{citizen['address']}/revoke",
        json={"reason_code": 7},
        headers=api.staff("issuer"),
    )
    assert (again.status_code, _code(again)) == (404, "no_badge")
    # Revoked, the citizen may be issued the badge again.
    assert _issue(api, event["event_id"], [citizen["address"]]).status_code == 200


def test_revoke_input_is_checked(api):
    event = _create_event(api)
    address = Account.create().address
    issuer = api.staff("issuer")
    response = api.client.post(
        f"/v1/events/{event['event_id']}/badges/0xabc/revoke", json={"reason_code": 1}, headers=issuer
    )
    assert (response.status_code, _code(response)) == (422, "invalid_input")
    response = api.client.post(
        f"/v1/events/{event['event_id']}/badges/{address}/revoke", json={"reason_code": 70_000}, headers=issuer
    )
    assert (response.status_code, _code(response)) == (422, "invalid_request")
    citizen_headers, _ = api.custodial_citizen()
    response = api.client.post(
        f"/v1/events/{event['event_id']}/badges/{address}/revoke", json={"reason_code": 1}, headers=citizen_headers
    )
    assert response.status_code == 403
