"""Citizens' pages (``/me`` and below, and ``/claim``): sign in with a card or a wallet, points
and badges, record an outing with its evidence, claims and appeals, claim a badge, redeem a
reward, credentials and proofs, and moving to a wallet of one's own.

Every act calls the same service the JSON API calls; nothing here decides a rule.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter
from fastapi.responses import Response
from pydantic import ValidationError

from ledger import LedgerError, checksum
from ledger.errors import InvalidInput

from ..deps import rate_limited
from ..presenters import claim_public, reward_public
from ..schemas import AppealCreate, BadgeClaim, CardSignIn, ClaimCreate, KeyExportRequest
from ..services import auth, citizens, claims, credentials, events, evidence, rewards
from ..services.claims import NewClaim
from ..services.errors import Invalid, ServiceError
from ..store import Citizen
from .views import badge_image, citizen_view, event_title
from .web import CITIZEN_COOKIE, Detour, FormDep, Page, PageDep, PageRoute, back_to, safe_next, text, upload

__all__ = ["router"]

router = APIRouter(include_in_schema=False, route_class=PageRoute)
SIGN_IN = [rate_limited("sign-in")]
CLAIMS = [rate_limited("claims")]


def _signed_in(page: Page) -> Citizen:
    """The signed-in citizen; else a :class:`Detour` to sign-in and back to this page."""
    citizen = page.citizen
    if citizen is None:
        target = page.request.url.path
        if page.request.url.query:
            target += "?" + page.request.url.query
        raise Detour(page.redirect("/me/sign-in?next=" + quote(target, safe="")))
    return citizen


def _get(path: str, build: Callable[[Page, Citizen], Response]) -> None:
    """A GET route that shows ``build``'s page as it is, to the signed-in citizen."""

    def show(page: PageDep) -> Response:
        return build(page, _signed_in(page))

    router.add_api_route(path, show, methods=["GET"], name=build.__name__.strip("_"))


def _show(page: Page, template: str, title: str, here: str, status: int = 200, **context: Any) -> Response:
    """A citizen's page in the "me" section, with the menu's place ``here``."""
    return page.render(template, status=status, title=title, section="me", here=here, **context)


# ---------------------------------------------------------------------- signing in


@router.get("/me/sign-in")
def sign_in_page(page: PageDep, next: str = "/me", code: str = "") -> Response:
    return _show(page, "me/sign_in.html", page._("Sign in"), "sign-in", next=safe_next(next), values={"code": code})


@router.post("/me/sign-in", dependencies=SIGN_IN)
def sign_in(page: PageDep, form: FormDep) -> Response:
    target = safe_next(text(form, "next"))
    values = {"code": text(form, "code")}
    try:
        body = CardSignIn(code=text(form, "code"), pin=text(form, "pin"))
    except ValidationError as exc:
        return _show(
            page,
            "me/sign_in.html",
            page._("Sign in"),
            "sign-in",
            422,
            next=target,
            values=values,
            errors=page.field_errors(exc),
        )
    try:
        session = auth.sign_in_with_card(page.ctx, body.code, body.pin)
    except ServiceError as exc:
        return _show(
            page,
            "me/sign_in.html",
            page._("Sign in"),
            "sign-in",
            401 if exc.code != "card_locked" else 429,
            next=target,
            values=values,
            error=page.error_text(exc),
        )
    _open(page, session)
    return page.redirect(_with_done(target, "signed_in"))


def _open(page: Page, session: auth.NewSession) -> None:
    page.set_cookie(CITIZEN_COOKIE, session.token, max_age=page.ctx.settings.session_ttl_seconds)


def _with_done(target: str, done: str) -> str:
    return target + ("&" if "?" in target else "?") + "done=" + done


@router.post("/me/sign-in/wallet/message", dependencies=SIGN_IN)
def wallet_message(page: PageDep, form: FormDep) -> Response:
    """The EIP-4361 message for the wallet to sign: the service's nonce, domain, URI and chain."""
    try:
        address = checksum(text(form, "address"))
    except InvalidInput:
        return page.json({"error": page.says("invalid_address")}, status=422)
    challenge = auth.siwe_challenge(page.ctx)
    issued = datetime.now(challenge.expires_at.tzinfo)
    stamp = "%Y-%m-%dT%H:%M:%S.000Z"
    message = (
        f"{challenge.domain} wants you to sign in with your Ethereum account:\n{address}\n\n"
        f"Sign in to the city's civic ledger.\n\nURI: {challenge.uri}\nVersion: 1\n"
        f"Chain ID: {challenge.chain_id}\nNonce: {challenge.nonce}\nIssued At: {issued.strftime(stamp)}\n"
        f"Expiration Time: {challenge.expires_at.strftime(stamp)}"
    )
    return page.json({"message": message, "address": address})


@router.post("/me/sign-in/wallet", dependencies=SIGN_IN)
def wallet_sign_in(page: PageDep, form: FormDep) -> Response:
    try:
        session = auth.sign_in_with_ethereum(page.ctx, text(form, "message"), text(form, "signature"))
    except ServiceError as exc:
        return page.json({"error": page.error_text(exc)}, status=401)
    _open(page, session)
    return page.json({"next": _with_done(safe_next(text(form, "next")), "signed_in")})


@router.post("/me/sign-out")
def sign_out(page: PageDep, form: FormDep) -> Response:
    del form
    token = page.session_token()
    if token:
        auth.sign_out(page.ctx, token)
    page.clear_cookie(CITIZEN_COOKIE)
    return page.redirect("/me/sign-in?done=signed_out")


@router.get("/me/card")
def card_page(page: PageDep, code: str = "", next: str = "/me") -> Response:
    """What the link printed on a sign-in card opens: the citizen chooses the card's PIN."""
    return _show(
        page, "me/card.html", page._("Activate your card"), "card", values={"code": code}, next=safe_next(next)
    )


@router.post("/me/card", dependencies=SIGN_IN)
def activate_card(page: PageDep, form: FormDep) -> Response:
    values = {"code": text(form, "code")}
    target = safe_next(text(form, "next"))

    def again(status: int, **extra: Any) -> Response:
        return _show(
            page, "me/card.html", page._("Activate your card"), "card", status, values=values, next=target, **extra
        )

    try:
        body = CardSignIn(code=text(form, "code"), pin=text(form, "pin"))
    except ValidationError as exc:
        return again(422, errors=page.field_errors(exc))
    if text(form, "pin") != text(form, "pin_again"):
        return again(422, errors={"pin_again": page._("The two PINs are not the same.")})
    try:
        session = auth.activate_card(page.ctx, body.code, body.pin)
    except ServiceError as exc:
        return again(422 if exc.code == "invalid_pin" else 401, error=page.error_text(exc))
    _open(page, session)
    return page.redirect(_with_done(target, "card_activated"))


# ---------------------------------------------------------------------- my page


@router.get("/me")
def home(page: PageDep) -> Response:
    citizen = _signed_in(page)
    statement = citizen_view(page, citizen.address)
    mine = claims.mine(page.ctx, citizen)
    waiting = sum(v.claim.points for v in mine if v.claim.status.value in ("approved", "sending"))
    held = sum(1 for v in mine if v.claim.status.value == "held")
    profile = citizens.profile(page.ctx, citizen)
    return _show(
        page,
        "me/home.html",
        page._("My page"),
        "home",
        citizen=citizen,
        name=profile.display_name,
        statement=statement,
        waiting=waiting,
        held=held,
        recent=[claim_public(page.ctx, v) for v in mine[-3:]][::-1],
    )


# ---------------------------------------------------------------------- outings


def _outing_page(page: Page, status: int = 200, **context: Any) -> Response:
    today = datetime.now(page.zone).date().isoformat()
    context.setdefault("values", {"day": today})
    return _show(page, "me/outing.html", page._("Record an outing"), "outing", status, **context)


@router.get("/me/outing")
def outing_page(page: PageDep) -> Response:
    _signed_in(page)
    return _outing_page(page)


def _whole(page: Page, form: Any, name: str, errors: dict[str, str], required: bool = True) -> int | None:
    raw = text(form, name).replace(",", "")
    if not raw:
        if required:
            errors[name] = page._("This field is required.")
        return None
    try:
        value = int(raw)
    except ValueError:
        errors[name] = page._("Enter a whole number.")
        return None
    if value < 0:
        errors[name] = page._("Enter at least %(min)s.", min=0)
        return None
    return value


@router.post("/me/outing", dependencies=CLAIMS)
def record_outing(page: PageDep, form: FormDep) -> Response:
    """Records an outing: the photo and GPS track are kept off-chain (their hashes back the
    claim; only a salted commitment to them goes on-chain)."""
    citizen = _signed_in(page)
    values = {k: text(form, k) for k in ("day", "start", "end", "distance_km", "steps", "litter_grams")}
    errors: dict[str, str] = {}
    photo, track = upload(form, "photo"), upload(form, "track")
    photo_bytes = photo.file.read() if photo else b""
    track_bytes = track.file.read() if track else b""
    if not photo_bytes:
        errors["photo"] = page._("Add a photo of the litter you picked up.")
    elif evidence.photo_type(photo_bytes) is None:
        errors["photo"] = page.says("invalid_photo")
    summary = None
    if not track_bytes:
        errors["track"] = page._("Add the GPS track of your outing (a GPX file).")
    else:
        try:
            summary = evidence.summarise_track(track_bytes)
        except ServiceError as exc:
            errors["track"] = page.error_text(exc)
    # Times: as typed, in the city's time zone; else the track's own.
    started = ended = None
    try:
        if values["start"] or values["end"] or values["day"]:
            day = date.fromisoformat(values["day"]) if values["day"] else None
            if day is None:
                errors["day"] = page._("This field is required.")
            else:
                for name in ("start", "end"):
                    if not values[name] and not (summary and summary.started_at):
                        errors[name] = page._("This field is required.")
                if values["start"]:
                    started = datetime.combine(day, time.fromisoformat(values["start"]), page.zone)
                if values["end"]:
                    ended = datetime.combine(day, time.fromisoformat(values["end"]), page.zone)
    except ValueError:
        errors.setdefault("start", page._("Enter a date and time."))
    if summary is not None:
        started = started or summary.started_at
        ended = ended or summary.ended_at
    if (started is None or ended is None) and "start" not in errors and "end" not in errors:
        errors["start" if started is None else "end"] = page._(
            "Enter the start and end times, or upload a track with times."
        )
    distance = None
    if values["distance_km"]:
        try:
            distance = round(float(values["distance_km"].replace(",", ".")) * 1000)
            if distance < 0:
                raise ValueError
        except ValueError:
            errors["distance_km"] = page._("Enter the distance in kilometres, for example 3.5.")
    elif summary is not None:
        distance = summary.distance_meters
    else:
        errors["distance_km"] = page._("This field is required.")
    steps = _whole(page, form, "steps", errors)
    litter = _whole(page, form, "litter_grams", errors)
    if errors:
        return _outing_page(
            page, 422, values=values, errors=errors, error=page._("Please correct the fields marked below.")
        )
    assert (
        started is not None and ended is not None and distance is not None and steps is not None and litter is not None
    )
    stored: list[str] = []
    try:
        photo_hash = evidence.store(page.ctx, citizen, photo_bytes, "photo")
        stored.append(photo_hash)
        track_hash = evidence.store(page.ctx, citizen, track_bytes, "track")
        stored.append(track_hash)
        body = ClaimCreate(
            started_at=started,
            ended_at=ended,
            distance_meters=distance,
            duration_seconds=max(0, int((ended - started).total_seconds())),
            steps=steps,
            litter_grams=litter,
            photo_hash=photo_hash,
            track_hash=track_hash,
        )
        claims.submit_claim(page.ctx, citizen, NewClaim(**body.model_dump()))
    except ValidationError as exc:
        evidence.discard_unused(page.ctx, citizen, stored)
        names = {
            "started_at": "start",
            "ended_at": "end",
            "distance_meters": "distance_km",
            "litter_grams": "litter_grams",
        }
        return _outing_page(
            page,
            422,
            values=values,
            errors=page.field_errors(exc, names),
            error=page._("Please correct the fields marked below."),
        )
    except (ServiceError, LedgerError) as exc:
        evidence.discard_unused(page.ctx, citizen, stored)
        return _outing_page(page, 422, values=values, error=page.error_text(exc))
    return page.redirect("/me/claims?done=outing_recorded")


# ---------------------------------------------------------------------- claims and appeals


def _claims_page(page: Page, citizen: Citizen, status: int = 200, **context: Any) -> Response:
    final_block = page.ctx.ledger.final_block()
    mine = [claim_public(page.ctx, v, final_block=final_block, reviews=True) for v in claims.mine(page.ctx, citizen)]
    return _show(page, "me/claims.html", page._("My claims"), "claims", status, claims=mine[::-1], **context)


_get("/me/claims", _claims_page)


@router.post("/me/claims/{claim_id}/appeal")
def appeal(claim_id: int, page: PageDep, form: FormDep) -> Response:
    citizen = _signed_in(page)
    try:
        body = AppealCreate(note=text(form, "note"))
    except ValidationError as exc:
        problems = page.field_errors(exc)
        return _claims_page(
            page, citizen, 422, appeal_errors={claim_id: problems.get("note", "")}, open_appeal=claim_id
        )
    try:
        claims.appeal(page.ctx, citizen, claim_id, body.note)
    except ServiceError as exc:
        return _claims_page(page, citizen, 409, error=page.error_text(exc))
    return page.redirect("/me/claims?done=appealed")


# ---------------------------------------------------------------------- badges


def _badges_page(page: Page, citizen: Citizen, status: int = 200, **context: Any) -> Response:
    statement = citizen_view(page, citizen.address)
    return _show(
        page, "me/badges.html", page._("My badges"), "badges", status, citizen=citizen, statement=statement, **context
    )


@router.get("/me/badges")
def badges_page(page: PageDep, code: str = "") -> Response:
    citizen = _signed_in(page)
    return _badges_page(page, citizen, values={"code": code})


def _claim(page: Page, citizen: Citizen, form: Any) -> dict[str, Any]:
    raw = text(form, "code")
    if "code=" in raw:  # a whole claim link was pasted
        raw = raw.split("code=", 1)[1].split("&", 1)[0]
    body = BadgeClaim(code=raw)
    return events.claim_badge(
        page.ctx, citizen, body.code, principal=page.principal(), key="claim:" + (text(form, "idem") or body.code)
    )


@router.post("/me/badges", dependencies=CLAIMS)
def claim_from_badges(page: PageDep, form: FormDep) -> Response:
    citizen = _signed_in(page)
    values = {"code": text(form, "code")}
    try:
        answer = _claim(page, citizen, form)
    except ValidationError:
        return _badges_page(page, citizen, 422, values=values, errors={"code": page.says("claim_code_unknown")})
    except (ServiceError, LedgerError) as exc:
        return _badges_page(page, citizen, 409, values=values, error=page.error_text(exc))
    return page.redirect(f"/me/badges/{answer['event_id']}?done=badge_claimed")


@router.get("/me/badges/{event_id}")
def badge_page(event_id: int, page: PageDep) -> Response:
    """One of my badges: its image, proof file, and its Open Badges credential (with the
    LinkedIn add-to-profile link)."""
    citizen = _signed_in(page)
    issued = None
    error = None
    try:
        issued = credentials.badge_credential(page.ctx, page.indexer, event_id, citizen.address)
    except ServiceError as exc:
        error = page.error_text(exc)
    return _show(
        page,
        "me/badge.html",
        event_title(page, event_id),
        "badges",
        citizen=citizen,
        event_id=event_id,
        badge_title=event_title(page, event_id),
        image=badge_image(event_id),
        issued=issued,
        error=error,
        proof=f"/v1/proofs/badges/{event_id}/{citizen.address}",
        credential=f"/v1/credentials/badges/{event_id}/{citizen.address}",
        share=f"{page.ctx.settings.public_base_url.rstrip('/')}/?event={event_id}&address={citizen.address}",
    )


def _claim_page(page: Page, code: str, citizen: Citizen | None, status: int = 200, **context: Any) -> Response:
    return page.render(
        "claim.html", status=status, title=page._("Claim a badge"), section="me", code=code, citizen=citizen, **context
    )


@router.get("/claim")
def claim_page(page: PageDep, code: str = "") -> Response:
    """What the venue's QR code opens. A signed-in citizen claims with one button; anyone else
    signs in first and comes back here."""
    here = "/claim?code=" + quote(code, safe="")
    return _claim_page(
        page,
        code,
        page.citizen,
        sign_in=f"/me/sign-in?next={quote(here, safe='')}",
        activate=f"/me/card?next={quote(here, safe='')}",
    )


@router.post("/claim", dependencies=CLAIMS)
def claim(page: PageDep, form: FormDep) -> Response:
    citizen = page.citizen
    code = text(form, "code")
    if citizen is None:
        return page.redirect("/me/sign-in?next=" + quote("/claim?code=" + quote(code, safe=""), safe=""))
    try:
        answer = _claim(page, citizen, form)
    except ValidationError:
        return _claim_page(page, code, citizen, 422, error=page.says("claim_code_unknown"))
    except (ServiceError, LedgerError) as exc:
        return _claim_page(page, code, citizen, 409, error=page.error_text(exc))
    return page.redirect(f"/me/badges/{answer['event_id']}?done=badge_claimed")


# ---------------------------------------------------------------------- rewards


def _rewards_page(page: Page, citizen: Citizen, status: int = 200, **context: Any) -> Response:
    statement = citizen_view(page, citizen.address)
    balance = statement["answer"].balance
    catalogue = [reward_public(r) for r in rewards.list_rewards(page.ctx)]
    return _show(
        page,
        "me/rewards.html",
        page._("Rewards"),
        "rewards",
        status,
        citizen=citizen,
        balance=balance,
        rewards=catalogue,
        **context,
    )


_get("/me/rewards", _rewards_page)


@router.get("/me/rewards/{reward_id}/consent")
def reward_consent(reward_id: int, page: PageDep) -> Response:
    """For a citizen with their own wallet: the EIP-712 consent to sign (as the API's
    GET /v1/redemptions/consent)."""
    citizen = page.citizen
    if citizen is None:
        return page.json({"error": page.says("not_authenticated")}, status=401)
    try:
        typed, deadline = rewards.consent_document(page.ctx, citizen, reward_id)
    except ServiceError as exc:
        return page.json({"error": page.error_text(exc)}, status=404)
    return page.json({"typed_data": typed, "deadline": deadline, "address": citizen.address})


@router.post("/me/rewards/{reward_id}")
def redeem(reward_id: int, page: PageDep, form: FormDep) -> Response:
    citizen = _signed_in(page)
    signature = text(form, "signature")
    deadline = text(form, "deadline")
    wants_json = page.request.headers.get("accept", "").startswith("application/json")
    try:
        if signature and not (signature.startswith("0x") and len(signature) == 132):
            raise Invalid("invalid_consent_signature", "the signature is not 65 bytes of hex")
        rewards.redeem(
            page.ctx,
            citizen,
            reward_id,
            signature=bytes.fromhex(signature[2:]) if signature else None,
            deadline=int(deadline) if deadline.isdigit() else None,
            principal=page.principal(),
            key="redeem:" + (text(form, "idem") or str(reward_id)),
        )
    except (ServiceError, LedgerError, ValueError) as exc:
        message = page.error_text(exc) if not isinstance(exc, ValueError) else page.says("invalid_request")
        if wants_json:
            return page.json({"error": message}, status=409)
        return _rewards_page(page, citizen, 409, error=message)
    if wants_json:
        return page.json({"next": "/me/rewards?done=redeemed"})
    return page.redirect("/me/rewards?done=redeemed")


# ---------------------------------------------------------------------- my own wallet


@router.get("/me/wallet")
def wallet_page(page: PageDep) -> Response:
    citizen = _signed_in(page)
    return _show(page, "me/wallet.html", page._("Move to my own wallet"), "wallet", citizen=citizen)


@router.post("/me/wallet")
def export_key(page: PageDep, form: FormDep) -> Response:
    """Hands a custodial citizen their key once (after their card's PIN), then the city's copy
    is deleted; the page shows it once with a warning and is never cached."""
    citizen = _signed_in(page)

    def again(status: int, **extra: Any) -> Response:
        return _show(
            page, "me/wallet.html", page._("Move to my own wallet"), "wallet", status, citizen=citizen, **extra
        )

    if text(form, "understood") != "yes":
        return again(422, errors={"understood": page._("Confirm that you understand what this means.")})
    try:
        body = KeyExportRequest(pin=text(form, "pin"))
        address, key = citizens.export_key(page.ctx, citizen, body.pin)
    except ValidationError as exc:
        return again(422, errors=page.field_errors(exc))
    except ServiceError as exc:
        return again(403 if exc.code != "card_locked" else 429, error=page.error_text(exc))
    return again(200, exported={"address": address, "key": key})


# The language switch on a page a form answered leads to the form's own page.
for _path, _target in (
    ("/me/sign-out", "/me"),
    ("/me/sign-in/wallet", "/me/sign-in"),
    ("/me/claims/{claim_id}/appeal", "/me/claims"),
    ("/me/rewards/{reward_id}", "/me/rewards"),
):
    router.add_api_route(_path, back_to(_target), methods=["GET"])
