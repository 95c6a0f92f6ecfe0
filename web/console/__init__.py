"""The agents' console in the browser, under `/console`: server-rendered jinja2 pages, htmx for partial updates,
Chart.js for charts (both vendored under static/vendor, with their licenses; no Node build).

| module | one job |
|---|---|
| `identity.py` | the seam to the agents' store: `authenticate(email, password)` and `principal(agent_id)` |
| `session.py` | the signed session cookie, its CSRF token, sign-out that ends it |
| `guard.py` | every request: session, language, role, CSRF on every POST; security headers; rendering |
| `i18n.py` | English and Chinese UI strings, and which one a request gets |
| `sign_in.py` | sign in, sign out |
| `reports_page.py`, `report_view.py` | the reports page and its CSV, shaped from record/reports.py |
| `desk_access.py` | the way into desk/: the desk's context, and the signed-in agent as the agents' store has them |
| `floor_page.py` | the queues overview (the console's home) and the "Next" button |
| `notices_page.py` | adding and ending status notices from the overview |
| `case_list_page.py` | the case list: filters and search |
| `live.py` | server-sent events: the queues an open page shows changed |
| `case_page.py`, `case_history.py` | the case view: its history, the reply box and Resolve, its files |
| `mail_html.py`, `case_events.py` | a mail's HTML made safe to show; the case view's live updates (SSE) |
| `incidents_page.py` | incidents: the list, one incident, and the supervisors' forms (desk/incidents.py) |
| `case_actions.py` | the case's actions: canned replies, notes, recategorize, reopen, reassign |
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sqlalchemy import Engine
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from core.settings import Settings
from core.store import Store
from desk.auth import SignInLimiter
from web.console.case_actions import CaseActions
from web.console.case_list_page import CaseList
from web.console.case_page import CasePages
from web.console.desk_access import DeskAccess, available
from web.console.floor_page import Floor
from web.console.guard import PREFIX, Console, form, page
from web.console.identity import Identities, Principal
from web.console.incidents_page import IncidentPages
from web.console.live import Live
from web.console.notices_page import Notices
from web.console.reports_page import Reports
from web.console.session import Sessions
from web.console.sign_in import sign_in, sign_in_page, sign_out

STATIC = Path(__file__).with_name("static")


def routes(settings: Settings, store: Store, identities: Identities, record: Callable[[], Engine]) -> list[BaseRoute]:
    console = Console(Sessions(settings, store), identities)
    reports = Reports(console, settings, record)
    desk = DeskAccess(settings, store, record)  # the console's one way into desk/
    floor = Floor(console, desk)
    notices = Notices(floor)
    case_list = CaseList(console, floor)

    def supervises(principal: Principal) -> bool:
        return principal.sees_reports

    async def home(request: Request) -> Response:
        return RedirectResponse(f"{PREFIX}/queues", status_code=303)

    return [
        Mount(
            PREFIX,
            routes=[
                Route("/", home, methods=["GET"]),
                Route("/sign-in", sign_in_page(console), methods=["GET"]),
                Route(
                    "/sign-in",
                    form(
                        console,
                        sign_in(
                            console,
                            SignInLimiter(
                                store, settings.auth.signin_attempts, int(settings.auth.signin_window_minutes * 60)
                            ),
                        ),
                        signed_in=False,
                    ),
                    methods=["POST"],
                ),
                Route("/sign-out", form(console, sign_out(console)), methods=["POST"]),
                Route("/reports", page(console, reports.page(), allow=supervises), methods=["GET"]),
                Route("/reports.csv", page(console, reports.csv(), allow=supervises), methods=["GET"]),
                Route("/queues", page(console, available(console, floor.page())), methods=["GET"]),
                Route("/next", form(console, available(console, floor.next())), methods=["POST"]),
                Route("/notices", form(console, available(console, notices.add())), methods=["POST"]),
                Route("/notices/{notice_id}/end", form(console, available(console, notices.end())), methods=["POST"]),
                Route("/cases", page(console, available(console, case_list.page())), methods=["GET"]),
                Route("/live", Live(console, floor.desk).endpoint(), methods=["GET"]),
                *CasePages(console, desk).routes(),
                *CaseActions(console, desk).routes(),
                *IncidentPages(console, desk).routes(),
                Mount("/static", StaticFiles(directory=STATIC), name="console-static"),
            ],
        )
    ]
