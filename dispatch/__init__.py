"""Dispatch: Doorstep's domain — tables, pure rules and service functions.

Knows nothing of HTTP, Twilio or the scheduler; adapters plug in through `dispatch.ports`.
"""
