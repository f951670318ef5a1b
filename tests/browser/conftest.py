"""Browser tests: the real app served over loopback HTTP, driven in Debian's Chromium (headless,
through Playwright, no browser download), with every request the pages make recorded.

``served(make_api)`` serves one app per test; ``world`` (in test_every_page) serves one for a
whole module. Evidence files and helpers to sign in by cookie live here too.
"""

from __future__ import annotations

import shutil
import struct
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from devtools.node import free_port
from tests.api.conftest import PIN, Api, api, api_chain, make_api, postgres_server  # noqa: F401 - fixtures

playwright = pytest.importorskip("playwright.sync_api", reason="playwright is a test dependency")

CHROMIUM = "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else shutil.which("chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}

__all__ = [
    "ARGS",
    "CHROMIUM",
    "DESKTOP",
    "PHONE",
    "PIN",
    "SCREENSHOTS",
    "Browsing",
    "gpx_track",
    "png_photo",
    "serve",
]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if CHROMIUM is None:
        skip = pytest.mark.skip(reason="needs Chromium (apt-get install chromium; CI installs it)")
        for item in items:
            if "tests/browser" in str(item.fspath):
                item.add_marker(skip)


@contextmanager
def serve(app: Any, port: int) -> Iterator[str]:
    """``app`` served over real HTTP on loopback. Its lifespan (chain writer, indexer) is
    already running under the test client, so the server does not start it again."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{base}/v1/health", timeout=1)
            break
        except httpx.HTTPError:
            time.sleep(0.05)
    try:
        yield base
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture
def database_url(tmp_path: Any) -> str:
    """Pages read and write through the same services as the API, whose tests run on both
    stores: the browser tests use SQLite only (a browser run costs tens of seconds)."""
    return f"sqlite:///{tmp_path}/civic.db"


@pytest.fixture
def served(make_api: Callable[..., Api]) -> Iterator[Callable[..., tuple[Api, str]]]:  # noqa: F811 - the fixture
    """Serves an app made with settings overrides; its public base URL is where it is served."""
    stack: list[Any] = []

    def make(**overrides: Any) -> tuple[Api, str]:
        port = free_port()
        app = make_api(public_base_url=f"http://127.0.0.1:{port}", **overrides)
        context = serve(app.client.app, port)
        base = context.__enter__()
        stack.append(context)
        return app, base

    yield make
    for context in reversed(stack):
        context.__exit__(None, None, None)


@dataclass
class Browsing:
    """One Chromium for a test (or module), a context per person, and every request made."""

    browser: Any
    base: str
    requests: list[str] = field(default_factory=list)

    def person(self, *, viewport: dict[str, int] | None = None, locale: str = "ko-KR", **cookies: str) -> Any:
        context = self.browser.new_context(viewport=viewport or PHONE, locale=locale)
        context.on("request", lambda request: self.requests.append(request.url))
        if cookies:
            context.add_cookies([{"name": k, "value": v, "url": self.base} for k, v in cookies.items()])
        return context

    def foreign(self) -> list[str]:
        """Requests to anywhere but the service (data: and blob: URLs stay in the page)."""
        return [u for u in self.requests if not u.startswith((self.base + "/", "data:", "blob:"))]


@pytest.fixture
def chromium() -> Iterator[Any]:
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


# ---------------------------------------------------------------------- evidence files


def png_photo(seed: int = 0, size: int = 48) -> bytes:
    """A small real PNG (a coloured square with a stripe), different for each ``seed``."""
    r, g, b = (40 + seed * 37) % 256, (120 + seed * 53) % 256, (80 + seed * 29) % 256
    rows = b"".join(
        b"\x00" + b"".join(bytes((255, 255, 255) if abs(x - y) < 3 else (r, g, b)) for x in range(size))
        for y in range(size)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def gpx_track(end: datetime | None = None, minutes: int = 60, points: int = 61, seed: int = 0) -> bytes:
    """A GPX track of a walk along the Han river (~4.5 km an hour) ending at ``end``."""
    end = end or datetime.now(UTC) - timedelta(hours=2)
    start = end - timedelta(minutes=minutes)
    lat0, lon0 = 37.5300 + seed * 0.001, 127.0500
    items = []
    for i in range(points):
        moment = start + (end - start) * i / (points - 1)
        lat = lat0 + 0.0004 * i
        lon = lon0 + 0.0006 * i + 0.0002 * ((i % 6) - 3)
        items.append(
            f'<trkpt lat="{lat:.6f}" lon="{lon:.6f}"><time>{moment.strftime("%Y-%m-%dT%H:%M:%SZ")}</time></trkpt>'
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<gpx version="1.1" creator="test" '
        'xmlns="http://www.topografix.com/GPX/1/1"><trk><name>plogging</name><trkseg>'
        + "".join(items)
        + "</trkseg></trk></gpx>"
    ).encode()
