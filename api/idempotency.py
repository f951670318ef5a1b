"""Idempotency-Key on every write: the same key and body answer the first result without a
second on-chain write; the same key with another body gets 409."""

from __future__ import annotations

import hashlib
import re

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .store import IdempotencyRecord, Store

__all__ = ["IdempotencyMiddleware"]

_WRITES = {"POST", "PUT", "PATCH", "DELETE"}
#: Writes whose answers carry a secret or personal data (a session or staff token, a private key,
#: a profile). Their answers are never kept, so the key does not apply to them: the store keeps
#: tokens only hashed and keys and profiles only encrypted (and erasable), and a replay would hand
#: the secret to whoever repeats the request, past a sign-in nonce that is good for one use.
_NOT_KEPT = re.compile(r"^/v1/(auth/siwe/verify|staff-tokens|citizens|citizens/me/key-export)/?$")


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


class IdempotencyMiddleware(BaseHTTPMiddleware):
    def __init__(self, app, store_getter) -> None:  # type: ignore[no-untyped-def]
        super().__init__(app)
        self._store_getter = store_getter

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        key = request.headers.get("idempotency-key")
        if request.method not in _WRITES or key is None or _NOT_KEPT.match(request.url.path):
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

        try:
            response = await call_next(request)
        except BaseException:
            # An unhandled error (answered 500 further out): free the key for the retry, as for
            # any other server error, instead of leaving it "in progress" for ever.
            self._forget(store, principal, key)
            raise
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

    @staticmethod
    def _forget(store: Store, principal: str, key: str) -> None:
        with store.session() as session:
            record = session.scalar(
                select(IdempotencyRecord).where(IdempotencyRecord.principal == principal, IdempotencyRecord.key == key)
            )
            if record is not None and record.status_code is None:
                session.delete(record)
                session.commit()
