"""The audit of the whole programme on the service's own chain, from the chain alone (the same
checks as ``civic audit``): report.json, records.csv and report.html. Public: anyone may audit
the programme; the answer is kept a minute (see ``services.audit``)."""

from __future__ import annotations

import io
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, Response

from ledger.audit import render_html, write_records_csv

from ..deps import CtxDep, rate_limited
from ..services import audit

router = APIRouter(prefix="/audit", tags=["audit"], dependencies=[rate_limited("public", public=True)])

AtBlock = Annotated[int | None, Query(ge=0, description="the block to audit (default: the last final block)")]


@router.get("", response_model=dict[str, Any])
def audit_report(ctx: CtxDep, at_block: AtBlock = None) -> dict[str, Any]:
    """Every finding with its ``kind``, the record or block it concerns and its evidence; the
    checks made; totals per kind, week, event and reward; the code check; role holders over time;
    anchored periods (``clean`` is true when no finding is an error)."""
    return audit.report(ctx, at_block).as_json()


@router.get("/report.html", response_class=HTMLResponse)
def audit_html(ctx: CtxDep, at_block: AtBlock = None) -> HTMLResponse:
    """The report to read and print (Korean and English, charts drawn inline)."""
    return HTMLResponse(render_html(audit.report(ctx, at_block)))


@router.get("/records.csv")
def audit_records(ctx: CtxDep, at_block: AtBlock = None) -> Response:
    """Every record the audit read, one a row, with its on-chain reference."""
    buffer = io.StringIO()
    write_records_csv(audit.report(ctx, at_block), buffer)
    return Response(
        buffer.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="records.csv"'},
    )
