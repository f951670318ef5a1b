"""Staff pages (``/staff`` and below), signed in with a staff API token: events and the venue
kiosk, the review queue with its evidence, badge issuance from a CSV file with a preview,
revocation and reversal with reasons, roles and staff tokens, rewards, citizens' sign-in cards,
and pausing the programme.

Each page admits the roles the matching API route admits, and every act calls the same service.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import quote

import segno
from fastapi import APIRouter
from fastapi.responses import Response
from markupsafe import Markup, escape
from pydantic import ValidationError

from ledger import LedgerError

from ..deps import rate_limited
from ..presenters import claim_public, event_public, reward_public
from ..routes.citizens import _card as card_public
from ..routes.events import event_draft
from ..schemas import CitizenCreate, EventCreate, ReviewCreate, RewardCreate, RewardUpdate, RoleChange, StaffTokenCreate
from ..services import admin, auth, citizens, claims, events, evidence, rewards
from ..services.auth import STAFF_ROLES, StaffPrincipal
from ..services.errors import Invalid, ServiceError
from ..services.intents import outcome, submit
from ..services.rewards import RewardChange
from ..store import ClaimStatus
from .messages import N_, REASONS
from .views import activity_view, event_title
from .web import (
    LOCALES,
    STAFF_COOKIE,
    Detour,
    FormDep,
    Page,
    PageDep,
    PageRoute,
    back_to,
    safe_next,
    text,
    translations,
    upload,
)

__all__ = ["qr_svg", "router"]

router = APIRouter(include_in_schema=False, route_class=PageRoute)

#: What each staff page needs (admin is admitted everywhere), as the API's routes.
ISSUER = ("issuer",)
MINTER = ("minter",)
READER = ("minter", "issuer")
PAUSER = ("pauser",)
ADMIN: tuple[str, ...] = ()


def qr_svg(data: str, label: str) -> Markup:
    """A QR code of ``data`` as inline SVG (scales to its box; no image file, no other host)."""
    svg = segno.make(data, error="m").svg_inline(scale=1, border=3, omitsize=True, dark="#000", light="#fff")
    return Markup(svg.replace("<svg ", f'<svg role="img" aria-label="{escape(label)}" ', 1))


def _guard(page: Page, *roles: str) -> StaffPrincipal:
    """The signed-in staff member if their role may use the page; else a :class:`Detour` to
    sign-in or to a refusal."""
    staff = page.staff
    if staff is None:
        target = page.request.url.path
        raise Detour(page.redirect("/staff?next=" + quote(target, safe="")))
    if not staff.may(*roles):
        raise Detour(
            page.render(
                "error.html",
                status=403,
                title=page._("Not for your role"),
                error=page._("This page needs one of these roles: %(roles)s.", roles=", ".join(("admin", *roles))),
                section="staff",
            )
        )
    return staff


def _show(
    page: Page, staff: StaffPrincipal, template: str, title: str, here: str, status: int = 200, **context: Any
) -> Response:
    """A staff page in the staff section, with the menu's place ``here`` and the reasons' list."""
    return page.render(
        template, status=status, title=title, section="staff", here=here, staff=staff, reasons=_reasons(page), **context
    )


def _get(path: str, roles: tuple[str, ...], build: Callable[[Page, StaffPrincipal], Response]) -> None:
    """A GET route that shows ``build``'s page as it is, to staff whose role may see it."""

    def show(page: PageDep) -> Response:
        return build(page, _guard(page, *roles))

    router.add_api_route(path, show, methods=["GET"], name=build.__name__.strip("_"))


def _reasons(page: Page) -> list[tuple[int, str]]:
    return [(code, f"{code} — {page._(label)}") for code, label in REASONS.items()]


def _key(page: Page, form: Any, what: str) -> str:
    return f"{what}:{text(form, 'idem') or datetime.now().isoformat()}"


# ---------------------------------------------------------------------- signing in and the dashboard


@router.get("/staff")
def staff_home(page: PageDep, next: str = "") -> Response:
    staff = page.staff
    if staff is None:
        return page.render(
            "staff/sign_in.html", title=page._("Staff sign-in"), section="staff", next=safe_next(next, "/staff")
        )
    health = admin.health(page.ctx, page.indexer)
    held = len(claims.for_review(page.ctx, ClaimStatus.HELD)) if staff.may(*MINTER) else None
    return _show(page, staff, "staff/home.html", page._("Staff"), "home", health=health, held=held)


@router.post("/staff/sign-in", dependencies=[rate_limited("sign-in")])
def staff_sign_in(page: PageDep, form: FormDep) -> Response:
    token = text(form, "token")
    target = safe_next(text(form, "next"), "/staff")
    try:
        if not token.startswith("staff_"):
            raise Invalid("invalid_token", "not a staff token")
        auth.authenticate_staff(page.ctx, token)
    except ServiceError as exc:
        return page.render(
            "staff/sign_in.html",
            status=401,
            title=page._("Staff sign-in"),
            section="staff",
            next=target,
            error=page.error_text(exc),
        )
    page.set_cookie(STAFF_COOKIE, token, max_age=page.ctx.settings.session_ttl_seconds)
    return page.redirect(target + ("&" if "?" in target else "?") + "done=staff_signed_in")


@router.post("/staff/sign-out")
def staff_sign_out(page: PageDep, form: FormDep) -> Response:
    del form
    page.clear_cookie(STAFF_COOKIE)
    return page.redirect("/staff?done=signed_out")


@router.post("/staff/pause")
def pause(page: PageDep, form: FormDep) -> Response:
    staff = _guard(page, *PAUSER)
    paused = text(form, "paused") == "yes"
    try:
        admin.pause(page.ctx, paused, principal=page.principal("staff"), key=_key(page, form, "pause"))
    except (ServiceError, LedgerError) as exc:
        health = admin.health(page.ctx, page.indexer)
        return _show(
            page,
            staff,
            "staff/home.html",
            page._("Staff"),
            "home",
            409,
            health=health,
            held=None,
            error=page.error_text(exc),
        )
    return page.redirect("/staff?done=" + ("paused" if paused else "unpaused"))


# ---------------------------------------------------------------------- events


def _events_page(page: Page, staff: StaffPrincipal, status: int = 200, **context: Any) -> Response:
    rows = events.list_events(page.ctx)
    counts, now = events.attendee_counts(page.ctx, rows), page.ctx.ledger.chain_time()
    listed = [event_public(page.ctx, r, counts[r.id], now) for r in rows][::-1]
    context.setdefault("values", {"venue": "physical", "capacity": "0"})
    return _show(page, staff, "staff/events.html", page._("Events"), "events", status, events=listed, **context)


_get("/staff/events", READER, _events_page)


def _local(page: Page, value: str) -> datetime | str:
    """A ``datetime-local`` value read in the city's time zone (the text itself if it is not one)."""
    try:
        return datetime.fromisoformat(value).replace(tzinfo=page.zone)
    except ValueError:
        return value


@router.post("/staff/events")
def create_event(page: PageDep, form: FormDep) -> Response:
    staff = _guard(page, *ISSUER)
    fields = ("title", "title_en", "description", "description_en", "venue", "claim_start", "claim_end", "capacity")
    values = {k: text(form, k) for k in fields}
    try:
        body = EventCreate(
            title=values["title"],
            title_en=values["title_en"] or None,
            description=values["description"],
            description_en=values["description_en"] or None,
            venue=values["venue"],  # type: ignore[arg-type]
            claim_start=_local(page, values["claim_start"]),  # type: ignore[arg-type]
            claim_end=_local(page, values["claim_end"]),  # type: ignore[arg-type]
            capacity=int(values["capacity"]) if values["capacity"].isdigit() else values["capacity"] or 0,  # type: ignore[arg-type]
        )
    except ValidationError as exc:
        return _events_page(
            page,
            staff,
            422,
            values=values,
            errors=page.field_errors(exc),
            error=page._("Please correct the fields marked below."),
        )
    try:
        row = events.create(
            page.ctx, event_draft(body), principal=page.principal("staff"), key=_key(page, form, "event")
        )
    except (ServiceError, LedgerError) as exc:
        return _events_page(page, staff, 409, values=values, error=page.error_text(exc))
    return page.redirect(f"/staff/events/{row.id}?done=event_created")


def _event_page(page: Page, staff: StaffPrincipal, event_id: int, status: int = 200, **context: Any) -> Response:
    row = events.get(page.ctx, event_id)
    shown = event_public(page.ctx, row, page.ctx.ledger.city_event(event_id).attendees, page.ctx.ledger.chain_time())
    return _show(
        page,
        staff,
        "staff/event.html",
        event_title(page, event_id),
        "events",
        status,
        event=shown,
        event_title=event_title(page, event_id),
        **context,
    )


@router.get("/staff/events/{event_id}")
def event_page(event_id: int, page: PageDep) -> Response:
    staff = _guard(page, *READER)
    return _event_page(page, staff, event_id)


@router.post("/staff/events/{event_id}/issue/preview")
def issue_preview(event_id: int, page: PageDep, form: FormDep) -> Response:
    """Reads the uploaded CSV file and shows who would get the badge, before anything is sent."""
    staff = _guard(page, *ISSUER)
    file = upload(form, "file")
    try:
        if file is None:
            raise Invalid("invalid_csv", "choose a CSV file")
        entries = events.attendees_from_csv(file.file.read(), page.ctx.settings.max_csv_rows)
        addresses = events.resolve_attendees(page.ctx, entries)
    except ServiceError as exc:
        return _event_page(page, staff, event_id, 422, issue_error=page.error_text(exc))
    row = events.get(page.ctx, event_id)
    attendees = page.ctx.ledger.city_event(event_id).attendees
    return _show(
        page,
        staff,
        "staff/issue_preview.html",
        page._("Check before issuing"),
        "events",
        event=row,
        event_title=event_title(page, event_id),
        entries=len(entries),
        addresses=addresses,
        duplicates=len(entries) - len(addresses),
        places=(row.capacity - attendees) if row.capacity else None,
        filename=file.filename if file else "",
    )


@router.post("/staff/events/{event_id}/issue")
def issue(event_id: int, page: PageDep, form: FormDep) -> Response:
    staff = _guard(page, *ISSUER)
    entries = text(form, "attendees").replace(",", " ").split()
    try:
        answer = events.issue(
            page.ctx, event_id, entries, principal=page.principal("staff"), key=_key(page, form, "issue")
        )
    except (ServiceError, LedgerError) as exc:
        return _event_page(page, staff, event_id, 409, issue_error=page.error_text(exc))
    return _event_page(page, staff, event_id, issued=answer, notice=page._("The badges were issued."))


@router.post("/staff/events/{event_id}/badges")
def badge_act(event_id: int, page: PageDep, form: FormDep) -> Response:
    """Revokes a badge, or issues a revoked one again, with a reason."""
    staff = _guard(page, *ISSUER)
    act = text(form, "act")
    address = text(form, "address")
    reason = text(form, "reason_code")
    values = {"address": address, "reason_code": reason}
    try:
        if not reason.isdigit() or not 0 <= int(reason) <= 65_535:
            raise Invalid("invalid_request", "choose a reason")
        do = events.reissue if act == "reissue" else events.revoke
        do(page.ctx, event_id, address, int(reason), principal=page.principal("staff"), key=_key(page, form, act))
    except (ServiceError, LedgerError) as exc:
        return _event_page(page, staff, event_id, 409, badge_values=values, badge_error=page.error_text(exc))
    return page.redirect(f"/staff/events/{event_id}?done=" + ("reissued" if act == "reissue" else "revoked"))


# ---------------------------------------------------------------------- the venue kiosk


def _kiosk_code(page: Page, event_id: int) -> dict[str, Any]:
    code = events.new_claim_code(page.ctx, event_id, single_use=True)
    return {
        "code": code.code,
        "url": code.claim_url,
        "expires_at": code.expires_at.isoformat(),
        "svg": str(qr_svg(code.claim_url, page._("QR code to claim the badge"))),
    }


def _kiosk_interval(page: Page) -> float:
    """Codes are replaced at half their lifetime, so a code scanned just before it changes
    still has half its lifetime left to be claimed."""
    return max(2.0, page.ctx.settings.kiosk_code_ttl_seconds / 2)


@router.get("/staff/events/{event_id}/kiosk")
def kiosk(event_id: int, page: PageDep) -> Response:
    """The full-screen venue screen: a QR code of a new single-use claim code every few seconds."""
    _guard(page, *ISSUER)
    first: dict[str, Any] | None = None
    error = None
    try:
        first = _kiosk_code(page, event_id)
    except ServiceError as exc:
        error = page.error_text(exc)
    scan = N_("Scan the code with your phone's camera to claim your badge.")
    return page.render(
        "staff/kiosk.html",
        title=event_title(page, event_id),
        event_id=event_id,
        event_title=event_title(page, event_id),
        first=first,
        error=error,
        interval=_kiosk_interval(page),
        instructions=[
            (loc, translations(loc).ugettext(scan)) for loc in sorted(LOCALES, key=lambda x: x != page.locale)
        ],
    )


@router.post("/staff/events/{event_id}/kiosk/code")
def kiosk_code(event_id: int, page: PageDep, form: FormDep) -> Response:
    del form
    staff = page.staff
    if staff is None or not staff.may(*ISSUER):
        return page.json({"error": page.says("forbidden")}, status=403)
    try:
        return page.json(_kiosk_code(page, event_id))
    except ServiceError as exc:
        return page.json({"error": page.error_text(exc)}, status=409)


# ---------------------------------------------------------------------- review


def _review_page(page: Page, staff: StaffPrincipal, status: int = 200, **context: Any) -> Response:
    final_block = page.ctx.ledger.final_block()
    queue = []
    for view in claims.for_review(page.ctx, ClaimStatus.HELD):
        files = evidence.for_claim(page.ctx, view.claim)
        track = None
        if files["track"] is not None and files["track"].content is not None:
            try:
                track = evidence.summarise_track(files["track"].content)
            except ServiceError:
                track = None
        profile = citizens.profile(page.ctx, citizens.get(page.ctx, view.claim.citizen_id))
        queue.append(
            {
                "claim": claim_public(page.ctx, view, final_block=final_block, reviews=True),
                "row": view.claim,
                "photo": files["photo"],
                "track_file": files["track"],
                "track": track,
                "name": profile.display_name,
                "address": profile.citizen.address,
            }
        )
    approved = len(claims.for_review(page.ctx, ClaimStatus.APPROVED))
    return _show(
        page,
        staff,
        "staff/review.html",
        page._("Review queue"),
        "review",
        status,
        queue=queue,
        approved=approved,
        **context,
    )


_get("/staff/review", MINTER, _review_page)


@router.post("/staff/review/{claim_id}")
def review(claim_id: int, page: PageDep, form: FormDep) -> Response:
    staff = _guard(page, *MINTER)
    try:
        body = ReviewCreate(decision=text(form, "decision"), reason=text(form, "reason"))  # type: ignore[arg-type]
    except ValidationError as exc:
        return _review_page(page, staff, 422, review_errors={claim_id: page.field_errors(exc)})
    try:
        claims.review(page.ctx, claim_id, body.decision, body.reason, staff.name)
    except ServiceError as exc:
        return _review_page(page, staff, 409, error=page.error_text(exc))
    return page.redirect("/staff/review?done=reviewed")


@router.post("/staff/review-settle")
def settle_now(page: PageDep, form: FormDep) -> Response:
    """Awards every approved claim now (as POST /v1/awards/flush)."""
    staff = _guard(page, *MINTER)
    try:
        outcome(
            page.ctx, submit(page.ctx, "settle", {}, principal=page.principal("staff"), key=_key(page, form, "settle"))
        )
    except (ServiceError, LedgerError) as exc:
        return _review_page(page, staff, 409, error=page.error_text(exc))
    return page.redirect("/staff/review?done=settled")


@router.get("/staff/evidence/{evidence_hash}")
def evidence_file(evidence_hash: str, page: PageDep) -> Response:
    """An uploaded photo or track, for reviewers only (never cached, never framed)."""
    _guard(page, *MINTER)
    row = evidence.get(page.ctx, evidence_hash)
    headers = {"Cache-Control": "private, no-store"}
    if row.content_type == evidence.TRACK_TYPE:
        headers["Content-Disposition"] = f'attachment; filename="track-{evidence_hash[2:14]}.gpx"'
    return page.finish(Response(row.content or b"", media_type=row.content_type, headers=headers))


# ---------------------------------------------------------------------- reversals


@router.get("/staff/reversals")
def reversals_page(page: PageDep, activity: str = "") -> Response:
    staff = _guard(page, *ADMIN)
    found = None
    error = None
    if activity.strip():
        try:
            found = activity_view(page, int(activity)) if activity.strip().isdigit() else None
            if found is None:
                error = page._("Enter an activity number.")
        except (ServiceError, LedgerError) as exc:
            error = page.error_text(exc)
    return _show(
        page,
        staff,
        "staff/reversals.html",
        page._("Reverse an award"),
        "reversals",
        activity=activity.strip(),
        found=found,
        error=error,
    )


@router.post("/staff/reversals")
def reverse(page: PageDep, form: FormDep) -> Response:
    staff = _guard(page, *ADMIN)
    activity, reason = text(form, "activity"), text(form, "reason_code")
    try:
        if not activity.isdigit() or not reason.isdigit():
            raise Invalid("invalid_request", "give the activity and a reason")
        answer = admin.reverse(
            page.ctx, int(activity), int(reason), principal=page.principal("staff"), key=_key(page, form, "reverse")
        )
    except (ServiceError, LedgerError) as exc:
        return _show(
            page,
            staff,
            "staff/reversals.html",
            page._("Reverse an award"),
            "reversals",
            409,
            activity=activity,
            found=None,
            error=page.error_text(exc),
        )
    return _show(
        page,
        staff,
        "staff/reversals.html",
        page._("Reverse an award"),
        "reversals",
        activity=activity,
        found=None,
        reversed=answer,
        notice=page._("The award was reversed."),
    )


# ---------------------------------------------------------------------- roles and staff tokens


def _roles_page(page: Page, staff: StaffPrincipal, status: int = 200, **context: Any) -> Response:
    holders = admin.role_holders(page.ctx, page.indexer)
    tokens = auth.list_staff_tokens(page.ctx) if staff.may(*ADMIN) else []
    context.setdefault("values", {})
    return _show(
        page,
        staff,
        "staff/roles.html",
        page._("Roles and staff tokens"),
        "roles",
        status,
        holders=holders,
        tokens=tokens,
        roles=STAFF_ROLES,
        **context,
    )


_get("/staff/roles", STAFF_ROLES, _roles_page)


@router.post("/staff/roles")
def change_role(page: PageDep, form: FormDep) -> Response:
    staff = _guard(page, *ADMIN)
    values = {"role": text(form, "role"), "address": text(form, "address"), "grant": text(form, "grant")}
    try:
        body = RoleChange(role=values["role"], address=values["address"], grant=values["grant"] == "yes")  # type: ignore[arg-type]
        admin.change_role(
            page.ctx,
            body.role,
            body.address,
            body.grant,
            principal=page.principal("staff"),
            key=_key(page, form, "role"),
        )
    except ValidationError as exc:
        return _roles_page(page, staff, 422, values=values, errors=page.field_errors(exc))
    except (ServiceError, LedgerError) as exc:
        return _roles_page(page, staff, 409, values=values, role_error=page.error_text(exc))
    return page.redirect("/staff/roles?done=role_changed")


@router.post("/staff/tokens")
def create_token(page: PageDep, form: FormDep) -> Response:
    staff = _guard(page, *ADMIN)
    try:
        body = StaffTokenCreate(label=text(form, "label"), role=text(form, "token_role"))  # type: ignore[arg-type]
    except ValidationError as exc:
        return _roles_page(page, staff, 422, token_errors=page.field_errors(exc, {"role": "token_role"}))
    row, token = auth.create_staff_token(page.ctx, body.label, body.role, staff.name)
    return _roles_page(page, staff, new_token={"row": row, "token": token})


@router.post("/staff/tokens/{token_id}/revoke")
def revoke_token(token_id: int, page: PageDep, form: FormDep) -> Response:
    del form
    staff = _guard(page, *ADMIN)
    try:
        auth.revoke_staff_token(page.ctx, token_id, staff.name)
    except ServiceError as exc:
        return _roles_page(page, staff, 404, error=page.error_text(exc))
    return page.redirect("/staff/roles?done=token_revoked")


# ---------------------------------------------------------------------- rewards


def _rewards_page(page: Page, staff: StaffPrincipal, status: int = 200, **context: Any) -> Response:
    catalogue = [reward_public(r) for r in rewards.list_rewards(page.ctx, include_retired=True)]
    context.setdefault("values", {})
    return _show(page, staff, "staff/rewards.html", page._("Rewards"), "rewards", status, rewards=catalogue, **context)


_get("/staff/rewards", ADMIN, _rewards_page)


def _number(value: str) -> int | str | None:
    value = value.replace(",", "").strip()
    if not value:
        return None
    return int(value) if value.isdigit() else value


@router.post("/staff/rewards")
def create_reward(page: PageDep, form: FormDep) -> Response:
    staff = _guard(page, *ADMIN)
    values = {k: text(form, k) for k in ("title", "cost", "stock")}
    try:
        body = RewardCreate(title=values["title"], cost=_number(values["cost"]), stock=_number(values["stock"]))  # type: ignore[arg-type]
    except ValidationError as exc:
        return _rewards_page(page, staff, 422, values=values, errors=page.field_errors(exc))
    rewards.create(page.ctx, body.title, body.cost, body.stock)
    return page.redirect("/staff/rewards?done=reward_saved")


@router.post("/staff/rewards/{reward_id}")
def change_reward(reward_id: int, page: PageDep, form: FormDep) -> Response:
    staff = _guard(page, *ADMIN)
    act = text(form, "act")
    try:
        if act in ("retire", "restore"):
            body = RewardUpdate(active=act == "restore")
        else:
            body = RewardUpdate(
                title=text(form, "title") or None,
                cost=_number(text(form, "cost")),  # type: ignore[arg-type]
                stock=_number(text(form, "stock")),  # type: ignore[arg-type]
                unlimited=text(form, "unlimited") == "yes",
            )
    except ValidationError as exc:
        return _rewards_page(page, staff, 422, edit_errors={reward_id: page.field_errors(exc)})
    try:
        rewards.change(
            page.ctx, reward_id, RewardChange(body.title, body.cost, body.stock, body.unlimited, body.active)
        )
    except ServiceError as exc:
        return _rewards_page(page, staff, 404, error=page.error_text(exc))
    return page.redirect("/staff/rewards?done=reward_saved")


# ---------------------------------------------------------------------- citizens and their cards


def _citizens_page(page: Page, staff: StaffPrincipal, status: int = 200, q: str = "", **context: Any) -> Response:
    found = citizens.search(page.ctx, q, 50) if q else []
    context.setdefault("values", {})
    return _show(
        page,
        staff,
        "staff/citizens.html",
        page._("Citizens and sign-in cards"),
        "citizens",
        status,
        q=q,
        found=found,
        **context,
    )


@router.get("/staff/citizens")
def citizens_page(page: PageDep, q: str = "") -> Response:
    staff = _guard(page, *READER)
    return _citizens_page(page, staff, q=q.strip()[:100])


def _card_page(page: Page, staff: StaffPrincipal, card: Any, name: str | None, address: str) -> Response:
    """The printable sign-in card of a citizen just enrolled, or of a card issued again."""
    shown = card_public(page.ctx, card)
    view = {
        "code": shown.code,
        "activate_by": shown.activate_by,
        "url": shown.activate_url,
        "qr": qr_svg(shown.activate_url, page._("QR code to activate the card")),
        "name": name,
        "address": address,
    }
    return _show(page, staff, "staff/card.html", page._("Sign-in card"), "citizens", card=view)


@router.post("/staff/citizens")
def enrol(page: PageDep, form: FormDep) -> Response:
    staff = _guard(page, *READER)
    values = {k: text(form, k) for k in ("display_name", "email", "phone")}
    try:
        body = CitizenCreate(**{k: v or None for k, v in values.items()})
    except ValidationError as exc:
        return _citizens_page(page, staff, 422, values=values, errors=page.field_errors(exc))
    enrolled = citizens.enrol(page.ctx, body.model_dump(exclude_none=True), staff.name)
    return _card_page(page, staff, enrolled.card, enrolled.profile.display_name, enrolled.profile.citizen.address)


@router.post("/staff/citizens/{citizen_id}/card")
def reissue_card(citizen_id: str, page: PageDep, form: FormDep) -> Response:
    del form
    staff = _guard(page, *READER)
    citizen = citizens.get(page.ctx, citizen_id)
    issued = auth.issue_card(page.ctx, citizen.id, staff.name)
    return _card_page(page, staff, issued, citizens.profile(page.ctx, citizen).display_name, citizen.address)


# The language switch on a page a form answered leads to the form's own page.
for _path, _target in (
    ("/staff/sign-in", "/staff"),
    ("/staff/sign-out", "/staff"),
    ("/staff/pause", "/staff"),
    ("/staff/events/{event_id}/issue/preview", "/staff/events/{event_id}"),
    ("/staff/events/{event_id}/issue", "/staff/events/{event_id}"),
    ("/staff/events/{event_id}/badges", "/staff/events/{event_id}"),
    ("/staff/review/{claim_id}", "/staff/review"),
    ("/staff/review-settle", "/staff/review"),
    ("/staff/tokens", "/staff/roles"),
    ("/staff/tokens/{token_id}/revoke", "/staff/roles"),
    ("/staff/rewards/{reward_id}", "/staff/rewards"),
    ("/staff/citizens/{citizen_id}/card", "/staff/citizens"),
):
    router.add_api_route(_path, back_to(_target), methods=["GET"])
