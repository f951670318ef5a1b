"""City events and badges end to end: creation, issuance (JSON, CSV, form upload), claim codes
(rotating and single-use kiosk codes), revocation and explicit re-issue."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta, timezone

import pytest
from eth_account import Account

from api.services.security import hash_token
from api.store import ClaimCode, utcnow
from ledger import BadgeIssued, BadgeReissued, BadgeRevoked
from tests.helpers import assert_error

SEOUL = timezone(timedelta(hours=9))


def _iso(timestamp: int, zone: timezone = SEOUL) -> str:
    return datetime.fromtimestamp(timestamp, zone).isoformat()


def _seconds(iso: str) -> int:
    return int(datetime.fromisoformat(iso).timestamp())


def _event_body(api, **overrides: object) -> dict[str, object]:
    now = api.ledger.chain_time()
    return {
        "title": "Han River clean-up",
        "venue": "physical",
        "claim_start": _iso(now - 3_600),
        "claim_end": _iso(now + 3_600),
        "capacity": 0,
    } | overrides


def _create_event(api, expect: int = 201, **overrides: object) -> dict:
    response = api.client.post("/v1/events", json=_event_body(api, **overrides), headers=api.staff("issuer"))
    assert response.status_code == expect, response.text
    return response.json()


def _issue(api, event_id: int, attendees: list[str]):
    return api.client.post(f"/v1/events/{event_id}/badges", json={"attendees": attendees}, headers=api.staff("issuer"))


def _issue_csv(api, event_id: int, data: str | bytes):
    headers = {**api.staff("issuer"), "Content-Type": "text/csv"}
    raw = data.encode() if isinstance(data, str) else data
    return api.client.post(f"/v1/events/{event_id}/badges", content=raw, headers=headers)


def _new_code(api, event_id: int, kiosk: bool = False) -> dict:
    params = {"kiosk": "true"} if kiosk else None
    response = api.client.post(f"/v1/events/{event_id}/claim-codes", params=params, headers=api.staff("issuer"))
    assert response.status_code == 201, response.text
    return response.json()


def _claim(api, headers, code: str):
    return api.client.post("/v1/badges/claim", json={"code": code}, headers=headers)


def _revoke(api, event_id: int, address: str, reason_code: int = 7):
    return api.client.post(
        f"/v1/events/{event_id}/badges/{address}/revoke", json={"reason_code": reason_code}, headers=api.staff("issuer")
    )


def _reissue(api, event_id: int, address: str, reason_code: int = 4):
    return api.client.post(
        f"/v1/events/{event_id}/badges/{address}/reissue",
        json={"reason_code": reason_code},
        headers=api.staff("issuer"),
    )


# ---------------------------------------------------------------- events


def test_create_event_and_read_it(api):
    before = api.ledger.event_count()
    now = api.ledger.chain_time()
    start, end = now - 600, now + 7_200
    event = _create_event(
        api,
        venue="metaverse",
        capacity=50,
        title="Carbon-neutral festival",
        claim_start=_iso(start),
        claim_end=_iso(end, UTC),
    )
    assert api.ledger.event_count() == before + 1
    assert event["event_id"] == before + 1
    assert event["attendees"] == 0
    assert event["open"] is True
    assert (_seconds(event["claim_start"]), _seconds(event["claim_end"])) == (start, end)
    assert datetime.fromisoformat(event["claim_start"]).tzinfo is not None
    on_chain = api.ledger.city_event(event["event_id"])
    assert (on_chain.claim_start, on_chain.claim_end, on_chain.capacity) == (start, end, 50)
    assert on_chain.venue.name == "METAVERSE"
    template = api.ledger.badge_collection()["uri_template"]
    assert event["metadata_url"] == template.replace("{id}", f"{event['event_id']:064x}")
    assert api.ledger.result_of(event["tx_hash"]) is not None

    read = api.client.get(f"/v1/events/{event['event_id']}")
    assert read.status_code == 200
    assert read.json() == event
    listed = api.client.get("/v1/events")
    assert listed.status_code == 200
    assert [e["event_id"] for e in listed.json()] == [event["event_id"]]


def test_create_event_takes_unix_seconds_too(api):
    now = api.ledger.chain_time()
    event = _create_event(api, claim_start=now - 60, claim_end=now + 600)
    on_chain = api.ledger.city_event(event["event_id"])
    assert (on_chain.claim_start, on_chain.claim_end) == (now - 60, now + 600)
    assert (_seconds(event["claim_start"]), _seconds(event["claim_end"])) == (now - 60, now + 600)


def test_create_event_naive_datetime_is_422(api):
    before = api.ledger.event_count()
    naive = datetime.now(UTC).replace(tzinfo=None)
    for field in ("claim_start", "claim_end"):
        value = (naive + timedelta(hours=1 if field == "claim_end" else -1)).isoformat()
        response = api.client.post("/v1/events", json=_event_body(api, **{field: value}), headers=api.staff("issuer"))
        assert_error(response, 422, "invalid_request")
    assert api.ledger.event_count() == before


def test_create_event_whose_window_already_ended_is_422(api):
    before = api.ledger.event_count()
    now = api.ledger.chain_time()
    response = api.client.post(
        "/v1/events",
        json=_event_body(api, claim_start=_iso(now - 7_200), claim_end=_iso(now - 3_600)),
        headers=api.staff("issuer"),
    )
    assert_error(response, 422, "claim_window_over")
    assert api.ledger.event_count() == before


def test_read_event_unknown_is_404(api):
    response = api.client.get("/v1/events/999")
    assert_error(response, 404, "event_not_found")
    for event_id in (0, -1, 2**70):  # not an event id at all
        assert_error(api.client.get(f"/v1/events/{event_id}"), 422, "invalid_request")
    assert_error(_issue(api, 999, [Account.create().address]), 404, "event_not_found")
    response = api.client.post("/v1/events/999/claim-codes", headers=api.staff("issuer"))
    assert_error(response, 404, "event_not_found")
    assert_error(_revoke(api, 999, Account.create().address), 404, "event_not_found")
    assert_error(_reissue(api, 999, Account.create().address), 404, "event_not_found")


def test_create_event_input_is_checked(api):
    before = api.ledger.event_count()
    now = api.ledger.chain_time()
    response = api.client.post(
        "/v1/events",
        json=_event_body(api, claim_start=_iso(now + 600), claim_end=_iso(now + 60)),
        headers=api.staff("issuer"),
    )
    assert_error(response, 422, "invalid_claim_window")
    for bad in ({"venue": "online"}, {"title": ""}, {"capacity": -1}, {"extra": 1}, {"uri": "x"}):
        response = api.client.post("/v1/events", json=_event_body(api, **bad), headers=api.staff("issuer"))
        assert_error(response, 422, "invalid_request")
    # A start before 1970 (negative Unix seconds) cannot be put on-chain: refused, not a 500.
    for start in (-5, "1969-12-31T23:00:00+00:00"):
        response = api.client.post("/v1/events", json=_event_body(api, claim_start=start), headers=api.staff("issuer"))
        assert_error(response, 422)
    assert api.ledger.event_count() == before


def test_create_event_needs_the_issuer_role(api):
    before = api.ledger.event_count()
    citizen_headers, _ = api.custodial_citizen()
    body = _event_body(api)
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
    assert api.ledger.event_count() == before + 1


def test_list_events_shows_attendees_and_whether_open(api):
    now = api.ledger.chain_time()
    current = _create_event(api, title="Open now", claim_start=_iso(now - 60), claim_end=_iso(now + 1_800))
    later = _create_event(api, title="Next week", claim_start=_iso(now + 7 * 86_400), claim_end=_iso(now + 8 * 86_400))
    attendees = [Account.create().address for _ in range(2)]
    assert _issue(api, current["event_id"], attendees).status_code == 200

    listed = {e["event_id"]: e for e in api.client.get("/v1/events").json()}
    assert (listed[current["event_id"]]["attendees"], listed[current["event_id"]]["open"]) == (2, True)
    assert (listed[later["event_id"]]["attendees"], listed[later["event_id"]]["open"]) == (0, False)
    assert listed[later["event_id"]]["title"] == "Next week"

    api.test_chain.advance(3_600)  # the first event's window closes
    listed = {e["event_id"]: e for e in api.client.get("/v1/events").json()}
    assert (listed[current["event_id"]]["attendees"], listed[current["event_id"]]["open"]) == (2, False)
    assert api.client.get(f"/v1/events/{current['event_id']}").json()["open"] is False


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
    assert body["skipped"] == {"already_held": [], "revoked": []}
    for address in (custodial["address"], wallet.address, outsider):
        assert api.ledger.has_badge(event["event_id"], address)
        (badge,) = [r for r in api.ledger.history(address) if isinstance(r, BadgeIssued)]
        assert (badge.event_id, badge.ref.tx_hash) == (event["event_id"], body["transactions"][0])
    assert api.ledger.city_event(event["event_id"]).attendees == 3
    assert api.client.get(f"/v1/events/{event['event_id']}").json()["attendees"] == 3


@pytest.mark.parametrize("column", ["address", "citizen_id", "Address", "CITIZEN_ID"])
def test_issue_badges_from_a_csv_body_with_any_header_case(api, column):
    event = _create_event(api)
    citizens = [api.custodial_citizen()[1] for _ in range(3)]
    rows = "\r\n".join(f"{c[column.lower()]},Kim" for c in citizens)
    response = _issue_csv(api, event["event_id"], f"\ufeff{column},name\r\n{rows}\r\n")
    assert response.status_code == 200, response.text
    assert response.json()["issued"] == 3
    assert all(api.ledger.has_badge(event["event_id"], c["address"]) for c in citizens)


def test_issue_badges_from_a_cp949_form_upload_with_korean_columns(api):
    """What a Korean Excel saves: CP949 text, a Korean column beside the address, sent as a
    browser form's file upload."""
    event = _create_event(api)
    people = [("김민지", Account.create().address), ("이서준", Account.create().address)]
    text = "이름,Address,비고\r\n" + "".join(f"{name},{address},참석\r\n" for name, address in people)
    data = text.encode("cp949")
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    response = api.client.post(
        f"/v1/events/{event['event_id']}/badges",
        files={"file": ("attendees.csv", data, "text/csv")},
        headers=api.staff("issuer"),
    )
    assert response.status_code == 200, response.text
    assert response.json()["issued"] == 2
    assert all(api.ledger.has_badge(event["event_id"], address) for _, address in people)


def test_issue_badges_form_upload_without_a_file_field_is_422(api):
    event = _create_event(api)
    data = f"address\r\n{Account.create().address}\r\n".encode()
    response = api.client.post(
        f"/v1/events/{event['event_id']}/badges",
        files={"attendees": ("a.csv", data, "text/csv")},
        headers=api.staff("issuer"),
    )
    assert_error(response, 422, "invalid_csv")
    assert api.ledger.city_event(event["event_id"]).attendees == 0


def test_issue_badges_csv_problems_are_422(api):
    event = _create_event(api)
    for text in ("email\nkim@example.org\n", "address\n"):
        assert_error(_issue_csv(api, event["event_id"], text), 422, "invalid_csv")
    assert_error(_issue_csv(api, event["event_id"], b"address\n\xff\xfe\n"), 422, "invalid_csv")
    assert_error(_issue_csv(api, event["event_id"], "citizen_id\nno-such-citizen\n"), 422, "unknown_attendees")
    assert api.ledger.city_event(event["event_id"]).attendees == 0


def test_issue_badges_unknown_citizen_id_is_422_and_nothing_is_issued(api):
    event = _create_event(api)
    _, citizen = api.custodial_citizen()
    response = _issue(api, event["event_id"], [citizen["citizen_id"], "not-a-citizen"])
    error = assert_error(response, 422, "unknown_attendees")
    assert "not-a-citizen" in error["message"]
    assert not api.ledger.has_badge(event["event_id"], citizen["address"])
    assert api.ledger.city_event(event["event_id"]).attendees == 0


def test_issue_badges_malformed_attendee_lists_are_422(api):
    event = _create_event(api)
    for attendees in (["0x" + "zz" * 20], ["0x" + "00" * 20]):
        assert_error(_issue(api, event["event_id"], attendees), 422, "invalid_attendee")
    for body in ({"attendees": []}, {"who": []}):
        response = api.client.post(f"/v1/events/{event['event_id']}/badges", json=body, headers=api.staff("issuer"))
        assert_error(response, 422, "invalid_request")
    assert api.ledger.city_event(event["event_id"]).attendees == 0


def test_issue_badges_the_same_attendee_twice_is_issued_once(api):
    event = _create_event(api)
    address = Account.create().address
    response = _issue(api, event["event_id"], [address, address.lower()])
    assert response.status_code == 200, response.text
    assert response.json()["issued"] == 1
    assert api.ledger.city_event(event["event_id"]).attendees == 1


def test_issue_badges_skips_and_reports_holders_instead_of_refusing_the_list(api):
    event = _create_event(api)
    holder, newcomer = Account.create().address, Account.create().address
    assert _issue(api, event["event_id"], [holder]).status_code == 200

    response = _issue(api, event["event_id"], [newcomer, holder])
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["issued"] == 1
    assert body["skipped"] == {"already_held": [holder], "revoked": []}
    assert api.ledger.has_badge(event["event_id"], newcomer)
    assert api.ledger.city_event(event["event_id"]).attendees == 2
    # Everyone holds it: nothing to send.
    again = _issue(api, event["event_id"], [holder, newcomer])
    assert again.status_code == 200, again.text
    assert (again.json()["issued"], again.json()["transactions"]) == (0, [])
    assert sorted(again.json()["skipped"]["already_held"]) == sorted([holder, newcomer])


def test_issue_badges_larger_than_one_transaction_goes_out_in_chunks(api):
    """Attendee lists over 200 go out in several transactions; a holder in the list is skipped."""
    event = _create_event(api)
    holder = Account.create().address
    assert _issue(api, event["event_id"], [holder]).status_code == 200
    newcomers = [Account.create().address for _ in range(230)]

    response = _issue(api, event["event_id"], [*newcomers, holder])
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["issued"] == 230
    assert len(body["transactions"]) == 2
    assert body["skipped"]["already_held"] == [holder]
    assert api.ledger.city_event(event["event_id"]).attendees == 231
    assert all(api.ledger.badge_holdings(event["event_id"], newcomers).values())


def test_issue_badges_capacity_is_enforced_all_or_none(api):
    event = _create_event(api, capacity=2)
    first = Account.create().address
    assert _issue(api, event["event_id"], [first]).status_code == 200
    late = [Account.create().address, Account.create().address]
    assert_error(_issue(api, event["event_id"], late), 409, "event_full")
    assert api.ledger.city_event(event["event_id"]).attendees == 1
    assert not any(api.ledger.badge_holdings(event["event_id"], late).values())
    assert _issue(api, event["event_id"], late[:1]).status_code == 200
    # Full: a claim at the venue is refused too.
    headers, citizen = api.custodial_citizen()
    assert_error(_claim(api, headers, _new_code(api, event["event_id"])["code"]), 409, "event_full")
    assert not api.ledger.has_badge(event["event_id"], citizen["address"])
    assert api.ledger.city_event(event["event_id"]).attendees == 2


# ---------------------------------------------------------------- claim codes


def test_create_claim_code_carries_enough_entropy(api):
    event = _create_event(api)
    first, second = _new_code(api, event["event_id"]), _new_code(api, event["event_id"])
    assert first["code"] != second["code"]
    for issued in (first, second):
        code = issued["code"]
        raw = base64.urlsafe_b64decode(code + "=" * (-len(code) % 4))
        assert len(raw) >= 16  # 128 bits
        assert issued["event_id"] == event["event_id"]
        assert issued["claim_url"].endswith(f"?code={code}")
        assert issued["single_use"] is False
    # Only the hash is stored.
    with api.ctx.store.session() as session:
        assert session.get(ClaimCode, hash_token(first["code"])) is not None
        assert session.get(ClaimCode, first["code"]) is None


def test_claim_badge_with_a_code_the_city_pays_the_gas(api):
    event = _create_event(api)
    headers, citizen = api.custodial_citizen()
    code = _new_code(api, event["event_id"])["code"]
    w3 = api.test_chain.w3
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
    assert receipt["from"] == api.ledger.address  # relayed by the city
    assert api.ledger.has_badge(event["event_id"], citizen["address"])
    assert w3.eth.get_balance(citizen["address"]) == 0
    assert w3.eth.get_transaction_count(citizen["address"]) == 0

    assert_error(_claim(api, headers, code), 409, "already_has_badge")
    assert api.ledger.city_event(event["event_id"]).attendees == 1


def test_claim_badge_one_code_serves_every_attendee_at_the_venue(api):
    event = _create_event(api)
    code = _new_code(api, event["event_id"])["code"]
    custodial_headers, custodial = api.custodial_citizen()
    wallet_headers, wallet = api.wallet_citizen()
    assert _claim(api, custodial_headers, code).status_code == 201
    assert _claim(api, wallet_headers, code).status_code == 201
    assert api.ledger.has_badge(event["event_id"], custodial["address"])
    assert api.ledger.has_badge(event["event_id"], wallet.address)
    assert api.test_chain.w3.eth.get_balance(wallet.address) == 0


def test_claim_badge_kiosk_code_is_single_use(api):
    event = _create_event(api)
    issued = _new_code(api, event["event_id"], kiosk=True)
    assert issued["single_use"] is True
    first_headers, first = api.custodial_citizen()
    second_headers, second = api.custodial_citizen()
    assert _claim(api, first_headers, issued["code"]).status_code == 201
    assert_error(_claim(api, second_headers, issued["code"]), 410, "claim_code_used")
    assert not api.ledger.has_badge(event["event_id"], second["address"])
    # The first citizen's own retry is not "used by someone else".
    assert_error(_claim(api, first_headers, issued["code"]), 409, "already_has_badge")
    # The next code on the kiosk's screen works for the second citizen.
    assert _claim(api, second_headers, _new_code(api, event["event_id"], kiosk=True)["code"]).status_code == 201
    assert api.ledger.has_badge(event["event_id"], first["address"])
    assert api.ledger.has_badge(event["event_id"], second["address"])


def test_claim_badge_expired_code_is_410(api):
    event = _create_event(api)
    headers, citizen = api.custodial_citizen()
    api.ctx.settings.claim_code_ttl_seconds = -1
    expired = _new_code(api, event["event_id"])["code"]
    assert_error(_claim(api, headers, expired), 410, "claim_code_expired")

    api.ctx.settings.claim_code_ttl_seconds = 60
    rotated = _new_code(api, event["event_id"])["code"]
    with api.ctx.store.session() as session:
        session.get(ClaimCode, hash_token(rotated)).expires_at = utcnow() - timedelta(seconds=1)
        session.commit()
    assert_error(_claim(api, headers, rotated), 410, "claim_code_expired")
    assert not api.ledger.has_badge(event["event_id"], citizen["address"])


def test_claim_badge_unknown_or_malformed_code(api):
    headers, _ = api.custodial_citizen()
    assert_error(_claim(api, headers, "A" * 22), 404, "claim_code_unknown")
    assert_error(_claim(api, headers, "short"), 422, "invalid_request")
    # Claiming needs a citizen session.
    event = _create_event(api)
    code = _new_code(api, event["event_id"])["code"]
    assert api.client.post("/v1/badges/claim", json={"code": code}).status_code == 401
    assert api.client.post("/v1/badges/claim", json={"code": code}, headers=api.staff("issuer")).status_code == 403


def test_claim_badge_before_the_window_opens_is_409(api):
    now = api.ledger.chain_time()
    event = _create_event(api, claim_start=_iso(now + 3_600), claim_end=_iso(now + 7_200))
    headers, citizen = api.custodial_citizen()
    assert_error(_claim(api, headers, _new_code(api, event["event_id"])["code"]), 409, "claim_window_closed")
    assert not api.ledger.has_badge(event["event_id"], citizen["address"])


def test_claim_badge_after_the_window_ends_is_409(api):
    now = api.ledger.chain_time()
    event = _create_event(api, claim_start=_iso(now - 60), claim_end=_iso(now + 600))
    headers, citizen = api.custodial_citizen()
    code = _new_code(api, event["event_id"])["code"]
    api.test_chain.advance(700)
    assert_error(_claim(api, headers, code), 409, "claim_window_closed")
    assert not api.ledger.has_badge(event["event_id"], citizen["address"])
    # No new codes either.
    response = api.client.post(f"/v1/events/{event['event_id']}/claim-codes", headers=api.staff("issuer"))
    assert_error(response, 409, "claim_window_closed")


def test_claim_badge_after_being_issued_the_badge_is_409(api):
    event = _create_event(api)
    headers, citizen = api.custodial_citizen()
    assert _issue(api, event["event_id"], [citizen["citizen_id"]]).status_code == 200
    assert_error(_claim(api, headers, _new_code(api, event["event_id"])["code"]), 409, "already_has_badge")


# ---------------------------------------------------------------- revocation and re-issue


def test_revoke_badge_removes_it_on_chain_and_it_cannot_come_back_without_a_reissue(api):
    event = _create_event(api)
    headers, citizen = api.custodial_citizen()
    assert _claim(api, headers, _new_code(api, event["event_id"])["code"]).status_code == 201
    assert api.ledger.has_badge(event["event_id"], citizen["address"])

    response = _revoke(api, event["event_id"], citizen["address"].lower(), 7)
    assert response.status_code == 200, response.text
    (tx_hash,) = response.json()["transactions"]
    assert api.test_chain.w3.eth.get_transaction_receipt(tx_hash)["status"] == 1
    assert not api.ledger.has_badge(event["event_id"], citizen["address"])
    assert api.ledger.is_badge_revoked(event["event_id"], citizen["address"])
    assert api.ledger.city_event(event["event_id"]).attendees == 0
    revoked = [r for r in api.ledger.history(citizen["address"]) if isinstance(r, BadgeRevoked)]
    assert [(r.event_id, r.reason_code) for r in revoked] == [(event["event_id"], 7)]

    assert_error(_revoke(api, event["event_id"], citizen["address"]), 404, "no_badge")
    # The revocation is remembered: no claim back, and issuance skips and reports it.
    assert_error(_claim(api, headers, _new_code(api, event["event_id"])["code"]), 409, "badge_was_revoked")
    issued = _issue(api, event["event_id"], [citizen["address"]])
    assert issued.status_code == 200, issued.text
    assert issued.json()["issued"] == 0
    assert issued.json()["skipped"] == {"already_held": [], "revoked": [citizen["address"]]}
    assert not api.ledger.has_badge(event["event_id"], citizen["address"])

    # Only an explicit re-issue gives it back, with its reason on record.
    reissued = _reissue(api, event["event_id"], citizen["address"], 4)
    assert reissued.status_code == 200, reissued.text
    assert reissued.json()["issued"] == 1
    assert api.ledger.has_badge(event["event_id"], citizen["address"])
    assert api.ledger.city_event(event["event_id"]).attendees == 1
    again = [r for r in api.ledger.history(citizen["address"]) if isinstance(r, BadgeReissued)]
    assert [(r.event_id, r.reason_code) for r in again] == [(event["event_id"], 4)]


def test_reissue_badge_that_was_not_revoked_is_409(api):
    event = _create_event(api)
    holder, stranger = Account.create().address, Account.create().address
    assert _issue(api, event["event_id"], [holder]).status_code == 200
    for address in (holder, stranger):
        assert_error(_reissue(api, event["event_id"], address), 409, "badge_not_revoked")
    assert not api.ledger.has_badge(event["event_id"], stranger)


def test_revoke_badge_input_is_checked(api):
    event = _create_event(api)
    address = Account.create().address
    issuer = api.staff("issuer")
    response = api.client.post(
        f"/v1/events/{event['event_id']}/badges/0xabc/revoke", json={"reason_code": 1}, headers=issuer
    )
    assert_error(response, 422, "invalid_attendee")
    response = api.client.post(
        f"/v1/events/{event['event_id']}/badges/{address}/revoke", json={"reason_code": 70_000}, headers=issuer
    )
    assert_error(response, 422, "invalid_request")
    citizen_headers, _ = api.custodial_citizen()
    for action in ("revoke", "reissue"):
        url = f"/v1/events/{event['event_id']}/badges/{address}/{action}"
        assert api.client.post(url, json={"reason_code": 1}, headers=citizen_headers).status_code == 403


def test_revoke_badge_still_works_while_paused(api):
    """Pausing stops issuance, not the removal of a wrongful badge."""
    event = _create_event(api)
    attendee = Account.create().address
    assert _issue(api, event["event_id"], [attendee]).status_code == 200
    assert api.client.post("/v1/admin/pause", headers=api.staff("pauser")).status_code == 200
    assert api.client.get("/v1/health").json()["paused"] is True
    assert_error(_issue(api, event["event_id"], [Account.create().address]), 503, "ledger_paused")
    response = _revoke(api, event["event_id"], attendee, 2)
    assert response.status_code == 200, response.text
    assert not api.ledger.has_badge(event["event_id"], attendee)
    assert api.ledger.is_badge_revoked(event["event_id"], attendee)
