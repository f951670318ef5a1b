"""What wallets and explorers read about badges: ERC-1155 metadata JSON per event (with the
``{id}`` substitution and a ``localization`` block, Korean by default), a badge image generated
as SVG (no external assets), and the collection's ERC-7572 metadata."""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape
from typing import Any
from zoneinfo import ZoneInfo

from ..store import CityEventRow
from .context import Context
from .errors import Invalid, NotFound
from .events import get as get_event

__all__ = ["badge_svg", "collection_metadata", "event_metadata", "token_id"]

LOCALES = ("ko", "en")
_VENUE = {
    "ko": {"physical": "현장 행사", "metaverse": "메타버스 행사"},
    "en": {"physical": "venue", "metaverse": "metaverse"},
}
_DESCRIPTION = {
    "ko": "{city}가 발행한 행사 참석 배지입니다. 양도할 수 없으며(soulbound), 블록체인에서 누구나 확인할 수 있습니다.",
    "en": "An attendance badge issued by {city}. Soulbound (it cannot be transferred); anyone can verify it on-chain.",
}


def token_id(text: str) -> int:
    """An ERC-1155 id as clients substitute it for ``{id}`` (64 lowercase hex digits), or decimal."""
    try:
        value = int(text, 16) if len(text) == 64 else int(text, 10)
    except ValueError as exc:
        raise Invalid("invalid_token_id", "a badge id is 64 hex digits or a decimal number") from exc
    if not 0 < value < 2**63:
        raise NotFound("event_not_found", f"no event {value}")
    return value


def _base(ctx: Context) -> str:
    return ctx.settings.public_base_url.rstrip("/")


def _when(ctx: Context, timestamp: int) -> str:
    zone = ZoneInfo(ctx.ledger.deployment.time_zone)
    return datetime.fromtimestamp(timestamp, UTC).astimezone(zone).isoformat()


def _title(row: CityEventRow, locale: str) -> str:
    return (row.title_en or row.title) if locale == "en" else row.title


def event_metadata(ctx: Context, event_id: int, locale: str = "ko") -> dict[str, Any]:
    """The ERC-1155 metadata JSON of an event's badge, in ``locale`` (``ko`` or ``en``)."""
    if locale not in LOCALES:
        raise Invalid("invalid_locale", f"locale must be one of {', '.join(LOCALES)}")
    row = get_event(ctx, event_id)
    base = _base(ctx)
    hex_id = f"{event_id:064x}"
    description = (row.description_en if locale == "en" and row.description_en else row.description) or ""
    city = ctx.settings.issuer_name
    return {
        "name": _title(row, locale),
        "description": (description + "\n\n" if description else "") + _DESCRIPTION[locale].format(city=city),
        "image": f"{base}/v1/badges/{hex_id}.svg",
        "external_url": f"{base}/?event={event_id}",
        "decimals": 0,
        "properties": {
            "event_id": event_id,
            "venue": row.venue,
            "venue_kind": _VENUE[locale][row.venue],
            "claim_start": _when(ctx, row.claim_start),
            "claim_end": _when(ctx, row.claim_end),
            "capacity": row.capacity or None,
            "soulbound": True,
            "chain_id": ctx.ledger.chain_id,
            "contract": ctx.ledger.deployment.badges_address,
            "created_in": row.tx_hash or None,
        },
        "localization": {
            "uri": f"{base}/v1/badges/{{id}}.json?locale={{locale}}",
            "default": "ko",
            "locales": list(LOCALES),
        },
    }


def collection_metadata(ctx: Context) -> dict[str, Any]:
    """ERC-7572 ``contractURI`` metadata of the badge collection."""
    base = _base(ctx)
    city = ctx.settings.issuer_name
    return {
        "name": f"{city} event badges",
        "symbol": "BADGE",
        "description": f"Soulbound attendance badges for {city}'s events, physical and in the metaverse. "
        "One badge per event per citizen; anyone can verify them on-chain.",
        "image": f"{base}/v1/badges/collection.svg",
        "external_link": f"{base}/",
    }


_PALETTE = ["#1b7f4c", "#0f6a8b", "#7a4fa0", "#b5532a", "#2d6a2d", "#8a6d0f"]


def badge_svg(ctx: Context, event_id: int | None) -> str:
    """A round badge: the event's title, venue and date in the city's colours, drawn from
    nothing but the event's record (no fonts or images from elsewhere)."""
    if event_id is None:
        title, subtitle, colour = f"{ctx.settings.issuer_name}", "event badges", _PALETTE[0]
    else:
        row = get_event(ctx, event_id)
        title = row.title_en or row.title
        day = datetime.fromtimestamp(row.claim_start, UTC).astimezone(ZoneInfo(ctx.ledger.deployment.time_zone))
        subtitle = f"{_VENUE['en'][row.venue]} · {day:%Y-%m-%d}"
        colour = _PALETTE[event_id % len(_PALETTE)]
    lines = _wrap(title, 18)[:3]
    text = "".join(
        f'<text x="200" y="{190 + (i - len(lines) / 2) * 30:.0f}" font-size="26" font-weight="700" '
        f'text-anchor="middle" fill="#fff">{escape(line)}</text>'
        for i, line in enumerate(lines)
    )
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 400 400" width="400" height="400" role="img" '
        f'aria-label="{escape(title)}">'
        f"<title>{escape(title)}</title>"
        f'<circle cx="200" cy="200" r="190" fill="{colour}"/>'
        '<circle cx="200" cy="200" r="170" fill="none" stroke="#fff" stroke-width="6" stroke-dasharray="4 10"/>'
        '<path d="M200 70 l14 28 31 4 -22 22 5 31 -28 -15 -28 15 5 -31 -22 -22 31 -4z" fill="#fff" opacity="0.9"/>'
        f"{text}"
        f'<text x="200" y="300" font-size="18" text-anchor="middle" fill="#fff">{escape(subtitle)}</text>'
        f'<text x="200" y="330" font-size="14" text-anchor="middle" fill="#fff" opacity="0.85">'
        f"{escape(ctx.settings.issuer_name)}</text>"
        "</svg>"
    )


def _wrap(text: str, width: int) -> list[str]:
    words, lines, line = text.split(), [], ""
    for word in words:
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    if line:
        lines.append(line)
    return lines or [text[:width]]
