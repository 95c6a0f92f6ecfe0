"""The agents' API's case actions beyond answering, over FastAPI's TestClient on a real Redis and a real PostgreSQL:
internal notes (masked, searchable, never sent), canned replies (in the customer's language), reopen, and
recategorize (within the caller's queues; kept for training); each written to the case's audit log, with 401, 403,
409 and 422 where they apply; four callers reopening one case at once reopen it once."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, select

from core.corrections import Corrections
from core.inbox import Inbox
from core.queues import queues
from core.settings import Settings
from core.store import Store
from record.models import AuditEntry
from record.search import search_text
from router.normalize import normalize
from tests.support.smtp_sink import SmtpSink
from tests.support.work import drain
from tests.test_api_agents import Desk, desk, engine  # noqa: F401  (the fixtures)
from tests.test_api_cases import routed
from tests.test_pipeline import email

FRAUD = "Fraud! someone stole my card"  # security: "other" works it, "agent" does not
FEES = "I have a question about fees and exchange rate"  # general: "agent" works it


def audit_of(engine: Engine, case_id: str) -> list[tuple[str, str, dict[str, Any]]]:  # noqa: F811
    with engine.connect() as connection:
        rows = connection.execute(
            select(AuditEntry.actor, AuditEntry.action, AuditEntry.detail)
            .where(AuditEntry.subject_kind == "case", AuditEntry.subject_id == case_id)
            .order_by(AuditEntry.id)
        ).all()
    return [(r.actor, r.action, r.detail) for r in rows]


def test_the_new_routes_want_a_token(desk: Desk) -> None:  # noqa: F811
    for method, path in (("GET", "/api/canned"), ("POST", "/api/cases/HL-1/notes"),
                         ("POST", "/api/cases/HL-1/reopen"), ("POST", "/api/cases/HL-1/recategorize")):  # fmt: skip
        answer = desk.client.request(method, path, json={})
        assert answer.status_code == 401 and answer.headers["www-authenticate"] == "Bearer", (method, path)
        bad = desk.client.request(method, path, json={}, headers={"Authorization": "Bearer hla_nope"})
        assert bad.status_code == 401, (method, path)


def test_a_note_is_masked_searchable_in_the_case_and_never_sent(
    desk: Desk,  # noqa: F811
    settings: Settings,
    store: Store,
    engine: Engine,  # noqa: F811
    smtp_sink: SmtpSink,
) -> None:
    [(case, _)] = routed(settings, store, ("n1@example.com", FRAUD, "nina@example.com"))
    sent = len(smtp_sink.wait_for(1))  # the acknowledgement
    before = desk.client.get(f"/api/cases/{case}", headers=desk.auth("other")).json()[0]
    assert before["notes"] == []

    text = "Called her back: card 4111 1111 1111 1111 blocked, 已联系银行退款"
    added = desk.client.post(f"/api/cases/{case}/notes", headers=desk.auth("other"), json={"text": text})
    assert added.status_code == 201, added.text
    note = added.json()
    assert note["agent"] == desk.ids["other"] and "4111 1111 1111 1111" not in note["text"]
    assert "Called her back" in note["text"]

    # Nothing goes to the customer: no job queued, no reply in the case, nothing more sent once the queues run.
    assert not any(queue.count for queue in queues(store.redis))
    drain(settings)
    view = desk.client.get(f"/api/cases/{case}", headers=desk.auth("other")).json()[0]
    assert [n["id"] for n in view["notes"]] == [note["id"]] and view["notes"][0]["text"] == note["text"]
    assert view["replies"] == before["replies"]
    assert len(smtp_sink.messages) == sent

    with engine.connect() as connection:  # found by helpline search, in English and by a two-character Chinese query
        assert [h.id for h in search_text(connection, normalize("called her")) if h.kind == "note"] == [str(note["id"])]
        assert [h.id for h in search_text(connection, normalize("银行")) if h.kind == "note"] == [str(note["id"])]
        assert search_text(connection, normalize("4111 1111")) == []
    [(actor, _, detail)] = [a for a in audit_of(engine, case) if a[1] == "note"]
    assert actor == desk.ids["other"] and detail["note"] == note["id"] and detail["masked"] == ["card_number"]

    outside = desk.client.post(f"/api/cases/{case}/notes", headers=desk.auth("agent"), json={"text": "hi"})
    assert outside.status_code == 403
    assert (
        desk.client.post(f"/api/cases/{case}/notes", headers=desk.auth("other"), json={"text": " "}).status_code == 422
    )
    assert (
        desk.client.post("/api/cases/HL-NOPE/notes", headers=desk.auth("other"), json={"text": "x"}).status_code == 404
    )
    supervisor = desk.client.post(f"/api/cases/{case}/notes", headers=desk.auth("supervisor"), json={"text": "ok"})
    assert supervisor.status_code == 201


def test_canned_replies_are_listed_and_sent_in_the_customers_language(
    desk: Desk,  # noqa: F811
    settings: Settings,
    store: Store,
    engine: Engine,  # noqa: F811
) -> None:
    listed = desk.client.get("/api/canned", headers=desk.auth("agent"))
    assert listed.status_code == 200
    names = {c["name"]: c for c in listed.json()}
    assert {"refund-timeline", "transaction-reference", "account-unlocked", "known-outage"} <= set(names)
    assert all(c["languages"] == ["en", "zh"] for c in names.values())
    assert names["known-outage"]["titles"]["en"].startswith("Known outage")

    store.accept(email("c1@example.com", "我的卡被盗刷了，有人盗用我的卡", sender="wei@example.com", language="zh"),
                 b"raw")  # fmt: skip
    drain(settings)
    [case] = [c["case"] for c in desk.client.get("/api/cases", headers=desk.auth("supervisor")).json()]
    reference = desk.client.get(f"/api/cases/{case}", headers=desk.auth("other")).json()[0]["reference"]

    def reply(body: dict[str, Any], who: str = "other") -> Any:
        return desk.client.post(f"/api/cases/{case}/reply", headers=desk.auth(who), json=body)

    assert reply({"text": "hi", "canned": "known-outage"}).status_code == 422  # one of them
    assert reply({}).status_code == 422
    unknown = reply({"canned": "nope"})
    assert unknown.status_code == 422 and "known-outage" in unknown.json()["detail"]
    assert reply({"canned": "known-outage"}, "agent").status_code == 403

    sent = reply({"canned": "known-outage"})
    assert sent.status_code == 200 and sent.json()["status"] == "pending"
    drain(settings)
    view = desk.client.get(f"/api/cases/{case}", headers=desk.auth("other")).json()[0]
    [answer] = [r for r in view["replies"] if r["purpose"] == "answer"]
    assert "技术团队正在全力修复" in answer["text"] and reference in answer["text"]
    assert "Other" in answer["text"]  # the agent's name signs it
    [(_, _, detail)] = [a for a in audit_of(engine, case) if a[1] == "answer"]
    assert detail["canned"] == "known-outage" and detail["reply"] == sent.json()["reply"]


def test_reopen_puts_a_resolved_or_pending_case_back_in_its_queue(
    desk: Desk,  # noqa: F811
    settings: Settings,
    store: Store,
    engine: Engine,  # noqa: F811
) -> None:
    [(case, queue)] = routed(settings, store, ("r1@example.com", FRAUD, "rita@example.com"))
    taken = desk.client.post("/api/cases/next", headers=desk.auth("other")).json()
    open_again = desk.client.post(f"/api/cases/{case}/reopen", headers=desk.auth("other"))
    assert open_again.status_code == 409 and "is open" in open_again.json()["detail"]

    desk.client.post(f"/api/cases/{case}/reply", headers=desk.auth("other"), json={"text": "Blocked."})
    pending = desk.client.post(f"/api/cases/{case}/reopen", headers=desk.auth("other"))
    assert pending.status_code == 200
    assert (pending.json()["status"], pending.json()["place"], pending.json()["agent"]) == ("open", "waiting", None)
    assert (pending.json()["queue"], pending.json()["priority"]) == (queue, taken["priority"])

    assert desk.client.post(f"/api/cases/{case}/resolve", headers=desk.auth("other")).status_code == 200
    assert desk.client.post(f"/api/cases/{case}/reopen", headers=desk.auth("agent")).status_code == 403
    reopened = desk.client.post(f"/api/cases/{case}/reopen", headers=desk.auth("supervisor"))
    assert reopened.status_code == 200 and reopened.json()["status"] == "open"
    state = Inbox(store).case(case)
    assert state is not None and state.reopened == 1 and state.times.resolved_at is None
    listed = desk.client.get("/api/cases", params={"status": "open"}, headers=desk.auth("other")).json()
    assert [c["case"] for c in listed] == [case]  # the record follows
    again = desk.client.post("/api/cases/next", headers=desk.auth("other"))
    assert again.status_code == 200 and again.json()["case"] == case  # waiting in its queue: next takes it
    actions = [(actor, action, detail.get("was")) for actor, action, detail in audit_of(engine, case)]
    assert (desk.ids["other"], "reopen", "pending") in actions
    assert (desk.ids["supervisor"], "reopen", "resolved") in actions


def test_recategorize_within_ones_queues_and_kept_for_training(
    desk: Desk,  # noqa: F811
    settings: Settings,
    store: Store,
    engine: Engine,  # noqa: F811
) -> None:
    [(fraud, queue), (fees, general)] = routed(
        settings, store, ("rc1@example.com", FRAUD, "rob@example.com"), ("rc2@example.com", FEES, "fay@example.com")
    )
    assert (queue, general) == ("security", "general")

    def change(case: str, who: str, **body: Any) -> Any:
        return desk.client.post(f"/api/cases/{case}/recategorize", headers=desk.auth(who), json=body)

    assert change(fraud, "other", priority="low").status_code == 422  # no reason
    assert change(fraud, "other", reason="x").status_code == 422  # nothing to change
    bad_category = change(fraud, "other", category="nonsense", reason="x")
    assert bad_category.status_code == 422 and "unknown category 'nonsense'" in bad_category.json()["detail"]
    bad_queue = change(fraud, "other", queue="nowhere", reason="x")
    assert bad_queue.status_code == 422 and "unknown queue 'nowhere'" in bad_queue.json()["detail"]
    assert change(fraud, "other", priority="urgentest", reason="x").status_code == 422
    assert change(fraud, "agent", priority="low", reason="x").status_code == 403  # not their queue
    moving_out = change(fraud, "other", category="cards", reason="a lost card, not fraud")
    assert moving_out.status_code == 403 and "cards" in moving_out.json()["detail"]  # cards is not "other"'s queue

    lowered = change(fraud, "other", priority="low", reason="false alarm: she found the card")
    assert lowered.status_code == 200, lowered.text
    assert lowered.json()["priority"][1] == "low" and lowered.json()["queue"] == ["security", "security"]
    assert not lowered.json()["correction"]
    assert [c for c, _ in Inbox(store).waiting("security", Inbox(store).case(fraud).priority)] == [fraud]  # type: ignore[union-attr]

    # A supervisor moves it to a queue "other" does not work; the correction is kept for training.
    moved = change(fraud, "supervisor", category="cards", reason="a lost card, not fraud")
    assert moved.status_code == 200, moved.text
    assert moved.json()["category"] == ["security", "cards"] and moved.json()["queue"] == ["security", "cards"]
    assert moved.json()["correction"]
    view = desk.client.get(f"/api/cases/{fraud}", headers=desk.auth("supervisor")).json()[0]
    assert (view["category"], view["queue"], view["priority"]) == ("cards", "cards", "low")
    assert view["messages"][0]["decision"]["category"] == "cards"
    assert desk.client.get(f"/api/cases/{fraud}", headers=desk.auth("other")).status_code == 403  # no longer theirs
    [correction] = Corrections(store).all()
    assert (correction.message_id, correction.from_category, correction.to_category, correction.agent) == (
        moved.json()["message"], "security", "cards", desk.ids["supervisor"])  # fmt: skip

    # An agent's correction within their own queue, on a case they hold: it stays with them.
    desk.client.post("/api/cases/next", headers=desk.auth("agent"))
    kept = change(fees, "agent", category="feedback", reason="she is telling us the fees are too high")
    assert kept.status_code == 200 and kept.json()["queue"] == ["general", "general"]
    state = Inbox(store).case(fees)
    assert state is not None and state.category == "feedback" and state.agent == desk.ids["agent"]
    assert {c.to_category for c in Corrections(store).all()} == {"cards", "feedback"}

    actions = [(action, detail["to"]) for _, action, detail in audit_of(engine, fraud) if action == "recategorize-case"]
    assert actions == [
        ("recategorize-case", {"category": "security", "priority": "low", "queue": "security"}),
        ("recategorize-case", {"category": "cards", "priority": "low", "queue": "cards"}),
    ]
    listed = desk.client.get("/api/cases", params={"queue": "cards"}, headers=desk.auth("supervisor")).json()
    assert [c["case"] for c in listed] == [fraud]  # the record's row follows


def test_two_supervisors_reopening_one_case_at_once_reopen_it_once(
    desk: Desk,  # noqa: F811
    settings: Settings,
    store: Store,
) -> None:
    import threading

    from fastapi.testclient import TestClient

    [(case, _)] = routed(settings, store, ("race1@example.com", FRAUD, "rae@example.com"))
    assert desk.client.post(f"/api/cases/{case}/resolve", headers=desk.auth("supervisor")).status_code == 200
    start = threading.Barrier(4)
    codes: list[int] = []
    lock = threading.Lock()

    def reopen(who: str) -> None:
        client = TestClient(desk.client.app)
        start.wait()
        answer = client.post(f"/api/cases/{case}/reopen", headers=desk.auth(who))
        with lock:
            codes.append(answer.status_code)

    threads = [threading.Thread(target=reopen, args=(who,)) for who in ("supervisor", "admin", "other", "supervisor")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(codes) == [200, 409, 409, 409]
    state = Inbox(store).case(case)
    assert state is not None and state.reopened == 1
    assert [c for c, _ in Inbox(store).waiting("security", state.priority)] == [case]
