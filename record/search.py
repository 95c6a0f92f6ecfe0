"""Search for agents: by case reference, by a contact's email address or phone number, and in the text of
customer messages, agents' answers and notes.

Text is searched in its folded form (`search_text`: NFKC, casefold, traditional → simplified; the folding itself
is the router's `normalize`, applied by the caller to the text and to the query alike). A query of three characters
or more is a substring match that the `pg_trgm` GIN index answers (it works for Chinese, where a word parser does
not: Chinese has no spaces); a one- or two-character Chinese query matches `search_bigrams`, every Chinese character
and pair of characters of the text, through its own GIN index. The engine's statement timeout bounds every query.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Connection, and_, select
from sqlalchemy.orm import InstrumentedAttribute

from core.identity import email_identity, phone_identity
from core.ids import is_our_reference
from core.phone import to_e164
from core.records import ANSWER
from record.models import ContactIdentity, Conversation, Message, Note, Reply

MIN_SUBSTRING = 3  # pg_trgm's index needs three characters of the pattern


class QueryTooShort(ValueError):
    pass


@dataclass(frozen=True)
class Hit:
    kind: str  # message, reply or note
    id: str
    conversation_id: str | None
    at: datetime
    excerpt: str


_CJK_RANGES = "\u3400-\u9fff\uf900-\ufaff\U00020000-\U0010ffff"
_CJK_RUN = re.compile(f"[{_CJK_RANGES}]+")


def is_cjk(character: str) -> bool:
    return "\u3400" <= character <= "\u9fff" or "\uf900" <= character <= "\ufaff" or character >= "\U00020000"


def cjk_grams(folded: str) -> list[str]:
    """Every Chinese character and every pair of adjacent ones in `folded`, sorted and unique: a GIN index over
    them answers one- and two-character queries (`卡`, `冻结`), which trigrams cannot. The runs of Chinese are found
    by one regular expression (the characters `is_cjk` names): a loop over every character cost a worker about a
    percent of its CPU a message."""
    grams: set[str] = set()
    for run in _CJK_RUN.findall(folded):
        grams.update(run)
        grams.update(map(str.__add__, run, run[1:]))
    return sorted(grams)


def search_text(connection: Connection, folded_query: str, *, limit: int = 50) -> list[Hit]:
    """Messages, agents' answers and notes whose folded text holds `folded_query`, newest first. Automatic replies
    are not searched (record/writer.py does not index them; rows written before it did are left out here)."""
    query = folded_query.strip()
    if len(query) < MIN_SUBSTRING and not (query and all(is_cjk(c) for c in query)):
        raise QueryTooShort(f"a search needs {MIN_SUBSTRING} characters or more (1 or 2 for Chinese)")

    def matches(
        text_column: InstrumentedAttribute[str], grams_column: InstrumentedAttribute[list[str]]
    ) -> ColumnElement[bool]:
        if len(query) >= MIN_SUBSTRING:
            return text_column.contains(query, autoescape=True)  # LIKE '%…%': the trigram index
        return grams_column.contains([query])  # @> ARRAY[…]: the bigram index

    sources = [
        ("message", Message.id, Message.conversation_id, Message.received_at, Message.text,
         matches(Message.search_text, Message.search_bigrams)),
        ("reply", Reply.id, Reply.conversation_id, Reply.created_at, Reply.text,
         and_(Reply.purpose == ANSWER, matches(Reply.search_text, Reply.search_bigrams))),
        ("note", Note.id, Note.conversation_id, Note.created_at, Note.text,
         matches(Note.search_text, Note.search_bigrams)),
    ]  # fmt: skip
    hits: list[Hit] = []
    for kind, id_column, conversation_column, time_column, text_column, condition in sources:
        statement = (
            select(id_column, conversation_column, time_column, text_column)
            .where(condition)
            .order_by(time_column.desc())
            .limit(limit)
        )
        hits += [Hit(kind, str(row[0]), row[1], row[2], row[3][:200]) for row in connection.execute(statement)]
    return sorted(hits, key=lambda hit: hit.at, reverse=True)[:limit]


def find_conversations(connection: Connection, query: str, *, default_region: str = "US") -> list[str]:
    """Conversation ids for a case reference (`HL-…`), an email address or a phone number; newest first."""
    query = query.strip()
    if is_our_reference(query.upper()):
        condition = Conversation.reference == query.upper()
    else:
        identity = contact_identity(query, default_region)
        if identity is None:
            return []
        contacts = select(ContactIdentity.contact_id).where(ContactIdentity.identity == identity)
        condition = Conversation.contact_id.in_(contacts)
    statement = select(Conversation.id).where(condition).order_by(Conversation.created_at.desc())
    return list(connection.scalars(statement))


def contact_identity(query: str, default_region: str = "US") -> str | None:
    """The identity an email address or a phone number (any usual spelling) is recorded under."""
    if "@" in query:
        return email_identity(query.strip())
    number = to_e164(query, default_region)
    return phone_identity(number) if number else None
