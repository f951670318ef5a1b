"""The indexer follows the chain, resumes where it stopped, and survives reorganisations."""

import pytest
from sqlalchemy import select

from api.indexer import Indexer
from api.store import ChainEvent, Store
from ledger import ActivityAward, Ledger, Venue
from tests.conftest import BACKENDS


def _rows(store: Store) -> list[tuple]:
    with store.session() as session:
        return [
            (e.block_number, e.block_hash, e.tx_hash, e.log_index, e.name, e.citizen, e.activity_id, e.points_delta)
            for e in session.scalars(select(ChainEvent).order_by(ChainEvent.block_number, ChainEvent.log_index))
        ]


def _store(tmp_path, name: str) -> Store:
    store = Store(f"sqlite:///{tmp_path}/{name}.db")
    store.migrate()
    return store


def test_indexer_resumes_and_equals_a_fresh_index(chain, ledger, citizens, tmp_path):
    store = _store(tmp_path, "live")
    indexer = Indexer(store)
    ledger.award_points_batch([ActivityAward(i, c.address, 10) for i, c in enumerate(citizens, start=1)])
    first = indexer.sync(ledger)
    assert first.events > 0 and first.rolled_back == 0
    event_id, _ = ledger.create_event(Venue.PHYSICAL, 0, 2**40, 0, "ipfs://e")
    ledger.issue_badges(event_id, [c.address for c in citizens[:2]])
    ledger.reverse_award(1, 3)
    again = indexer.sync(ledger)
    # EventCreated, Locked, URI, two TransferSingle mints and AwardReversed: only the new ones.
    assert again.rolled_back == 0 and again.events == 6
    assert indexer.sync(ledger).events == 0  # nothing new: nothing read twice
    fresh = _store(tmp_path, "fresh")
    Indexer(fresh).sync(ledger)
    assert _rows(store) == _rows(fresh)
    deltas = {}
    for *_, citizen, _, delta in _rows(store):
        deltas[citizen] = deltas.get(citizen, 0) + delta
    assert all(deltas.get(c.address, 0) == ledger.balance_of(c.address) for c in citizens)


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_reorg_rolls_back_to_the_common_ancestor(request, tmp_path, depth):
    if "anvil" not in BACKENDS:
        pytest.skip("reorgs need a real node: add anvil to CIVIC_TEST_BACKENDS (scripts/test does)")
    node = request.getfixturevalue("anvil_node")
    w3 = node.w3
    snapshot = w3.provider.make_request("evm_snapshot", [])["result"]
    try:
        city = node.new_account(funded=True)
        ledger = Ledger.deploy(w3, city, confirmations=2)
        store = _store(tmp_path, "live")
        indexer = Indexer(store)
        fork_point = w3.provider.make_request("evm_snapshot", [])["result"]
        citizen = "0x" + "77" * 20
        dropped = [ledger.award_points(ActivityAward(100 + i, citizen, 10)).tx_hash for i in range(depth)]
        indexer.sync(ledger)
        assert len([r for r in _rows(store) if r[4] == "ActivityRecorded"]) == depth
        # Reorganise: the last `depth` blocks are replaced by a longer chain with other awards.
        w3.provider.make_request("evm_revert", [fork_point])
        # The node forgot the dropped transactions; another writer (a fresh sender) goes on.
        ledger = Ledger(w3, ledger.deployment, city, confirmations=2, receipt_timeout=10)
        kept = ledger.award_points(ActivityAward(200, citizen, 7)).tx_hash
        for _ in range(depth + 2):
            w3.provider.make_request("evm_mine", [])
        result = indexer.sync(ledger)
        assert result.rolled_back >= 1
        fresh = _store(tmp_path, "fresh")
        Indexer(fresh).sync(ledger)
        assert _rows(store) == _rows(fresh)
        assert {r[2] for r in _rows(store)}.isdisjoint(dropped)
        assert all(ledger.finality(tx) == "pending" for tx in dropped), "a dropped transaction is never final"
        assert ledger.finality(kept) == "final"
    finally:
        w3.provider.make_request("evm_revert", [snapshot])
