"""A realistic plogging club seeded on a chain, so a newcomer sees the ledger at work.

Names and phone numbers never reach the chain: each member is a pseudonymous id and an
address; the roster with names lives only in the returned :class:`DemoClub` (off-chain).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3

from ._ledger import Ledger
from .config import advance_chain_time
from .records import ActivityAward, Metrics, Venue
from .rules import PointsRules

__all__ = ["DemoClub", "Member", "mission_points", "seed_demo_club"]

DAY = 86_400


@dataclass(frozen=True)
class Member:
    pseudonym: str
    nickname: str
    account: LocalAccount

    @property
    def address(self) -> str:
        return str(self.account.address)


@dataclass
class DemoClub:
    members: list[Member]
    events: dict[str, int] = field(default_factory=dict)
    outings: int = 0


#: The club's published rule (see :class:`PointsRules`).
RULES = PointsRules()


def mission_points(metrics: Metrics) -> int:
    """Points for one outing under the club's published rule."""
    return RULES.points_for(metrics)


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


def seed_demo_club(ledger: Ledger, *, weeks: int = 6, seed: int = 2021) -> DemoClub:
    """Seeds a 12-member club: a season of plogging outings, three city events with badges, one
    redemption and one reversal. Deterministic for a given ``seed``; advances chain time by
    ``weeks`` weeks (only on development chains)."""
    rng = random.Random(seed)
    members = [
        Member(f"member-{i + 1:03d}", nick, Account.from_key(Web3.keccak(text=f"demo-member-{seed}-{i}")))
        for i, nick in enumerate(_NICKNAMES)
    ]
    club = DemoClub(members)
    activity_id = 1
    for _week in range(weeks):
        for day in range(7):
            awards = []
            for member in members:
                if rng.random() > 0.3:
                    continue
                steps = rng.randint(3_000, 14_000)
                metrics = Metrics(
                    distance_meters=int(steps * 0.7),
                    duration_seconds=int(steps * 0.55),
                    litter_grams=rng.randint(20, 400),
                    steps=steps,
                )
                evidence = Web3.keccak(text=f"photos+gps:{member.pseudonym}:{activity_id}")
                awards.append(ActivityAward(activity_id, member.address, mission_points(metrics), 0, metrics, evidence))
                activity_id += 1
            if awards:
                ledger.award_points_batch(awards)
                club.outings += len(awards)
            if day < 6:
                advance_chain_time(ledger.w3, DAY)
        advance_chain_time(ledger.w3, DAY)

    now = ledger.chain_time()
    plan = [
        ("Plogging club talk night (metaverse lounge)", Venue.METAVERSE, 30, "ipfs://civic-demo/talk-night"),
        ("Green Talk Talk (virtual eco-centre)", Venue.METAVERSE, 100, "ipfs://civic-demo/green-talk-talk"),
        ("Residents' committee chairs meeting", Venue.PHYSICAL, 40, "ipfs://civic-demo/chairs-meeting"),
    ]
    for title, venue, capacity, uri in plan:
        event_id, _ = ledger.create_event(venue, now - DAY, now + 7 * DAY, capacity, uri)
        club.events[title] = event_id
    talk, green, chairs = club.events.values()
    ledger.issue_badges(talk, [m.address for m in members[:9]])
    ledger.issue_badges(green, [m.address for m in members[3:]])
    ledger.issue_badge(chairs, members[0].address)
    # A member claims at the venue with a QR voucher; the city relays and pays the gas.
    ledger.claim_badge(ledger.sign_voucher(chairs, members[1].address))
    # A member spends points on a reward (e.g. a reusable tumbler) with a signed consent.
    ledger.redeem_with_consent(ledger.sign_redemption(members[0].account, 60, reward_id=1))
    # One outing was found to be a duplicate upload; its award is reversed with a reason code.
    ledger.reverse_award(2, reason_code=1)
    return club
