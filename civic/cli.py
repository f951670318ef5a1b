"""The ``civic`` command line: the whole product in one place (service, chain acts, audit, and
the development tools), built with Typer.

Chain acts (``award``, ``create-event``, ``issue``) go through the same workflow as the service:
an intent in the store carried out by the one chain writer. If the service is running, its writer
does the work (so ids and nonces never collide with the service's); if not, this command starts
a writer of its own for the duration.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from ledger import LedgerError, LedgerSettings

__all__ = ["app", "main"]

app = typer.Typer(
    name="civic",
    help="Civic participation ledger. The chain and key come from CIVIC_RPC_URL, CIVIC_PRIVATE_KEY "
    "(or CIVIC_KEYSTORE_PATH and CIVIC_KEYSTORE_PASSWORD) and CIVIC_DEPLOYMENT_PATH; unset, the "
    "embedded chain in CIVIC_EMBEDDED_DIR (var/embedded).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

T = TypeVar("T")


def _fail(message: str, code: int = 2) -> typer.Exit:
    typer.echo(f"civic: {message}", err=True)
    return typer.Exit(code)


def _run(action: Callable[[], T], *, close: bool = True) -> T:
    """Runs a command's work; ledger and service errors become a message and exit status 2.
    With ``close``, the embedded chain is released for other processes afterwards."""
    from api.services.errors import ServiceError
    from api.services.intents import StillRunning
    from ledger.embedded import close_all

    try:
        return action()
    except (LedgerError, ServiceError) as exc:
        raise _fail(str(exc)) from exc
    except StillRunning as exc:
        raise _fail(
            f"the chain work goes on (intent {exc.intent_id}); run the command again to see its outcome", 3
        ) from exc
    finally:
        if close:
            close_all()


@contextmanager
def _writing(ledger_settings: LedgerSettings) -> Iterator[Any]:
    """A services context whose intents are carried out: by the running service's chain writer
    if there is one, else by a writer started here until the block ends."""
    from api.server import lazy_context
    from api.services.intents import ChainWriter

    ctx = lazy_context(ledger_settings)
    holder = ctx.leases.holder_of(ctx.writer_lease)
    if holder is not None and holder != ctx.process_id:
        yield ctx  # the service writes; this process only records intents and waits
        return
    writer = ChainWriter(ctx, award_interval=0)
    writer.start()
    try:
        writer.recovered.wait(60)
        yield ctx
    finally:
        writer.stop()


# ---------------------------------------------------------------------- the service


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8000,
    workers: Annotated[int, typer.Option(help="API worker processes (one chain writer among them, by lease)")] = 1,
    access_log: Annotated[bool, typer.Option(help="log every request")] = True,
) -> None:
    """Run the API service (and its chain writer and indexer)."""
    import uvicorn

    ledger_settings = LedgerSettings()
    if workers > 1 and ledger_settings.embedded:
        raise _fail("the embedded chain lives in one process: several workers need CIVIC_RPC_URL (a node)")
    from api.server import build_context

    ctx = _run(lambda: build_context(ledger_settings), close=False)
    base = ctx.settings.public_base_url
    typer.echo(f"Civic ledger API on http://{host}:{port}  (public address {base}; OpenAPI: {base}/docs)")
    where = ledger_settings.embedded_dir if ledger_settings.embedded else ledger_settings.rpc_url
    typer.echo(f"chain {ctx.ledger.chain_id} at {where}")
    tokens = (ledger_settings.embedded_dir or Path("var")) / "demo-tokens.json"
    if ledger_settings.embedded and tokens.exists():
        demo = json.loads(tokens.read_text())
        typer.echo(f"  admin token:   {demo['admin']}")
        typer.echo(f"  citizen token: {demo['citizen']}  (address {demo['citizen_address']})")
        typer.echo(f"  citizen card:  {demo['card_code']}  PIN {demo['card_pin']}  (sign in at {base}/me)")
        typer.echo(f"  try: curl {base}/v1/verify/citizens/{demo['citizen_address']}")
    sys.stdout.flush()
    if workers > 1:
        ctx.store.dispose()
        os.environ["CIVIC_WORKER_APP"] = "1"
        uvicorn.run(
            "api.server:worker_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level="info",
            access_log=access_log,
        )
        return
    from api.app import create_app

    uvicorn.run(create_app(ctx), host=host, port=port, log_level="info", access_log=access_log)


@app.command("staff-token")
def staff_token(
    role: Annotated[str, typer.Option(help="admin, minter, issuer, redeemer or pauser")],
    label: Annotated[str, typer.Option(help="who holds it, for the review history")],
) -> None:
    """Create a staff API token in the service's store (printed once)."""
    from api.server import lazy_context
    from api.services.auth import create_staff_token

    def create() -> str:
        _, token = create_staff_token(lazy_context(LedgerSettings()), label, role, "civic staff-token")
        return token

    typer.echo(_run(create))


@app.command()
def enrol(
    name: Annotated[str, typer.Option(help="the citizen's display name (kept encrypted, never on-chain)")],
    phone: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Enrol a citizen without a wallet; prints their id, address and sign-in card code (the
    citizen activates the card by choosing a PIN)."""
    from api.server import lazy_context
    from api.services import citizens

    def run() -> None:
        fields = {"display_name": name, **({"phone": phone} if phone else {})}
        enrolled = citizens.enrol(lazy_context(LedgerSettings()), fields, "civic enrol")
        citizen = enrolled.profile.citizen
        typer.echo(
            f"citizen {citizen.id}\naddress {citizen.address}\n"
            f"card    {enrolled.card.code} (activate by {enrolled.card.activate_by:%Y-%m-%d})"
        )

    _run(run)


# ---------------------------------------------------------------------- chain acts


@app.command()
def deploy(
    max_award: Annotated[int, typer.Option(help="most points one award may carry")] = 1_000,
    daily_cap: Annotated[
        int | None,
        typer.Option(
            help="most points a citizen may get per day, in the city's time zone (default: CIVIC_DAILY_POINTS_CAP)"
        ),
    ] = None,
    operator: Annotated[list[str] | None, typer.Option(help="another address to get the operating roles")] = None,
    metadata_url: Annotated[str | None, typer.Option(help="the service's public base URL (badge metadata)")] = None,
) -> None:
    """Deploy the contracts and write the deployment record."""
    from ledger import deploy_ledger

    settings = LedgerSettings()
    if settings.deployment_file.exists():
        raise _fail(f"{settings.deployment_file} already records a deployment: move it away to deploy again")
    if settings.embedded and settings.embedded_dir is None:
        raise _fail("an in-memory embedded chain ends with this command: set CIVIC_EMBEDDED_DIR or CIVIC_RPC_URL")
    base = metadata_url or os.environ.get("CIVIC_PUBLIC_BASE_URL", "http://127.0.0.1:8000")

    if daily_cap is None:
        from api.settings import ApiSettings

        daily_cap = ApiSettings().daily_points_cap  # the cap the service holds claims to

    def run() -> None:
        ledger = deploy_ledger(
            settings,
            max_points_per_award=max_award,
            daily_cap=daily_cap,
            operators=operator or [],
            metadata_base_url=base,
        )
        ledger.deployment.save(settings.deployment_file)
        d = ledger.deployment
        typer.echo(f"points  {d.points_address}\nbadges  {d.badges_address}\nanchors {d.anchors_address}")
        typer.echo(
            f"chain   {d.chain_id} block {d.block_number} "
            f"({d.time_zone}: days start at UTC{d.day_offset_seconds / 3600:+g}h)"
        )
        typer.echo(f"record  {settings.deployment_file}")

    _run(run)


@app.command()
def award(
    citizen: Annotated[str, typer.Option(help="the citizen's address or id (enrolled in the service)")],
    points: Annotated[int, typer.Option(min=1)],
    reference: Annotated[
        str, typer.Option(help="your unique reference: running the command again does not award twice")
    ],
    kind: Annotated[int, typer.Option(help="activity kind (0 = plogging)")] = 0,
    note: Annotated[str | None, typer.Option()] = None,
    evidence: Annotated[str | None, typer.Option(help="32-byte hex hash of the off-chain evidence")] = None,
) -> None:
    """Award points to an enrolled citizen (a staff award: its activity id comes from the
    service's allocator, the same one every award uses)."""
    from api.services import citizens, claims
    from api.services.claims import StaffAward

    def run() -> None:
        with _writing(LedgerSettings()) as ctx:
            who = citizens.find(ctx, citizen)
            view = claims.staff_award(
                ctx, StaffAward(citizen, points, kind, reference, note, evidence), "civic award", who
            )
        row = view.claim
        typer.echo(
            f"awarded {row.points} points for activity {row.activity_id}: tx {row.tx_hash} block {row.block_number}"
            if row.tx_hash
            else f"claim {row.id} is {row.status.value}: {row.hold_reasons}"
        )

    _run(run)


def _timestamp(value: str) -> int:
    if value.isdigit():
        return int(value)
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise typer.BadParameter(f"{value!r} needs a time zone, e.g. 2026-11-26T19:00:00+09:00")
    return int(moment.timestamp())


@app.command("create-event")
def create_event(
    title: Annotated[str, typer.Option()],
    venue: Annotated[str, typer.Option(help="physical or metaverse")],
    claim_start: Annotated[str, typer.Option(help="ISO 8601 with a time zone (or Unix seconds)")],
    claim_end: Annotated[str, typer.Option(help="ISO 8601 with a time zone (or Unix seconds)")],
    capacity: Annotated[int, typer.Option(help="0 = no limit")] = 0,
) -> None:
    """Register a city event."""
    from api.services import events
    from api.services.events import EventDraft

    def run() -> None:
        with _writing(LedgerSettings()) as ctx:
            draft = EventDraft(title, venue.lower(), _timestamp(claim_start), _timestamp(claim_end), capacity)
            row = events.create(ctx, draft, principal=None, key=None)
        typer.echo(f"event {row.id} created: tx {row.tx_hash}")

    _run(run)


@app.command()
def issue(
    event_id: Annotated[int, typer.Option()],
    attendees: Annotated[list[str], typer.Argument(help="addresses or citizen ids")],
) -> None:
    """Issue an event's badge to attendees (those who hold it already are skipped)."""
    from api.services import events

    def run() -> None:
        with _writing(LedgerSettings()) as ctx:
            answer = events.issue(ctx, event_id, attendees, principal=None, key=None)
        typer.echo(f"issued {answer['issued']} badge(s) for event {event_id}: {', '.join(answer['transactions'])}")
        for reason, who in answer["skipped"].items():
            if who:
                typer.echo(f"skipped ({reason.replace('_', ' ')}): {', '.join(who)}")

    _run(run)


# ---------------------------------------------------------------------- reading the chain


@app.command()
def verify(citizen: Annotated[str, typer.Argument(help="the citizen's address")]) -> None:
    """A citizen's points and badges rebuilt from the chain's records alone, each with its
    transaction, checked against the contracts' state (the same checks as the API's)."""
    from ledger import open_ledger
    from ledger.verification import citizen_statement

    def run() -> bool:
        ledger = open_ledger(LedgerSettings())
        head = ledger.head()
        records = ledger.history(citizen)
        event_ids = {r.event_id for r in records if hasattr(r, "event_id")}
        statement = citizen_statement(
            ledger.current_address(citizen),
            records,
            final_block=ledger.final_block(head),
            balance=ledger.balance_of(citizen, block=head),
            badges_on_chain={e: ledger.has_badge(e, citizen, block=head) for e in event_ids},
            as_of_block=head,
        )
        typer.echo(f"citizen {statement.address}  (chain {ledger.chain_id}, block {head})")
        for line in statement.lines:
            what = {
                "award": f"award       activity {line.activity_id}: {line.points_delta:+d}",
                "reversal": f"reversal    activity {line.activity_id}: {line.points_delta:+d} "
                f"(reason {line.reason_code})",
                "redemption": f"redemption  reward {line.reward_id}: {line.points_delta:+d}",
                "rebinding": f"re-binding  from {line.counterpart} (reason {line.reason_code})",
                "badge_issued": f"badge       event {line.event_id} issued",
                "badge_reissued": f"badge       event {line.event_id} re-issued (reason {line.reason_code})",
                "badge_revoked": f"badge       event {line.event_id} revoked (reason {line.reason_code})",
                "badges_moved": f"badges      moved from {line.counterpart}",
            }[line.action]
            typer.echo(f"  {what:<52} tx {line.ref.tx_hash} block {line.ref.block_number} log {line.ref.log_index}")
        typer.echo(f"  points: {statement.balance} on-chain, {statement.rebuilt_balance} from the records above")
        typer.echo(f"  badges held: {', '.join(str(e) for e, _ in statement.badges) or 'none'}")
        for check in statement.checks:
            typer.echo(f"  [{check.outcome}] {check.name}: {check.detail}")
        typer.echo("  verified: " + ("yes" if statement.verified else "NO"))
        return statement.verified

    if not _run(run):
        raise typer.Exit(1)


proof_app = typer.Typer(help="Proof files of single records: check one against any node.")
app.add_typer(proof_app, name="proof")


def _chain_for(rpc_url: str | None) -> Any:
    from ledger import connect

    settings = LedgerSettings() if rpc_url is None else LedgerSettings(rpc_url=rpc_url)
    return connect(settings)


@proof_app.command("check")
def proof_check(
    file: Annotated[Path, typer.Argument(help="a proof file (GET /v1/proofs/...)", exists=True, dir_okay=False)],
    rpc_url: Annotated[
        str | None, typer.Option(help="any node of the chain (default: CIVIC_RPC_URL, or the embedded chain)")
    ] = None,
) -> None:
    """Check a proof file with nothing but the file and a node: the transaction, its receipt,
    the log, its emitter, the decoded record, and that its block is still canonical. Exits 0 when
    every check passed, 1 when one failed (named), 3 when the node could not be asked."""
    from ledger.proofs import check_proof

    def run() -> int:
        try:
            proof = json.loads(file.read_text())
        except (OSError, ValueError) as exc:
            raise _fail(f"{file} is not a JSON proof file: {exc}") from exc
        checks = check_proof(proof, _chain_for(rpc_url))
        for check in checks:
            typer.echo(f"[{check.outcome}] {check.name}: {check.detail}")
        if any(c.outcome == "failed" for c in checks):
            failed = next(c for c in checks if c.outcome == "failed")
            typer.echo(f"NOT VERIFIED: {failed.name} failed")
            return 1
        if any(c.outcome == "unknown" for c in checks):
            typer.echo("COULD NOT BE CHECKED: the node did not answer")
            return 3
        typer.echo("verified: every check passed")
        return 0

    code = _run(run)
    if code:
        raise typer.Exit(code)


credential_app = typer.Typer(help="Open Badges 3.0 credentials: verify one against any node.")
app.add_typer(credential_app, name="credential")


@credential_app.command("verify")
def credential_verify(
    file: Annotated[
        Path, typer.Argument(help="a VC-JWT, or the JSON GET /v1/credentials/badges/... answers", exists=True)
    ],
    key: Annotated[
        str | None,
        typer.Option(
            help="the issuer's key: a JWK, JWKS or issuer-profile file or URL "
            "(default: the issuer the credential names)"
        ),
    ] = None,
    issuer: Annotated[str | None, typer.Option(help="the issuer id the credential must name")] = None,
    rpc_url: Annotated[
        str | None, typer.Option(help="any node of the chain (default: CIVIC_RPC_URL, or the embedded chain)")
    ] = None,
) -> None:
    """Verify a badge credential: signature, issuer, subject, validity period, and its status on
    the chain. Prints the outcome (valid, revoked, invalid, or unknown when the node cannot be
    asked: never valid then). Exits 0 when valid, 1 when invalid or revoked, 3 when unknown."""
    from ledger import open_ledger
    from ledger.credentials import load_token, resolve_issuer_keys, verify_credential

    def run() -> int:
        token = load_token(file.read_text())
        keys = resolve_issuer_keys(token, key)
        settings = LedgerSettings() if rpc_url is None else LedgerSettings(rpc_url=rpc_url)
        result = verify_credential(token, keys, open_ledger(settings), expected_issuer=issuer)
        answer = result.as_dict()
        for check in answer["checks"]:
            typer.echo(f"[{check['outcome']}] {check['name']}: {check['detail']}")
        typer.echo(f"outcome: {answer['outcome']}")
        return {"valid": 0, "unknown": 3}.get(answer["outcome"], 1)

    code = _run(run)
    if code:
        raise typer.Exit(code)


# ---------------------------------------------------------------------- development tools


@app.command()
def demo(
    weeks: Annotated[int, typer.Option(help="weeks of outings")] = 4,
    if_empty: Annotated[bool, typer.Option("--if-empty", help="do nothing if the store already has citizens")] = False,
) -> None:
    """Seed the demo plogging club into the embedded chain (CIVIC_EMBEDDED_DIR) through the
    service's own workflow, and write its tokens beside it."""
    from sqlalchemy import func, select

    from api.server import build_context
    from api.store import Citizen
    from devtools.demo import save_tokens, seed_demo_club

    settings = LedgerSettings()
    if not settings.embedded or settings.embedded_dir is None:
        raise _fail("the demo club is for the embedded chain: unset CIVIC_RPC_URL")

    def run() -> None:
        ctx = build_context(settings)
        with ctx.store.session() as session:
            if if_empty and session.scalar(select(func.count(Citizen.id))):
                return
        club = seed_demo_club(ctx, weeks=weeks)
        assert settings.embedded_dir is not None
        save_tokens(club, settings.embedded_dir / "demo-tokens.json")
        typer.echo(f"seeded {len(club.members)} members, {club.outings} outings, events {list(club.events.values())}")

    _run(run)


@app.command()
def node(
    port: Annotated[int, typer.Option()] = 8545,
    state: Annotated[Path, typer.Option(help="state file to load and dump")] = Path("var/anvil/state.json"),
) -> None:
    """Run a local anvil node on loopback with its state persisted to disk."""
    import signal

    from devtools.node import ANVIL_DEV_KEY, AnvilNode

    anvil = AnvilNode(port=port, state_path=state)
    _run(anvil.start)
    typer.echo(f"anvil on {anvil.url}, state kept in {state} (dumped every second and on stop)")
    typer.echo(f"  export CIVIC_RPC_URL={anvil.url}")
    typer.echo(f"  export CIVIC_PRIVATE_KEY={ANVIL_DEV_KEY}   # anvil's funded development key, local only")
    typer.echo("then: civic deploy, civic serve, ...; Ctrl+C stops the node and writes its state")
    sys.stdout.flush()
    try:
        signal.sigwait({signal.SIGINT, signal.SIGTERM})
    finally:
        anvil.stop()


@app.command()
def compile() -> None:
    """Recompile the contracts into ledger/artifacts (solc-js 0.8.28 from npm)."""
    from devtools.compiler import main as compile_main

    compile_main()


@app.command("gas-report")
def gas_report() -> None:
    """Measure gas per operation and rewrite gas/."""
    from devtools.gas_report import main as gas_main

    gas_main()


#: What the progress bar says during each phase of the audit.
_AUDIT_STAGES = {
    "scan": "scanning logs",
    "transactions": "reading senders",
    "blocks": "reading block times",
    "replay": "replaying records",
    "state": "reading contract state",
    "roots": "checking award roots",
    "code": "checking code",
    "anchors": "checking anchors",
    "proofs": "checking proof files",
}


@app.command()
def audit(
    out: Annotated[Path, typer.Option(help="directory for report.json, records.csv and report.html")],
    rpc_url: Annotated[
        str | None, typer.Option(help="any node of the chain (default: CIVIC_RPC_URL, or the embedded chain)")
    ] = None,
    deployment: Annotated[
        Path | None,
        typer.Option(help="the deployment record (default: CIVIC_DEPLOYMENT_PATH, or beside the embedded chain)"),
    ] = None,
    at_block: Annotated[int | None, typer.Option(help="audit the state at this block (default: the head)")] = None,
    records: Annotated[
        Path | None,
        typer.Option(
            help="the city's export of anchored off-chain records (GET /v1/anchors/records)",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
    proof: Annotated[
        list[Path] | None, typer.Option(help="a proof file to check as well (repeatable)", exists=True, dir_okay=False)
    ] = None,
    strict: Annotated[
        bool, typer.Option(help="exit 1 on warnings too (a day or more between anchored periods)")
    ] = False,
) -> None:
    """Audit the whole programme from the chain alone (a node and the deployment record, never
    the city's database): the state rebuilt from the events against the contracts' state, every
    act's sender against the roles held then, the limits in force, each award batch's Merkle
    root, the code at each address against the committed sources, and the anchored records.
    Writes OUT/report.json, OUT/records.csv and OUT/report.html. Exits 0 when clean, 1 when there
    are findings, 2 when the audit could not be made, 3 when the node kept failing."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from ledger import Deployment
    from ledger.audit import AuditNodeError, run_audit, write_outputs

    def run() -> int:
        settings = LedgerSettings() if rpc_url is None else LedgerSettings(rpc_url=rpc_url)
        record = Deployment.load(deployment or settings.deployment_file)
        chain = _chain_for(rpc_url)
        columns = (
            TextColumn("{task.description:<24}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("blocks"),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
            task = bar.add_task(_AUDIT_STAGES["scan"], total=None)
            try:
                report = run_audit(
                    chain,
                    record,
                    at_block=at_block,
                    records_file=records,
                    proof_files=proof or (),
                    progress=lambda done, total: bar.update(task, completed=done, total=total),
                    stage=lambda name: bar.update(task, description=_AUDIT_STAGES.get(name, name)),
                )
            except AuditNodeError as exc:
                raise _fail(f"the node kept failing, the audit is incomplete: {exc}", 3) from exc
        paths = write_outputs(report, out)
        typer.echo(
            f"chain {report.chain_id}, block {report.audited_block}: {report.totals['records']:,} records in "
            f"{report.scan['duration_seconds']:.1f}s"
        )
        for check in report.checks:
            counts = f" ({check.findings} findings)" if check.findings else ""
            counts += f" ({check.warnings} warnings)" if check.warnings else ""
            typer.echo(f"  [{check.outcome}] {check.title}{counts}: {check.detail}")
        for match in report.code:
            typer.echo(f"  code of {match.name}: {match.summary} ({match.compiler}, {match.source_hash})")
        for finding in report.findings[:20]:
            typer.echo(f"  {finding.severity} {finding.kind}: {finding.message}")
        if len(report.findings) > 20:
            typer.echo(f"  ... and {len(report.findings) - 20} more in {paths['json']}")
        typer.echo(f"report: {paths['html']} (and {paths['json'].name}, {paths['csv'].name})")
        if report.clean:
            typer.echo("clean: every check passed" + (f" ({len(report.warnings)} warnings)" if report.warnings else ""))
        else:
            typer.echo(f"NOT CLEAN: {len(report.errors)} findings")
        return report.exit_code(strict=strict)

    code = _run(run)
    if code:
        raise typer.Exit(code)


@app.command()
def bench(
    backend: Annotated[list[str] | None, typer.Option(help="eth-tester and/or anvil (default: both)")] = None,
    plain: Annotated[int, typer.Option(help="plain mints, one per transaction")] = 60,
    singles: Annotated[int, typer.Option(help="single awards")] = 30,
    batch: Annotated[int, typer.Option(help="records in the batch awards and issuance")] = 2_000,
    claims: Annotated[int, typer.Option(help="voucher claims")] = 30,
    settle: Annotated[int, typer.Option(help="approved claims in the bulk settlement")] = 4_000,
    out: Annotated[Path, typer.Option(help="where bench.json and BENCH.md are written")] = Path("bench"),
) -> None:
    """Records per second and gas per record: the plain way (an OpenZeppelin mint per
    transaction) beside the project's paths, on eth-tester and anvil, in one run."""
    from devtools.bench import main as bench_main

    backends = tuple(backend or ("eth-tester", "anvil"))
    sizes = {"plain": plain, "singles": singles, "batch": batch, "claims": claims, "settle": settle}
    _run(lambda: bench_main(backends, sizes, out))


@app.command()
def loadtest(
    citizens: Annotated[int, typer.Option(help="members in the store and on-chain")] = 1_000,
    records: Annotated[int, typer.Option(help="awards settled on-chain and indexed before the load")] = 100_000,
    workers: Annotated[int, typer.Option(help="API worker processes")] = 2,
    users: Annotated[int, typer.Option(help="concurrent locust users (no think time)")] = 16,
    seconds: Annotated[int, typer.Option(help="length of each locust run")] = 30,
    max_requests: Annotated[int, typer.Option(help="each run stops after this many requests")] = 100_000,
    database_url: Annotated[str | None, typer.Option(help="PostgreSQL to use (default: a throwaway server)")] = None,
    rpc_url: Annotated[str | None, typer.Option(help="node to use (default: a fresh anvil)")] = None,
    out: Annotated[Path | None, typer.Option(help="where LOADTEST.md, loadtest.json and locust's JSON go")] = None,
) -> None:
    """The public verification endpoint under load (locust on loopback), beside /v1/health,
    with a city's worth of records stored: PostgreSQL, anvil, several API workers."""
    from devtools.loadtest import main as load_main

    _run(
        lambda: load_main(
            out,
            citizens=citizens,
            records=records,
            workers=workers,
            users=users,
            seconds=seconds,
            max_requests=max_requests,
            database_url=database_url,
            rpc_url=rpc_url,
        )
    )


def main() -> None:
    app()


if __name__ == "__main__":
    main()
