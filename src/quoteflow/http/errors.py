"""One JSON error shape for every REST API: ``{"reason", "message", "field"}``.

``reason`` is a stable code to branch on, ``message`` says what to change, and
``field`` names the request field at fault (null when no one field is). FastAPI's
own ``{"detail": ...}`` answers (bad JSON, schema errors, HTTP errors) are
turned into the same shape, so clients parse one thing.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

__all__ = ["error_response", "field_of", "install_error_handlers"]

_REASONS = {
    400: "bad_request",
    401: "unauthenticated",
    403: "not_entitled",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "too_many_requests",
    503: "unavailable",
}

_MSGSPEC_PATH = re.compile(r"at `\$\.?([^`]*)`")


def error_response(
    status: int,
    reason: str,
    message: str,
    field: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """Return the error answer: ``status`` with ``{"reason", "message", "field"}``."""
    body = {"reason": reason, "message": message, "field": field}
    return JSONResponse(body, status_code=status, headers=headers)


def field_of(message: str) -> str | None:
    """Return the field a msgspec validation message points at (``at `$.price` ``), if any."""
    match = _MSGSPEC_PATH.search(message)
    return (match.group(1) or None) if match else None


def _location(errors: list[dict[str, Any]]) -> str | None:
    if not errors:
        return None
    parts = [str(p) for p in errors[0].get("loc", ()) if p not in ("body", "query", "path")]
    return ".".join(parts) or None


def install_error_handlers(app: FastAPI) -> None:
    """Answer HTTP errors and request validation errors of ``app`` in the one error shape."""

    @app.exception_handler(HTTPException)
    async def http_error(_request: Request, error: HTTPException) -> JSONResponse:
        detail = error.detail
        if isinstance(detail, dict):
            return error_response(error.status_code, detail.get("reason", "error"),
                                  str(detail.get("message", "")), detail.get("field"),
                                  headers=error.headers)  # fmt: skip
        reason = _REASONS.get(error.status_code, "error")
        return error_response(error.status_code, reason, str(detail), field_of(str(detail)),
                              headers=error.headers)  # fmt: skip

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, error: RequestValidationError) -> JSONResponse:
        errors = list(error.errors())
        first = errors[0] if errors else {}
        field = _location(errors)
        message = f"{field}: {first.get('msg', 'invalid')}" if field else first.get("msg", "")
        return error_response(422, "invalid_request", message, field)
