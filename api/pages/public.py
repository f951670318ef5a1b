"""Public pages: verification (anyone, no account), the audit report, and the pages' assets."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from fastapi import APIRouter
from fastapi.responses import FileResponse, Response

from ledger import LedgerError

from ..deps import rate_limited
from ..errors import STATUS
from ..services.errors import Invalid, NotFound, ServiceError, classify
from ..services.metadata import token_id
from .views import activity_view, badge_view, citizen_view, event_view
from .web import STATIC, PageDep, PageRoute

__all__ = ["AUDIT_REPORT_ENV", "parse_lookup", "router"]

router = APIRouter(include_in_schema=False, route_class=PageRoute)

_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")


def parse_lookup(text: str) -> tuple[str, Any]:
    """What someone typed or scanned: an address (or an ``ethereum:`` URI), an activity id, or
    a link to a badge (this site's badge, proof, credential or verification links, or badge
    metadata). Returns (kind, value); raises ``Invalid("invalid_lookup")``."""
    text = text.strip()
    if text.lower().startswith("ethereum:"):
        text = re.split(r"[@/?]", text[len("ethereum:") :], maxsplit=1)[0]
    if _ADDRESS.fullmatch(text):
        return "citizen", text
    if text.isdigit() and len(text) <= 19:
        return "activity", int(text)
    match = re.search(r"/(?:badges|events)/(\d{1,19})/(?:badges/)?(0x[0-9a-fA-F]{40})", text)
    if match:
        return "badge", (int(match.group(1)), match.group(2))
    if "://" in text or text.startswith(("/", "?")):
        query = parse_qs(urlparse(text).query)
        event, address = query.get("event", [""])[0], query.get("address", [""])[0]
        activity = query.get("activity", [""])[0]
        if event.isdigit() and _ADDRESS.fullmatch(address):
            return "badge", (int(event), address)
        if event.isdigit():
            return "event", int(event)
        if _ADDRESS.fullmatch(address):
            return "citizen", address
        if activity.isdigit():
            return "activity", int(activity)
        if query.get("q"):
            return parse_lookup(query["q"][0])
        match = re.search(r"/badges/([0-9a-fA-F]{64}|\d{1,19})\.(?:json|svg)", text)
        if match:
            try:
                return "event", token_id(match.group(1))
            except ServiceError:
                pass
        match = re.search(r"/activities/(\d{1,19})", text)
        if match:
            return "activity", int(match.group(1))
    raise Invalid("invalid_lookup", "enter an address, an activity id or a badge link")


@router.get("/", dependencies=[rate_limited("public", public=True)])
def verify_page(page: PageDep, q: str = "", address: str = "", activity: str = "", event: str = "") -> Response:
    """Anyone checks a citizen's points and badges, an award, or a badge; nothing personal shown."""
    query = q.strip()
    if not query:
        if event.isdigit() and address:
            query = f"/?event={event}&address={address}"
        elif event.isdigit():
            query = f"/?event={event}"
        elif address:
            query = address
        elif activity:
            query = activity
    shown = q.strip() or address or activity or (f"/?event={event}" if event else "")
    result = None
    error = None
    status = 200
    if query:
        try:
            kind, value = parse_lookup(query)
            if kind == "citizen":
                result = citizen_view(page, value)
            elif kind == "activity":
                result = activity_view(page, value)
            elif kind == "badge":
                result = badge_view(page, *value)
            else:
                result = event_view(page, value)
        except (ServiceError, LedgerError) as exc:
            error = page.error_text(exc)
            status = STATUS[classify(exc).kind]
    return page.render(
        "public/verify.html",
        status=status,
        title=page._("Verify points and badges"),
        section="verify",
        query=shown,
        result=result,
        error=error,
    )


# ---------------------------------------------------------------------- the audit report

#: Where the latest audit report lives (a directory holding ``report.json`` and its charts),
#: until the service's settings name it.
AUDIT_REPORT_ENV = "CIVIC_AUDIT_REPORT_DIR"


def _report_dir() -> Path | None:
    configured = os.environ.get(AUDIT_REPORT_ENV)
    if not configured:
        return None
    path = Path(configured)
    return path if path.is_dir() else None


def _report(directory: Path | None) -> dict[str, Any] | None:
    if directory is None or not (directory / "report.json").is_file():
        return None
    try:
        data = json.loads((directory / "report.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else {"report": data}


_CHART = re.compile(r"^[A-Za-z0-9._-]+\.(svg|png)$")
#: The files ``civic audit --out DIR`` writes, served as they are (the HTML report holds its charts).
_REPORT_FILES = {
    "report.html": "text/html; charset=utf-8",
    "report.json": "application/json",
    "records.csv": "text/csv; charset=utf-8",
}


@router.get("/audit")
def audit_page(page: PageDep) -> Response:
    """The latest audit report (when one was published) and how to run the same audit yourself."""
    directory = _report_dir()
    report = _report(directory)
    charts = sorted(p.name for p in directory.iterdir() if _CHART.match(p.name)) if directory else []
    files = [name for name in _REPORT_FILES if directory and (directory / name).is_file()]
    checks = []
    if report is not None and isinstance(report.get("checks"), list):
        for check in report["checks"]:
            if isinstance(check, dict):
                title = check.get("title_ko") if page.locale == "ko" and check.get("title_ko") else check.get("title")
                checks.append(
                    {
                        "label": str(title or check.get("name", "")),
                        "outcome": {"skipped": "unknown"}.get(str(check.get("outcome")), str(check.get("outcome"))),
                        "detail": str(check.get("detail", "")),
                    }
                )
    summary = (
        {k: report.get(k) for k in ("clean", "errors", "warnings", "audited_block", "generated_at")} if report else {}
    )
    sections = []
    if report is not None and not checks:
        for key, value in report.items():
            sections.append({"key": key, "value": value, "text": json.dumps(value, indent=2, ensure_ascii=False)})
    return page.render(
        "public/audit.html",
        title=page._("Audit"),
        section="audit",
        report=report,
        summary=summary,
        checks=checks,
        sections=sections,
        charts=charts,
        files=files,
        deployment=page.ctx.ledger.deployment,
    )


@router.get("/audit/files/{name}")
def audit_file(name: str) -> Response:
    directory = _report_dir()
    if directory is None or not (_CHART.match(name) or name in _REPORT_FILES) or not (directory / name).is_file():
        raise NotFound("record_not_found", "no such file in the audit report")
    media = _REPORT_FILES.get(name) or ("image/svg+xml" if name.endswith(".svg") else "image/png")
    headers = {"Content-Disposition": f'attachment; filename="{name}"'} if name.endswith((".json", ".csv")) else None
    return FileResponse(directory / name, media_type=media, headers=headers)


# ---------------------------------------------------------------------- assets

_ASSET = re.compile(r"^[a-z0-9-]+\.(css|js|svg|png|ico)$")
_TYPES = {"css": "text/css", "js": "text/javascript", "svg": "image/svg+xml", "png": "image/png", "ico": "image/x-icon"}


@router.get("/static/{name}")
def static_file(name: str) -> Response:
    """The pages' own stylesheet, scripts and images (nothing is loaded from another host)."""
    path = STATIC / name
    if not _ASSET.match(name) or not path.is_file():
        raise NotFound("not_found", "no such file")
    media = _TYPES[name.rsplit(".", 1)[1]]
    if media.startswith("text/"):
        media += "; charset=utf-8"
    return FileResponse(path, media_type=media, headers={"Cache-Control": "public, max-age=300"})
