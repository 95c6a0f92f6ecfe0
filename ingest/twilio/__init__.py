"""Twilio inbound: pure functions from webhook form fields to envelopes, TwiML for the voice menu, SMS keywords.

Nothing here does I/O; `web/twilio_routes.py` is the thin shell that checks signatures, stores and answers.
Payload fields: https://www.twilio.com/docs/messaging/guides/webhook-request and
https://www.twilio.com/docs/voice/twiml/record#attributes-action-parameters
"""
