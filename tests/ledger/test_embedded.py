"""The embedded chain survives restarts: its journal replays to the same chain."""

import pytest

from ledger import ActivityAward, AwardRecorded, Chain, Ledger, Venue, checksum, embedded_funder
from ledger.embedded import open_durable_chain
from ledger.errors import ConfigurationError

CITIZEN = ["0x" + f"{i:040x}" for i in range(6)]


def _seed(directory):
    w3 = open_durable_chain(directory)
    chain = Chain(w3)
    ledger = Ledger.deploy(chain, embedded_funder(chain))
    ledger.award_points([ActivityAward(i, CITIZEN[i], 10 * i) for i in range(1, 6)])
    chain.advance_time(86_400)
    event_id, _ = ledger.create_event(Venue.METAVERSE, 0, 2**40, 0)
    ledger.issue_badge(event_id, CITIZEN[1])
    latest = w3.eth.get_block("latest")
    w3.provider.close()
    return ledger.deployment, latest


def test_open_durable_chain_reopened_is_the_same_chain_block_for_block(tmp_path):
    deployment, latest = _seed(tmp_path)
    w3 = open_durable_chain(tmp_path)
    assert w3.eth.get_block("latest")["hash"] == latest["hash"]
    chain = Chain(w3)
    ledger = Ledger(chain, deployment, embedded_funder(chain))
    assert ledger.balance_of(CITIZEN[3]) == 30
    assert ledger.total_supply() == 150
    assert ledger.last_activity_id() == 5
    assert ledger.has_badge(1, CITIZEN[1])
    found = ledger.activity(2)
    assert found is not None
    award, reversal = found
    assert isinstance(award, AwardRecorded) and reversal is None
    assert (award.activity_id, award.citizen, award.points) == (2, checksum(CITIZEN[2]), 20)
    # Second award of its batch: each award logs a Transfer then its ActivityRecorded (indexes 2, 3).
    assert award.ref.log_index == 3
    # Writing continues from where the journal ended.
    ledger.award_points([ActivityAward(9, CITIZEN[3], 5)])
    assert ledger.balance_of(CITIZEN[3]) == 35
    w3.provider.close()


def test_open_durable_chain_ignores_a_write_cut_short_by_a_crash(tmp_path):
    _, latest = _seed(tmp_path)
    with open(tmp_path / "chain.jsonl", "a") as journal:
        journal.write('{"kind":"tx","raw":"0xdead')  # no newline: the crash came mid-write
    w3 = open_durable_chain(tmp_path)
    assert w3.eth.block_number == latest["number"]
    w3.provider.close()


def test_open_durable_chain_in_use_by_another_process_is_refused(tmp_path):
    w3 = open_durable_chain(tmp_path)
    with pytest.raises(ConfigurationError, match="in use by another process"):
        open_durable_chain(tmp_path)
    w3.provider.close()
    open_durable_chain(tmp_path).provider.close()
