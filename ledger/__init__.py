"""The civic participation ledger's chain layer: the only package that imports web3."""

from ._ledger import Ledger, load_artifact, new_citizen_account
from .config import LedgerSettings, connect, embedded_funder, load_signer
from .deployment import Deployment
from .errors import LedgerError
from .records import (
    ActivityAward,
    ActivityRecord,
    BadgeRecord,
    CityEvent,
    HistoryEntry,
    Metrics,
    OnChainRef,
    Redemption,
    RedemptionConsent,
    Reversal,
    Role,
    SignedVoucher,
    TxResult,
    Venue,
)

__all__ = [
    "ActivityAward",
    "ActivityRecord",
    "BadgeRecord",
    "CityEvent",
    "Deployment",
    "HistoryEntry",
    "Ledger",
    "LedgerError",
    "LedgerSettings",
    "Metrics",
    "OnChainRef",
    "Redemption",
    "RedemptionConsent",
    "Reversal",
    "Role",
    "SignedVoucher",
    "TxResult",
    "Venue",
    "connect",
    "embedded_funder",
    "load_artifact",
    "load_signer",
    "new_citizen_account",
]
