"""One suite for the outbox contract (``ledger.outbox.Outbox``), run against every implementation.

The in-memory outbox (tools, tests) and the service's SQL outbox must behave the same: the
transaction sender allocates nonces and resumes after a crash from what the outbox answers, so a
difference between the two is a bug that only shows in one deployment. The last test drives the
real :class:`TransactionSender` path through each implementation.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from eth_account import Account

from api.outbox import SqlOutbox
from api.store import Store
from ledger import ActivityAward, Ledger, MemoryOutbox, Outbox, OutboxEntry
from ledger.errors import LedgerError, TransactionFailed

SENDER = str(Account.from_key(b"\x01" * 32).address)
OTHER_SENDER = str(Account.from_key(b"\x02" * 32).address)


def _hash(n: int) -> str:
    return "0x" + f"{n:064x}"


def _entry(n: int, nonce: int, *, sender: str = SENDER, intent: str | None = None) -> OutboxEntry:
    """An entry with hash ``n`` (and raw bytes naming it, so round trips are visible)."""
    return OutboxEntry(sender, nonce, _hash(n), b"\x02raw-" + n.to_bytes(4, "big"), intent=intent)


@pytest.fixture(params=["memory", "sql"])
def outbox(request: pytest.FixtureRequest, tmp_path) -> Iterator[Outbox]:
    if request.param == "memory":
        yield MemoryOutbox()
        return
    store = Store(f"sqlite:///{tmp_path}/o.db")
    store.migrate()
    try:
        yield SqlOutbox(store)
    finally:
        store.dispose()


def test_record_keeps_every_field(outbox):
    entry = _entry(1, 4, intent="award:1")
    outbox.record(entry)
    outbox.record(_entry(2, 5))

    assert outbox.for_intent("award:1") == [entry]
    assert outbox.unsettled(SENDER) == [entry, _entry(2, 5)]
    (without_intent,) = [e for e in outbox.unsettled(SENDER) if e.nonce == 5]
    assert without_intent.intent is None
    assert without_intent.raw == b"\x02raw-" + (2).to_bytes(4, "big")
    assert (without_intent.status, without_intent.block_number) == ("signed", None)


def test_unsettled_lists_lowest_nonce_first_and_oldest_first_within_a_nonce(outbox):
    outbox.record(_entry(1, 7))
    outbox.record(_entry(2, 5))
    outbox.record(_entry(3, 6))
    outbox.record(_entry(4, 5))  # a fee-bumped replacement at nonce 5, recorded later
    outbox.record(_entry(5, 5, sender=OTHER_SENDER))
    outbox.record(_entry(6, 8))
    outbox.record(_entry(7, 4))
    outbox.settle(_hash(6), "mined", 12)
    outbox.settle(_hash(7), "replaced", None)

    assert [e.tx_hash for e in outbox.unsettled(SENDER)] == [_hash(2), _hash(4), _hash(3), _hash(1)]
    assert [e.tx_hash for e in outbox.unsettled(OTHER_SENDER)] == [_hash(5)]
    assert outbox.unsettled("0x" + "ab" * 20) == []

    # Settling one entry of a nonce leaves the others at it listed, still oldest first.
    outbox.settle(_hash(2), "failed", None)
    assert [e.tx_hash for e in outbox.unsettled(SENDER)] == [_hash(4), _hash(3), _hash(1)]


def test_settle_records_status_and_block(outbox):
    for n, nonce in ((1, 0), (2, 1), (3, 1), (4, 2)):
        outbox.record(_entry(n, nonce, intent="work"))
    outbox.settle(_hash(1), "mined", 40)
    outbox.settle(_hash(2), "replaced", None)
    outbox.settle(_hash(3), "mined", 41)
    outbox.settle(_hash(4), "failed", 42)

    settled = {e.tx_hash: (e.status, e.block_number) for e in outbox.for_intent("work")}
    assert settled == {
        _hash(1): ("mined", 40),
        _hash(2): ("replaced", None),
        _hash(3): ("mined", 41),
        _hash(4): ("failed", 42),
    }
    assert outbox.unsettled(SENDER) == []


def test_highest_nonce_ignores_failed_entries(outbox):
    assert outbox.highest_nonce(SENDER) is None
    outbox.record(_entry(1, 0))
    outbox.record(_entry(2, 1))
    outbox.record(_entry(3, 2))
    assert outbox.highest_nonce(SENDER) == 2

    # The node refused nonce 2: it never took the nonce, so the next send must reuse it.
    outbox.settle(_hash(3), "failed", None)
    assert outbox.highest_nonce(SENDER) == 1
    # Mined, replaced and still-signed entries all hold their nonce.
    outbox.settle(_hash(1), "mined", 5)
    outbox.settle(_hash(2), "replaced", None)
    assert outbox.highest_nonce(SENDER) == 1
    outbox.record(_entry(4, 2))
    assert outbox.highest_nonce(SENDER) == 2

    # Per sender; a sender with only refused entries has no nonce taken.
    outbox.record(_entry(5, 9, sender=OTHER_SENDER))
    outbox.settle(_hash(5), "failed", None)
    assert outbox.highest_nonce(OTHER_SENDER) is None
    assert outbox.highest_nonce(SENDER) == 2


def test_for_intent_returns_the_intents_entries_in_nonce_order(outbox):
    outbox.record(_entry(1, 7, intent="a"))
    outbox.record(_entry(2, 5, intent="a"))
    outbox.record(_entry(3, 6, intent="b"))
    outbox.record(_entry(4, 6, intent="a"))
    outbox.record(_entry(5, 5, intent="a"))  # a replacement at nonce 5
    outbox.record(_entry(6, 3, intent=None))
    outbox.settle(_hash(2), "replaced", None)

    assert [e.tx_hash for e in outbox.for_intent("a")] == [_hash(2), _hash(5), _hash(4), _hash(1)]
    assert [e.status for e in outbox.for_intent("a")] == ["replaced", "signed", "signed", "signed"]
    assert [e.tx_hash for e in outbox.for_intent("b")] == [_hash(3)]
    assert outbox.for_intent("c") == []


def test_settle_of_an_unknown_hash_is_harmless(outbox):
    entry = _entry(1, 3, intent="x")
    outbox.record(entry)

    outbox.settle(_hash(99), "mined", 7)

    assert outbox.for_intent("x") == [entry]
    assert outbox.unsettled(SENDER) == [entry]
    assert outbox.highest_nonce(SENDER) == 3


def test_transaction_sender_refused_broadcast_gives_its_nonce_to_the_next_send(chain, deployed, outbox, monkeypatch):
    """A broadcast the node refuses must not advance the next nonce (the in-memory outbox once
    counted failed entries, and every later send failed with "Expected 7, but got 8")."""
    ledger = Ledger(chain.chain, deployed.deployment, deployed.city, outbox=outbox)
    citizen = chain.new_account().address
    start = chain.w3.eth.get_transaction_count(ledger.address, "pending")
    send_raw = chain.w3.eth.send_raw_transaction
    refusals = []

    def refuse_once(raw):
        if not refusals:
            refusals.append(raw)
            raise ValueError("rejected")
        return send_raw(raw)

    monkeypatch.setattr(chain.w3.eth, "send_raw_transaction", refuse_once)

    with pytest.raises(LedgerError) as info:
        ledger.award_points([ActivityAward(1, citizen, 10)], intent="refused")
    assert type(info.value) is TransactionFailed
    ledger.award_points([ActivityAward(2, citizen, 20)], intent="second")
    ledger.award_points([ActivityAward(3, citizen, 30)], intent="third")

    (refused,) = ledger.outbox_entries("refused")
    (second,) = ledger.outbox_entries("second")
    (third,) = ledger.outbox_entries("third")
    assert (refused.status, refused.nonce) == ("failed", start)
    assert (second.status, second.nonce) == ("mined", start)
    assert (third.status, third.nonce) == ("mined", start + 1)
    assert [chain.w3.eth.get_transaction(e.tx_hash)["nonce"] for e in (second, third)] == [start, start + 1]
    assert chain.w3.eth.get_transaction_count(ledger.address, "latest") == start + 2
    assert outbox.highest_nonce(ledger.address) == start + 1
    assert outbox.unsettled(ledger.address) == []
    assert ledger.balance_of(citizen) == 50
    assert ledger.last_activity_id() == 3
