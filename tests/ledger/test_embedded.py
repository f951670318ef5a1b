"""The embedded chain survives restarts: its journal replays to the same chain."""

import pytest

from ledger import ActivityAward, Ledger, Venue, embedded_funder
from ledger.config import advance_chain_time
from ledger.embedded import open_durable_chain
from ledger.errors import ConfigurationError


def _seed(directory):
    w3 = open_durable_chain(directory)
    ledger = Ledger.deploy(w3, embedded_funder(w3))
    ledger.award_points_batch([ActivityAward(i, "0x" + f"{i:040x}", 10 * i) for i in range(1, 6)])
    advance_chain_time(w3, 86_400)
    event_id, _ = ledger.create_event(Venue.METAVERSE, 0, 2**40, 0, "ipfs://talk")
    ledger.issue_badge(event_id, "0x" + f"{1:040x}")
    latest = w3.eth.get_block("latest")
    w3.provider.close()
    return ledger.deployment, latest


def test_reopened_chain_is_the_same_chain_block_for_block(tmp_path):
    deployment, latest = _seed(tmp_path)
    w3 = open_durable_chain(tmp_path)
    assert w3.eth.get_block("latest")["hash"] == latest["hash"]
    ledger = Ledger(w3, deployment, embedded_funder(w3))
    assert ledger.balance_of("0x" + f"{3:040x}") == 30
    assert ledger.has_badge(1, "0x" + f"{1:040x}")
    record = ledger.activity(2)
    assert record.ref.log_index == 1  # second award of its batch
    # Writing continues from where the journal ended.
    ledger.award_points(ActivityAward(9, "0x" + f"{3:040x}", 5))
    assert ledger.balance_of("0x" + f"{3:040x}") == 35
    w3.provider.close()


def test_a_write_cut_short_by_a_crash_is_ignored(tmp_path):
    _, latest = _seed(tmp_path)
    with open(tmp_path / "chain.jsonl", "a") as journal:
        journal.write('{"kind":"tx","raw":"0xdead')  # no newline: the crash came mid-write
    w3 = open_durable_chain(tmp_path)
    assert w3.eth.block_number == latest["number"]
    w3.provider.close()


def test_a_second_process_cannot_open_a_chain_in_use(tmp_path):
    w3 = open_durable_chain(tmp_path)
    with pytest.raises(ConfigurationError, match="in use by another process"):
        open_durable_chain(tmp_path)
    w3.provider.close()
    open_durable_chain(tmp_path).provider.close()
