"""The API's exception tree and the one place where errors become HTTP responses.

Every error answer is ``{"error": {"code": "<stable_snake_case>", "message": "<for people>"}}``.
Ledger errors are mapped here; the ledger itself never knows about HTTP.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ledger import errors as ledger_errors

__all__ = ["ApiError", "install_error_handlers"]

log = logging.getLogger("civic.api")


class ApiError(Exception):
    """An error answered with ``status`` and a stable ``code``."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


_REVERT_STATUS: dict[type[ledger_errors.ContractRevert], int] = {
    ledger_errors.DuplicateActivity: 409,
    ledger_errors.AlreadyHasBadge: 409,
    ledger_errors.VoucherAlreadyUsed: 409,
    ledger_errors.ActivityAlreadyReversed: 409,
    ledger_errors.InsufficientPoints: 409,
    ledger_errors.EventFull: 409,
    ledger_errors.ClaimWindowClosed: 409,
    ledger_errors.VoucherExpired: 410,
    ledger_errors.ConsentExpired: 410,
    ledger_errors.UnknownEvent: 404,
    ledger_errors.NoBadge: 404,
    ledger_errors.ActivityNotAwarded: 404,
    ledger_errors.LedgerPaused: 503,
    ledger_errors.NotAuthorized: 503,  # the city's own key lacks a role: an operator must fix it
}


def ledger_error_response(exc: ledger_errors.LedgerError) -> tuple[int, str, str]:
    if isinstance(exc, ledger_errors.ContractRevert):
        # The code comes from the ledger's class, not the Solidity name it was decoded from:
        # OpenZeppelin's EnforcedPause is LedgerPaused, so the code is ledger_paused, whichever
        # library error the contracts happen to raise. A revert no class knows keeps its own name.
        known = type(exc) is not ledger_errors.ContractRevert
        return _REVERT_STATUS.get(type(exc), 422), _snake(type(exc).__name__ if known else exc.name), str(exc)
    if isinstance(exc, ledger_errors.InvalidInput):
        return 422, "invalid_input", str(exc)
    if isinstance(exc, ledger_errors.ChainUnavailable):
        return 503, "chain_unavailable", "the blockchain node is unavailable; try again shortly"
    if isinstance(exc, ledger_errors.AccessDenied):
        return 503, "city_key_lacks_role", str(exc)
    return 500, "ledger_error", str(exc)


def _body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, **extra}}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(_body(exc.code, exc.message), status_code=exc.status, headers=exc.headers)

    @app.exception_handler(ledger_errors.LedgerError)
    async def ledger_error(_: Request, exc: ledger_errors.LedgerError) -> JSONResponse:
        status, code, message = ledger_error_response(exc)
        if status >= 500:
            log.warning("ledger error: %s", exc)
        return JSONResponse(_body(code, message), status_code=status)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        details = [
            {"field": ".".join(str(p) for p in e.get("loc", ())[1:]), "problem": e.get("msg", "")} for e in exc.errors()
        ]
        message = "; ".join(f"{d['field'] or 'body'}: {d['problem']}" for d in details) or "invalid request"
        return JSONResponse(_body("invalid_request", message, details=details), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse(_body(code, str(exc.detail)), status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error")
        return JSONResponse(_body("internal_error", "an unexpected error occurred"), status_code=500)
