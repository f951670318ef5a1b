"""The ``civic`` command line: deploy, award, issue, verify, the demo and the build tools."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from .config import LedgerSettings, connect, embedded_funder, load_signer
from .deployment import Deployment
from .errors import ConfigurationError, LedgerError
from .records import ActivityAward, Metrics, Venue

__all__ = ["main"]


def _embedded_checked(settings: LedgerSettings) -> None:
    if settings.embedded and settings.embedded_dir is None:
        raise ConfigurationError(
            "an in-memory embedded chain ends with this command: set CIVIC_EMBEDDED_DIR or CIVIC_RPC_URL"
        )


def _signer(settings: LedgerSettings, w3):  # type: ignore[no-untyped-def]
    """The configured key; on the embedded chain without one, its funded development account."""
    if settings.embedded and settings.private_key is None and settings.keystore_path is None:
        funder = embedded_funder(w3)
        if funder is not None:
            return funder
    return load_signer(settings)


def _ledger(settings: LedgerSettings):  # type: ignore[no-untyped-def]
    from ._ledger import Ledger

    _embedded_checked(settings)
    w3 = connect(settings)
    return Ledger(
        w3, Deployment.load(settings.deployment_file), _signer(settings, w3), gas_strategy=settings.gas_strategy
    )


def cmd_deploy(args: argparse.Namespace, settings: LedgerSettings) -> None:
    from ._ledger import Ledger

    _embedded_checked(settings)
    if settings.deployment_file.exists():
        raise ConfigurationError(
            f"{settings.deployment_file} already records a deployment: move it away to deploy again"
        )
    w3 = connect(settings)
    ledger = Ledger.deploy(
        w3,
        _signer(settings, w3),
        max_points_per_award=args.max_award,
        daily_cap=args.daily_cap,
        operators=args.operator,
        gas_strategy=settings.gas_strategy,
    )
    ledger.deployment.save(settings.deployment_file)
    d = ledger.deployment
    print(f"points  {d.points_address}\nbadges  {d.badges_address}\nchain   {d.chain_id} block {d.block_number}")
    print(f"record  {settings.deployment_file}")


def cmd_award(args: argparse.Namespace, settings: LedgerSettings) -> None:
    evidence = bytes.fromhex(args.evidence.removeprefix("0x")) if args.evidence else b"\0" * 32
    award = ActivityAward(
        args.activity_id,
        args.citizen,
        args.points,
        args.kind,
        Metrics(args.distance, args.duration, args.litter, args.steps),
        evidence,
    )
    result = _ledger(settings).award_points(award)
    print(
        f"awarded {args.points} points for activity {args.activity_id}: tx {result.tx_hash} block {result.block_number}"
    )


def cmd_create_event(args: argparse.Namespace, settings: LedgerSettings) -> None:
    event_id, result = _ledger(settings).create_event(
        Venue[args.venue.upper()], args.claim_start, args.claim_end, args.capacity, args.uri
    )
    print(f"event {event_id} created: tx {result.tx_hash}")


def cmd_issue(args: argparse.Namespace, settings: LedgerSettings) -> None:
    results = _ledger(settings).issue_badges(args.event_id, args.attendees)
    for r in results:
        print(f"issued {r.records} badge(s) for event {args.event_id}: tx {r.tx_hash} block {r.block_number}")


def verify_citizen(ledger, citizen: str) -> tuple[list[str], bool]:  # type: ignore[no-untyped-def]
    """Lines describing a citizen's points and badges rebuilt from events, and whether the
    rebuilt balance equals the contract's ``balanceOf``."""
    lines = [f"citizen {citizen}  (chain {ledger.deployment.chain_id})"]
    rebuilt = 0
    for entry in ledger.history(citizen):
        ref = entry.ref
        what = {
            "award": f"award      activity {entry.activity_id}: +{entry.points_delta}",
            "reversal": f"reversal   activity {entry.activity_id}: {entry.points_delta} (reason {entry.reason_code})",
            "redemption": f"redemption reward {entry.reward_id}: {entry.points_delta}",
            "badge_issued": f"badge      event {entry.event_id} issued",
            "badge_revoked": f"badge      event {entry.event_id} revoked (reason {entry.reason_code})",
        }[entry.action]
        rebuilt += entry.points_delta
        lines.append(f"  {what:<48} tx {ref.tx_hash} block {ref.block_number} log {ref.log_index}")
    on_chain = ledger.balance_of(citizen)
    badges = sorted(b.event_id for b in ledger.badges_of(citizen))
    consistent = rebuilt == on_chain and all(ledger.has_badge(e, citizen) for e in badges)
    lines.append(f"  points: {on_chain} on-chain, {rebuilt} rebuilt from events")
    lines.append(f"  badges held: {', '.join(map(str, badges)) or 'none'}")
    lines.append("  verified: " + ("yes, events and contract state agree" if consistent else "NO: they disagree"))
    return lines, consistent


def cmd_verify(args: argparse.Namespace, settings: LedgerSettings) -> None:
    lines, consistent = verify_citizen(_ledger(settings), args.citizen)
    print("\n".join(lines))
    if not consistent:
        raise SystemExit(1)


def cmd_demo(args: argparse.Namespace, settings: LedgerSettings) -> None:
    from ._ledger import Ledger
    from .demo import seed_demo_club

    w3 = connect(LedgerSettings(rpc_url=None, embedded_dir=None))
    city = embedded_funder(w3)
    assert city is not None  # the embedded chain always has genesis accounts
    ledger = Ledger.deploy(w3, city, max_points_per_award=500, daily_cap=1_000)
    club = seed_demo_club(ledger, weeks=args.weeks)
    print(f"seeded {len(club.members)} members, {club.outings} outings, events {club.events}")
    print(f"total points in circulation: {ledger.total_supply()}\n")
    lines, consistent = verify_citizen(ledger, club.members[0].address)
    print(f"{club.members[0].pseudonym} ({club.members[0].nickname}, off-chain only):")
    print("\n".join(lines))
    if not consistent:
        raise SystemExit(1)


def cmd_node(args: argparse.Namespace, settings: LedgerSettings) -> None:
    import signal

    from .node import ANVIL_DEV_KEY, AnvilNode

    node = AnvilNode(port=args.port, state_path=args.state)
    node.start()
    print(f"anvil on {node.url}, state kept in {args.state} (dumped every second and on stop)")
    print(f"  export CIVIC_RPC_URL={node.url}")
    print(f"  export CIVIC_PRIVATE_KEY={ANVIL_DEV_KEY}   # anvil's funded development key, local only")
    print("then: civic deploy, civic serve, ...; Ctrl+C stops the node and writes its state")
    sys.stdout.flush()
    try:
        signal.sigwait({signal.SIGINT, signal.SIGTERM})
    finally:
        node.stop()


def cmd_compile(args: argparse.Namespace, settings: LedgerSettings) -> None:
    from .compiler import main as compile_main

    compile_main()


def cmd_gas_report(args: argparse.Namespace, settings: LedgerSettings) -> None:
    from .gas_report import main as gas_main

    gas_main()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="civic",
        description="Civic participation ledger. Chain and key come from CIVIC_RPC_URL, CIVIC_PRIVATE_KEY "
        "(or CIVIC_KEYSTORE_PATH and CIVIC_KEYSTORE_PASSWORD) and CIVIC_DEPLOYMENT_PATH.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("deploy", help="deploy the contracts and write the deployment record")
    p.add_argument("--max-award", type=int, default=1_000, help="most points one award may carry")
    p.add_argument("--daily-cap", type=int, default=3_000, help="most points a citizen may get per UTC day")
    p.add_argument("--operator", action="append", default=[], help="another address to get the operating roles")
    p.set_defaults(func=cmd_deploy)

    p = sub.add_parser("award", help="award points for one activity")
    p.add_argument("--citizen", required=True)
    p.add_argument("--activity-id", type=int, required=True)
    p.add_argument("--points", type=int, required=True)
    p.add_argument("--kind", type=int, default=0, help="activity kind (0 = plogging)")
    p.add_argument("--distance", type=int, default=0, help="metres")
    p.add_argument("--duration", type=int, default=0, help="seconds")
    p.add_argument("--litter", type=int, default=0, help="grams")
    p.add_argument("--steps", type=int, default=0)
    p.add_argument("--evidence", default="", help="32-byte hex hash of the off-chain evidence")
    p.set_defaults(func=cmd_award)

    p = sub.add_parser("create-event", help="register a city event")
    p.add_argument("--venue", choices=["physical", "metaverse"], required=True)
    p.add_argument("--claim-start", type=int, required=True, help="unix time")
    p.add_argument("--claim-end", type=int, required=True, help="unix time")
    p.add_argument("--capacity", type=int, default=0, help="0 = no limit")
    p.add_argument("--uri", required=True, help="metadata URI")
    p.set_defaults(func=cmd_create_event)

    p = sub.add_parser("issue", help="issue an event's badge to attendees")
    p.add_argument("--event-id", type=int, required=True)
    p.add_argument("attendees", nargs="+")
    p.set_defaults(func=cmd_issue)

    p = sub.add_parser("verify", help="a citizen's points and badges, each with its on-chain reference")
    p.add_argument("citizen")
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser("demo", help="seed a plogging club on the embedded chain and verify a member")
    p.add_argument("--weeks", type=int, default=6)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("node", help="run a local anvil node on loopback with its state persisted to disk")
    p.add_argument("--port", type=int, default=8545)
    p.add_argument("--state", type=Path, default=Path("var/anvil/state.json"), help="state file to load and dump")
    p.set_defaults(func=cmd_node)

    sub.add_parser("compile", help="recompile the contracts into ledger/artifacts").set_defaults(func=cmd_compile)
    sub.add_parser("gas-report", help="measure gas and rewrite gas/").set_defaults(func=cmd_gas_report)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    run(args)


def run(args: argparse.Namespace) -> None:
    """Runs a parsed command; ledger errors become a message and exit status 2."""
    from .embedded import close_all

    try:
        args.func(args, LedgerSettings())
    except LedgerError as exc:
        print(f"civic: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc
    finally:
        close_all()


if __name__ == "__main__":
    main()
