"""The case view's actions over HTTP (no browser), on a real Redis and PostgreSQL, the web app on uvicorn and the
agents' store in the record (the console's real identities: `may_act` reads an agent's queues there): internal
notes, a canned reply sent in the customer's language (a Chinese customer gets the Chinese text), recategorize with
a reason, reopen, reassign by a supervisor; 403 outside the agent's queues and for an agent reassigning, 403 without
the CSRF token, bad input refused with a 4xx and a readable reason, 503 while the record is away. The partial
renders in both UI languages, and the case page shows it and says what was done."""

from __future__ import annotations

import contextlib
import html
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis import Redis
from sqlalchemy import Engine, select

from core.agent_settings import Role
from core.corrections import Corrections
from core.envelope import Priority
from core.ids import conversation_reference
from core.inbox import Inbox, Status
from core.settings import Settings
from core.store import Store
from desk.agents import AgentStore
from desk.cases import resolve
from desk.context import DeskContext
from desk.notes import case_notes
from record.engine import engine_for
from record.models import AuditEntry
from record.models import Reply as ReplyRow
from router.hours import BusinessCalendar
from tests.console.case_support import PASSWORD, CaseSite, case_site, csrf_of, customer_mail, file_mail
from tests.console.case_support import signed_in as signed_in_as
from tests.support.console_identities import RedisIdentities
from tests.support.web_server import WebServer
from tests.support.work import drain
from web.app import create_app
from web.console.case_actions import DONE, action_context
from web.console.guard import CSRF_FIELD, PREFIX, Console
from web.console.i18n import STRINGS, translator
from web.console.identity import DeskIdentities
from web.console.session import Sessions

TOP_UP = "您好，我昨天充值了 500 元，但是没到账。"  # a top-up: the payments team's (Mei's), not Alex's


@dataclass
class Desk:
    site: CaseSite
    ctx: DeskContext
    ids: dict[str, str]  # mei, alex, sofia -> agent id


@pytest.fixture
def desk(settings: Settings, store: Store, tmp_path: Path) -> Iterator[Desk]:
    """Mei (an agent, Chinese UI) works payments, Alex (an agent) security; Sofia supervises (case_support.py)."""
    with case_site(settings, store, tmp_path, queue="payments", other_queue="security") as site:
        calendar = BusinessCalendar.from_settings(site.settings)
        yield Desk(site, DeskContext(site.settings, site.store, calendar, site.record), site.agents)


def chinese_case(desk: Desk, provider_id: str = "<ca-zh-1@example.cn>") -> str:
    """A Chinese customer's mail about a top-up, routed to payments; its case id."""
    case = file_mail(desk.ctx.settings, desk.ctx.store, customer_mail(provider_id, TOP_UP))
    state = Inbox(desk.ctx.store).case(case)
    assert state is not None and state.queue == "payments"
    return case


class Signed:
    """A signed-in browser stand-in: the session cookie, and the CSRF token every form carries."""

    def __init__(self, client: httpx.Client, token: str) -> None:
        self.client, self.token = client, token

    def post(self, path: str, **form: str) -> httpx.Response:
        return self.client.post(f"/console{path}", data={CSRF_FIELD: self.token, **form})


@contextlib.contextmanager
def signed_in(desk: Desk, who: str) -> Iterator[Signed]:
    with signed_in_as(desk.site, who) as client:
        # A new token at sign-in; any console page carries it.
        yield Signed(client, csrf_of(client.get("/console/queues").text))


def back_to(case: str, done: str) -> str:
    return f"/console/cases/{conversation_reference(case)}?done={done}"


def shown(answer: httpx.Response) -> str:
    """The page's text as a person reads it (quotes and brackets unescaped)."""
    return html.unescape(answer.text)


def audit_of(record: Engine, case_id: str) -> list[tuple[str, str, dict[str, Any]]]:
    with record.connect() as connection:
        rows = connection.execute(
            select(AuditEntry.actor, AuditEntry.action, AuditEntry.detail)
            .where(AuditEntry.subject_kind == "case", AuditEntry.subject_id == case_id)
            .order_by(AuditEntry.id)
        ).all()
    return [(r.actor, r.action, r.detail) for r in rows]


def test_a_note_is_kept_on_the_case_and_refused_outside_the_agents_queues(desk: Desk) -> None:
    case = chinese_case(desk)
    with signed_in(desk, "mei") as mei:
        added = mei.post(f"/cases/{case}/notes", text="  已致电客户，卡已冻结  ")
        assert added.status_code == 303 and added.headers["location"] == back_to(case, "noted")
        by_reference = mei.post(f"/cases/{conversation_reference(case)}/notes", text="second")  # any handle
        assert by_reference.status_code == 303
        empty = mei.post(f"/cases/{case}/notes", text="   ")
        assert empty.status_code == 400 and "the note is empty" in empty.text and "备注未添加" in empty.text
        assert f'href="/console/cases/{conversation_reference(case)}"' in empty.text  # a way back to the case
        missing = mei.post("/cases/HL-000000000000/notes", text="hello")
        assert missing.status_code == 404 and "没有匹配的工单" in missing.text
    with signed_in(desk, "alex") as alex:
        outside = alex.post(f"/cases/{case}/notes", text="not mine")
        assert outside.status_code == 403 and "This case is not in your queues." in outside.text
    notes = case_notes(desk.ctx, case)
    assert [(n.agent, n.text) for n in notes] == [
        (desk.ids["mei"], "已致电客户，卡已冻结"),
        (desk.ids["mei"], "second"),
    ]
    assert [action for _, action, _ in audit_of(desk.ctx.record, case)].count("note") == 2


def test_a_canned_reply_goes_out_in_the_customers_language(desk: Desk) -> None:
    case = chinese_case(desk)
    with signed_in(desk, "alex") as alex:
        assert alex.post(f"/cases/{case}/canned", name="known-outage").status_code == 403
    with signed_in(desk, "mei") as mei:
        preview = mei.client.get(f"/console/cases/{case}/canned/known-outage/preview", headers={"HX-Request": "true"})
        assert preview.status_code == 200 and 'data-language="zh"' in preview.text
        assert "技术团队正在全力修复" in preview.text and "<html" not in preview.text  # a fragment for htmx
        unknown_preview = mei.client.get(f"/console/cases/{case}/canned/nope/preview")
        assert unknown_preview.status_code == 404 and "known-outage" in unknown_preview.text
        unknown = mei.post(f"/cases/{case}/canned", name="nope")
        assert (
            unknown.status_code == 400 and "no canned reply 'nope'" in shown(unknown) and "known-outage" in unknown.text
        )
        assert mei.post(f"/cases/{case}/canned", name="").status_code == 400
        state = Inbox(desk.ctx.store).case(case)
        assert state is not None and state.status is Status.OPEN  # nothing sent

        sent = mei.post(f"/cases/{case}/canned", name="known-outage", seen="1")
        assert sent.status_code == 303 and sent.headers["location"] == back_to(case, "answered")
    drain(desk.ctx.settings)
    with desk.ctx.record.connect() as connection:
        [text] = connection.scalars(
            select(ReplyRow.text).where(ReplyRow.conversation_id == case, ReplyRow.purpose == "answer")
        ).all()
    assert "技术团队正在全力修复" in text and conversation_reference(case) in text and "陈美" in text  # signed by Mei
    assert "Hello" not in text
    state = Inbox(desk.ctx.store).case(case)
    assert state is not None and state.status is Status.PENDING
    [(actor, _, detail)] = [a for a in audit_of(desk.ctx.record, case) if a[1] == "answer"]
    assert actor == desk.ids["mei"] and detail["canned"] == "known-outage"
    with signed_in(desk, "mei") as mei:  # resolved: nothing more to send
        resolve(desk.ctx, case, desk.ids["mei"])
        refused = mei.post(f"/cases/{case}/canned", name="known-outage")
        assert refused.status_code == 409 and "reopen it first" in refused.text


def test_recategorize_with_a_reason_within_the_agents_queues(desk: Desk) -> None:
    case = chinese_case(desk)
    routed = Inbox(desk.ctx.store).case(case)
    assert routed is not None and routed.priority is not Priority.LOW
    category = routed.category
    with signed_in(desk, "mei") as mei:

        def change(**form: str) -> httpx.Response:
            return mei.post(f"/cases/{case}/recategorize", **({"category": "", "priority": "", "queue": ""} | form))

        no_reason = change(priority="low", reason="  ")
        assert no_reason.status_code == 400 and "say why" in no_reason.text
        nothing = change(reason="x")
        assert nothing.status_code == 400 and "name a category, a priority or a queue" in nothing.text
        bad_category = change(category="nonsense", reason="x")
        assert bad_category.status_code == 400 and "unknown category 'nonsense'" in shown(bad_category)
        bad_priority = change(priority="urgentest", reason="x")
        assert bad_priority.status_code == 400 and "unknown priority" in bad_priority.text
        assert change(queue="nowhere", reason="x").status_code == 400
        moving_out = change(category="cards", reason="it is about her card")
        assert moving_out.status_code == 403 and "cards" in moving_out.text  # not Mei's queue

        lowered = change(priority="low", reason="the top-up arrived meanwhile")
        assert lowered.status_code == 303 and lowered.headers["location"] == back_to(case, "recategorized")
    state = Inbox(desk.ctx.store).case(case)
    assert state is not None and (state.category, state.queue, state.priority) == (category, "payments", Priority.LOW)
    with signed_in(desk, "alex") as alex:
        assert alex.post(f"/cases/{case}/recategorize", priority="high", reason="x").status_code == 403
    with signed_in(desk, "sofia") as sofia:
        moved = sofia.post(f"/cases/{case}/recategorize", category="cards", reason="it is about her card")
        assert moved.status_code == 303
    state = Inbox(desk.ctx.store).case(case)
    assert state is not None and (state.category, state.queue) == ("cards", "cards")
    [correction] = Corrections(desk.ctx.store).all()
    assert (correction.from_category, correction.to_category, correction.agent) == (
        category, "cards", desk.ids["sofia"])  # fmt: skip
    changes = [
        (actor, d["reason"], d["to"]) for actor, a, d in audit_of(desk.ctx.record, case) if a == "recategorize-case"
    ]
    assert changes == [
        (desk.ids["mei"], "the top-up arrived meanwhile", {"category": category, "priority": "low",
                                                           "queue": "payments"}),
        (desk.ids["sofia"], "it is about her card", {"category": "cards", "priority": "low", "queue": "cards"}),
    ]  # fmt: skip


def test_reopen_and_reassign_by_a_supervisor(desk: Desk) -> None:
    case = chinese_case(desk)
    with signed_in(desk, "mei") as mei:
        still_open = mei.post(f"/cases/{case}/reopen")
        assert still_open.status_code == 409 and "only a pending or resolved case reopens" in still_open.text
        resolve(desk.ctx, case, desk.ids["mei"])
        reopened = mei.post(f"/cases/{case}/reopen")
        assert reopened.status_code == 303 and reopened.headers["location"] == back_to(case, "reopened")
        state = Inbox(desk.ctx.store).case(case)
        assert state is not None and state.status is Status.OPEN and state.reopened == 1
        agent_reassigns = mei.post(f"/cases/{case}/reassign", agent=desk.ids["mei"])
        assert agent_reassigns.status_code == 403 and "只有主管和管理员可以转派工单" in agent_reassigns.text
    with signed_in(desk, "sofia") as sofia:
        unknown = sofia.post(f"/cases/{case}/reassign", agent="nobody@desk.example")
        assert unknown.status_code == 400 and "no agent nobody@desk.example" in unknown.text
        assert sofia.post(f"/cases/{case}/reassign", agent="").status_code == 400
        given = sofia.post(f"/cases/{case}/reassign", agent="alex@desk.example")  # by email, or by id
        assert given.status_code == 303 and given.headers["location"] == back_to(case, "reassigned")
    state = Inbox(desk.ctx.store).case(case)
    assert state is not None and state.agent == desk.ids["alex"]
    with signed_in(desk, "alex") as alex:  # the case is his now, outside his queues: he acts on it
        assert alex.post(f"/cases/{case}/notes", text="on it").status_code == 303
    actions = [(actor, action) for actor, action, _ in audit_of(desk.ctx.record, case)]
    assert (desk.ids["mei"], "reopen") in actions and (desk.ids["sofia"], "reassign") in actions


def test_every_action_refuses_a_post_without_the_csrf_token(desk: Desk) -> None:
    case = chinese_case(desk)
    before = audit_of(desk.ctx.record, case)
    with signed_in(desk, "sofia") as sofia:
        for action, form in (("notes", {"text": "x"}), ("canned", {"name": "known-outage"}),
                             ("recategorize", {"priority": "low", "reason": "x"}), ("reopen", {}),
                             ("reassign", {"agent": desk.ids["alex"]})):  # fmt: skip
            for token in ({}, {CSRF_FIELD: "guessed"}):
                refused = sofia.client.post(f"/console/cases/{case}/{action}", data=form | token)
                assert refused.status_code == 403 and "has expired" in refused.text, action
    state = Inbox(desk.ctx.store).case(case)
    assert state is not None and state.status is Status.OPEN and state.priority is not Priority.LOW
    assert case_notes(desk.ctx, case) == []
    assert audit_of(desk.ctx.record, case) == before  # nothing done


@pytest.mark.parametrize("language", ["en", "zh"])
def test_the_partial_renders_for_an_agent_and_a_supervisor(desk: Desk, store: Store, language: str) -> None:
    case = chinese_case(desk)
    agents = AgentStore(desk.ctx.record)
    mei, sofia = agents.get(desk.ids["mei"]), agents.get(desk.ids["sofia"])
    assert mei is not None and sofia is not None
    console = Console(Sessions(desk.ctx.settings, store), DeskIdentities(agents))
    t = translator(language)

    def render(actions: dict[str, Any]) -> str:
        return console.templates.get_template("case_actions.html").render(
            actions=actions, t=t, csrf_field=CSRF_FIELD, csrf_token="the-token", prefix=PREFIX, lang=language
        )

    as_agent = render(action_context(desk.ctx, mei, case))
    assert STRINGS[language]["act_canned"] in as_agent and STRINGS[language]["act_language_zh"] in as_agent
    assert "已知故障" in as_agent and "Known outage" not in as_agent  # titles in the customer's language
    assert f'action="/console/cases/{case}/canned"' in as_agent and 'value="the-token"' in as_agent
    assert f'hx-get="/console/cases/{case}/canned/known-outage/preview"' in as_agent
    assert 'id="note-form"' in as_agent and 'id="recategorize-form"' in as_agent
    queues = as_agent.split('name="queue"')[1].split("</select>")[0]
    assert '<option value="payments">' in queues and '<option value="cards">' not in queues  # Mei's queues only
    assert 'id="reopen-form"' not in as_agent and 'id="reassign-form"' not in as_agent  # open; an agent

    as_supervisor = render(action_context(desk.ctx, sofia, case))
    reassign = as_supervisor.split('id="reassign-form"')[1]
    assert f'<option value="{desk.ids["alex"]}">Alex Agent' in reassign and "陈美" in reassign
    assert '<option value="cards">' in as_supervisor.split('name="queue"')[1]  # every queue

    with signed_in(desk, "mei") as client:
        assert client.post(f"/cases/{case}/notes", text="<b>bold</b> 已处理").status_code == 303
    resolve(desk.ctx, case, desk.ids["mei"])
    resolved = render(action_context(desk.ctx, mei, case))
    assert 'id="reopen-form"' in resolved and 'id="canned-replies"' not in resolved  # nothing to answer
    assert "&lt;b&gt;bold&lt;/b&gt; 已处理" in resolved and "<b>bold</b>" not in resolved  # a note is text
    assert "陈美" in resolved  # its author by name


def test_the_done_values_have_their_words() -> None:
    for language in ("en", "zh"):
        assert all(f"done_{done}" in STRINGS[language] for done in DONE)


def test_a_handle_naming_several_cases_acts_on_none(desk: Desk) -> None:
    first = chinese_case(desk, "<ca-zh-a@example.cn>")
    resolve(desk.ctx, first, desk.ids["mei"])  # her next mail opens a new case
    second = chinese_case(desk, "<ca-zh-b@example.cn>")
    assert first != second
    with signed_in(desk, "mei") as mei:
        both = mei.post("/cases/lin@example.cn/notes", text="which one?")
        assert both.status_code == 409 and conversation_reference(first) in both.text
        assert conversation_reference(second) in both.text and 'id="back-to-case"' not in both.text
        assert mei.post(f"/cases/{conversation_reference(second)}/notes", text="this one").status_code == 303
    assert case_notes(desk.ctx, first) == [] and [n.text for n in case_notes(desk.ctx, second)] == ["this one"]


def test_the_case_page_shows_the_actions_and_says_what_was_done(desk: Desk) -> None:
    case = chinese_case(desk)
    with signed_in(desk, "mei") as mei:
        page = mei.client.get(f"/console/cases/{conversation_reference(case)}")
        assert page.status_code == 200 and 'id="case-more-actions"' in page.text
        assert "已知故障" in page.text and 'id="note-form"' in page.text and 'id="reassign-form"' not in page.text
        added = mei.post(f"/cases/{case}/notes", text="已致电客户")
        back = mei.client.get(added.headers["location"])
        assert back.status_code == 200 and "备注已添加" in back.text and "已致电客户" in back.text
        unknown = mei.client.get(f"/console/cases/{case}?done=nonsense")
        assert unknown.status_code == 200 and 'id="case-done"' not in unknown.text  # an unknown value: no flash
    with signed_in(desk, "sofia") as sofia:
        page = sofia.client.get(f"/console/cases/{case}")
        assert page.status_code == 200 and 'id="reassign-form"' in page.text


def test_the_actions_say_so_when_the_record_is_away(
    settings: Settings, store: Store, redis: Redis, tmp_path: Path
) -> None:
    """PostgreSQL unreachable (nothing listens on port 1): 503 with a sentence, never a 500."""
    identities = RedisIdentities(redis)
    identities.add("a-sofia", "Sofia Supervisor", "sofia@desk.example", PASSWORD, Role.SUPERVISOR)
    configured = settings.model_copy(
        update={"web": settings.web.model_copy(update={"console_secret_file": tmp_path / "console_secret"})}
    )
    away = engine_for("postgresql+psycopg://postgres@127.0.0.1:1/nothing")
    server = WebServer(create_app(configured, store, away, identities=identities)).start()
    try:
        with httpx.Client(base_url=server.url, follow_redirects=False, timeout=20) as client:
            token = csrf_of(client.get("/console/sign-in").text)
            form = {CSRF_FIELD: token, "email": "sofia@desk.example", "password": PASSWORD, "next": ""}
            assert client.post("/console/sign-in", data=form).status_code == 303
            token = csrf_of(client.get("/console/reports").text)  # (a page that needs no desk)
            for action in ("notes", "canned", "recategorize", "reopen", "reassign"):
                answer = client.post(f"/console/cases/HL-1/{action}", data={CSRF_FIELD: token, "text": "x"})
                assert answer.status_code == 503 and STRINGS["en"]["desk_unavailable"] in shown(answer), action
            preview = client.get("/console/cases/HL-1/canned/known-outage/preview")
            assert preview.status_code == 503
    finally:
        server.stop()
        away.dispose()
