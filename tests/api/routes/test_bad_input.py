"""Bad input on every write (and the public verifier): a clear 4xx naming the field, never a
500, and nothing written — neither a row in the store nor a block on the chain."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import inspect, text

from tests.helpers import assert_error, outing

ADDRESS = "0x" + "ab" * 20
HUGE = 2**300
BEYOND_64_BITS = str(2**64)


@dataclass
class World:
    """A citizen, staff of every role, an event, a reward, a held and a rejected claim."""

    client: TestClient
    headers: dict[str, dict[str, str]]
    event_id: int
    reward_id: int
    held_claim: int
    rejected_claim: int
    used_photo_hash: str
    citizen_address: str
    citizen_id: str


@pytest.fixture(scope="module")
def api(module_api):
    """One app for the module: every case here must change nothing, so they can share it."""
    return module_api


@pytest.fixture(scope="module")
def world(api) -> World:
    citizen, body = api.custodial_citizen(display_name="Input Tester", phone="010-0000-0000")
    headers = {"citizen": citizen} | {role: api.staff(role) for role in ("admin", "minter", "issuer")}
    window = {"claim_start": 1_767_225_600, "claim_end": 4_102_444_800}  # 2026 to 2100, as Unix seconds
    event = api.client.post("/v1/events", json=_event(title="Beach clean-up") | window, headers=headers["issuer"])
    assert event.status_code == 201, event.text
    reward = api.client.post("/v1/rewards", json={"title": "Bus pass", "cost": 10}, headers=headers["admin"])
    assert reward.status_code == 201, reward.text
    # Claims held for review (too fast): nothing is approved, so no award is made during a test.
    held_body = outing(minutes_ago=600, distance_meters=50_000)
    held = api.client.post("/v1/claims", json=held_body, headers=citizen)
    rejected = api.client.post("/v1/claims", json=outing(minutes_ago=900, distance_meters=50_000), headers=citizen)
    assert held.json()["status"] == rejected.json()["status"] == "held"
    review = {"decision": "reject", "reason": "a bicycle ride"}
    path = f"/v1/review/claims/{rejected.json()['claim_id']}"
    assert api.client.post(path, json=review, headers=headers["minter"]).json()["status"] == "rejected"
    return World(
        client=TestClient(api.client.app, raise_server_exceptions=False),
        headers=headers,
        event_id=event.json()["event_id"],
        reward_id=reward.json()["reward_id"],
        held_claim=held.json()["claim_id"],
        rejected_claim=rejected.json()["claim_id"],
        used_photo_hash=str(held_body["photo_hash"]),
        citizen_address=body["address"],
        citizen_id=body["citizen_id"],
    )


#: Tables that change without any write by the caller: leases the workers renew, request
#: counts, and the index of the chain (which does not move when no block is added).
_BOOKKEEPING = {"leases", "rate_hits", "indexed_blocks", "chain_records", "citizen_states", "alembic_version"}


def snapshot(api) -> dict[str, list[str]]:
    """Every row of every table the service writes for its callers. Staff tokens' last use is
    left out, and so are failed intents and the transactions they signed but never had mined:
    a refusal found by the chain writer (insufficient points, say) is recorded with the intent
    that asked, and changes nothing."""
    engine = api.ctx.store.engine
    out: dict[str, list[str]] = {}
    with engine.connect() as connection:
        for table in inspect(engine).get_table_names():
            if table in _BOOKKEEPING:
                continue
            rows = []
            for row in connection.execute(text(f'SELECT * FROM "{table}"')):
                values = dict(row._mapping)
                if table == "staff_tokens":
                    values.pop("last_used_at")
                if (table, values.get("status")) in (("intents", "FAILED"), ("outbox", "failed")):
                    continue
                rows.append(repr(sorted(values.items())))
            out[table] = sorted(rows)
    return out


@dataclass(frozen=True)
class Case:
    id: str
    method: str
    path: str  # formatted with the World's fields
    who: str | None
    body: Callable[[World], Any] | None
    status: int | tuple[int, ...]
    code: str | tuple[str, ...]
    #: What the error message must name: the field (and its limit, where there is one).
    names: tuple[str, ...] = ()
    content_type: str | None = None


def _h() -> str:
    return "0x" + secrets.token_hex(32)


def _iso(moment: datetime) -> str:
    return moment.isoformat()


NOW = datetime.now(UTC)
INVALID = "invalid_request"


def claim_case(id_: str, status: int, code: str, body: Callable[[World], Any], *names: str) -> Case:
    return Case(f"claims-{id_}", "POST", "/v1/claims", "citizen", body, status, code, names)


def _without(field: str) -> Callable[[World], Any]:
    return lambda w: {k: v for k, v in outing().items() if k != field}


CLAIMS = [
    claim_case("unknown-field", 422, INVALID, lambda w: outing(citizen_id="someone-else"), "citizen_id"),
    claim_case("unknown-field-points", 422, INVALID, lambda w: outing(points=10_000), "points"),
    claim_case("missing-photo", 422, INVALID, _without("photo_hash"), "photo_hash"),
    claim_case("missing-ended-at", 422, INVALID, _without("ended_at"), "ended_at"),
    claim_case("empty-object", 422, INVALID, lambda w: {}, "started_at", "photo_hash"),
    claim_case("list-body", 422, INVALID, lambda w: [outing()], "body"),
    claim_case("null-body", 422, INVALID, lambda w: None, "body"),
    claim_case("distance-text", 422, INVALID, lambda w: outing(distance_meters="far"), "distance_meters"),
    claim_case("steps-list", 422, INVALID, lambda w: outing(steps=[1]), "steps"),
    claim_case("litter-object", 422, INVALID, lambda w: outing(litter_grams={"g": 1}), "litter_grams"),
    claim_case("distance-fraction", 422, INVALID, lambda w: outing(distance_meters=1.5), "distance_meters"),
    claim_case("started-number-text", 422, INVALID, lambda w: outing(started_at="yesterday"), "started_at"),
    claim_case("negative-distance", 422, INVALID, lambda w: outing(distance_meters=-1), "distance_meters"),
    claim_case("negative-duration", 422, INVALID, lambda w: outing(duration_seconds=-3_600), "duration_seconds"),
    claim_case("negative-litter", 422, INVALID, lambda w: outing(litter_grams=-150), "litter_grams"),
    claim_case("huge-distance", 422, INVALID, lambda w: outing(distance_meters=HUGE), "distance_meters"),
    claim_case("huge-steps", 422, INVALID, lambda w: outing(steps=HUGE), "steps"),
    claim_case("uint32-overflow", 422, INVALID, lambda w: outing(litter_grams=2**32), "litter_grams", "4294967295"),
    # Naive datetimes are refused by the schema now (they were the service's invalid_time).
    claim_case(
        "naive-datetimes",
        422,
        INVALID,
        lambda w: outing(
            started_at=(NOW - timedelta(hours=3)).replace(tzinfo=None).isoformat(),
            ended_at=(NOW - timedelta(hours=2)).replace(tzinfo=None).isoformat(),
        ),
        "started_at",
        "ended_at",
        "timezone",
    ),
    claim_case(
        "naive-start",
        422,
        INVALID,
        lambda w: outing(started_at=(NOW - timedelta(hours=3)).replace(tzinfo=None).isoformat()),
        "started_at",
    ),
    claim_case(
        "end-before-start",
        422,
        "invalid_time",
        lambda w: outing(started_at=_iso(NOW - timedelta(hours=1)), ended_at=_iso(NOW - timedelta(hours=2))),
        "ended_at",
        "started_at",
    ),
    claim_case(
        "end-equals-start",
        422,
        "invalid_time",
        lambda w: outing(started_at=_iso(NOW - timedelta(hours=1)), ended_at=_iso(NOW - timedelta(hours=1))),
        "ended_at",
    ),
    claim_case(
        "ends-in-the-future",
        422,
        "invalid_time",
        lambda w: outing(started_at=_iso(NOW), ended_at=_iso(NOW + timedelta(days=1))),
    ),
    claim_case("ends-in-year-9999", 422, "invalid_time", lambda w: outing(ended_at="9999-12-31T23:59:59-12:00")),
    claim_case(
        "start-in-year-1-east-of-utc",
        422,
        ("invalid_time", INVALID),
        lambda w: outing(started_at="0001-01-01T00:00:00+05:00"),
        "started_at",
    ),
    claim_case("short-hash", 422, INVALID, lambda w: outing(photo_hash="0x1234"), "photo_hash"),
    claim_case("hash-without-0x", 422, INVALID, lambda w: outing(track_hash=secrets.token_hex(32)), "track_hash"),
    claim_case("non-hex-hash", 422, INVALID, lambda w: outing(photo_hash="0x" + "zz" * 32), "photo_hash"),
    claim_case("hash-number", 422, INVALID, lambda w: outing(photo_hash=12345), "photo_hash"),
    claim_case(
        "same-photo-and-track",
        422,
        "invalid_evidence",
        lambda w: outing(photo_hash=(h := _h()), track_hash=h),
        "photo_hash",
        "track_hash",
    ),
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
    claim_case("boolean-for-integer", 422, INVALID, lambda w: outing(distance_meters=True), "distance_meters"),
]


def _event(**overrides: Any) -> dict[str, Any]:
    return {
        "title": "Park clean-up",
        "venue": "metaverse",
        "claim_start": "2026-01-01T09:00:00+09:00",
        "claim_end": "2099-12-31T18:00:00+09:00",
    } | overrides


def event_case(id_: str, status: int, code: str, body: Callable[[World], Any], *names: str) -> Case:
    return Case(f"events-{id_}", "POST", "/v1/events", "issuer", body, status, code, names)


EVENTS = [
    event_case(
        "end-before-start",
        422,
        "invalid_claim_window",
        lambda w: _event(claim_start="2099-12-31T18:00:00+09:00", claim_end="2099-01-01T00:00:00+09:00"),
        "claim_end",
        "claim_start",
    ),
    event_case(
        "end-before-start-seconds",
        422,
        "invalid_claim_window",
        lambda w: _event(claim_start=4_000_000_000, claim_end=3_999_999_999),
        "claim_end",
    ),
    event_case(
        "end-before-start-other-zones",  # 10:00 in Seoul is before 09:00 in London
        422,
        "invalid_claim_window",
        lambda w: _event(claim_start="2099-06-01T09:00:00+01:00", claim_end="2099-06-01T10:00:00+09:00"),
        "claim_end",
    ),
    event_case(
        "window-already-over",
        422,
        "claim_window_over",
        lambda w: _event(claim_start="2020-01-01T00:00:00+09:00", claim_end="2020-01-02T00:00:00+09:00"),
    ),
    event_case("negative-start", 422, INVALID, lambda w: _event(claim_start=-1), "claim_start"),
    event_case("negative-capacity", 422, INVALID, lambda w: _event(capacity=-1), "capacity"),
    event_case("huge-end", 422, INVALID, lambda w: _event(claim_end=HUGE), "claim_end"),
    event_case("uint64-start", 422, INVALID, lambda w: _event(claim_start=2**64, claim_end=2**64), "claim_start"),
    event_case("uint32-capacity", 422, INVALID, lambda w: _event(capacity=2**32), "capacity"),
    event_case("unknown-venue", 422, INVALID, lambda w: _event(venue="moon"), "venue"),
    event_case("unknown-field", 422, INVALID, lambda w: _event(event_id=7), "event_id"),
    event_case("uri-is-gone", 422, INVALID, lambda w: _event(uri="ipfs://x"), "uri"),  # events have no uri now
    event_case("missing-everything", 422, INVALID, lambda w: {}, "title", "venue", "claim_start"),
    event_case("title-number", 422, INVALID, lambda w: _event(title=123), "title"),
    event_case("empty-title", 422, INVALID, lambda w: _event(title=""), "title"),
    event_case("title-too-long", 422, INVALID, lambda w: _event(title="x" * 201), "title", "200"),
    event_case("title-very-long", 422, INVALID, lambda w: _event(title="축제" * 20_000), "title", "200"),
    event_case("title-en-too-long", 422, INVALID, lambda w: _event(title_en="x" * 201), "title_en", "200"),
    event_case("description-too-long", 422, INVALID, lambda w: _event(description="y" * 2_001), "description", "2000"),
    event_case(
        "description-very-long", 422, INVALID, lambda w: _event(description="y" * 200_000), "description", "2000"
    ),
    event_case("start-text", 422, INVALID, lambda w: _event(claim_start="soon"), "claim_start"),
    event_case(
        "start-naive-datetime", 422, INVALID, lambda w: _event(claim_start="2030-01-01T00:00:00"), "claim_start"
    ),
    event_case("end-naive-datetime", 422, INVALID, lambda w: _event(claim_end="2099-01-01T00:00:00"), "claim_end"),
    event_case("start-fraction", 422, INVALID, lambda w: _event(claim_start=100.5), "claim_start"),
    event_case("start-boolean", 422, INVALID, lambda w: _event(claim_start=True), "claim_start"),
    event_case("list-body", 422, INVALID, lambda w: [_event()], "body"),
]


def path_case(id_: str, method: str, path: str, who: str | None, body: Callable[[World], Any] | None = None) -> Case:
    """An id beyond what the service stores, in a path: refused (422) or not found (404)."""
    return Case(
        f"path-{id_}",
        method,
        path,
        who,
        body,
        (404, 422),
        (
            "invalid_request",
            "invalid_input",
            "not_found",
            "event_not_found",
            "claim_not_found",
            "activity_not_found",
            "reward_not_found",
        ),
    )


_ATTENDEES = lambda w: {"attendees": [w.citizen_address]}  # noqa: E731
_REASON = lambda w: {"reason_code": 1}  # noqa: E731

PATHS = [
    path_case("event-read-64", "GET", f"/v1/events/{BEYOND_64_BITS}", None),
    path_case("event-read-huge", "GET", f"/v1/events/{HUGE}", None),
    path_case("event-badges-64", "POST", f"/v1/events/{BEYOND_64_BITS}/badges", "issuer", _ATTENDEES),
    path_case("event-badges-63", "POST", f"/v1/events/{2**63}/badges", "issuer", _ATTENDEES),
    path_case("event-codes-64", "POST", f"/v1/events/{BEYOND_64_BITS}/claim-codes", "issuer"),
    path_case(
        "event-revoke-64", "POST", f"/v1/events/{BEYOND_64_BITS}/badges/{{citizen_address}}/revoke", "issuer", _REASON
    ),
    path_case(
        "event-reissue-64", "POST", f"/v1/events/{BEYOND_64_BITS}/badges/{{citizen_address}}/reissue", "issuer", _REASON
    ),
    path_case("verify-badge-64", "GET", f"/v1/verify/events/{BEYOND_64_BITS}/badges/{{citizen_address}}", None),
    path_case("verify-badge-huge", "GET", f"/v1/verify/events/{HUGE}/badges/{{citizen_address}}", None),
    path_case("activity-reverse-64", "POST", f"/v1/activities/{BEYOND_64_BITS}/reverse", "admin", _REASON),
    path_case("activity-reverse-63", "POST", f"/v1/activities/{2**63}/reverse", "admin", _REASON),
    path_case("activity-reverse-max", "POST", f"/v1/activities/{2**64 - 1}/reverse", "admin", _REASON),
    path_case("activity-verify-64", "GET", f"/v1/verify/activities/{BEYOND_64_BITS}", None),
    path_case("activity-verify-huge", "GET", f"/v1/verify/activities/{HUGE}", None),
    path_case("claim-read-64", "GET", f"/v1/claims/{BEYOND_64_BITS}", "citizen"),
    path_case("claim-appeal-64", "POST", f"/v1/claims/{BEYOND_64_BITS}/appeal", "citizen", lambda w: {"note": "n"}),
    path_case("reward-patch-64", "PATCH", f"/v1/rewards/{BEYOND_64_BITS}", "admin", lambda w: {"cost": 5}),
    path_case("consent-reward-64", "GET", f"/v1/redemptions/consent?reward_id={BEYOND_64_BITS}", "citizen"),
]


def citizen_case(id_: str, body: Callable[[World], Any], *names: str) -> Case:
    return Case(f"citizens-{id_}", "POST", "/v1/citizens", "minter", body, 422, INVALID, names)


CITIZENS = [
    citizen_case("unknown-field-address", lambda w: {"display_name": "X", "address": ADDRESS}, "address"),
    citizen_case("unknown-field-custodial", lambda w: {"custodial": False}, "custodial"),
    citizen_case("name-number", lambda w: {"display_name": 42}, "display_name"),
    citizen_case("email-object", lambda w: {"email": {"a": "b"}}, "email"),
    citizen_case("phone-list", lambda w: {"phone": ["010"]}, "phone"),
    citizen_case("name-too-long", lambda w: {"display_name": "x" * 101}, "display_name", "100"),
    citizen_case("email-too-long", lambda w: {"email": "x" * 201}, "email", "200"),
    citizen_case("phone-too-long", lambda w: {"phone": "1" * 41}, "phone", "40"),
    citizen_case("list-body", lambda w: [{"display_name": "X"}], "body"),
    citizen_case("string-body", lambda w: "X", "body"),
]


def reward_case(id_: str, body: Callable[[World], Any], *names: str, method: str = "POST") -> Case:
    path = "/v1/rewards" if method == "POST" else "/v1/rewards/{reward_id}"
    return Case(f"rewards-{method.lower()}-{id_}", method, path, "admin", body, 422, INVALID, names)


REWARDS = [
    reward_case("zero-cost", lambda w: {"title": "T", "cost": 0}, "cost"),
    reward_case("negative-cost", lambda w: {"title": "T", "cost": -5}, "cost"),
    reward_case("huge-cost", lambda w: {"title": "T", "cost": HUGE}, "cost"),
    reward_case("int64-cost", lambda w: {"title": "T", "cost": 2**63}, "cost"),
    reward_case("cost-text", lambda w: {"title": "T", "cost": "ten"}, "cost"),
    reward_case("cost-fraction", lambda w: {"title": "T", "cost": 1.5}, "cost"),
    reward_case("missing-title", lambda w: {"cost": 1}, "title"),
    reward_case("empty-title", lambda w: {"title": "", "cost": 1}, "title"),
    reward_case("title-too-long", lambda w: {"title": "x" * 201, "cost": 1}, "title", "200"),
    reward_case("negative-stock", lambda w: {"title": "T", "cost": 1, "stock": -1}, "stock"),
    reward_case("unknown-field", lambda w: {"title": "T", "cost": 1, "active": False}, "active"),
    reward_case("zero-cost", lambda w: {"cost": 0}, "cost", method="PATCH"),
    reward_case("negative-stock", lambda w: {"stock": -1}, "stock", method="PATCH"),
    reward_case("empty-title", lambda w: {"title": ""}, "title", method="PATCH"),
    reward_case("unknown-field", lambda w: {"reward_id": 9}, "reward_id", method="PATCH"),
    Case("rewards-patch-unknown", "PATCH", "/v1/rewards/999", "admin", lambda w: {"cost": 5}, 404, "reward_not_found"),
]


def redemption_case(
    id_: str, body: Callable[[World], Any], *names: str, status: int = 422, code: str = INVALID
) -> Case:
    return Case(f"redemptions-{id_}", "POST", "/v1/redemptions", "citizen", body, status, code, names)


REDEMPTIONS = [
    redemption_case("zero-reward", lambda w: {"reward_id": 0}, "reward_id"),
    redemption_case("negative-reward", lambda w: {"reward_id": -1}, "reward_id"),
    redemption_case("reward-text", lambda w: {"reward_id": "one"}, "reward_id"),
    redemption_case("missing-reward", lambda w: {}, "reward_id"),
    redemption_case("unknown-field", lambda w: {"reward_id": w.reward_id, "points": 1}, "points"),
    redemption_case(
        "malformed-signature", lambda w: {"reward_id": w.reward_id, "signature": "0x1234", "deadline": 1}, "signature"
    ),
    redemption_case("negative-deadline", lambda w: {"reward_id": w.reward_id, "deadline": -1}, "deadline"),
    redemption_case("huge-deadline", lambda w: {"reward_id": w.reward_id, "deadline": HUGE}, "deadline"),
    redemption_case("huge-reward", lambda w: {"reward_id": HUGE}, "reward_id"),
    redemption_case("unknown-reward", lambda w: {"reward_id": 999}, status=404, code="reward_not_found"),
    redemption_case(
        "insufficient-points", lambda w: {"reward_id": w.reward_id}, status=409, code="insufficient_points"
    ),
]


def badge_case(
    id_: str,
    body: Callable[[World], Any],
    status: int = 422,
    code: str = INVALID,
    *names: str,
    event: str = "{event_id}",
    content_type: str | None = None,
) -> Case:
    return Case(
        f"badges-{id_}", "POST", f"/v1/events/{event}/badges", "issuer", body, status, code, names, content_type
    )


BAD_CHECKSUM = "0x" + "aB" * 20  # mixed case, wrong EIP-55 checksum: a mistyped address
CSV = "text/csv"

BADGES = [
    badge_case("non-hex-address", lambda w: {"attendees": ["0x" + "zz" * 20]}, 422, "invalid_attendee"),
    badge_case("bad-checksum", lambda w: {"attendees": [BAD_CHECKSUM]}, 422, "invalid_attendee", "checksum"),
    badge_case("short-address", lambda w: {"attendees": ["0x1234"]}, 422, "unknown_attendees", "0x1234"),
    badge_case(
        "unknown-citizen", lambda w: {"attendees": ["not-a-citizen"]}, 422, "unknown_attendees", "not-a-citizen"
    ),
    badge_case(
        "one-good-one-bad", lambda w: {"attendees": [w.citizen_address, "0x" + "zz" * 20]}, 422, "invalid_attendee"
    ),
    badge_case("zero-address", lambda w: {"attendees": ["0x" + "00" * 20]}, 422, "invalid_attendee"),
    badge_case("empty-list", lambda w: {"attendees": []}, 422, INVALID, "attendees"),
    badge_case("missing-attendees", lambda w: {}, 422, INVALID, "attendees"),
    badge_case("unknown-field", lambda w: {"attendees": [w.citizen_address], "force": True}, 422, INVALID, "force"),
    badge_case("attendees-string", lambda w: {"attendees": w.citizen_address}, 422, INVALID, "attendees"),
    badge_case("attendee-number", lambda w: {"attendees": [123]}, 422, INVALID, "attendees"),
    badge_case("attendee-too-long", lambda w: {"attendees": ["x" * 65]}, 422, INVALID, "attendees", "64"),
    badge_case("too-many-attendees", lambda w: {"attendees": [ADDRESS] * 5_001}, 422, INVALID, "attendees", "5000"),
    badge_case("list-body", lambda w: [w.citizen_address], 422, INVALID),
    badge_case("unknown-event", _ATTENDEES, 404, "event_not_found", event="999"),
    badge_case("negative-event", _ATTENDEES, 422, INVALID, "event_id", event="-1"),
    badge_case("event-text", _ATTENDEES, 422, INVALID, "event_id", event="abc"),
    badge_case("huge-event", _ATTENDEES, 422, INVALID, "event_id", event=str(HUGE)),
    badge_case(
        "csv-without-address-column",
        lambda w: f"name\n{w.citizen_address}\n",
        422,
        "invalid_csv",
        "address",
        content_type=CSV,
    ),
    badge_case("csv-empty", lambda w: "address\n", 422, "invalid_csv", content_type=CSV),
    badge_case("csv-nothing", lambda w: "", 422, "invalid_csv", content_type=CSV),
    badge_case("csv-not-text", lambda w: b"address\n\xff\xfe\x00\n", 422, "invalid_csv", content_type=CSV),
    badge_case("csv-bad-address", lambda w: "address\n0x1234zz\n", 422, "unknown_attendees", content_type=CSV),
    badge_case(
        "csv-field-over-4-kib",
        lambda w: f"address\n{w.citizen_address}\n{'a' * 5_000}\n",
        422,
        "invalid_csv",
        "4096",
        content_type=CSV,
    ),
    badge_case(
        "csv-quoted-field-over-4-kib",
        lambda w: f'address,note\n{w.citizen_address},"{"b" * 5_000}"\n',
        422,
        "invalid_csv",
        content_type=CSV,
    ),
    badge_case(
        "csv-row-without-address",
        lambda w: f"address,name\n{w.citizen_address},a\n,b\n",
        422,
        "invalid_csv",
        "line 3",
        content_type=CSV,
    ),
]


def review_case(
    id_: str,
    body: Callable[[World], Any],
    status: int = 422,
    code: str = INVALID,
    *names: str,
    claim: str = "{held_claim}",
) -> Case:
    return Case(f"review-{id_}", "POST", f"/v1/review/claims/{claim}", "minter", body, status, code, names)


REVIEWS = [
    review_case("unknown-decision", lambda w: {"decision": "maybe", "reason": "r"}, 422, INVALID, "decision"),
    review_case("decision-number", lambda w: {"decision": 1, "reason": "r"}, 422, INVALID, "decision"),
    review_case("empty-reason", lambda w: {"decision": "approve", "reason": ""}, 422, INVALID, "reason"),
    review_case("missing-reason", lambda w: {"decision": "approve"}, 422, INVALID, "reason"),
    review_case(
        "reason-too-long", lambda w: {"decision": "approve", "reason": "x" * 501}, 422, INVALID, "reason", "500"
    ),
    review_case(
        "unknown-field", lambda w: {"decision": "approve", "reason": "r", "points": 10_000}, 422, INVALID, "points"
    ),
    review_case("list-body", lambda w: [{"decision": "approve", "reason": "r"}], 422, INVALID, "body"),
    review_case("unknown-claim", lambda w: {"decision": "approve", "reason": "r"}, 404, "claim_not_found", claim="999"),
    review_case(
        "negative-claim", lambda w: {"decision": "approve", "reason": "r"}, 422, INVALID, "claim_id", claim="-1"
    ),
    review_case("claim-text", lambda w: {"decision": "approve", "reason": "r"}, 422, INVALID, "claim_id", claim="abc"),
    review_case(
        "not-held", lambda w: {"decision": "reject", "reason": "r"}, 409, "claim_not_held", claim="{rejected_claim}"
    ),
    review_case(
        "huge-claim", lambda w: {"decision": "approve", "reason": "r"}, 422, INVALID, "claim_id", claim=str(HUGE)
    ),
]


def appeal_case(
    id_: str,
    body: Callable[[World], Any],
    status: int = 422,
    code: str = INVALID,
    *names: str,
    claim: str = "{held_claim}",
) -> Case:
    return Case(f"appeal-{id_}", "POST", f"/v1/claims/{claim}/appeal", "citizen", body, status, code, names)


APPEALS = [
    appeal_case("empty-note", lambda w: {"note": ""}, 422, INVALID, "note"),
    appeal_case("note-too-long", lambda w: {"note": "x" * 1_001}, 422, INVALID, "note", "1000"),
    appeal_case("missing-note", lambda w: {}, 422, INVALID, "note"),
    appeal_case("not-rejected", lambda w: {"note": "please"}, 409, "claim_not_rejected", claim="{held_claim}"),
    appeal_case("unknown-claim", lambda w: {"note": "please"}, 404, "claim_not_found", claim="999"),
]


def award_case(id_: str, body: Callable[[World], Any], status: int = 422, code: str = INVALID, *names: str) -> Case:
    return Case(f"awards-{id_}", "POST", "/v1/awards", "minter", body, status, code, names)


def _award(w: World, **overrides: Any) -> dict[str, Any]:
    return {"citizen": w.citizen_id, "points": 10, "reference": f"bad-{secrets.token_hex(4)}"} | overrides


AWARDS = [
    award_case("zero-points", lambda w: _award(w, points=0), 422, INVALID, "points"),
    award_case("negative-points", lambda w: _award(w, points=-10), 422, INVALID, "points"),
    award_case("points-text", lambda w: _award(w, points="ten"), 422, INVALID, "points"),
    award_case("kind-over-255", lambda w: _award(w, kind=256), 422, INVALID, "kind"),
    award_case("empty-reference", lambda w: _award(w, reference=""), 422, INVALID, "reference"),
    award_case("reference-too-long", lambda w: _award(w, reference="r" * 101), 422, INVALID, "reference", "100"),
    award_case("note-too-long", lambda w: _award(w, note="n" * 501), 422, INVALID, "note", "500"),
    award_case("bad-evidence-hash", lambda w: _award(w, evidence_hash="0x12"), 422, INVALID, "evidence_hash"),
    award_case("unknown-citizen", lambda w: _award(w, citizen="nobody"), 404, "citizen_not_found"),
    award_case("bad-address", lambda w: _award(w, citizen=BAD_CHECKSUM), 422, "invalid_address"),
]


def verify_case(id_: str, address: str, status: int = 422, code: str = "invalid_address") -> Case:
    return Case(f"verify-{id_}", "GET", f"/v1/verify/citizens/{address}", None, None, status, code)


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

CASES = CLAIMS + EVENTS + PATHS + CITIZENS + REWARDS + REDEMPTIONS + BADGES + REVIEWS + APPEALS + AWARDS + VERIFY


def _as_tuple(value: Any) -> tuple[Any, ...]:
    return value if isinstance(value, tuple) else (value,)


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in CASES])
def test_bad_input_is_refused_and_writes_nothing(api, world, case):
    before = snapshot(api)
    block = api.ledger.head()
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

    assert response.status_code in _as_tuple(case.status), response.text
    error = response.json()["error"]
    assert error["code"] in _as_tuple(case.code), response.text
    assert error["message"]
    for name in case.names:
        assert name in error["message"], f"the message does not name {name!r}: {error['message']}"
    assert snapshot(api) == before
    assert api.ledger.head() == block


@pytest.mark.parametrize(
    ("path", "who"),
    [
        ("/v1/claims", "citizen"),
        ("/v1/events", "issuer"),
        ("/v1/citizens", "minter"),
        ("/v1/rewards", "admin"),
        ("/v1/events/{event_id}/badges", "issuer"),
    ],
)
@pytest.mark.parametrize(
    "raw",
    [b"{", b"not json", b"\xff\xfe", b'{"a": 1}{"b": 2}', b""],
    ids=["truncated", "prose", "binary", "two-objects", "empty"],
)
def test_unparseable_json_is_refused_and_writes_nothing(api, world, path, who, raw):
    before = snapshot(api)
    block = api.ledger.head()
    headers = world.headers[who] | {"Content-Type": "application/json"}
    response = world.client.post(path.format(**vars(world)), content=raw, headers=headers)
    assert_error(response, 422, "invalid_request")
    assert snapshot(api) == before
    assert api.ledger.head() == block


def test_a_csv_over_the_row_limit_is_refused(make_api):
    api = make_api(max_csv_rows=3)
    issuer = api.staff("issuer")
    window = {"claim_start": 1_767_225_600, "claim_end": 4_102_444_800}
    event_id = api.client.post("/v1/events", json=_event() | window, headers=issuer).json()["event_id"]
    citizens = [api.custodial_citizen()[1]["address"] for _ in range(4)]
    block = api.ledger.head()
    csv = {"Content-Type": "text/csv"}
    response = api.client.post(
        f"/v1/events/{event_id}/badges", content="address\n" + "\n".join(citizens), headers=issuer | csv
    )
    error = assert_error(response, 422, "csv_too_long")
    assert "3" in error["message"]
    assert api.ledger.head() == block
    # As many rows as the limit allows are issued.
    response = api.client.post(
        f"/v1/events/{event_id}/badges", content="address\n" + "\n".join(citizens[:3]), headers=issuer | csv
    )
    assert response.status_code == 200, response.text
    assert response.json()["issued"] == 3


def test_a_csv_over_the_default_row_limit_is_refused(api, world):
    rows = "\n".join([world.citizen_address] * 20_001)
    block = api.ledger.head()
    response = world.client.post(
        f"/v1/events/{world.event_id}/badges",
        content=f"address\n{rows}\n",
        headers=world.headers["issuer"] | {"Content-Type": "text/csv"},
    )
    error = assert_error(response, 422, "csv_too_long")
    assert "20000" in error["message"].replace(",", "")
    assert api.ledger.head() == block


# ---------------------------------------------------------------- body limits


def _big_claim() -> bytes:
    body = json.dumps(outing() | {"padding": "x" * (1 << 20)}).encode()
    assert len(body) > 1 << 20
    return body


def _chunks(data: bytes, size: int = 64 * 1024):
    for start in range(0, len(data), size):
        yield data[start : start + size]


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
def test_a_1_mib_json_body_is_refused_before_it_is_parsed(api, world, declared):
    before = snapshot(api)
    block = api.ledger.head()
    body = _big_claim()
    headers = world.headers["citizen"] | {"Content-Type": "application/json"}
    response = world.client.post("/v1/claims", content=body if declared else _chunks(body), headers=headers)
    assert ("content-length" in response.request.headers) is declared
    error = assert_error(response, 413, "body_too_large")
    assert "262,144" in error["message"]
    assert snapshot(api) == before
    assert api.ledger.head() == block


def test_a_large_body_is_refused_whoever_sends_it(api, world):
    response = world.client.post("/v1/claims", content=_big_claim(), headers={"Content-Type": "application/json"})
    assert_error(response, 413, "body_too_large")


def test_an_upload_may_be_larger_than_a_json_body_up_to_its_own_limit(api, world):
    issuer = world.headers["issuer"] | {"Content-Type": "text/csv"}
    path = f"/v1/events/{world.event_id}/badges"
    # 300 KiB of CSV: over the JSON limit, under the upload limit: read (and refused for its content).
    unknown = "\n".join(f"unknown-citizen-{n:06d}" for n in range(13_000))
    response = world.client.post(path, content=f"citizen_id\n{unknown}\n", headers=issuer)
    assert_error(response, 422, "unknown_attendees")
    # Over 5 MiB: refused before it is read.
    huge = b"address\n" + b"0x" + b"ab" * 20 + b"\n" * (6 * 1024 * 1024)
    assert_error(world.client.post(path, content=huge, headers=issuer), 413, "body_too_large")
    chunked = world.client.post(path, content=_chunks(huge, 1 << 20), headers=issuer)
    assert_error(chunked, 413, "body_too_large")


# ---------------------------------------------------------------- after bad input


def test_a_valid_request_after_bad_ones_still_works(api, world):
    """The bad requests above leave nothing half-done: the same event and claim still work."""
    for case in (EVENTS[0], EVENTS[4], BADGES[0], REVIEWS[0], PATHS[2]):
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
    assert issued.json()["issued"] == 1
    # And a well-formed event, its times in ISO 8601 with a zone, is created.
    created = world.client.post("/v1/events", json=_event(), headers=world.headers["issuer"])
    assert created.status_code == 201, created.text
    assert created.json()["claim_start"] == "2026-01-01T00:00:00Z"
    assert created.json()["claim_end"] == "2099-12-31T09:00:00Z"
    reviewed = world.client.post(
        f"/v1/review/claims/{world.held_claim}",
        json={"decision": "reject", "reason": "too fast"},
        headers=world.headers["minter"],
    )
    assert reviewed.status_code == 200, reviewed.text
    assert reviewed.json()["status"] == "rejected"


def test_unknown_routes_and_methods_answer_in_the_error_format(api):
    missing = api.client.get("/v1/no-such-thing")
    assert_error(missing, 404, "not_found")
    wrong = api.client.put("/v1/claims", json={})
    assert_error(wrong, 405, "method_not_allowed")
    assert "POST" in wrong.headers["Allow"]
