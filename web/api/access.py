"""Who is calling `/api/v1`: the API key (`Authorization: Bearer <key>` or `X-API-Key: <key>`),
checked on every request (`dispatch.channels.service.authenticate`), then the client's rate
limit (`web.api.ratelimit`). A refused key gets 401 with `WWW-Authenticate`; a client past its
minute gets 429 with `Retry-After`. Every answer to an accepted key, a problem too, carries
`RateLimit-Limit` and `RateLimit-Remaining`. The key's last use is written at most once a minute.

Both schemes are declared in the OpenAPI description (one is enough). No cookie is read: the
key is the proof, so the console's CSRF check skips `/api/v1/` (`web.auth`).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, Response
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from dispatch.channels import rules as channel_rules
from dispatch.channels import service as channel_service
from dispatch.channels.service import Caller, KeyRefused
from dispatch.db import read_session, write_session
from dispatch.ports import Clock
from ivr.deps import get_clock
from web.api import problems
from web.api.problems import ApiProblem
from web.api.ratelimit import RateLimiter
from web.deps import EngineDep

REALM = "doorstep-api"

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    bearerFormat="dsk_...",
    description="`Authorization: Bearer dsk_...`: the client's API key.",
)
api_key_header = APIKeyHeader(
    name="X-API-Key",
    auto_error=False,
    scheme_name="apiKey",
    description="`X-API-Key: dsk_...`: the same key, for clients that cannot set Authorization.",
)

BearerDep = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
HeaderKeyDep = Annotated[str | None, Depends(api_key_header)]
ClockDep = Annotated[Clock, Depends(get_clock)]


def limiter_of(request: Request) -> RateLimiter:
    limiter: RateLimiter = request.app.state.rate_limiter
    return limiter


def current_client(
    request: Request,
    response: Response,
    engine: EngineDep,
    clock: ClockDep,
    bearer_key: BearerDep,
    header_key: HeaderKeyDep,
) -> Caller:
    """The client whose key came with the request, within its rate limit."""
    key = bearer_key.credentials if bearer_key is not None else header_key
    try:
        with read_session(engine) as session:
            client = channel_service.authenticate(session=session, key=key)
    except KeyRefused as refused:
        error = "invalid_request" if not key else "invalid_token"
        challenge = f'Bearer realm="{REALM}", error="{error}"'
        raise ApiProblem(
            "unauthorized", refused.reason, headers={"WWW-Authenticate": challenge}
        ) from None
    verdict = limiter_of(request).hit(client)
    limits = {"RateLimit-Limit": str(verdict.limit), "RateLimit-Remaining": str(verdict.remaining)}
    # Kept for the answer whatever it is: a route that raises answers with a response of its
    # own (`web.api.problems` adds these to every problem), not with this one.
    setattr(request.state, problems.RATE_LIMIT_STATE, limits)
    if not verdict.allowed:
        raise ApiProblem(
            "rate-limited",
            f"This client may send {verdict.limit} requests a minute: try again in "
            f"{verdict.retry_after_s} s.",
            headers={**limits, "Retry-After": str(verdict.retry_after_s)},
        )
    response.headers.update(limits)
    now = clock.now()
    if channel_rules.touch_due(client.last_used_at, now):
        with write_session(engine) as session:
            channel_service.touch(session=session, client_id=client.id, now=now)
    return client


ClientDep = Annotated[Caller, Depends(current_client)]
