"""ASGI middleware: body limits, hardening headers, and Idempotency-Key replay.

Bodies are capped before they are read (a 200 MiB request is refused at its Content-Length, or
as soon as it streams past the cap). An Idempotency-Key replays a finished answer; a request that
did not finish (its process died, or it answered 5xx or 202) may be run again with the same key:
its chain work is an intent found by the same key, so running it again finds what the first run
did instead of doing it twice.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .store import IdempotencyRecord, Store

__all__ = ["BodyLimit", "IdempotencyMiddleware", "SecurityHeaders"]

_WRITES = {"POST", "PUT", "PATCH", "DELETE"}
#: Writes whose answers carry a secret (a session or staff token, a card code, a private key)
#: or personal data. Their answers are never kept, so the key does not apply to them: a replay
#: would hand the secret to whoever repeats the request.
_NOT_KEPT = re.compile(r"^/v1/(auth/.*|staff-tokens|citizens|citizens/[^/]+/card|citizens/me/key-export)/?$")


async def _json_error(
    send: Send, status: int, code: str, message: str, headers: tuple[tuple[bytes, bytes], ...] = ()
) -> None:
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *headers],
        }
    )
    await send({"type": "http.response.body", "body": body})


class BodyLimit:
    """Refuses bodies over ``json_limit`` (uploads: ``upload_limit``) before parsing them."""

    def __init__(self, app: ASGIApp, json_limit: int, upload_limit: int) -> None:
        self.app = app
        self.json_limit = json_limit
        self.upload_limit = upload_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        content_type = headers.get(b"content-type", b"").decode("latin-1").split(";")[0].strip().lower()
        upload = content_type in (
            "multipart/form-data",
            "text/csv",
            "application/octet-stream",
        ) or content_type.startswith("image/")
        limit = self.upload_limit if upload else self.json_limit
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                too_big = int(declared) > limit
            except ValueError:
                await _json_error(send, 400, "invalid_request", "Content-Length is not a number")
                return
            if too_big:
                await _json_error(send, 413, "body_too_large", f"the request body is over the {limit:,}-byte limit")
                return
        if declared is not None:
            await self.app(scope, receive, send)
            return
        # No Content-Length (a chunked body): read it up to the limit first, so that an
        # oversized one is refused here rather than inside the framework's parsing.
        chunks, received = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, receive, send)
                return
            chunks.append(message.get("body", b""))
            received += len(chunks[-1])
            if received > limit:
                await _json_error(send, 413, "body_too_large", f"the request body is over the {limit:,}-byte limit")
                return
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


class SecurityHeaders:
    """nosniff, no framing, no referrer, and a content security policy that allows nothing
    from another host (the pages and the API docs serve every asset themselves)."""

    CSP = (
        "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; "
        "script-src 'self' 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'; "
        "base-uri 'self'; form-action 'self'"
    )

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                extra = [
                    (b"x-content-type-options", b"nosniff"),
                    (b"x-frame-options", b"DENY"),
                    (b"referrer-policy", b"no-referrer"),
                    (b"content-security-policy", self.CSP.encode()),
                ]
                present = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = [*message.get("headers", []), *(h for h in extra if h[0] not in present)]
            await send(message)

        await self.app(scope, receive, with_headers)


class IdempotencyMiddleware:
    """Idempotency-Key on every write: the same key and body answer the first finished result
    without a second effect; the same key with another body gets 409."""

    def __init__(self, app: ASGIApp, store_getter: Any, owner_getter: Any, alive: Any) -> None:
        self.app = app
        self._store_getter = store_getter
        self._owner_getter = owner_getter
        self._alive = alive
        self._running: set[tuple[str, str]] = set()
        self._lock = threading.Lock()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _WRITES or _NOT_KEPT.match(scope["path"]):
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        key_raw = headers.get(b"idempotency-key")
        if key_raw is None:
            await self.app(scope, receive, send)
            return
        key = key_raw.decode("latin-1")
        if not 1 <= len(key) <= 200:
            await _json_error(send, 422, "invalid_idempotency_key", "Idempotency-Key must be 1 to 200 characters")
            return
        # Read the whole body (already capped by BodyLimit) to fingerprint it, then replay it.
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        principal = hashlib.sha256(headers.get(b"authorization", b"")).hexdigest()[:32]
        fingerprint = hashlib.sha256(
            scope["method"].encode() + b" " + scope["path"].encode() + b"\n" + body
        ).hexdigest()
        store: Store = self._store_getter(scope)
        owner: str = self._owner_getter(scope)
        claim = (principal, key)
        with self._lock:
            running_here = claim in self._running
        with store.session() as session:
            existing = session.scalar(
                select(IdempotencyRecord).where(IdempotencyRecord.principal == principal, IdempotencyRecord.key == key)
            )
            if existing is None:
                session.add(IdempotencyRecord(principal=principal, key=key, request_hash=fingerprint, owner=owner))
                try:
                    session.commit()
                except IntegrityError:
                    session.rollback()
                    await _json_error(
                        send, 409, "idempotency_key_in_use", "a request with this Idempotency-Key is in progress"
                    )
                    return
            elif existing.request_hash != fingerprint:
                await _json_error(
                    send, 409, "idempotency_key_reused", "this Idempotency-Key was used with a different request"
                )
                return
            elif existing.status_code is not None:
                await self._replay(send, existing.status_code, existing.response_body or "")
                return
            elif running_here or (existing.owner not in ("", owner) and self._alive(scope, existing.owner)):
                await _json_error(
                    send, 409, "idempotency_key_in_use", "a request with this Idempotency-Key is in progress"
                )
                return
            else:
                existing.owner = owner  # unfinished by a process that is gone, or answered 5xx/202: run again
                session.commit()
        with self._lock:
            self._running.add(claim)
        try:
            await self._run(scope, body, send, store, principal, key)
        finally:
            with self._lock:
                self._running.discard(claim)

    async def _run(self, scope: Scope, body: bytes, send: Send, store: Store, principal: str, key: str) -> None:
        sent = False

        async def replay_body() -> Message:
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        status = 500
        response_headers: list[tuple[bytes, bytes]] = []
        payload = bytearray()

        async def capture(message: Message) -> None:
            nonlocal status, response_headers
            if message["type"] == "http.response.start":
                status = message["status"]
                response_headers = list(message.get("headers", []))
            elif message["type"] == "http.response.body":
                payload.extend(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, replay_body, capture)
        finally:
            with store.session() as session:
                record = session.scalar(
                    select(IdempotencyRecord).where(
                        IdempotencyRecord.principal == principal, IdempotencyRecord.key == key
                    )
                )
                if record is not None:
                    if status < 500 and status != 202:
                        record.status_code, record.response_body = status, payload.decode("utf-8", "replace")
                    else:
                        # Not finished: the retry runs it again (and finds its intent).
                        record.owner = ""
                    session.commit()

    @staticmethod
    async def _replay(send: Send, status: int, body: str) -> None:
        raw = body.encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(raw)).encode()),
                    (b"idempotent-replayed", b"true"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": raw})
