"""Outbound calls: Twilio's Calls API behind the `dispatch.ports.CallPlacer` port (today: the
feedback call to a citizen who did not answer the feedback SMS).

The call is answered by the line's own webhooks: Twilio fetches `/ivr/voice/incoming`, signed
as always, with `Direction=outbound-api`; the conversation sees an outbound call and takes the
citizen straight to what it was placed for. Holds no decision about whom to call (dispatch).
"""

from __future__ import annotations

import logging
import uuid

from dispatch import validation
from dispatch.ports import CallPlacer
from ivr import twilio_api

log = logging.getLogger(__name__)


class TwilioCallPlacer(CallPlacer):
    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str,
        from_number: str,
        public_base_url: str,
        api_base_url: str | None = None,
    ) -> None:
        self._api = twilio_api.make_client(
            account_sid=account_sid, auth_token=auth_token, api_base_url=api_base_url
        )
        self._from = from_number
        self._base = public_base_url.rstrip("/")

    def place(self, *, to: str) -> str:
        return twilio_api.place_call(
            self._api,
            from_=self._from,
            to=to,
            url=f"{self._base}/ivr/voice/incoming",
            status_callback=f"{self._base}/ivr/voice/status",
        )

    def close(self) -> None:
        self._api.close()


class NoCalls(CallPlacer):
    """The development backend: places nothing, says whom it would have called (masked)."""

    def place(self, *, to: str) -> str:
        log.info("development: a feedback call to %s would be placed", validation.mask_phone(to))
        return f"dev-call-{uuid.uuid4().hex}"
