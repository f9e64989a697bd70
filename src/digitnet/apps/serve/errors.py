"""Every error answer of the API is ``{"detail": one line, "code": a stable kind}``.

The page branches on ``code``, never on the text. A library error
(:class:`~digitnet.errors.DigitnetError`) gets the status of its class and its class's
``code``; an :class:`ApiError` raised by a handler carries its own; FastAPI's validation
errors become one line with ``code`` ``"invalid_request"``.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from digitnet.errors import (
    BusyError,
    CheckpointError,
    ConfigError,
    DataError,
    DigitnetError,
    DivergenceError,
    ExportError,
    ImageError,
    ModelFileError,
    PixelsError,
    one_line,
)

#: the HTTP status of each library error class (the most specific class listed wins)
STATUS: dict[type[DigitnetError], int] = {
    ImageError: 400,
    PixelsError: 422,
    ConfigError: 400,
    DataError: 503,
    ModelFileError: 500,
    CheckpointError: 500,
    DivergenceError: 500,
    ExportError: 501,
    BusyError: 409,
    DigitnetError: 400,
}

#: the code of an HTTPException raised without one (FastAPI's own 404/405, Starlette's)
DEFAULT_CODES = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}


class ApiError(HTTPException):
    """An HTTP error answer with its stable ``code``."""

    def __init__(self, status: int, detail: str, code: str, **extra: Any) -> None:
        super().__init__(status, detail)
        self.code, self.extra = code, extra


def error_body(detail: str, code: str, **extra: Any) -> dict[str, Any]:
    return {"detail": detail, "code": code, **extra}


def status_of(exc: DigitnetError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 400


def install(app: FastAPI) -> None:
    """The one place where exceptions become answers."""

    @app.exception_handler(DigitnetError)
    async def library_error(request: Request, exc: DigitnetError) -> JSONResponse:
        return JSONResponse(error_body(one_line(exc), exc.code), status_of(exc))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = getattr(exc, "code", None) or DEFAULT_CODES.get(exc.status_code, "http_error")
        extra = getattr(exc, "extra", {})
        return JSONResponse(
            error_body(one_line(Exception(exc.detail)), code, **extra),
            exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        first = errors[0] if errors else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        detail = f"{where}: {first.get('msg', 'invalid')}" if where else first.get("msg", "")
        return JSONResponse(error_body(one_line(Exception(detail)), "invalid_request"), 422)
