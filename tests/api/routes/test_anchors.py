"""Off-chain records anchored on-chain: a shown piece of evidence or review decision is proved
to have existed unchanged at anchoring time, while its content stays off-chain and erasable."""

from __future__ import annotations

from typing import Any

from api.services.anchoring import review_content_hash
from api.store import ReviewDecision
from ledger import merkle
from ledger.commitments import anchor_leaf
from tests.helpers import assert_error, outing


def _anchor(api: Any) -> dict[str, Any]:
    answer = api.client.post("/v1/anchors", headers=api.staff("admin"))
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def test_evidence_and_reviews_are_anchored_and_proved(api: Any) -> None:
    headers, _citizen = api.custodial_citizen(display_name="Anchored")
    held = api.client.post("/v1/claims", json=outing(minutes_ago=60 * 24 * 9), headers=headers).json()
    reviewed = api.client.post(
        f"/v1/review/claims/{held['claim_id']}",
        json={"decision": "reject", "reason": "blurred photo"},
        headers=api.staff("minter"),
    ).json()
    assert reviewed["status"] == "rejected"
    anchored = _anchor(api)
    assert anchored["anchored"] == 2 and anchored["tx_hash"].startswith("0x")
    assert_error(api.client.post("/v1/anchors", headers=api.staff("minter")), 403)

    proof = api.client.get(f"/v1/anchors/evidence/{held['claim_id']}").json()
    root, leaf = bytes.fromhex(proof["root"][2:]), bytes.fromhex(proof["leaf"][2:])
    path = [bytes.fromhex(p[2:]) for p in proof["proof"]]
    assert merkle.process_proof(leaf, path) == root
    assert api.ledger.verify_anchored(root, path, leaf), "the contract's own verifier agrees"
    assert api.ledger.anchored_at(root) is not None
    # The leaf commits to the claim's evidence commitment (the one awarded on-chain later).
    with api.ctx.store.session() as session:
        review = session.query(ReviewDecision).one()
        review_id, content = review.id, review_content_hash(review)
    review_proof = api.client.get(f"/v1/anchors/review/{review_id}").json()
    assert review_proof["root"] == proof["root"]
    exported = {(r["record_type"], r["record_id"]): r for r in api.client.get("/v1/anchors/records").json()}
    assert exported[("review", review_id)]["content_hash"] == content
    recomputed = anchor_leaf("review", review_id, content, exported[("review", review_id)]["at"])
    assert recomputed == exported[("review", review_id)]["leaf"]

    # Nothing new: the next anchor anchors nothing.
    assert _anchor(api)["root"] == proof["root"]


def test_erasure_keeps_proofs_valid_and_an_altered_record_no_longer_matches(api: Any) -> None:
    headers, _citizen = api.custodial_citizen(display_name="Erased")
    held = api.client.post("/v1/claims", json=outing(minutes_ago=60 * 24 * 9), headers=headers).json()
    api.client.post(
        f"/v1/review/claims/{held['claim_id']}",
        json={"decision": "approve", "reason": "fine"},
        headers=api.staff("minter"),
    )
    _anchor(api)
    with api.ctx.store.session() as session:
        review = session.query(ReviewDecision).one()
        review.reason = "altered after anchoring"
        session.commit()
        review_id = review.id
    altered = {(r["record_type"], r["record_id"]): r for r in api.client.get("/v1/anchors/records").json()}
    entry = altered[("review", review_id)]
    assert anchor_leaf("review", review_id, entry["content_hash"], entry["at"]) != entry["leaf"]

    assert api.client.delete("/v1/citizens/me/personal-data", headers=headers).status_code == 200
    proof = api.client.get(f"/v1/anchors/evidence/{held['claim_id']}").json()
    path = [bytes.fromhex(p[2:]) for p in proof["proof"]]
    assert api.ledger.verify_anchored(bytes.fromhex(proof["root"][2:]), path, bytes.fromhex(proof["leaf"][2:]))
    erased = {(r["record_type"], r["record_id"]): r for r in api.client.get("/v1/anchors/records").json()}
    assert erased[("review", review_id)]["content_hash"] is None, "erased content is not shown"


def test_an_unanchored_record_has_no_proof(api: Any) -> None:
    assert_error(api.client.get("/v1/anchors/evidence/12345"), 404, "not_anchored")
