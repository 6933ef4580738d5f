"""Translating domain errors at the edge: 404 / 409 / 422 with a readable message."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exception_handlers import request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response

from dispatch.errors import Conflict, DispatchError, InvalidInput, InvalidTransition, NotFound
from web.templating import templates


def status_for(exc: DispatchError) -> int:
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, Conflict | InvalidTransition):
        return 409
    if isinstance(exc, InvalidInput):
        return 422
    return 400


def install(app: FastAPI) -> None:
    @app.exception_handler(DispatchError)
    async def _domain_error(request: Request, exc: DispatchError) -> Response:
        status = status_for(exc)
        if "text/html" in request.headers.get("accept", ""):
            return templates.TemplateResponse(
                request, "error.html", {"message": str(exc), "status": status}, status_code=status
            )
        return JSONResponse({"error": type(exc).__name__, "detail": str(exc)}, status_code=status)

    @app.exception_handler(RequestValidationError)
    async def _bad_input(request: Request, exc: RequestValidationError) -> Response:
        if "text/html" not in request.headers.get("accept", ""):
            return await request_validation_exception_handler(request, exc)
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ())[1:])}: {e.get('msg', 'invalid')}"
            for e in exc.errors()
        )
        return templates.TemplateResponse(
            request, "error.html", {"message": problems, "status": 422}, status_code=422
        )
