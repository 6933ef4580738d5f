"""The web tests share the IVR tests' app, clock and caller (the simulator drives the line)."""

from __future__ import annotations

from tests.ivr.conftest import app, caller, clock, fresh_plan_cache

__all__ = ["app", "caller", "clock", "fresh_plan_cache"]
