"""`/plans`, the read-only plan board this console grew from: now only a redirect to the
dispatch board (`web.board`), with the same district and day."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse

from web.auth import Dispatcher

router = APIRouter()


@router.get("/plans")
def plans(request: Request, user: Dispatcher) -> RedirectResponse:
    kept = {k: v for k, v in request.query_params.items() if k in ("district", "day")}
    target = "/board" + (f"?{urlencode(kept)}" if kept else "")
    return RedirectResponse(target, status_code=303)
