"""The call's steps, one module per group; importing them registers their handlers.

entry      greeting (a known caller by name, in their language), language, main menu
services   the service by keypad or by name; documents; starting a new visit
location   the address: last one, or PIN code (or district by name), village, landmark
booking    the earliest window with the fee, one key to book (log + charge + plan + SMS),
           later windows, confirmation
lookup     a caller's open requests, or one by reference; status, reschedule, cancel
person     the call-agent queue, or a call-back when the wait is long
agent      the field agents' menu: PIN, next visit or a reference, the outcome, the code
feedback   the call the line places for a rating the citizen did not send by SMS
"""

from __future__ import annotations

from ivr.steps import agent, booking, entry, feedback, location, lookup, person, services

MODULES = (entry, services, location, booking, lookup, person, agent, feedback)


def register() -> None:
    """Nothing to do beyond importing this package; named so callers say why they import it."""
