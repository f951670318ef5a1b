"""The FastAPI application factory."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse

from ledger.errors import LedgerError

from .claims import award_approved
from .deps import AppState
from .errors import install_error_handlers
from .idempotency import IdempotencyMiddleware
from .routes import auth, citizens, claims, events, rewards, verify

__all__ = ["create_app"]

log = logging.getLogger("civic.api")


def _award_loop(state: AppState, stop: threading.Event, interval: float) -> None:
    """Awards approved claims in batches every ``interval`` seconds."""
    while not stop.wait(interval):
        try:
            with state.store.session() as session, state.chain() as ledger:
                awarded, _ = award_approved(session, ledger, state.settings.award_batch_size)
            if awarded:
                log.info("awarded %d approved claims on-chain", awarded)
        except LedgerError as exc:
            log.warning("award batch postponed: %s", exc)


def create_app(state: AppState, *, award_interval: float = 2.0) -> FastAPI:
    """The service over ``state``; ``award_interval`` 0 turns the background award batches off."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        stop = threading.Event()
        worker = None
        if award_interval > 0:
            worker = threading.Thread(target=_award_loop, args=(state, stop, award_interval), daemon=True)
            worker.start()
        yield
        stop.set()
        if worker is not None:
            worker.join(timeout=10)

    app = FastAPI(
        title="Civic participation ledger",
        version="1",
        description="ESG reward points and event attendance badges, verifiable on-chain.",
        lifespan=lifespan,
    )
    app.state.civic = state
    install_error_handlers(app)
    app.add_middleware(IdempotencyMiddleware, store_getter=lambda request: request.app.state.civic.store)
    for module in (auth, citizens, claims, events, rewards, verify):
        app.include_router(module.router)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def home(request: Request) -> str:
        deployment = state.ledger.deployment
        return _HOME.format(
            chain_id=deployment.chain_id, points=deployment.points_address, badges=deployment.badges_address
        )

    @app.get("/v1/health", tags=["health"])
    def health() -> dict[str, object]:
        with state.chain() as ledger:
            block = ledger.w3.eth.block_number
        return {"status": "ok", "chain_id": state.ledger.deployment.chain_id, "block": block}

    return app


_HOME = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Civic participation ledger</title>
<style>body{{font-family:system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem}}
code{{background:#eef;padding:0 .2rem}}</style></head>
<body><h1>Civic participation ledger</h1>
<p>ESG reward points for plogging outings and attendance badges for city events, recorded on chain
<code>{chain_id}</code>. Anyone can verify a record without an account.</p>
<ul><li>Points contract: <code>{points}</code></li><li>Badges contract: <code>{badges}</code></li></ul>
<form onsubmit="location.href='/v1/verify/citizens/'+document.getElementById('a').value;return false">
<label>Verify a citizen's address <input id="a" size="44" placeholder="0x..."></label>
<button>Verify</button></form>
<p><a href="/docs">API documentation (OpenAPI)</a></p></body></html>
"""
