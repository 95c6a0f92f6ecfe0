"""Twilio inbound: webhook form fields to envelopes, TwiML for the voice menu, SMS keywords, and the store writes
each webhook needs.

Pure (no I/O): `messaging`, `voicemail` (envelopes), `ivr` (TwiML), `keywords`, `replay` (re-parsing dead letters).
Writing to Redis: `message_intake`, `voice_intake`, `voicemail_parking`, `call_state`, `delivery_status`.
`web/twilio_routes.py` is the thin HTTP shell that checks signatures, calls these and answers.
Payload fields: https://www.twilio.com/docs/messaging/guides/webhook-request and
https://www.twilio.com/docs/voice/twiml/record#attributes-action-parameters
"""
