"""The command line: the demo a newcomer runs, and clear refusals on bad configuration."""

import json

import pytest
from eth_account import Account

from ledger import LedgerSettings, load_signer
from ledger.cli import main
from ledger.demo import mission_points
from ledger.errors import ConfigurationError
from ledger.records import Metrics


def test_demo_prints_a_members_verified_points_and_badges(capsys):
    main(["demo", "--weeks", "1"])
    out = capsys.readouterr().out
    assert "seeded 12 members" in out
    assert "verified: yes, events and contract state agree" in out
    assert "badges held: 1, 3" in out
    # Every record line carries its on-chain reference.
    kinds = ("award ", "badge ", "redemption ", "reversal ")
    records = [line for line in out.splitlines() if line.strip().startswith(kinds)]
    assert records and all(" tx 0x" in line and " block " in line and " log " in line for line in records)
    # The roster's nicknames are printed from the off-chain side only, never as chain data.
    assert "river-walker" in out


def test_mission_points_follow_the_clubs_rule():
    assert mission_points(Metrics(steps=5_000, litter_grams=80)) == 10 + 8 + 50
    assert mission_points(Metrics(steps=4_999, litter_grams=80)) == 10 + 8
    assert mission_points(Metrics(steps=12_000, litter_grams=2_000)) == 10 + 50 + 50


def test_commands_in_separate_runs_share_the_durable_embedded_chain(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("CIVIC_RPC_URL", raising=False)
    monkeypatch.setenv("CIVIC_EMBEDDED_DIR", str(tmp_path / "chain"))
    citizen = "0x" + "5a" * 20
    main(["deploy"])
    main(["award", "--citizen", citizen, "--activity-id", "1", "--points", "75", "--steps", "6200", "--litter", "90"])
    main(
        ["create-event", "--venue", "metaverse", "--claim-start", "0", "--claim-end", "9999999999", "--uri", "ipfs://x"]
    )
    main(["issue", "--event-id", "1", citizen])
    capsys.readouterr()
    main(["verify", citizen])
    out = capsys.readouterr().out
    assert "points: 75 on-chain, 75 rebuilt from events" in out
    assert "badges held: 1" in out
    assert "verified: yes" in out


def test_deploy_refuses_to_overwrite_a_deployment_record(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("CIVIC_RPC_URL", raising=False)
    monkeypatch.setenv("CIVIC_EMBEDDED_DIR", str(tmp_path / "chain"))
    main(["deploy"])
    with pytest.raises(SystemExit) as exc:
        main(["deploy"])
    assert exc.value.code == 2
    assert "already records a deployment" in capsys.readouterr().err


def test_award_rejects_a_malformed_citizen_address(capsys, monkeypatch):
    monkeypatch.setenv("CIVIC_RPC_URL", "http://127.0.0.1:9")
    with pytest.raises(SystemExit) as exc:
        main(["award", "--citizen", "0x1234", "--activity-id", "1", "--points", "5"])
    assert exc.value.code == 2
    assert "not an Ethereum address" in capsys.readouterr().err


def test_load_signer_reads_an_encrypted_keystore(tmp_path):
    account = Account.create()
    keyfile = Account.encrypt(account.key, "correct horse", kdf="pbkdf2", iterations=1_000)
    path = tmp_path / "city.json"
    path.write_text(json.dumps(keyfile))
    settings = LedgerSettings(keystore_path=path, keystore_password="correct horse")
    assert load_signer(settings).address == account.address
    with pytest.raises(ConfigurationError, match="cannot decrypt"):
        load_signer(LedgerSettings(keystore_path=path, keystore_password="wrong"))


def test_load_signer_reads_a_key_from_the_environment(monkeypatch):
    account = Account.create()
    monkeypatch.setenv("CIVIC_PRIVATE_KEY", account.key.hex())
    assert load_signer(LedgerSettings()).address == account.address
    monkeypatch.setenv("CIVIC_PRIVATE_KEY", "not-a-key")
    with pytest.raises(ConfigurationError, match="not a valid private key"):
        load_signer(LedgerSettings())


def test_load_signer_without_any_key_says_what_to_set(monkeypatch):
    for name in ("CIVIC_PRIVATE_KEY", "CIVIC_KEYSTORE_PATH", "CIVIC_KEYSTORE_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ConfigurationError, match="CIVIC_PRIVATE_KEY"):
        load_signer(LedgerSettings())
