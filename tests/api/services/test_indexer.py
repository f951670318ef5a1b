"""The indexer follows the chain into typed records, resumes where it stopped, and survives
reorganisations (the end state equals a fresh re-index)."""

from __future__ import annotations

import json

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr
from sqlalchemy import select

from api.services.context import Context
from api.services.indexer import Indexer, load_records
from api.services.security import Cipher
from api.settings import ApiSettings
from api.store import ChainRecordRow, CitizenState, Store
from ledger import ActivityAward, AwardRecorded, Ledger, PointsTransferred, Venue


def _context(ledger: Ledger, tmp_path, name: str) -> Context:
    url = f"sqlite:///{tmp_path}/{name}.db"
    key = Fernet.generate_key().decode()
    settings = ApiSettings(database_url=url, data_key=SecretStr(key), public_base_url="http://testserver")
    store = Store(url)
    store.migrate()
    return Context(settings, store, ledger, Cipher(key))


def _rows(store: Store) -> list[tuple]:
    with store.session() as session:
        return [
            (
                r.block_number,
                r.block_hash,
                r.tx_hash,
                r.log_index,
                r.kind,
                r.subject,
                r.activity_id,
                r.event_id,
                r.points_delta,
                r.sender,
                r.data,
            )
            for r in session.scalars(
                select(ChainRecordRow).order_by(ChainRecordRow.block_number, ChainRecordRow.log_index)
            )
        ]


def _records(store: Store) -> list:
    with store.session() as session:
        return load_records(
            list(
                session.scalars(select(ChainRecordRow).order_by(ChainRecordRow.block_number, ChainRecordRow.log_index))
            )
        )


def _state(store: Store, address: str) -> tuple[int, list[int]] | None:
    with store.session() as session:
        state = session.get(CitizenState, address)
        return None if state is None else (state.balance, json.loads(state.badges))


def test_indexer_stores_typed_records_resumes_and_equals_a_fresh_index(chain, ledger, citizens, tmp_path):
    ctx = _context(ledger, tmp_path, "live")
    ledger.award_points([ActivityAward(i, c.address, 10) for i, c in enumerate(citizens, start=1)])
    first = Indexer(ctx).sync()
    assert first.records > 0 and first.rolled_back == 0
    assert first.head == ledger.head()
    awards = [row for row in _rows(ctx.store) if row[4] == "AwardRecorded"]
    assert [(row[5], row[6], row[8], row[9]) for row in awards] == [
        (c.address, i, 10, ledger.address) for i, c in enumerate(citizens, start=1)
    ]
    # The typed records, as the ledger decodes them (balance changes are not stored: the record
    # beside each says why).
    on_chain = [
        r
        for r in ledger.records_between(ledger.deployment.block_number, ledger.head())
        if not isinstance(r, PointsTransferred)
    ]
    assert _records(ctx.store) == on_chain
    assert all(isinstance(r, AwardRecorded) for r in _records(ctx.store)[-5:])

    event_id, _ = ledger.create_event(Venue.PHYSICAL, 0, 2**40, 0)
    ledger.issue_badges(event_id, [c.address for c in citizens[:2]])
    ledger.reverse_award(1, 3)
    # A new indexer over the same store (a restart) reads only what is new.
    again = Indexer(ctx).sync()
    assert again.rolled_back == 0
    new = [row[4] for row in _rows(ctx.store)[-again.records :]]
    assert new == ["EventCreated", "BadgeIssued", "BadgeIssued", "AwardReversed"]
    assert Indexer(ctx).sync().records == 0  # nothing new: nothing read twice

    fresh = _context(ledger, tmp_path, "fresh")
    Indexer(fresh).sync()
    assert _rows(ctx.store) == _rows(fresh.store)

    deltas: dict[str, int] = {}
    for row in _rows(ctx.store):
        if row[5] is not None:
            deltas[row[5]] = deltas.get(row[5], 0) + row[8]
    for index, citizen in enumerate(citizens):
        balance = ledger.balance_of(citizen.address)
        assert deltas.get(citizen.address, 0) == balance == (0 if index == 0 else 10)
        assert _state(ctx.store, citizen.address) == (balance, [event_id] if index < 2 else [])


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_indexer_reorg_rolls_back_to_the_common_ancestor(chain, ledger, city, tmp_path, depth):
    if chain.name != "anvil":
        pytest.skip("reorgs need a real node: add anvil to CIVIC_TEST_BACKENDS (scripts/test does)")
    node = chain.chain
    live = Ledger(node, ledger.deployment, city, confirmations=2)
    ctx = _context(live, tmp_path, "live")
    Indexer(ctx).sync()
    citizen = "0x" + "77" * 20
    base = live.last_activity_id()
    fork_point = node.rpc("evm_snapshot", [])
    dropped = [live.award_points([ActivityAward(base + 1 + i, citizen, 10)])[0].tx_hash for i in range(depth)]
    Indexer(ctx).sync()
    assert len([r for r in _rows(ctx.store) if r[4] == "AwardRecorded" and r[5] == citizen]) == depth
    assert _state(ctx.store, citizen) == (10 * depth, [])

    # Reorganise: the last `depth` blocks are replaced by a longer chain with another award.
    assert node.rpc("evm_revert", [fork_point])
    # The node forgot the dropped transactions; another writer (a fresh sender) goes on.
    after = Ledger(node, ledger.deployment, city, confirmations=2, receipt_timeout=10)
    kept = after.award_points([ActivityAward(base + 100, citizen, 7)])[0].tx_hash
    for _ in range(depth + 2):
        node.mine()
    ctx.ledger = after
    result = Indexer(ctx).sync()
    assert result.rolled_back >= 1
    fresh = _context(after, tmp_path, "fresh")
    Indexer(fresh).sync()
    assert _rows(ctx.store) == _rows(fresh.store)
    assert {r[2] for r in _rows(ctx.store)}.isdisjoint(dropped)
    assert [(r[6], r[8]) for r in _rows(ctx.store) if r[5] == citizen] == [(base + 100, 7)]
    assert _state(ctx.store, citizen) == (7, [])
    assert all(after.result_of(tx) is None for tx in dropped), "a dropped transaction is never final"
    assert after.finality(after.result_of(kept).block_number) == "final"


def test_an_answer_is_computed_once_per_indexed_tip(chain, ledger, citizens, tmp_path):
    """Public reads repeated by many are answered again while the index stands still; a new
    block, or the same block number under another hash (a rollback), computes it afresh."""
    from api.store import IndexedBlock

    ctx = _context(ledger, tmp_path, "memo")
    indexer = Indexer(ctx)
    computed: list[int | None] = []

    def statement(cursor: int | None) -> tuple[int | None, int]:
        computed.append(cursor)
        return cursor, ledger.balance_of(citizens[1].address)

    first = indexer.answer("balance", statement)
    assert indexer.answer("balance", statement) == first and len(computed) == 1
    ledger.award_points([ActivityAward(1, citizens[1].address, 10)])
    ctx.chain_moved()  # this process mined: the head is asked afresh
    moved = indexer.answer("balance", statement)
    assert moved == (ledger.head(), 10) and len(computed) == 2
    with ctx.store.session() as session:
        session.get(IndexedBlock, ledger.head()).hash = "0x" + "ab" * 32
        session.commit()
    assert indexer.answer("balance", statement) == moved and len(computed) == 3
    assert indexer.answer("other", statement) and len(computed) == 4
