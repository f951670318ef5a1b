"""A plogging club seeded through the service's own workflow, so a newcomer sees it at work.

Every record goes the way a real one does: members are enrolled with sign-in cards, outings are
claimed (those older than the age limit are held and a reviewer approves them), settlement
awards them with ids from the one allocator, events are created, badges issued and claimed at a
venue, a reward redeemed and a duplicate upload reversed. The history is placed in the past
(outing dates); the chain's clock is never moved, so events with real dates work afterwards.
Names and phone numbers never reach the chain.
"""

from __future__ import annotations

import json
import os
import random
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from api.services import admin, auth, citizens, claims, events, rewards
from api.services.claims import NewClaim
from api.services.context import Context
from api.services.events import EventDraft
from api.services.intents import ChainWriter, outcome, submit
from api.store import ActivityClaim, ClaimStatus, Reward

__all__ = ["DemoClub", "Member", "seed_demo_club"]

_NICKNAMES = [
    "river-walker",
    "early-jogger",
    "trail-sweeper",
    "park-keeper",
    "butt-hunter",
    "hill-climber",
    "green-runner",
    "dawn-plogger",
    "bridge-cleaner",
    "market-strider",
    "forest-friend",
    "lake-looper",
]
SEEDER = "demo seed"


@dataclass(frozen=True)
class Member:
    citizen_id: str
    nickname: str
    address: str
    card_code: str
    pin: str


@dataclass
class DemoClub:
    members: list[Member]
    events: dict[str, int] = field(default_factory=dict)
    outings: int = 0
    admin_token: str = ""
    citizen_token: str = ""


def seed_demo_club(ctx: Context, *, weeks: int = 4, seed: int | None = None) -> DemoClub:
    """Seeds a 12-member club: ``weeks`` of outings, three events with badges, a redemption and
    a reversal. Keys, card codes and PINs are random (never derived from a public string)."""
    rng = random.Random(seed)
    writer = ChainWriter(ctx, award_interval=0)
    writer.start()
    try:
        writer.recovered.wait(60)
        return _seed(ctx, rng, weeks)
    finally:
        writer.stop()


def _seed(ctx: Context, rng: random.Random, weeks: int) -> DemoClub:
    _, admin_token = auth.create_staff_token(ctx, "demo admin", "admin", SEEDER)
    _, reviewer_token = auth.create_staff_token(ctx, "demo reviewer", "minter", SEEDER)
    members = []
    for nickname in _NICKNAMES:
        enrolled = citizens.enrol(ctx, {"display_name": nickname}, SEEDER)
        pin = f"{secrets.randbelow(10**6):06d}"
        auth.activate_card(ctx, enrolled.card.code, pin)
        members.append(
            Member(enrolled.profile.citizen.id, nickname, enrolled.profile.citizen.address, enrolled.card.code, pin)
        )
    club = DemoClub(members, admin_token=admin_token)
    for name, cost in (("Reusable tumbler", 60), ("Bus day pass", 150)):
        rewards.create(ctx, name, cost, None)

    now = datetime.now(UTC)
    start = (now - timedelta(weeks=weeks)).replace(hour=7, minute=0, second=0, microsecond=0)
    for day in range(weeks * 7):
        for member in members:
            if rng.random() > 0.3:
                continue
            steps = rng.randint(3_000, 14_000)
            began = start + timedelta(days=day, minutes=rng.randint(0, 600))
            duration = int(steps * 0.55)
            if began + timedelta(seconds=duration) > now - timedelta(minutes=10):
                continue
            claim = NewClaim(
                started_at=began,
                ended_at=began + timedelta(seconds=duration),
                distance_meters=int(steps * 0.7),
                duration_seconds=duration,
                steps=steps,
                litter_grams=rng.randint(20, 400),
                photo_hash="0x" + secrets.token_hex(32),
                track_hash="0x" + secrets.token_hex(32),
            )
            view = claims.submit_claim(ctx, citizens.get(ctx, member.citizen_id), claim)
            club.outings += 1
            if view.claim.status == ClaimStatus.HELD:
                claims.review(
                    ctx, view.claim.id, "approve", "checked against the photos and the track", "demo reviewer#2"
                )
    outcome(ctx, submit(ctx, "settle", {}, principal=None, key=None), timeout=300)
    # The club's most active member redeems a reward and is the one a newcomer signs in as; with
    # a random week any one member may have had no outing.
    members.sort(key=lambda m: ctx.ledger.balance_of(m.address), reverse=True)

    chain_now = ctx.ledger.chain_time()
    plan = [
        ("Plogging club talk night (metaverse lounge)", "Plogging club talk night", "metaverse", 30),
        ("Green Talk Talk (virtual eco-centre)", "Green Talk Talk", "metaverse", 100),
        ("Residents' committee chairs meeting", "Residents' committee chairs meeting", "physical", 40),
    ]
    for title, title_en, venue, capacity in plan:
        draft = EventDraft(
            title=title,
            title_en=title_en,
            venue=venue,
            claim_start=chain_now - 86_400,
            claim_end=chain_now + 7 * 86_400,
            capacity=capacity,
            description="A city event of the plogging club.",
        )
        club.events[title] = events.create(ctx, draft, principal=None, key=None).id
    talk, green, chairs = club.events.values()
    events.issue(ctx, talk, [m.address for m in members[:9]], principal=None, key=None)
    events.issue(ctx, green, [m.address for m in members[3:]], principal=None, key=None)
    # A member claims at the venue by scanning the code; the city relays and pays the gas.
    code = events.new_claim_code(ctx, chairs, single_use=True)
    events.claim_badge(ctx, citizens.get(ctx, members[1].citizen_id), code.code, principal=None, key=None)
    # A member spends points on a reward (a reusable tumbler) with a consent the city signs for them.
    with ctx.store.session() as session:
        tumbler = session.query(Reward).filter(Reward.title == "Reusable tumbler").one()
    rewards.redeem(
        ctx,
        citizens.get(ctx, members[0].citizen_id),
        tumbler.id,
        signature=None,
        deadline=None,
        principal=None,
        key=None,
    )
    # One outing was found to be a duplicate upload; its award is reversed with a reason code.
    with ctx.store.session() as session:
        duplicate = (
            session.query(ActivityClaim)
            .filter(ActivityClaim.activity_id.is_not(None))
            .order_by(ActivityClaim.id)
            .offset(1)
            .first()
        )
    if duplicate is not None and duplicate.activity_id is not None:
        admin.reverse(ctx, duplicate.activity_id, 1, principal=None, key=None)
    club.citizen_token = auth.sign_in_with_card(ctx, members[0].card_code, members[0].pin).token
    _ = reviewer_token
    return club


def save_tokens(club: DemoClub, path: Path) -> None:
    """What a newcomer needs to try the service, kept owner-readable beside the embedded chain."""
    first = club.members[0]
    data = {
        "admin": club.admin_token,
        "citizen": club.citizen_token,
        "citizen_address": first.address,
        "card_code": first.card_code,
        "card_pin": first.pin,
    }
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(data, handle, indent=1)
