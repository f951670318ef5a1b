"""The FastAPI application factory."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from ledger.errors import ChainUnavailable, LedgerError

from . import pages
from .claims import award_approved
from .deps import AppState
from .errors import install_error_handlers
from .idempotency import IdempotencyMiddleware
from .routes import auth, citizens, claims, events, rewards, verify

__all__ = ["create_app"]

log = logging.getLogger("civic.api")


def _award_loop(state: AppState, stop: threading.Event, interval: float) -> None:
    """Awards approved claims in batches every ``interval`` seconds. Nothing may end the loop:
    a batch that fails, for whatever reason, is tried again at the next tick."""
    while not stop.wait(interval):
        try:
            with state.store.session() as session, state.chain() as ledger:
                awarded, _ = award_approved(session, ledger, state.settings.award_batch_size)
            if awarded:
                log.info("awarded %d approved claims on-chain", awarded)
        except LedgerError as exc:
            log.warning("award batch postponed: %s", exc)
        except Exception:  # e.g. a node request failing untranslated while the node is down
            log.exception("award batch failed; trying again in %gs", interval)


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
    for module in (pages, auth, citizens, claims, events, rewards, verify):
        app.include_router(module.router)

    @app.get("/v1/health", tags=["health"])
    def health() -> dict[str, object]:
        """200 with the latest block while the node answers; 503 ``chain_unavailable`` when not."""
        with state.chain() as ledger:
            try:
                block = ledger.w3.eth.block_number
            except Exception as exc:  # the node is down or refuses: say so, never 500
                raise ChainUnavailable(f"the node did not answer: {exc}") from exc
        return {"status": "ok", "chain_id": state.ledger.deployment.chain_id, "block": block}

    return app
