"""Incidents, for the outage that brings a thousand similar cases in an hour: a supervisor opens one (it may carry a
customer notice, core/notices.py), links cases to it by hand or by a search, and when it is over sends one answer to
every linked case that is not resolved — each in its customer's language, on its channel — and resolves them.

Nothing here sends or resolves by itself: each case gets `desk.cases.answer` (the path every agent's answer takes:
the case's channel, threading, the `send_reply` job) and then `desk.cases.resolve` (which schedules the survey).
The answer has one text per reply language; `reply_language` picks it per case, from the customer's latest message,
as `answer` does for its subject.

Two supervisors answering one incident at once: the record decides (record/incidents.py). The incident moves from
open to answering in one conditional UPDATE, so one of them goes on and the other is refused; each case is stamped
answered in another before its answer is queued, so no case is answered twice even when a claim left by a process
that died is taken over (after `STALE_CLAIM`). Every action goes into the audit log: on the incident (subject kind
`incident`) and on each case it touched.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, func, select
from sqlalchemy.dialects.postgresql import distinct_on

from core.ids import new_id
from core.inbox import Inbox, Status
from core.language import reply_language
from core.notices import NoticeBoard
from desk.cases import CaseError, answer, latest_message, resolve
from desk.context import HasDesk
from desk.lookup import one_case
from record import incidents as rows
from record.cases import audit
from record.models import Conversation, Message
from record.search import search_text
from router.normalize import normalize

# A claim to answer older than this is a process that died mid-way: another supervisor may take it over (the cases
# it answered stay answered; record/incidents.py).
STALE_CLAIM = timedelta(minutes=15)
# A notice opened with an incident and no end of its own lasts this long at most; resolving the incident withdraws it.
NOTICE_HOURS = 24
# A search links at most this many cases at once; more matching is reported, to narrow the search.
SEARCH_LIMIT = 2000


class IncidentError(ValueError):
    """The incident's state refuses the action: it is resolved, or another supervisor is answering it."""


@dataclass(frozen=True)
class LinkedCase:
    case_id: str
    reference: str
    status: str  # the live state: open, pending or resolved
    channel: str
    queue: str | None
    linked_by: str
    linked_at: datetime
    answered_at: datetime | None
    reply_id: str | None
    outcome: str | None


@dataclass(frozen=True)
class IncidentView:
    id: str
    title: str
    status: str  # open, answering, resolved
    started_at: datetime
    resolved_at: datetime | None
    opened_by: str | None
    notice_id: str | None
    answered_by: str | None
    answer_en: str | None
    answer_zh: str | None
    case_count: int
    cases: list[LinkedCase] = field(default_factory=list)

    @classmethod
    def of(cls, row: rows.IncidentRow, cases: list[LinkedCase] | None = None) -> IncidentView:
        return cls(
            row.id, row.title, row.status, row.started_at, row.resolved_at, row.opened_by, row.notice_id,
            row.answered_by, row.answer_en, row.answer_zh, row.cases, cases or [],
        )  # fmt: skip


@dataclass(frozen=True)
class Linked:
    incident_id: str
    added: list[str]  # case ids newly linked
    already: list[str]  # linked before
    elsewhere: dict[str, str] = field(default_factory=dict)  # left out: linked to another open incident
    more: bool = False  # a search found more than it links at once


@dataclass(frozen=True)
class CaseOutcome:
    case_id: str
    reference: str
    outcome: str  # resolved | answered, left open: … | skipped: … | failed: …
    reply_id: str | None = None
    channel: str | None = None
    language: str | None = None


@dataclass(frozen=True)
class Answered:
    incident_id: str
    cases: list[CaseOutcome]
    resolved_at: datetime


def _now() -> datetime:
    return datetime.now(UTC)


def _texts(text_en: str | None, text_zh: str | None, what: str) -> tuple[str, str]:
    """(en, zh): one given serves both."""
    en, zh = (text_en or "").strip(), (text_zh or "").strip()
    if not (en or zh):
        raise ValueError(f"{what} needs a text (en, zh, or both)")
    return en or zh, zh or en


# ---- opening, reading --------------------------------------------------------------------------------------------


def open_incident(
    ctx: HasDesk,
    title: str,
    actor: str,
    *,
    notice_en: str | None = None,
    notice_zh: str | None = None,
    notice_until: datetime | None = None,
) -> IncidentView:
    """Open an incident; with a notice text, every acknowledgement carries the notice until `notice_until` (default
    `NOTICE_HOURS` from now) or until the incident is resolved, whichever comes first."""
    if not title.strip():
        raise ValueError("an incident needs a title")
    now = _now()
    notice_id = None
    if notice_en or notice_zh:
        until = notice_until or now + timedelta(hours=NOTICE_HOURS)
        notice_id = NoticeBoard(ctx.store).add(until, notice_en, notice_zh, now=now).id
    incident_id = new_id("i")
    with ctx.record.begin() as connection:
        rows.create_incident(connection, incident_id, title.strip(), actor, now, notice_id)
        audit(connection, actor, "incident-open", incident_id, {"title": title.strip(), "notice": notice_id}, now,
              kind="incident")  # fmt: skip
    return show_incident(ctx, incident_id)


def list_incidents(ctx: HasDesk, *, status: str | None = None, limit: int = 50) -> list[IncidentView]:
    with ctx.record.connect() as connection:
        return [IncidentView.of(row) for row in rows.incidents(connection, status=status, limit=limit)]


def show_incident(ctx: HasDesk, incident_id: str) -> IncidentView:
    """The incident with its linked cases and their live states; `LookupError` when there is none."""
    with ctx.record.connect() as connection:
        row = rows.incident(connection, incident_id)
        if row is None:
            raise LookupError(f"no incident {incident_id}")
        linked = rows.links(connection, incident_id)
    live = Inbox(ctx.store).statuses([link.case_id for link in linked])  # the record's status when Redis has none
    cases = [
        LinkedCase(
            link.case_id, link.reference, live[link.case_id].value if link.case_id in live else link.status,
            link.channel, link.queue, link.linked_by, link.linked_at, link.answered_at, link.reply_id, link.outcome,
        )
        for link in linked
    ]  # fmt: skip
    return IncidentView.of(row, cases)


def answer_languages(ctx: HasDesk, case_ids: Sequence[str]) -> dict[str, str]:
    """The language an incident's answer takes (or took) on each case, as `answer_incident` picks it: its latest
    routed customer message's, through `reply_language`; read from the record in one query (a page of a thousand
    cases). A case without a routed message in the record is left out."""
    if not case_ids:
        return {}
    routed = func.jsonb_typeof(Message.decision) == "object"  # a routed message (an unrouted one holds no decision)
    statement = (
        select(Message.conversation_id, Message.language)
        .where(Message.conversation_id.in_(sorted(set(case_ids))), routed)
        .ext(distinct_on(Message.conversation_id))
        .order_by(Message.conversation_id, Message.received_at.desc(), Message.id.desc())
    )
    default = ctx.settings.replies.default_language
    with ctx.record.connect() as connection:
        found = connection.execute(statement)
        return {str(row.conversation_id): reply_language(row.language, default) for row in found}


def _still_open(connection: Connection, incident_id: str) -> None:
    """The incident must still take links; its row stays share-locked until the caller's transaction ends (a claim
    to answer waits for it: record/incidents.py)."""
    status = rows.status_for_change(connection, incident_id)
    if status is None:
        raise LookupError(f"no incident {incident_id}")
    if status != "open":
        raise IncidentError(f"incident {incident_id} is {status}: it takes no more changes")


def _open(ctx: HasDesk, incident_id: str) -> None:
    """Refuse early, before any case is looked up, when the incident takes no links (checked again on writing)."""
    with ctx.record.connect() as connection:
        _still_open(connection, incident_id)


# ---- linking -----------------------------------------------------------------------------------------------------


def _link(ctx: HasDesk, incident_id: str, case_ids: list[str], actor: str, how: str, *, strict: bool) -> Linked:
    """Link `case_ids`; a case linked to another unresolved incident refuses the whole write (`strict`: by hand)
    or is left out (a search)."""
    now = _now()
    with ctx.record.begin() as connection:
        _still_open(connection, incident_id)
        other = rows.elsewhere(connection, incident_id, case_ids)
        if other and strict:
            listed = ", ".join(f"{case} (incident {incident})" for case, incident in sorted(other.items()))
            raise IncidentError(f"already linked to another open incident: {listed}; unlink it there first")
        wanted = [case for case in case_ids if case not in other]
        added = rows.link_cases(connection, incident_id, wanted, actor, now)
        for case_id in added:
            audit(connection, actor, "incident-link", case_id, {"incident": incident_id, "how": how}, now)
        if added:
            audit(connection, actor, "incident-link", incident_id, {"cases": added, "how": how}, now, kind="incident")
    return Linked(incident_id, added, [case for case in wanted if case not in added], other)


def link_cases(ctx: HasDesk, incident_id: str, handles: Sequence[str], actor: str) -> Linked:
    """Link the cases the handles name (desk/lookup.py: a reference, a Message-ID, an email address...). Every
    handle must name one case (`Ambiguous` lists them otherwise), or nothing is linked."""
    _open(ctx, incident_id)
    if not handles:
        raise ValueError("name at least one case")
    case_ids = list(dict.fromkeys(one_case(ctx, handle).case_id for handle in handles))
    return _link(ctx, incident_id, case_ids, actor, "by hand", strict=True)


def link_matching(
    ctx: HasDesk,
    incident_id: str,
    query: str,
    actor: str,
    *,
    queue: str | None = None,
    since: datetime | None = None,
) -> Linked:
    """Link every open or pending case with a customer message (or an agent's note) holding `query` (record/search.py:
    3 characters or more, 1 or 2 for Chinese), in `queue` and with such a message received `since`, when given.
    Cases linked to another open incident are left out and listed."""
    _open(ctx, incident_id)
    if since is not None and since.tzinfo is None:
        raise ValueError("since must carry a timezone")
    with ctx.record.connect() as connection:
        hits = search_text(connection, normalize(query), limit=SEARCH_LIMIT)
        found = {
            hit.conversation_id
            for hit in hits
            if hit.kind in ("message", "note") and hit.conversation_id and (since is None or hit.at >= since)
        }
        statement = select(Conversation.id).where(
            Conversation.id.in_(sorted(found)), Conversation.status.in_([Status.OPEN.value, Status.PENDING.value])
        )
        if queue is not None:
            statement = statement.where(Conversation.queue == queue)
        case_ids = list(connection.scalars(statement.order_by(Conversation.created_at, Conversation.id)))
    linked = _link(ctx, incident_id, case_ids, actor, f"search {query!r}", strict=False)
    return Linked(linked.incident_id, linked.added, linked.already, linked.elsewhere, len(hits) >= SEARCH_LIMIT)


def unlink_case(ctx: HasDesk, incident_id: str, handle: str, actor: str) -> str:
    """Unlink the case `handle` names (before the incident is answered); returns its id."""
    _open(ctx, incident_id)
    case_id = one_case(ctx, handle).case_id
    now = _now()
    with ctx.record.begin() as connection:
        _still_open(connection, incident_id)
        if not rows.unlink_case(connection, incident_id, case_id):
            raise LookupError(f"{handle!r} is not linked to incident {incident_id}")
        audit(connection, actor, "incident-unlink", case_id, {"incident": incident_id}, now)
        audit(connection, actor, "incident-unlink", incident_id, {"case": case_id}, now, kind="incident")
    return case_id


# ---- answering ---------------------------------------------------------------------------------------------------


def _refusal(ctx: HasDesk, incident_id: str) -> Exception:
    """Why a claim to answer failed: no such incident, resolved, or being answered by someone else."""
    with ctx.record.connect() as connection:
        row = rows.incident(connection, incident_id)
    if row is None:
        return LookupError(f"no incident {incident_id}")
    if row.status == "resolved" and row.resolved_at is not None:
        return IncidentError(
            f"incident {incident_id} was already resolved by {row.answered_by} at {row.resolved_at:%Y-%m-%d %H:%M}"
        )
    since = f"{row.answering_since:%H:%M:%S}" if row.answering_since else "?"
    return IncidentError(f"incident {incident_id} is being answered by {row.answered_by} (since {since})")


def answer_incident(
    ctx: HasDesk, incident_id: str, actor: str, *, text_en: str | None = None, text_zh: str | None = None
) -> Answered:
    """Send the answer to every linked case not resolved, each in its customer's language (one text serves both
    when only one is given), resolve each, and resolve the incident (and withdraw its notice)."""
    texts = _texts(text_en, text_zh, "an incident's answer")
    now = _now()
    with ctx.record.begin() as connection:
        claimed = rows.claim_answer(connection, incident_id, actor, texts, now, now - STALE_CLAIM)
        if claimed:
            audit(connection, actor, "incident-answer", incident_id, {"en": texts[0], "zh": texts[1]}, now,
                  kind="incident")  # fmt: skip
    if not claimed:
        raise _refusal(ctx, incident_id)
    with ctx.record.connect() as connection:
        linked = rows.links(connection, incident_id)
    outcomes = [_answer_case(ctx, incident_id, link, texts, actor) for link in linked if link.answered_at is None]
    done = [outcome for outcome in outcomes if outcome is not None]
    at = _now()
    with ctx.record.begin() as connection:
        if not rows.finish(connection, incident_id, actor, at):
            raise IncidentError(f"incident {incident_id}: another supervisor took the answer over")
        summary = {"cases": len(done), "resolved": sum(o.outcome == "resolved" for o in done)}
        audit(connection, actor, "incident-resolve", incident_id, summary, at, kind="incident")
    row = show_incident(ctx, incident_id)
    if row.notice_id:
        NoticeBoard(ctx.store).remove(row.notice_id, now=at)
    return Answered(incident_id, done, at)


def _answer_case(
    ctx: HasDesk, incident_id: str, link: rows.LinkRow, texts: tuple[str, str], actor: str
) -> CaseOutcome | None:
    """Answer and resolve one case; None when another run stamped it first."""
    with ctx.record.begin() as connection:
        if not rows.claim_case(connection, incident_id, link.case_id, _now()):
            return None
    outcome = _send_and_resolve(ctx, link, texts, actor)
    with ctx.record.begin() as connection:
        rows.case_outcome(connection, incident_id, link.case_id, outcome.reply_id, outcome.outcome)
        detail = {"incident": incident_id, "outcome": outcome.outcome, "reply": outcome.reply_id}
        audit(connection, actor, "incident-answer", link.case_id, detail, _now())
    return outcome


def _send_and_resolve(ctx: HasDesk, link: rows.LinkRow, texts: tuple[str, str], actor: str) -> CaseOutcome:
    state = Inbox(ctx.store).case(link.case_id)
    if state is None:
        return CaseOutcome(link.case_id, link.reference, "skipped: the case has no live state")
    if state.status is Status.RESOLVED:
        return CaseOutcome(link.case_id, link.reference, "skipped: already resolved")
    try:
        message = latest_message(ctx, link.case_id)
        language = reply_language(message.envelope.language, ctx.settings.replies.default_language)
        sent = answer(ctx, link.case_id, texts[1] if language == "zh" else texts[0], actor)
    except (CaseError, LookupError) as exc:
        return CaseOutcome(link.case_id, link.reference, f"failed: {exc}")
    reply = sent.reply
    base = {"reply_id": reply.id, "channel": reply.channel.value, "language": reply.language}
    try:
        # Only a pending case: a customer who wrote again after the answer is still waiting for someone.
        resolve(ctx, link.case_id, actor, only_if=Status.PENDING)
    except (CaseError, LookupError):
        return CaseOutcome(link.case_id, link.reference, "answered, left open: the customer wrote again", **base)
    return CaseOutcome(link.case_id, link.reference, "resolved", **base)
