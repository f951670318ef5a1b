"""The one place where errors become HTTP responses.

Every error answer is ``{"error": {"code": "<stable_snake_case>", "message": "<for people>"}}``.
Services raise :class:`~api.services.errors.ServiceError` kinds and let ledger errors through;
:func:`~api.services.errors.classify` turns both into a failure kind, mapped to a status here.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ledger import LedgerError

from .services.errors import ErrorKind, ServiceError, classify
from .services.intents import StillRunning

__all__ = ["STATUS", "error_body", "install_error_handlers"]

log = logging.getLogger("civic.api")

#: The status of each kind of failure.
STATUS: dict[ErrorKind, int] = {
    ErrorKind.INVALID: 422,
    ErrorKind.UNAUTHENTICATED: 401,
    ErrorKind.FORBIDDEN: 403,
    ErrorKind.NOT_FOUND: 404,
    ErrorKind.CONFLICT: 409,
    ErrorKind.GONE: 410,
    ErrorKind.RATE_LIMITED: 429,
    ErrorKind.UNAVAILABLE: 503,
    ErrorKind.INTERNAL: 500,
}


def error_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, **extra}}


def _failure_response(exc: BaseException) -> JSONResponse:
    failure = classify(exc)
    status = STATUS[failure.kind]
    headers: dict[str, str] = {}
    if failure.kind == ErrorKind.UNAUTHENTICATED:
        headers["WWW-Authenticate"] = "Bearer"
    if isinstance(exc, ServiceError) and exc.retry_after:
        headers["Retry-After"] = str(exc.retry_after)
    if status >= 500:
        log.warning("%s: %s", failure.code, exc)
    return JSONResponse(error_body(failure.code, failure.message), status_code=status, headers=headers or None)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ServiceError)
    async def service_error(_: Request, exc: ServiceError) -> JSONResponse:
        return _failure_response(exc)

    @app.exception_handler(LedgerError)
    async def ledger_error(_: Request, exc: LedgerError) -> JSONResponse:
        return _failure_response(exc)

    @app.exception_handler(StillRunning)
    async def still_running(_: Request, exc: StillRunning) -> JSONResponse:
        return JSONResponse(
            {"intent_id": exc.intent_id, "status": exc.status, "poll": f"/v1/intents/{exc.intent_id}"},
            status_code=202,
        )

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        details = field_problems(exc.errors())
        message = "; ".join(f"{d['field'] or 'body'}: {d['problem']}" for d in details) or "invalid request"
        return JSONResponse(error_body("invalid_request", message, details=details), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed", 413: "body_too_large"}.get(exc.status_code, "http_error")
        return JSONResponse(error_body(code, str(exc.detail)), status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error")
        return JSONResponse(error_body("internal_error", "an unexpected error occurred"), status_code=500)


#: What pydantic adds to an error's location inside a union or a wrapped type ("datetime",
#: "constrained-int", "function-before[...]"): not a field the caller wrote.
_TYPE_NAMES = {"datetime", "date", "int", "str", "float", "bool", "dict", "list", "bytes"}
_TYPE_TAG = re.compile(r"\[|^(constrained|function|json-or-python|lax-or-strict|tagged-union|nullable|chain)-?")


def field_problems(errors: Sequence[Any]) -> list[dict[str, str]]:
    """Validation errors as ``{"field", "problem"}``, one per field the caller wrote: the
    location without its first part (body, query, path) and without pydantic's names for the
    members of a union, whose problems are joined ("... or ...")."""
    problems: dict[str, list[str]] = {}
    for error in errors:
        parts = [
            str(p)
            for p in tuple(error.get("loc", ()))[1:]
            if not (isinstance(p, str) and (p in _TYPE_NAMES or _TYPE_TAG.search(p)))
        ]
        found = problems.setdefault(".".join(parts), [])
        message = str(error.get("msg", "")).removeprefix("Value error, ")
        if message not in found:
            found.append(message)
    return [{"field": field, "problem": " or ".join(messages)} for field, messages in problems.items()]
