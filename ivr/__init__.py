"""IVR: the Twilio adapter — voice webhooks for the toll-free number, SMS sending.

Thin handlers: parse the form, make one dispatch call, answer TwiML.
"""
