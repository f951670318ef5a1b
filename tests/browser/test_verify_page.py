"""The public verification page in a real browser (Debian's Chromium, driven by Playwright)."""

from __future__ import annotations

import pytest

from .conftest import Browsing


@pytest.fixture
def page(served, chromium):
    api, base = served()
    browsing = Browsing(chromium, base)
    yield api, base, browsing.person().new_page()
    assert browsing.foreign() == []


def test_a_resident_verifies_a_citizen_in_the_browser(page):
    api, base, page = page
    headers, citizen = api.custodial_citizen(display_name="Kim Plogger")
    claim = api.award(headers)
    event = api.client.post(
        "/v1/events",
        json={"title": "Talk night", "venue": "metaverse", "claim_start": 0, "claim_end": 2**34},
        headers=api.staff("issuer"),
    ).json()
    api.client.post(
        f"/v1/events/{event['event_id']}/badges", json={"attendees": [citizen["address"]]}, headers=api.staff("issuer")
    )

    page.goto(base + "/?lang=en")
    page.fill("#q", citizen["address"])
    page.click("form[role=search] button[type=submit]")
    page.wait_for_selector("#result")
    assert page.text_content("#balance").strip() == str(claim["points"])
    assert "Verified" in page.text_content(".result.passed")
    award = page.locator("#records li", has_text="Points awarded")
    assert award.count() == 1
    assert str(claim["activity_id"]) in award.text_content()
    assert award.locator(f"a[title='{claim['tx_hash']}']").count() == 1  # the transaction, linked
    badge = page.locator("#badges li")
    assert badge.count() == 1 and "Talk night" in badge.text_content()
    assert badge.locator(f"img[src='/v1/badges/{event['event_id']:064x}.svg']").count() == 1
    # Nothing personal is shown: the page only knows what the chain knows.
    assert "Kim Plogger" not in page.content()
    # The address in the link reopens the same answer.
    assert citizen["address"] in page.url


def test_a_mistyped_address_is_explained_not_shown_as_empty(page):
    _, base, page = page
    page.goto(base + "/?q=0x1234&lang=en")
    assert "Enter an address (0x…), an activity number, or a badge link." in page.text_content("#error")
    assert page.locator("#result").count() == 0


def test_a_configured_block_explorer_links_each_transaction(served, chromium):
    api, base = served(explorer_tx_url="https://explorer.example/tx/{tx}")
    headers, citizen = api.custodial_citizen()
    claim = api.award(headers)
    browsing = Browsing(chromium, base)
    page = browsing.person().new_page()
    page.goto(f"{base}/?q={citizen['address']}")
    link = page.locator(f"#records a[href='https://explorer.example/tx/{claim['tx_hash']}']")
    assert link.count() == 1
    assert browsing.foreign() == []  # a link is not a load
