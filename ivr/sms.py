"""The outbound SMS sender: Twilio's Messages API behind the `dispatch.ports.SmsSender` port.

Holds no message texts and no decision about when to send (dispatch owns both); it only turns
`send(to=..., body=...)` into one Twilio REST call through `ivr.twilio_api` and returns the
message SID. Failures surface as the port's own errors, the twilio_api error as their cause:
Twilio answered with an error, or was never reached -> `SmsNotAccepted` (permanent for a
request Twilio calls invalid, 400/422: sending it again cannot help); the request went out but
no answer came -> `SmsOutcomeUnknown`. Delivery reports come back to `STATUS_CALLBACK_PATH`
(`ivr.sms_status`), with our reference for the attempt in the URL's query.

DLT template IDs: Twilio matches an Indian message's text against the templates registered for
the sender itself and takes no template ID, so `template_id` is accepted and not sent.
"""

from __future__ import annotations

from types import TracebackType
from urllib.parse import urlencode

from dispatch.ports import SmsNotAccepted, SmsOutcomeUnknown, SmsSender
from ivr import twilio_api

#: Where Twilio posts delivery reports (the route is `ivr.sms_status`).
STATUS_CALLBACK_PATH = "/ivr/sms/status"
#: The query parameter that carries our reference for one attempt.
REFERENCE_PARAMETER = "ref"
#: HTTP statuses by which Twilio says the request itself is wrong (not the moment).
_INVALID_REQUEST = frozenset({400, 422})


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

    def send(
        self,
        *,
        to: str,
        body: str,
        template_id: str | None = None,
        reference: str | None = None,
    ) -> str:
        try:
            return twilio_api.send_sms(
                self._api,
                from_=self._from_number,
                to=to,
                body=body,
                status_callback=self._callback_url(reference),
            )
        except twilio_api.TwilioRejected as exc:
            raise SmsNotAccepted(
                str(exc)[:200],
                code=None if exc.code is None else str(exc.code),
                permanent=exc.status in _INVALID_REQUEST,
            ) from exc
        except twilio_api.TwilioUnreachable as exc:
            raise SmsNotAccepted(str(exc)[:200]) from exc
        except twilio_api.TwilioApiError as exc:  # no answer, or an answer without a SID
            raise SmsOutcomeUnknown(str(exc)[:200]) from exc

    def _callback_url(self, reference: str | None) -> str | None:
        if self._status_callback is None or reference is None:
            return self._status_callback
        joiner = "&" if "?" in self._status_callback else "?"
        return f"{self._status_callback}{joiner}{urlencode({REFERENCE_PARAMETER: reference})}"

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
