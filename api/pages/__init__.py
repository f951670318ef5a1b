"""Pages for people, served by the API service: public verification (``/``), citizens' pages
(``/me`` and below, ``/claim``), staff pages (``/staff`` and below) and the audit report
(``/audit``), in Korean and English, rendered on the server from Jinja2 templates with the
pages' own stylesheet and scripts (``/static/...``): nothing is loaded from another host.

``router`` holds every page route; the application includes it once.
"""

from __future__ import annotations

from fastapi import APIRouter

from . import citizen, public, staff

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
router.include_router(public.router)
router.include_router(citizen.router)
router.include_router(staff.router)
