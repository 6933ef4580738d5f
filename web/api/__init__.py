"""The channels' JSON API under `/api/v1` (a FastAPI application of its own, mounted by
`web.app.create_app`): the same visit use cases as the phone line and the console, for a
WhatsApp bot, the state portal or a CSC app, each with its own revocable, rate-limited key.

Modules: `app` (the application and its OpenAPI description), `access` (keys and rate
limits), `ratelimit`, `problems` (every error as problem details), `schemas` (bodies),
`reading` (catalogue and places), `booking` (offers and new requests), `existing` (a
request's status, moving and cancelling it), `commands` (what those share).
"""
