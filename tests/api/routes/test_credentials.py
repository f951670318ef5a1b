"""Open Badges 3.0 credentials of badges held: what a wallet, a CV site or an employer gets, checked
with tools that are not the service's own (the 1EdTech JSON Schema, jwcrypto, openbadgeslib), and
verified against the chain: valid while held, revoked once revoked, unknown (never valid) when
the node cannot be asked, invalid when doctored."""

from __future__ import annotations

import base64
import json
import os
import stat
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import parse_qs, urlsplit

import pytest
from eth_account import Account
from joserfc import jws
from joserfc.jwk import ECKey
from jsonschema import Draft201909Validator
from jwcrypto import jwk as jc_jwk
from jwcrypto import jwt as jc_jwt

from api.routes import credentials as credential_routes
from api.services import credentials as credential_service
from api.settings import ApiSettings
from api.store import Store
from ledger import credentials as ledger_credentials
from ledger.errors import ChainUnavailable
from tests.helpers import assert_error

SCHEMA = json.loads(
    (Path(__file__).resolve().parents[2] / "data" / "ob_v3p0_achievementcredential_schema.json").read_text()
)
CHECKS = ["format", "signature", "issuer", "subject", "validity_period", "status"]


def _wire(app) -> None:
    """Mounts the credential routers unless the app already serves them."""
    paths = {getattr(route, "path", None) for route in app.routes}
    if "/v1/credentials/verify" not in paths:
        app.include_router(credential_routes.router, prefix="/v1")
    if "/.well-known/jwks.json" not in paths:
        app.include_router(credential_routes.well_known_router)


def _b64decode(part: str) -> dict:
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def _b64encode(value: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


def _outcomes(body: dict) -> dict[str, str]:
    assert [c["name"] for c in body["checks"]] == CHECKS
    assert all(c["detail"] for c in body["checks"])
    return {c["name"]: c["outcome"] for c in body["checks"]}


@pytest.fixture
def capi(make_api, tmp_path):
    """The service with its issuer key in a file of the test's own (works on any store)."""
    api = make_api(
        issuer_key_path=tmp_path / "keys" / "issuer-key.json", explorer_tx_url="https://scan.example/tx/{tx}"
    )
    _wire(api.client.app)
    return api


def _event(api, title: str = "Han River clean-up", description: str = "Two hours of plogging by the river.") -> int:
    now = datetime.now(UTC)
    response = api.client.post(
        "/v1/events",
        json={
            "title": title,
            "description": description,
            "venue": "physical",
            "claim_start": (now - timedelta(minutes=1)).isoformat(),
            "claim_end": (now + timedelta(hours=1)).isoformat(),
        },
        headers=api.staff("issuer"),
    )
    assert response.status_code == 201, response.text
    return int(response.json()["event_id"])


@pytest.fixture
def held(capi):
    """A badge issued to a fresh address, and its credential as the service answers it."""
    event_id = _event(capi)
    holder = Account.create().address
    issued = capi.client.post(
        f"/v1/events/{event_id}/badges", json={"attendees": [holder]}, headers=capi.staff("issuer")
    )
    assert issued.status_code == 200, issued.text
    assert issued.json()["issued"] == 1
    response = capi.client.get(f"/v1/credentials/badges/{event_id}/{holder}")
    assert response.status_code == 200, response.text
    return SimpleNamespace(
        event_id=event_id, holder=holder, tx_hash=issued.json()["transactions"][0], body=response.json()
    )


def _chain_lag(api) -> int:
    """How far the test chain's clock is ahead of this machine's (seconds, at least 0)."""
    return max(0, api.ledger.chain_time() - int(time.time()))


def _verify(api, token: str) -> dict:
    response = api.client.post("/v1/credentials/verify", json={"jwt": token})
    assert response.status_code == 200, response.text
    return response.json()


# ---------------------------------------------------------------------------------- the credential


def test_credential_validates_against_the_open_badges_schema(capi, held):
    credential = held.body["credential"]
    validator = Draft201909Validator(SCHEMA, format_checker=Draft201909Validator.FORMAT_CHECKER)
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(credential)]
    assert errors == []
    # The JWT's payload is the same credential (plus the registered claims) and validates too.
    payload = _b64decode(held.body["jwt"].split(".")[1])
    assert list(validator.iter_errors(payload)) == []
    assert {k: v for k, v in payload.items() if k not in ("iss", "sub", "jti", "nbf")} == credential


def test_credential_describes_the_badge_and_its_on_chain_record(capi, held):
    credential, ledger, base = held.body["credential"], capi.ledger, "http://testserver"
    w3 = capi.test_chain.w3
    receipt = w3.eth.get_transaction_receipt(held.tx_hash)
    block = w3.eth.get_block(receipt["blockNumber"])
    assert credential["@context"][:2] == [
        "https://www.w3.org/ns/credentials/v2",
        "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json",
    ]
    assert credential["type"] == ["VerifiableCredential", "OpenBadgeCredential"]
    assert credential["issuer"]["id"] == f"{base}/v1/credentials/issuer"
    assert credential["issuer"]["name"] == capi.ctx.settings.issuer_name
    assert credential["validFrom"] == datetime.fromtimestamp(block["timestamp"], UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert credential["name"] == "Han River clean-up"
    subject = credential["credentialSubject"]
    assert subject["type"] == ["AchievementSubject"]
    assert subject["id"] == f"did:pkh:eip155:{ledger.chain_id}:{held.holder}"
    achievement = subject["achievement"]
    assert achievement["id"] == f"{base}/v1/badges/{held.event_id:064x}.json"
    assert achievement["name"] == "Han River clean-up"
    assert achievement["description"] == "Two hours of plogging by the river."
    assert achievement["criteria"]["narrative"]
    assert achievement["image"]["id"] == f"{base}/v1/badges/{held.event_id:064x}.svg"
    # Both resolve: the badge's ERC-1155 metadata and its image.
    assert capi.client.get(urlsplit(achievement["id"]).path).status_code == 200
    image = capi.client.get(urlsplit(achievement["image"]["id"]).path)
    assert (image.status_code, image.headers["content-type"]) == (200, "image/svg+xml")

    (evidence,) = credential["evidence"]
    (log,) = [log for log in receipt["logs"] if log["logIndex"] == evidence["logIndex"]]
    assert log["address"] == ledger.deployment.badges_address
    assert evidence["id"] == f"{base}/v1/verify/events/{held.event_id}/badges/{held.holder}"
    assert (evidence["transactionHash"], evidence["blockNumber"]) == (held.tx_hash, receipt["blockNumber"])
    assert (evidence["chainId"], evidence["contract"]) == (ledger.chain_id, ledger.deployment.badges_address)
    assert evidence["blockHash"] == receipt["blockHash"].to_0x_hex()
    assert evidence["explorerUrl"] == f"https://scan.example/tx/{held.tx_hash}"
    assert capi.client.get(evidence["id"]).json()["verified"] is True

    status = credential["credentialStatus"]
    assert status["type"] == "CivicBadgeChainStatus"
    assert (status["chainId"], status["contract"]) == (ledger.chain_id, ledger.deployment.badges_address)
    assert (status["tokenId"], status["holder"]) == (str(held.event_id), held.holder)


def test_credential_add_to_profile_is_a_linkedin_certification_link(held):
    link = urlsplit(held.body["add_to_profile"])
    assert (link.scheme, link.netloc, link.path) == ("https", "www.linkedin.com", "/profile/add")
    query = {k: v[0] for k, v in parse_qs(link.query).items()}
    valid_from = datetime.fromisoformat(held.body["credential"]["validFrom"])
    assert query["startTask"] == "CERTIFICATION_NAME"
    assert query["name"] == "Han River clean-up"
    assert query["organizationName"] == "Namyangju City"
    assert (int(query["issueYear"]), int(query["issueMonth"])) == (valid_from.year, valid_from.month)
    assert query["certId"] == held.body["credential"]["id"]
    assert query["certUrl"].startswith("http://testserver/v1/verify/events/")


def test_credential_jwt_verifies_with_jwcrypto_against_the_published_key(capi, held):
    jwks = capi.client.get("/.well-known/jwks.json")
    assert jwks.status_code == 200
    (published,) = jwks.json()["keys"]
    assert "d" not in published
    key = jc_jwk.JWK(**published)
    token = jc_jwt.JWT(algs=["ES256"], check_claims={"iss": "http://testserver/v1/credentials/issuer", "nbf": None})
    token.leeway = 60 + _chain_lag(capi)
    token.deserialize(held.body["jwt"], key)
    header = json.loads(token.header)
    assert header["alg"] == "ES256"
    assert header["typ"] == "vc+jwt"
    assert header["kid"] == key.thumbprint() == published["kid"]
    claims = json.loads(token.claims)
    credential = held.body["credential"]
    assert claims["sub"] == credential["credentialSubject"]["id"]
    assert claims["jti"] == credential["id"]
    assert claims["nbf"] == int(datetime.fromisoformat(credential["validFrom"]).timestamp())
    # The issuer profile the credential names publishes the same key.
    profile = capi.client.get("/v1/credentials/issuer").json()
    assert profile["id"] == credential["issuer"]["id"]
    assert profile["type"] == ["Profile"]
    (method,) = profile["verificationMethod"]
    assert method["type"] == "JsonWebKey"
    assert method["publicKeyJwk"] == published
    assert profile["assertionMethod"] == [method["id"]]


def test_credential_is_accepted_by_openbadgeslib(capi, held, monkeypatch):
    # openbadgeslib's OB3 verifier runs offline from a public key (status checks off: it only
    # knows Bitstring status lists fetched over HTTPS; the chain status is ours to check).
    import jwt.api_jwt
    import openbadgeslib.ob3.verifier
    from openbadgeslib.ob3 import OB3Verifier

    # It judges nbf by this machine's clock with no leeway, and the test chain's clock runs ahead
    # (a block a second at least, and other tests move it on): it verifies as of the chain's time.
    lag = _chain_lag(capi)

    class ChainClock(datetime):
        @classmethod
        def now(cls, tz=None):  # type: ignore[override]
            return datetime.now(tz) + timedelta(seconds=lag)

    monkeypatch.setattr(jwt.api_jwt, "datetime", ChainClock)
    monkeypatch.setattr(openbadgeslib.ob3.verifier, "datetime", ChainClock)
    (published,) = capi.client.get("/.well-known/jwks.json").json()["keys"]
    pem = ECKey.import_key({k: published[k] for k in ("kty", "crv", "x", "y")}).as_pem(private=False)
    subject = held.body["credential"]["credentialSubject"]["id"]
    credential = OB3Verifier(pem).verify(held.body["jwt"], expected_recipient=subject)
    assert credential.issuer.id == "http://testserver/v1/credentials/issuer"


def test_credential_of_a_badge_not_held_is_404(capi, held):
    stranger = Account.create().address
    assert_error(capi.client.get(f"/v1/credentials/badges/{held.event_id}/{stranger}"), 404, "badge_not_held")
    other_event = _event(capi, title="Festival")
    assert_error(capi.client.get(f"/v1/credentials/badges/{other_event}/{held.holder}"), 404, "badge_not_held")


def test_credential_of_a_revoked_badge_is_404(capi, held):
    revoked = capi.client.post(
        f"/v1/events/{held.event_id}/badges/{held.holder}/revoke", json={"reason_code": 3}, headers=capi.staff("issuer")
    )
    assert revoked.status_code == 200, revoked.text
    assert_error(capi.client.get(f"/v1/credentials/badges/{held.event_id}/{held.holder}"), 404, "badge_not_held")


# ---------------------------------------------------------------------------------- verifying


def test_credential_verify_valid_while_held_then_revoked(capi, held):
    body = _verify(capi, held.body["jwt"])
    assert body["outcome"] == "valid"
    assert set(_outcomes(body).values()) == {"passed"}

    revoked = capi.client.post(
        f"/v1/events/{held.event_id}/badges/{held.holder}/revoke", json={"reason_code": 3}, headers=capi.staff("issuer")
    )
    assert revoked.status_code == 200, revoked.text
    body = _verify(capi, held.body["jwt"])
    assert body["outcome"] == "revoked"
    outcomes = _outcomes(body)
    assert outcomes.pop("status") == "failed"
    assert set(outcomes.values()) == {"passed"}

    reissued = capi.client.post(
        f"/v1/events/{held.event_id}/badges/{held.holder}/reissue",
        json={"reason_code": 4},
        headers=capi.staff("issuer"),
    )
    assert reissued.status_code == 200, reissued.text
    assert _verify(capi, held.body["jwt"])["outcome"] == "valid"


def test_credential_verify_unknown_never_valid_when_the_node_cannot_be_asked(capi, held, monkeypatch):
    def unreachable(*_args, **_kwargs):
        raise ChainUnavailable("connection refused")

    monkeypatch.setattr(capi.ledger, "has_badge", unreachable)
    monkeypatch.setattr(capi.ledger, "is_badge_revoked", unreachable)
    body = _verify(capi, held.body["jwt"])
    assert body["outcome"] == "unknown"
    outcomes = _outcomes(body)
    assert outcomes.pop("status") == "unknown"
    assert set(outcomes.values()) == {"passed"}


def test_credential_verify_needs_no_account(capi, held):
    response = capi.client.post(
        "/v1/credentials/verify", json={"jwt": held.body["jwt"]}, headers={"Authorization": "Bearer nonsense"}
    )
    assert response.status_code == 200
    assert response.json()["outcome"] == "valid"


@pytest.mark.parametrize(
    "doctor",
    [
        pytest.param(lambda p: p["credentialSubject"]["achievement"].update(name="Gold medal"), id="achievement"),
        pytest.param(lambda p: p.update(validFrom="2020-01-01T00:00:00Z", nbf=1577836800), id="valid_from"),
        pytest.param("subject", id="subject"),
    ],
)
def test_credential_verify_doctored_payload_fails_its_signature(capi, held, doctor):
    header, payload, signature = held.body["jwt"].split(".")
    changed = _b64decode(payload)
    if doctor == "subject":  # the badge claimed by someone else, consistently everywhere
        other = Account.create().address
        changed["credentialSubject"]["id"] = changed["sub"] = f"did:pkh:eip155:{capi.ledger.chain_id}:{other}"
        changed["credentialStatus"]["holder"] = other
    else:
        doctor(changed)
    body = _verify(capi, f"{header}.{_b64encode(changed)}.{signature}")
    assert body["outcome"] == "invalid"
    outcomes = _outcomes(body)
    assert outcomes["signature"] == "failed"
    assert outcomes["status"] == "unknown"  # an invalid credential is not looked up


def test_credential_verify_subject_not_the_status_holder_is_invalid(capi, held):
    # Even signed by the city's own key, a subject other than the holder on-chain is refused.
    credential = json.loads(json.dumps(held.body["credential"]))
    credential["credentialSubject"]["id"] = f"did:pkh:eip155:{capi.ledger.chain_id}:{Account.create().address}"
    token = ledger_credentials.sign_credential(credential, credential_service.issuer_key(capi.ctx))
    body = _verify(capi, token)
    assert body["outcome"] == "invalid"
    outcomes = _outcomes(body)
    assert (outcomes["signature"], outcomes["subject"]) == ("passed", "failed")


def test_credential_verify_signature_by_another_key_is_invalid(capi, held):
    header, payload, _ = held.body["jwt"].split(".")
    forger = ECKey.generate_key("P-256", auto_kid=True)
    # The forger names the city's kid and embeds their own jwk: neither is believed.
    forged_header = {**_b64decode(header), "jwk": forger.as_dict(private=False)}
    token = jws.serialize_compact(forged_header, base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)), forger)
    body = _verify(capi, token)
    assert body["outcome"] == "invalid"
    assert _outcomes(body)["signature"] == "failed"


def test_credential_verify_expired_is_invalid(capi, held):
    credential = json.loads(json.dumps(held.body["credential"]))
    credential["validUntil"] = "2021-01-01T00:00:00Z"
    token = ledger_credentials.sign_credential(credential, credential_service.issuer_key(capi.ctx))
    body = _verify(capi, token)
    assert body["outcome"] == "invalid"
    assert _outcomes(body)["validity_period"] == "failed"


@pytest.mark.parametrize(
    "token",
    [
        "not-a-jwt",
        "a.b.c",
        "e30.e30.e30",
        "e30." + base64.urlsafe_b64encode(b"[" * 20_000).rstrip(b"=").decode() + ".e30",
    ],
    ids=["not_a_jws", "not_json", "empty_objects", "deeply_nested"],
)
def test_credential_verify_malformed_is_invalid(capi, token):
    body = _verify(capi, token)
    assert body["outcome"] == "invalid"
    assert _outcomes(body)["format"] == "failed"


def test_credential_verify_function_needs_only_the_jwt_key_and_a_ledger(capi, held):
    # What `civic credential verify FILE` runs: no store, any node of the deployment.
    keys = capi.client.get("/.well-known/jwks.json").json()
    token = ledger_credentials.load_token(json.dumps(held.body))
    assert token == held.body["jwt"]
    result = ledger_credentials.verify_credential(token, keys, capi.ledger)
    assert result.outcome == "valid", result.checks
    other_key = ECKey.generate_key("P-256", auto_kid=True).as_dict(private=False)
    assert ledger_credentials.verify_credential(token, other_key, capi.ledger).outcome == "invalid"
    wrong_issuer = ledger_credentials.verify_credential(token, keys, capi.ledger, expected_issuer="https://x.example")
    assert (wrong_issuer.outcome, wrong_issuer.check("issuer").outcome) == ("invalid", "failed")


def test_credential_issuer_keys_resolve_from_a_file_or_the_issuer_profile(capi, held, tmp_path, monkeypatch):
    token = held.body["jwt"]
    jwks_file = tmp_path / "jwks.json"
    jwks_file.write_text(capi.client.get("/.well-known/jwks.json").text)
    profile_file = tmp_path / "issuer.json"
    profile_file.write_text(capi.client.get("/v1/credentials/issuer").text)
    for source in (str(jwks_file), str(profile_file)):
        keys = ledger_credentials.resolve_issuer_keys(token, source)
        assert ledger_credentials.verify_credential(token, keys, capi.ledger).outcome == "valid"
    # No source: the keys of the issuer profile at the URL the credential names as its issuer.
    import httpx

    fetched: list[str] = []

    def get(url: str, **_: object) -> httpx.Response:
        fetched.append(url)
        return capi.client.get(urlsplit(url).path)

    monkeypatch.setattr(httpx, "get", get)
    keys = ledger_credentials.resolve_issuer_keys(token)
    assert fetched == ["http://testserver/v1/credentials/issuer"]
    assert ledger_credentials.verify_credential(token, keys, capi.ledger).outcome == "valid"


# ---------------------------------------------------------------------------------- the key


def test_credential_issuer_key_is_created_beside_a_sqlite_store_with_mode_0600(make_api):
    api = make_api()
    if not api.ctx.store.sqlite:
        pytest.skip("the default key place is beside a SQLite store")
    _wire(api.client.app)
    path = Path(api.ctx.store.url.removeprefix("sqlite:///")).parent / "issuer-key.json"
    assert not path.exists()
    (published,) = api.client.get("/.well-known/jwks.json").json()["keys"]
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    stored = json.loads(path.read_text())
    assert "d" in stored
    assert ECKey.import_key({k: stored[k] for k in ("kty", "crv", "x", "y")}).thumbprint() == published["kid"]
    # The same key on every later use.
    assert api.client.get("/.well-known/jwks.json").json()["keys"] == [published]


def test_credential_issuer_key_without_a_place_is_a_configuration_error():
    store = Store("postgresql+psycopg://civic@localhost:1/civic")  # never connected
    try:
        ctx = SimpleNamespace(settings=ApiSettings(database_url=store.url), store=store)
        with pytest.raises(credential_service.IssuerKeyNotConfigured) as raised:
            credential_service.key_path(ctx)  # type: ignore[arg-type]
        assert raised.value.code == "issuer_key_not_configured"
        assert "CIVIC_ISSUER_KEY_PATH" in raised.value.message
    finally:
        store.dispose()
