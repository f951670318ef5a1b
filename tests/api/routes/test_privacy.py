"""Personal data never reaches the chain, and erasure cuts the last link from chain to evidence.

A small city is walked through every flow that writes on-chain (awards, badges issued and
claimed by QR code, redemptions by custodial and wallet citizens); then every transaction's
calldata and every log of every block is searched for the citizens' names, e-mail addresses,
phone numbers and raw evidence hashes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import keccak
from sqlalchemy import inspect, select, text

from api.claims import evidence_commitment
from api.store import ActivityClaim
from tests.api.conftest import outing

PEOPLE = [
    {"display_name": "Park Seo-yeon", "email": "seoyeon.park@example.kr", "phone": "+82-10-2345-6789"},
    {"display_name": "Zoë Ångström-Müller", "email": "zoe.angstrom@example.se", "phone": "070 1234 5678"},
    {"display_name": "김민준", "email": "minjun.kim@example.kr", "phone": "010-9876-5432"},
]


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
class Chain:
    """Every byte string the chain holds for the blocks written so far."""

    blobs: list[tuple[str, bytes]] = field(default_factory=list)

    @classmethod
    def read(cls, w3) -> Chain:
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
    claims: list[dict[str, object]]  # the bodies sent, with their evidence hashes
    awarded: list[dict]  # claim answers


@pytest.fixture
def city(api) -> City:
    minter, issuer, admin = api.staff("minter"), api.staff("issuer"), api.staff("admin")
    citizens = [api.custodial_citizen(**person) for person in PEOPLE]
    wallet_headers, wallet_account = api.wallet_citizen()
    everyone = [h for h, _ in citizens] + [wallet_headers]

    # Outings: one per citizen auto-approved, one held for review and approved by a reviewer.
    bodies, answers = [], []
    for minutes, headers in zip((120, 240, 360, 480), everyone, strict=True):
        body = outing(minutes_ago=minutes)
        bodies.append(body)
        answers.append(_ok(api.client.post("/v1/claims", json=body, headers=headers), 201))
    fast = outing(minutes_ago=900, distance_meters=20_000)
    bodies.append(fast)
    held = _ok(api.client.post("/v1/claims", json=fast, headers=citizens[0][0]), 201)
    assert held["status"] == "held"
    review = {"decision": "approve", "reason": "GPS track checked by hand"}
    _ok(api.client.post(f"/v1/review/claims/{held['activity_id']}", json=review, headers=minter))
    flushed = _ok(api.client.post("/v1/awards/flush", headers=minter))
    assert flushed["awarded"] == 5

    # An event: badges issued by the city (by address and by citizen id), and claimed by QR code.
    event = _ok(
        api.client.post(
            "/v1/events",
            json={
                "title": "Han river clean-up",
                "venue": "physical",
                "claim_start": 0,
                "claim_end": 2**40,
                "uri": "ipfs://han",
            },
            headers=issuer,
        ),
        201,
    )
    attendees = [citizens[0][1]["address"], citizens[1][1]["citizen_id"]]
    issued = _ok(
        api.client.post(f"/v1/events/{event['event_id']}/badges", json={"attendees": attendees}, headers=issuer)
    )
    assert issued["issued"] == 2
    for headers in (citizens[2][0], wallet_headers):
        code = _ok(api.client.post(f"/v1/events/{event['event_id']}/claim-codes", headers=issuer), 201)["code"]
        _ok(api.client.post("/v1/badges/claim", json={"code": code}, headers=headers), 201)

    # Redemptions: the city signs for a custodial citizen, the wallet citizen signs the consent.
    reward = _ok(api.client.post("/v1/rewards", json={"title": "Bike-share day pass", "cost": 20}, headers=admin), 201)
    _ok(api.client.post("/v1/redemptions", json={"reward_id": reward["reward_id"]}, headers=citizens[0][0]), 201)
    consent = _ok(api.client.get(f"/v1/redemptions/consent?reward_id={reward['reward_id']}", headers=wallet_headers))
    signature = wallet_account.sign_message(encode_typed_data(full_message=consent["typed_data"])).signature
    redeemed = api.client.post(
        "/v1/redemptions",
        json={"reward_id": reward["reward_id"], "deadline": consent["deadline"], "signature": signature.to_0x_hex()},
        headers=wallet_headers,
    )
    _ok(redeemed, 201)
    return City(citizens, (wallet_headers, wallet_account), bodies, [*answers, held])


def test_no_personal_data_or_raw_evidence_on_chain(api, city):
    chain = Chain.read(api.ledger.w3)
    assert chain.transactions >= 10 and chain.logs >= 10  # the walk-through really wrote on-chain
    # Positive controls: the scan does see what is meant to be on-chain.
    assert chain.find(b"ipfs://han")
    for claim in city.awarded:
        commitment = _ok(api.client.get(f"/v1/verify/activities/{claim['activity_id']}"))["evidence_commitment"]
        assert chain.find(bytes.fromhex(commitment[2:]))
    for _, body in city.citizens:
        assert chain.find(bytes.fromhex(body["address"][2:]))

    leaks = {}
    for person in PEOPLE:
        for value in person.values():
            for needle in encodings(value):
                if found := chain.find(needle):
                    leaks[(value, needle)] = found
    for body in city.claims:
        for name in ("photo_hash", "track_hash"):
            value = str(body[name])
            for needle in {bytes.fromhex(value[2:]), value.encode(), value[2:].encode(), keccak(hexstr=value)}:
                if found := chain.find(needle):
                    leaks[(name, needle)] = found
    assert leaks == {}


def test_on_chain_evidence_is_the_salted_commitment(api, city):
    with api.state.store.session() as session:
        rows = {r.id: r for r in session.scalars(select(ActivityClaim))}
    assert len(rows) == len(city.claims)
    for claim in city.awarded:
        row = rows[claim["activity_id"]]
        on_chain = _ok(api.client.get(f"/v1/verify/activities/{row.id}"))["evidence_commitment"]
        assert on_chain == row.evidence_commitment
        assert on_chain == evidence_commitment(row.photo_hash, row.track_hash, salt=row.evidence_salt)
        assert on_chain not in (row.photo_hash, row.track_hash)
        unsalted = "0x" + keccak(bytes.fromhex(row.photo_hash[2:]) + bytes.fromhex(row.track_hash[2:])).hex()
        assert on_chain != unsalted
    assert len({rows[c["activity_id"]].evidence_salt for c in city.awarded}) == len(city.awarded)


def test_public_answers_carry_no_personal_data(api, city):
    addresses = [body["address"] for _, body in city.citizens] + [city.wallet[1].address]
    public = [api.client.get(f"/v1/verify/citizens/{a}").text for a in addresses]
    public += [api.client.get(p).text for p in ("/", "/v1/events", "/v1/rewards", "/v1/health")]
    public += [api.client.get(f"/v1/verify/activities/{c['activity_id']}").text for c in city.awarded]
    for answer in public:
        for person in PEOPLE:
            for value in person.values():
                assert value not in answer
                assert json.dumps(value)[1:-1] not in answer  # as JSON escapes (non-ASCII names)


def _stored_bytes(api) -> list[tuple[str, bytes]]:
    engine = api.state.store.engine
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
    db = Path(api.state.store.url.removeprefix("sqlite:///"))
    return [p for p in (db, Path(f"{db}-wal"), Path(f"{db}-journal")) if p.exists()]


def test_store_keeps_personal_data_only_encrypted(api, city):
    # Also through the idempotency records: repeatable writes with personal data and secrets.
    minter = api.staff("minter")
    extra = {"display_name": "Idem Potent", "email": "idem@example.org", "phone": "011-222-3333"}
    created = api.client.post("/v1/citizens", json=extra, headers=minter | {"Idempotency-Key": "enrol-1"})
    body = _ok(created, 201)
    exported = api.client.post(
        "/v1/citizens/me/key-export",
        headers={"Authorization": f"Bearer {body['session_token']}", "Idempotency-Key": "export-1"},
    )
    secrets_ = [_ok(exported)["private_key"], body["session_token"]]

    needles = [n for person in [*PEOPLE, extra] for value in person.values() for n in encodings(value)]
    needles += [s.encode() for s in secrets_] + [bytes.fromhex(secrets_[0][2:])]
    columns = _stored_bytes(api)
    assert [(where, n) for where, raw in columns for n in needles if n in raw] == []
    files = [(str(p), p.read_bytes()) for p in _database_files(api)]
    assert files
    assert [(where, n) for where, raw in files for n in needles if n in raw] == []


def _recomputable(commitment: str, photo: str, track: str, candidates: set[str]) -> bool:
    return any(evidence_commitment(photo, track, salt=salt) == commitment for salt in candidates)


def _hex32_in_store(api) -> set[str]:
    """Every 32-byte hex value anywhere in the store: any of them could be a salt."""
    found = set()
    for _, raw in _stored_bytes(api):
        value = raw.decode(errors="ignore")
        for token in {value, *value.split()}:
            if len(token) == 66 and token.startswith("0x"):
                try:
                    bytes.fromhex(token[2:])
                except ValueError:
                    continue
                found.add(token.lower())
    return found


@pytest.mark.parametrize("by", ["citizen", "admin"])
def test_after_erasure_the_commitment_no_longer_links_to_the_evidence(api, city, by):
    headers, citizen = city.citizens[0]
    mine = [c for c in city.awarded if c["citizen_id"] == citizen["citizen_id"]]
    others = [c for c in city.awarded if c["citizen_id"] != citizen["citizen_id"]]
    assert len(mine) == 2 and others

    def rows() -> dict[int, ActivityClaim]:
        with api.state.store.session() as session:
            return {r.id: r for r in session.scalars(select(ActivityClaim))}

    def commitment(activity_id: int) -> str:
        return _ok(api.client.get(f"/v1/verify/activities/{activity_id}"))["evidence_commitment"]

    before = rows()
    candidates = _hex32_in_store(api)
    for claim in mine:  # the positive control: with the salt, anyone with the store can link
        row = before[claim["activity_id"]]
        assert _recomputable(commitment(row.id), row.photo_hash, row.track_hash, candidates)

    if by == "citizen":
        erased = api.client.delete("/v1/citizens/me/personal-data", headers=headers)
    else:
        erased = api.client.delete(f"/v1/citizens/{citizen['citizen_id']}/personal-data", headers=api.staff("admin"))
    assert _ok(erased)["erased"] is True

    after = rows()
    candidates = _hex32_in_store(api)
    for claim in mine:
        row = after[claim["activity_id"]]
        assert row.evidence_salt is None
        on_chain = commitment(row.id)
        assert on_chain == row.evidence_commitment  # the chain record itself is untouched
        assert not _recomputable(on_chain, row.photo_hash, row.track_hash, candidates)
        assert not _recomputable(on_chain, before[row.id].photo_hash, before[row.id].track_hash, candidates)
    for claim in others:  # nobody else's link is cut
        row = after[claim["activity_id"]]
        assert row.evidence_salt == before[row.id].evidence_salt
        assert _recomputable(commitment(row.id), row.photo_hash, row.track_hash, candidates)

    me = _ok(api.client.get(f"/v1/citizens/{citizen['citizen_id']}", headers=api.staff("admin")))
    assert me["display_name"] is None and me["email"] is None and me["phone"] is None
    stored = _stored_bytes(api)
    with api.state.store.session() as session:
        assert (
            session.scalar(text("SELECT encrypted_profile FROM citizens WHERE id = :id"), {"id": citizen["citizen_id"]})
            is None
        )
    assert all(PEOPLE[0]["email"].encode() not in raw for _, raw in stored)


def test_erasure_leaves_the_chain_consistent(api, city):
    headers, citizen = city.citizens[0]
    before = _ok(api.client.get(f"/v1/verify/citizens/{citizen['address']}"))
    block = api.ledger.w3.eth.block_number
    _ok(api.client.delete("/v1/citizens/me/personal-data", headers=headers))
    assert api.ledger.w3.eth.block_number == block  # erasure is off-chain only
    after = _ok(api.client.get(f"/v1/verify/citizens/{citizen['address']}"))
    assert after == before and after["consistent"]
    assert (
        Account.from_key(api.state.cipher.decrypt(_citizen_key(api, citizen["citizen_id"]))).address
        == citizen["address"]
    )


def _citizen_key(api, citizen_id: str) -> bytes:
    with api.state.store.engine.connect() as connection:
        return connection.execute(
            text("SELECT encrypted_key FROM citizens WHERE id = :id"), {"id": citizen_id}
        ).scalar_one()
