"""An agent's corrections of how messages were grouped: merge two cases of one customer, move a message to another
case, link a contact's identities by hand. Each is refused across customers (a case shows what its messages say:
putting one customer's message in another's case would show it to the wrong person), and each goes to the audit
log of every case it touches.

One customer: the same contact, or the other case's contact's identities all point at this one's contact (linked
by hand with `link_identity`, or by a phone number shared on Telegram).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select, update

from core.identity import email_identity, phone_identity
from core.inbox import Inbox, Status
from core.records import StoredMessage, utcnow
from desk.cases import CaseError
from desk.context import HasDesk, desk_message
from record.cases import audit, write_case_state
from record.hot_copy import contact_entry
from record.models import Conversation, Message, ThreadReference
from record.models import Reply as ReplyRow
from record.updates import refresh_contact


@dataclass(frozen=True)
class Moved:
    source: str
    target: str
    messages: list[str]


def _contact(ctx: HasDesk, case_id: str) -> str:
    contact = ctx.store.conversation(case_id).get("contact_id")
    if not contact:
        raise LookupError(f"no case {case_id}")
    return str(contact)


def same_customer(ctx: HasDesk, source: str, target: str) -> bool:
    a, b = _contact(ctx, source), _contact(ctx, target)
    if a == b:
        return True
    identities = ctx.store.contact(a).get("identities", "").split()
    return bool(identities) and all(ctx.store.contact_of(i) == b for i in identities)


def _check(ctx: HasDesk, source: str, target: str) -> None:
    if source == target:
        raise CaseError("a case cannot be merged into itself")
    if not same_customer(ctx, source, target):
        raise CaseError(f"cases {source} and {target} belong to different customers: link their identities first")


def _move(ctx: HasDesk, message_ids: list[str], source: str, target: str) -> None:
    """Move messages' hot copies, thread references and rows to `target`; the target case counts them."""
    with ctx.record.connect() as connection:
        references = [
            r.reference
            for r in connection.execute(
                select(ThreadReference.reference).where(ThreadReference.conversation_id == source)
            )
        ]
    inbox = Inbox(ctx.store)
    for message_id in message_ids:
        message = desk_message(ctx, message_id)
        sender = message.envelope.sender.address if message else ""
        own = [message.envelope.message_id] if message and message.envelope.message_id else []
        ctx.store.move_to_conversation(message_id, source, target, sender, own)

        def rehome(m: StoredMessage) -> None:
            m.conversation_id = target

        if message is not None:
            ctx.store.update_message(message_id, rehome)
        ctx.store.redis.hset(inbox.case_key(target), f"m:{message_id}", "1")
        ctx.store.redis.hincrby(inbox.case_key(target), "seq", 1)
    with ctx.record.begin() as connection:
        connection.execute(update(Message).where(Message.id.in_(message_ids)).values(conversation_id=target))
        connection.execute(update(ReplyRow).where(ReplyRow.message_id.in_(message_ids)).values(conversation_id=target))
        if not ctx.store.conversation(source)["messages"]:  # a merge: every reference to the source follows
            connection.execute(
                update(ThreadReference).where(ThreadReference.conversation_id == source).values(conversation_id=target)
            )
            for reference in references:
                ctx.store.redis.set(ctx.store.key("threadref", reference), target)


def merge_cases(ctx: HasDesk, source: str, target: str, actor: str) -> Moved:
    """Merge `source` into `target` (one customer): every message moves, `source` is resolved as merged and linked
    to `target`; `target` keeps its state and its place in the queue, at the more urgent of the two priorities."""
    _check(ctx, source, target)
    inbox = Inbox(ctx.store)
    messages = list(ctx.store.conversation(source)["messages"])
    _move(ctx, messages, source, target)
    now = datetime.now(UTC)
    before = inbox.case(source)
    if before is not None and before.status is not Status.RESOLVED:
        inbox.resolve(source, actor, now)
    ctx.store.set_linked_conversation(source, target)
    with ctx.record.begin() as connection:
        connection.execute(update(Conversation).where(Conversation.id == source).values(linked_to=target))
        for case_id in (source, target):
            state = inbox.case(case_id)
            if state is not None:
                write_case_state(connection, state)
        audit(connection, actor, "merge", source, {"into": target, "messages": messages}, now)
        audit(connection, actor, "merge", target, {"from": source, "messages": messages}, now)
    return Moved(source, target, messages)


def move_message(ctx: HasDesk, message_id: str, target: str, actor: str) -> Moved:
    """Move one message to another case of the same customer; a case left with no message is resolved."""
    message = desk_message(ctx, message_id)
    if message is None or message.conversation_id is None:
        raise LookupError(f"no routed message {message_id}")
    source = message.conversation_id
    _check(ctx, source, target)
    _move(ctx, [message_id], source, target)
    now = datetime.now(UTC)
    inbox = Inbox(ctx.store)
    emptied = not ctx.store.conversation(source)["messages"]
    if emptied:
        inbox.resolve(source, actor, now)
    with ctx.record.begin() as connection:
        for case_id in (source, target):
            state = inbox.case(case_id)
            if state is not None:
                write_case_state(connection, state)
        audit(connection, actor, "move-message", source, {"message": message_id, "to": target}, now)
        audit(connection, actor, "move-message", target, {"message": message_id, "from": source}, now)
    return Moved(source, target, [message_id])


def link_identity(ctx: HasDesk, case_id: str, identity: str, actor: str) -> str:
    """Point another identity of the customer (an email address, a phone number, `telegram:<id>`) at the contact of
    `case_id`; returns the identity as stored. Their later messages on that channel join this contact."""
    value = identity.strip()
    if ":" not in value:
        value = email_identity(value) if "@" in value else phone_identity("+" + "".join(filter(str.isdigit, value)))
    contact = _contact(ctx, case_id)
    previous = ctx.store.contact_of(value)
    ctx.store.link_identity(value, contact)
    with ctx.record.begin() as connection:
        refresh_contact(connection, contact_entry(ctx.store, contact, fallback_time=utcnow()))
        audit(connection, actor, "link-identity", case_id, {"identity": value, "was": previous, "contact": contact})
    return value
