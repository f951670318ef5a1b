"""Evidence a citizen uploads for an outing: a photo and a GPS track (GPX).

The files are kept off-chain (``EvidenceFile``, erased with the citizen's personal data); a
claim carries their hashes (``photo_hash``, ``track_hash``), and only a salted commitment to
those goes on-chain (``services.claims``). A reviewer looks at the files; a track is summarised
(points, distance, times, a drawing of the route) so the reviewer need not open it elsewhere.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime
from xml.etree import ElementTree

from sqlalchemy import delete, select

from ledger.commitments import keccak_hex

from ..store import ActivityClaim, Citizen, EvidenceFile, EvidenceUse
from .context import Context
from .errors import Conflict, Invalid, NotFound

__all__ = [
    "PHOTO_TYPES",
    "TRACK_TYPE",
    "TrackSummary",
    "discard_unused",
    "for_claim",
    "get",
    "photo_type",
    "store",
    "summarise_track",
]

#: Photo formats a phone produces, recognised by their first bytes (not by what the browser says).
PHOTO_TYPES = ("image/jpeg", "image/png", "image/webp", "image/heic")
TRACK_TYPE = "application/gpx+xml"
#: At most this many track points are read (a day's walk at one point a second is ~30,000).
MAX_TRACK_POINTS = 100_000


def photo_type(content: bytes) -> str | None:
    """The photo's media type from its first bytes, or None if it is not a photo we take."""
    if content.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if content.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if content[:4] == b"RIFF" and content[8:12] == b"WEBP":
        return "image/webp"
    if content[4:8] == b"ftyp" and content[8:12] in (b"heic", b"heix", b"mif1", b"msf1", b"hevc"):
        return "image/heic"
    return None


@dataclass(frozen=True)
class TrackSummary:
    points: int
    distance_meters: int
    started_at: datetime | None
    ended_at: datetime | None
    #: The route drawn in a 0..100 box (SVG path data), north up; empty with fewer than 2 points.
    path: str


_NS = re.compile(r"^\{[^}]*\}")


def _local(tag: str) -> str:
    return _NS.sub("", tag)


def _haversine(a: tuple[float, float], b: tuple[float, float]) -> float:
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * 6_371_000 * math.asin(min(1.0, math.sqrt(h)))


def summarise_track(content: bytes) -> TrackSummary:
    """Reads a GPX file: its track (or route) points, their distance and first and last times.
    Raises ``Invalid("invalid_track")`` when it is not a GPX file with at least one point."""
    head = content[:2048].lower()
    if b"<!doctype" in head or b"<!entity" in content[:65536].lower():
        raise Invalid("invalid_track", "the GPS track must be a GPX file (no DOCTYPE or entities)")
    try:
        root = ElementTree.fromstring(content)
    except ElementTree.ParseError as exc:
        raise Invalid("invalid_track", f"the GPS track is not a GPX file: {exc}") from exc
    if _local(root.tag) != "gpx":
        raise Invalid("invalid_track", "the GPS track must be a GPX file (its root element is <gpx>)")
    points: list[tuple[float, float]] = []
    times: list[datetime] = []
    for element in root.iter():
        if _local(element.tag) not in ("trkpt", "rtept", "wpt"):
            continue
        try:
            lat, lon = float(element.attrib["lat"]), float(element.attrib["lon"])
        except (KeyError, ValueError) as exc:
            raise Invalid("invalid_track", "a GPX point has no valid lat and lon") from exc
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            raise Invalid("invalid_track", "a GPX point lies outside the globe")
        points.append((lat, lon))
        for child in element:
            if _local(child.tag) == "time" and child.text:
                try:
                    moment = datetime.fromisoformat(child.text.strip().replace("Z", "+00:00"))
                except ValueError:
                    continue
                if moment.tzinfo is not None:
                    times.append(moment)
        if len(points) > MAX_TRACK_POINTS:
            raise Invalid("invalid_track", f"the GPS track has more than {MAX_TRACK_POINTS:,} points")
    if not points:
        raise Invalid("invalid_track", "the GPS track has no points")
    distance = sum(_haversine(points[i - 1], points[i]) for i in range(1, len(points)))
    return TrackSummary(
        points=len(points),
        distance_meters=round(distance),
        started_at=min(times) if times else None,
        ended_at=max(times) if times else None,
        path=_drawing(points),
    )


def _drawing(points: list[tuple[float, float]]) -> str:
    if len(points) < 2:
        return ""
    step = max(1, len(points) // 500)
    sample = points[::step] + ([points[-1]] if (len(points) - 1) % step else [])
    mid_lat = math.radians(sum(p[0] for p in sample) / len(sample))
    xs = [p[1] * math.cos(mid_lat) for p in sample]
    ys = [-p[0] for p in sample]
    span = max(max(xs) - min(xs), max(ys) - min(ys)) or 1e-9
    x0, y0 = min(xs), min(ys)
    coords = [(5 + 90 * (x - x0) / span, 5 + 90 * (y - y0) / span) for x, y in zip(xs, ys, strict=True)]
    return "M" + " L".join(f"{x:.1f} {y:.1f}" for x, y in coords)


def store(ctx: Context, citizen: Citizen, content: bytes, kind: str) -> str:
    """Keeps an uploaded photo (``kind="photo"``) or GPS track (``kind="track"``) and returns
    its hash (``keccak_hex(content)``), the value a claim names as ``photo_hash`` or
    ``track_hash``. Uploading the same file again returns the same hash; a file another citizen
    uploaded cannot back this citizen's claim."""
    if not content:
        raise Invalid("invalid_evidence", f"the {kind} file is empty")
    if kind == "photo":
        content_type = photo_type(content)
        if content_type is None:
            raise Invalid("invalid_photo", "the photo must be a JPEG, PNG, WebP or HEIC image")
    elif kind == "track":
        summarise_track(content)
        content_type = TRACK_TYPE
    else:
        raise Invalid("invalid_evidence", "evidence is a photo or a track")
    evidence_hash = keccak_hex(content)
    with ctx.store.session() as session:
        row = session.get(EvidenceFile, evidence_hash)
        if row is not None:
            if row.citizen_id != citizen.id:
                raise Conflict("evidence_already_used", "this evidence already backs another claim")
            if row.content is None:
                row.content = content
                session.commit()
            return evidence_hash
        session.add(
            EvidenceFile(evidence_hash=evidence_hash, citizen_id=citizen.id, content_type=content_type, content=content)
        )
        session.commit()
    return evidence_hash


def discard_unused(ctx: Context, citizen: Citizen, hashes: list[str]) -> None:
    """Deletes the citizen's uploads among ``hashes`` that back no claim (after a claim that
    named them was refused)."""
    hashes = [h.lower() for h in hashes]
    with ctx.store.session() as session:
        used = set(session.scalars(select(EvidenceUse.evidence_hash).where(EvidenceUse.evidence_hash.in_(hashes))))
        unused = [h for h in hashes if h not in used]
        if unused:
            session.execute(
                delete(EvidenceFile).where(
                    EvidenceFile.evidence_hash.in_(unused), EvidenceFile.citizen_id == citizen.id
                )
            )
            session.commit()


def get(ctx: Context, evidence_hash: str) -> EvidenceFile:
    with ctx.store.session() as session:
        row = session.get(EvidenceFile, evidence_hash.lower())
    if row is None or row.content is None:
        raise NotFound("evidence_not_found", "no such evidence file (it may have been erased)")
    return row


def for_claim(ctx: Context, claim: ActivityClaim) -> dict[str, EvidenceFile | None]:
    """The claim's photo and track files, as kept (None where none was uploaded, or erased)."""
    found: dict[str, EvidenceFile | None] = {}
    with ctx.store.session() as session:
        for kind, evidence_hash in (("photo", claim.photo_hash), ("track", claim.track_hash)):
            row = session.get(EvidenceFile, evidence_hash) if evidence_hash else None
            found[kind] = row if row is not None and row.content is not None else None
    return found
