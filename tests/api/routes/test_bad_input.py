"""Bad input on every write (and the public verifier): a clear 4xx, never a 500, and nothing
written — neither a row in the store nor a block on the chain."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import inspect, text

from tests.api.conftest import outing

ADDRESS = "0x" + "ab" * 20
HUGE = 2**300


@dataclass
class World:
    """A citizen, staff of every role, an event, a reward, a held and an approved claim."""

    client: TestClient
    headers: dict[str, dict[str, str]]
    event_id: int
    reward_id: int
    held_claim: int
    approved_claim: int
    used_photo_hash: str
    citizen_address: str


@pytest.fixture
def world(api) -> World:
    citizen, body = api.custodial_citizen(display_name="Input Tester", phone="010-0000-0000")
    headers = {"citizen": citizen} | {role: api.staff(role) for role in ("admin", "minter", "issuer")}
    event = api.client.post(
        "/v1/events",
        json={"title": "Beach clean-up", "venue": "physical", "claim_start": 0, "claim_end": 2**40, "uri": "ipfs://e"},
        headers=headers["issuer"],
    )
    assert event.status_code == 201, event.text
    reward = api.client.post("/v1/rewards", json={"title": "Bus ticket", "cost": 10}, headers=headers["admin"])
    assert reward.status_code == 201, reward.text
    approved_body = outing(minutes_ago=120)
    approved = api.client.post("/v1/claims", json=approved_body, headers=citizen)
    held = api.client.post("/v1/claims", json=outing(minutes_ago=600, distance_meters=50_000), headers=citizen)
    assert approved.json()["status"] == "approved" and held.json()["status"] == "held"
    return World(
        client=TestClient(api.client.app, raise_server_exceptions=False),
        headers=headers,
        event_id=event.json()["event_id"],
        reward_id=reward.json()["reward_id"],
        held_claim=held.json()["activity_id"],
        approved_claim=approved.json()["activity_id"],
        used_photo_hash=str(approved_body["photo_hash"]),
        citizen_address=body["address"],
    )


def snapshot(api) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table."""
    engine = api.state.store.engine
    with engine.connect() as connection:
        return {
            table: [tuple(row) for row in connection.execute(text(f'SELECT * FROM "{table}" ORDER BY rowid'))]
            for table in inspect(engine).get_table_names()
        }


@dataclass(frozen=True)
class Case:
    id: str
    method: str
    path: str  # formatted with the World's fields
    who: str | None
    body: Callable[[World], Any] | None
    status: int
    code: str
    content_type: str | None = None
    xfail: str | None = None


def _h() -> str:
    return "0x" + secrets.token_hex(32)


def _iso(moment: datetime) -> str:
    return moment.isoformat()


NOW = datetime.now(UTC)


def claim_case(id_: str, status: int, code: str, body: Callable[[World], Any], xfail: str | None = None) -> Case:
    return Case(f"claims-{id_}", "POST", "/v1/claims", "citizen", body, status, code, xfail=xfail)


def _without(field: str) -> Callable[[World], Any]:
    return lambda w: {k: v for k, v in outing().items() if k != field}


CLAIMS = [
    claim_case("unknown-field", 422, "invalid_request", lambda w: outing(citizen_id="someone-else")),
    claim_case("unknown-field-points", 422, "invalid_request", lambda w: outing(points=10_000)),
    claim_case("missing-photo", 422, "invalid_request", _without("photo_hash")),
    claim_case("missing-ended-at", 422, "invalid_request", _without("ended_at")),
    claim_case("empty-object", 422, "invalid_request", lambda w: {}),
    claim_case("list-body", 422, "invalid_request", lambda w: [outing()]),
    claim_case("null-body", 422, "invalid_request", lambda w: None),
    claim_case("distance-text", 422, "invalid_request", lambda w: outing(distance_meters="far")),
    claim_case("steps-list", 422, "invalid_request", lambda w: outing(steps=[1])),
    claim_case("litter-object", 422, "invalid_request", lambda w: outing(litter_grams={"g": 1})),
    claim_case("distance-fraction", 422, "invalid_request", lambda w: outing(distance_meters=1.5)),
    claim_case("started-number-text", 422, "invalid_request", lambda w: outing(started_at="yesterday")),
    claim_case("negative-distance", 422, "invalid_request", lambda w: outing(distance_meters=-1)),
    claim_case("negative-duration", 422, "invalid_request", lambda w: outing(duration_seconds=-3_600)),
    claim_case("negative-litter", 422, "invalid_request", lambda w: outing(litter_grams=-150)),
    claim_case("huge-distance", 422, "invalid_request", lambda w: outing(distance_meters=HUGE)),
    claim_case("huge-steps", 422, "invalid_request", lambda w: outing(steps=HUGE)),
    claim_case("uint32-overflow", 422, "invalid_request", lambda w: outing(litter_grams=2**32)),
    claim_case(
        "naive-datetimes",
        422,
        "invalid_time",
        lambda w: outing(
            started_at=(NOW - timedelta(hours=3)).replace(tzinfo=None).isoformat(),
            ended_at=(NOW - timedelta(hours=2)).replace(tzinfo=None).isoformat(),
        ),
    ),
    claim_case(
        "naive-start",
        422,
        "invalid_time",
        lambda w: outing(started_at=(NOW - timedelta(hours=3)).replace(tzinfo=None).isoformat()),
    ),
    claim_case(
        "end-before-start",
        422,
        "invalid_time",
        lambda w: outing(started_at=_iso(NOW - timedelta(hours=1)), ended_at=_iso(NOW - timedelta(hours=2))),
    ),
    claim_case(
        "end-equals-start",
        422,
        "invalid_time",
        lambda w: outing(started_at=_iso(NOW - timedelta(hours=1)), ended_at=_iso(NOW - timedelta(hours=1))),
    ),
    claim_case(
        "ends-in-the-future",
        422,
        "invalid_time",
        lambda w: outing(started_at=_iso(NOW), ended_at=_iso(NOW + timedelta(days=1))),
    ),
    claim_case(
        "ends-in-year-9999",
        422,
        "invalid_time",
        lambda w: outing(ended_at="9999-12-31T23:59:59-12:00"),
    ),
    claim_case("short-hash", 422, "invalid_request", lambda w: outing(photo_hash="0x1234")),
    claim_case("hash-without-0x", 422, "invalid_request", lambda w: outing(track_hash=secrets.token_hex(32))),
    claim_case("non-hex-hash", 422, "invalid_request", lambda w: outing(photo_hash="0x" + "zz" * 32)),
    claim_case("hash-number", 422, "invalid_request", lambda w: outing(photo_hash=12345)),
    claim_case("same-photo-and-track", 422, "invalid_evidence", lambda w: outing(photo_hash=(h := _h()), track_hash=h)),
    claim_case(
        "same-hash-other-case",
        422,
        "invalid_evidence",
        lambda w: outing(photo_hash=(h := "0x" + "ab" * 32), track_hash=h.upper().replace("0X", "0x")),
    ),
    claim_case("reused-evidence", 409, "evidence_already_used", lambda w: outing(photo_hash=w.used_photo_hash)),
    claim_case(
        "reused-evidence-other-case",
        409,
        "evidence_already_used",
        lambda w: outing(photo_hash=w.used_photo_hash.upper().replace("0X", "0x")),
    ),
    claim_case(
        "boolean-for-integer",
        422,
        "invalid_request",
        lambda w: outing(distance_meters=True),
    ),
    claim_case(
        "start-in-year-1-east-of-utc",
        422,
        "invalid_time",
        lambda w: outing(started_at="0001-01-01T00:00:00+05:00"),
    ),
]


def _event(**overrides: Any) -> dict[str, Any]:
    return {"title": "Park clean-up", "venue": "metaverse", "claim_start": 100, "claim_end": 200, "uri": "ipfs://x"} | (
        overrides
    )


def event_case(id_: str, status: int, code: str, body: Callable[[World], Any]) -> Case:
    return Case(f"events-{id_}", "POST", "/v1/events", "issuer", body, status, code)


EVENTS = [
    event_case("end-before-start", 422, "invalid_claim_window", lambda w: _event(claim_start=200, claim_end=100)),
    event_case("negative-start", 422, "invalid_request", lambda w: _event(claim_start=-1)),
    event_case("negative-capacity", 422, "invalid_request", lambda w: _event(capacity=-1)),
    event_case("huge-end", 422, "invalid_request", lambda w: _event(claim_end=HUGE)),
    event_case("uint64-start", 422, "invalid_request", lambda w: _event(claim_start=2**64, claim_end=2**64)),
    event_case("uint32-capacity", 422, "invalid_request", lambda w: _event(capacity=2**32)),
    event_case("unknown-venue", 422, "invalid_request", lambda w: _event(venue="moon")),
    event_case("unknown-field", 422, "invalid_request", lambda w: _event(event_id=7)),
    event_case("missing-uri", 422, "invalid_request", lambda w: {k: v for k, v in _event().items() if k != "uri"}),
    event_case("missing-everything", 422, "invalid_request", lambda w: {}),
    event_case("title-number", 422, "invalid_request", lambda w: _event(title=123)),
    event_case("empty-title", 422, "invalid_request", lambda w: _event(title="")),
    event_case("start-text", 422, "invalid_request", lambda w: _event(claim_start="soon")),
    event_case("start-naive-datetime", 422, "invalid_request", lambda w: _event(claim_start="2030-01-01T00:00:00")),
    event_case("start-fraction", 422, "invalid_request", lambda w: _event(claim_start=100.5)),
    event_case("list-body", 422, "invalid_request", lambda w: [_event()]),
]


def citizen_case(id_: str, body: Callable[[World], Any]) -> Case:
    return Case(f"citizens-{id_}", "POST", "/v1/citizens", "minter", body, 422, "invalid_request")


CITIZENS = [
    citizen_case("unknown-field-address", lambda w: {"display_name": "X", "address": ADDRESS}),
    citizen_case("unknown-field-custodial", lambda w: {"custodial": False}),
    citizen_case("name-number", lambda w: {"display_name": 42}),
    citizen_case("email-object", lambda w: {"email": {"a": "b"}}),
    citizen_case("phone-list", lambda w: {"phone": ["010"]}),
    citizen_case("name-too-long", lambda w: {"display_name": "x" * 101}),
    citizen_case("email-too-long", lambda w: {"email": "x" * 201}),
    citizen_case("list-body", lambda w: [{"display_name": "X"}]),
    citizen_case("string-body", lambda w: "X"),
]


def reward_case(id_: str, body: Callable[[World], Any]) -> Case:
    return Case(f"rewards-{id_}", "POST", "/v1/rewards", "admin", body, 422, "invalid_request")


REWARDS = [
    reward_case("zero-cost", lambda w: {"title": "T", "cost": 0}),
    reward_case("negative-cost", lambda w: {"title": "T", "cost": -5}),
    reward_case("huge-cost", lambda w: {"title": "T", "cost": HUGE}),
    reward_case("int64-cost", lambda w: {"title": "T", "cost": 2**63}),
    reward_case("cost-text", lambda w: {"title": "T", "cost": "ten"}),
    reward_case("cost-fraction", lambda w: {"title": "T", "cost": 1.5}),
    reward_case("missing-title", lambda w: {"cost": 1}),
    reward_case("empty-title", lambda w: {"title": "", "cost": 1}),
    reward_case("unknown-field", lambda w: {"title": "T", "cost": 1, "active": False}),
]


def redemption_case(
    id_: str, body: Callable[[World], Any], status: int = 422, code: str = "invalid_request", xfail: str | None = None
) -> Case:
    return Case(f"redemptions-{id_}", "POST", "/v1/redemptions", "citizen", body, status, code, xfail=xfail)


REDEMPTIONS = [
    redemption_case("zero-reward", lambda w: {"reward_id": 0}),
    redemption_case("negative-reward", lambda w: {"reward_id": -1}),
    redemption_case("reward-text", lambda w: {"reward_id": "one"}),
    redemption_case("missing-reward", lambda w: {}),
    redemption_case("unknown-field", lambda w: {"reward_id": w.reward_id, "points": 1}),
    redemption_case("malformed-signature", lambda w: {"reward_id": w.reward_id, "signature": "0x1234", "deadline": 1}),
    redemption_case("negative-deadline", lambda w: {"reward_id": w.reward_id, "deadline": -1}),
    redemption_case("huge-deadline", lambda w: {"reward_id": w.reward_id, "deadline": HUGE}),
    redemption_case("unknown-reward", lambda w: {"reward_id": 999}, 404, "reward_not_found"),
    redemption_case("insufficient-points", lambda w: {"reward_id": w.reward_id}, 409, "insufficient_points"),
    redemption_case(
        "huge-reward",
        lambda w: {"reward_id": HUGE},
    ),
]


def badge_case(
    id_: str,
    body: Callable[[World], Any],
    status: int = 422,
    code: str = "invalid_request",
    *,
    event: str = "{event_id}",
    content_type: str | None = None,
    xfail: str | None = None,
) -> Case:
    return Case(
        f"badges-{id_}",
        "POST",
        f"/v1/events/{event}/badges",
        "issuer",
        body,
        status,
        code,
        content_type=content_type,
        xfail=xfail,
    )


BAD_CHECKSUM = "0x" + "aB" * 20  # mixed case, wrong EIP-55 checksum: a mistyped address


BADGES = [
    badge_case("non-hex-address", lambda w: {"attendees": ["0x" + "zz" * 20]}, code="invalid_input"),
    badge_case("bad-checksum", lambda w: {"attendees": [BAD_CHECKSUM]}, code="invalid_input"),
    badge_case("short-address", lambda w: {"attendees": ["0x1234"]}, code="unknown_attendees"),
    badge_case("unknown-citizen", lambda w: {"attendees": ["not-a-citizen"]}, code="unknown_attendees"),
    badge_case(
        "one-good-one-bad", lambda w: {"attendees": [w.citizen_address, "0x" + "zz" * 20]}, code="invalid_input"
    ),
    badge_case(
        "duplicate", lambda w: {"attendees": [w.citizen_address, w.citizen_address.lower()]}, code="invalid_input"
    ),
    badge_case("zero-address", lambda w: {"attendees": ["0x" + "00" * 20]}, code="invalid_attendee"),
    badge_case("empty-list", lambda w: {"attendees": []}),
    badge_case("missing-attendees", lambda w: {}),
    badge_case("unknown-field", lambda w: {"attendees": [w.citizen_address], "force": True}),
    badge_case("attendees-string", lambda w: {"attendees": w.citizen_address}),
    badge_case("attendee-number", lambda w: {"attendees": [123]}),
    badge_case("attendee-too-long", lambda w: {"attendees": ["x" * 65]}),
    badge_case("list-body", lambda w: [w.citizen_address]),
    badge_case("unknown-event", lambda w: {"attendees": [w.citizen_address]}, 404, "event_not_found", event="999"),
    badge_case("negative-event", lambda w: {"attendees": [w.citizen_address]}, 404, "event_not_found", event="-1"),
    badge_case("event-text", lambda w: {"attendees": [w.citizen_address]}, event="abc"),
    badge_case(
        "csv-without-address-column",
        lambda w: f"name\n{w.citizen_address}\n",
        code="invalid_csv",
        content_type="text/csv",
    ),
    badge_case("csv-empty", lambda w: "address\n", code="invalid_csv", content_type="text/csv"),
    badge_case("csv-not-utf8", lambda w: b"address\n\xff\xfe\x00\n", code="invalid_csv", content_type="text/csv"),
    badge_case("csv-bad-address", lambda w: "address\n0x1234zz\n", code="unknown_attendees", content_type="text/csv"),
    badge_case(
        "huge-event",
        lambda w: {"attendees": [w.citizen_address]},
        404,
        "event_not_found",
        event=str(HUGE),
    ),
]


def review_case(
    id_: str,
    body: Callable[[World], Any],
    status: int = 422,
    code: str = "invalid_request",
    *,
    claim: str = "{held_claim}",
    xfail: str | None = None,
) -> Case:
    return Case(f"review-{id_}", "POST", f"/v1/review/claims/{claim}", "minter", body, status, code, xfail=xfail)


REVIEWS = [
    review_case("unknown-decision", lambda w: {"decision": "maybe", "reason": "r"}),
    review_case("decision-number", lambda w: {"decision": 1, "reason": "r"}),
    review_case("empty-reason", lambda w: {"decision": "approve", "reason": ""}),
    review_case("missing-reason", lambda w: {"decision": "approve"}),
    review_case("reason-too-long", lambda w: {"decision": "approve", "reason": "x" * 501}),
    review_case("unknown-field", lambda w: {"decision": "approve", "reason": "r", "points": 10_000}),
    review_case("list-body", lambda w: [{"decision": "approve", "reason": "r"}]),
    review_case("unknown-claim", lambda w: {"decision": "approve", "reason": "r"}, 404, "claim_not_found", claim="999"),
    review_case("negative-claim", lambda w: {"decision": "approve", "reason": "r"}, claim="-1"),
    review_case("claim-text", lambda w: {"decision": "approve", "reason": "r"}, claim="abc"),
    review_case(
        "not-held", lambda w: {"decision": "reject", "reason": "r"}, 409, "claim_not_held", claim="{approved_claim}"
    ),
    review_case(
        "huge-claim",
        lambda w: {"decision": "approve", "reason": "r"},
        422,
        "invalid_request",
        claim=str(HUGE),
    ),
]


def verify_case(
    id_: str, address: str, status: int = 422, code: str = "invalid_input", xfail: str | None = None
) -> Case:
    return Case(f"verify-{id_}", "GET", f"/v1/verify/citizens/{address}", None, None, status, code, xfail=xfail)


VERIFY = [
    verify_case("short", "0x1234"),
    verify_case("prose", "nonsense"),
    verify_case("non-hex", "0x" + "g" * 40),
    verify_case("bad-checksum", BAD_CHECKSUM),
    verify_case("too-long", "0x" + "ab" * 21),
    verify_case("no-prefix-too-short", "ab" * 19),
    verify_case("very-long", "0x" + "a" * 5_000),
    verify_case("missing", "", 404, "not_found"),
]

CASES = CLAIMS + EVENTS + CITIZENS + REWARDS + REDEMPTIONS + BADGES + REVIEWS + VERIFY


def _param(case: Case):
    marks = [pytest.mark.xfail(reason=case.xfail, strict=True)] if case.xfail else []
    return pytest.param(case, id=case.id, marks=marks)


@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_bad_input_is_refused_and_writes_nothing(api, world, case):
    before = snapshot(api)
    block = api.ledger.w3.eth.block_number
    kwargs: dict[str, Any] = {"headers": dict(world.headers[case.who]) if case.who else {}}
    if case.body is not None:
        body = case.body(world)
        if case.content_type is not None:
            kwargs["headers"]["Content-Type"] = case.content_type
            kwargs["content"] = body.encode() if isinstance(body, str) else body
        else:
            kwargs["json"] = body
    path = case.path.format(**vars(world))
    response = world.client.request(case.method, path, **kwargs)

    assert response.status_code == case.status, response.text
    error = response.json()["error"]
    assert error["code"] == case.code, response.text
    assert error["message"]
    assert snapshot(api) == before
    assert api.ledger.w3.eth.block_number == block


@pytest.mark.parametrize(
    ("path", "who"),
    [("/v1/claims", "citizen"), ("/v1/events", "issuer"), ("/v1/citizens", "minter"), ("/v1/rewards", "admin")],
)
@pytest.mark.parametrize(
    "raw",
    [b"{", b"not json", b"\xff\xfe", b'{"a": 1}{"b": 2}', b""],
    ids=["truncated", "prose", "binary", "two-objects", "empty"],
)
def test_unparseable_json_is_refused_and_writes_nothing(api, world, path, who, raw):
    before = snapshot(api)
    block = api.ledger.w3.eth.block_number
    headers = world.headers[who] | {"Content-Type": "application/json"}
    response = world.client.post(path, content=raw, headers=headers)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "invalid_request"
    assert snapshot(api) == before
    assert api.ledger.w3.eth.block_number == block


def test_a_valid_request_after_bad_ones_still_works(api, world):
    """The bad requests above leave nothing half-done: the same event id and claim still work."""
    for case in (EVENTS[0], BADGES[0], REVIEWS[0]):
        body = case.body(world)
        world.client.request(
            case.method, case.path.format(**vars(world)), json=body, headers=world.headers[case.who or "admin"]
        )
    issued = world.client.post(
        f"/v1/events/{world.event_id}/badges",
        json={"attendees": [world.citizen_address]},
        headers=world.headers["issuer"],
    )
    assert issued.status_code == 200, issued.text
    reviewed = world.client.post(
        f"/v1/review/claims/{world.held_claim}",
        json={"decision": "reject", "reason": "too fast"},
        headers=world.headers["minter"],
    )
    assert reviewed.status_code == 200, reviewed.text
    assert reviewed.json()["status"] == "rejected"


def test_unknown_routes_and_methods_answer_in_the_error_format(api):
    missing = api.client.get("/v1/no-such-thing")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    wrong = api.client.put("/v1/claims", json={})
    assert wrong.status_code == 405 and wrong.json()["error"]["code"] == "method_not_allowed"
    assert "POST" in wrong.headers["Allow"]
