"""Each API client's requests per minute (`ApiClient.rate_per_minute`), counted with the
`limits` library over a moving window of one minute, in the storage `Settings.rate_limit_url`
names: `memory://` (per process) or `redis://...` (shared by every process and machine).

A client is counted by its key's prefix, which is unique and not secret. When the storage
cannot be reached (Redis down), requests are let through and a warning is logged: the
channels' citizens should not lose the line because the counter did.

Not here: the 429 answer itself (`web.api.access`).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

from limits import RateLimitItemPerMinute
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from dispatch.channels.service import Caller

log = logging.getLogger(__name__)

NAMESPACE = "doorstep-api"


@dataclass(frozen=True)
class Verdict:
    """Whether one more request may go through now, and what is left of the minute."""

    allowed: bool
    limit: int
    remaining: int
    retry_after_s: int


class RateLimiter:
    """The per-client limiter of one application (its storage is made once, here)."""

    def __init__(self, storage_url: str) -> None:
        self.storage = storage_from_string(storage_url)
        self.strategy = MovingWindowRateLimiter(self.storage)

    def hit(self, caller: Caller) -> Verdict:
        """Count one request of `caller`, if its minute has room."""
        item = RateLimitItemPerMinute(caller.rate_per_minute, namespace=NAMESPACE)
        try:
            allowed = self.strategy.hit(item, caller.key_prefix)
            stats = self.strategy.get_window_stats(item, caller.key_prefix)
        except Exception as exc:  # the storage is down: let the channel through, and say so
            log.warning("api rate limit not counted (%s): request let through", type(exc).__name__)
            return Verdict(True, caller.rate_per_minute, caller.rate_per_minute, 0)
        wait = max(1, math.ceil(stats.reset_time - time.time())) if not allowed else 0
        return Verdict(allowed, caller.rate_per_minute, max(0, stats.remaining), wait)
