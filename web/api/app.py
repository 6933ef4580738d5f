"""`create_api()`: the channels' API, a FastAPI application of its own that `web.app.create_app`
mounts at `/api/v1`. It is served in production too, with its OpenAPI description at
`/api/v1/openapi.json` (the channels' contract); the documentation page `/api/v1/docs` (Swagger
UI, vendored: nothing is fetched at run time) only outside production.

It shares the web process's settings, engine and dependency overrides (tests override the
clock and the SMS sender once, on the outer app). Every error it gives is problem details
(`web.api.problems`), unknown paths and methods included.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from sqlalchemy.engine import Engine
from starlette.routing import Mount

from dispatch.channels import rules as channel_rules
from dispatch.config import Settings
from web.api import booking, existing, problems, reading
from web.api.problems import TYPES, Problem
from web.api.ratelimit import RateLimiter

PREFIX = "/api/v1"
SWAGGER = "/static/vendor/swagger-ui"

DESCRIPTION = """
The same operations as the 1447 phone line, for the state's other channels (a WhatsApp bot,
the state portal, a CSC app): the catalogue, places, windows the live plan can meet, and a
citizen's request made, looked up, moved or cancelled — each through the same use case as the
phone line and the console, recorded as channel `api` with the actor `api:<client name>`.

## Keys

Each channel has its own API key (`dsk_...`), made by a state admin (console: *API clients*,
or `doorstep api-client create --name NAME --state JK`) and shown once. Send it as
`Authorization: Bearer <key>` or `X-API-Key: <key>`. A key acts for its state only, is kept
hashed, and can be revoked at once (then every call gets 401). Each key has its own requests
per minute (60 unless set otherwise); past it, 429 `rate-limited` with `Retry-After`
(seconds). Every answer to an accepted key, errors included, carries `RateLimit-Limit` and
`RateLimit-Remaining` (a 401 does not, nor the 404 of a path that is no operation: nothing
was counted).

## Booking

1. `GET /catalogue` (service codes, fees in paise, legal time limits, documents) and
   `GET /places/...` (a village `id`, by district and block or by PIN code).
2. `POST /offers` with the service, the citizen (phone, language) and the address: the
   earliest windows, each with an opaque `offer_id`. The citizen and the address are
   registered here, as the phone line does before it offers times.
3. `POST /requests` with the same, the citizen's name and the chosen `offer_id`, and an
   `Idempotency-Key` header: 201 with the reference. The citizen gets the confirmation SMS
   (reference, window, fee, their 4-digit **visit code**, the documents to keep ready).

## Idempotency

Every command (`POST /requests`, `.../reschedule`, `.../cancel`) needs an `Idempotency-Key`
header (8-64 of `A-Z a-z 0-9 . _ : -`; a UUID is right): make one per command and send it
again unchanged on every retry. A retry gets the first answer again, with the same status
and `Idempotent-Replayed: true`, and nothing happens twice. The same key with another body or
another command gets 409 `key-reused`. Keys are the client's own: two channels cannot collide.

## The citizen's proof

Looking up, moving or cancelling a request needs proof that the person the channel serves is
its citizen, in headers (never in the URL, which logs keep):

- `X-Citizen-Phone`: the citizen's number **as the channel verified it** — the WhatsApp
  sender of the message, a portal login whose mobile number was confirmed by OTP. It proves
  what the caller ID proves on the phone line. A number a person merely typed in must NOT be
  sent here (the channel would be vouching for it);
- `X-Visit-Code`: the 4-digit visit code from the citizen's confirmation SMS, as they give it.

Either one that matches is enough. An unknown reference, another state's, and a reference
whose proof does not match all get the same 404, so references cannot be probed.

A 404 to a call that sent `X-Citizen-Phone` or `X-Visit-Code` counts as a failed proof, as
on the phone line (a 404 with neither header counts nothing: nothing was guessed). It counts
against the client, always, and also against the verified phone number when one was sent (that
count is shared with the phone line's for the number). Proofs are refused, 429
`proofs-locked` with `Retry-After` (the seconds left), while the number has failed {per_phone}
times within the last {window} minutes, or the client {per_client} times: a new phone number
for each try does not buy more guesses. Send the verified number whenever you have one: then
one citizen's mistakes lock out only that citizen, long before the whole channel.
`phone_verified: true` in a booking is the same promise; then the address is
kept as the citizen's own, and the visit code comes back in the answer only when no SMS can
carry it.

## Errors

Every error is problem details (RFC 9457, `application/problem+json`): `type`
(`urn:doorstep:problem:<slug>`), `title`, `status`, `detail`, `instance`, and for
`invalid-input` an `errors` list naming each field. Details never repeat the values sent.

| status | type (slug) | when |
| --- | --- | --- |
""" + "\n".join(f"| {status} | `{slug}` | {when} |" for slug, (status, _, when) in TYPES.items())


def description(settings: Settings) -> str:
    """The API's description with this server's proof allowances in it."""
    per_phone = settings.proof_failures_allowed
    return (
        DESCRIPTION.replace("{per_phone}", str(per_phone))
        .replace("{per_client}", str(channel_rules.client_proofs_allowed(per_phone)))
        .replace("{window}", str(settings.proof_lockout_minutes))
    )


#: Responses every operation may give (the key, its rate, its parameters).
COMMON: dict[int | str, dict[str, Any]] = {
    401: {
        "model": Problem,
        "description": "`unauthorized`: no key, or a malformed, unknown or revoked one",
        "headers": {
            "WWW-Authenticate": {
                "description": 'e.g. `Bearer realm="doorstep-api", error="invalid_token"`',
                "schema": {"type": "string"},
            }
        },
    },
    422: {"model": Problem, "description": "`invalid-input`: see `errors`"},
    429: {
        "model": Problem,
        "description": "`rate-limited` (the client's requests per minute), or `proofs-locked`",
        "headers": {
            "Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}
        },
    },
    503: {
        "model": Problem,
        "description": "`unavailable`: the database could not serve the request now (nothing"
        " was saved); resend after `Retry-After`, with the same `Idempotency-Key`",
        "headers": {
            "Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}
        },
    },
}


class ChannelsApi(FastAPI):
    """A FastAPI app whose OpenAPI description gives every error as problem details."""

    def openapi(self) -> dict[str, Any]:
        if self.openapi_schema:
            return self.openapi_schema
        schema = super().openapi()
        problem = {"schema": {"$ref": "#/components/schemas/Problem"}}
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                for status, answer in operation.get("responses", {}).items():
                    if str(status)[0] in "45":
                        answer["content"] = {problems.MEDIA_TYPE: problem}
        self.openapi_schema = schema
        return schema


def mounted(api: FastAPI) -> Mount:
    """`api` as the outer app's route for everything under `/api/v1/`. Starlette's own pattern
    stops at a newline (`.`), so a path holding `%0A` would miss the mount and get the
    console's plain JSON 404 instead of problem details: this one takes any character."""
    route = Mount(PREFIX, app=api)
    route.path_regex = re.compile(route.path_regex.pattern, re.DOTALL)
    return route


def create_api(
    *, settings: Settings, engine: Engine, overrides: dict[Any, Any] | None = None
) -> FastAPI:
    """The API app on `engine`; `overrides` is the outer app's `dependency_overrides` (shared,
    not copied: an override set later applies here too)."""
    api = ChannelsApi(
        title="Doorstep channels API",
        version="1.0.0",
        description=description(settings),
        openapi_url="/openapi.json",
        docs_url=None,
        redoc_url=None,
        # A body sent without a Content-Type is read as JSON too (`null` for a cancel with no
        # reason). FastAPI's strict default guards cookie-signed apps against a cross-site
        # request with no preflight; no cookie is read here: the key in a header is the proof,
        # and a browser cannot add it cross-site without asking first.
        strict_content_type=False,
        openapi_tags=[
            {"name": "catalogue", "description": "the services of the client's state"},
            {"name": "places", "description": "districts, blocks, villages, PIN codes"},
            {"name": "visits", "description": "offers, requests, status, moves, cancelling"},
        ],
    )
    api.state.settings = settings
    api.state.engine = engine
    api.state.rate_limiter = RateLimiter(settings.rate_limit_url)
    if overrides is not None:
        api.dependency_overrides = overrides
    api.include_router(reading.router, responses=COMMON)
    api.include_router(booking.router, responses=COMMON)
    api.include_router(existing.router, responses=COMMON)
    problems.install(api)
    api.add_middleware(problems.CrashAsProblem)
    if not settings.production:

        @api.get("/docs", include_in_schema=False)
        def docs(request: Request) -> HTMLResponse:
            """The API's pages to read and try (development only)."""
            root = request.scope.get("root_path", "").rstrip("/")
            return get_swagger_ui_html(
                openapi_url=f"{root}/openapi.json",
                title="Doorstep channels API",
                swagger_js_url=f"{SWAGGER}/swagger-ui-bundle.js",
                swagger_css_url=f"{SWAGGER}/swagger-ui.css",
                swagger_favicon_url=f"{SWAGGER}/favicon-32x32.png",
                swagger_ui_parameters={"persistAuthorization": False, "tryItOutEnabled": False},
            )

    return api
