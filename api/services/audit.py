"""The whole-programme audit of the service's own chain (``ledger.audit``): what ``civic audit``
does, from the chain alone; the anchored records it checks are the service's own export (what an
auditor downloads from GET /v1/anchors/records). One audit at a time (it reads the whole chain);
the last one is kept for a minute, or for good when it was asked at a given block."""

from __future__ import annotations

import threading
import time

from ledger.audit import AuditReport, run_audit

from . import anchoring
from .context import Context
from .errors import Invalid

__all__ = ["KEEP_SECONDS", "report"]

#: How long the audit of the head is served again before a new one is made.
KEEP_SECONDS = 60.0
_lock = threading.Lock()
_last: tuple[float, int | None, AuditReport] | None = None


def report(ctx: Context, at_block: int | None = None) -> AuditReport:
    """The audit at ``at_block`` (default: the last final block)."""
    global _last
    deployment = ctx.ledger.deployment
    if at_block is not None and not deployment.block_number <= at_block <= ctx.ledger.head():
        raise Invalid(
            "block_out_of_range", f"block {at_block} is outside the programme (from {deployment.block_number})"
        )
    with _lock:
        now = time.monotonic()
        if _last is not None and _last[1] == at_block and (at_block is not None or now - _last[0] < KEEP_SECONDS):
            return _last[2]
        block = ctx.ledger.final_block() if at_block is None else at_block
        found = run_audit(ctx.ledger.chain, deployment, at_block=block, records_file=anchoring.export(ctx))
        _last = (now, at_block, found)
        return found
