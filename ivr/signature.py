"""Twilio webhook signatures (X-Twilio-Signature): check them, and make them for the phone
simulator. A typed wrapper over twilio-python's untyped `RequestValidator`.

Twilio signs the URL it was configured with (scheme, host, path and query) plus the sorted
POST parameters, with the account's auth token. Behind a proxy or tunnel the URL the app sees
differs, so the URL to check is always the configured public base URL + path + query.
"""

from __future__ import annotations

from collections.abc import Mapping

from twilio.request_validator import RequestValidator

HEADER = "X-Twilio-Signature"


def public_url(base_url: str, path: str, query: str = "") -> str:
    """The URL Twilio called: the configured public base URL, the path and the query."""
    url = base_url.rstrip("/") + path
    return f"{url}?{query}" if query else url


def sign(*, auth_token: str, url: str, params: Mapping[str, str]) -> str:
    """The signature Twilio would send for a POST of `params` to `url`."""
    signature = RequestValidator(auth_token).compute_signature(url, dict(params))
    assert isinstance(signature, str)
    return signature


def is_valid(*, auth_token: str, url: str, params: Mapping[str, str], signature: str) -> bool:
    """True if `signature` is Twilio's for this URL and these parameters."""
    if not signature:
        return False
    return bool(RequestValidator(auth_token).validate(url, dict(params), signature))
