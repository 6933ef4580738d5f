"""The security headers of every answer of the web process (the console, the agents' day pages,
the channels' API, the phone line's webhooks), set in one place: `SecurityHeaders`, the
outermost middleware of `create_app()`.

- `Content-Security-Policy`, chosen by path (`policy_for`):
  - the console: scripts only from the site itself (no inline script, no `eval`: htmx runs with
    `allowEval` off and its trigger filters are a small script of ours, `doorstep.js`);
    `<style>` elements only from the site or carrying the answer's nonce (the server-drawn
    charts carry their stylesheet inline, and so does the agents' one-file page); nothing may
    frame a page (`frame-ancestors 'none'`), forms post only to the site;
  - the agent's day page (`/a/...`): nothing at all but its own nonced stylesheet and forms
    posted back to the site (it has no script, no image, no font);
  - the channels' API (`/api/v1/...`): JSON, so nothing at all;
  - the OpenAPI documentation pages (`/docs`, `/redoc`, `/api/v1/docs`): FastAPI draws them
    with an inline script, so those pages alone allow inline script (they hold no personal
    data and no form of ours).
- `X-Content-Type-Options: nosniff`, `X-Frame-Options: DENY` (for browsers older than
  `frame-ancestors`), a `Referrer-Policy` (`no-referrer` on the agent's day page, whose link is
  the agent's proof), a `Permissions-Policy` that switches off the device features no page
  uses, `Cross-Origin-Opener-Policy: same-origin`, and, in production, HSTS.

The nonce is made afresh for every request and kept in the request's state
(`request.state.csp_nonce`) for the templates: `<style nonce="{{ request.state.csp_nonce }}">`.

Not here: the session cookie's flags and CSRF (`web.auth`), the sign-in rate limit (`web.signin`).
"""

from __future__ import annotations

import secrets

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dispatch.config import Settings

#: Where the answer's nonce is kept (`request.state.csp_nonce` in a template).
NONCE = "csp_nonce"
#: Paths of the OpenAPI documentation pages (FastAPI's own HTML, with an inline script).
DOCS_PATHS = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc", "/api/v1/docs"})
#: Where FastAPI's development documentation pages load Swagger UI and ReDoc from (the
#: channels' API documentation, served in production too, uses the copy under /static).
DOCS_CDN = "https://cdn.jsdelivr.net"
#: A year, the least the HSTS preload list accepts.
HSTS_SECONDS = 31_536_000

PERMISSIONS_POLICY = (
    "accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), "
    "microphone=(), payment=(), usb=()"
)


def _join(directives: dict[str, str]) -> str:
    return "; ".join(f"{name} {value}" for name, value in directives.items())


def console_policy(nonce: str) -> str:
    return _join(
        {
            "default-src": "'self'",
            "script-src": "'self'",
            "style-src": f"'self' 'nonce-{nonce}'",
            "img-src": "'self' data:",
            "font-src": "'self'",
            "connect-src": "'self'",
            "object-src": "'none'",
            "base-uri": "'self'",
            "form-action": "'self'",
            "frame-ancestors": "'none'",
        }
    )


def agent_day_policy(nonce: str) -> str:
    return _join(
        {
            "default-src": "'none'",
            "style-src": f"'nonce-{nonce}'",
            "form-action": "'self'",
            "base-uri": "'none'",
            "frame-ancestors": "'none'",
        }
    )


API_POLICY = "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"


def docs_policy(*, production: bool) -> str:
    cdn = "" if production else f" {DOCS_CDN}"
    return _join(
        {
            "default-src": "'self'",
            "script-src": f"'self' 'unsafe-inline'{cdn}",
            "style-src": f"'self' 'unsafe-inline'{cdn}",
            "img-src": "'self' data:" + ("" if production else " https://fastapi.tiangolo.com"),
            "object-src": "'none'",
            "base-uri": "'self'",
            "form-action": "'self'",
            "frame-ancestors": "'none'",
        }
    )


def policy_for(path: str, *, nonce: str, production: bool) -> str:
    """The Content-Security-Policy of the answer to `path`."""
    if path in DOCS_PATHS:
        return docs_policy(production=production)
    if path.startswith("/a/"):
        return agent_day_policy(nonce)
    if path.startswith("/api/v1/"):
        return API_POLICY
    return console_policy(nonce)


def headers_for(path: str, *, nonce: str, production: bool) -> dict[str, str]:
    """Every security header of the answer to `path`."""
    headers = {
        "Content-Security-Policy": policy_for(path, nonce=nonce, production=production),
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "no-referrer"
        if path.startswith("/a/")
        else "strict-origin-when-cross-origin",
        "Permissions-Policy": PERMISSIONS_POLICY,
        "Cross-Origin-Opener-Policy": "same-origin",
    }
    if production:
        headers["Strict-Transport-Security"] = f"max-age={HSTS_SECONDS}; includeSubDomains"
    return headers


class SecurityHeaders:
    """Puts `headers_for(path)` on every HTTP answer (replacing any a route set itself), with a
    fresh nonce per request in `request.state.csp_nonce`."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.production = settings.production

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        nonce = secrets.token_urlsafe(18)
        scope.setdefault("state", {})[NONCE] = nonce
        extra = headers_for(scope["path"], nonce=nonce, production=self.production)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in extra.items():
                    headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)
