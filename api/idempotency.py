"""Idempotency-Key on every write: the same key and body answer the first result without a
second on-chain write; the same key with another body gets 409."""

from __future__ import annotations

import hashlib

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .store import IdempotencyRecord, Store

__all__ = ["IdempotencyMiddleware"]

_WRITES = {"POST", "PUT", "PATCH", "DELETE"}


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


class IdempotencyMiddleware(BaseHTTPMiddleware):
    def __init__(self, app, store_getter) -> None:  # type: ignore[no-untyped-def]
        super().__init__(app)
        self._store_getter = store_getter

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        key = request.headers.get("idempotency-key")
        if request.method not in _WRITES or key is None:
            return await call_next(request)
        if not 1 <= len(key) <= 200:
            return _error(422, "invalid_idempotency_key", "Idempotency-Key must be 1 to 200 characters")
        store: Store = self._store_getter(request)
        body = await request.body()
        # The key belongs to the caller: two callers may use the same key independently.
        principal = hashlib.sha256(request.headers.get("authorization", "").encode()).hexdigest()[:32]
        fingerprint = hashlib.sha256(
            request.method.encode() + b" " + request.url.path.encode() + b"\n" + body
        ).hexdigest()
        with store.session() as session:
            existing = session.scalar(
                select(IdempotencyRecord).where(IdempotencyRecord.principal == principal, IdempotencyRecord.key == key)
            )
            if existing is None:
                session.add(IdempotencyRecord(principal=principal, key=key, request_hash=fingerprint))
                try:
                    session.commit()
                except IntegrityError:
                    session.rollback()
                    return _error(409, "idempotency_key_in_use", "a request with this Idempotency-Key is in progress")
            elif existing.request_hash != fingerprint:
                return _error(409, "idempotency_key_reused", "this Idempotency-Key was used with a different request")
            elif existing.status_code is None:
                return _error(409, "idempotency_key_in_use", "a request with this Idempotency-Key is in progress")
            else:
                replay = Response(
                    existing.response_body or "", status_code=existing.status_code, media_type="application/json"
                )
                replay.headers["Idempotent-Replayed"] = "true"
                return replay

        response = await call_next(request)
        chunks = [chunk async for chunk in response.body_iterator]  # type: ignore[attr-defined]
        payload = b"".join(c if isinstance(c, bytes) else c.encode() for c in chunks)
        with store.session() as session:
            record = session.scalar(
                select(IdempotencyRecord).where(IdempotencyRecord.principal == principal, IdempotencyRecord.key == key)
            )
            if record is not None:
                if response.status_code >= 500:
                    # A failure the caller may retry: forget the key instead of pinning the error.
                    session.delete(record)
                else:
                    record.status_code = response.status_code
                    record.response_body = payload.decode()
                session.commit()
        headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
        return Response(payload, status_code=response.status_code, headers=headers, media_type=response.media_type)
