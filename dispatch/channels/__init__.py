"""Channels: the other front doors (a WhatsApp bot, the state portal, a CSC app) that use the
same visit use cases through `/api/v1`, each with its own revocable API key."""
