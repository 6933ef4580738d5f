"""Structured logs: one configuration for every process, and the webhook's context on each line.

`configure(settings)` applies one `logging.config.dictConfig` (`config(settings)`): every line
on stderr, as JSON (`DOORSTEP_LOG_FORMAT=json`, the default: one object a line, for a log
shipper) or as `key=value` text (`text`, for a terminal), at `DOORSTEP_LOG_LEVEL`. `doorstep
serve` hands the same dictionary to uvicorn (its own loggers included), `doorstep worker` and
`doorstep solver-worker` (and its child processes) apply it themselves.

While a Twilio webhook is handled, every line logged carries its `call_sid` (voice) or
`message_sid` (SMS), and — once the request it concerns is known — its `request_id` and
`reference`: `LogContextMiddleware` reads the sid from the signed form at the edge and keeps it
in a context variable (`current()`); the ORM listeners (`watch_requests`) note which request
the call (its `CallSession`) or the message (its `OutboxMessage`) concerns as the handler loads
or saves them. The handler runs in a worker thread with a copy of the context, so the context
holds one mutable `LogContext` that both see.

Uvicorn's access lines are replaced by one line a request naming the route's template
(`/a/{token}`, never the signed token itself, nor a query string) with its status and
duration. Personal data stays out: a filter masks every run of ten or more digits (phone and
Aadhaar numbers) in messages and tracebacks, keeping the last two; names and addresses are
never put in a message by our code.

Not here: the metrics (`web.metrics`).
"""

from __future__ import annotations

import contextvars
import logging
import logging.config
import re
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from sqlalchemy import event
from sqlalchemy.orm import Session as OrmSession
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dispatch.calls.models import CallSession
from dispatch.config import Settings
from dispatch.notifications.models import OutboxMessage
from dispatch.requests.models import DoorstepRequest

log = logging.getLogger("web.access")

#: Ten or more digits, alone or in groups of spaces or hyphens, not part of a longer word (a
#: CallSid's hex is left alone: it starts with letters).
_NUMBER = re.compile(r"(?<![\w+])\+?\d(?:[ \-]?\d){9,}(?!\w)")
#: A date written as the logs write it (2026-12-01, then perhaps a time): its digits are no one's.
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}(?!\d)")
#: Twilio's form bodies are a few hundred bytes; a larger one is passed on unread.
_MAX_FORM_BYTES = 64 * 1024


def mask_numbers(text: str) -> str:
    """`text` with every run of 10+ digits masked but its last two ("+91********78"); a date
    (and the time after it) is left as it is."""

    def hide(match: re.Match[str]) -> str:
        found = match.group(0)
        if _DATE.match(found):
            return found
        digits = sum(c.isdigit() for c in found)
        kept = 0
        out = []
        for c in reversed(found):
            if c.isdigit():
                out.append(c if kept < 2 else "*")
                kept += 1
            else:
                out.append(c)
        assert kept == digits
        return "".join(reversed(out))

    return _NUMBER.sub(hide, text)


# --- the context of a webhook ------------------------------------------------------------------


@dataclass
class LogContext:
    """What the lines of one webhook carry; filled in as it becomes known."""

    call_sid: str | None = None
    message_sid: str | None = None
    request_id: int | None = None
    reference: str | None = None
    #: Requests the call or message concerns, not yet seen loaded (id -> None).
    wanted: set[int] = field(default_factory=set)

    def fields(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.call_sid:
            out["call_sid"] = self.call_sid
        if self.message_sid:
            out["message_sid"] = self.message_sid
        if self.request_id is not None:
            out["request_id"] = self.request_id
        if self.reference:
            out["reference"] = self.reference
        return out


_context: contextvars.ContextVar[LogContext | None] = contextvars.ContextVar(
    "doorstep_log_context", default=None
)


def current() -> LogContext | None:
    """The webhook being handled in this context, if any."""
    return _context.get()


def bind(ctx: LogContext) -> contextvars.Token[LogContext | None]:
    """Make `ctx` the context of the lines logged from here on (`unbind` with the token)."""
    return _context.set(ctx)


def unbind(token: contextvars.Token[LogContext | None]) -> None:
    _context.reset(token)


def _concerns(ctx: LogContext, request_id: int | None) -> None:
    if request_id is None:
        return
    if ctx.request_id is None:
        ctx.request_id = request_id
    if ctx.reference is None:
        ctx.wanted.add(request_id)


def _found(ctx: LogContext, request: DoorstepRequest) -> None:
    if request.id is not None and request.id in ctx.wanted and request.reference:
        ctx.reference = request.reference
        ctx.request_id = request.id
        ctx.wanted.clear()


def _on_call(ctx: LogContext, call: CallSession) -> None:
    if call.call_sid != ctx.call_sid:
        return
    data = call.data or {}
    for key in ("request_id", "change_request_id"):
        value = data.get(key)
        if isinstance(value, int):
            _concerns(ctx, value)
    _concerns(ctx, call.request_id)


def _on_message(ctx: LogContext, message: OutboxMessage) -> None:
    if ctx.message_sid and message.provider_id == ctx.message_sid:
        _concerns(ctx, message.request_id)


def _loaded(target: Any, _context_: Any) -> None:
    ctx = _context.get()
    if ctx is None:
        return
    if isinstance(target, CallSession):
        _on_call(ctx, target)
    elif isinstance(target, OutboxMessage):
        _on_message(ctx, target)
    elif isinstance(target, DoorstepRequest):
        _found(ctx, target)


def _flushed(session: OrmSession, _flush_context: Any) -> None:
    """After a webhook's writes: the request a call booked or changed is in the session."""
    ctx = _context.get()
    if ctx is None:
        return
    for obj in list(session.identity_map.values()):
        if isinstance(obj, CallSession):
            _on_call(ctx, obj)
        elif isinstance(obj, OutboxMessage):
            _on_message(ctx, obj)
    if ctx.wanted:
        for obj in list(session.identity_map.values()):
            if isinstance(obj, DoorstepRequest):
                _found(ctx, obj)


_watching = False


def watch_requests() -> None:
    """Listen to the ORM for the request a webhook concerns (once per process; costs nothing
    outside a webhook)."""
    global _watching
    if _watching:
        return
    for model in (CallSession, OutboxMessage, DoorstepRequest):
        event.listen(model, "load", _loaded)
        event.listen(model, "refresh", lambda target, ctx, _attrs: _loaded(target, ctx))
    event.listen(OrmSession, "after_flush", _flushed)
    _watching = True


class LogContextMiddleware:
    """Binds a `LogContext` for each HTTP request: the CallSid or MessageSid of a Twilio
    webhook (read from its form, which is then handed on untouched), and logs one line when
    the answer has gone out: method, route template, status, milliseconds."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        watch_requests()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope.setdefault("state", {})  # shared with the copies inner middlewares make
        ctx = LogContext()
        path: str = scope.get("path", "")
        if path.startswith("/ivr/"):
            receive = await _read_sids(scope, receive, ctx)
        token = bind(ctx)
        start = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            log.info(
                "%s %s %s",
                scope.get("method", ""),
                route_template(scope),
                status,
                extra={"status": status, "ms": round((time.perf_counter() - start) * 1000, 1)},
            )
            unbind(token)


#: Where `RouteNoteMiddleware` leaves the matched route for the middlewares outside it.
ROUTE_KEY = "doorstep_route"


class RouteNoteMiddleware:
    """The innermost middleware: notes the route the router matched (its template and path
    parameters) in the request's shared `state`, for the middlewares outside (the CSRF check
    hands the app a copy of the scope, so they never see the router's own note)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def noting(message: Message) -> None:
            if message["type"] == "http.response.start":
                _note(scope)
            await send(message)

        try:
            await self.app(scope, receive, noting)
        finally:
            _note(scope)


def _note(scope: Scope) -> None:
    state = scope.get("state")
    if isinstance(state, dict) and "route" in scope:
        state[ROUTE_KEY] = (_template(scope), dict(scope.get("path_params") or {}))


def path_params(scope: Scope) -> dict[str, Any]:
    """The matched route's path parameters (as noted by `RouteNoteMiddleware`)."""
    noted = (scope.get("state") or {}).get(ROUTE_KEY)
    return dict(noted[1]) if noted else dict(scope.get("path_params") or {})


def route_template(scope: Scope) -> str:
    """The matched route's path template (`/ivr/voice/answer/{step}`), never the raw path:
    paths may hold signed tokens. `<unmatched>` for a path no route took."""
    noted = (scope.get("state") or {}).get(ROUTE_KEY)
    if noted:
        return str(noted[0])
    return _template(scope)


def _template(scope: Scope) -> str:
    route = scope.get("route")
    template = getattr(route, "path", None)
    if isinstance(template, str):
        mounted: str = scope.get("root_path", "") or ""
        app_root: str = scope.get("app_root_path", "") or ""
        prefix = mounted[len(app_root) :] if mounted.startswith(app_root) else mounted
        return prefix + template
    path: str = scope.get("path", "")
    if path.startswith("/static/"):
        return "/static"
    return "<unmatched>"


async def _read_sids(scope: Scope, receive: Receive, ctx: LogContext) -> Receive:
    """Read a form body to find its CallSid / MessageSid; give back a `receive` that replays
    it (then carries on with the real one)."""
    query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
    _take_sids(ctx, query)
    headers = dict(scope.get("headers") or [])
    kind = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
    if scope.get("method") != "POST" or kind != b"application/x-www-form-urlencoded":
        return receive
    messages: list[Message] = []
    size = 0
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            break
        size += len(message.get("body", b""))
        if not message.get("more_body") or size > _MAX_FORM_BYTES:
            break
    if size <= _MAX_FORM_BYTES:
        body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.request")
        _take_sids(ctx, dict(parse_qsl(body.decode("utf-8", "replace"))))

    async def replay() -> Message:
        if messages:
            return messages.pop(0)
        return await receive()

    return replay


def _take_sids(ctx: LogContext, params: dict[str, str]) -> None:
    # Only what Twilio's sids look like: two letters and 32 hex digits (no caller's words).
    call_sid = params.get("CallSid", "")
    message_sid = params.get("MessageSid", "") or params.get("SmsSid", "")
    if _SID.fullmatch(call_sid):
        ctx.call_sid = call_sid
    if _SID.fullmatch(message_sid):
        ctx.message_sid = message_sid


_SID = re.compile(r"[A-Z]{2}[0-9a-fA-F]{32}")


# --- the configuration ------------------------------------------------------------------------


class ContextFilter(logging.Filter):
    """Adds the webhook's context (`call_sid`, `message_sid`, `request_id`, `reference`) to
    each record, and masks digit runs in its message and traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        ctx = _context.get()
        if ctx is not None:
            for key, value in ctx.fields().items():
                if not hasattr(record, key):
                    setattr(record, key, value)
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: let the handler report it as logging does
            return True
        record.msg, record.args = mask_numbers(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            # Formatters print `exc_text` when `exc_info` is gone (they would format the
            # exception anew, unmasked, otherwise).
            record.exc_text, record.exc_info = mask_numbers(record.exc_text), None
        if record.stack_info:
            record.stack_info = mask_numbers(record.stack_info)
        return True


#: The extra fields a text line shows after its message, in this order.
TEXT_FIELDS = ("call_sid", "message_sid", "request_id", "reference", "status", "ms")


class KeyValueFormatter(logging.Formatter):
    """`time level logger: message key=value ...` — the text format."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(process)d %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        pairs = [f"{k}={getattr(record, k)}" for k in TEXT_FIELDS if hasattr(record, k)]
        if not pairs:
            return line
        head, _, tail = line.partition("\n")
        return f"{head} {' '.join(pairs)}" + (f"\n{tail}" if tail else "")


#: Loggers that uvicorn configures itself unless told otherwise: ours propagate to the root.
UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.asgi")


#: Libraries whose INFO lines are noise: at WARNING at least.
QUIET_LOGGERS = ("apscheduler",)


def quieter(level: str, floor: str) -> str:
    """The stricter of two level names."""
    names = logging.getLevelNamesMapping()
    return level if names.get(level, 0) >= names[floor] else floor


def config(settings: Settings) -> dict[str, Any]:
    """The one logging configuration (`logging.config.dictConfig`) of every Doorstep process."""
    formatter: dict[str, Any]
    if settings.log_format == "text":
        formatter = {"()": KeyValueFormatter}
    else:
        formatter = {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": ["asctime", "levelname", "name", "process", "message"],
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
            "json_ensure_ascii": False,
        }
    level = settings.log_level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"context": {"()": ContextFilter}},
        "formatters": {"doorstep": formatter},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": "doorstep",
                "filters": ["context"],
            }
        },
        "root": {"level": level, "handlers": ["stderr"]},
        "loggers": {
            **{
                name: {"level": level, "handlers": [], "propagate": True}
                for name in UVICORN_LOGGERS
            },
            # Replaced by `web.access` (route templates, not raw paths: no tokens logged).
            "uvicorn.access": {"level": "WARNING", "handlers": [], "propagate": False},
            # A line for every 2-second run of every task ("Running job ...", "executed
            # successfully"): the task runs' record (`/tasks`, the metrics) says it better.
            **{
                name: {"level": quieter(level, "WARNING"), "handlers": [], "propagate": True}
                for name in QUIET_LOGGERS
            },
        },
    }


def configure(settings: Settings) -> None:
    """Apply `config(settings)` to this process."""
    logging.config.dictConfig(config(settings))
