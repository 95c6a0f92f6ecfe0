"""Internal notes: what agents tell each other about a case. Never sent to the customer (nothing here queues a
reply), kept in the record's `notes` table and found by `helpline search` like messages and replies.

A note is an agent's text but may quote what the customer sent, so it passes the content gate
(`core.content_gate.seal_text`) before it is stored: a card number or a code in it is masked like in a message.
Its search columns are folded the way record/search.py's queries are (the router's `normalize`, then `cjk_grams`).
Adding one is an audit-log entry on the case (its id and length, not its text: an erasure wipes the text).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import insert, select

from core.content_gate import seal_text
from core.ids import conversation_reference
from desk.context import HasDesk
from record.cases import audit, ensure_agent
from record.models import Conversation, Note
from record.search import cjk_grams
from router.normalize import normalize

MAX_NOTE = 10_000  # characters: a note is a remark, not a document (attachments stay with messages)


class NoteError(ValueError):
    """A note that cannot be kept: empty, too long, or on a case the record does not hold (yet)."""


@dataclass(frozen=True)
class CaseNote:
    id: int
    case_id: str
    agent: str | None
    text: str  # as stored: masked
    created_at: datetime
    masked: list[str]  # kinds of secret masked when it was added ([] when read back)


def add_note(ctx: HasDesk, case_id: str, text: str, agent: str) -> CaseNote:
    """Keep an internal note on the case, written by `agent` (an agent's id, or a CLI name)."""
    text = text.strip()
    if not text:
        raise NoteError("the note is empty")
    if len(text) > MAX_NOTE:
        raise NoteError(f"the note is {len(text)} characters long; at most {MAX_NOTE}")
    sealed, kinds = seal_text(text)
    folded = normalize(sealed)
    now = datetime.now(UTC)
    with ctx.record.begin() as connection:
        if connection.scalar(select(Conversation.id).where(Conversation.id == case_id)) is None:
            raise NoteError(f"the record does not hold case {conversation_reference(case_id)} yet: try again shortly")
        ensure_agent(connection, agent)
        note_id = connection.scalar(
            insert(Note)
            .values(conversation_id=case_id, agent_id=agent, text=sealed, search_text=folded,
                    search_bigrams=cjk_grams(folded), created_at=now)
            .returning(Note.id)
        )  # fmt: skip
        assert note_id is not None
        audit(connection, agent, "note", case_id, {"note": note_id, "length": len(sealed), "masked": kinds}, now)
    return CaseNote(note_id, case_id, agent, sealed, now, kinds)


def case_notes(ctx: HasDesk, case_id: str) -> list[CaseNote]:
    """The case's notes, oldest first."""
    with ctx.record.connect() as connection:
        rows = connection.execute(
            select(Note.id, Note.agent_id, Note.text, Note.created_at)
            .where(Note.conversation_id == case_id)
            .order_by(Note.created_at, Note.id)
        ).all()
    return [CaseNote(r.id, case_id, r.agent_id, r.text, r.created_at, []) for r in rows]
