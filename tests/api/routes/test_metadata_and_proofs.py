"""What wallets, explorers and auditors read: badge metadata over HTTP (checked against the
ERC-1155 metadata JSON schema), the collection's ERC-7572 metadata, generated images, and proof
files checked against the chain with nothing but the file (a doctored one names what failed)."""

from __future__ import annotations

import json
from typing import Any
from xml.etree import ElementTree

import pytest
from jsonschema import Draft7Validator
from typer.testing import CliRunner

from civic.cli import app as cli
from ledger.proofs import check_proof
from tests.conftest import contract
from tests.helpers import assert_error

#: The metadata JSON schema ERC-1155 gives (with its `localization` extension).
ERC1155_METADATA_SCHEMA: dict[str, Any] = {
    "title": "Token Metadata",
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "decimals": {"type": "integer"},
        "description": {"type": "string"},
        "image": {"type": "string"},
        "properties": {"type": "object"},
        "localization": {
            "type": "object",
            "required": ["uri", "default", "locales"],
            "properties": {
                "uri": {"type": "string"},
                "default": {"type": "string"},
                "locales": {"type": "array"},
            },
        },
    },
}


@pytest.fixture
def event(api: Any) -> dict[str, Any]:
    created = api.client.post(
        "/v1/events",
        json={
            "title": "그린 톡톡",
            "title_en": "Green Talk Talk",
            "description": "가상 환경센터의 환경 이야기",
            "description_en": "An environment session in the virtual eco-centre",
            "venue": "metaverse",
            "claim_start": "2026-01-01T19:00:00+09:00",
            "claim_end": "2099-01-01T21:00:00+09:00",
            "capacity": 100,
        },
        headers=api.staff("issuer"),
    )
    assert created.status_code == 201, created.text
    body: dict[str, Any] = created.json()
    return body


def test_badge_metadata_follows_the_contracts_uri_template(api: Any, event: dict[str, Any]) -> None:
    badges = contract(api.test_chain, api.ledger, "badges")
    template = badges.functions.uri(event["event_id"]).call()
    assert "{id}" in template
    # A wallet substitutes the id as 64 lowercase hex digits and fetches the document.
    url = template.replace("{id}", f"{event['event_id']:064x}")
    path = url.removeprefix("http://testserver")
    document = api.client.get(path)
    assert document.status_code == 200, document.text
    metadata = document.json()
    Draft7Validator(ERC1155_METADATA_SCHEMA).validate(metadata)
    assert metadata["name"] == "그린 톡톡"
    assert metadata["properties"]["venue_kind"] == "메타버스 행사"
    assert metadata["properties"]["capacity"] == 100
    assert metadata["properties"]["claim_start"] == "2026-01-01T19:00:00+09:00"
    assert metadata["localization"] == {
        "uri": "http://testserver/v1/badges/{id}.json?locale={locale}",
        "default": "ko",
        "locales": ["ko", "en"],
    }
    english = api.client.get(
        metadata["localization"]["uri"]
        .replace("{id}", f"{event['event_id']:064x}")
        .replace("{locale}", "en")
        .removeprefix("http://testserver")
    ).json()
    assert english["name"] == "Green Talk Talk"
    assert english["properties"]["venue_kind"] == "metaverse"
    assert api.client.get(f"/v1/badges/{event['event_id']}.json").json() == metadata, "decimal ids too"


def test_badge_images_are_svg_drawn_from_nothing_outside(api: Any, event: dict[str, Any]) -> None:
    image = api.client.get(f"/v1/badges/{event['event_id']:064x}.svg")
    assert image.status_code == 200
    assert image.headers["content-type"].startswith("image/svg+xml")
    tree = ElementTree.fromstring(image.text)
    assert tree.tag.endswith("svg")
    assert "Green Talk Talk" in image.text
    assert "href" not in image.text and "url(" not in image.text, "no external fonts or images"


def test_collection_metadata_is_what_contract_uri_names(api: Any) -> None:
    badges = contract(api.test_chain, api.ledger, "badges")
    url = badges.functions.contractURI().call()
    collection = api.client.get(url.removeprefix("http://testserver"))
    assert collection.status_code == 200
    assert {"name", "description", "image", "external_link"} <= set(collection.json())
    assert badges.functions.name().call() == "City Event Badges"


def test_metadata_of_an_unknown_event_is_404_and_a_bad_id_422(api: Any) -> None:
    assert_error(api.client.get(f"/v1/badges/{999:064x}.json"), 404, "event_not_found")
    assert_error(api.client.get("/v1/badges/not-an-id.json"), 422, "invalid_token_id")


def test_proof_of_an_award_checks_against_the_chain_and_a_doctored_one_names_what_failed(
    api: Any, tmp_path: Any
) -> None:
    headers, _citizen = api.custodial_citizen(display_name="Proof")
    claim = api.award(headers)
    proof = api.client.get(f"/v1/proofs/activities/{claim['activity_id']}")
    assert proof.status_code == 200, proof.text
    assert proof.headers["content-disposition"].startswith("attachment;")
    document = proof.json()
    assert document["record"]["activity_id"] == claim["activity_id"]
    assert document["evidence_commitment"].startswith("0x")
    checks = check_proof(document, api.ledger.chain)
    assert [c.outcome for c in checks] == ["passed"] * len(checks)
    assert [c.name for c in checks][-1] == "record_matches"

    doctored = json.loads(json.dumps(document))
    doctored["record"]["points"] += 100
    failed = [c for c in check_proof(doctored, api.ledger.chain) if c.outcome == "failed"]
    assert [c.name for c in failed] == ["record_matches"]

    moved = json.loads(json.dumps(document))
    moved["block_hash"] = "0x" + "00" * 32
    assert [c.name for c in check_proof(moved, api.ledger.chain) if c.outcome == "failed"] == ["in_block"]

    elsewhere = json.loads(json.dumps(document))
    elsewhere["contract"] = elsewhere["contracts"]["badges"]
    assert [c.name for c in check_proof(elsewhere, api.ledger.chain) if c.outcome == "failed"] == [
        "emitted_by_contract"
    ]

    forged = json.loads(json.dumps(document))
    forged["tx_hash"] = "0x" + "ab" * 32
    assert [c.name for c in check_proof(forged, api.ledger.chain) if c.outcome == "failed"] == ["transaction_found"]


def test_proofs_of_a_badge_a_revocation_and_a_redemption(api: Any, event: dict[str, Any]) -> None:
    headers, citizen = api.custodial_citizen(display_name="Badge")
    api.award(headers)
    issuer = api.staff("issuer")
    api.client.post(f"/v1/events/{event['event_id']}/badges", json={"attendees": [citizen["address"]]}, headers=issuer)
    issued = api.client.get(f"/v1/proofs/badges/{event['event_id']}/{citizen['address']}").json()
    assert issued["record"]["record"] == "BadgeIssued"
    assert all(c.outcome == "passed" for c in check_proof(issued, api.ledger.chain))
    api.client.post(
        f"/v1/events/{event['event_id']}/badges/{citizen['address']}/revoke", json={"reason_code": 4}, headers=issuer
    )
    revoked = api.client.get(f"/v1/proofs/badges/{event['event_id']}/{citizen['address']}").json()
    assert revoked["record"]["record"] == "BadgeRevoked" and revoked["record"]["reason_code"] == 4
    assert all(c.outcome == "passed" for c in check_proof(revoked, api.ledger.chain))
    reward = api.client.post("/v1/rewards", json={"title": "Tumbler", "cost": 10}, headers=api.staff()).json()
    redeemed = api.client.post("/v1/redemptions", json={"reward_id": reward["reward_id"]}, headers=headers).json()
    statement = api.client.get(f"/v1/verify/citizens/{citizen['address']}").json()
    line = next(r for r in statement["records"] if r["action"] == "redemption")
    assert line["ref"]["tx_hash"] == redeemed["tx_hash"]
    proof = api.client.get(f"/v1/proofs/records/{line['ref']['tx_hash']}/{line['ref']['log_index']}").json()
    assert proof["record"]["record"] == "PointsRedeemed"
    assert all(c.outcome == "passed" for c in check_proof(proof, api.ledger.chain))


def test_civic_proof_check_says_which_check_failed(api: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    headers, _ = api.custodial_citizen(display_name="CLI")
    claim = api.award(headers)
    document = api.client.get(f"/v1/proofs/activities/{claim['activity_id']}").json()
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    good.write_text(json.dumps(document))
    document["record"]["citizen"] = "0x" + "11" * 20
    bad.write_text(json.dumps(document))
    # The command connects to the chain it is given; here, the tests' in-process chain.
    monkeypatch.setattr("civic.cli._chain_for", lambda rpc_url: api.ledger.chain)
    passed = CliRunner().invoke(cli, ["proof", "check", str(good)])
    assert passed.exit_code == 0, passed.output
    assert "verified: every check passed" in passed.output
    failed = CliRunner().invoke(cli, ["proof", "check", str(bad)])
    assert failed.exit_code == 1
    assert "NOT VERIFIED: record_matches failed" in failed.output
