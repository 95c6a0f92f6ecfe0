"""What the SMTP transaction adds to a parsed mail: the recipient it was delivered to, and the return path (also the
sender of last resort, when no header names one).

Applied by ingest/email/intake.py to mail the SMTP server received, and again by `helpline replay` of such mail,
so a replayed mail is the same envelope the server would have stored.
"""

from __future__ import annotations

from core.envelope import Envelope, Party


def with_smtp_envelope(envelope: Envelope, mail_from: str, rcpt_tos: list[str]) -> Envelope:
    update: dict[str, object] = {
        "extras": {**envelope.extras, "smtp_mail_from": mail_from, "smtp_rcpt_tos": rcpt_tos},
    }
    if rcpt_tos:
        update["recipient"] = Party(address=rcpt_tos[0].lower())
        # The transaction's other recipients, and the To/Cc addresses the parser found (a copy for fraud@ may come
        # in its own transaction: the dedupe ledger keeps one message, which must still know fraud@ was Cc'd).
        header_to = [envelope.recipient.address.lower()] if envelope.recipient else []
        others = [r.lower() for r in rcpt_tos[1:]] + header_to + envelope.other_recipients
        update["other_recipients"] = [a for a in dict.fromkeys(others) if a != rcpt_tos[0].lower()]
    bare_from = mail_from.strip().strip("<>").strip()
    if not envelope.sender.address and bare_from:
        # No header named a sender (From, Sender, Reply-To, Return-Path): the transaction's return path is the last
        # address we have, and the one a reply can reach.
        update["sender"] = Party(address=bare_from.lower(), name=envelope.sender.name)
        update["extras"] = {**update["extras"], "sender_header": "MAIL FROM"}  # type: ignore[dict-item]
    if not mail_from or mail_from == "<>":
        # An empty return path is a bounce by definition (RFC 5321 4.5.5), whatever the headers say.
        update["bounce"] = True
        update["flag_reasons"] = [*envelope.flag_reasons, "empty return path"]
    return envelope.model_copy(update=update)
