"""People's journeys through the pages, in a real browser: a citizen without a wallet from their
sign-in card to points anyone can verify, and a badge claimed from the venue kiosk's QR code."""

from __future__ import annotations

import json
import re
import time
from typing import Any

from eth_account import Account
from eth_account.messages import encode_defunct
from sqlalchemy import select

from api.pages.messages import ERRORS, NOTICES
from api.pages.web import translations
from api.store import ActivityClaim, EvidenceFile
from tests.helpers import outing

from .conftest import PIN, Browsing, gpx_track, png_photo

KO = translations("ko")


def ko(message: str) -> str:
    return str(KO.ugettext(message))


def token_of(headers: dict[str, str]) -> str:
    return headers["Authorization"].split(" ", 1)[1]


def wait_until(check: Any, timeout: float = 30.0, every: float = 0.5) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(every)


def test_a_citizen_without_a_wallet_records_an_outing_a_reviewer_approves_and_anyone_verifies(served, chromium):
    api, base = served(auto_approve=False, award_interval_seconds=0.5)
    browsing = Browsing(chromium, base)

    # Staff enrol the citizen and print a sign-in card (its link is built from the public base URL).
    staff = browsing.person().new_page()
    staff.goto(base + "/staff")
    staff.fill("#f-token", token_of(api.staff("admin")))
    staff.click("main form button[type=submit]")
    staff.wait_for_url(re.compile(r"/staff\?done=staff_signed_in"))
    staff.goto(base + "/staff/citizens")
    staff.fill("#f-display_name", "김플로깅")
    staff.click("text=" + ko("Enrol and print a card"))
    card_url = staff.text_content("#card-url").strip()
    card_code = staff.text_content("#card-code").strip()
    assert card_url.startswith(base + "/me/card?code=")
    assert staff.locator("#card .qr svg").count() == 1

    # The citizen opens the card's link, chooses a PIN, and is signed in.
    citizen = browsing.person().new_page()
    citizen.goto(card_url)
    assert citizen.input_value("#f-code") == card_code
    citizen.fill("#f-pin", PIN)
    citizen.fill("#f-pin_again", PIN)
    citizen.click("main form button[type=submit]")
    citizen.wait_for_url(re.compile(r"/me\?done=card_activated"))
    assert citizen.text_content("#my-points").strip() == "0"

    # Signing out and in again with the card's code and PIN.
    citizen.click("nav.subnav button[type=submit]")
    citizen.wait_for_url(re.compile(r"/me/sign-in"))
    citizen.goto(base + "/me")
    citizen.wait_for_url(re.compile(r"/me/sign-in\?next="))
    citizen.fill("#f-code", card_code)
    citizen.fill("#f-pin", PIN)
    citizen.click("main form button[type=submit]")
    citizen.wait_for_url(re.compile(r"/me\?done=signed_in"))
    address = citizen.text_content("main code").strip()

    # The outing: its times and distance come from the GPS track; the photo and the track are uploaded.
    citizen.goto(base + "/me/outing")
    citizen.fill("#f-steps", "6500")
    citizen.fill("#f-litter_grams", "150")
    citizen.set_input_files("#f-photo", {"name": "litter.png", "mimeType": "image/png", "buffer": png_photo(1)})
    citizen.set_input_files(
        "#f-track", {"name": "walk.gpx", "mimeType": "application/gpx+xml", "buffer": gpx_track(seed=1)}
    )
    citizen.click("main form button[type=submit]")
    citizen.wait_for_url(re.compile(r"/me/claims\?done=outing_recorded"))
    claim = citizen.locator("#claims li").first
    assert "held" in claim.locator(".status").first.get_attribute("class")

    # Only the salted commitment goes on-chain; the files are kept for the reviewer.
    with api.ctx.store.session() as session:
        kept = session.scalars(select(EvidenceFile)).all()
        (row,) = session.scalars(select(ActivityClaim)).all()
    assert {f.evidence_hash for f in kept} == {row.photo_hash, row.track_hash}
    assert row.evidence_commitment not in (row.photo_hash, row.track_hash)

    # A reviewer looks at the evidence and approves, with a reason.
    staff.goto(base + "/staff/review")
    item = staff.locator("#queue li").first
    photo = item.locator("img")
    photo.wait_for()
    assert staff.evaluate("img => img.complete && img.naturalWidth > 0", photo.element_handle())
    assert item.locator(".track svg path").count() == 1
    item.locator("textarea").fill("사진과 경로를 확인했습니다.")
    item.locator("button[value=approve]").click()
    staff.wait_for_url(re.compile(r"/staff/review\?done=reviewed"))
    assert staff.locator("#queue-empty").count() == 1

    # The chain writer awards it within seconds; the citizen sees the points and the reason.
    def points() -> str:
        citizen.goto(base + "/me")
        text = citizen.text_content("#my-points").strip()
        return text if text != "0" else ""

    assert wait_until(points) == "75"
    citizen.goto(base + "/me/claims")
    assert "사진과 경로를 확인했습니다." in citizen.text_content("#claims")

    # Anyone verifies them on the public page, without signing in.
    reader = browsing.person().new_page()
    reader.goto(base + "/")
    reader.fill("#q", address)
    reader.click("form[role=search] button[type=submit]")
    reader.wait_for_selector("#result")
    assert reader.text_content("#balance").strip() == "75"
    assert reader.locator(".result.passed").count() == 1
    record = reader.locator("#records li").first
    assert ko("Points awarded") in record.text_content()
    assert record.locator("a[download]").count() >= 1
    assert "김플로깅" not in reader.content()  # nothing personal on the public page
    assert browsing.foreign() == []


def test_a_badge_is_claimed_from_the_kiosk_qr_link_and_the_same_code_is_refused_a_second_time(served, chromium):
    api, base = served(kiosk_code_ttl_seconds=20)
    browsing = Browsing(chromium, base)
    issuer = api.staff("issuer")
    event = api.client.post(
        "/v1/events",
        json={
            "title": "한강 플로깅",
            "title_en": "Han river plogging",
            "venue": "physical",
            "claim_start": 0,
            "claim_end": 2**34,
        },
        headers=issuer,
    ).json()
    first_headers, first = api.custodial_citizen(display_name="First")
    _, second = api.custodial_citizen(display_name="Second")

    # The venue screen shows a QR code of a single-use claim link, and replaces it every few seconds.
    kiosk = browsing.person(viewport={"width": 1280, "height": 800}, civic_staff=token_of(issuer)).new_page()
    kiosk.goto(f"{base}/staff/events/{event['event_id']}/kiosk")
    link = kiosk.get_attribute("#claim-link", "href")
    code = kiosk.get_attribute("#claim-link", "data-code")
    assert link == f"{base}/claim?code={code}"
    assert kiosk.locator("#qr svg[role=img]").count() == 1

    # A signed-in citizen opens the link (what the phone's camera does) and claims the badge.
    phone = browsing.person(civic_session=token_of(first_headers)).new_page()
    phone.goto(link)
    phone.click("#claim-button")
    phone.wait_for_url(re.compile(rf"/me/badges/{event['event_id']}\?done=badge_claimed"))
    assert ko(NOTICES["badge_claimed"]) in phone.text_content("main")
    assert phone.locator("a[href*='linkedin.com']").count() == 1
    assert api.ledger.has_badge(event["event_id"], first["address"])

    # Someone else with a photo of the same code: signed out, they sign in first and come back,
    # but the code was used.
    other = browsing.person().new_page()
    other.goto(link)
    other.click("a[href^='/me/sign-in?next=']")
    other.fill("#f-code", second["card"]["code"])
    other.fill("#f-pin", PIN)
    other.click("main form button[type=submit]")
    other.wait_for_url(re.compile(r"/claim\?code="))
    other.click("#claim-button")
    other.wait_for_selector("#form-error")
    assert ko(ERRORS["claim_code_used"]) in other.text_content("#form-error")
    assert not api.ledger.has_badge(event["event_id"], second["address"])

    # Meanwhile the kiosk has moved on to a new code.
    assert wait_until(lambda: kiosk.get_attribute("#claim-link", "data-code") != code, timeout=15)
    assert browsing.foreign() == []


WALLET = """
window.ethereum = {
  request: async ({ method, params }) => {
    if (method === "eth_requestAccounts") return [ADDRESS.toLowerCase()];
    if (method === "personal_sign" || method === "eth_signTypedData_v4") {
      return await window.walletSigns(method, JSON.stringify(params));
    }
    throw new Error("unsupported " + method);
  },
};
"""


def test_a_citizen_with_a_wallet_signs_in_with_ethereum_and_redeems_with_a_signed_consent(served, chromium):
    api, base = served()
    browsing = Browsing(chromium, base)
    account = Account.create()
    signed: list[str] = []

    def wallet_signs(method: str, params: str) -> str:
        values = json.loads(params)
        signed.append(method)
        if method == "personal_sign":
            message = bytes.fromhex(values[0][2:]).decode()
            return account.sign_message(encode_defunct(text=message)).signature.to_0x_hex()
        return Account.sign_typed_data(account.key, full_message=json.loads(values[1])).signature.to_0x_hex()

    context = browsing.person()
    context.expose_function("walletSigns", wallet_signs)
    context.add_init_script(WALLET.replace("ADDRESS", json.dumps(account.address)))
    page = context.new_page()
    page.goto(base + "/me")
    page.click("#wallet-sign-in")
    page.wait_for_url(re.compile(r"/me\?done=signed_in"))
    assert signed == ["personal_sign"]
    assert account.address in page.content()

    # Points from staff, and a reward: redeeming asks the wallet to sign the consent.
    awarded = api.client.post(
        "/v1/awards",
        json={"citizen": account.address, "points": 120, "reference": "volunteer-1"},
        headers=api.staff("minter"),
    )
    assert awarded.status_code == 201, awarded.text
    reward = api.client.post("/v1/rewards", json={"title": "텀블러", "cost": 100, "stock": 3}, headers=api.staff())
    page.goto(base + "/me/rewards")
    page.click(f"form[data-wallet-redeem='{reward.json()['reward_id']}'] button[type=submit]")
    page.wait_for_url(re.compile(r"/me/rewards\?done=redeemed"))
    assert signed == ["personal_sign", "eth_signTypedData_v4"]
    assert api.ledger.balance_of(account.address) == 20
    assert browsing.foreign() == []


def test_a_custodial_citizen_appeals_a_rejection_types_a_claim_code_and_redeems(served, chromium):
    api, base = served()
    browsing = Browsing(chromium, base)
    headers, citizen = api.custodial_citizen()
    api.award(headers)  # 75 points
    held = api.client.post("/v1/claims", json=outing(minutes_ago=60 * 24 * 8), headers=headers).json()
    api.client.post(
        f"/v1/review/claims/{held['claim_id']}",
        json={"decision": "reject", "reason": "사진에 쓰레기가 보이지 않습니다."},
        headers=api.staff("minter"),
    )
    page = browsing.person(civic_session=token_of(headers)).new_page()

    # The reviewer's reason, and one appeal.
    page.goto(base + "/me/claims")
    card = page.locator(f"#claim-{held['claim_id']}")
    assert "사진에 쓰레기가 보이지 않습니다." in card.locator(".reviewer-reason").text_content()
    card.locator("summary").click()
    card.locator("textarea").fill("쓰레기봉투 사진을 다시 올렸습니다.")
    card.locator("button[type=submit]").click()
    page.wait_for_url(re.compile(r"/me/claims\?done=appealed"))
    card = page.locator(f"#claim-{held['claim_id']}")
    assert "held" in card.locator(".status").first.get_attribute("class")
    assert card.locator("details").count() == 0  # appealed once: no second appeal

    # A claim code typed by hand (a phone without a camera).
    event = api.client.post(
        "/v1/events",
        json={"title": "토론회", "venue": "metaverse", "claim_start": 0, "claim_end": 2**34},
        headers=api.staff("issuer"),
    ).json()
    code = api.client.post(f"/v1/events/{event['event_id']}/claim-codes", headers=api.staff("issuer")).json()
    page.goto(base + "/me/badges")
    page.fill("#f-code", "not-a-code-at-all-123")
    page.click("#claim-form button[type=submit]")
    assert ko(ERRORS["claim_code_unknown"]) in page.text_content("#form-error")
    page.fill("#f-code", code["code"])
    page.click("#claim-form button[type=submit]")
    page.wait_for_url(re.compile(rf"/me/badges/{event['event_id']}\?done=badge_claimed"))
    page.goto(base + "/me/badges")
    assert page.locator("#my-badges li").count() == 1

    # Redeeming: the citizen's request is the consent, signed with the key the city keeps.
    reward = api.client.post("/v1/rewards", json={"title": "장바구니", "cost": 70, "stock": 1}, headers=api.staff())
    page.goto(base + "/me/rewards")
    page.click(f"form[action='/me/rewards/{reward.json()['reward_id']}'] button[type=submit]")
    page.wait_for_url(re.compile(r"/me/rewards\?done=redeemed"))
    assert api.ledger.balance_of(citizen["address"]) == 5
    assert browsing.foreign() == []
