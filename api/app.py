"""The FastAPI application factory."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from . import pages
from .errors import install_error_handlers
from .middleware import BodyLimit, IdempotencyMiddleware, SecurityHeaders
from .ratelimit import RateLimiter
from .routes import (
    admin,
    anchors,
    audit,
    auth,
    citizens,
    claims,
    credentials,
    events,
    metadata,
    proofs,
    rewards,
    verify,
)
from .services import anchoring, housekeeping
from .services.context import Context
from .services.indexer import Indexer
from .services.intents import ChainWriter

__all__ = ["create_app"]

log = logging.getLogger("civic.api")


def create_app(ctx: Context, *, workers: bool = True, indexer: Indexer | None = None) -> FastAPI:
    """The service over ``ctx``. With ``workers`` this process competes for the chain-writer and
    indexer leases (one process holds each); without, it only serves (tests drive work by hand)."""
    indexer = indexer or Indexer(ctx)
    writer = ChainWriter(
        ctx, periodic=[(300.0, housekeeping.prune), (ctx.settings.anchor_interval_seconds, anchoring.anchor_now)]
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if workers:
            writer.start()
            indexer.start()
        try:
            yield
        finally:
            if workers:
                writer.stop()
                indexer.stop()

    # fastapi-offline serves Swagger UI and ReDoc from the package: the docs work with no internet.
    app = FastAPIOffline(
        title="Civic participation ledger",
        version="2",
        description="ESG reward points and event attendance badges, verifiable on-chain. "
        "Authorise with a staff token or a citizen session (Bearer).",
        lifespan=lifespan,
    )
    app.state.ctx = ctx
    app.state.indexer = indexer
    app.state.writer = writer
    app.state.limiter = RateLimiter(ctx.store)
    install_error_handlers(app)
    app.add_middleware(
        IdempotencyMiddleware,
        store_getter=lambda scope: scope["app"].state.ctx.store,
        owner_getter=lambda scope: scope["app"].state.ctx.process_id,
        alive=lambda scope, owner: scope["app"].state.ctx.leases.alive(owner),
    )
    app.add_middleware(BodyLimit, json_limit=ctx.settings.max_body_bytes, upload_limit=ctx.settings.max_upload_bytes)
    app.add_middleware(SecurityHeaders)
    app.include_router(pages.router)
    # Every API route lives under /v1, named once here.
    routers = (auth, citizens, claims, events, rewards, admin, verify, metadata, proofs, credentials, anchors, audit)
    for module in routers:
        app.include_router(module.router, prefix="/v1")
    app.include_router(credentials.well_known_router)
    return app
