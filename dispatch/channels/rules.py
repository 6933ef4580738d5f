"""Pure rules of the channels' API keys, their idempotency keys and the window offers they are
handed: no database, no clock (callers pass times and secrets in).

- An API key is `dsk_` + 8 letters or digits (the prefix: not secret, it finds the row) + `_` +
  43 URL-safe characters from the operating system's generator (256 bits). The table keeps the
  first 12 characters and the SHA-256 of the whole key: a key that random needs no slow hash,
  and a stolen table opens nothing.
- A channel's idempotency key is its own: the domain sees it namespaced by the client
  (`api:<client id>:<key>`), so two channels cannot collide.
- Failed citizen proofs through a channel (a wrong visit code, an unknown reference, a phone
  number that is not the citizen's) count against the verified phone number sent, as on the
  phone line, AND against the client, whose allowance is `CLIENT_PROOFS_FACTOR` times a
  citizen's: rotating phone numbers does not buy more guesses, and one citizen's mistakes do
  not lock a whole channel out. `proofs_locked_for` says how long is left of a lockout.
- A window offer goes to a channel as an opaque `offer_id`: the offer signed with the secret
  key, so a channel can choose only a window the live plan offered (never a window of its own
  making); the plan checks again that it can still be met when it is booked.

Not here: the table (`dispatch.channels.models`), creating, checking and revoking keys
(`dispatch.channels.service`).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import json
import re
import secrets
import string
from collections.abc import Sequence

from dispatch.errors import InvalidInput

KEY_START = "dsk_"
PREFIX_CHARS = 8
#: How many characters of a key the table keeps to find it ("dsk_" and the prefix).
SHOWN = len(KEY_START) + PREFIX_CHARS
SECRET_BYTES = 32
_ALPHANUMERIC = string.ascii_letters + string.digits
_KEY = re.compile(rf"^{KEY_START}[A-Za-z0-9]{{{PREFIX_CHARS}}}_[A-Za-z0-9_-]{{43}}$")

#: `last_used_at` is written at most this often (a busy channel would otherwise write on
#: every call).
TOUCH_EVERY = dt.timedelta(minutes=1)

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._-]{1,59}$")
RATE_LOW, RATE_HIGH = 1, 100_000

#: A client may fail this many times as many proofs as one phone number
#: (`Settings.proof_failures_allowed`) within the lockout window before its proofs are refused.
CLIENT_PROOFS_FACTOR = 10

#: What a channel may send as an `Idempotency-Key` (a UUID fits; so does a WhatsApp message ID).
IDEMPOTENCY_KEY = re.compile(r"^[A-Za-z0-9._:-]{8,64}$")


def new_key() -> str:
    """A fresh API key (shown once, never stored)."""
    prefix = "".join(secrets.choice(_ALPHANUMERIC) for _ in range(PREFIX_CHARS))
    return f"{KEY_START}{prefix}_{secrets.token_urlsafe(SECRET_BYTES)}"


def well_formed(key: str) -> bool:
    return _KEY.fullmatch(key) is not None


def prefix_of(key: str) -> str:
    """The part of a key the table keeps in the clear (`dsk_` and 8 characters)."""
    return key[:SHOWN]


def digest(key: str) -> str:
    """The SHA-256 of a key, as the table keeps it (64 hex digits)."""
    return hashlib.sha256(key.encode()).hexdigest()


def key_matches(stored_digest: str, key: str) -> bool:
    """Whether `key` is the key whose digest is stored, in constant time."""
    return hmac.compare_digest(stored_digest, digest(key))


def touch_due(last_used_at: dt.datetime | None, now: dt.datetime) -> bool:
    """Whether `last_used_at` is old enough to be written again."""
    return last_used_at is None or now - last_used_at >= TOUCH_EVERY


def client_name(value: str) -> str:
    """A client's name as it will be kept: 2-60 letters, digits, spaces, `.`, `_` or `-`,
    starting with a letter or digit (it names the actor `api:<name>` in the audit log)."""
    name = " ".join((value or "").split())
    if not NAME.fullmatch(name):
        raise InvalidInput(
            "name", value, "use 2-60 letters, digits, spaces, '.', '_' or '-' (e.g. whatsapp-bot)"
        )
    return name


def rate(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput("rate_per_minute", value, "must be a whole number")
    if not RATE_LOW <= value <= RATE_HIGH:
        raise InvalidInput(
            "rate_per_minute", value, f"must be between {RATE_LOW} and {RATE_HIGH:,}"
        )
    return value


def actor(name: str) -> str:
    """How the audit log and the domain name a channel acting: `api:<client name>`."""
    return f"api:{name}"


def command_key(client_id: int, key: str) -> str:
    """A channel's idempotency key as the domain keeps it: namespaced by the client."""
    if not IDEMPOTENCY_KEY.fullmatch(key):
        raise InvalidInput(
            "Idempotency-Key", key, "use 8-64 letters, digits, '.', '_', ':' or '-' (a UUID)"
        )
    return f"api:{client_id}:{key}"


def request_digest(action: str, body: object) -> str:
    """A digest of everything a channel asked for (the whole request, not only what the domain
    fingerprints): the same key with anything else is refused."""
    plain = json.dumps({"action": action, "body": body}, sort_keys=True, default=str)
    return hashlib.sha256(plain.encode()).hexdigest()


def client_proofs_allowed(per_phone: int) -> int:
    """How many failed proofs a client may make within the window (`per_phone` for one
    phone number)."""
    return per_phone * CLIENT_PROOFS_FACTOR


def proofs_locked_for(
    failures: Sequence[dt.datetime], *, allowed: int, window: dt.timedelta, now: dt.datetime
) -> int:
    """Whole seconds until fewer than `allowed` of `failures` are within `window` of the
    clock (a failure at `t` counts while `now - window <= t`, as the count does); 0 when that is
    so already. The answer is the first whole second at which another try is taken."""
    recent = sorted((at for at in failures if at >= now - window), reverse=True)
    if allowed < 1 or len(recent) < allowed:
        return 0
    # The lock ends when the `allowed`-th newest failure leaves the window.
    left = recent[allowed - 1] + window - now
    return left // dt.timedelta(seconds=1) + 1


# --- offers handed to channels -----------------------------------------------------------------

_OFFER_CONTEXT = b"doorstep api offer v1:"
_MAC_BYTES = 16


def _mac(secret: str, payload: bytes) -> bytes:
    return hmac.new(secret.encode(), _OFFER_CONTEXT + payload, hashlib.sha256).digest()[:_MAC_BYTES]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def seal_offer(offer: dict[str, object], secret: str) -> str:
    """An opaque `offer_id` for a window offer (its JSON form), signed with `secret`."""
    payload = json.dumps(offer, sort_keys=True, separators=(",", ":")).encode()
    return f"{_b64(payload)}.{_b64(_mac(secret, payload))}"


def open_offer(offer_id: str, secret: str) -> dict[str, object]:
    """The offer an `offer_id` was made from; `InvalidInput` for one this server did not make
    (or made with another secret key)."""
    refused = InvalidInput("offer_id", offer_id, "not an offer from /offers: ask for offers again")
    body, dot, mac = (offer_id or "").partition(".")
    if not dot or len(offer_id) > 1000:
        raise refused
    try:
        payload, given = _unb64(body), _unb64(mac)
    except (binascii.Error, ValueError):
        raise refused from None
    if not hmac.compare_digest(_mac(secret, payload), given):
        raise refused
    try:
        data = json.loads(payload)
    except ValueError:
        raise refused from None
    if not isinstance(data, dict):
        raise refused
    return data
