"""The outbound SMS sender: Twilio's Messages API behind the `dispatch.ports.SmsSender` port.

Holds no message texts and no decision about when to send (dispatch owns both); it only turns
`send(to=..., body=...)` into one Twilio REST call through `ivr.twilio_api` and returns the
message SID. Failures surface as `ivr.twilio_api.TwilioApiError` (TwilioRejected /
TwilioUnreachable).
"""

from __future__ import annotations

from types import TracebackType

from dispatch.ports import SmsSender
from ivr import twilio_api


class TwilioSmsSender(SmsSender):
    """Sends SMS from one Twilio number; implements `dispatch.ports.SmsSender`.

    `api_base_url` aims it at a server standing in for https://api.twilio.com (the local mock in
    tools/twilio-mock); `status_callback` is the public URL for delivery status webhooks.
    Building one makes no network call; `close()` (or `with`) releases pooled connections.
    Naming the port as a base lets mypy check the signature against it.
    """

    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str,
        from_number: str,
        api_base_url: str | None = None,
        status_callback: str | None = None,
        timeout: float = twilio_api.DEFAULT_TIMEOUT_SECONDS,
    ) -> None:
        self._api = twilio_api.make_client(
            account_sid=account_sid,
            auth_token=auth_token,
            api_base_url=api_base_url,
            timeout=timeout,
        )
        self._from_number = from_number
        self._status_callback = status_callback

    def send(self, *, to: str, body: str) -> str:
        return twilio_api.send_sms(
            self._api,
            from_=self._from_number,
            to=to,
            body=body,
            status_callback=self._status_callback,
        )

    def close(self) -> None:
        self._api.close()

    def __enter__(self) -> TwilioSmsSender:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
