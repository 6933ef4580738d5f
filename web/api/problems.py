"""Every error of `/api/v1` as problem details (RFC 9457, `application/problem+json`): the
domain's errors, FastAPI's validation errors, Starlette's 404 and 405 for unknown paths and
methods, refused keys (401 with `WWW-Authenticate`), rate limits (429 with `Retry-After`) and
a crash (500, with no trace). Each problem names its type (`urn:doorstep:problem:<slug>`, all
listed in `TYPES` and in the API's description), a title, the status, a detail in plain words
and the path it happened on; validation problems list each field and what is wrong with it.

No detail ever quotes what was sent (a phone number, a name): fields are named, values are
not. Nothing of a request is logged but its method, path and the problem's type.

Not here: the routes (`web.api.reading`, `web.api.booking`, `web.api.existing`), the key check
and rate limit (`web.api.access`), which leaves the client's `RateLimit-*` headers in the
request's state: every problem answered after the key was accepted carries them too.
"""

from __future__ import annotations

import logging
import traceback
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, PendingRollbackError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dispatch.db import unavailable
from dispatch.errors import Conflict, DispatchError, InvalidInput, InvalidTransition, NotFound
from dispatch.visits.once import KeyReused

log = logging.getLogger(__name__)

#: Seconds a client is told to wait before sending again a command the database could not take.
RETRY_AFTER_S = 5
MEDIA_TYPE = "application/problem+json"
#: Where `web.api.access` leaves the client's `RateLimit-*` headers in the request's state
#: (`scope["state"]`), for every problem answered after the key was accepted.
RATE_LIMIT_STATE = "rate_limit_headers"
PREFIX = "urn:doorstep:problem:"

#: Every problem type the API answers with: slug -> (status, title, when).
TYPES: dict[str, tuple[int, str, str]] = {
    "bad-request": (400, "Bad request", "the request cannot be read (e.g. not JSON)"),
    "idempotency-key-missing": (
        400,
        "Idempotency-Key header missing",
        "a command that changes something was sent without its `Idempotency-Key`",
    ),
    "unauthorized": (
        401,
        "API key refused",
        "no key, a malformed or unknown key, or a revoked one (`WWW-Authenticate` is set)",
    ),
    "not-found": (
        404,
        "Not found",
        "an unknown path or place, or a request that does not exist or whose proof does not "
        "match: the same answer for both, so references cannot be probed",
    ),
    "method-not-allowed": (405, "Method not allowed", "the path exists, the method does not"),
    "key-reused": (
        409,
        "Idempotency-Key reused",
        "the key was already used by this client for another command or another request body",
    ),
    "window-taken": (
        409,
        "Window no longer available",
        "the live plan can no longer meet the chosen window: ask for offers again",
    ),
    "too-late": (
        409,
        "Too late to change",
        "the agent is on the way, or the request is closed",
    ),
    "conflict": (
        409,
        "Conflict",
        "someone else changed the same thing at the same moment: try again",
    ),
    "unsupported-media-type": (415, "Unsupported media type", "send `application/json`"),
    "invalid-input": (
        422,
        "Invalid input",
        "a field is missing or wrong (`errors` lists each field and why)",
    ),
    "rate-limited": (
        429,
        "Too many requests",
        "past the client's requests per minute: wait `Retry-After` seconds",
    ),
    "proofs-locked": (
        429,
        "Too many failed proofs",
        "too many failed proofs lately for this phone number, or through this client whatever "
        "numbers it sent: refused until the count falls back (`Retry-After`, seconds)",
    ),
    "unavailable": (
        503,
        "Service unavailable",
        "the database could not serve the request just now (busy, restarting, out of reach): "
        "nothing was saved; send it again after `Retry-After` seconds with the same "
        "Idempotency-Key",
    ),
    "server-error": (
        500,
        "Server error",
        "something failed on our side: a command may be sent again with the same Idempotency-Key",
    ),
}
_BY_STATUS = {
    400: "bad-request",
    401: "unauthorized",
    404: "not-found",
    405: "method-not-allowed",
    409: "conflict",
    415: "unsupported-media-type",
    422: "invalid-input",
    429: "rate-limited",
}


class FieldProblem(BaseModel):
    """One field of the request that is missing or wrong."""

    field: str = Field(description="where: `body.address.village_id`, `header.x-visit-code`...")
    message: str


class Problem(BaseModel):
    """Problem details (RFC 9457)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "type": "urn:doorstep:problem:window-taken",
                    "title": "Window no longer available",
                    "status": 409,
                    "detail": "The live plan can no longer meet that window: ask for offers again.",
                    "instance": "/api/v1/requests",
                }
            ]
        }
    )

    type: str = Field(description="`urn:doorstep:problem:<slug>`; the slugs are listed above")
    title: str
    status: int
    detail: str
    instance: str = Field(description="the path the problem happened on")
    errors: list[FieldProblem] | None = Field(
        default=None, description="for `invalid-input`: each field and what is wrong with it"
    )


class ApiProblem(Exception):
    """Raised by the API's routes and dependencies: answered as problem details."""

    def __init__(
        self,
        slug: str,
        detail: str,
        *,
        headers: dict[str, str] | None = None,
        errors: list[FieldProblem] | None = None,
    ) -> None:
        super().__init__(detail)
        self.slug = slug
        self.status = TYPES[slug][0]
        self.detail = detail
        self.headers = headers or {}
        self.errors = errors


def problem_response(
    request: Request,
    slug: str,
    detail: str,
    *,
    status: int | None = None,
    headers: dict[str, str] | None = None,
    errors: list[FieldProblem] | None = None,
) -> Response:
    code, title, _ = TYPES[slug]
    body = Problem(
        type=PREFIX + slug,
        title=title,
        status=status or code,
        detail=detail,
        instance=_path(request.scope),
        errors=errors,
    )
    return JSONResponse(
        body.model_dump(exclude_none=True),
        status_code=status or code,
        headers={**_rate_limit_headers(request.scope), **(headers or {})},
        media_type=MEDIA_TYPE,
    )


def _rate_limit_headers(scope: Scope) -> dict[str, str]:
    """The client's `RateLimit-*` headers, if its key was accepted on this request."""
    state = scope.get("state") or {}
    found = state.get(RATE_LIMIT_STATE) if isinstance(state, dict) else None
    return dict(found) if isinstance(found, dict) else {}


def _path(scope: Scope) -> str:
    return str(scope.get("root_path", "")) + str(scope.get("path", "")).removeprefix(
        str(scope.get("root_path", ""))
    )


def slug_of(exc: DispatchError) -> str:
    """The problem type of a domain error (the more specific ones are caught by the routes)."""
    if isinstance(exc, NotFound):
        return "not-found"
    if isinstance(exc, KeyReused):
        return "key-reused"
    if isinstance(exc, InvalidTransition):
        return "too-late"
    if isinstance(exc, Conflict):
        return "conflict"
    return "invalid-input"


def field_problems(exc: InvalidInput) -> list[FieldProblem]:
    """The field a domain check refused, and why, without the value given."""
    return [FieldProblem(field=exc.field, message=exc.reason)]


def _validation_problems(exc: RequestValidationError) -> list[FieldProblem]:
    out = []
    for error in exc.errors():
        location = [str(part) for part in error.get("loc", ())]
        out.append(
            FieldProblem(field=".".join(location) or "request", message=str(error.get("msg", "")))
        )
    return out


def _missing_idempotency_key(exc: RequestValidationError) -> bool:
    errors = exc.errors()
    return bool(errors) and all(
        e.get("type") == "missing" and tuple(e.get("loc", ())) == ("header", "Idempotency-Key")
        for e in errors
    )


def install(api: FastAPI) -> None:
    """Answer every error of `api` as problem details."""

    @api.exception_handler(ApiProblem)
    async def _api_problem(request: Request, exc: ApiProblem) -> Response:
        return problem_response(
            request, exc.slug, exc.detail, headers=exc.headers, errors=exc.errors
        )

    @api.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        if _missing_idempotency_key(exc):
            return problem_response(
                request,
                "idempotency-key-missing",
                "Send an Idempotency-Key header (a UUID made for this command; the same one "
                "on each retry).",
            )
        if any(e.get("type") == "json_invalid" for e in exc.errors()):
            return problem_response(request, "bad-request", "The body is not valid JSON.")
        problems = _validation_problems(exc)
        return problem_response(
            request,
            "invalid-input",
            "Some fields are missing or wrong: see `errors`.",
            errors=problems,
        )

    @api.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> Response:
        slug = _BY_STATUS.get(exc.status_code, "bad-request")
        detail = {
            404: "There is nothing at this path: see /api/v1/openapi.json.",
            405: "This path does not take this method (see the Allow header).",
        }.get(exc.status_code, str(exc.detail))
        return problem_response(
            request, slug, detail, status=exc.status_code, headers=dict(exc.headers or {})
        )

    @api.exception_handler(DispatchError)
    async def _domain(request: Request, exc: DispatchError) -> Response:
        slug = slug_of(exc)
        if isinstance(exc, InvalidInput):
            return problem_response(
                request,
                slug,
                f"{exc.field}: {exc.reason}.",
                errors=field_problems(exc),
            )
        if isinstance(exc, NotFound):
            return problem_response(request, slug, f"No such {exc.entity}.")
        return problem_response(request, slug, TYPES[slug][2].capitalize() + ".")

    @api.exception_handler(IntegrityError)
    async def _integrity(request: Request, exc: IntegrityError) -> Response:
        log.info("api: integrity conflict on %s %s", request.method, request.url.path)
        return problem_response(request, "conflict", "Someone else changed this meanwhile: retry.")

    @api.exception_handler(OverflowError)
    @api.exception_handler(DataError)
    async def _out_of_range(request: Request, exc: Exception) -> Response:
        log.info("api: out-of-range input on %s %s", request.method, request.url.path)
        return problem_response(
            request, "invalid-input", "A number or date in the request is out of range."
        )

    @api.exception_handler(DBAPIError)
    @api.exception_handler(PoolTimeout)
    @api.exception_handler(PendingRollbackError)
    async def _unavailable(request: Request, exc: Exception) -> Response:
        """The database could not serve the request now (`dispatch.db.unavailable`): 503 with
        `Retry-After`; anything else a driver raised is the crash net's 500."""
        if not unavailable(exc):
            raise exc
        log.error("api: database unavailable (%s) on %s %s", type(exc).__name__,
                  request.method, request.url.path)  # fmt: skip
        return problem_response(
            request,
            "unavailable",
            "The database could not take the request just now; nothing was saved. Send it "
            f"again in {RETRY_AFTER_S} seconds with the same Idempotency-Key.",
            headers={"Retry-After": str(RETRY_AFTER_S)},
        )


class CrashAsProblem:
    """The net under everything: an unexpected exception is logged by type and place (never
    its message, which may quote a phone number or a name) and answered as a 500 problem."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception as exc:
            trace = "".join(traceback.format_tb(exc.__traceback__))
            log.error(
                "api: %s on %s %s\n%s", type(exc).__name__, scope.get("method"), _path(scope), trace
            )
            if started:
                raise
            response = _crash_response(scope)
            await response(scope, receive, send)


def _crash_response(scope: Scope) -> Response:
    code, title, _ = TYPES["server-error"]
    body: dict[str, Any] = {
        "type": PREFIX + "server-error",
        "title": title,
        "status": code,
        "detail": "Something failed on our side. A command may be sent again with the same "
        "Idempotency-Key: it runs at most once.",
        "instance": _path(scope),
    }
    return JSONResponse(
        body, status_code=code, headers=_rate_limit_headers(scope), media_type=MEDIA_TYPE
    )
