"""The one typed wrapper around twilio-python's REST client.

twilio-python ships no type information, so under mypy every value it hands back is `Any`.
This module is the only place that touches `twilio.rest`: it builds the client, makes the calls
the project needs, checks what comes back and returns plain typed values (a message SID is a
`str`). Twilio's exceptions and the HTTP library's connection errors are translated into the
small tree below, so callers never import twilio to handle a failure:

    TwilioApiError          (any failure of a REST call; as such: it may have been carried out)
    ├── TwilioRejected      (status, code, method, uri): Twilio answered with an error
    ├── TwilioUnreachable   the request never reached Twilio: connection refused, DNS failure,
    │                       connect timeout, TLS handshake failed
    └── TwilioNoAnswer      the request went out but no answer came back (read timeout, the
                            connection dropped): Twilio may have carried it out

The line between the last two matters for anything that must not happen twice (an SMS): only
after TwilioRejected or TwilioUnreachable is it surely safe to try again. requests (under
twilio's HTTP client, with urllib3's read retries off) reports a failure to connect as a
`MaxRetryError` inside its ConnectionError, and anything after the request was written as the
raw urllib3 error; that is what `_transport_error` reads.

`api_base_url` points the client at another server that speaks Twilio's REST API, such as the
local mock in tools/twilio-mock. twilio-python builds its URLs from `region`/`edge` and always
under `https://api.twilio.com`; it cannot be aimed at 127.0.0.1 that way, so the client gets an
HTTP client that rewrites that origin instead.

What this module does not hold: webhook signature checks (see twilio.request_validator, used
by the voice/SMS webhooks), TwiML, or the choice of when to send (dispatch decides).
"""

from __future__ import annotations

from types import TracebackType
from urllib.parse import urlsplit

import requests.exceptions  # the HTTP library under twilio-python
from twilio.base import values
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client
from urllib3.exceptions import ClosedPoolError, MaxRetryError

TWILIO_API_ORIGIN = "https://api.twilio.com"
DEFAULT_TIMEOUT_SECONDS = 10.0

# twilio-python falls back to os.environ (TWILIO_ACCOUNT_SID, TWILIO_EDGE, TWILIO_REGION, ...)
# when given no (or an empty) `environment`. Configuration is read once, in dispatch.config, so
# hand it a mapping that names no account, edge or region: a stray variable in the process
# environment cannot change the account or the host a message goes to.
_NO_ENVIRONMENT = {"TWILIO_EDGE": "", "TWILIO_REGION": ""}


class TwilioApiError(Exception):
    """Root of the errors raised by this module: a REST call to Twilio failed."""


class TwilioRejected(TwilioApiError):
    """Twilio (or the server standing in for it) answered a call with an error status."""

    def __init__(self, *, status: int, code: int | None, method: str, uri: str, message: str):
        self.status = status
        self.code = code
        self.method = method
        self.uri = uri
        super().__init__(f"{method} {uri} -> HTTP {status} (code {code}): {message}")


class TwilioUnreachable(TwilioApiError):
    """The request never reached Twilio: the connection failed or timed out."""


class TwilioNoAnswer(TwilioApiError):
    """The request went out, but no answer came back: Twilio may have carried it out."""


class _RewritingHttpClient(TwilioHttpClient):  # type: ignore[misc]  # twilio is untyped (Any)
    """Sends what twilio-python addresses to https://api.twilio.com to `base_url` instead."""

    def __init__(self, *, base_url: str, timeout: float) -> None:
        super().__init__(pool_connections=True, timeout=timeout)
        self._base_url = base_url

    def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        return super().request(
            method,
            _rewrite(url, self._base_url),
            params=params,
            data=data,
            headers=headers,
            auth=auth,
            timeout=timeout,
            allow_redirects=allow_redirects,
        )


def _rewrite(url: str, base_url: str) -> str:
    """Swap Twilio's origin for `base_url`; any other Twilio host has no stand-in, so refuse."""
    if url == TWILIO_API_ORIGIN or url.startswith(TWILIO_API_ORIGIN + "/"):
        return base_url + url[len(TWILIO_API_ORIGIN) :]
    raise ValueError(f"no local stand-in for {url!r}: only {TWILIO_API_ORIGIN} is rewritten")


class TwilioApi:
    """A twilio REST client for one account, with its own HTTP connection pool.

    Make one with `make_client`; `close()` (or `with`) releases the pooled connections.
    """

    def __init__(self, *, client: Client, http_client: TwilioHttpClient, account_sid: str):
        self._client = client
        self._http_client = http_client
        self.account_sid = account_sid

    def close(self) -> None:
        session = self._http_client.session
        if session is not None:
            session.close()

    def __enter__(self) -> TwilioApi:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def make_client(
    *,
    account_sid: str,
    auth_token: str,
    api_base_url: str | None = None,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
) -> TwilioApi:
    """Build a client for `account_sid`; `api_base_url` (e.g. http://127.0.0.1:4010) replaces
    https://api.twilio.com, for a local mock. Makes no network call."""
    if not account_sid or not auth_token:
        raise ValueError("account_sid and auth_token must both be given")
    http_client: TwilioHttpClient
    if api_base_url is None:
        http_client = TwilioHttpClient(pool_connections=True, timeout=timeout)
    else:
        parts = urlsplit(api_base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"api_base_url must be an http(s) URL, got {api_base_url!r}")
        http_client = _RewritingHttpClient(base_url=api_base_url.rstrip("/"), timeout=timeout)
    client = Client(
        username=account_sid,
        password=auth_token,
        http_client=http_client,
        environment=dict(_NO_ENVIRONMENT),
    )
    return TwilioApi(client=client, http_client=http_client, account_sid=account_sid)


def send_sms(
    client: TwilioApi,
    *,
    from_: str,
    to: str,
    body: str,
    status_callback: str | None,
) -> str:
    """Send one SMS through the Messages resource; return its SID (SM followed by 32 hex).

    `status_callback` is the public URL Twilio posts delivery updates to, or None for none.
    Raises TwilioRejected when Twilio refuses the request, TwilioUnreachable when it cannot be
    reached, TwilioNoAnswer when it was sent but not answered, TwilioApiError when Twilio
    answered success without a SID.
    """
    try:
        message = client._client.messages.create(
            to=to,
            from_=from_,
            body=body,
            status_callback=values.unset if status_callback is None else status_callback,
        )
    except TwilioException as exc:
        raise _rejected(exc) from exc
    except OSError as exc:  # requests' RequestException derives from OSError (IOError)
        raise _transport_error(exc) from exc
    sid = message.sid
    if not isinstance(sid, str) or not sid:
        raise TwilioApiError(f"Twilio accepted the message but returned no SID: {sid!r}")
    return sid


def place_call(
    client: TwilioApi,
    *,
    from_: str,
    to: str,
    url: str,
    status_callback: str | None,
) -> str:
    """Place one outbound call through the Calls resource; Twilio fetches its TwiML from
    `url` when it is answered. Returns the call SID (CA followed by 32 hex); failures as for
    `send_sms`."""
    try:
        call = client._client.calls.create(
            to=to,
            from_=from_,
            url=url,
            method="POST",
            status_callback=values.unset if status_callback is None else status_callback,
        )
    except TwilioException as exc:
        raise _rejected(exc) from exc
    except OSError as exc:
        raise _transport_error(exc) from exc
    sid = call.sid
    if not isinstance(sid, str) or not sid:
        raise TwilioApiError(f"Twilio accepted the call but returned no SID: {sid!r}")
    return sid


def _transport_error(exc: OSError) -> TwilioApiError:
    """TwilioUnreachable when the request surely never left (nothing connected), else
    TwilioNoAnswer: a timeout or a dropped connection after the request was written."""
    cause = exc.args[0] if exc.args else None
    never_connected = (
        isinstance(exc, requests.exceptions.ConnectTimeout | requests.exceptions.ProxyError)
        or (
            isinstance(exc, requests.exceptions.ConnectionError)
            and isinstance(cause, MaxRetryError | ClosedPoolError)
        )
        or isinstance(exc, requests.exceptions.InvalidURL | requests.exceptions.MissingSchema)
    )
    if never_connected:
        return TwilioUnreachable(f"could not reach Twilio: {exc}")
    return TwilioNoAnswer(f"Twilio did not answer: {exc}")


def _rejected(exc: TwilioException) -> TwilioApiError:
    """Translate twilio's exceptions (TwilioRestException, TwilioServiceException, ...)."""
    if isinstance(exc, TwilioRestException):
        status, code, method, uri, message = exc.status, exc.code, exc.method, exc.uri, exc.msg
    else:
        status = getattr(exc, "status", None)
        code = getattr(exc, "code", None)
        method = getattr(exc, "method", "")
        uri = getattr(exc, "uri", "")
        message = str(exc)
    if not isinstance(status, int):
        return TwilioApiError(f"Twilio call failed: {exc}")
    return TwilioRejected(
        status=status,
        code=code if isinstance(code, int) else None,
        method=str(method),
        uri=str(uri),
        message=str(message),
    )
