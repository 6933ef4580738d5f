"""Translating errors at the edge: sign-in needed (to the form, or 401), forbidden (403), the
domain's 404 / 409 / 422, each with a readable message, and a database that could not serve
the request just now (locked past the wait, a dropped connection, a server restarting, a
disk full: `dispatch.db.unavailable`) as a 503 page saying to try again, with `Retry-After`.
Whatever the failed request wrote was rolled back; every form carries its idempotency key, so
sending it again makes nothing twice."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exception_handlers import request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy.exc import DataError, DBAPIError, PendingRollbackError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from dispatch.db import unavailable
from dispatch.errors import Conflict, DispatchError, InvalidInput, InvalidTransition, NotFound
from web.auth import Forbidden, SignInNeeded, login_redirect_url
from web.templating import templates

logger = logging.getLogger(__name__)

#: What a person reads when the database could not serve their request, and how many seconds
#: a client is told to wait before trying again.
UNAVAILABLE_MESSAGE = (
    "The database is busy or out of reach just now, so nothing was saved. "
    "Please try again in a moment: sending the same form again makes nothing twice."
)
RETRY_AFTER_S = 5


def status_for(exc: DispatchError) -> int:
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, Conflict | InvalidTransition):
        return 409
    if isinstance(exc, InvalidInput):
        return 422
    return 400


def _wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "")


def install(app: FastAPI) -> None:
    @app.exception_handler(SignInNeeded)
    async def _sign_in(request: Request, exc: SignInNeeded) -> Response:
        target = login_redirect_url(request)
        if request.headers.get("hx-request"):  # htmx follows this header with a full page
            return Response(status_code=401, headers={"HX-Redirect": target})
        accept = request.headers.get("accept", "")
        asks_json = "application/json" in accept and "text/html" not in accept
        # A page (whatever the client's Accept, unless it asks for JSON) and a form posted
        # after the session ended both go to the sign-in form.
        if (request.method == "GET" and not asks_json) or _wants_html(request):
            return RedirectResponse(target, status_code=303)
        return JSONResponse({"error": "SignInNeeded", "detail": "sign in first"}, 401)

    @app.exception_handler(Forbidden)
    async def _forbidden(request: Request, exc: Forbidden) -> Response:
        logger.warning(
            "forbidden: %s on %s %s", exc.user.role.value, request.method, request.url.path
        )
        if _wants_html(request) or request.headers.get("hx-request"):
            return templates.TemplateResponse(
                request, "error.html", {"message": str(exc), "status": 403}, status_code=403
            )
        return JSONResponse({"error": "Forbidden", "detail": str(exc)}, status_code=403)

    @app.exception_handler(DispatchError)
    async def _domain_error(request: Request, exc: DispatchError) -> Response:
        status = status_for(exc)
        if "text/html" in request.headers.get("accept", ""):
            return templates.TemplateResponse(
                request, "error.html", {"message": str(exc), "status": status}, status_code=status
            )
        return JSONResponse({"error": type(exc).__name__, "detail": str(exc)}, status_code=status)

    @app.exception_handler(OverflowError)
    @app.exception_handler(DataError)
    async def _out_of_range(request: Request, exc: Exception) -> Response:
        """A number or date beyond what the database or the calendar holds (an id of 20
        digits, the year 9999): bad input, answered as such, never a bare 500. Routes bound
        their parameters; this is the net under them."""
        logger.info("out-of-range input on %s %s", request.method, request.url.path)
        message = "a number or date in the request is out of range"
        if _wants_html(request) or request.headers.get("hx-request"):
            return templates.TemplateResponse(
                request, "error.html", {"message": message, "status": 422}, status_code=422
            )
        return JSONResponse({"error": "OutOfRange", "detail": message}, status_code=422)

    @app.exception_handler(DBAPIError)
    @app.exception_handler(PoolTimeout)
    @app.exception_handler(PendingRollbackError)
    async def _database_unavailable(request: Request, exc: Exception) -> Response:
        """A database that could not serve the request now: a readable 503, never a bare 500
        (the class name only in the log: a driver's message may quote bound values)."""
        if not unavailable(exc):
            raise exc
        logger.error(
            "database unavailable (%s) on %s %s",
            type(exc).__name__,
            request.method,
            request.url.path,
        )
        headers = {"Retry-After": str(RETRY_AFTER_S)}
        if _wants_html(request) or request.headers.get("hx-request"):
            return templates.TemplateResponse(
                request,
                "error.html",
                {"message": UNAVAILABLE_MESSAGE, "status": 503},
                status_code=503,
                headers=headers,
            )
        return JSONResponse(
            {"error": "Unavailable", "detail": UNAVAILABLE_MESSAGE}, 503, headers=headers
        )

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
