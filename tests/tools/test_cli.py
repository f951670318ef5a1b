"""The command line: the demo a newcomer runs, chain acts through the service's workflow in
separate runs, and clear refusals on bad configuration."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from eth_account import Account
from typer.testing import CliRunner

from civic.cli import app
from ledger import LedgerSettings, load_signer
from ledger.errors import ConfigurationError

runner = CliRunner()


def civic(*args: str) -> Any:
    return runner.invoke(app, list(args), catch_exceptions=False)


@pytest.fixture
def embedded(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    for name in ("CIVIC_RPC_URL", "CIVIC_PRIVATE_KEY", "CIVIC_DATABASE_URL", "CIVIC_DEPLOYMENT_PATH", "CIVIC_DATA_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CIVIC_EMBEDDED_DIR", str(tmp_path / "var"))
    return tmp_path / "var"


def test_demo_seeds_the_club_and_verify_checks_a_member_against_the_chain(embedded: Any) -> None:
    seeded = civic("demo", "--weeks", "1")
    assert seeded.exit_code == 0, seeded.output
    assert "seeded 12 members" in seeded.output
    tokens = json.loads((embedded / "demo-tokens.json").read_text())
    assert (embedded / "demo-tokens.json").stat().st_mode & 0o077 == 0, "the demo's secrets are owner-only"
    verified = civic("verify", tokens["citizen_address"])
    assert verified.exit_code == 0, verified.output
    out = verified.output
    assert "verified: yes" in out
    assert "redemption  reward" in out  # the member who redeemed a tumbler: every record is listed
    records = [line for line in out.splitlines() if line.strip().startswith(("award ", "badge ", "redemption "))]
    assert records and all(" tx 0x" in line and " block " in line and " log " in line for line in records)
    # Seeding twice with --if-empty leaves the club as it is.
    again = civic("demo", "--if-empty")
    assert again.exit_code == 0 and "seeded" not in again.output


def test_commands_in_separate_runs_share_the_durable_embedded_chain(embedded: Any) -> None:
    assert civic("deploy").exit_code == 0
    enrolled = civic("enrol", "--name", "Kim")
    assert enrolled.exit_code == 0, enrolled.output
    citizen_id = re.search(r"citizen (\S+)", enrolled.output).group(1)  # type: ignore[union-attr]
    address = re.search(r"address (\S+)", enrolled.output).group(1)  # type: ignore[union-attr]
    awarded = civic("award", "--citizen", citizen_id, "--points", "75", "--reference", "hours-1")
    assert awarded.exit_code == 0, awarded.output
    assert re.search(r"awarded 75 points for activity \d+: tx 0x", awarded.output)
    repeat = civic("award", "--citizen", citizen_id, "--points", "75", "--reference", "hours-1")
    assert repeat.output == awarded.output, "the same reference awards once"
    created = civic(
        "create-event",
        "--title",
        "Green Talk Talk",
        "--venue",
        "metaverse",
        "--claim-start",
        "2026-01-01T09:00:00+09:00",
        "--claim-end",
        "2099-01-01T00:00:00+09:00",
    )
    assert created.exit_code == 0, created.output
    event_id = re.search(r"event (\d+) created", created.output).group(1)  # type: ignore[union-attr]
    assert civic("issue", "--event-id", event_id, address).exit_code == 0
    skipped = civic("issue", "--event-id", event_id, address)
    assert "skipped (already held)" in skipped.output
    out = civic("verify", address).output
    assert "points: 75 on-chain, 75 from the records above" in out
    assert f"badges held: {event_id}" in out
    assert "verified: yes" in out


def test_deploy_refuses_to_overwrite_a_deployment_record(embedded: Any) -> None:
    assert civic("deploy").exit_code == 0
    again = civic("deploy")
    assert again.exit_code == 2
    assert "already records a deployment" in again.output


def test_deploy_caps_a_day_at_the_citys_setting_unless_told(embedded: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The contract's daily cap and the service's are one figure: CIVIC_DAILY_POINTS_CAP."""
    from ledger import open_ledger
    from ledger.embedded import close_all

    monkeypatch.setenv("CIVIC_DAILY_POINTS_CAP", "4200")
    assert civic("deploy").exit_code == 0
    try:
        assert open_ledger(LedgerSettings()).limits()[1] == 4200
    finally:
        close_all()


def test_create_event_wants_a_time_zone(embedded: Any) -> None:
    civic("deploy")
    naive = runner.invoke(
        app,
        [
            "create-event",
            "--title",
            "t",
            "--venue",
            "physical",
            "--claim-start",
            "2026-01-01T09:00",
            "--claim-end",
            "2026-01-02T09:00",
        ],
    )
    assert naive.exit_code != 0
    assert "time zone" in naive.output


def test_award_to_a_citizen_the_service_does_not_know_is_refused(embedded: Any) -> None:
    civic("deploy")
    refused = civic("award", "--citizen", "0x" + "12" * 20, "--points", "5", "--reference", "r")
    assert refused.exit_code == 2
    assert "no citizen" in refused.output


def test_load_signer_reads_an_encrypted_keystore(tmp_path: Any) -> None:
    account = Account.create()
    keyfile = Account.encrypt(account.key, "correct horse", kdf="pbkdf2", iterations=1_000)
    path = tmp_path / "city.json"
    path.write_text(json.dumps(keyfile))
    settings = LedgerSettings(keystore_path=path, keystore_password="correct horse")
    assert load_signer(settings).address == account.address
    with pytest.raises(ConfigurationError, match="cannot decrypt"):
        load_signer(LedgerSettings(keystore_path=path, keystore_password="wrong"))


def test_load_signer_reads_a_key_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    account = Account.create()
    monkeypatch.setenv("CIVIC_PRIVATE_KEY", account.key.hex())
    assert load_signer(LedgerSettings()).address == account.address
    monkeypatch.setenv("CIVIC_PRIVATE_KEY", "not-a-key")
    with pytest.raises(ConfigurationError, match="not a valid private key"):
        load_signer(LedgerSettings())


def test_load_signer_without_any_key_says_what_to_set(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CIVIC_PRIVATE_KEY", "CIVIC_KEYSTORE_PATH", "CIVIC_KEYSTORE_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ConfigurationError, match="CIVIC_PRIVATE_KEY"):
        load_signer(LedgerSettings(rpc_url="http://127.0.0.1:9"))
