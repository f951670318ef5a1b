"""The civic participation ledger's chain layer: the only package that imports web3.

The front door is :class:`Ledger` (every action and query in the city's words) opened by
:func:`open_ledger` from :class:`LedgerSettings`; everything it takes and returns is a typed
record from :mod:`ledger.records`, and every failure a :class:`LedgerError` (:mod:`ledger.errors`).
"""

from ._chain import Chain, load_artifact
from ._ledger import DEFAULT_CHUNK, Ledger, day_offset_of, new_citizen_account
from .config import LedgerSettings, connect, deploy_ledger, embedded_funder, load_signer, open_ledger
from .deployment import Deployment
from .errors import LedgerError
from .outbox import MemoryOutbox, Outbox, OutboxEntry
from .records import (
    ActivityAward,
    ActivityKindSet,
    AwardRecorded,
    AwardReversed,
    BadgeIssued,
    BadgeReissued,
    BadgeRevoked,
    BadgesMoved,
    ChainRecord,
    CitizenRebound,
    CityEvent,
    EventCreated,
    Finality,
    LimitsChanged,
    Metrics,
    OnChainRef,
    PauseChanged,
    PointsRedeemed,
    PointsTransferred,
    RebindingConsent,
    RecordsAnchored,
    RedemptionConsent,
    Role,
    RoleChanged,
    SignedVoucher,
    TxResult,
    Venue,
    checksum,
    finality,
)

__all__ = [
    "DEFAULT_CHUNK",
    "ActivityAward",
    "ActivityKindSet",
    "AwardRecorded",
    "AwardReversed",
    "BadgeIssued",
    "BadgeReissued",
    "BadgeRevoked",
    "BadgesMoved",
    "Chain",
    "ChainRecord",
    "CitizenRebound",
    "CityEvent",
    "Deployment",
    "EventCreated",
    "Finality",
    "Ledger",
    "LedgerError",
    "LedgerSettings",
    "LimitsChanged",
    "MemoryOutbox",
    "Metrics",
    "OnChainRef",
    "Outbox",
    "OutboxEntry",
    "PauseChanged",
    "PointsRedeemed",
    "PointsTransferred",
    "RebindingConsent",
    "RecordsAnchored",
    "RedemptionConsent",
    "Role",
    "RoleChanged",
    "SignedVoucher",
    "TxResult",
    "Venue",
    "checksum",
    "connect",
    "day_offset_of",
    "deploy_ledger",
    "embedded_funder",
    "finality",
    "load_artifact",
    "load_signer",
    "new_citizen_account",
    "open_ledger",
]
