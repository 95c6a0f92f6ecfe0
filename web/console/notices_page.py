"""Adding and ending status notices from the queues overview (supervisors and admins): `POST /console/notices` and
`POST /console/notices/{id}/end`, the same calls as `helpline notice add` and `notice remove` (core/notices.py's
`NoticeBoard`, which queues the record's history in the same MULTI: the console writes no SQL for it).

The form's end time is a local date and time (`<input type=datetime-local>`) meant in `[notices].timezone`, as the
command's `--until` is. Notices written in settings.toml are ended by editing the file, as the command says too.
A form the board refuses (no text, an end already past, a date that does not parse) comes back as the overview with
the reason and the form as it was typed, status 400.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from core.agent_settings import Role
from core.notices import NoticeBoard, localize
from web.console.floor_page import Floor
from web.console.guard import PREFIX, FormHandler, Visit


class Notices:
    def __init__(self, floor: Floor) -> None:
        self.floor = floor
        self.console = floor.console
        self.desk = floor.desk

    def add(self) -> FormHandler:
        async def handler(request: Request, visit: Visit, data: FormData) -> Response:
            agent = await self.floor.agent_of(visit)
            if agent is None or not agent.role.at_least(Role.SUPERVISOR):
                return self.console.render(visit, "forbidden.html", status=403)
            form = {name: str(data.get(name) or "").strip() for name in ("text_en", "text_zh", "until")}
            try:
                until = localize(datetime.fromisoformat(form["until"]), self.desk.settings.notices.timezone)
            except ValueError:
                return await self.floor.render(visit, agent, status=400, form_error="notice_bad_until", form=form)
            if not (form["text_en"] or form["text_zh"]):
                return await self.floor.render(visit, agent, status=400, form_error="notice_no_text", form=form)
            board = NoticeBoard(self.desk.store)
            try:
                await asyncio.to_thread(board.add, until, form["text_en"], form["text_zh"])
            except ValueError:  # the board's last word: an end already past
                return await self.floor.render(visit, agent, status=400, form_error="notice_past", form=form)
            return self.console.finish(visit, RedirectResponse(f"{PREFIX}/queues?notice=added", 303))

        return handler

    def end(self) -> FormHandler:
        async def handler(request: Request, visit: Visit, data: FormData) -> Response:
            agent = await self.floor.agent_of(visit)
            if agent is None or not agent.role.at_least(Role.SUPERVISOR):
                return self.console.render(visit, "forbidden.html", status=403)
            notice_id = str(request.path_params["notice_id"])
            if notice_id.startswith("settings-"):
                return await self.floor.render(visit, agent, status=400, message="notice_in_settings")
            removed = await asyncio.to_thread(NoticeBoard(self.desk.store).remove, notice_id)
            if not removed:
                return await self.floor.render(visit, agent, status=404, message="notice_unknown")
            return self.console.finish(visit, RedirectResponse(f"{PREFIX}/queues?notice=ended", 303))

        return handler
