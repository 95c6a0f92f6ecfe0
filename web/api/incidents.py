"""Incidents (desk/incidents.py): every signed-in agent may list and read them; supervisors and admins open them,
link and unlink cases, and answer-and-resolve them (403 for an agent).

An incident's state refusing a write (answering one already resolved, or one another supervisor is answering;
linking to a resolved one) is 409; a handle naming several cases is 409 with the matches, as on /cases.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query

from core.agent_settings import Role
from desk.incidents import (
    IncidentError,
    answer_incident,
    link_cases,
    link_matching,
    list_incidents,
    open_incident,
    show_incident,
    unlink_case,
)
from desk.lookup import Ambiguous
from web.api.deps import CallerDep, DeskDep, at_least
from web.api.schemas import (
    AmbiguousOut,
    IncidentAnswerIn,
    IncidentAnswerOut,
    IncidentCaseOutcomeOut,
    IncidentIn,
    IncidentLinkIn,
    IncidentLinkOut,
    IncidentOut,
    IncidentUnlinkIn,
)

router = APIRouter(prefix="/incidents", tags=["incidents"])

_SUPERVISOR = [at_least(Role.SUPERVISOR)]
_WRITE: dict[int | str, dict[str, Any]] = {
    401: {},
    403: {},
    404: {},
    409: {"model": AmbiguousOut, "description": "the incident's state refuses it, or a handle names several cases"},
    422: {},
}


def _refused(exc: Exception) -> HTTPException:
    """desk/'s refusals as HTTP: no such incident or case 404, the incident's state 409, bad input 422."""
    if isinstance(exc, Ambiguous):
        raise exc  # 409 with the matches (web/api/__init__.py)
    if isinstance(exc, LookupError):
        return HTTPException(404, str(exc))
    if isinstance(exc, IncidentError):
        return HTTPException(409, str(exc))
    return HTTPException(422, str(exc))


@router.get("", responses={401: {}})
def list_of_incidents(
    who: CallerDep,
    desk: DeskDep,
    status: Annotated[str | None, Query(pattern="^(open|answering|resolved)$")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[IncidentOut]:
    """Incidents, the most recently started first."""
    return [IncidentOut.of(incident) for incident in list_incidents(desk, status=status, limit=limit)]


@router.post("", status_code=201, dependencies=_SUPERVISOR, responses={401: {}, 403: {}, 422: {}})
def open_one(body: IncidentIn, who: CallerDep, desk: DeskDep) -> IncidentOut:
    """Open an incident, optionally with a customer notice every acknowledgement carries until it is resolved."""
    try:
        opened = open_incident(desk, body.title, who.agent.id, notice_en=body.notice_en, notice_zh=body.notice_zh,
                               notice_until=body.notice_until)  # fmt: skip
    except ValueError as exc:
        raise _refused(exc) from None
    return IncidentOut.of(opened)


@router.get("/{incident_id}", responses={401: {}, 404: {}})
def read_incident(incident_id: str, who: CallerDep, desk: DeskDep) -> IncidentOut:
    """The incident with its linked cases, their live states and what its answer did to each."""
    try:
        return IncidentOut.of(show_incident(desk, incident_id))
    except LookupError as exc:
        raise _refused(exc) from None


@router.post("/{incident_id}/link", dependencies=_SUPERVISOR, responses=_WRITE)
def link(incident_id: str, body: IncidentLinkIn, who: CallerDep, desk: DeskDep) -> IncidentLinkOut:
    """Link cases by `handles` (each must name one case, or nothing is linked) or by a text `query` (every open or
    pending case matching, optionally within `queue` and `since`)."""
    if (body.handles is None) == (body.query is None):
        raise HTTPException(422, "give either handles or query")
    if body.handles is not None and (body.queue is not None or body.since is not None):
        raise HTTPException(422, "queue and since narrow a query, not handles")
    try:
        if body.handles is not None:
            done = link_cases(desk, incident_id, body.handles, who.agent.id)
        else:
            assert body.query is not None
            done = link_matching(desk, incident_id, body.query, who.agent.id, queue=body.queue, since=body.since)
    except (LookupError, ValueError) as exc:
        raise _refused(exc) from None
    return IncidentLinkOut(incident=done.incident_id, added=done.added, already=done.already,
                           elsewhere=done.elsewhere, more=done.more)  # fmt: skip


@router.post("/{incident_id}/unlink", dependencies=_SUPERVISOR, responses=_WRITE)
def unlink(incident_id: str, body: IncidentUnlinkIn, who: CallerDep, desk: DeskDep) -> IncidentOut:
    """Unlink a case before the incident is answered."""
    try:
        unlink_case(desk, incident_id, body.handle, who.agent.id)
        return IncidentOut.of(show_incident(desk, incident_id))
    except (LookupError, ValueError) as exc:
        raise _refused(exc) from None


@router.post("/{incident_id}/answer", dependencies=_SUPERVISOR, responses=_WRITE)
def answer(incident_id: str, body: IncidentAnswerIn, who: CallerDep, desk: DeskDep) -> IncidentAnswerOut:
    """Send the answer (one text per language; one serves both) to every linked case not resolved, each in its
    customer's language on its channel, resolve them, and resolve the incident. Two supervisors at once: one
    answers, the other gets 409; no case is answered twice."""
    try:
        done = answer_incident(desk, incident_id, who.agent.id, text_en=body.text_en, text_zh=body.text_zh)
    except (LookupError, ValueError) as exc:
        raise _refused(exc) from None
    cases = [
        IncidentCaseOutcomeOut(
            case=c.case_id,
            reference=c.reference,
            outcome=c.outcome,
            reply=c.reply_id,
            channel=c.channel,
            language=c.language,
        )
        for c in done.cases
    ]
    return IncidentAnswerOut(incident=done.incident_id, resolved_at=done.resolved_at, cases=cases)
