"""The ``civic`` command: the ledger's commands plus ``serve`` for the API."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from ledger import LedgerSettings
from ledger.cli import build_parser, run

__all__ = ["main"]


def cmd_serve(args: argparse.Namespace, settings: LedgerSettings) -> None:
    import uvicorn

    from .app import create_app
    from .server import build_state

    boot = build_state(settings, seed_demo=not args.no_demo)
    app = create_app(boot.state)
    base = f"http://{args.host}:{args.port}"
    print(f"Civic ledger API on {base}  (OpenAPI: {base}/docs)")
    if boot.admin_token:
        where = settings.embedded_dir if settings.embedded else settings.rpc_url
        print(f"chain: {where} (the embedded chain is journalled there and replayed on restart)")
        print(f"  admin token:   {boot.admin_token}")
        print(f"  citizen token: {boot.citizen_token}  (address {boot.citizen_address})")
        print(f"  try: curl {base}/v1/verify/citizens/{boot.citizen_address}")
    sys.stdout.flush()
    uvicorn.run(app, host=args.host, port=args.port, log_level="info")


def cmd_staff_token(args: argparse.Namespace, settings: LedgerSettings) -> None:
    """Creates a staff API token in the service's store and prints it (shown once)."""
    from .security import hash_token, new_token
    from .store import StaffToken, Store

    url = os.environ.get("CIVIC_DATABASE_URL")
    if url is None:
        url = f"sqlite:///{settings.embedded_dir}/civic.db" if settings.embedded else "sqlite:///var/civic.db"
    store = Store(url)
    store.migrate()
    token = new_token("staff")
    with store.session() as session:
        session.add(StaffToken(label=args.label, role=args.role, token_hash=hash_token(token)))
        session.commit()
    print(token)


def main(argv: Sequence[str] | None = None) -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    p = sub.add_parser("serve", help="run the API (embedded chain seeded with the demo club by default)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--no-demo", action="store_true", help="do not seed the demo club on the embedded chain")
    p.set_defaults(func=cmd_serve)
    p = sub.add_parser("staff-token", help="create a staff API token (printed once) in the service's store")
    p.add_argument("--role", choices=["admin", "minter", "issuer", "redeemer", "pauser"], required=True)
    p.add_argument("--label", required=True, help="who holds it, for the review history")
    p.set_defaults(func=cmd_staff_token)
    run(parser.parse_args(argv))
