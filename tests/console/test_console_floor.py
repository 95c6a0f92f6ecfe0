"""The console's floor over plain HTTP, on the real web app, Redis and PostgreSQL, with cases routed by the real
pipeline: the queues overview per role, "Next", notices added and ended (and their history in the record), the case
list's filters and search, and the live stream of inbox changes."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from redis import Redis
from sqlalchemy import insert, select
from starlette.datastructures import QueryParams

from core.agent_settings import Role
from core.envelope import Priority
from core.inbox import Inbox
from core.settings import Settings
from core.store import Store
from desk.agents import AgentChanges, AgentStore
from desk.context import desk_context
from desk.incidents import link_cases, open_incident
from record.models import Agent, Conversation, NoticeRecord
from tests.console.conftest import PASSWORD, Site
from tests.console.test_console_http import signed_in
from tests.support.cases import file_case
from tests.support.console_identities import RedisIdentities
from tests.support.web_server import WebServer
from tests.support.work import drain
from tests.test_api_cases import routed
from tests.test_pipeline import email
from web.app import create_app
from web.console.case_list_page import Filters
from web.console.live import Live


@pytest.fixture
def floor(site: Site) -> Site:
    """Alex works payments (capacity 2), Sofia and Li supervise, Ada is an admin: in the agents' store the desk reads.
    Gus can sign in (the identity seam knows him) but the agents' store holds no such agent."""
    agents = AgentStore(site.record)
    agents.update("a-alex", AgentChanges(queues=["payments"], capacity=2))
    agents.update("a-sofia", AgentChanges(role=Role.SUPERVISOR))
    with site.record.begin() as connection:
        for agent_id, name, role in (("a-ada", "Ada", "admin"), ("a-li", "李娜", "supervisor")):
            connection.execute(insert(Agent).values(id=agent_id, name=name, role=role, created_at=datetime.now(UTC)))
    site.identities.add("a-ada", "Ada Admin", "ada@desk.example", PASSWORD, Role.ADMIN)
    site.identities.add("a-gus", "Gus Ghost", "gus@desk.example", PASSWORD, Role.SUPERVISOR)
    return site


def csrf(client: httpx.Client, path: str = "/console/queues") -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).text)
    assert found is not None
    return found.group(1)


def waiting(page: str, queue: str) -> int:
    block = re.search(rf'<tbody data-queue="{queue}">(.*?)</tbody>', page, re.S)
    assert block is not None, queue
    count = re.search(r'<td class="n waiting">(\d+)</td>', block.group(1))
    assert count is not None
    return int(count.group(1))


def reference(site: Site, case_id: str) -> str:
    with site.record.connect() as connection:
        return str(connection.scalar(select(Conversation.reference).where(Conversation.id == case_id)))


def test_the_overview_is_home_and_shows_each_role_its_queues(floor: Site, settings: Settings, store: Store) -> None:
    routed(settings, store, ("p1@example.com", "refund please", "ann@example.com"),
           ("s1@example.com", "Fraud! someone stole my card", "bob@example.com"))  # fmt: skip
    with signed_in(floor, "alex@desk.example") as client:
        home = client.get("/console/")
        assert home.status_code == 303 and home.headers["location"] == "/console/queues"
        page = client.get("/console/queues")
        assert page.status_code == 200
        assert waiting(page.text, "payments") == 1
        assert 'data-queue="security"' not in page.text  # not one of Alex's queues
        assert 'id="notice-form"' not in page.text  # an agent reads notices, and adds none
        assert '<a href="/console/queues">Queues</a>' in page.text and "/console/reports" not in page.text
    with signed_in(floor, "sofia@desk.example") as client:
        page = client.get("/console/queues")
        assert waiting(page.text, "payments") == 1 and waiting(page.text, "security") == 1
        assert waiting(page.text, "cards") == 0  # configured, nothing in it yet
        # The security case is urgent: its own line under the queue's total.
        security = re.search(r'<tbody data-queue="security">(.*?)</tbody>', page.text, re.S)
        assert security is not None and 'data-priority="urgent"' in security.group(1)
        assert 'id="notice-form"' in page.text
    with signed_in(floor, "lina@desk.example") as client:  # her UI is Chinese
        page = client.get("/console/queues")
        assert "<h1>队列</h1>" in page.text and ">下一个</button>" in page.text and "添加公告" in page.text
        assert waiting(page.text, "security") == 1
    with signed_in(floor, "gus@desk.example") as client:  # signed in, but not an agent the desk's store holds
        for path in ("/console/queues", "/console/cases"):
            assert client.get(path).status_code == 403, path


def test_next_opens_the_case_taken_or_says_why_nothing_was(floor: Site, settings: Settings, store: Store) -> None:
    [(first, _), (second, _)] = routed(
        settings, store, ("n1@example.com", "refund please", "ann@example.com"),
        ("n2@example.com", "my top-up failed", "cy@example.com"),
    )  # fmt: skip
    with signed_in(floor, "alex@desk.example") as client:
        token = csrf(client)
        assert client.post("/console/next").status_code == 403  # no CSRF token
        assert Inbox(store).load("a-alex") == []
        refused = client.post("/console/next", data={"csrf_token": token, "queue": "security"})
        assert refused.status_code == 303 and refused.headers["location"] == "/console/queues?next=refused"
        taken = [client.post("/console/next", data={"csrf_token": token}) for _ in range(2)]
        assert [answer.status_code for answer in taken] == [303, 303]
        opened = sorted(answer.headers["location"] for answer in taken)
        assert opened == sorted(f"/console/cases/{reference(floor, case)}" for case in (first, second))
        assert Inbox(store).load("a-alex") == sorted([first, second])
        routed(settings, store, ("n3@example.com", "refund again please", "dee@example.com"))
        full = client.post("/console/next", data={"csrf_token": token})  # capacity 2, and 2 taken
        assert full.headers["location"] == "/console/queues?next=capacity"
        assert "as many cases open as your capacity allows" in client.get(full.headers["location"]).text
    with signed_in(floor, "sofia@desk.example") as client:  # a supervisor without queues of her own: every queue
        token = csrf(client)
        took = client.post("/console/next", data={"csrf_token": token})
        assert took.headers["location"].startswith("/console/cases/HL-")
        empty = client.post("/console/next", data={"csrf_token": token})
        assert empty.headers["location"] == "/console/queues?next=nothing"
        assert "Nothing is waiting in your queues." in client.get(empty.headers["location"]).text


def test_supervisors_add_and_end_notices_and_the_record_keeps_them(floor: Site, settings: Settings) -> None:
    zone = ZoneInfo(settings.notices.timezone)
    until = (datetime.now(zone) + timedelta(hours=3)).replace(second=0, microsecond=0)
    form = {"text_en": "Top-ups are delayed", "text_zh": "充值到账延迟", "until": until.strftime("%Y-%m-%dT%H:%M")}
    with signed_in(floor, "alex@desk.example") as client:
        assert client.post("/console/notices", data={**form, "csrf_token": csrf(client)}).status_code == 403
    with signed_in(floor, "ada@desk.example") as client:
        token = csrf(client)
        assert client.post("/console/notices", data=form).status_code == 403  # no CSRF token
        added = client.post("/console/notices", data={**form, "csrf_token": token})
        assert added.status_code == 303 and added.headers["location"] == "/console/queues?notice=added"
        page = client.get(added.headers["location"]).text
        assert "Top-ups are delayed" in page and "充值到账延迟" in page and "every acknowledgement carries it" in page
        [notice_id] = re.findall(r'data-notice="([^"]+)"', page)
        past = (datetime.now(zone) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
        for bad, said in (({"until": past}, "already passed"), ({"until": "soon"}, "as a date and time"),
                          ({"text_en": " ", "text_zh": ""}, "needs a text")):  # fmt: skip
            refused = client.post("/console/notices", data={**form, **bad, "csrf_token": token})
            assert refused.status_code == 400 and said in refused.text, bad
        assert client.post("/console/notices/settings-0/end", data={"csrf_token": token}).status_code == 400
        assert client.post("/console/notices/n-nothing/end", data={"csrf_token": token}).status_code == 404
    drain(settings)  # the history was queued with the notice, as `helpline notice add` queues it
    with signed_in(floor, "alex@desk.example") as client:
        page = client.get("/console/queues").text
        assert "Top-ups are delayed" in page and f"/console/notices/{notice_id}/end" not in page
        assert client.post(f"/console/notices/{notice_id}/end", data={"csrf_token": csrf(client)}).status_code == 403
    with signed_in(floor, "sofia@desk.example") as client:
        ended = client.post(f"/console/notices/{notice_id}/end", data={"csrf_token": csrf(client)})
        assert ended.headers["location"] == "/console/queues?notice=ended"
        assert "Top-ups are delayed" not in client.get("/console/queues").text
    drain(settings)
    with floor.record.connect() as connection:
        row = connection.execute(select(NoticeRecord).where(NoticeRecord.id == notice_id)).one()
    assert row.text_zh == "充值到账延迟" and row.until == until and row.withdrawn_at is not None


def listed(client: httpx.Client, **params: str) -> list[str]:
    page = client.get("/console/cases", params=params)
    assert page.status_code == 200, page.text
    return re.findall(r'<tr data-case="([^"]+)">', page.text)


def test_the_case_list_filters_and_searches_what_the_agent_may_see(
    floor: Site, settings: Settings, store: Store
) -> None:
    # The seeded record (tests/console/seed.py) has t-1..t-3 in payments (t-1, t-2 Alex's; t-2 by SMS), t-4 security.
    [(refund, _), (fraud, _)] = routed(
        settings, store, ("l1@example.com", "refund please, I was charged twice", "ann@example.com"),
        ("l2@example.com", "Fraud! someone stole my card", "bob@example.com"),
    )  # fmt: skip
    # Chinese as the email parser finds it (ingest/email/parse.py detects the language).
    mail = email("l3@example.com", "我要退款，扣了两次", sender="mei@example.com", language="zh")
    accepted = store.accept(mail, b"raw")
    drain(settings)
    message = store.get_message(accepted.message_id)
    assert message is not None and message.conversation_id is not None
    chinese = message.conversation_id
    with signed_in(floor, "alex@desk.example") as client:
        assert set(listed(client)) == {refund, chinese, "t-1", "t-2", "t-3"}  # payments, and what was his
        assert listed(client, channel="sms") == ["t-2"]
        assert listed(client, mine="1") == ["t-2", "t-1"]  # newest first
        assert "<td>Alex Agent</td>" in client.get("/console/cases", params={"mine": "1"}).text  # by name
        assert listed(client, language="zh") == [chinese]
        assert listed(client, state="open", queue="payments") == [chinese, refund, "t-3", "t-2", "t-1"]
        assert listed(client, q="bob@example.com") == []  # a case outside his queues stays out of the search too
        assert listed(client, q="ann@example.com") == [refund]
        assert listed(client, q=reference(floor, refund).lower()) == [refund]
        assert listed(client, q="charged twice") == [refund]  # the text of the messages
        assert listed(client, q="退款") == [chinese]
        page = client.get("/console/cases", params={"q": "ann@example.com"}).text
        assert f'href="/console/cases/{reference(floor, refund)}"' in page
        assert client.get("/console/cases", params={"queue": "security"}).status_code == 403
        for bad, said in (({"state": "lost"}, "Choose a state"), ({"channel": "fax"}, "Choose a channel"),
                          ({"language": "english!"}, "a code such as"), ({"q": "ab"}, "3 characters or more"),
                          ({"page": "two"}, "not a number")):  # fmt: skip
            refused = client.get("/console/cases", params=bad)
            assert refused.status_code == 400 and said in refused.text, bad
    outage = open_incident(desk_context(settings, store), "Card payments failing", "a-sofia")
    link_cases(desk_context(settings, store), outage.id, [refund, fraud], "a-sofia")
    with signed_in(floor, "alex@desk.example") as client:
        assert listed(client, incident=outage.id) == [refund]  # the fraud case is linked too, outside his queues
        assert "Card payments failing</option>" in client.get("/console/cases").text
        assert client.get("/console/cases", params={"incident": "<x>"}).status_code == 400
    with signed_in(floor, "sofia@desk.example") as client:
        assert listed(client, incident=outage.id) == [fraud, refund]
        assert listed(client, queue="security") == [fraud, "t-4"]
        assert listed(client, q="bob@example.com") == [fraud]
        assert listed(client, channel="telegram") == ["t-4"]


def events(lines: Iterator[str]) -> Iterator[tuple[str, str, dict[str, object]]]:
    """(event, id, data) of each server-sent event read from `lines`."""
    fields: dict[str, str] = {}
    for line in lines:
        if line == "":
            if "event" in fields:
                yield fields["event"], fields.get("id", ""), json.loads(fields.get("data", "{}"))
            fields = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(": ")
            fields[name] = value


def test_the_live_stream_tells_an_agent_of_changes_in_their_queues_and_ends_with_the_client(
    floor: Site, store: Store
) -> None:
    assert httpx.get(f"{floor.url}/console/live").status_code == 401  # no session: an EventSource gives up
    now = datetime.now(UTC)
    before = Live.open_streams
    with signed_in(floor, "alex@desk.example") as client:
        with client.stream("GET", "/console/live", timeout=15) as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            lines = stream.iter_lines()
            assert next(lines) == "retry: 2000"
            assert Live.open_streams == before + 1
            file_case(store, "security", Priority.URGENT, "t-live-1", now)  # not Alex's: nothing told
            file_case(store, "payments", Priority.HIGH, "t-live-2", now)
            event, version, data = next(events(lines))
            assert (event, data) == ("inbox", {"queues": ["payments"]})
            assert int(version) == Inbox(store).changes()["payments"]
        deadline = time.monotonic() + 10
        while Live.open_streams != before and time.monotonic() < deadline:
            time.sleep(0.05)
        assert Live.open_streams == before  # the client went away: the server's stream ended

        # A page rendered at an older version is told at once when its stream opens.
        with client.stream("GET", "/console/live", params={"since": "0"}, timeout=15) as stream:
            event, version, data = next(events(stream.iter_lines()))
            assert event == "inbox" and data == {"queues": ["payments"]} and int(version) > 0


def test_every_change_of_place_in_a_queue_raises_its_counter(store: Store) -> None:
    """What the live stream watches (core/inbox.py `changes`): filing, taking, moving, answering, resolving, reopening,
    recategorizing and automatic assignment."""
    inbox = Inbox(store)
    now = datetime.now(UTC)
    seen: list[dict[str, int]] = []

    def step() -> None:
        seen.append(inbox.changes())

    file_case(store, "payments", Priority.NORMAL, "t-a", now)
    step()
    file_case(store, "payments", Priority.NORMAL, "t-b", now)
    step()
    assert inbox.take(["payments"], "a-1", capacity=5, at=now) is not None
    step()
    assert inbox.move("t-b", "payments", Priority.NORMAL, "cards", Priority.HIGH)
    step()
    assert inbox.answered("t-a", "a-1", now, 1) == "pending"
    step()
    assert inbox.resolve("t-b", "a-1", now) is not None
    step()
    file_case(store, "payments", Priority.NORMAL, "t-a", now, message_id="m-2")  # the customer writes: back in line
    file_case(store, "payments", Priority.NORMAL, "t-a", now, message_id="t-a")  # filed before: nothing changes
    step()
    assert inbox.reopen("t-b", now, None)[0]  # an agent reopens the resolved case
    step()
    assert inbox.reclassify("t-b", "payments", Priority.NORMAL) is not None  # and moves it back
    step()
    assert inbox.assign("t-b", "a-2", now, capacity=5) == "assigned"  # automatic assignment
    step()
    assert [s.get("payments", 0) for s in seen] == [1, 2, 3, 4, 5, 5, 6, 6, 7, 8]
    assert [s.get("cards", 0) for s in seen] == [0, 0, 0, 1, 1, 2, 2, 3, 4, 4]


def test_the_case_lists_pages_link_with_their_filters() -> None:
    chosen = Filters.of(QueryParams("queue=payments&mine=on&q=ann%40example.com&page=2&state="))
    assert chosen.query(page=3) == "queue=payments&mine=1&q=ann%40example.com&page=3"
    assert chosen.query(page=1) == "queue=payments&mine=1&q=ann%40example.com"


def test_the_floor_says_so_when_the_desks_stores_are_away(
    settings: Settings, store: Store, redis: Redis, tmp_path: Path
) -> None:
    away = "postgresql+psycopg://postgres@/helpline?host=/nonexistent-record-socket"
    configured = settings.model_copy(
        update={
            "database": settings.database.model_copy(update={"url": away}),
            "web": settings.web.model_copy(update={"console_secret_file": tmp_path / "secret"}),
        }
    )
    identities = RedisIdentities(redis)
    identities.add("a-sofia", "Sofia Supervisor", "sofia@desk.example", PASSWORD, Role.SUPERVISOR)
    server = WebServer(create_app(configured, store, identities=identities)).start()
    try:
        with signed_in(Site(server.url, identities, None), "sofia@desk.example") as client:  # type: ignore[arg-type]
            for path in ("/console/queues", "/console/cases"):
                page = client.get(path)
                assert page.status_code == 503 and "cannot be reached just now" in page.text, path
            next_ = client.post("/console/next", data={"csrf_token": csrf(client, "/console/queues")})
            assert next_.status_code == 503
            live = client.get("/console/live")  # a stream that only tells the browser when to ask again
            assert live.status_code == 200 and live.text == "retry: 15000\n\n"
    finally:
        server.stop()
