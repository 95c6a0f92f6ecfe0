"""What an automatic reply counts against: the caps that break a loop with another robot.

A robot that slipped past the header checks (no `Auto-Submitted`, no `Precedence`, not a no-reply address) and
answers from a new address each time (`bounce+ticket123@desk.example`, then `…124@…`) is a new contact every time, so
the per-contact cap alone never trips. Two more counters catch it, each within the same configured cap:

- **the thread**: a message whose In-Reply-To/References reach one of our own replies counts against the
  conversation that reply belongs to, followed back through `linked_to` to the conversation that started it (a
  follow-up from a new address opens a new conversation linked to the old one, so the chain is the loop);
- **the repeated text**: an email whose normalised subject and body (reply prefixes dropped, every token with a digit
  in it — ticket numbers, dates, hex ids — made `#`) were already seen from the same domain and the same address
  *shape*: the local part with its numbers and hex ids made `#` (`bounce+ticket123` and `bounce+ticket124` are one
  shape, `noreply-8f3a` and `noreply-c2d1` another), except a local part that is all digits (a QQ number), which is
  the person.

The shape is what keeps the many different customers of gmail.com or qq.com apart: two people with identical short
texts ("payment failed") still have different addresses, while a VERP robot's addresses differ only in their numbers.
The price, written down in the README: a robot rotating purely alphabetic random addresses and sending no References
is caught only by the per-contact cap.
"""

from __future__ import annotations

import hashlib
import re

from core.envelope import Channel, Envelope
from core.records import StoredMessage
from core.store import Store

# Subject prefixes mail clients add when answering or forwarding, in the languages the desk serves.
_REPLY_PREFIX = re.compile(
    r"^\s*(?:(?:re|fw|fwd|aw|wg|sv|vs|antw|tr|rif|回复|回覆|答复|转发|轉寄)\s*(?:\[\d+\])?\s*[:：]\s*)+", re.I
)
_TOKEN_WITH_DIGIT = re.compile(r"[^\s\d]*\d[^\s]*")
_SPACE = re.compile(r"\s+")
_LOCAL_SEPARATORS = re.compile(r"([+\-._=])")
_HEX_ID = re.compile(r"(?=.*\d)[0-9a-f]{4,}")
_DIGITS = re.compile(r"\d+")
# Enough of the body to recognise a canned text; a robot quoting our growing replies below its own stays one text.
_BODY_CHARS = 500
# A loop longer than this is broken by the counters long before; the bound only guards against a cycle in the data.
_MAX_LINKS = 50


def normalised_text(subject: str, body: str) -> str:
    subject = _REPLY_PREFIX.sub("", subject)
    joined = f"{subject}\n{_SPACE.sub(' ', body).strip()[:_BODY_CHARS]}".lower()
    return _SPACE.sub(" ", _TOKEN_WITH_DIGIT.sub("#", joined)).strip()


def address_shape(address: str) -> str:
    """`bounce+ticket123@desk.example` -> `bounce+ticket#@desk.example`: the part of an address a robot keeps."""
    local, _, domain = address.lower().rpartition("@")
    if local.isdigit():  # a QQ number or a phone number is the person, not a ticket number
        return f"{local}@{domain}"
    tokens = _LOCAL_SEPARATORS.split(local)
    shaped = ("#" if _HEX_ID.fullmatch(token) else _DIGITS.sub("#", token) for token in tokens)
    return f"{''.join(shaped)}@{domain}"


def text_counter(envelope: Envelope) -> str:
    digest = hashlib.sha256(
        f"{address_shape(envelope.sender.address)}\n{normalised_text(envelope.subject, envelope.text)}".encode()
    ).hexdigest()[:32]
    return f"text:{digest}"


def thread_root(envelope: Envelope, store: Store) -> str | None:
    """The conversation at the start of the chain of our own replies this message answers, or None."""
    for reference in [envelope.in_reply_to or "", *reversed(envelope.references)]:
        if not reference or not store.is_own_outbound_id(reference):
            continue
        conversation = store.conversation_for_reference(reference)
        if conversation is None:
            continue
        for _ in range(_MAX_LINKS):
            linked = store.linked_conversation(conversation)
            if linked is None:
                break
            conversation = linked
        return conversation
    return None


def cap_counters(message: StoredMessage, store: Store) -> list[str]:
    """Every counter one automatic reply to `message` counts against (see the module docstring)."""
    assert message.contact_id is not None
    counters = [message.contact_id]
    envelope = message.envelope
    if envelope.channel is Channel.EMAIL:
        root = thread_root(envelope, store)
        if root is not None:
            counters.append(f"thread:{root}")
        counters.append(text_counter(envelope))
    return counters
