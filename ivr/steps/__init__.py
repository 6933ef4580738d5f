"""The call's steps, one module per group; importing them registers their handlers.

entry      greeting, language, main menu
services   the service by keypad or by name; documents
location   the address: last one, or district, block, village, landmark
booking    windows, fee, agreement (log + charge + book), confirmation, SMS
lookup     status by reference; reschedule or cancel
person     the call-agent queue, or a call-back when the wait is long
agent      the field agents' menu: PIN, next visit or a reference, the outcome, the code
feedback   the call the line places for a rating the citizen did not send by SMS
"""

from __future__ import annotations

from ivr.steps import agent, booking, entry, feedback, location, lookup, person, services

MODULES = (entry, services, location, booking, lookup, person, agent, feedback)


def register() -> None:
    """Nothing to do beyond importing this package; named so callers say why they import it."""
