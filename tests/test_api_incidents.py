"""The agents' API on incidents over FastAPI's TestClient, on a real Redis and a real PostgreSQL: open (with a
notice), list, show, link by hand and by a search, unlink, answer-and-resolve; 401 without a token, 403 for an agent
on writes, 409 once resolved; and two supervisors answering one incident at the same moment (each case answered
once)."""

from __future__ import annotations

import threading

from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from core.inbox import Inbox, Status
from core.notices import NoticeBoard
from core.settings import Settings
from core.store import Store
from core.surveys import Surveys
from record.models import AuditEntry
from record.models import Reply as ReplyRow
from tests.support.smtp_sink import SmtpSink
from tests.support.work import drain
from tests.test_api_agents import Desk, desk, engine  # noqa: F401  (the fixtures)
from tests.test_api_cases import routed
from tests.test_pipeline import email

OUTAGE = "My top-up failed and the money is gone"


def _open(desk: Desk, **body: object) -> dict[str, object]:  # noqa: F811
    opened = desk.client.post("/api/incidents", headers=desk.auth("supervisor"), json={"title": "Top-ups", **body})
    assert opened.status_code == 201, opened.text
    return dict(opened.json())


def test_incident_routes_want_a_token_and_writes_a_supervisor(desk: Desk) -> None:  # noqa: F811
    incident = str(_open(desk)["id"])
    reads: list[tuple[str, str]] = [("GET", "/api/incidents"), ("GET", f"/api/incidents/{incident}")]
    writes: list[tuple[str, str, dict[str, str]]] = [
        ("POST", "/api/incidents", {"title": "x"}),
        ("POST", f"/api/incidents/{incident}/link", {"query": "abc"}),
        ("POST", f"/api/incidents/{incident}/unlink", {"handle": "HL-1"}),
        ("POST", f"/api/incidents/{incident}/answer", {"text_en": "fixed"}),
    ]
    for method, path in [*reads, *[(m, p) for m, p, _ in writes]]:
        for headers in ({}, {"Authorization": "Bearer hla_nope"}):
            answer = desk.client.request(method, path, headers=headers, json={})
            assert answer.status_code == 401 and answer.headers["www-authenticate"] == "Bearer", (method, path)
    for method, path in reads:
        assert desk.client.request(method, path, headers=desk.auth("agent")).status_code == 200, path
    for method, path, body in writes:
        refused = desk.client.request(method, path, headers=desk.auth("agent"), json=body)
        assert refused.status_code == 403 and "supervisor" in refused.json()["detail"], path
    assert desk.client.get(f"/api/incidents/{incident}", headers=desk.auth("agent")).json()["status"] == "open"
    assert desk.client.get("/api/incidents/i-nothing", headers=desk.auth("agent")).status_code == 404
    for body in ({"title": " "}, {}):
        assert desk.client.post("/api/incidents", headers=desk.auth("admin"), json=body).status_code == 422


def test_open_link_show_unlink_answer_and_409_once_resolved(
    desk: Desk,  # noqa: F811
    settings: Settings,
    store: Store,
    engine: Engine,  # noqa: F811
    smtp_sink: SmtpSink,
) -> None:
    (ann, queue), (cy, _), (card, _) = routed(
        settings, store,
        ("in1@example.com", f"{OUTAGE}, please help", "ann@example.com"),
        ("in3@example.com", f"{OUTAGE} since this morning", "cy@example.com"),
        ("in4@example.com", "Fraud! someone stole my card", "dee@example.com"),
    )  # fmt: skip
    chinese = email("in2@example.com", "充值失败了，钱被扣了 (money is gone)", sender="bo@example.com", language="zh")
    accepted = store.accept(chinese, b"raw")
    drain(settings)
    stored = store.get_message(accepted.message_id)
    assert stored is not None and stored.conversation_id is not None
    bo = stored.conversation_id
    # cy's case was already resolved by an agent: a search leaves it out, an answer skips it.
    resolved = desk.client.post(f"/api/cases/{cy}/resolve", headers=desk.auth("supervisor"))
    assert resolved.status_code == 200
    acks = len(smtp_sink.messages)  # sent while the queues drained (the auto-reply cap may hold some back)

    opened = _open(desk, notice_en="Top-ups are delayed; no need to write again.", notice_zh="充值延迟，无需重复来信。")
    incident = str(opened["id"])
    assert opened["status"] == "open" and opened["opened_by"] == desk.ids["supervisor"] and opened["case_count"] == 0
    [notice] = NoticeBoard(store).list()
    assert opened["notice"] == notice.id and notice.text_zh == "充值延迟，无需重复来信。"

    path = f"/api/incidents/{incident}"
    by_search = desk.client.post(f"{path}/link", headers=desk.auth("supervisor"), json={"query": "money is gone"})
    assert by_search.status_code == 200, by_search.text
    assert sorted(by_search.json()["added"]) == sorted([ann, bo]) and not by_search.json()["more"]
    elsewhere = desk.client.post(f"{path}/link", headers=desk.auth("supervisor"),
                                 json={"query": "money is gone", "queue": "nowhere"})  # fmt: skip
    assert elsewhere.json()["added"] == [] and elsewhere.json()["already"] == []
    by_hand = desk.client.post(f"{path}/link", headers=desk.auth("admin"), json={"handles": ["dee@example.com", ann]})
    assert by_hand.json()["added"] == [card] and by_hand.json()["already"] == [ann]
    for bad in ({"query": "ab"}, {}, {"handles": [ann], "query": "money"}, {"handles": [ann], "queue": queue}):
        assert desk.client.post(f"{path}/link", headers=desk.auth("supervisor"), json=bad).status_code == 422, bad
    assert desk.client.post(f"{path}/link", headers=desk.auth("supervisor"),
                            json={"handles": ["HL-NOTHING"]}).status_code == 404  # fmt: skip
    missing = desk.client.post("/api/incidents/i-nothing/link", headers=desk.auth("supervisor"), json={"query": "abc"})
    assert missing.status_code == 404

    # A case linked to an open incident cannot join another by hand; a search leaves it out and says so.
    other = _open(desk, title="Cards")["id"]
    refused = desk.client.post(f"/api/incidents/{other}/link", headers=desk.auth("supervisor"),
                               json={"handles": [card]})  # fmt: skip
    assert refused.status_code == 409 and incident in refused.json()["detail"]
    left_out = desk.client.post(f"/api/incidents/{other}/link", headers=desk.auth("supervisor"),
                                json={"query": "stole my card"})  # fmt: skip
    assert left_out.json()["added"] == [] and left_out.json()["elsewhere"] == {card: incident}

    unlinked = desk.client.post(f"{path}/unlink", headers=desk.auth("supervisor"), json={"handle": "<in4@example.com>"})
    assert unlinked.status_code == 200 and {c["case"] for c in unlinked.json()["cases"]} == {ann, bo}
    again = desk.client.post(f"{path}/unlink", headers=desk.auth("supervisor"), json={"handle": card})
    assert again.status_code == 404
    desk.client.post(f"{path}/link", headers=desk.auth("supervisor"), json={"handles": [cy]})  # by hand: allowed

    shown = desk.client.get(path, headers=desk.auth("agent")).json()
    assert shown["case_count"] == 3
    assert {c["case"]: c["status"] for c in shown["cases"]} == {ann: "open", bo: "open", cy: "resolved"}
    assert all(c["linked_by"] in (desk.ids["supervisor"], desk.ids["admin"]) for c in shown["cases"])
    assert [i["id"] for i in desk.client.get("/api/incidents", headers=desk.auth("agent")).json()] == [other, incident]
    listed = desk.client.get("/api/incidents", params={"status": "open"}, headers=desk.auth("agent")).json()
    assert len(listed) == 2
    assert desk.client.get("/api/incidents", params={"status": "x"}, headers=desk.auth("agent")).status_code == 422

    empty = desk.client.post(f"{path}/answer", headers=desk.auth("supervisor"), json={"text_en": " "})
    assert empty.status_code == 422
    texts = {
        "text_en": "Top-ups are working again; yours has been credited.",
        "text_zh": "充值已恢复，您的款项已到账。",
    }
    answered = desk.client.post(f"{path}/answer", headers=desk.auth("supervisor"), json=texts)
    assert answered.status_code == 200, answered.text
    outcomes = {c["case"]: c for c in answered.json()["cases"]}
    assert outcomes[ann]["outcome"] == "resolved" and outcomes[ann]["language"] == "en"
    assert outcomes[bo]["outcome"] == "resolved" and outcomes[bo]["language"] == "zh"
    assert outcomes[cy]["outcome"] == "skipped: already resolved" and outcomes[cy]["reply"] is None
    for case in (ann, bo):
        state = Inbox(store).case(case)
        assert state is not None and state.status is Status.RESOLVED and Surveys(store).claim(case, "x") is False
    assert NoticeBoard(store).list() == []  # resolving the incident withdrew its notice

    drain(settings)
    answers = {m.rcpt_tos[0]: m.message.get_content() for m in smtp_sink.wait_for(acks + 2)[acks:]}
    assert set(answers) == {"ann@example.com", "bo@example.com"}
    assert texts["text_en"] in answers["ann@example.com"] and texts["text_zh"] in answers["bo@example.com"]

    shown = desk.client.get(path, headers=desk.auth("agent")).json()
    assert shown["status"] == "resolved" and shown["answered_by"] == desk.ids["supervisor"]
    assert shown["answer_zh"] == texts["text_zh"] and shown["resolved_at"]
    assert {c["case"]: c["outcome"] for c in shown["cases"]}[bo] == "resolved"
    for action, body in (("answer", texts), ("link", {"handles": [card]}), ("unlink", {"handle": ann})):
        late = desk.client.post(f"{path}/{action}", headers=desk.auth("supervisor"), json=body)
        assert late.status_code == 409, action
    assert "already resolved" in desk.client.post(f"{path}/answer", headers=desk.auth("admin"),
                                                  json=texts).json()["detail"]  # fmt: skip

    with engine.connect() as connection:
        actions = connection.execute(
            select(AuditEntry.action, AuditEntry.subject_kind, AuditEntry.subject_id).where(
                AuditEntry.action.like("incident-%")
            )
        ).all()
        replies = connection.scalars(select(ReplyRow.conversation_id).where(ReplyRow.purpose == "answer")).all()
    assert {(a, k) for a, k, s in actions if s == incident} == {
        ("incident-open", "incident"), ("incident-link", "incident"), ("incident-unlink", "incident"),
        ("incident-answer", "incident"), ("incident-resolve", "incident"),
    }  # fmt: skip
    assert ("incident-answer", "case", ann) in actions and ("incident-unlink", "case", card) in actions
    assert sorted(str(r) for r in replies) == sorted([ann, bo])


def test_two_supervisors_answering_one_incident_at_once_answer_each_case_once(
    desk: Desk,  # noqa: F811
    settings: Settings,
    store: Store,
    smtp_sink: SmtpSink,
) -> None:
    cases = routed(
        settings, store, *[(f"race{n}@example.com", f"{OUTAGE} ({n})", f"race{n}@example.com") for n in range(4)]
    )
    acks = len(smtp_sink.messages)  # sent while the queues drained (the auto-reply cap may hold some back)
    incident = _open(desk)["id"]
    handles = [case for case, _ in cases]
    assert desk.client.post(f"/api/incidents/{incident}/link", headers=desk.auth("supervisor"),
                            json={"handles": handles}).json()["added"] == handles  # fmt: skip
    second = desk.agents.add("Second", "second@desk.example", role=desk.agents.get(desk.ids["supervisor"]).role)  # type: ignore[union-attr]
    tokens = [desk.tokens["supervisor"], desk.agents.rotate_token(second.id)]
    app = desk.client.app
    start = threading.Barrier(len(tokens))
    got: list[tuple[int, dict[str, object]]] = []
    lock = threading.Lock()

    def answer(token: str) -> None:
        client = TestClient(app)
        start.wait()
        done = client.post(f"/api/incidents/{incident}/answer", headers={"Authorization": f"Bearer {token}"},
                           json={"text_en": "Fixed: your top-up is credited."})  # fmt: skip
        with lock:
            got.append((done.status_code, done.json()))

    threads = [threading.Thread(target=answer, args=(token,)) for token in tokens]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(code for code, _ in got) == [200, 409]
    [winner] = [body for code, body in got if code == 200]
    assert sorted(c["case"] for c in winner["cases"]) == sorted(handles)  # type: ignore[attr-defined]
    [loser] = [body for code, body in got if code == 409]
    assert "being answered" in str(loser["detail"]) or "already resolved" in str(loser["detail"])

    drain(settings)
    sent = smtp_sink.wait_for(acks + 4)[acks:]
    assert sorted(m.rcpt_tos[0] for m in sent) == sorted(f"race{n}@example.com" for n in range(4))  # once each
    assert all("Fixed: your top-up is credited." in m.message.get_content() for m in sent)
    assert all(Inbox(store).case(case).status is Status.RESOLVED for case in handles)  # type: ignore[union-attr]
    assert len(smtp_sink.messages) == acks + 4
