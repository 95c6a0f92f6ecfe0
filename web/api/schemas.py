"""The agents' API's request and response bodies (they make the OpenAPI document's schemas)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from core.agent_settings import Role, check_email
from core.envelope import Priority
from desk.agents import AgentChanges, AgentView
from desk.canned import Canned
from desk.incidents import IncidentView, LinkedCase
from desk.listing import CaseRow
from desk.lookup import Match
from desk.notes import CaseNote
from desk.recategorize import Recategorized


class AgentOut(BaseModel):
    id: str
    name: str
    email: str
    languages: list[str]
    queues: list[str]
    capacity: int
    role: Role
    away: bool
    active: bool
    has_password: bool
    has_token: bool
    created_at: datetime

    @classmethod
    def of(cls, agent: AgentView) -> AgentOut:
        return cls(
            id=agent.id, name=agent.name, email=agent.email, languages=agent.languages, queues=agent.queues,
            capacity=agent.capacity, role=agent.role, away=agent.away, active=agent.active,
            has_password=agent.has_password, has_token=agent.has_token, created_at=agent.created_at,
        )  # fmt: skip


class AgentIn(BaseModel):
    name: str = Field(min_length=1)
    email: str
    languages: list[str] = Field(default_factory=lambda: ["en"])
    queues: list[str] = Field(default_factory=list)
    capacity: int = Field(5, ge=0)
    role: Role = Role.AGENT

    @field_validator("email")
    @classmethod
    def _email(cls, address: str) -> str:
        return check_email(address)


class AgentPatch(BaseModel):
    """Fields left out stay as they are."""

    name: str | None = Field(None, min_length=1)
    languages: list[str] | None = None
    queues: list[str] | None = None
    capacity: int | None = Field(None, ge=0)
    role: Role | None = None
    active: bool | None = None

    def changes(self) -> AgentChanges:
        return AgentChanges(self.name, self.languages, self.queues, self.capacity, self.role, self.active)


class SignIn(BaseModel):
    email: str
    password: str


class SessionOut(BaseModel):
    token: str = Field(description="send it as `Authorization: Bearer <token>`")
    expires_in: int = Field(description="seconds")
    agent: AgentOut


class NewToken(BaseModel):
    token: str = Field(description="shown once: only its digest is kept")


class PasswordChange(BaseModel):
    current: str
    new: str


class PriorityCounts(BaseModel):
    priority: str
    waiting: int
    open: int
    oldest_age_seconds: int | None
    first_response_at_risk: int
    first_response_breached: int
    resolution_at_risk: int
    resolution_breached: int


class QueueOut(BaseModel):
    queue: str
    waiting: int
    open: int
    first_response_at_risk: int
    first_response_breached: int
    resolution_at_risk: int
    resolution_breached: int
    in_business_hours: bool
    priorities: list[PriorityCounts]


class CaseMatch(BaseModel):
    """A case a handle named, and how."""

    case: str
    reference: str
    status: str
    how: str = Field(description="what matched: reference, case id, message id, Message-ID, provider id, email, phone")
    message_id: str | None = Field(None, description="the message the handle named, when it named one")

    @classmethod
    def of(cls, match: Match) -> CaseMatch:
        return cls(case=match.case_id, reference=match.reference, status=match.status, how=match.how,
                   message_id=match.message_id)  # fmt: skip


class AmbiguousOut(BaseModel):
    """409: a write named more than one case; name one by its reference."""

    detail: str
    matches: list[CaseMatch]


class CaseSummary(BaseModel):
    case: str
    reference: str
    status: str = Field(description="open (waiting, or with `agent`), pending or resolved")
    queue: str | None
    priority: str | None
    category: str | None
    agent: str | None = Field(description="the agent's id, while the case is with someone")
    channel: str
    subject: str
    created_at: datetime
    last_message_at: datetime | None
    matched_by: str | None = Field(None, description="with `q=`: what matched")

    @classmethod
    def of(cls, row: CaseRow, matched_by: str | None = None) -> CaseSummary:
        return cls(
            case=row.case_id, reference=row.reference, status=row.status, queue=row.queue, priority=row.priority,
            category=row.category, agent=row.agent, channel=row.channel, subject=row.subject,
            created_at=row.created_at, last_message_at=row.last_message_at, matched_by=matched_by,
        )  # fmt: skip


class AttachmentOut(BaseModel):
    index: int
    filename: str | None
    content_type: str | None
    size: int | None


class CaseMessageOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    id: str
    channel: str
    sender: dict[str, Any] = Field(alias="from")
    received_at: datetime
    subject: str | None
    text: str
    language: str | None
    notes: list[str]
    decision: dict[str, Any] | None = Field(description="category, queue, priority and why (the trace left out)")
    attachments: list[AttachmentOut]


class CaseReplyOut(BaseModel):
    id: str
    purpose: str = Field(description="ack, answer, survey...")
    state: str = Field(description="its delivery state")
    text: str


class OtherCaseOut(BaseModel):
    case: str
    reference: str
    channel: str
    status: str


class NoteOut(BaseModel):
    """An agent's internal note: never sent to the customer; secrets in it are masked."""

    id: int
    agent: str | None
    text: str
    created_at: datetime

    @classmethod
    def of(cls, note: CaseNote) -> NoteOut:
        return cls(id=note.id, agent=note.agent, text=note.text, created_at=note.created_at)


class CaseOut(BaseModel):
    """What an agent reads about a case (desk/view.py)."""

    case: str
    reference: str
    status: str | None
    place: str | None = Field(description="waiting, taken or pending")
    queue: str | None
    priority: str | None
    category: str | None
    agent: str | None
    linked_to: str | None
    details: dict[str, str]
    missing_details: list[str]
    messages: list[CaseMessageOut]
    replies: list[CaseReplyOut]
    notes: list[NoteOut] = Field(description="agents' internal notes, oldest first")
    other_cases: list[OtherCaseOut] = Field(description="the contact's other cases, on any channel")
    matched_by: str | None = Field(None, description="on a read by handle: what matched")


class NextIn(BaseModel):
    queues: list[str] | None = Field(None, description="some of the caller's queues (default: all of them)")


class ReplyIn(BaseModel):
    """The answer's `text`, or the name of a `canned` reply (`GET /api/canned`) rendered for the case: one of them."""

    text: str | None = Field(None, min_length=1, pattern=r"\S")
    canned: str | None = Field(None, min_length=1, description="a canned reply's name, instead of `text`")
    seen: int | None = Field(
        None, description="how many customer messages the agent saw; if one came after, the case stays open"
    )

    @model_validator(mode="after")
    def _one_of(self) -> ReplyIn:
        if (self.text is None) == (self.canned is None):
            raise ValueError("give either text or canned (one of them)")
        return self


class ReplyOut(BaseModel):
    reply: str = Field(description="the reply's id: its delivery state shows in the case's replies")
    channel: str
    to: str
    status: str = Field(description="the case's status after the answer: pending, or open if the customer wrote again")
    newer: bool = Field(description="a customer message came after what the agent saw")


class ResolutionOut(BaseModel):
    case: str
    queue: str
    was: str = Field(description="waiting, taken or pending")
    at: datetime
    outcome: str = Field(description="the resolution time against its SLA target")


class ReassignIn(BaseModel):
    agent: str = Field(min_length=1, description="the agent's id or email")


class MergeIn(BaseModel):
    into: str = Field(min_length=1, description="the case that keeps the messages: any handle naming one case")


class MergeOut(BaseModel):
    source: str
    target: str
    messages: list[str]


class IncidentIn(BaseModel):
    title: str = Field(min_length=1, pattern=r"\S")
    notice_en: str | None = Field(None, description="a customer notice every acknowledgement carries meanwhile")
    notice_zh: str | None = Field(None, description="its Chinese text (default: the English one, and the reverse)")
    notice_until: datetime | None = Field(None, description="the notice's end (default: 24 hours; resolving ends it)")


class IncidentCaseOut(BaseModel):
    case: str
    reference: str
    status: str = Field(description="the case's live state: open, pending or resolved")
    channel: str
    queue: str | None
    linked_by: str
    linked_at: datetime
    answered_at: datetime | None
    reply: str | None = Field(description="the incident's answer to this case, once sent")
    outcome: str | None = Field(description="resolved | answered, left open: … | skipped: … | failed: …")

    @classmethod
    def of(cls, case: LinkedCase) -> IncidentCaseOut:
        return cls(
            case=case.case_id, reference=case.reference, status=case.status, channel=case.channel, queue=case.queue,
            linked_by=case.linked_by, linked_at=case.linked_at, answered_at=case.answered_at, reply=case.reply_id,
            outcome=case.outcome,
        )  # fmt: skip


class IncidentOut(BaseModel):
    id: str
    title: str
    status: str = Field(description="open, answering (a supervisor is sending its answer) or resolved")
    started_at: datetime
    resolved_at: datetime | None
    opened_by: str | None
    notice: str | None = Field(description="the id of the notice it carries (core/notices.py)")
    answered_by: str | None
    answer_en: str | None
    answer_zh: str | None
    case_count: int
    cases: list[IncidentCaseOut] = Field(default_factory=list, description="on a read of one incident")

    @classmethod
    def of(cls, incident: IncidentView) -> IncidentOut:
        return cls(
            id=incident.id, title=incident.title, status=incident.status, started_at=incident.started_at,
            resolved_at=incident.resolved_at, opened_by=incident.opened_by, notice=incident.notice_id,
            answered_by=incident.answered_by, answer_en=incident.answer_en, answer_zh=incident.answer_zh,
            case_count=incident.case_count, cases=[IncidentCaseOut.of(c) for c in incident.cases],
        )  # fmt: skip


class IncidentLinkIn(BaseModel):
    """Either `handles` (each naming one case) or `query` (a text search), not both."""

    handles: list[str] | None = Field(None, description="references, Message-IDs, emails, phones... one case each")
    query: str | None = Field(None, description="link every open or pending case whose messages hold this text")
    queue: str | None = Field(None, description="with `query`: only this queue's cases")
    since: datetime | None = Field(None, description="with `query`: only messages received since (with an offset)")


class IncidentLinkOut(BaseModel):
    incident: str
    added: list[str] = Field(description="the cases newly linked")
    already: list[str] = Field(description="linked before")
    elsewhere: dict[str, str] = Field(description="left out (a search): case -> the other open incident it is in")
    more: bool = Field(description="the search found more than it links at once: narrow it and link again")


class IncidentUnlinkIn(BaseModel):
    handle: str = Field(min_length=1, description="the case: any handle naming one case")


class IncidentAnswerIn(BaseModel):
    """One text per reply language; one given serves both."""

    text_en: str | None = None
    text_zh: str | None = None


class IncidentCaseOutcomeOut(BaseModel):
    case: str
    reference: str
    outcome: str = Field(description="resolved | answered, left open: … | skipped: … | failed: …")
    reply: str | None
    channel: str | None
    language: str | None


class IncidentAnswerOut(BaseModel):
    incident: str
    resolved_at: datetime
    cases: list[IncidentCaseOutcomeOut]


class NoteIn(BaseModel):
    text: str = Field(min_length=1, pattern=r"\S", description="kept for agents only; secrets in it are masked")


class CannedOut(BaseModel):
    name: str
    languages: list[str]
    titles: dict[str, str] = Field(description="language -> title")

    @classmethod
    def of(cls, canned: Canned) -> CannedOut:
        return cls(name=canned.name, languages=canned.languages, titles=canned.titles)


class RecategorizeIn(BaseModel):
    """Any of category, priority and queue; a category alone moves the case to that category's queue."""

    category: str | None = Field(None, min_length=1)
    priority: Priority | None = None
    queue: str | None = Field(None, min_length=1)
    reason: str = Field(min_length=1, pattern=r"\S", description="why: kept with the change and the correction")


class RecategorizedOut(BaseModel):
    case: str
    message: str = Field(description="the message a category correction is kept against (for training)")
    status: str
    category: list[str] = Field(description="[from, to]")
    priority: list[str] = Field(description="[from, to]")
    queue: list[str] = Field(description="[from, to]")
    correction: bool = Field(description="a category correction was kept for `helpline train`")

    @classmethod
    def of(cls, done: Recategorized) -> RecategorizedOut:
        return cls(
            case=done.case_id, message=done.message_id, status=done.status.value, category=list(done.category),
            priority=[p.value for p in done.priority], queue=list(done.queue), correction=done.correction is not None,
        )  # fmt: skip
