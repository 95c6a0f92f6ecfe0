"""Cases: list, search and read them, take the next one, reply (a text or a canned reply), add internal notes, resolve,
reopen, reassign, recategorize, merge — each a thin call of desk/.

`{handle}` is whatever a person has at hand (desk/lookup.py): the reference (`HL-…`), a case or message id, the
customer's Message-ID (with or without `<>`), a provider id, an email address or a phone number. Reads list every
match; a write naming more than one case answers 409 with the matches (`AmbiguousOut`), and acts on none.

An agent reads and acts on the cases of their queues and the cases given to them; anything else is 403.
Supervisors and admins act on every case, and only they reassign. A case's state refusing an action (answering a
resolved case, merging across customers...) is 409 with desk/'s reason. Recategorizing moves a case only into one of
the caller's queues (supervisors and admins: any).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Response

from core.agent_settings import Role
from core.inbox import Status
from desk.agents import AgentView
from desk.canned import CannedNotFound, answer_canned
from desk.cases import CaseError, answer, reassign, reopen, resolve, take_next_for
from desk.listing import Scope, list_cases, may_act
from desk.lookup import Ambiguous, Match, find, one_case
from desk.merge import merge_cases
from desk.notes import NoteError, add_note
from desk.recategorize import Change, queues_of, recategorize
from desk.view import case_view
from web.api.deps import CallerDep, DeskDep, at_least
from web.api.schemas import (
    AmbiguousOut,
    CaseOut,
    CaseSummary,
    MergeIn,
    MergeOut,
    NextIn,
    NoteIn,
    NoteOut,
    ReassignIn,
    RecategorizedOut,
    RecategorizeIn,
    ReplyIn,
    ReplyOut,
    ResolutionOut,
)

router = APIRouter(prefix="/cases", tags=["cases"])

_CONFLICT = "several cases match (acting on none), or the case's state refuses the action"
_WRITE: dict[int | str, dict[str, Any]] = {
    401: {},
    403: {},
    404: {},
    409: {"model": AmbiguousOut, "description": _CONFLICT},
}


def _view(desk: DeskDep, case_id: str, matched_by: str | None = None) -> CaseOut:
    return CaseOut.model_validate({**case_view(desk, case_id), "matched_by": matched_by})


def _refuse_outside(desk: DeskDep, agent: AgentView, case_id: str, reference: str) -> None:
    if not may_act(desk, agent, case_id):
        raise HTTPException(403, f"{reference} is not in your queues")


def _one(desk: DeskDep, agent: AgentView, handle: str, *, status: int = 404) -> Match:
    """The one case a write names, which the caller may act on (`status` when it names none)."""
    try:
        match = one_case(desk, handle)
    except Ambiguous:
        raise  # 409 with the matches (web/api/__init__.py)
    except LookupError as exc:
        raise HTTPException(status, str(exc)) from None
    _refuse_outside(desk, agent, match.case_id, match.reference)
    return match


@router.get("", responses={401: {}, 403: {}, 404: {}})
def list_of_cases(
    who: CallerDep,
    desk: DeskDep,
    queue: str | None = None,
    status: Status | None = None,
    agent: Annotated[str | None, Query(description="an agent's id or email, or `me`")] = None,
    q: Annotated[str | None, Query(description="a search by any handle (reference, Message-ID, email...)")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[CaseSummary]:
    """The cases the caller sees (their queues' and their own; a supervisor's: all), newest first, narrowed by every
    filter given."""
    if queue is not None and not who.agent.works(queue):
        raise HTTPException(403, f"{queue} is not one of your queues")
    holder = None
    if agent is not None:
        try:
            holder = who.agent.id if agent == "me" else desk.agents.find(agent).id
        except LookupError as exc:
            raise HTTPException(404, str(exc)) from None
    how: dict[str, str] = {}
    if q is not None:
        how = {m.case_id: m.how for m in find(desk, q)}
    rows = list_cases(
        desk, Scope.of(who.agent), queue=queue, status=status.value if status else None, agent=holder,
        among=how.keys() if q is not None else None, limit=limit, offset=offset,
    )  # fmt: skip
    return [CaseSummary.of(row, how.get(row.case_id)) for row in rows]


_NOTHING = "nothing waits in the caller's queues, or they are at capacity"


@router.post("/next", response_model=CaseOut, responses={204: {"description": _NOTHING}, 401: {}, 403: {}})
def take_next(who: CallerDep, desk: DeskDep, body: NextIn | None = None) -> CaseOut | Response:
    """Take the most urgent case of the caller's queues (or of `queues`, some of them), within their capacity: two
    agents calling at once never get the same case."""
    try:
        taken = take_next_for(desk, who.agent, body.queues if body else None)
    except CaseError as exc:
        raise HTTPException(403, str(exc)) from None
    if taken is None:
        return Response(status_code=204)
    return _view(desk, taken.case.id)


@router.get("/{handle:path}", responses={401: {}, 403: {}, 404: {}})
def read_cases(handle: str, who: CallerDep, desk: DeskDep) -> list[CaseOut]:
    """Every case `handle` names that the caller may act on (403 when it names only others), newest first."""
    matches = find(desk, handle)
    if not matches:
        raise HTTPException(404, f"no case matches {handle!r}")
    mine = [m for m in matches if may_act(desk, who.agent, m.case_id)]
    if not mine:
        raise HTTPException(403, f"{handle!r} names no case in your queues")
    return [_view(desk, m.case_id, m.how) for m in mine]


@router.post("/{handle:path}/reply", responses={**_WRITE, 422: {}})
def reply(handle: str, body: ReplyIn, who: CallerDep, desk: DeskDep) -> ReplyOut:
    """Answer through the channel of the customer's latest message, with `text` or a `canned` reply rendered in the
    customer's language (422: no such canned reply); the case becomes pending (unless the customer wrote after the
    `seen`-th message: then it stays open, with the caller)."""
    case = _one(desk, who.agent, handle)
    try:
        if body.canned is not None:
            done = answer_canned(desk, case.case_id, body.canned, who.agent.id, agent_name=who.agent.name,
                                 seen=body.seen)  # fmt: skip
        else:
            done = answer(desk, case.case_id, body.text or "", who.agent.id, seen=body.seen)
    except CaseError as exc:
        raise HTTPException(409, str(exc)) from None
    except CannedNotFound as exc:
        raise HTTPException(422, str(exc)) from None
    except LookupError as exc:  # the case has no routed message to answer (yet)
        raise HTTPException(409, str(exc)) from None
    return ReplyOut(reply=done.reply.id, channel=done.reply.channel.value, to=done.reply.to,
                    status=done.case.status.value, newer=done.newer)  # fmt: skip


@router.post("/{handle:path}/resolve", responses=_WRITE)
def resolve_case(handle: str, who: CallerDep, desk: DeskDep) -> ResolutionOut:
    """Resolve the case (waiting, taken or pending); its survey follows."""
    case = _one(desk, who.agent, handle)
    try:
        done = resolve(desk, case.case_id, who.agent.id)
    except CaseError as exc:
        raise HTTPException(409, str(exc)) from None
    return ResolutionOut(case=done.case_id, queue=done.queue, was=done.was.value, at=done.at, outcome=done.outcome)


@router.post("/{handle:path}/notes", status_code=201, responses={**_WRITE, 422: {}})
def add_case_note(handle: str, body: NoteIn, who: CallerDep, desk: DeskDep) -> NoteOut:
    """Add an internal note to the case: agents read it in the case, the customer never gets it."""
    case = _one(desk, who.agent, handle)
    try:
        return NoteOut.of(add_note(desk, case.case_id, body.text, who.agent.id))
    except NoteError as exc:
        raise HTTPException(422, str(exc)) from None


@router.post("/{handle:path}/reopen", responses=_WRITE)
def reopen_case(handle: str, who: CallerDep, desk: DeskDep) -> CaseOut:
    """Put a pending or resolved case back in its queue, waiting at its priority; 409 when it is open."""
    case = _one(desk, who.agent, handle)
    try:
        reopen(desk, case.case_id, who.agent.id)
    except CaseError as exc:
        raise HTTPException(409, str(exc)) from None
    except LookupError as exc:
        raise HTTPException(404, str(exc)) from None
    return _view(desk, case.case_id)


@router.post("/{handle:path}/recategorize", responses={**_WRITE, 422: {}})
def recategorize_case(handle: str, body: RecategorizeIn, who: CallerDep, desk: DeskDep) -> RecategorizedOut:
    """Change the case's category, priority or queue, with a reason (a new category alone moves it to that
    category's queue, and is kept as a correction that `helpline train` learns from). An agent moves a case only
    into their own queues (403); an unknown category or queue is 422."""
    case = _one(desk, who.agent, handle)
    try:
        change = Change(body.reason, body.category, body.priority, body.queue).checked(desk.settings)
        current, target = queues_of(desk, case.case_id, change)
        if target != current and not who.agent.works(target):
            raise HTTPException(403, f"{target} is not one of your queues: a supervisor can move the case there")
        done = recategorize(desk, case.case_id, change, who.agent.id, message_id=case.message_id)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    except LookupError as exc:
        raise HTTPException(404, str(exc)) from None
    return RecategorizedOut.of(done)


@router.post("/{handle:path}/reassign", dependencies=[at_least(Role.SUPERVISOR)], responses={**_WRITE, 422: {}})
def reassign_case(handle: str, body: ReassignIn, who: CallerDep, desk: DeskDep) -> CaseOut:
    """Give an open case (waiting or taken) to a named agent, whatever their load (supervisors and admins)."""
    case = _one(desk, who.agent, handle)
    try:
        to = desk.agents.find(body.agent)
    except LookupError as exc:
        raise HTTPException(422, str(exc)) from None
    if not to.active:
        raise HTTPException(422, f"agent {to.email or to.id} is deactivated")
    try:
        reassign(desk, case.case_id, to.id, who.agent.id)
    except CaseError as exc:
        raise HTTPException(409, str(exc)) from None
    return _view(desk, case.case_id)


@router.post("/{handle:path}/merge", responses={**_WRITE, 422: {}})
def merge(handle: str, body: MergeIn, who: CallerDep, desk: DeskDep) -> MergeOut:
    """Merge the case into `into`, another case of the same customer: its messages move, it is resolved and linked;
    `into` keeps its state and place in the queue."""
    source = _one(desk, who.agent, handle)
    target = _one(desk, who.agent, body.into, status=422)
    try:
        moved = merge_cases(desk, source.case_id, target.case_id, who.agent.id)
    except CaseError as exc:
        raise HTTPException(409, str(exc)) from None
    return MergeOut(source=moved.source, target=moved.target, messages=moved.messages)
