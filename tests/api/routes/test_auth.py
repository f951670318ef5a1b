"""Sign-In with Ethereum, staff tokens, who may call what, and the per-client rate limits."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api import ratelimit
from api.store import Citizen, CitizenSession, SiweNonce, StaffToken
from tests.api.conftest import outing


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _nonce(api) -> str:
    response = api.client.post("/v1/auth/siwe/nonce")
    assert response.status_code == 200, response.text
    return response.json()["nonce"]


def _sign(account, message: str) -> str:
    return account.sign_message(encode_defunct(text=message)).signature.to_0x_hex()


def _verify(api, message: str, signature: str):
    return api.client.post("/v1/auth/siwe/verify", json={"message": message, "signature": signature})


def _sign_in(api, account, **overrides):
    message = api.siwe_message(account, _nonce(api), **overrides)
    return _verify(api, message, _sign(account, message))


def _error(response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code, response.text


def _count(api, model) -> int:
    with api.state.store.session() as session:
        return session.scalar(select(func.count()).select_from(model))


# ---------------------------------------------------------------- SIWE


def test_nonce_names_what_the_message_must_carry(api):
    body = api.client.post("/v1/auth/siwe/nonce").json()
    assert body["domain"] == api.state.settings.siwe_domain
    assert body["uri"] == api.state.settings.siwe_uri
    assert body["chain_id"] == api.ledger.deployment.chain_id
    assert len(body["nonce"]) >= 8 and body["nonce"].isalnum()
    assert body["nonce"] != api.client.post("/v1/auth/siwe/nonce").json()["nonce"]


def test_siwe_happy_path_opens_a_session(api):
    account = Account.create()
    response = _sign_in(api, account)
    assert response.status_code == 200, response.text
    session = response.json()
    assert session["address"] == account.address
    assert session["token"].startswith("cit_")
    me = api.client.get("/v1/citizens/me", headers={"Authorization": f"Bearer {session['token']}"})
    assert me.status_code == 200, me.text
    assert me.json() == {
        "citizen_id": session["citizen_id"],
        "address": account.address,
        "custodial": False,
        "display_name": None,
        "email": None,
        "phone": None,
        "erased": False,
    }
    # Only the token's hash is stored.
    with api.state.store.session() as db:
        hashes = db.scalars(select(CitizenSession.token_hash)).all()
    assert session["token"] not in hashes


def test_second_sign_in_returns_the_same_citizen(api):
    account = Account.create()
    first = _sign_in(api, account).json()
    second = _sign_in(api, account).json()
    assert first["citizen_id"] == second["citizen_id"]
    assert first["token"] != second["token"]
    assert _count(api, Citizen) == 1
    for token in (first["token"], second["token"]):
        me = api.client.get("/v1/citizens/me", headers={"Authorization": f"Bearer {token}"})
        assert me.json()["citizen_id"] == first["citizen_id"]


def test_replayed_nonce_is_refused(api):
    account = Account.create()
    message = api.siwe_message(account, _nonce(api))
    signature = _sign(account, message)
    assert _verify(api, message, signature).status_code == 200
    _error(_verify(api, message, signature), 401, "siwe_nonce_used")
    assert _count(api, CitizenSession) == 1


def test_a_nonce_is_single_use_even_under_concurrent_sign_ins(api):
    account = Account.create()
    message = api.siwe_message(account, _nonce(api))
    signature = _sign(account, message)
    statuses: list[int] = []
    barrier = threading.Barrier(6)

    def attempt() -> None:
        client = TestClient(api.client.app)
        barrier.wait()
        statuses.append(
            client.post("/v1/auth/siwe/verify", json={"message": message, "signature": signature}).status_code
        )

    threads = [threading.Thread(target=attempt) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200, 401, 401, 401, 401, 401]
    assert _count(api, CitizenSession) == 1


def test_concurrent_first_sign_ins_by_one_address_make_one_citizen(api):
    account = Account.create()
    messages = [api.siwe_message(account, _nonce(api)) for _ in range(6)]
    answers: list = []
    barrier = threading.Barrier(len(messages))

    def attempt(message: str) -> None:
        client = TestClient(api.client.app, raise_server_exceptions=False)
        barrier.wait()
        answers.append(
            client.post("/v1/auth/siwe/verify", json={"message": message, "signature": _sign(account, message)})
        )

    threads = [threading.Thread(target=attempt, args=(m,)) for m in messages]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [a.status_code for a in answers] == [200] * 6, [a.text for a in answers]
    assert len({a.json()["citizen_id"] for a in answers}) == 1
    assert _count(api, Citizen) == 1
    assert _count(api, CitizenSession) == 6


def test_unknown_nonce_is_refused(api):
    account = Account.create()
    message = api.siwe_message(account, "neverissued1234")
    _error(_verify(api, message, _sign(account, message)), 401, "siwe_unknown_nonce")


def test_expired_nonce_is_refused(api):
    account = Account.create()
    nonce = _nonce(api)
    with api.state.store.session() as session:
        session.get(SiweNonce, nonce).expires_at = datetime.now(UTC) - timedelta(seconds=1)
        session.commit()
    message = api.siwe_message(account, nonce)
    _error(_verify(api, message, _sign(account, message)), 401, "siwe_unknown_nonce")


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"domain": "evil.example"}, "siwe_wrong_domain"),
        ({"domain": "localhost:8001"}, "siwe_wrong_domain"),
        ({"uri": "https://evil.example"}, "siwe_wrong_domain"),
        ({"uri": "http://localhost:8000/other"}, "siwe_wrong_domain"),
        ({"chain_id": 1}, "siwe_wrong_chain"),
        ({"expiration_time": _iso(datetime.now(UTC) - timedelta(seconds=1))}, "siwe_expired"),
        ({"expiration_time": "not a time"}, "siwe_invalid"),
        ({"expiration_time": "2030-01-01T00:00:00"}, "siwe_invalid"),  # no time zone
        ({"issued_at": "yesterday"}, "siwe_invalid"),
    ],
    ids=[
        "wrong-domain",
        "wrong-port",
        "wrong-uri",
        "wrong-uri-path",
        "wrong-chain",
        "expired",
        "bad-expiry",
        "naive-expiry",
        "bad-issued-at",
    ],
)
def test_siwe_message_checks(api, overrides, code):
    account = Account.create()
    response = _sign_in(api, account, **overrides)
    _error(response, 401, code)
    assert _count(api, Citizen) == 0
    assert _count(api, CitizenSession) == 0


def test_a_failed_sign_in_does_not_burn_the_nonce(api):
    account = Account.create()
    nonce = _nonce(api)
    wrong = api.siwe_message(account, nonce, domain="evil.example")
    _error(_verify(api, wrong, _sign(account, wrong)), 401, "siwe_wrong_domain")
    right = api.siwe_message(account, nonce)
    assert _verify(api, right, _sign(account, right)).status_code == 200


def test_unsupported_version_is_refused(api):
    account = Account.create()
    message = api.siwe_message(account, _nonce(api)).replace("Version: 1", "Version: 2")
    _error(_verify(api, message, _sign(account, message)), 401, "siwe_invalid")


def test_not_before_in_the_future_is_refused(api):
    account = Account.create()
    later = _iso(datetime.now(UTC) + timedelta(minutes=2))
    message = api.siwe_message(account, _nonce(api)) + f"\nNot Before: {later}"
    _error(_verify(api, message, _sign(account, message)), 401, "siwe_not_yet_valid")


def test_not_before_in_the_past_is_accepted(api):
    account = Account.create()
    earlier = _iso(datetime.now(UTC) - timedelta(minutes=2))
    message = api.siwe_message(account, _nonce(api)) + f"\nNot Before: {earlier}\nRequest ID: 42"
    response = _verify(api, message, _sign(account, message))
    assert response.status_code == 200, response.text


def test_signature_by_another_key_is_refused(api):
    account, other = Account.create(), Account.create()
    message = api.siwe_message(account, _nonce(api))
    _error(_verify(api, message, _sign(other, message)), 401, "siwe_bad_signature")
    assert _count(api, Citizen) == 0


def test_signature_over_another_message_is_refused(api):
    account = Account.create()
    nonce = _nonce(api)
    message = api.siwe_message(account, nonce)
    signed = api.siwe_message(account, nonce, domain="evil.example")
    _error(_verify(api, message, _sign(account, signed)), 401, "siwe_bad_signature")


@pytest.mark.parametrize(
    "message",
    [
        "hello",
        "",
        "localhost:8000 wants you to sign in with your Ethereum account:\n0x1234\n\nURI: http://localhost:8000",
    ],
    ids=["prose", "empty", "truncated"],
)
def test_malformed_message_is_siwe_invalid(api, message):
    account = Account.create()
    _error(_verify(api, message, _sign(account, message)), 401, "siwe_invalid")


def test_message_with_garbage_appended_is_siwe_invalid(api):
    account = Account.create()
    message = api.siwe_message(account, _nonce(api)) + "\n\n<script>"
    _error(_verify(api, message, _sign(account, message)), 401, "siwe_invalid")


def test_signature_that_recovers_no_key_is_siwe_invalid(api):
    account = Account.create()
    message = api.siwe_message(account, _nonce(api))
    _error(_verify(api, message, "0x" + "00" * 65), 401, "siwe_invalid")


@pytest.mark.parametrize(
    "signature",
    ["0x1234", "not hex", "0x" + "zz" * 65, "0x" + "ab" * 66, 12345, None],
    ids=["short", "text", "non-hex", "long", "number", "null"],
)
def test_malformed_signature_is_an_invalid_request(api, signature):
    account = Account.create()
    message = api.siwe_message(account, _nonce(api))
    _error(_verify(api, message, signature), 422, "invalid_request")


@pytest.mark.parametrize(
    "body",
    [{}, {"message": "x"}, {"message": "x", "signature": "0x" + "00" * 65, "extra": 1}, [], "x"],
    ids=["empty", "missing-signature", "unknown-field", "list", "string"],
)
def test_malformed_verify_body_is_an_invalid_request(api, body):
    _error(api.client.post("/v1/auth/siwe/verify", json=body), 422, "invalid_request")


def test_overlong_message_is_an_invalid_request(api):
    account = Account.create()
    message = api.siwe_message(account, _nonce(api), domain="a" * 2_000)
    _error(_verify(api, message, _sign(account, message)), 422, "invalid_request")


# ---------------------------------------------------------------- staff tokens


def test_admin_creates_a_token_shown_once_that_works_and_revokes_it(api):
    admin = api.staff("admin")
    created = api.client.post("/v1/staff-tokens", json={"label": "night reviewer", "role": "minter"}, headers=admin)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["label"] == "night reviewer" and body["role"] == "minter"
    assert body["token"].startswith("staff_")
    minter = {"Authorization": f"Bearer {body['token']}"}
    assert api.client.get("/v1/review/claims", headers=minter).status_code == 200
    with api.state.store.session() as session:
        row = session.get(StaffToken, body["id"])
        assert row.token_hash != body["token"] and body["token"] not in row.token_hash

    revoked = api.client.delete(f"/v1/staff-tokens/{body['id']}", headers=admin)
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["token"] is None  # shown once: never again
    _error(api.client.get("/v1/review/claims", headers=minter), 401, "invalid_token")
    _error(api.client.post("/v1/awards/flush", headers=minter), 401, "invalid_token")


def test_revoking_an_unknown_token_is_404(api):
    _error(api.client.delete("/v1/staff-tokens/999", headers=api.staff("admin")), 404, "staff_token_not_found")


@pytest.mark.parametrize("token_id", ["-1", "0", str(2**63), str(2**300), "abc"])
def test_revoking_an_out_of_range_token_id_is_a_client_error(api, token_id):
    response = api.client.delete(f"/v1/staff-tokens/{token_id}", headers=api.staff("admin"))
    assert response.status_code in (404, 422), response.text
    assert response.json()["error"]["code"] in ("staff_token_not_found", "invalid_request")


def test_a_revoked_admin_token_cannot_create_tokens(api):
    admin = api.staff("admin")
    other = api.client.post("/v1/staff-tokens", json={"label": "x", "role": "admin"}, headers=admin).json()
    other_headers = {"Authorization": f"Bearer {other['token']}"}
    assert api.client.delete(f"/v1/staff-tokens/{other['id']}", headers=admin).status_code == 200
    _error(
        api.client.post("/v1/staff-tokens", json={"label": "y", "role": "admin"}, headers=other_headers),
        401,
        "invalid_token",
    )


@pytest.mark.parametrize("role", ["minter", "issuer", "redeemer", "pauser"])
def test_non_admin_staff_cannot_create_or_revoke_tokens(api, role):
    headers = api.staff(role)
    before = _count(api, StaffToken)
    for wanted in ("admin", role):
        response = api.client.post("/v1/staff-tokens", json={"label": "escalate", "role": wanted}, headers=headers)
        _error(response, 403, "forbidden")
    _error(api.client.delete("/v1/staff-tokens/1", headers=headers), 403, "forbidden")
    assert _count(api, StaffToken) == before


@pytest.mark.parametrize(
    "body",
    [{"label": "x", "role": "root"}, {"label": "", "role": "minter"}, {"role": "minter"}, {"label": "x"}],
    ids=["unknown-role", "empty-label", "no-label", "no-role"],
)
def test_bad_staff_token_requests(api, body):
    admin = api.staff("admin")
    before = _count(api, StaffToken)
    _error(api.client.post("/v1/staff-tokens", json=body, headers=admin), 422, "invalid_request")
    assert _count(api, StaffToken) == before


STAFF_ROUTES = [
    ("post", "/v1/staff-tokens", {"label": "x", "role": "admin"}),
    ("delete", "/v1/staff-tokens/1", None),
    ("post", "/v1/events", {"title": "t", "venue": "physical", "claim_start": 0, "claim_end": 1, "uri": "u"}),
    ("post", "/v1/events/1/badges", {"attendees": ["0x" + "11" * 20]}),
    ("post", "/v1/events/1/claim-codes", None),
    ("post", "/v1/awards/flush", None),
    ("get", "/v1/review/claims", None),
    ("post", "/v1/review/claims/1", {"decision": "approve", "reason": "ok"}),
    ("post", "/v1/citizens", {"display_name": "x"}),
    ("get", "/v1/citizens/some-id", None),
    ("delete", "/v1/citizens/some-id/personal-data", None),
    ("post", "/v1/rewards", {"title": "t", "cost": 1}),
    ("post", "/v1/activities/1/reverse", {"reason_code": 1}),
    ("post", "/v1/admin/roles", {"role": "minter", "address": "0x" + "11" * 20, "grant": True}),
    ("post", "/v1/admin/pause", None),
    ("post", "/v1/admin/unpause", None),
]
CITIZEN_ROUTES = [
    ("get", "/v1/citizens/me", None),
    ("delete", "/v1/citizens/me/personal-data", None),
    ("post", "/v1/citizens/me/key-export", None),
    ("post", "/v1/claims", None),
    ("get", "/v1/claims", None),
    ("get", "/v1/claims/1", None),
    ("post", "/v1/badges/claim", {"code": "x" * 20}),
    ("get", "/v1/redemptions/consent?reward_id=1", None),
    ("post", "/v1/redemptions", {"reward_id": 1}),
]


def _call(api, method: str, path: str, body, headers):
    kwargs = {"headers": headers}
    if body is not None:
        kwargs["json"] = body
    return api.client.request(method.upper(), path, **kwargs)


def _ids(routes):
    return [f"{m} {p}" for m, p, _ in routes]


@pytest.mark.parametrize(("method", "path", "body"), STAFF_ROUTES, ids=_ids(STAFF_ROUTES))
def test_citizen_token_on_staff_routes_is_forbidden(api, method, path, body):
    custodial, _ = api.custodial_citizen(display_name="Curious")
    wallet, _ = api.wallet_citizen()
    block = api.ledger.w3.eth.block_number
    for headers in (custodial, wallet):
        _error(_call(api, method, path, body, headers), 403, "forbidden")
    assert api.ledger.w3.eth.block_number == block


def _mismatches(api, routes, headers_list, status: int, code: str) -> list[str]:
    """Every (route, headers) whose answer is not ``status`` with ``code``: one test covers every
    route without one fresh chain per route."""
    wrong = []
    for method, path, body in routes:
        if path == "/v1/claims" and method == "post":
            body = outing()
        for headers in headers_list:
            response = _call(api, method, path, body, headers)
            got = (response.status_code, response.json().get("error", {}).get("code"))
            if got != (status, code):
                wrong.append(f"{method} {path} {headers}: {got}")
            elif status == 401 and code == "not_authenticated" and response.headers.get("WWW-Authenticate") != "Bearer":
                wrong.append(f"{method} {path}: no WWW-Authenticate")
    return wrong


def test_no_authorization_is_401_everywhere(api):
    headers = [{}, {"Authorization": "Basic dXNlcjpwYXNz"}, {"Authorization": "Bearer"}, {"Authorization": "Bearer "}]
    assert _mismatches(api, STAFF_ROUTES + CITIZEN_ROUTES, headers, 401, "not_authenticated") == []


def test_unknown_token_is_401_everywhere(api):
    headers = [{"Authorization": "Bearer not-a-real-token"}, {"Authorization": "bearer nope"}]
    assert _mismatches(api, STAFF_ROUTES + CITIZEN_ROUTES, headers, 401, "invalid_token") == []


@pytest.mark.parametrize("role", ["admin", "minter", "issuer", "redeemer", "pauser"])
def test_staff_token_on_citizen_routes_is_forbidden(api, role):
    block = api.ledger.w3.eth.block_number
    assert _mismatches(api, CITIZEN_ROUTES, [api.staff(role)], 403, "forbidden") == []
    assert api.ledger.w3.eth.block_number == block


def test_expired_citizen_session_is_401(api):
    headers, _ = api.custodial_citizen(display_name="Late")
    with api.state.store.session() as session:
        for row in session.scalars(select(CitizenSession)):
            row.expires_at = datetime.now(UTC) - timedelta(seconds=1)
        session.commit()
    _error(api.client.get("/v1/citizens/me", headers=headers), 401, "session_expired")


# ---------------------------------------------------------------- rate limits


def test_sign_in_nonce_is_rate_limited(api):
    api.state.limiter.per_minute = 3
    for _ in range(3):
        assert api.client.post("/v1/auth/siwe/nonce").status_code == 200
    response = api.client.post("/v1/auth/siwe/nonce")
    _error(response, 429, "rate_limited")
    assert 1 <= int(response.headers["Retry-After"]) <= 61
    # The sign-in bucket covers verification too; other buckets are unaffected.
    _error(api.client.post("/v1/auth/siwe/verify", json={}), 429, "rate_limited")
    assert _count(api, SiweNonce) == 3


def test_claims_are_rate_limited(api):
    headers, _ = api.custodial_citizen(display_name="Busy")
    api.state.limiter.per_minute = 3
    for minutes in (600, 400, 200):
        response = api.client.post("/v1/claims", json=outing(minutes_ago=minutes), headers=headers)
        assert response.status_code == 201, response.text
    response = api.client.post("/v1/claims", json=outing(minutes_ago=100), headers=headers)
    _error(response, 429, "rate_limited")
    assert 1 <= int(response.headers["Retry-After"]) <= 61
    assert len(api.client.get("/v1/claims", headers=headers).json()) == 3
    # Sign-in has its own bucket.
    assert api.client.post("/v1/auth/siwe/nonce").status_code == 200


def test_rate_limit_window_slides(api, monkeypatch):
    now = [1_000.0]
    monkeypatch.setattr(ratelimit, "time", SimpleNamespace(monotonic=lambda: now[0]))
    api.state.limiter.per_minute = 2
    assert api.client.post("/v1/auth/siwe/nonce").status_code == 200
    now[0] += 30
    assert api.client.post("/v1/auth/siwe/nonce").status_code == 200
    response = api.client.post("/v1/auth/siwe/nonce")
    _error(response, 429, "rate_limited")
    assert response.headers["Retry-After"] == "31"
    now[0] += 31  # the first hit is now more than a minute old
    assert api.client.post("/v1/auth/siwe/nonce").status_code == 200
    _error(api.client.post("/v1/auth/siwe/nonce"), 429, "rate_limited")


def test_rate_limiter_forgets_idle_clients(monkeypatch):
    now = [5_000.0]
    monkeypatch.setattr(ratelimit, "time", SimpleNamespace(monotonic=lambda: now[0]))
    limiter = ratelimit.RateLimiter(per_minute=5)
    for n in range(1_000):
        limiter.check(f"10.0.{n // 256}.{n % 256}", "claims")
    assert len(limiter._hits) == 1_000
    now[0] += 61
    limiter.check("10.9.9.9", "claims")
    assert list(limiter._hits) == [("10.9.9.9", "claims")]


def test_rate_limits_are_per_client(api):
    api.state.limiter.per_minute = 1
    assert api.client.post("/v1/auth/siwe/nonce").status_code == 200
    _error(api.client.post("/v1/auth/siwe/nonce"), 429, "rate_limited")
    other = TestClient(api.client.app, client=("203.0.113.7", 50000))
    assert other.post("/v1/auth/siwe/nonce").status_code == 200
