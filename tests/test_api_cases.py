"""The agents' API on cases over FastAPI's TestClient, on a real Redis and a real PostgreSQL: list, search, read,
next (two agents at once get different cases), reply, resolve, reassign, merge; 401 without a token, 403 outside the
caller's queues or role, 409 on a write naming several cases."""

from __future__ import annotations

import threading

from fastapi.testclient import TestClient

from core.settings import Settings
from core.store import Store
from tests.support.work import drain
from tests.test_api_agents import Desk, desk, engine  # noqa: F401  (the fixtures)
from tests.test_pipeline import email


def routed(settings: Settings, store: Store, *mails: tuple[str, str, str]) -> list[tuple[str, str]]:
    """Accept and route emails (Message-ID, text, sender); their (case id, queue)."""
    ids = [store.accept(email(mid, text, sender=sender), b"raw").message_id for mid, text, sender in mails]
    drain(settings)
    out = []
    for message_id in ids:
        message = store.get_message(message_id)
        assert message is not None and message.decision is not None and message.conversation_id is not None
        out.append((message.conversation_id, message.decision.queue))
    return out


def test_case_routes_want_a_token(desk: Desk) -> None:  # noqa: F811
    for method, path in (("GET", "/api/cases"), ("GET", "/api/cases/HL-1"), ("POST", "/api/cases/next"),
                         ("POST", "/api/cases/HL-1/reply"), ("POST", "/api/cases/HL-1/resolve"),
                         ("POST", "/api/cases/HL-1/reassign"), ("POST", "/api/cases/HL-1/merge")):  # fmt: skip
        answer = desk.client.request(method, path, json={})
        assert answer.status_code == 401 and answer.headers["www-authenticate"] == "Bearer", (method, path)
        bad = desk.client.request(method, path, json={}, headers={"Authorization": "Bearer hla_nope"})
        assert bad.status_code == 401, (method, path)


def test_read_list_reply_resolve_and_403_outside_queues(desk: Desk, settings: Settings, store: Store) -> None:  # noqa: F811
    [(fraud, queue)] = routed(settings, store, ("ca1@example.com", "Fraud! someone stole my card", "ann@example.com"))
    assert queue == "security"
    reference = desk.client.get(f"/api/cases/{fraud}", headers=desk.auth("other")).json()[0]["reference"]

    # "other" works security, "agent" works general only.
    for handle in (reference, "<ca1@example.com>", "ca1@example.com", "ann@example.com"):
        read = desk.client.get(f"/api/cases/{handle}", headers=desk.auth("other"))
        assert read.status_code == 200, handle
        [view] = read.json()
        assert view["case"] == fraud and view["queue"] == "security" and view["matched_by"]
        assert view["messages"][0]["from"]["address"] == "ann@example.com"
        assert desk.client.get(f"/api/cases/{handle}", headers=desk.auth("agent")).status_code == 403
    assert desk.client.get("/api/cases/HL-NOTHING", headers=desk.auth("other")).status_code == 404

    listed = desk.client.get("/api/cases", params={"queue": "security", "status": "open"}, headers=desk.auth("other"))
    assert [c["case"] for c in listed.json()] == [fraud]
    assert desk.client.get("/api/cases", headers=desk.auth("agent")).json() == []  # not in their queues
    assert desk.client.get("/api/cases", params={"queue": "security"}, headers=desk.auth("agent")).status_code == 403
    found = desk.client.get("/api/cases", params={"q": "ann@example.com"}, headers=desk.auth("supervisor")).json()
    assert [(c["case"], c["matched_by"]) for c in found] == [(fraud, "email")]

    for action, body in (("reply", {"text": "we blocked it"}), ("resolve", {}), ("merge", {"into": reference})):
        refused = desk.client.post(f"/api/cases/{reference}/{action}", headers=desk.auth("agent"), json=body)
        assert refused.status_code == 403, action
    assert desk.client.post("/api/cases/HL-NOTHING/resolve", headers=desk.auth("other")).status_code == 404
    empty = desk.client.post(f"/api/cases/{reference}/reply", headers=desk.auth("other"), json={"text": "  "})
    assert empty.status_code == 422

    taken = desk.client.post("/api/cases/next", headers=desk.auth("other"))
    assert taken.status_code == 200 and taken.json()["case"] == fraud and taken.json()["agent"] == desk.ids["other"]
    assert desk.client.post("/api/cases/next", headers=desk.auth("other")).status_code == 204  # nothing else waits
    outside = desk.client.post("/api/cases/next", headers=desk.auth("other"), json={"queues": ["general"]})
    assert outside.status_code == 403
    mine = desk.client.get("/api/cases", params={"agent": "me"}, headers=desk.auth("other")).json()
    assert [c["case"] for c in mine] == [fraud]

    replied = desk.client.post(f"/api/cases/{reference}/reply", headers=desk.auth("other"), json={"text": "Blocked."})
    assert replied.status_code == 200 and replied.json()["status"] == "pending" and not replied.json()["newer"]
    assert replied.json()["to"] == "ann@example.com" and replied.json()["channel"] == "email"
    drain(settings)
    view = desk.client.get(f"/api/cases/{reference}", headers=desk.auth("other")).json()[0]
    assert view["status"] == "pending" and any(r["purpose"] == "answer" and r["text"] == "Blocked."
                                               for r in view["replies"])  # fmt: skip

    resolved = desk.client.post(f"/api/cases/{reference}/resolve", headers=desk.auth("other"))
    assert resolved.status_code == 200 and resolved.json()["was"] == "pending" and resolved.json()["queue"] == queue
    again = desk.client.post(f"/api/cases/{reference}/resolve", headers=desk.auth("other"))
    assert again.status_code == 409 and "already resolved" in again.json()["detail"]
    late = desk.client.post(f"/api/cases/{reference}/reply", headers=desk.auth("other"), json={"text": "one more"})
    assert late.status_code == 409
    assert (
        desk.client.get("/api/cases", params={"status": "resolved"}, headers=desk.auth("other")).json()[0]["case"]
        == fraud
    )


def test_reassign_is_for_supervisors(desk: Desk, settings: Settings, store: Store) -> None:  # noqa: F811
    [(case, _)] = routed(settings, store, ("rs1@example.com", "Fraud: my card was stolen", "rs@example.com"))
    body = {"agent": "other@desk.example"}
    assert desk.client.post(f"/api/cases/{case}/reassign", headers=desk.auth("other"), json=body).status_code == 403
    moved = desk.client.post(f"/api/cases/{case}/reassign", headers=desk.auth("supervisor"), json=body)
    assert moved.status_code == 200 and moved.json()["agent"] == desk.ids["other"]
    assert moved.json()["place"] == "taken"
    nobody = desk.client.post(f"/api/cases/{case}/reassign", headers=desk.auth("supervisor"), json={"agent": "x@y.z"})
    assert nobody.status_code == 422
    # Given to "agent" (who does not work security): the case is theirs to answer now.
    to_agent = {"agent": desk.ids["agent"]}
    given = desk.client.post(f"/api/cases/{case}/reassign", headers=desk.auth("admin"), json=to_agent)
    assert given.status_code == 200
    assert desk.client.get(f"/api/cases/{case}", headers=desk.auth("agent")).status_code == 200
    answer = desk.client.post(f"/api/cases/{case}/reply", headers=desk.auth("agent"), json={"text": "On it."})
    assert answer.status_code == 200 and answer.json()["status"] == "pending"


def test_ambiguous_write_refuses_with_the_matches_and_merge(desk: Desk, settings: Settings, store: Store) -> None:  # noqa: F811
    (first, _), (second, _) = routed(
        settings, store,
        ("am1@example.com", "Fraud: someone used my card", "amy@example.com"),
        ("am2@example.com", "Fraud: and my phone was stolen too", "amy@example.com"),
    )  # fmt: skip
    assert first != second
    read = desk.client.get("/api/cases/amy@example.com", headers=desk.auth("other"))
    assert read.status_code == 200 and {v["case"] for v in read.json()} == {first, second}  # reads list every match

    for action, body in (("resolve", {}), ("reply", {"text": "hello"}), ("merge", {"into": second})):
        refused = desk.client.post(f"/api/cases/amy@example.com/{action}", headers=desk.auth("other"), json=body)
        assert refused.status_code == 409, action
        assert {m["case"] for m in refused.json()["matches"]} == {first, second}
        assert all(m["how"] == "email" for m in refused.json()["matches"]) and "name one" in refused.json()["detail"]
    amy = {"into": "amy@example.com"}
    into_many = desk.client.post(f"/api/cases/{first}/merge", headers=desk.auth("other"), json=amy)
    assert into_many.status_code == 409
    for case in (first, second):  # nothing was done to either
        assert desk.client.get(f"/api/cases/{case}", headers=desk.auth("other")).json()[0]["status"] == "open"

    merged = desk.client.post("/api/cases/<am2@example.com>/merge", headers=desk.auth("other"), json={"into": first})
    assert merged.status_code == 200 and merged.json() == {"source": second, "target": first,
                                                           "messages": merged.json()["messages"]}  # fmt: skip
    assert len(merged.json()["messages"]) == 1
    itself = desk.client.post(f"/api/cases/{first}/merge", headers=desk.auth("other"), json={"into": first})
    assert itself.status_code == 409 and "itself" in itself.json()["detail"]
    view = desk.client.get(f"/api/cases/{first}", headers=desk.auth("other")).json()[0]
    assert len(view["messages"]) == 2


def test_two_agents_calling_next_at_once_get_different_cases(desk: Desk, settings: Settings, store: Store) -> None:  # noqa: F811
    cases = routed(
        settings, store,
        *[(f"race{n}@example.com", "Fraud! someone stole my card", f"race{n}@example.com") for n in range(3)],
    )  # fmt: skip
    assert {queue for _, queue in cases} == {"security"}
    tokens = [desk.tokens["other"]]
    for n in range(5):
        added = desk.agents.add(f"Racer {n}", f"racer{n}@desk.example", queues=["security"])
        tokens.append(desk.agents.rotate_token(added.id))
    app = desk.client.app
    start = threading.Barrier(len(tokens))
    got: list[tuple[int, str | None]] = []
    lock = threading.Lock()

    def take(token: str) -> None:
        client = TestClient(app)
        start.wait()
        answer = client.post("/api/cases/next", headers={"Authorization": f"Bearer {token}"})
        with lock:
            got.append((answer.status_code, answer.json()["case"] if answer.status_code == 200 else None))

    threads = [threading.Thread(target=take, args=(token,)) for token in tokens]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    taken = [case for code, case in got if case is not None]
    assert sorted(taken) == sorted(case for case, _ in cases)  # each case once, to one agent
    assert sorted(code for code, _ in got) == [200] * 3 + [204] * 3


def test_a_follow_up_arriving_while_the_agent_replies_keeps_the_case_open(
    desk: Desk,  # noqa: F811
    settings: Settings,
    store: Store,
) -> None:
    [(case, _)] = routed(settings, store, ("fu1@example.com", "Fraud! my card was stolen", "fu@example.com"))
    seen = len(desk.client.post("/api/cases/next", headers=desk.auth("other")).json()["messages"])
    store.accept(email("fu2@example.com", "and my phone too", sender="fu@example.com", in_reply_to="fu1@example.com"),
                 b"raw")  # fmt: skip
    drain(settings)
    replied = desk.client.post(
        f"/api/cases/{case}/reply", headers=desk.auth("other"), json={"text": "Blocked.", "seen": seen}
    )
    assert replied.status_code == 200 and replied.json()["newer"] and replied.json()["status"] == "open"
    view = desk.client.get(f"/api/cases/{case}", headers=desk.auth("other")).json()[0]
    assert len(view["messages"]) == seen + 1 and view["agent"] == desk.ids["other"]
