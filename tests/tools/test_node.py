"""The local anvil node keeps the ledger's records across a restart."""

import pytest
from eth_account import Account

from devtools.node import ANVIL_DEV_KEY, AnvilNode, anvil_binary
from ledger import ActivityAward, Ledger, LedgerSettings, Venue, connect
from ledger.errors import ChainUnavailable, ConfigurationError


def _anvil_available() -> bool:
    try:
        anvil_binary()
    except ConfigurationError:
        return False
    return True


pytestmark = pytest.mark.skipif(not _anvil_available(), reason="anvil not installed (npm ci)")


def test_anvil_state_survives_a_restart(tmp_path):
    state = tmp_path / "state.json"
    with AnvilNode(state_path=state) as node:
        chain = connect(LedgerSettings(rpc_url=node.url))
        ledger = Ledger.deploy(chain, Account.from_key(ANVIL_DEV_KEY))
        citizen = "0x" + "ab" * 20
        ledger.award_points([ActivityAward(7, citizen, 120)])
        event_id, _ = ledger.create_event(Venue.PHYSICAL, 0, 2**34, 0)
        ledger.issue_badge(event_id, citizen)
        deployment = ledger.deployment
    assert state.exists()

    with AnvilNode(state_path=state) as node:
        chain = connect(LedgerSettings(rpc_url=node.url))
        reopened = Ledger(chain, deployment, Account.from_key(ANVIL_DEV_KEY))
        assert reopened.balance_of(citizen) == 120
        assert reopened.has_badge(event_id, citizen)
        found = reopened.activity(7)
        assert found is not None and found[0].points == 120
        assert reopened.last_activity_id() == 7
        # The signing key's nonce carries on from the node, not from zero.
        reopened.award_points([ActivityAward(8, citizen, 30)])
        assert reopened.balance_of(citizen) == 150


def test_anvil_that_cannot_start_reports_why(tmp_path):
    with AnvilNode() as first:
        clash = AnvilNode(port=first.port)
        with pytest.raises(ChainUnavailable, match="already in use"):
            clash.start(timeout=5)
