"""Finding cases by what a person has at hand: the reference (`HL-…`), a case or message id, the customer's
Message-ID (with or without `<>`), a provider id (Twilio SID, Telegram update or message id), an email address or a
phone number.

Reads list every match (`find`); a write takes `one_case`, which refuses a phrase matching more than one case and
lists them (`Ambiguous`). The record (PostgreSQL) answers most of it: every routed message is written there before
agents see it; the hot store answers ids and thread references.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import or_, select

from core.identity import email_identity, phone_identity
from core.ids import REFERENCE_PREFIX, conversation_reference
from desk.context import HasDesk
from record.models import ContactIdentity, Conversation, Message, Reply


@dataclass(frozen=True)
class Match:
    case_id: str
    reference: str
    status: str
    how: str  # what matched: "reference", "message id", "Message-ID", "provider id", "email", "phone"
    message_id: str | None = None  # when a message was named


class Ambiguous(LookupError):
    """A write named more than one case."""

    def __init__(self, what: str, matches: list[Match]) -> None:
        self.matches = matches
        listed = "; ".join(f"{m.reference} ({m.status}, {m.how})" for m in matches)
        super().__init__(f"{what!r} matches {len(matches)} cases: {listed}; name one by its reference")


_PHONE = re.compile(r"^\+?[0-9][0-9 ()./-]{5,}$")


def find(ctx: HasDesk, what: str) -> list[Match]:
    """Every case `what` names, newest first (one per case, with the first way it matched)."""
    what = what.strip()
    found: dict[str, tuple[str, str | None]] = {}

    def add(case_id: str | None, how: str, message_id: str | None = None) -> None:
        if case_id and case_id not in found:
            found[case_id] = (how, message_id)

    bare = what.strip("<>")
    if what.startswith("t-"):
        add(what if ctx.store.conversation(what).get("contact_id") else None, "case id")
    message = ctx.store.get_message(what) if what.startswith("m-") else None
    if message is not None:
        add(message.conversation_id, "message id", message.id)
    for reference in (bare, f"<{bare}>"):
        add(ctx.store.conversation_for_reference(reference), "Message-ID")
    with ctx.record.connect() as connection:
        if what.upper().startswith(REFERENCE_PREFIX):
            add(connection.scalar(select(Conversation.id).where(Conversation.reference == what.upper())), "reference")
        rows = connection.execute(
            select(Message.conversation_id, Message.id, Message.channel).where(
                or_(
                    Message.id == what,
                    Message.provider_id.in_([bare, f"<{bare}>"]),
                    Message.metadata_["extras"]["message_id"].astext == bare,  # a Telegram message id
                )
            )
        ).all()
        for row in rows:
            add(row.conversation_id, "message id" if row.id == what else "provider id", row.id)
        replies = connection.execute(
            select(Reply.conversation_id, Reply.message_id).where(Reply.provider_id.in_([bare, f"<{bare}>"]))
        ).all()
        for reply in replies:
            add(reply.conversation_id, "our reply's provider id", reply.message_id)
        identities = []
        if "@" in bare:
            identities.append((email_identity(bare), "email"))
        if _PHONE.match(what):
            digits = re.sub(r"[^0-9]", "", what)
            identities.append((phone_identity("+" + digits), "phone"))
        for identity, how in identities:
            contact = connection.scalar(select(ContactIdentity.contact_id).where(ContactIdentity.identity == identity))
            if contact is None:
                continue
            cases = connection.execute(
                select(Conversation.id).where(Conversation.contact_id == contact).order_by(Conversation.created_at)
            ).all()
            for case in cases:
                add(case.id, how)
        rows = connection.execute(
            select(Conversation.id, Conversation.reference, Conversation.status).where(Conversation.id.in_(found))
        ).all()
    known = {row.id: (row.reference, row.status) for row in rows}
    out = []
    for case_id, (how, message_id) in found.items():
        reference, status = known.get(case_id, (conversation_reference(case_id), "?"))
        out.append(Match(case_id, reference, status, how, message_id))
    return sorted(out, key=lambda m: m.case_id, reverse=True)  # case ids sort by creation time


def one_case(ctx: HasDesk, what: str) -> Match:
    """The one case `what` names, for a write: `LookupError` when none, `Ambiguous` when several."""
    matches = find(ctx, what)
    if not matches:
        raise LookupError(f"no case matches {what!r}")
    if len(matches) > 1:
        raise Ambiguous(what, matches)
    return matches[0]
