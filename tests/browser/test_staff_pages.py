"""Staff at work in the browser: an event with dates in the city's time zone, badges issued from
a CSV file after a preview, a revocation and a reversal whose reasons anyone can read, rewards,
staff tokens, and pausing the programme."""

from __future__ import annotations

import re

from api.pages.messages import ERRORS, REASONS

from .conftest import Browsing
from .test_journeys import ko, token_of


def test_staff_run_an_event_issue_revoke_and_reverse_with_reasons(served, chromium):
    api, base = served()
    browsing = Browsing(chromium, base)
    page = browsing.person(viewport={"width": 1280, "height": 800}, civic_staff=token_of(api.staff())).new_page()
    first_headers, first = api.custodial_citizen(display_name="하나")
    _, second = api.custodial_citizen(display_name="둘")

    # An event: the form's times are the city's (Asia/Seoul); an impossible window is explained.
    page.goto(base + "/staff/events")
    page.fill("#f-title", "봄맞이 플로깅")
    page.fill("#f-title_en", "Spring plogging")
    page.fill("#f-claim_start", "2030-05-01T10:00")
    page.fill("#f-claim_end", "2030-04-30T18:00")
    page.click("form[action='/staff/events'] button[type=submit]")
    assert ko(ERRORS["invalid_claim_window"]) in page.text_content("#form-error")
    page.fill("#f-claim_end", "2030-05-01T18:00")
    page.click("form[action='/staff/events'] button[type=submit]")
    page.wait_for_url(re.compile(r"/staff/events/\d+\?done=event_created"))
    event_id = int(page.url.split("/staff/events/")[1].split("?")[0])
    event = api.client.get(f"/v1/events/{event_id}").json()
    assert event["claim_start"].startswith("2030-05-01T01:00:00")  # 10:00 in Seoul
    assert event["claim_end"].startswith("2030-05-01T09:00:00")

    # Badges from a CSV file: a preview (duplicates dropped) before anything is sent.
    csv = f"Address\n{first['address']}\n{second['address']}\n{first['address']}\n".encode()
    page.set_input_files("#f-file", {"name": "attendees.csv", "mimeType": "text/csv", "buffer": csv})
    page.click("form[action$='/issue/preview'] button[type=submit]")
    assert page.text_content("#preview-count").strip() == "2"
    assert not api.ledger.has_badge(event_id, first["address"])
    page.click("form[action$='/issue'] button[type=submit]")
    page.wait_for_selector("#issue-result")
    assert api.ledger.has_badge(event_id, first["address"]) and api.ledger.has_badge(event_id, second["address"])

    # A revocation with its reason.
    page.fill("#f-address", second["address"])
    page.select_option("#f-reason_code", "1")
    page.click("button[value=revoke]")
    page.wait_for_url(re.compile(r"done=revoked"))
    assert not api.ledger.has_badge(event_id, second["address"])

    # A reversal with its reason, looked up first.
    claim = api.award(first_headers)
    page.goto(base + "/staff/reversals")
    page.fill("#f-activity-find", str(claim["activity_id"]))
    page.click("main form[method=get] button[type=submit]")
    page.select_option("#f-reason_code", "2")
    page.click("main form[method=post] button[type=submit]")
    page.wait_for_selector("#reversal-result")
    assert api.ledger.balance_of(first["address"]) == 0

    # Anyone reads both reasons on the public page.
    reader = browsing.person().new_page()
    reader.goto(f"{base}/?q={second['address']}")
    assert ko(REASONS[1]) in reader.text_content("#records")
    reader.goto(f"{base}/?q={first['address']}")
    assert ko("Award reversed") in reader.text_content("#records")
    assert ko(REASONS[2]) in reader.text_content("#records")
    assert reader.locator(".result.passed").count() == 1  # the records still add up
    assert browsing.foreign() == []


def test_staff_manage_rewards_tokens_and_pause(served, chromium):
    api, base = served()
    browsing = Browsing(chromium, base)
    page = browsing.person(civic_staff=token_of(api.staff())).new_page()

    # Rewards: add, restock, retire.
    page.goto(base + "/staff/rewards")
    page.fill("#new-title", "텀블러")
    page.fill("#new-cost", "abc")
    page.click("form[action='/staff/rewards'] button[type=submit]")
    assert page.locator("#new-cost-error").count() == 1
    page.fill("#new-cost", "50")
    page.fill("#new-stock", "3")
    page.click("form[action='/staff/rewards'] button[type=submit]")
    page.wait_for_url(re.compile(r"done=reward_saved"))
    reward = api.client.get("/v1/rewards").json()[0]
    assert (reward["title"], reward["cost"], reward["stock"]) == ("텀블러", 50, 3)
    card = page.locator("#reward-list li").first
    card.locator("summary").click()
    card.locator(f"#stock-{reward['reward_id']}").fill("10")
    card.locator("button:has-text('" + ko("Save") + "')").click()
    page.wait_for_url(re.compile(r"done=reward_saved"))
    assert api.client.get("/v1/rewards").json()[0]["stock"] == 10
    page.locator("#reward-list li").first.locator("button[value=retire]").click()
    page.wait_for_url(re.compile(r"done=reward_saved"))
    assert api.client.get("/v1/rewards").json() == []

    # A staff token, shown once; it signs in, then is revoked.
    page.goto(base + "/staff/roles")
    assert page.locator("#role-holders li").count() >= 1
    page.fill("#f-label", "현장 직원")
    page.select_option("#f-token_role", "issuer")
    page.click("form[action='/staff/tokens'] button[type=submit]")
    token = page.text_content("#new-token").strip()
    assert token.startswith("staff_")
    colleague = browsing.person().new_page()
    colleague.goto(base + "/staff")
    colleague.fill("#f-token", token)
    colleague.click("main form button[type=submit]")
    colleague.wait_for_url(re.compile(r"done=staff_signed_in"))
    assert colleague.locator("a[href='/staff/events']").count() == 1
    assert colleague.locator("a[href='/staff/review']").count() == 0  # issuers do not review
    page.goto(base + "/staff/roles")
    page.locator("#tokens li", has_text="현장 직원").locator("button").click()
    page.wait_for_url(re.compile(r"done=token_revoked"))
    colleague.goto(base + "/staff/events")
    colleague.wait_for_url(re.compile(r"/staff\?next="))

    # Pause and resume.
    page.goto(base + "/staff")
    assert page.text_content("#programme-state").strip() == ko("Running")
    page.click("form[action='/staff/pause'] button[type=submit]")
    page.wait_for_url(re.compile(r"done=paused"))
    assert page.text_content("#programme-state").strip() == ko("Paused")
    assert api.ledger.is_paused()
    page.click("form[action='/staff/pause'] button[type=submit]")
    page.wait_for_url(re.compile(r"done=unpaused"))
    assert not api.ledger.is_paused()
    assert browsing.foreign() == []
