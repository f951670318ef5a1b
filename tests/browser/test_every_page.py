"""Every page, as each kind of reader sees it: in Korean and English, loading nothing from another
host, never scrolling sideways on a 360-pixel phone, with no serious accessibility violation
(axe-core), and a screenshot of each on a phone (390x844) and a desktop (1280x800).

One app is served for the module and filled with what the pages show (a citizen with points,
claims held and rejected, a badge; an event; rewards); one tour visits every page once and the
tests below check what it found.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from cryptography.fernet import Fernet
from fastapi.testclient import TestClient
from pydantic import SecretStr

from api.app import create_app
from api.outbox import SqlOutbox
from api.services import citizens, evidence
from api.services.context import Context
from api.services.security import Cipher
from api.settings import ApiSettings
from api.store import Store
from devtools.node import free_port
from ledger import Ledger
from tests.api.conftest import Api
from tests.helpers import outing

from .conftest import ARGS, CHROMIUM, DESKTOP, PHONE, PIN, SCREENSHOTS, Browsing, gpx_track, png_photo, serve

playwright = pytest.importorskip("playwright.sync_api")

NARROW = {"width": 360, "height": 740}


@dataclass
class World:
    api: Api
    base: str
    admin: str
    minter: str
    citizen: str  # a session token
    address: str
    activity_id: int
    event_id: int
    card_code: str  # a card not activated yet
    ids: dict[str, Any] = field(default_factory=dict)


def _token(headers: dict[str, str]) -> str:
    return headers["Authorization"].split(" ", 1)[1]


@pytest.fixture(scope="module")
def world(api_chain: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """One app for the module (as tests/api/conftest.py's make_api builds one per test), served
    on loopback at its public base URL, with something on every page."""
    tmp = tmp_path_factory.mktemp("pages")
    snapshot = api_chain.test_chain.chain.snapshot()
    port = free_port()
    url = f"sqlite:///{tmp}/civic.db"
    settings = ApiSettings(
        database_url=url,
        data_key=SecretStr(Fernet.generate_key().decode()),
        public_base_url=f"http://127.0.0.1:{port}",
        rate_limit_per_minute=10_000,
        public_rate_limit_per_minute=100_000,
        award_interval_seconds=3_600,
        issuer_key_path=tmp / "issuer-key.json",
    )
    store = Store(url)
    store.migrate()
    ledger = Ledger(api_chain.test_chain.chain, api_chain.deployment, api_chain.city, outbox=SqlOutbox(store))
    ctx = Context(settings, store, ledger, Cipher(settings.data_key.get_secret_value()))  # type: ignore[union-attr]
    client = TestClient(create_app(ctx))
    client.__enter__()
    try:
        api = Api(client, ctx, api_chain.test_chain)
        admin, minter = api.staff("admin"), api.staff("minter")
        headers, enrolled = api.custodial_citizen(display_name="김시민")
        awarded = api.award(headers)
        citizen = citizens.get(ctx, enrolled["citizen_id"])
        # A claim held for review, with its photo and track kept; and one rejected.
        photo = evidence.store(ctx, citizen, png_photo(3), "photo")
        track = evidence.store(ctx, citizen, gpx_track(seed=3, minutes=50), "track")
        held = client.post(
            "/v1/claims", json=outing(minutes_ago=60 * 24 * 8, photo_hash=photo, track_hash=track), headers=headers
        ).json()
        rejected = client.post("/v1/claims", json=outing(minutes_ago=60 * 24 * 9), headers=headers).json()
        client.post(
            f"/v1/review/claims/{rejected['claim_id']}",
            json={"decision": "reject", "reason": "The photo shows no litter."},
            headers=minter,
        )
        event = client.post(
            "/v1/events",
            json={
                "title": "한강 플로깅의 날",
                "title_en": "Han river plogging day",
                "venue": "physical",
                "claim_start": 0,
                "claim_end": 2**34,
                "capacity": 100,
            },
            headers=admin,
        ).json()
        client.post(f"/v1/events/{event['event_id']}/badges", json={"attendees": [enrolled["address"]]}, headers=admin)
        client.post("/v1/rewards", json={"title": "텀블러", "cost": 50, "stock": 5}, headers=admin)
        retired = client.post("/v1/rewards", json={"title": "에코백", "cost": 500}, headers=admin).json()
        client.patch(f"/v1/rewards/{retired['reward_id']}", json={"active": False}, headers=admin)
        fresh = client.post("/v1/citizens", json={"display_name": "새 시민"}, headers=admin).json()
        with serve(client.app, port) as base:
            yield World(
                api=api,
                base=base,
                admin=_token(admin),
                minter=_token(minter),
                citizen=_token(headers),
                address=enrolled["address"],
                activity_id=awarded["activity_id"],
                event_id=event["event_id"],
                card_code=fresh["card"]["code"],
                ids={"held": held["claim_id"]},
            )
    finally:
        client.__exit__(None, None, None)
        store.dispose()
        api_chain.test_chain.chain.revert(snapshot)


@dataclass(frozen=True)
class Stop:
    """One page of the tour: its name (the screenshots' file names), who reads it, and how to
    reach it (a path, or steps on a page that end on it, for pages a form answers)."""

    name: str
    who: str  # anyone, citizen, admin, minter
    path: str
    then: Callable[[Any, World], None] | None = None


def _issue_preview(page: Any, world: World) -> None:
    csv = f"address\n{world.address}\n0x{'ab' * 20}\n".encode()
    page.set_input_files("#f-file", {"name": "attendees.csv", "mimeType": "text/csv", "buffer": csv})
    page.click("form[action$='/issue/preview'] button[type=submit]")
    page.wait_for_selector("#preview")


def _enrol(page: Any, world: World) -> None:
    page.fill("#f-display_name", "박카드")
    page.click("form[action='/staff/citizens'] button[type=submit]")
    page.wait_for_selector("#card")


def _show_key(page: Any, world: World) -> None:
    page.fill("#f-pin", PIN)
    page.check("#f-understood")
    page.click("main form button[type=submit]")
    page.wait_for_selector("#private-key")


def _outing_errors(page: Any, world: World) -> None:
    page.fill("#f-steps", "many")
    page.evaluate("() => { document.querySelector('main form').noValidate = true; }")
    page.click("main form button[type=submit]")
    page.wait_for_selector("#form-error")


def stops(world: World) -> list[Stop]:
    a, e = world.address, world.event_id
    return [
        Stop("verify", "anyone", "/"),
        Stop("verify-citizen", "anyone", f"/?q={a}"),
        Stop("verify-activity", "anyone", f"/?q={world.activity_id}"),
        Stop("verify-badge", "anyone", f"/?event={e}&address={a}"),
        Stop("verify-event", "anyone", f"/?event={e}"),
        Stop("verify-not-found", "anyone", "/?q=not-an-address"),
        Stop("audit", "anyone", "/audit"),
        Stop("me-sign-in", "anyone", "/me/sign-in"),
        Stop("me-card", "anyone", f"/me/card?code={world.card_code}"),
        Stop("claim-signed-out", "anyone", "/claim?code=" + "c" * 22),
        Stop("staff-sign-in", "anyone", "/staff"),
        Stop("me", "citizen", "/me"),
        Stop("me-outing", "citizen", "/me/outing"),
        Stop("me-outing-errors", "citizen", "/me/outing", _outing_errors),
        Stop("me-claims", "citizen", "/me/claims"),
        Stop("me-badges", "citizen", "/me/badges"),
        Stop("me-badge", "citizen", f"/me/badges/{e}"),
        Stop("me-rewards", "citizen", "/me/rewards"),
        Stop("claim", "citizen", "/claim?code=" + "c" * 22),
        Stop("me-wallet", "citizen", "/me/wallet"),
        Stop("staff", "admin", "/staff"),
        Stop("staff-events", "admin", "/staff/events"),
        Stop("staff-event", "admin", f"/staff/events/{e}"),
        Stop("staff-issue-preview", "admin", f"/staff/events/{e}", _issue_preview),
        Stop("staff-kiosk", "admin", f"/staff/events/{e}/kiosk"),
        Stop("staff-review", "admin", "/staff/review"),
        Stop("staff-reversals", "admin", f"/staff/reversals?activity={world.activity_id}"),
        Stop("staff-roles", "admin", "/staff/roles"),
        Stop("staff-rewards", "admin", "/staff/rewards"),
        Stop("staff-citizens", "admin", "/staff/citizens?q=%EA%B9%80"),
        Stop("staff-card", "admin", "/staff/citizens", _enrol),
        Stop("staff-not-for-role", "minter", "/staff/rewards"),
        # Last: it hands the citizen their key (the city's copy is deleted).
        Stop("me-wallet-key", "citizen", "/me/wallet", _show_key),
    ]


def cookies(world: World, who: str) -> dict[str, str]:
    return {
        "anyone": {},
        "citizen": {"civic_session": world.citizen},
        "admin": {"civic_staff": world.admin},
        "minter": {"civic_staff": world.minter},
    }[who]


@dataclass
class Seen:
    status: int
    lang: str
    overflow: int
    serious: list[str]
    screenshots: list[str]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield launched
        finally:
            launched.close()


def visit(context: Any, world: World, stop: Stop) -> tuple[Any, int]:
    page = context.new_page()
    response = page.goto(world.base + stop.path)
    status = response.status if response else 0
    if stop.then is not None:
        stop.then(page, world)
    page.wait_for_load_state("load")
    return page, status


@pytest.fixture(scope="module")
def tour(world: World, browser: Any) -> tuple[Browsing, dict[str, Seen]]:
    """Every page once: how wide it is at 360 px, what axe-core finds at 390 px, and its
    screenshots at 390x844 and 1280x800 (full page)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    browsing = Browsing(browser, world.base)
    seen: dict[str, Seen] = {}
    for stop in stops(world):
        context = browsing.person(viewport=NARROW, **cookies(world, stop.who))
        page, status = visit(context, world, stop)
        overflow = page.evaluate("() => document.documentElement.scrollWidth - document.documentElement.clientWidth")
        page.set_viewport_size(PHONE)
        results = Axe().run(page, options={"resultTypes": ["violations"]})
        serious = [
            f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']][:5]}"
            for v in results.response["violations"]
            if v["impact"] in ("serious", "critical")
        ]
        shots = [str(SCREENSHOTS / f"{stop.name}-phone.png"), str(SCREENSHOTS / f"{stop.name}-desktop.png")]
        page.screenshot(path=shots[0], full_page=True)
        page.set_viewport_size(DESKTOP)
        page.screenshot(path=shots[1], full_page=True)
        seen[stop.name] = Seen(status, page.get_attribute("html", "lang") or "", overflow, serious, shots)
        context.close()
    return browsing, seen


def test_every_page_answers_in_korean_by_default(tour):
    _, seen = tour
    wrong = {name: (s.status, s.lang) for name, s in seen.items() if s.lang != "ko" or s.status >= 500}
    assert wrong == {}
    assert seen["verify-not-found"].status == 422
    assert seen["staff-not-for-role"].status == 403


def test_no_page_loads_anything_from_another_host(tour):
    browsing, _ = tour
    assert browsing.requests, "the tour made no request"
    assert browsing.foreign() == []


def test_no_page_scrolls_sideways_on_a_360_pixel_phone(tour):
    _, seen = tour
    assert {name: s.overflow for name, s in seen.items() if s.overflow > 0} == {}


def test_axe_finds_no_serious_or_critical_violation_on_any_page(tour):
    _, seen = tour
    assert {name: s.serious for name, s in seen.items() if s.serious} == {}


def test_every_page_has_a_phone_and_a_desktop_screenshot(tour):
    _, seen = tour
    for s in seen.values():
        for path in s.screenshots:
            with open(path, "rb") as file:
                assert file.read(8) == b"\x89PNG\r\n\x1a\n", path


def test_the_language_switch_works_on_every_page_and_is_remembered(world, browser, tour):
    """On each page: English by the visible switch, kept on the next page, Korean back."""
    browsing, _ = tour
    failures = []
    for stop in stops(world):
        if stop.name == "me-wallet-key":
            continue  # the key is shown once: that page was seen in the tour
        context = browsing.person(**cookies(world, stop.who))
        page, _ = visit(context, world, stop)
        title_ko = page.title()
        page.click("a[hreflang=en]")
        page.wait_for_load_state()
        title_en = page.title()
        if page.get_attribute("html", "lang") != "en" or "Civic participation ledger" not in title_en:
            failures.append((stop.name, "en", page.url, title_en))
        page.goto(world.base + "/audit")
        if page.get_attribute("html", "lang") != "en":
            failures.append((stop.name, "not remembered"))
        page.click("a[hreflang=ko]")
        page.wait_for_load_state()
        if page.get_attribute("html", "lang") != "ko" or "시민 참여 원장" not in page.title():
            failures.append((stop.name, "ko", page.url))
        if title_ko == title_en:
            failures.append((stop.name, "same title", title_ko))
        context.close()
    assert failures == []
    assert browsing.foreign() == []


def test_a_badge_link_and_an_activity_number_find_their_records(world, browser):
    browsing = Browsing(browser, world.base)
    page = browsing.person().new_page()
    page.goto(world.base + "/")
    page.fill("#q", f"{world.base}/v1/credentials/badges/{world.event_id}/{world.address}")
    page.click("form[role=search] button[type=submit]")
    page.wait_for_selector("#result")
    assert "한강 플로깅의 날" in page.text_content("#result h2")
    assert page.locator("#result img[src$='.svg']").count() == 1
    page.fill("#q", str(world.activity_id))
    page.click("form[role=search] button[type=submit]")
    page.wait_for_selector("#result")
    assert re.search(rf"\b{world.activity_id}\b", page.text_content("#result h2"))
