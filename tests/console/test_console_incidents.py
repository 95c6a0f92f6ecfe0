"""The console's incident pages over plain HTTP, on the real app (uvicorn), Redis, PostgreSQL and SMTP sink: each
page per role, CSRF, a supervisor opening an incident with a notice, linking by a search and by hand, unlinking and
answering (cases resolved, each answer sent in its customer's language), agents' POSTs refused, and desk/'s
refusals shown on the page with a 4xx."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
from redis import Redis
from sqlalchemy import insert

from core.agent_settings import Role
from core.identity import email_identity
from core.inbox import Inbox, Status
from core.notices import NoticeBoard
from core.settings import Settings
from core.store import Store
from desk.incidents import STALE_CLAIM
from record import incidents as rows
from record.engine import engine_for
from record.models import ContactIdentity
from tests.console.conftest import PASSWORD, Site
from tests.support.console_identities import RedisIdentities
from tests.support.smtp_sink import SmtpSink
from tests.support.web_server import WebServer
from tests.support.work import drain
from tests.test_pipeline import email
from web.app import create_app

OUTAGE = "My top-up failed and the money is gone"
_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


@contextlib.contextmanager
def signed_in(site: Site, email_address: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=site.url, follow_redirects=False, timeout=30) as client:
        token = _TOKEN.search(client.get("/console/sign-in").text)
        assert token is not None
        form = {"csrf_token": token.group(1), "email": email_address, "password": PASSWORD, "next": ""}
        assert client.post("/console/sign-in", data=form).status_code == 303
        yield client


def csrf(client: httpx.Client, path: str = "/console/incidents") -> str:
    token = _TOKEN.search(client.get(path).text)
    assert token is not None
    return token.group(1)


def post(client: httpx.Client, path: str, **form: str) -> httpx.Response:
    return client.post(path, data={"csrf_token": csrf(client), **form})


def open_one(client: httpx.Client, title: str = "Top-ups", **form: str) -> str:
    opened = post(client, "/console/incidents", title=title, **form)
    assert opened.status_code == 303, opened.text
    found = re.fullmatch(r"/console/incidents/([^?]+)\?opened=1", opened.headers["location"])
    assert found is not None, opened.headers["location"]
    return found.group(1)


def routed(settings: Settings, store: Store, *mails: tuple[str, str, str, str]) -> list[str]:
    """Emails (Message-ID, text, sender, language) through the intake and the workers: their case ids."""
    accepted = [
        store.accept(email(mid, text, sender=sender, language=language), b"raw").message_id
        for mid, text, sender, language in mails
    ]
    drain(settings)
    cases = []
    for message_id in accepted:
        message = store.get_message(message_id)
        assert message is not None and message.conversation_id is not None
        cases.append(message.conversation_id)
    return cases


def reference(site: Site, case_id: str) -> str:
    with site.record.connect() as connection:
        found = connection.exec_driver_sql("SELECT reference FROM conversations WHERE id = %s", (case_id,)).scalar()
    assert isinstance(found, str)
    return found


def test_every_incident_page_per_role_and_csrf(site: Site) -> None:
    with signed_in(site, "sofia@desk.example") as sofia:
        listing = sofia.get("/console/incidents")
        assert listing.status_code == 200 and 'href="/console/incidents">Incidents</a>' in listing.text  # the nav
        assert 'id="open-incident"' in listing.text and "No incidents." in listing.text
        incident = open_one(sofia)
        shown = sofia.get(f"/console/incidents/{incident}?opened=1")
        assert shown.status_code == 200 and "Incident opened." in shown.text
        for form_id in ("link-handles", "link-search", "answer-incident"):
            assert f'id="{form_id}"' in shown.text, form_id
        # Without the session's token every incident form is refused, before anything happens.
        for path in ("/console/incidents", f"/console/incidents/{incident}/link",
                     f"/console/incidents/{incident}/link-search", f"/console/incidents/{incident}/unlink",
                     f"/console/incidents/{incident}/answer"):  # fmt: skip
            for data in ({"title": "x", "text_en": "x", "query": "money"}, {"csrf_token": "guessed", "title": "x"}):
                assert sofia.post(path, data=data).status_code == 403, path
        assert sofia.get("/console/incidents").text.count('data-incident="') == 1  # nothing more was opened
        assert sofia.get("/console/incidents?status=open").text.count('data-incident="') == 1
        assert sofia.get("/console/incidents?status=resolved").text.count('data-incident="') == 0
        bad = sofia.get("/console/incidents?status=closed")
        assert bad.status_code == 400 and "Unknown incident state: closed" in bad.text
        missing = sofia.get("/console/incidents/i-nothing")
        assert missing.status_code == 404 and "No such incident: i-nothing" in missing.text

    with signed_in(site, "alex@desk.example") as alex:  # an agent reads, and writes nothing
        listing = alex.get("/console/incidents")
        assert listing.status_code == 200 and f'data-incident="{incident}"' in listing.text
        assert 'id="open-incident"' not in listing.text
        shown = alex.get(f"/console/incidents/{incident}")
        assert shown.status_code == 200 and "Top-ups" in shown.text
        assert 'action="/console/incidents/' not in shown.text  # no form at all
        for path, form in (("/console/incidents", {"title": "Mine"}),
                           (f"/console/incidents/{incident}/link", {"handles": "HL-t-1"}),
                           (f"/console/incidents/{incident}/link-search", {"query": "money"}),
                           (f"/console/incidents/{incident}/unlink", {"handle": "HL-t-1"}),
                           (f"/console/incidents/{incident}/answer", {"text_en": "Fixed"})):  # fmt: skip
            refused = post(alex, path, **form)
            assert refused.status_code == 403 and "Your role does not allow this page." in refused.text, path
        assert alex.get("/console/incidents").text.count('data-incident="') == 1

    with signed_in(site, "lina@desk.example") as li:  # a supervisor whose UI is Chinese
        listing = li.get("/console/incidents")
        assert listing.status_code == 200 and "创建事件" in listing.text and "进行中" in listing.text


def test_open_link_by_search_and_by_hand_unlink_answer_and_the_replies_go_out(
    site: Site, settings: Settings, store: Store, smtp_sink: SmtpSink
) -> None:
    ann, bo, cy = routed(
        settings, store,
        ("ci1@example.com", f"{OUTAGE}, please help", "ann@example.com", "en"),
        ("ci2@example.com", "充值失败了，钱被扣了 (money is gone)", "bo@example.com", "zh"),
        ("ci3@example.com", "Fraud! someone stole my card", "cy@example.com", "en"),
    )  # fmt: skip
    acks = len(smtp_sink.messages)  # the acknowledgements sent while the queues drained
    refs = {case: reference(site, case) for case in (ann, bo, cy)}

    with signed_in(site, "sofia@desk.example") as sofia:
        incident = open_one(sofia, notice_en="Top-ups are delayed; no need to write again.",
                            notice_zh="充值延迟，无需重复来信。", notice_until="2099-01-01T12:00")  # fmt: skip
        [notice] = NoticeBoard(store).list()
        assert notice.text_zh == "充值延迟，无需重复来信。" and notice.until.year == 2099
        page = f"/console/incidents/{incident}"
        assert "Top-ups are delayed; no need to write again." in sofia.get(page).text

        searched = post(sofia, f"{page}/link-search", query="money is gone", queue="")
        assert searched.status_code == 303 and searched.headers["location"].endswith(
            "added=2&already=0&elsewhere=0&more=0"
        )
        by_hand = post(sofia, f"{page}/link", handles=f"cy@example.com\n{refs[ann]}")
        assert by_hand.status_code == 303 and "added=1&already=1" in by_hand.headers["location"]
        shown = sofia.get(by_hand.headers["location"])
        assert "Cases linked: 1 · already linked: 1" in shown.text
        rows = {case: row for case, row in re.findall(r'<tr data-case="([^"]+)"(.*?)</tr>', shown.text, re.S)}
        assert set(rows) == {ann, bo, cy}
        for case in (ann, bo, cy):
            assert f'<a href="/console/cases/{refs[case]}">{refs[case]}</a>' in rows[case]
            assert 'data-status="open"' in rows[case] and "Email" in rows[case]
        assert "English" in rows[ann] and "Chinese" in rows[bo]

        other = open_one(sofia, title="Payments")  # a search there leaves out the cases linked here, and says so
        left_out = sofia.get(
            post(sofia, f"/console/incidents/{other}/link-search", query="money is gone").headers["location"]
        )
        assert "Cases linked: 0 · left out (in another open incident): 2" in left_out.text
        assert 'data-case="' not in left_out.text

        unlinked = post(sofia, f"{page}/unlink", handle=refs[cy])
        assert unlinked.status_code == 303 and unlinked.headers["location"].endswith("?unlinked=1")
        assert f'data-case="{cy}"' not in sofia.get(page).text

        answer = {"text_en": "Top-ups work again; yours has been credited.", "text_zh": "充值已恢复，款项已到账。"}
        answered = post(sofia, f"{page}/answer", **answer)
        assert answered.status_code == 303 and answered.headers["location"].endswith("?answered=2")
        shown = sofia.get(answered.headers["location"])
        assert 'id="incident-status" data-status="resolved"' in shown.text
        assert shown.text.count('data-outcome="incident_outcome_resolved"') == 2
        assert "Answered and resolved" in shown.text and answer["text_zh"] in shown.text
        assert 'id="answer-incident"' not in shown.text and 'id="link-search"' not in shown.text  # forms gone

    for case in (ann, bo):
        state = Inbox(store).case(case)
        assert state is not None and state.status is Status.RESOLVED
    state = Inbox(store).case(cy)
    assert state is not None and state.status is Status.OPEN  # unlinked: not answered
    assert NoticeBoard(store).list() == []  # resolving the incident withdrew its notice
    drain(settings)  # the queued answers go out through the workers
    sent = {m.rcpt_tos[0]: m.message.get_content() for m in smtp_sink.wait_for(acks + 2)[acks:]}
    assert set(sent) == {"ann@example.com", "bo@example.com"}
    assert answer["text_en"] in sent["ann@example.com"] and answer["text_zh"] in sent["bo@example.com"]


def test_desk_refusals_are_messages_on_the_page_with_a_4xx(site: Site, settings: Settings, store: Store) -> None:
    [ann] = routed(settings, store, ("cr1@example.com", OUTAGE, "ann@example.com", "en"))
    with site.record.begin() as connection:  # one more way to reach the seeded contact, who has four cases
        at = datetime(2026, 3, 1, tzinfo=UTC)
        connection.execute(insert(ContactIdentity).values(identity=email_identity("old@example.com"),
                                                          contact_id="c-1", created_at=at))  # fmt: skip
    with signed_in(site, "sofia@desk.example") as sofia:
        for form, expected in (({"title": " "}, "Check the form: an incident needs a title"),
                               ({"title": "x", "notice_until": "soon"}, "Not a date and time: soon"),
                               ({"title": "x", "notice_until": "2099-01-01T12:00"}, "needs a notice text"),
                               ({"title": "x", "notice_en": "n", "notice_until": "2001-01-01T12:00"}, "already past"),
                               ):  # fmt: skip
            refused = post(sofia, "/console/incidents", **form)
            assert refused.status_code == 400 and expected in refused.text, form
            assert 'data-incident="' not in refused.text  # nothing was opened
        incident = open_one(sofia)
        page = f"/console/incidents/{incident}"
        ambiguous = post(sofia, f"{page}/link", handles="old@example.com")
        assert ambiguous.status_code == 409 and "name one by its reference" in ambiguous.text
        assert ambiguous.text.count('<li><a href="/console/cases/HL-t-') == 4
        assert "old@example.com" in ambiguous.text  # what was typed stays in the form
        unknown = post(sofia, f"{page}/link", handles="HL-NOTHING")
        assert unknown.status_code == 404 and "Not found: no case matches" in unknown.text
        assert post(sofia, f"{page}/link-search", query="ab").status_code == 400
        assert post(sofia, f"{page}/unlink", handle=ann).status_code == 404  # not linked
        assert post(sofia, f"{page}/answer", text_en=" ", text_zh="").status_code == 400
        assert post(sofia, f"{page}/link", handles=ann).status_code == 303
        assert post(sofia, f"{page}/answer", text_en="Fixed.").status_code == 303
        assert post(sofia, "/console/incidents/i-nothing/answer", text_en="x").status_code == 404

    with signed_in(site, "lina@desk.example") as li:  # a second supervisor, late: the incident is resolved
        again = post(li, f"{page}/answer", text_en="Fixed again.")
        assert again.status_code == 409 and "已解决" in again.text
        assert f"incident {incident} was already resolved by a-sofia" in again.text
        late = post(li, f"{page}/link-search", query="money is gone")
        assert late.status_code == 409 and "it takes no more changes" in late.text
        assert post(li, f"{page}/unlink", handle=ann).status_code == 409


def test_an_answer_lost_to_another_supervisor_is_a_409_on_the_page(site: Site) -> None:
    with signed_in(site, "sofia@desk.example") as sofia:
        incident = open_one(sofia)
        now = datetime.now(UTC)
        with site.record.begin() as connection:  # 李娜 claimed the answer a moment ago, and is sending it
            assert rows.claim_answer(connection, incident, "a-li", ("x", "x"), now, now - STALE_CLAIM)
        lost = post(sofia, f"/console/incidents/{incident}/answer", text_en="Fixed.")
        assert lost.status_code == 409 and f"incident {incident} is being answered by a-li" in lost.text
        assert 'data-status="answering"' in lost.text and "Being answered" in lost.text
        assert "Fixed." in lost.text  # what she wrote stays in the form
        assert 'id="link-search"' not in lost.text  # no more links while it is answered
        late = post(sofia, f"/console/incidents/{incident}/link", handles="HL-t-1")
        assert late.status_code == 409 and "it takes no more changes" in late.text


def test_the_pages_say_so_when_the_record_is_away(
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
        site = Site(server.url, identities, away)
        with signed_in(site, "sofia@desk.example") as sofia:
            for path in ("/console/incidents", "/console/incidents/i-1"):
                answer = sofia.get(path)
                assert answer.status_code == 503 and "incidents are unavailable" in answer.text, path
            for path, form in (("/console/incidents", {"title": "Top-ups"}),
                               ("/console/incidents/i-1/answer", {"text_en": "Fixed."})):  # fmt: skip
                token = _TOKEN.search(sofia.get("/console/incidents").text)
                assert token is not None
                answer = sofia.post(path, data={"csrf_token": token.group(1), **form})
                assert answer.status_code == 503 and "incidents are unavailable" in answer.text, path
    finally:
        server.stop()
        away.dispose()
