"""The auditor's toolkit: the whole programme verified from the chain alone.

:func:`run_audit` needs a chain (a JSON-RPC node, or the embedded chain's :class:`ledger.Chain`)
and the deployment record (:class:`ledger.Deployment`), never the city's database. It scans every
log of the three contracts, rebuilds balances, badges, roles and limits from them, and checks
them against the contracts' state at the audited block, every act's sender against the roles
held at its block, the limits in force, each award batch's Merkle root, the code at each address
against the committed sources (Sourcify-style), and the anchored off-chain records.
:func:`write_outputs` writes ``report.json``, ``records.csv`` and ``report.html``.
"""

from .._reader import AuditNodeError, NodeReader, ScanStats
from ._audit import ARTIFACTS, run_audit
from .code import CodeMatch, compare_code, split_metadata
from .html import render_html
from .report import (
    CHECKS,
    FINDING_KINDS,
    REPORT_FORMAT,
    AuditReport,
    CheckResult,
    Finding,
    write_outputs,
    write_records_csv,
)

__all__ = [
    "ARTIFACTS",
    "CHECKS",
    "FINDING_KINDS",
    "REPORT_FORMAT",
    "AuditNodeError",
    "AuditReport",
    "CheckResult",
    "CodeMatch",
    "Finding",
    "NodeReader",
    "ScanStats",
    "compare_code",
    "render_html",
    "run_audit",
    "split_metadata",
    "write_outputs",
    "write_records_csv",
]
