"""The pages' cookies and forms, without a browser: sessions in HttpOnly, SameSite=Lax cookies
(Secure behind https), a CSRF token on every form, the language remembered, and absolute links
from the configured public base URL whatever Host the request names."""

from __future__ import annotations

import json
import re
from http.cookies import SimpleCookie

from api.pages.web import CITIZEN_COOKIE, CSRF_COOKIE, LANG_COOKIE, translations

from .conftest import PIN


def set_cookies(response) -> dict[str, SimpleCookie]:
    found = {}
    for header in response.headers.get_list("set-cookie"):
        cookie = SimpleCookie()
        cookie.load(header)
        for name in cookie:
            found[name] = cookie[name]
    return found


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([0-9a-f]{64})"', html)
    assert match, "the form carries no CSRF token"
    return match.group(1)


def test_signing_in_sets_an_http_only_same_site_session_cookie_and_needs_the_csrf_token(api):
    _, enrolled = api.custodial_citizen()
    client = api.client
    page = client.get("/me/sign-in")
    assert page.status_code == 200
    csrf_cookie = set_cookies(page)[CSRF_COOKIE]
    assert csrf_cookie["httponly"] and csrf_cookie["samesite"].lower() == "lax" and not csrf_cookie["secure"]
    form = {"code": enrolled["card"]["code"], "pin": PIN, "next": "/me"}

    refused = client.post("/me/sign-in", data=form, follow_redirects=False)
    assert refused.status_code == 403 and CITIZEN_COOKIE not in set_cookies(refused)
    forged = client.post("/me/sign-in", data=form | {"csrf": "0" * 64}, follow_redirects=False)
    assert forged.status_code == 403

    answer = client.post("/me/sign-in", data=form | {"csrf": csrf_of(page.text)}, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/me?done=signed_in"
    session = set_cookies(answer)[CITIZEN_COOKIE]
    assert session.value.startswith("cit_")
    assert session["httponly"] and session["samesite"].lower() == "lax" and session["path"] == "/"
    assert client.get("/me").status_code == 200


def test_a_csrf_token_from_another_browser_is_refused(make_api):
    api = make_api()
    _, enrolled = api.custodial_citizen()
    theirs = csrf_of(api.client.get("/me/sign-in").text)
    api.client.cookies.clear()
    api.client.get("/me/sign-in")  # this browser's own CSRF cookie
    answer = api.client.post(
        "/me/sign-in", data={"code": enrolled["card"]["code"], "pin": PIN, "csrf": theirs}, follow_redirects=False
    )
    assert answer.status_code == 403
    assert translations("ko").ugettext("This form has expired") in answer.text


def test_cookies_are_secure_and_links_absolute_under_an_https_public_base_url(make_api):
    api = make_api(public_base_url="https://plogging.city.example")
    _, enrolled = api.custodial_citizen()
    page = api.client.get("/me/sign-in", headers={"Host": "evil.example"})
    assert set_cookies(page)[CSRF_COOKIE]["secure"]
    # The test client speaks http, so it would not send Secure cookies back: set them by hand.
    api.client.cookies.set(CSRF_COOKIE, set_cookies(page)[CSRF_COOKIE].value)
    api.client.cookies.set("civic_staff", api.staff("admin")["Authorization"].split(" ", 1)[1])
    enrol = api.client.get("/staff/citizens", headers={"Host": "evil.example"})
    card = api.client.post(
        "/staff/citizens", data={"display_name": "카드", "csrf": csrf_of(enrol.text)}, headers={"Host": "evil.example"}
    )
    assert card.status_code == 200, card.text[-500:]
    assert "https://plogging.city.example/me/card?code=" in card.text
    assert "evil.example" not in card.text
    answer = api.client.post(
        "/me/sign-in",
        data={"code": enrolled["card"]["code"], "pin": PIN, "csrf": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert set_cookies(answer)[CITIZEN_COOKIE]["secure"]


def test_the_language_is_korean_by_default_and_english_once_chosen(api):
    korean = api.client.get("/")
    assert '<html lang="ko">' in korean.text and "포인트와 배지 확인" in korean.text
    english = api.client.get("/?lang=en")
    assert set_cookies(english)[LANG_COOKIE].value == "en"
    assert '<html lang="en">' in english.text
    assert '<html lang="en">' in api.client.get("/audit").text  # remembered
    assert '<html lang="ko">' in api.client.get("/audit?lang=ko").text


def test_every_message_of_the_pages_has_a_korean_translation():
    from babel.messages.pofile import read_po

    from api.pages.web import LOCALE_DIR

    with open(LOCALE_DIR / "ko" / "LC_MESSAGES" / "messages.po", "rb") as handle:
        catalog = read_po(handle)
    untranslated = [m.id for m in catalog if m.id and not (m.string if isinstance(m.string, str) else all(m.string))]
    assert untranslated == []
    assert len(catalog) > 400


def test_the_audit_page_says_how_to_audit_and_shows_a_published_report(api, tmp_path, monkeypatch):
    plain = api.client.get("/audit?lang=en")
    assert "civic audit --rpc-url URL --deployment deployment.json --out audit-report" in plain.text
    assert api.ledger.deployment.points_address in plain.text
    report = tmp_path / "audit"
    report.mkdir()
    summary = {
        "clean": False,
        "errors": 1,
        "warnings": 0,
        "audited_block": 42,
        "checks": [
            {
                "name": "balances",
                "title": "Balances add up",
                "title_ko": "잔액 일치",
                "outcome": "passed",
                "detail": "ok",
            },
            {
                "name": "code",
                "title": "Code matches",
                "title_ko": "코드 일치",
                "outcome": "failed",
                "detail": "mismatch",
            },
        ],
    }
    (report / "report.json").write_text(json.dumps(summary))
    (report / "report.html").write_text("<!DOCTYPE html><html lang=ko><title>audit</title><svg></svg></html>")
    (report / "records.csv").write_text("kind,tx\n")
    monkeypatch.setenv("CIVIC_AUDIT_REPORT_DIR", str(report))
    page = api.client.get("/audit?lang=ko")
    assert "코드 일치" in page.text and "mismatch" in page.text and 'class="result failed"' in page.text
    assert 'href="/audit/files/report.html"' in page.text
    full = api.client.get("/audit/files/report.html")
    assert full.status_code == 200 and full.headers["content-type"].startswith("text/html")
    assert api.client.get("/audit/files/records.csv").headers["content-disposition"].startswith("attachment")
    assert api.client.get("/audit/files/..%2Freport.json").status_code == 404
    assert api.client.get("/audit/files/secret.txt").status_code == 404
