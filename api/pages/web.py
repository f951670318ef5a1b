"""What every page shares: templates in the reader's language, cookies, CSRF, errors as pages.

Pages are rendered on the server from Jinja2 templates (``api/templates``) with messages from
Babel catalogues (``api/locales/<locale>/LC_MESSAGES/messages.po``, compiled in memory on first
use: no ``.mo`` file is kept). Korean is the default; ``?lang=en`` (the switch every page shows)
sets a cookie that keeps the choice.

Citizens' and staff's page sessions are the service's own credentials (a citizen session token,
a staff token) kept in HttpOnly, SameSite=Lax cookies (Secure when the public base URL is
https); every form POST carries a CSRF token bound to a per-browser cookie with an HMAC keyed by
the service's data key.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import logging
import secrets
from collections.abc import AsyncIterator, Callable, Coroutine
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, ClassVar
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from babel.dates import format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from babel.support import Translations
from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import ValidationError
from starlette.datastructures import FormData, UploadFile

from ledger import LedgerError

from ..services import auth
from ..services.auth import StaffPrincipal
from ..services.context import Context
from ..services.errors import ServiceError, classify
from ..services.indexer import Indexer
from ..services.intents import StillRunning
from ..store import Citizen
from .messages import ERRORS, NOTICES, error_text, field_problem

__all__ = [
    "DEFAULT_LOCALE",
    "LOCALES",
    "Detour",
    "FormDep",
    "Page",
    "PageDep",
    "PageRoute",
    "back_to",
    "translations",
]

log = logging.getLogger("civic.pages")

LOCALES = ("ko", "en")
DEFAULT_LOCALE = "ko"
_API = Path(__file__).resolve().parent.parent
TEMPLATES = _API / "templates"
STATIC = _API / "static"
LOCALE_DIR = _API / "locales"

LANG_COOKIE = "civic_lang"
CSRF_COOKIE = "civic_csrf"
CITIZEN_COOKIE = "civic_session"
STAFF_COOKIE = "civic_staff"
CSRF_FIELD = "csrf"


# ---------------------------------------------------------------------- messages


@lru_cache
def translations(locale: str) -> Translations:
    """The locale's catalogue, compiled from its .po file in memory (English: the msgids)."""
    po = LOCALE_DIR / locale / "LC_MESSAGES" / "messages.po"
    if not po.exists():
        return Translations()
    with po.open("rb") as handle:
        catalog = read_po(handle, locale=locale)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(fp=buffer, domain="messages")


@lru_cache
def environment(locale: str) -> Environment:
    """One template environment per locale (translations are installed once, never per request)."""
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=select_autoescape(["html"]),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_translations(translations(locale), newstyle=True)  # type: ignore[attr-defined]
    return env


class Formats:
    """Dates in the city's time zone and numbers, as the reader's locale writes them."""

    _PATTERNS: ClassVar[dict[str, str]] = {"ko": "yyyy년 M월 d일 aaaa h:mm", "en": "d MMM yyyy, HH:mm"}
    _DAY: ClassVar[dict[str, str]] = {"ko": "yyyy년 M월 d일", "en": "d MMM yyyy"}

    def __init__(self, locale: str, zone: ZoneInfo) -> None:
        self.locale = locale
        self.zone = zone

    def when(self, value: datetime | int | None) -> str:
        if value is None:
            return "—"
        if isinstance(value, int):
            value = datetime.fromtimestamp(value, UTC)
        return format_datetime(value, self._PATTERNS[self.locale], tzinfo=self.zone, locale=self.locale)

    def day(self, value: datetime | int | None) -> str:
        if value is None:
            return "—"
        if isinstance(value, int):
            value = datetime.fromtimestamp(value, UTC)
        return format_datetime(value, self._DAY[self.locale], tzinfo=self.zone, locale=self.locale)

    def iso(self, value: datetime | int | None) -> str:
        if value is None:
            return ""
        if isinstance(value, int):
            value = datetime.fromtimestamp(value, UTC)
        return value.astimezone(UTC).isoformat()

    def local_input(self, value: datetime | int | None) -> str:
        """A value for ``<input type=datetime-local>`` in the city's time zone."""
        if value is None:
            return ""
        if isinstance(value, int):
            value = datetime.fromtimestamp(value, UTC)
        return value.astimezone(self.zone).strftime("%Y-%m-%dT%H:%M")

    def number(self, value: int | float | None) -> str:
        return "—" if value is None else format_decimal(value, locale=self.locale)

    def signed(self, value: int) -> str:
        return ("+" if value > 0 else "") + format_decimal(value, locale=self.locale)

    @staticmethod
    def short(value: str | None, keep: int = 6) -> str:
        if not value:
            return ""
        return value if len(value) <= 2 + 2 * keep else f"{value[: 2 + keep]}…{value[-keep:]}"


# ---------------------------------------------------------------------- the page of a request


def safe_next(target: str | None, default: str = "/me") -> str:
    """A path on this site to go back to after signing in (never another host)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target


class Page:
    """One request's page: its language, its reader (a citizen, staff, or nobody), its CSRF
    token and the cookies to set on the answer."""

    def __init__(self, request: Request, ctx: Context, indexer: Indexer) -> None:
        self.request = request
        self.ctx = ctx
        self.indexer = indexer
        asked = request.query_params.get("lang")
        kept = request.cookies.get(LANG_COOKIE)
        self.locale = asked if asked in LOCALES else kept if kept in LOCALES else DEFAULT_LOCALE
        self._cookies: dict[str, tuple[str, int | None, bool]] = {}
        self._cleared: set[str] = set()
        if asked in LOCALES and asked != kept:
            self._cookies[LANG_COOKIE] = (asked, 365 * 24 * 3600, True)
        seed = request.cookies.get(CSRF_COOKIE, "")
        if len(seed) < 20:
            seed = secrets.token_urlsafe(24)
            self._cookies[CSRF_COOKIE] = (seed, None, True)
        self._csrf_seed = seed
        self._citizen: Citizen | bool | None = False
        self._staff: StaffPrincipal | bool | None = False
        self.zone = ZoneInfo(ctx.ledger.deployment.time_zone)
        self.fmt = Formats(self.locale, self.zone)

    # -------------------------------------------------------------- language

    def _(self, message: str, **values: Any) -> str:
        text: str = translations(self.locale).ugettext(message)
        return text % values if values else text

    def lang_url(self, locale: str) -> str:
        query = [(k, v) for k, v in self.request.query_params.multi_items() if k not in ("lang", "done")]
        return self.request.url.path + "?" + urlencode([*query, ("lang", locale)])

    # -------------------------------------------------------------- who is reading

    @property
    def secure(self) -> bool:
        return self.ctx.settings.public_base_url.lower().startswith("https://")

    @property
    def citizen(self) -> Citizen | None:
        if self._citizen is False:
            token = self.request.cookies.get(CITIZEN_COOKIE)
            self._citizen = None
            if token:
                try:
                    self._citizen = auth.authenticate_citizen(self.ctx, token)
                except ServiceError:
                    self.clear_cookie(CITIZEN_COOKIE)
        return self._citizen  # type: ignore[return-value]

    @property
    def staff(self) -> StaffPrincipal | None:
        if self._staff is False:
            token = self.request.cookies.get(STAFF_COOKIE)
            self._staff = None
            if token:
                try:
                    self._staff = auth.authenticate_staff(self.ctx, token)
                except ServiceError:
                    self.clear_cookie(STAFF_COOKIE)
        return self._staff  # type: ignore[return-value]

    def session_token(self, name: str = CITIZEN_COOKIE) -> str | None:
        return self.request.cookies.get(name)

    def principal(self, role: str = "citizen") -> str:
        """Whose Idempotency keys a page's chain work is recorded under."""
        token = self.request.cookies.get(CITIZEN_COOKIE if role == "citizen" else STAFF_COOKIE, "")
        return "page:" + hashlib.sha256(token.encode()).hexdigest()[:32]

    # -------------------------------------------------------------- cookies and CSRF

    def set_cookie(self, name: str, value: str, max_age: int | None = None) -> None:
        self._cookies[name] = (value, max_age, True)
        self._cleared.discard(name)

    def clear_cookie(self, name: str) -> None:
        self._cookies.pop(name, None)
        self._cleared.add(name)

    def _csrf_key(self) -> bytes:
        secret = self.ctx.settings.data_key.get_secret_value() if self.ctx.settings.data_key else ""
        return hashlib.sha256(b"civic-pages-csrf:" + secret.encode()).digest()

    @property
    def csrf_token(self) -> str:
        return hmac.new(self._csrf_key(), self._csrf_seed.encode(), hashlib.sha256).hexdigest()

    def csrf_valid(self, token: str | None) -> bool:
        return bool(token) and CSRF_COOKIE in self.request.cookies and hmac.compare_digest(token or "", self.csrf_token)

    def finish(self, response: Response) -> Response:
        for name, (value, max_age, http_only) in self._cookies.items():
            response.set_cookie(
                name, value, max_age=max_age, httponly=http_only, samesite="lax", secure=self.secure, path="/"
            )
        for name in self._cleared:
            response.delete_cookie(name, path="/", samesite="lax", secure=self.secure, httponly=True)
        return response

    # -------------------------------------------------------------- answers

    def render(self, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        done = self.request.query_params.get("done")
        values = {
            "page": self,
            "fmt": self.fmt,
            "locale": self.locale,
            "notice": self._(NOTICES[done]) if done in NOTICES and "notice" not in context else None,
            "city": self.ctx.settings.issuer_name,
            "errors": {},
            "values": {},
            "error": None,
            "idem": secrets.token_urlsafe(12),
            **context,
        }
        html = environment(self.locale).get_template(template).render(**values)
        response = HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store"})
        self.finish(response)
        return response

    def redirect(self, url: str) -> Response:
        return self.finish(RedirectResponse(url, status_code=303))

    def json(self, body: Any, status: int = 200) -> Response:
        return self.finish(
            Response(
                json.dumps(body, default=str),
                status_code=status,
                media_type="application/json",
                headers={"Cache-Control": "no-store"},
            )
        )

    def error_text(self, exc: BaseException) -> str:
        return error_text(self, exc)

    def says(self, code: str) -> str:
        """The message for an error ``code`` in the page's language."""
        return self._(ERRORS[code])

    def field_errors(self, exc: ValidationError, names: dict[str, str] | None = None) -> dict[str, str]:
        """Pydantic's problems with a form, per form field, in the page's language."""
        found: dict[str, str] = {}
        for problem in exc.errors():
            location = [str(p) for p in problem.get("loc", ()) if not isinstance(p, int)]
            field = location[0] if location else "__all__"
            field = (names or {}).get(field, field)
            found.setdefault(field, field_problem(self, dict(problem)))
        return found

    def problem(self, template: str, status: int, message: str, **context: Any) -> HTMLResponse:
        return self.render(template, status=status, error=message, **context)


def _page(request: Request) -> Page:
    page = getattr(request.state, "page", None)
    if page is None:
        page = Page(request, request.app.state.ctx, request.app.state.indexer)
        request.state.page = page
    return page


PageDep = Annotated[Page, Depends(_page)]


def back_to(target: str) -> Callable[[Request], Response]:
    """A GET handler for a path that only takes form POSTs (the language switch on a page a form
    answered leads there): it goes to the page the form belongs to, keeping ``?lang=``."""

    def handler(request: Request) -> Response:
        page = _page(request)
        path = target.format(**request.path_params)
        return page.redirect(path)

    return handler


class Detour(Exception):
    """A page's answer given before its work (sign in first, or not for this reader's role):
    raised by a page's guard, answered by :class:`PageRoute` as it is."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


class CsrfRefused(Exception):
    """A form POST without the page's CSRF token (an old page, or another site's form)."""


async def _form(request: Request) -> AsyncIterator[FormData]:
    page = _page(request)
    form = await request.form(max_files=4, max_fields=200)
    try:
        token = form.get(CSRF_FIELD) or request.headers.get("x-csrf-token")
        if not isinstance(token, str) or not page.csrf_valid(token):
            raise CsrfRefused()
        yield form
    finally:
        await form.close()


FormDep = Annotated[FormData, Depends(_form)]


def text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def upload(form: FormData, name: str) -> UploadFile | None:
    value = form.get(name)
    if isinstance(value, UploadFile) and (value.filename or value.size):
        return value
    return None


class PageRoute(APIRoute):
    """A page route: failures nobody handled become a page in the reader's language (not the
    API's JSON), and chain work still running says so."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        original = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                return await original(request)
            except Detour as detour:
                return detour.response
            except CsrfRefused:
                page = _page(request)
                return page.render(
                    "error.html",
                    status=403,
                    title=page._("This form has expired"),
                    error=page._("The form was opened too long ago or on another site. Reload the page and try again."),
                )
            except StillRunning:
                page = _page(request)
                return page.render(
                    "error.html",
                    status=202,
                    title=page._("Still working on it"),
                    error=page._(
                        "The blockchain is taking longer than usual. Your request goes on: reload this page in a "
                        "minute to see the result."
                    ),
                )
            except (ServiceError, LedgerError) as exc:
                page = _page(request)
                failure = classify(exc)
                from ..errors import STATUS

                return page.render(
                    "error.html",
                    status=STATUS[failure.kind],
                    title=page._("Something went wrong"),
                    error=page.error_text(exc),
                )

        return handler
