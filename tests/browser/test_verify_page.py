"""The public verification page in a real browser (Debian's Chromium, driven by Playwright)."""

from __future__ import annotations

import shutil
import threading
import time

import httpx
import pytest
import uvicorn

from devtools.node import free_port

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
playwright = pytest.importorskip("playwright.sync_api", reason="playwright is a test dependency")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="needs Chromium (apt-get install chromium; CI installs it)")


@pytest.fixture
def served(api):
    """The same app as the API tests, served over real HTTP on loopback."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(api.client.app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/v1/health", timeout=1)
            break
        except httpx.HTTPError:
            time.sleep(0.05)
    yield api, f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


@pytest.fixture
def page():
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield browser.new_page()
        browser.close()


def test_a_resident_verifies_a_citizen_in_the_browser(served, page):
    api, base = served
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

    page.goto(base + "/")
    page.fill("#address", citizen["address"])
    page.click("button[type=submit]")
    page.wait_for_selector("#result:not([hidden])")
    assert page.text_content("#balance") == str(claim["points"])
    assert "Verified" in page.text_content("#consistency")
    activity = page.locator("#activities tbody tr")
    assert activity.count() == 1
    assert str(claim["activity_id"]) in activity.first.text_content()
    assert claim["tx_hash"] in activity.first.text_content()
    assert page.locator("#badges tbody tr").count() == 1
    # Nothing personal is shown: the page only knows what the chain knows.
    assert "Kim Plogger" not in page.content()
    # The address in the link reopens the same answer.
    assert citizen["address"] in page.url


def test_a_mistyped_address_is_explained_not_shown_as_empty(served, page):
    _, base = served
    page.goto(base + "/?address=0x1234")
    page.wait_for_function("document.getElementById('error').textContent.length > 0")
    assert "not an Ethereum address" in page.text_content("#error")
    assert page.locator("#result").is_hidden()
