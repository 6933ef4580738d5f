"""Translating domain errors at the edge: 404 / 409 / 422 with a readable message."""

from __future__ import annotations

from fastapi import FastAPI, Request
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
