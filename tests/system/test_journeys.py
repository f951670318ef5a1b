"""The journeys a new user takes in the first hour, against the service as scripts/run starts it
(the demo club seeded, then ``civic serve`` on the embedded chain), over HTTP.

Each test walks one journey across modules the way a citizen, a member of staff or an auditor
does; each failed on the previous design (see the issue's findings).
"""

from __future__ import annotations

import codecs
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx

from tests.helpers import assert_error, outing

from .harness import Service

SEOUL = timezone(timedelta(hours=9))


def _poll(call: Any, until: Any, timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = call()
        if until(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.2)


def test_a_claim_right_after_start_up_is_awarded_within_seconds_and_verifiable(embedded_service: Service) -> None:
    """Journey 1: the demo seed's awards never collide with a new claim's activity id."""
    with embedded_service.client() as client:
        citizen = embedded_service.enrol(client, "first-claim")
        started = time.monotonic()
        created = client.post("/v1/claims", json=outing(), headers=citizen["headers"])
        assert created.status_code == 201, created.text
        assert created.json()["status"] == "approved"
        claim_id = created.json()["claim_id"]
        claim = _poll(
            lambda: client.get(f"/v1/claims/{claim_id}", headers=citizen["headers"]).json(),
            lambda c: c["status"] == "awarded",
        )
        assert claim["status"] == "awarded", claim
        assert time.monotonic() - started < 15
        verified = client.get(f"/v1/verify/citizens/{citizen['address']}").json()
        assert [r["activity_id"] for r in verified["records"] if r["action"] == "award"] == [claim["activity_id"]]
        assert verified["balance"] == claim["points"] == verified["rebuilt_balance"]
        assert verified["verified"] is True
        activity = client.get(f"/v1/verify/activities/{claim['activity_id']}").json()
        assert activity["citizen"] == citizen["address"] and activity["verified"] is True


def test_civic_award_beside_the_running_service_neither_collides_nor_breaks_it(embedded_service: Service) -> None:
    """Journey 1: the command line awards through the service's own writer (one allocator, one
    nonce counter), and the service keeps working."""
    with embedded_service.client() as client:
        citizen = embedded_service.enrol(client, "cli-award")
        awarded = embedded_service.run(
            "award", "--citizen", citizen["citizen_id"], "--points", "40", "--reference", "volunteer-hours-1"
        )
        assert awarded.returncode == 0, awarded.stderr
        again = embedded_service.run(
            "award", "--citizen", citizen["citizen_id"], "--points", "40", "--reference", "volunteer-hours-1"
        )
        assert again.returncode == 0, again.stderr
        claim = client.post("/v1/claims", json=outing(), headers=citizen["headers"])
        assert claim.status_code == 201, claim.text
        done = _poll(
            lambda: client.get(f"/v1/claims/{claim.json()['claim_id']}", headers=citizen["headers"]).json(),
            lambda c: c["status"] == "awarded",
        )
        assert done["status"] == "awarded", done
        verified = client.get(f"/v1/verify/citizens/{citizen['address']}").json()
        awards = [r for r in verified["records"] if r["action"] == "award"]
        assert [r["points_delta"] for r in awards] == [40, done["points"]], "the CLI's award once, then the claim's"
        assert len({r["activity_id"] for r in awards}) == 2
        assert verified["verified"] is True


def test_a_member_enrolled_without_a_wallet_gets_in_next_week_with_their_card(embedded_service: Service) -> None:
    """Journey 2: enrolment gives a card, not a session; the citizen's PIN opens sessions for as
    long as the card is valid; staff can re-issue and revoke it."""
    with embedded_service.client() as client:
        enrolled = client.post("/v1/citizens", json={"display_name": "next-week"}, headers=embedded_service.admin())
        assert enrolled.status_code == 201, enrolled.text
        assert "session_token" not in enrolled.json()
        code = enrolled.json()["card"]["code"]
        assert_error(client.post("/v1/auth/card", json={"code": code, "pin": "4321"}), 403, "card_not_active")
        first = client.post("/v1/auth/card/activate", json={"code": code, "pin": "4321"})
        assert first.status_code == 200, first.text
        client.post("/v1/auth/sign-out", headers={"Authorization": f"Bearer {first.json()['token']}"})
        assert_error(client.get("/v1/citizens/me", headers={"Authorization": f"Bearer {first.json()['token']}"}), 401)
        # A week later the session is long gone: the card and PIN open a new one.
        later = client.post("/v1/auth/card", json={"code": code.lower().replace("-", " "), "pin": "4321"})
        assert later.status_code == 200, later.text
        me = client.get("/v1/citizens/me", headers={"Authorization": f"Bearer {later.json()['token']}"})
        assert me.json()["address"] == enrolled.json()["address"]
        # A lost card: staff re-issue it; the old card and its sessions stop.
        reissued = client.post(f"/v1/citizens/{enrolled.json()['citizen_id']}/card", headers=embedded_service.admin())
        assert reissued.status_code == 201, reissued.text
        assert_error(client.post("/v1/auth/card", json={"code": code, "pin": "4321"}), 401, "card_invalid")
        assert_error(client.get("/v1/citizens/me", headers={"Authorization": f"Bearer {later.json()['token']}"}), 401)
        assert (
            client.post("/v1/auth/card/activate", json={"code": reissued.json()["code"], "pin": "9876"}).status_code
            == 200
        )


def test_staff_create_an_event_for_today_and_a_citizen_claims_its_badge(embedded_service: Service) -> None:
    """Journey 3: the chain's clock is the wall clock (the seed's history is in the past), times
    are ISO 8601 with a zone, and a closed window hands out no codes."""
    with embedded_service.client() as client:
        now = datetime.now(SEOUL)
        created = client.post(
            "/v1/events",
            json={
                "title": "오늘의 플로깅 모임",
                "title_en": "Today's plogging meet-up",
                "venue": "physical",
                "claim_start": (now - timedelta(minutes=30)).isoformat(),
                "claim_end": (now + timedelta(hours=2)).isoformat(),
                "capacity": 50,
            },
            headers=embedded_service.admin(),
        )
        assert created.status_code == 201, created.text
        event = created.json()
        assert event["open"] is True
        assert datetime.fromisoformat(event["claim_end"]) == (now + timedelta(hours=2)).replace(microsecond=0)
        code = client.post(f"/v1/events/{event['event_id']}/claim-codes", headers=embedded_service.admin())
        assert code.status_code == 201, code.text
        assert code.json()["claim_url"].startswith(embedded_service.base + "/claim?code=")
        citizen = embedded_service.enrol(client, "at-the-venue")
        claimed = client.post("/v1/badges/claim", json={"code": code.json()["code"]}, headers=citizen["headers"])
        assert claimed.status_code == 201, claimed.text
        verified = client.get(f"/v1/verify/events/{event['event_id']}/badges/{citizen['address']}").json()
        assert verified["holds_badge"] is True and verified["verified"] is True
        # An event whose window has ended cannot be created, and gives no codes.
        past = client.post(
            "/v1/events",
            json={
                "title": "Last month",
                "venue": "metaverse",
                "claim_start": (now - timedelta(days=40)).isoformat(),
                "claim_end": (now - timedelta(days=30)).isoformat(),
            },
            headers=embedded_service.admin(),
        )
        assert_error(past, 422, "claim_window_over")


def test_anyone_verifying_a_citizen_sees_every_record_and_they_add_up(embedded_service: Service) -> None:
    """Journey 4: redemptions, reversals (with reason) and badge revocations (with reason) are
    listed; the rows add up to the balance; "verified" is said of what was checked."""
    tokens = embedded_service.demo_tokens()
    with embedded_service.client() as client:
        member = tokens["citizen_address"]  # the demo member who redeemed a tumbler
        events = client.get("/v1/events").json()
        revoked = client.post(
            f"/v1/events/{events[0]['event_id']}/badges/{member}/revoke",
            json={"reason_code": 7},
            headers=embedded_service.admin(),
        )
        assert revoked.status_code == 200, revoked.text
        verified = client.get(f"/v1/verify/citizens/{member}").json()
        actions = [r["action"] for r in verified["records"]]
        assert "redemption" in actions and "badge_revoked" in actions
        revocation = next(r for r in verified["records"] if r["action"] == "badge_revoked")
        assert revocation["reason_code"] == 7
        assert sum(r["points_delta"] for r in verified["records"]) == verified["rebuilt_balance"] == verified["balance"]
        assert {c["name"]: c["outcome"] for c in verified["checks"]} == {
            "records_found": "passed",
            "balance_matches_contract": "passed",
            "badges_match_contract": "passed",
        }
        assert verified["verified"] is True
        # The demo's reversed duplicate upload shows its reason wherever it is looked up.
        reversals = [
            r
            for addr in [m for m in _demo_addresses(client, embedded_service)]
            for r in client.get(f"/v1/verify/citizens/{addr}").json()["records"]
            if r["action"] == "reversal"
        ]
        assert reversals and all(r["reason_code"] == 1 for r in reversals)


def _demo_addresses(client: httpx.Client, service: Service) -> list[str]:
    found = client.get("/v1/citizens", params={"limit": 200}, headers=service.admin()).json()
    return [c["address"] for c in found]


def test_a_rejected_claim_shows_the_reason_and_can_be_appealed_once(embedded_service: Service) -> None:
    """Journey 5: the reviewer's reason reaches the citizen; one appeal goes back to review;
    an outing older than the age limit is held, not approved automatically."""
    with embedded_service.client() as client:
        citizen = embedded_service.enrol(client, "appealing")
        old = client.post("/v1/claims", json=outing(minutes_ago=60 * 24 * 10), headers=citizen["headers"])
        assert old.status_code == 201, old.text
        assert old.json()["status"] == "held"
        assert any("older than 7 days" in r for r in old.json()["hold_reasons"])
        minter = embedded_service.staff(client, "minter")
        claim_id = old.json()["claim_id"]
        rejected = client.post(
            f"/v1/review/claims/{claim_id}",
            json={"decision": "reject", "reason": "no photo of the litter"},
            headers=minter,
        )
        assert rejected.status_code == 200, rejected.text
        mine = client.get(f"/v1/claims/{claim_id}", headers=citizen["headers"]).json()
        assert mine["status"] == "rejected" and mine["reviewer_reason"] == "no photo of the litter"
        appealed = client.post(
            f"/v1/claims/{claim_id}/appeal", json={"note": "the photo is the second one"}, headers=citizen["headers"]
        )
        assert appealed.status_code == 200, appealed.text
        assert appealed.json()["status"] == "held" and appealed.json()["appealed"] is True
        assert_error(
            client.post(f"/v1/claims/{claim_id}/appeal", json={"note": "again"}, headers=citizen["headers"]),
            409,
            "claim_not_rejected",
        )
        approved = client.post(
            f"/v1/review/claims/{claim_id}", json={"decision": "approve", "reason": "found it"}, headers=minter
        )
        assert approved.status_code == 200
        done = _poll(
            lambda: client.get(f"/v1/claims/{claim_id}", headers=citizen["headers"]).json(),
            lambda c: c["status"] == "awarded",
        )
        assert done["status"] == "awarded"


def test_the_api_docs_work_offline_and_declare_bearer_auth(embedded_service: Service) -> None:
    """Journey 6: /docs and /redoc load nothing from another host; every protected operation
    carries the bearer scheme, so the page shows its lock and an Authorize button."""
    with embedded_service.client() as client:
        for page in ("/docs", "/redoc"):
            html = client.get(page).text
            assert "cdn.jsdelivr.net" not in html and "unpkg.com" not in html
            assert "http://" not in html.replace(embedded_service.base, "").replace("http://www.w3.org", "")
        assert client.get("/static-offline-docs/swagger-ui-bundle.js").status_code == 200
        schema = client.get("/openapi.json").json()
        assert schema["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
        protected = schema["paths"]["/v1/claims"]["post"]
        assert protected["security"] == [{"HTTPBearer": []}]
        public = schema["paths"]["/v1/verify/citizens/{address}"]["get"]
        assert "security" not in public


def test_staff_see_what_they_manage_and_pausing_stops_redemptions(embedded_service: Service) -> None:
    """Journey 7: tokens, role holders (from the chain), activity kinds, citizens, rewards (edit,
    retire, stock) and the paused state; pausing twice is a 409; redemptions stop while paused."""
    admin = embedded_service.admin()
    with embedded_service.client() as client:
        tokens = client.get("/v1/staff-tokens", headers=admin).json()
        assert tokens and all(t["token"] is None for t in tokens)
        roles = client.get("/v1/admin/roles", headers=admin).json()
        assert roles["minter"]["points"] and roles["issuer"]["badges"]
        assert client.get("/v1/admin/activity-kinds").json()[0] == {"kind": 0, "label": "plogging", "enabled": True}
        assert (
            client.get("/v1/citizens", params={"q": "river"}, headers=admin).json()[0]["display_name"] == "river-walker"
        )
        rewards = client.get("/v1/rewards").json()
        changed = client.patch(f"/v1/rewards/{rewards[1]['reward_id']}", json={"stock": 3, "cost": 140}, headers=admin)
        assert changed.json()["stock"] == 3 and changed.json()["cost"] == 140
        retired = client.patch(f"/v1/rewards/{rewards[1]['reward_id']}", json={"active": False}, headers=admin)
        assert retired.status_code == 200
        assert rewards[1]["reward_id"] not in [r["reward_id"] for r in client.get("/v1/rewards").json()]
        citizen = embedded_service.demo_tokens()
        before = client.get(f"/v1/verify/citizens/{citizen['citizen_address']}").json()["balance"]
        paused = client.post("/v1/admin/pause", headers=admin)
        assert paused.status_code == 200, paused.text
        try:
            assert client.get("/v1/health").json()["paused"] is True
            assert_error(client.post("/v1/admin/pause", headers=admin), 409, "already_paused")
            refused = client.post(
                "/v1/redemptions",
                json={"reward_id": rewards[0]["reward_id"]},
                headers={"Authorization": f"Bearer {citizen['citizen']}"},
            )
            assert_error(refused, 503, "ledger_paused")
        finally:
            assert client.post("/v1/admin/unpause", headers=admin).status_code == 200
        after = client.get(f"/v1/verify/citizens/{citizen['citizen_address']}").json()["balance"]
        assert after == before, "nothing was spent while paused"
        assert client.get("/v1/health").json()["paused"] is False


def test_csv_issuance_forgives_what_a_person_would_expect(embedded_service: Service) -> None:
    """Journey 8: holders skipped and reported, headers in any case, a browser's multipart
    upload, and a file saved by Korean Excel (CP949)."""
    admin = embedded_service.admin()
    with embedded_service.client() as client:
        event = client.get("/v1/events").json()[1]  # Green Talk Talk: members 4-12 hold it
        holders = {m for m in _demo_addresses(client, embedded_service)}
        newcomers = [embedded_service.enrol(client, f"newcomer-{i}")["address"] for i in range(3)]
        holder = next(
            a for a in holders if client.get(f"/v1/verify/events/{event['event_id']}/badges/{a}").json()["holds_badge"]
        )
        text = "이름,ADDRESS\n" + "".join(f"참가자{i},{a}\n" for i, a in enumerate([*newcomers, holder]))
        data = codecs.encode(text, "cp949")
        issued = client.post(
            f"/v1/events/{event['event_id']}/badges", files={"file": ("참가자.csv", data, "text/csv")}, headers=admin
        )
        assert issued.status_code == 200, issued.text
        assert issued.json()["issued"] == 3
        assert issued.json()["skipped"]["already_held"] == [holder]
        for address in newcomers:
            assert client.get(f"/v1/verify/events/{event['event_id']}/badges/{address}").json()["holds_badge"]


def test_the_daily_cap_is_a_day_in_seoul(embedded_service: Service) -> None:
    """Journey 9: the contract counts days from midnight in the city's time zone, not UTC."""
    with embedded_service.client() as client:
        limits = client.get("/v1/admin/limits", headers=embedded_service.admin()).json()
        assert limits and limits[0]["daily_cap"] > 0
    deployment = (embedded_service.directory / "deployment.json").read_text()
    assert '"time_zone": "Asia/Seoul"' in deployment and '"day_offset_seconds": 32400' in deployment


def test_exporting_a_custodial_key_needs_the_pin_and_is_recorded(embedded_service: Service) -> None:
    """Journey 10: the bearer token alone does not export a key; the PIN does, once."""
    with embedded_service.client() as client:
        citizen = embedded_service.enrol(client, "moving-to-a-wallet", pin="112233")
        assert_error(client.post("/v1/citizens/me/key-export", json={}, headers=citizen["headers"]), 422)
        assert_error(
            client.post("/v1/citizens/me/key-export", json={"pin": "000000"}, headers=citizen["headers"]),
            401,
            "wrong_pin",
        )
        exported = client.post("/v1/citizens/me/key-export", json={"pin": "112233"}, headers=citizen["headers"])
        assert exported.status_code == 200, exported.text
        assert exported.json()["address"] == citizen["address"]
        assert_error(
            client.post("/v1/citizens/me/key-export", json={"pin": "112233"}, headers=citizen["headers"]),
            409,
            "not_custodial",
        )
    recorded = embedded_service.sql("SELECT action, subject FROM audit_log WHERE action = 'key_exported'")
    assert ("key_exported", f"citizen:{citizen['citizen_id']}") in recorded
