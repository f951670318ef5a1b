"""Personal data never reaches the chain, and erasure cuts the last link from chain to evidence.

A small city is walked through every flow that writes on-chain (awards of claims, reviewed and
appealed claims and staff awards, badges issued and claimed by QR code, redemptions by custodial
and wallet citizens); then every transaction's input and every log of every block is read with
plain web3 and searched for the citizens' names, e-mail addresses, phone numbers and raw
evidence hashes.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import keccak
from sqlalchemy import inspect, select, text

from api.store import ActivityClaim, EvidenceUse, ReviewDecision
from ledger.commitments import evidence_commitment
from tests.api.conftest import PIN
from tests.helpers import outing

PEOPLE = [
    {"display_name": "Park Seo-yeon", "email": "seoyeon.park@example.kr", "phone": "+82-10-2345-6789"},
    {"display_name": "Zoë Ångström-Müller", "email": "zoe.angstrom@example.se", "phone": "070 1234 5678"},
    {"display_name": "김민준", "email": "minjun.kim@example.kr", "phone": "010-9876-5432"},
]
#: What citizen 0's claims carry off-chain besides the evidence: a staff award's note, the
#: citizen's appeal, and reviewers' reasons.
NOTE = "Seo-yeon volunteered at the shelter with her daughter"
APPEAL = "I ran to catch the 7:40 bus to my mother's hospital"
REASONS = ["Track looks like a bicycle ride", "Bus run explained; track checked by hand"]
OTHER_REASON = "Long route but plausible for a runner"


def encodings(value: str) -> set[bytes]:
    """How a string could sit in calldata or a log: UTF-8, UTF-16 either way round, any case,
    and a phone number's bare digits."""
    forms = {value, value.lower(), value.upper()}
    digits = "".join(c for c in value if c.isdigit())
    if len(digits) >= 7:
        forms |= {digits, digits.lstrip("0")}
    out = set()
    for form in forms:
        out |= {form.encode(), form.encode("utf-16-le"), form.encode("utf-16-be")}
    return out


def _bytes(value: bytes | str) -> bytes:
    return bytes.fromhex(value.removeprefix("0x")) if isinstance(value, str) else bytes(value)


@dataclass
class ChainBytes:
    """Every byte string the chain holds for the blocks written so far, read with plain web3
    (what anyone with a node reads)."""

    blobs: list[tuple[str, bytes]] = field(default_factory=list)

    @classmethod
    def read(cls, w3) -> ChainBytes:
        chain = cls()
        for number in range(w3.eth.block_number + 1):
            block = w3.eth.get_block(number, full_transactions=True)
            chain.blobs.append((f"block {number} extraData", bytes(block["extraData"])))
            for tx in block["transactions"]:
                where = f"block {number} tx {tx['hash'].to_0x_hex()}"
                calldata = tx["input"] if "input" in tx else tx["data"]  # eth-tester names it "data"
                chain.blobs.append((f"{where} input", _bytes(calldata)))
                receipt = w3.eth.get_transaction_receipt(tx["hash"])
                for n, log in enumerate(receipt["logs"]):
                    chain.blobs.append((f"{where} log {n} data", _bytes(log["data"])))
                    for i, topic in enumerate(log["topics"]):
                        chain.blobs.append((f"{where} log {n} topic {i}", _bytes(topic)))
        return chain

    @property
    def transactions(self) -> int:
        return sum(1 for where, _ in self.blobs if where.endswith(" input"))

    @property
    def logs(self) -> int:
        return sum(1 for where, _ in self.blobs if where.endswith(" data"))

    def find(self, needle: bytes) -> list[str]:
        return [where for where, blob in self.blobs if needle in blob]


def _ok(response, status: int = 200) -> dict:
    assert response.status_code == status, response.text
    return response.json()


@dataclass
class City:
    citizens: list[tuple[dict[str, str], dict]]  # (headers, enrolment answer) of custodial citizens
    wallet: tuple[dict[str, str], object]
    claims: list[dict[str, object]]  # the bodies sent, with their evidence hashes and times
    awarded: list[dict]  # claim answers after settlement (with their activity ids)
    staff_award: dict


def _claim(api, headers, claim_id: int) -> dict:
    return _ok(api.client.get(f"/v1/claims/{claim_id}", headers=headers))


@pytest.fixture
def city(api) -> City:
    minter, issuer, admin = api.staff("minter"), api.staff("issuer"), api.staff("admin")
    citizens = [api.custodial_citizen(**person) for person in PEOPLE]
    wallet_headers, wallet_account = api.wallet_citizen()
    everyone = [h for h, _ in citizens] + [wallet_headers]
    first = citizens[0][0]

    def keyed(headers, key: str) -> dict[str, str]:
        return headers | {"Idempotency-Key": key}  # as the city's apps send writes

    # Outings: one per citizen approved at once.
    bodies, answers = [], []
    for n, (minutes, headers) in enumerate(zip((120, 240, 360, 480), everyone, strict=True)):
        body = outing(minutes_ago=minutes)
        bodies.append(body)
        answers.append(_ok(api.client.post("/v1/claims", json=body, headers=keyed(headers, f"outing-{n}")), 201))
    # Citizen 0: one held, rejected, appealed and then approved, with the reasons and the note.
    fast = outing(minutes_ago=900, distance_meters=20_000)
    bodies.append(fast)
    held = _ok(api.client.post("/v1/claims", json=fast, headers=keyed(first, "outing-fast")), 201)
    assert held["status"] == "held"
    path = f"/v1/review/claims/{held['claim_id']}"
    reject = {"decision": "reject", "reason": REASONS[0]}
    assert _ok(api.client.post(path, json=reject, headers=keyed(minter, "review-1")))["status"] == "rejected"
    appeal = api.client.post(
        f"/v1/claims/{held['claim_id']}/appeal", json={"note": APPEAL}, headers=keyed(first, "appeal-1")
    )
    assert _ok(appeal)["status"] == "held"
    approve = {"decision": "approve", "reason": REASONS[1]}
    assert _ok(api.client.post(path, json=approve, headers=keyed(minter, "review-2")))["status"] == "approved"
    # Citizen 1: a held claim approved by a reviewer (kept through citizen 0's erasure).
    long = outing(minutes_ago=1_200, distance_meters=13_000)
    bodies.append(long)
    other = _ok(api.client.post("/v1/claims", json=long, headers=citizens[1][0]), 201)
    assert other["status"] == "held"
    review = {"decision": "approve", "reason": OTHER_REASON}
    _ok(api.client.post(f"/v1/review/claims/{other['claim_id']}", json=review, headers=minter))
    # Points staff award citizen 0 directly, with a note.
    award = {"citizen": citizens[0][1]["citizen_id"], "points": 30, "reference": "volunteer-hours-0042", "note": NOTE}
    staff_award = _ok(api.client.post("/v1/awards", json=award, headers=minter), 201)
    assert staff_award["status"] == "awarded"
    flushed = api.settle()
    assert flushed["awarded"] == 6
    awarded = [
        _claim(api, headers, c["claim_id"])
        for headers, c in [*zip(everyone, answers, strict=True), (first, held), (citizens[1][0], other)]
    ]
    assert all(c["status"] == "awarded" and c["activity_id"] for c in awarded)

    # An event: badges issued by the city (by address and by citizen id), and claimed by QR code.
    now = api.ledger.chain_time()
    event = {
        "title": "Han river clean-up",
        "venue": "physical",
        "claim_start": now - 3_600,
        "claim_end": now + 30 * 86_400,
    }
    event_id = _ok(api.client.post("/v1/events", json=event, headers=issuer), 201)["event_id"]
    attendees = [citizens[0][1]["address"], citizens[1][1]["citizen_id"]]
    issued = _ok(api.client.post(f"/v1/events/{event_id}/badges", json={"attendees": attendees}, headers=issuer))
    assert issued["issued"] == 2
    for headers in (citizens[2][0], wallet_headers):
        code = _ok(api.client.post(f"/v1/events/{event_id}/claim-codes", headers=issuer), 201)["code"]
        _ok(api.client.post("/v1/badges/claim", json={"code": code}, headers=headers), 201)

    # Redemptions: the city signs for a custodial citizen, the wallet citizen signs the consent.
    reward = _ok(api.client.post("/v1/rewards", json={"title": "Bike-share day pass", "cost": 20}, headers=admin), 201)
    _ok(api.client.post("/v1/redemptions", json={"reward_id": reward["reward_id"]}, headers=first), 201)
    consent = _ok(api.client.get(f"/v1/redemptions/consent?reward_id={reward['reward_id']}", headers=wallet_headers))
    signature = wallet_account.sign_message(encode_typed_data(full_message=consent["typed_data"])).signature
    redeemed = api.client.post(
        "/v1/redemptions",
        json={"reward_id": reward["reward_id"], "deadline": consent["deadline"], "signature": signature.to_0x_hex()},
        headers=wallet_headers,
    )
    _ok(redeemed, 201)
    return City(citizens, (wallet_headers, wallet_account), bodies, awarded, staff_award)


def _commitment(api, activity_id: int) -> str:
    return _ok(api.client.get(f"/v1/verify/activities/{activity_id}"))["evidence_commitment"]


def _evidence_needles(value: str) -> set[bytes]:
    return {bytes.fromhex(value[2:]), value.encode(), value[2:].encode(), keccak(hexstr=value)}


def test_no_personal_data_or_raw_evidence_on_chain(api, city):
    chain = ChainBytes.read(api.test_chain.w3)
    assert chain.transactions >= 10 and chain.logs >= 10  # the walk-through really wrote on-chain
    # Positive controls: the scan does see what is meant to be on-chain.
    for claim in [*city.awarded, city.staff_award]:
        assert chain.find(bytes.fromhex(_commitment(api, claim["activity_id"])[2:])), claim
    for _, body in city.citizens:
        assert chain.find(bytes.fromhex(body["address"][2:]))
    assert chain.find(bytes.fromhex(city.wallet[1].address[2:]))

    leaks = {}
    for person in PEOPLE:
        for value in person.values():
            for needle in encodings(value):
                if found := chain.find(needle):
                    leaks[(value, needle)] = found
    for value in (NOTE, APPEAL, *REASONS, OTHER_REASON, "Han river clean-up", "Bike-share day pass"):
        for needle in encodings(value):
            if found := chain.find(needle):
                leaks[(value, needle)] = found
    for body in city.claims:
        for name in ("photo_hash", "track_hash"):
            for needle in _evidence_needles(str(body[name])):
                if found := chain.find(needle):
                    leaks[(name, needle)] = found
        # Nor the photo and track hashed together without the salt.
        unsalted = keccak(bytes.fromhex(str(body["photo_hash"])[2:]) + bytes.fromhex(str(body["track_hash"])[2:]))
        if found := chain.find(unsalted):
            leaks[("unsalted", unsalted)] = found
    assert leaks == {}


def test_on_chain_evidence_is_the_salted_commitment(api, city):
    with api.ctx.store.session() as session:
        rows = {r.id: r for r in session.scalars(select(ActivityClaim))}
    assert len(rows) == len(city.claims) + 1  # and the staff award
    for claim in city.awarded:
        row = rows[claim["claim_id"]]
        on_chain = _commitment(api, claim["activity_id"])
        assert on_chain == row.evidence_commitment
        assert on_chain == evidence_commitment(row.photo_hash, row.track_hash, salt=row.evidence_salt)
        assert on_chain not in (row.photo_hash, row.track_hash)
        unsalted = "0x" + keccak(bytes.fromhex(row.photo_hash[2:]) + bytes.fromhex(row.track_hash[2:])).hex()
        assert on_chain != unsalted
    salts = {rows[c["claim_id"]].evidence_salt for c in [*city.awarded, city.staff_award]}
    assert len(salts) == len(city.awarded) + 1


def test_public_answers_carry_no_personal_data(api, city):
    addresses = [body["address"] for _, body in city.citizens] + [city.wallet[1].address]
    paths = [f"/v1/verify/citizens/{a}" for a in addresses]
    paths += ["/", "/v1/events", "/v1/rewards", "/v1/health", "/v1/admin/activity-kinds"]
    paths += [f"/v1/verify/activities/{c['activity_id']}" for c in city.awarded]
    responses = [api.client.get(p) for p in paths]
    assert [r.status_code for r in responses] == [200] * len(paths)
    public = [r.text for r in responses]
    private = [v for person in PEOPLE for v in person.values()] + [NOTE, APPEAL, *REASONS, OTHER_REASON]
    private += [str(body[name]) for body in city.claims for name in ("photo_hash", "track_hash")]
    for answer in public:
        for value in private:
            assert value not in answer and value.lower() not in answer.lower()
            assert json.dumps(value)[1:-1] not in answer  # as JSON escapes (non-ASCII names)


def _stored_bytes(api) -> list[tuple[str, bytes]]:
    engine = api.ctx.store.engine
    out = []
    with engine.connect() as connection:
        for table in inspect(engine).get_table_names():
            for row in connection.execute(text(f'SELECT * FROM "{table}"')):
                for column, value in row._mapping.items():
                    if value is not None:
                        raw = value if isinstance(value, bytes) else str(value).encode()
                        out.append((f"{table}.{column}", raw))
    return out


def _database_files(api) -> list[Path]:
    db = Path(api.ctx.store.url.removeprefix("sqlite:///"))
    return [p for p in (db, Path(f"{db}-wal"), Path(f"{db}-journal")) if p.exists()]


def test_store_keeps_personal_data_only_encrypted(api, city):
    # Also through the idempotency records: repeatable writes with personal data and secrets.
    minter = api.staff("minter")
    extra = {"display_name": "Idem Potent", "email": "idem@example.org", "phone": "011-222-3333"}
    created = api.client.post("/v1/citizens", json=extra, headers=minter | {"Idempotency-Key": "enrol-1"})
    body = _ok(created, 201)
    session = _ok(
        api.client.post(
            "/v1/auth/card/activate",
            json={"code": body["card"]["code"], "pin": PIN},
            headers={"Idempotency-Key": "a-1"},
        )
    )
    exported = api.client.post(
        "/v1/citizens/me/key-export",
        json={"pin": PIN},
        headers={"Authorization": f"Bearer {session['token']}", "Idempotency-Key": "export-1"},
    )
    private_key = _ok(exported)["private_key"]
    card = body["card"]["code"]
    secrets_ = [private_key, private_key[2:], session["token"], card, card.replace("-", "")]

    needles = [n for person in [*PEOPLE, extra] for value in person.values() for n in encodings(value)]
    needles += [s.encode() for s in secrets_] + [bytes.fromhex(private_key[2:])]
    columns = _stored_bytes(api)
    assert [(where, n) for where, raw in columns for n in needles if n in raw] == []
    if api.ctx.store.sqlite:
        files = [(str(p), p.read_bytes()) for p in _database_files(api)]
        assert files
        assert [(where, n) for where, raw in files for n in needles if n in raw] == []


def _recomputable(commitment: str, photo: str, track: str, candidates: set[str]) -> bool:
    return any(evidence_commitment(photo, track, salt=salt) == commitment for salt in candidates)


def _hex32_in_store(api) -> set[str]:
    """Every 32-byte hex value anywhere in the store: any of them could be a salt."""
    found = set()
    for _, raw in _stored_bytes(api):
        for token in re.findall(r"0x[0-9a-fA-F]{64}", raw.decode(errors="ignore")):
            found.add(token.lower())
    return found


def _times(moment: str) -> re.Pattern[str]:
    """An outing time as any column or JSON answer could hold it (to the second)."""
    at = datetime.fromisoformat(moment)
    return re.compile(f"{at:%Y-%m-%d}[T ]{at:%H:%M:%S}")


def _claim_rows(api) -> dict[int, ActivityClaim]:
    with api.ctx.store.session() as session:
        return {r.id: r for r in session.scalars(select(ActivityClaim))}


def _reviews(api) -> list[ReviewDecision]:
    with api.ctx.store.session() as session:
        return list(session.scalars(select(ReviewDecision).order_by(ReviewDecision.id)))


@pytest.mark.parametrize("by", ["citizen", "admin"])
def test_erasure_deletes_what_linked_the_chain_to_the_person(api, city, by):
    headers, citizen = city.citizens[0]
    mine = [c for c in [*city.awarded, city.staff_award] if c["citizen_id"] == citizen["citizen_id"]]
    others = [c for c in city.awarded if c["citizen_id"] != citizen["citizen_id"]]
    assert len(mine) == 3 and len(others) == 4
    my_bodies = city.claims[0:1] + city.claims[4:5]
    chain_before = ChainBytes.read(api.test_chain.w3).blobs
    head = api.ledger.head()
    commitments = {c["activity_id"]: _commitment(api, c["activity_id"]) for c in [*city.awarded, city.staff_award]}

    before = _claim_rows(api)
    candidates = _hex32_in_store(api)
    for claim in mine[:2]:  # the positive control: with the salt, anyone with the store can link
        row = before[claim["claim_id"]]
        assert _recomputable(commitments[claim["activity_id"]], row.photo_hash, row.track_hash, candidates)
    assert before[city.staff_award["claim_id"]].note == NOTE
    assert [r.reason for r in _reviews(api)] == [REASONS[0], APPEAL, REASONS[1], OTHER_REASON]

    if by == "citizen":
        erased = api.client.delete("/v1/citizens/me/personal-data", headers=headers)
    else:
        erased = api.client.delete(f"/v1/citizens/{citizen['citizen_id']}/personal-data", headers=api.staff("admin"))
    assert _ok(erased)["erased"] is True

    # The profile, evidence hashes, salts, notes, outing times and reviewers' reasons are gone.
    after = _claim_rows(api)
    for claim in mine:
        row = after[claim["claim_id"]]
        assert (row.photo_hash, row.track_hash, row.evidence_salt) == (None, None, None)
        assert (row.note, row.appeal_note, row.started_at, row.ended_at) == (None, None, None, None)
        assert row.evidence_commitment == before[row.id].evidence_commitment
    reasons = [r.reason for r in _reviews(api)]
    assert reasons[3] == OTHER_REASON and not {REASONS[0], REASONS[1], APPEAL} & set(reasons)
    with api.ctx.store.session() as session:
        used = {u.claim_id for u in session.scalars(select(EvidenceUse))}
    assert used.isdisjoint(c["claim_id"] for c in mine) and len(used) == len(others)
    me = _ok(api.client.get(f"/v1/citizens/{citizen['citizen_id']}", headers=api.staff("admin")))
    assert me["display_name"] is None and me["email"] is None and me["phone"] is None
    answers = [_claim(api, headers, c["claim_id"]) for c in mine] if by == "citizen" else []
    assert all(a["started_at"] is None and a["ended_at"] is None for a in answers)
    with api.ctx.store.engine.connect() as connection:
        profile = connection.execute(
            text("SELECT encrypted_profile FROM citizens WHERE id = :id"), {"id": citizen["citizen_id"]}
        ).scalar_one()
    assert profile is None

    # Nothing anywhere in the store holds them any more (idempotency records included), and
    # no salt in the store links the on-chain commitments to the evidence.
    stored = _stored_bytes(api)
    erased_values = [NOTE, APPEAL, *REASONS]
    erased_values += [str(body[name]) for body in my_bodies for name in ("photo_hash", "track_hash")]
    erased_values += [before[c["claim_id"]].evidence_salt for c in mine]
    found = [(where, value) for where, raw in stored for value in erased_values if value.encode() in raw]
    for body in my_bodies:
        for moment in (str(body["started_at"]), str(body["ended_at"])):
            found += [(where, moment) for where, raw in stored if _times(moment).search(raw.decode(errors="ignore"))]
    assert found == [], "\n".join(map(str, found))
    candidates = _hex32_in_store(api)
    for body, claim in zip(my_bodies, mine[:2], strict=True):
        photo, track = str(body["photo_hash"]).lower(), str(body["track_hash"]).lower()
        assert not _recomputable(commitments[claim["activity_id"]], photo, track, candidates)

    # Nobody else's link is cut.
    for claim in others:
        row = after[claim["claim_id"]]
        assert row.evidence_salt == before[row.id].evidence_salt and row.started_at == before[row.id].started_at
        assert _recomputable(commitments[claim["activity_id"]], row.photo_hash, row.track_hash, candidates)

    # The on-chain records stay as they were: erasure writes nothing on-chain.
    assert api.ledger.head() == head
    assert ChainBytes.read(api.test_chain.w3).blobs == chain_before
    assert {a: _commitment(api, a) for a in commitments} == commitments


def test_erasure_leaves_the_chain_consistent(api, city):
    headers, citizen = city.citizens[0]
    before = _ok(api.client.get(f"/v1/verify/citizens/{citizen['address']}"))
    assert before["verified"] is True and before["balance"] > 0
    block = api.ledger.head()
    _ok(api.client.delete("/v1/citizens/me/personal-data", headers=headers))
    assert api.ledger.head() == block  # erasure is off-chain only
    after = _ok(api.client.get(f"/v1/verify/citizens/{citizen['address']}"))
    assert after == before and after["verified"]
    # The city still holds the key, so the citizen keeps using their points.
    assert (
        Account.from_key(api.ctx.cipher.decrypt(_citizen_key(api, citizen["citizen_id"]))).address == citizen["address"]
    )


def _citizen_key(api, citizen_id: str) -> bytes:
    with api.ctx.store.engine.connect() as connection:
        return connection.execute(
            text("SELECT encrypted_key FROM citizens WHERE id = :id"), {"id": citizen_id}
        ).scalar_one()
