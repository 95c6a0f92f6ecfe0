"""Canned replies (desk/canned.py): every signed-in agent lists them; one is sent with
`POST /api/cases/{handle}/reply {"canned": name}`, rendered for the case in its customer's language."""

from __future__ import annotations

from fastapi import APIRouter

from desk.canned import canned_replies
from web.api.deps import CallerDep
from web.api.schemas import CannedOut

router = APIRouter(prefix="/canned", tags=["canned replies"])


@router.get("", responses={401: {}})
def list_canned(who: CallerDep) -> list[CannedOut]:
    """Every canned reply: its name, languages and titles."""
    return [CannedOut.of(canned) for canned in canned_replies()]
