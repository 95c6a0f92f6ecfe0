"""The agents' API over FastAPI's TestClient, on a real Redis and a real PostgreSQL: every route refuses a caller
without a valid token (401), agents acting outside their queues or role get 403, failed sign-ins hit 429."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from core.agent_settings import Role
from core.settings import Settings
from core.store import Store
from desk.agents import AgentStore
from record.engine import engine_for
from tests.support.work import drain
from tests.test_pipeline import email
from web.app import create_app

PASSWORD = "correct horse battery"


@dataclass
class Desk:
    client: TestClient
    agents: AgentStore
    ids: dict[str, str]  # admin, supervisor, agent -> agent id
    tokens: dict[str, str]  # the same -> API token

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    assert settings.database.url is not None
    engine = engine_for(settings.database.url)
    yield engine
    engine.dispose()


def make_desk(settings: Settings, store: Store, engine: Engine) -> Desk:
    agents = AgentStore(engine)
    ids, tokens = {}, {}
    for who, role, queues in (("admin", Role.ADMIN, []), ("supervisor", Role.SUPERVISOR, []),
                              ("agent", Role.AGENT, ["general"]), ("other", Role.AGENT, ["security"])):  # fmt: skip
        added = agents.add(who.title(), f"{who}@desk.example", queues=queues, role=role)
        agents.set_password(added.id, PASSWORD)
        ids[who], tokens[who] = added.id, agents.rotate_token(added.id)
    return Desk(TestClient(create_app(settings, store, engine)), agents, ids, tokens)


@pytest.fixture
def desk(settings: Settings, store: Store, engine: Engine) -> Desk:
    return make_desk(settings, store, engine)


def test_every_route_wants_a_valid_token(desk: Desk) -> None:
    spec = desk.client.get("/api/openapi.json").json()
    routes = [(method.upper(), path.replace("{agent_id}", desk.ids["agent"]).replace("{queue}", "general"))
              for path, methods in spec["paths"].items() for method in methods]  # fmt: skip
    assert len(routes) >= 11 and ("POST", "/session") in routes
    for method, path in routes:
        if (method, path) == ("POST", "/session"):
            continue
        for headers in ({}, {"Authorization": "Bearer hla_not-a-token"}, {"Authorization": "Basic YWxhZGRpbjpv"}):
            answer = desk.client.request(method, "/api" + path, headers=headers, json={})
            assert answer.status_code == 401, (method, path, headers, answer.text)
            assert answer.headers["www-authenticate"] == "Bearer"
    assert desk.client.get("/api/docs").status_code == 200 and "openapi.json" in desk.client.get("/api/docs").text


def test_sign_in_sign_out_and_rotation_end_sessions(desk: Desk) -> None:
    signed = desk.client.post("/api/session", json={"email": "Agent@desk.example", "password": PASSWORD})
    assert signed.status_code == 200 and signed.json()["agent"]["id"] == desk.ids["agent"]
    session = {"Authorization": f"Bearer {signed.json()['token']}"}
    assert desk.client.get("/api/me", headers=session).json()["email"] == "agent@desk.example"
    assert desk.client.delete("/api/session", headers=session).status_code == 204
    assert desk.client.get("/api/me", headers=session).status_code == 401

    again = desk.client.post("/api/session", json={"email": "agent@desk.example", "password": PASSWORD})
    session = {"Authorization": f"Bearer {again.json()['token']}"}
    assert desk.client.get("/api/me", headers=session).status_code == 200
    desk.agents.rotate_token(desk.ids["agent"])  # rotating the API token ends sessions too
    assert desk.client.get("/api/me", headers=session).status_code == 401
    assert desk.client.get("/api/me", headers=desk.auth("agent")).status_code == 401  # and the old token

    sign_in = {"email": "other@desk.example", "password": PASSWORD}
    first = {"Authorization": f"Bearer {desk.client.post('/api/session', json=sign_in).json()['token']}"}
    changed = desk.client.post("/api/me/password", headers=first, json={"current": PASSWORD, "new": "a new passphrase"})
    assert changed.status_code == 200
    assert desk.client.get("/api/me", headers=first).status_code == 401  # the session it was changed from ended too
    assert desk.client.get("/api/me", headers={"Authorization": f"Bearer {changed.json()['token']}"}).status_code == 200
    assert desk.client.get("/api/me", headers=desk.auth("other")).status_code == 200  # the API token is no session
    wrong = desk.client.post("/api/me/password", headers=desk.auth("other"), json={"current": "nope", "new": "x" * 12})
    assert wrong.status_code == 403
    short = desk.client.post(
        "/api/me/password", headers=desk.auth("other"), json={"current": "a new passphrase", "new": "short"}
    )
    assert short.status_code == 400
    inactive = desk.client.patch(f"/api/agents/{desk.ids['other']}", headers=desk.auth("admin"), json={"active": False})
    assert inactive.status_code == 200 and not inactive.json()["active"]
    assert desk.client.get("/api/me", headers=desk.auth("other")).status_code == 401
    inactive_sign_in = {"email": "other@desk.example", "password": "a new passphrase"}
    assert desk.client.post("/api/session", json=inactive_sign_in).status_code == 401


def test_failed_sign_ins_are_limited_per_account_and_per_client(
    settings: Settings, store: Store, engine: Engine
) -> None:
    behind_proxy = settings.model_copy(
        update={"web": settings.web.model_copy(update={"trust_forwarded_headers": True})}
    )
    desk = make_desk(behind_proxy, store, engine)

    def sign_in(email: str, password: str, client: str) -> tuple[int, str | None]:
        answer = desk.client.post("/api/session", json={"email": email, "password": password},
                                  headers={"X-Forwarded-For": f"203.0.113.9, {client}"})  # fmt: skip
        return answer.status_code, answer.headers.get("retry-after")

    for n in range(5):
        assert sign_in("agent@desk.example", f"guess {n}", f"198.51.100.{n}") == (401, None)
    code, wait = sign_in("agent@desk.example", PASSWORD, "198.51.100.77")  # the right password, too late
    assert code == 429 and wait is not None and 0 < int(wait) <= 15 * 60
    assert sign_in("admin@desk.example", PASSWORD, "198.51.100.77")[0] == 200  # another account is not locked
    for n in range(5):
        assert sign_in(f"nobody{n}@desk.example", "guess", "192.0.2.1")[0] == 401
    assert sign_in("admin@desk.example", PASSWORD, "192.0.2.1")[0] == 429  # that address is
    assert desk.client.get("/api/me", headers=desk.auth("agent")).status_code == 200  # tokens still work
    assert desk.client.post("/api/session", json={"email": "a@b.example"}).status_code == 422


def test_agents_routes_by_role(desk: Desk) -> None:
    listed = desk.client.get("/api/agents", headers=desk.auth("agent"))
    assert listed.status_code == 200 and {a["email"] for a in listed.json()} >= {"admin@desk.example"}
    assert all("password_hash" not in a and "token_hash" not in a for a in listed.json())
    assert desk.client.get(f"/api/agents/{desk.ids['admin']}", headers=desk.auth("agent")).json()["role"] == "admin"
    assert desk.client.get("/api/agents/a-nobody", headers=desk.auth("agent")).status_code == 404

    new = {"name": "Dee", "email": "dee@desk.example", "queues": ["security"], "capacity": 2, "languages": ["zh"]}
    for who in ("agent", "supervisor"):
        assert desk.client.post("/api/agents", headers=desk.auth(who), json=new).status_code == 403
    added = desk.client.post("/api/agents", headers=desk.auth("admin"), json=new)
    assert added.status_code == 201 and added.json()["queues"] == ["security"] and not added.json()["has_token"]
    assert desk.client.post("/api/agents", headers=desk.auth("admin"), json=new).status_code == 409
    bad = {**new, "email": "eve@desk.example", "queues": ["nowhere"]}
    assert desk.client.post("/api/agents", headers=desk.auth("admin"), json=bad).status_code == 422
    dee = added.json()["id"]

    change = {"capacity": 4, "role": "supervisor"}
    assert desk.client.patch(f"/api/agents/{dee}", headers=desk.auth("supervisor"), json=change).status_code == 403
    changed = desk.client.patch(f"/api/agents/{dee}", headers=desk.auth("admin"), json=change)
    assert changed.status_code == 200 and (changed.json()["capacity"], changed.json()["role"]) == (4, "supervisor")
    assert changed.json()["queues"] == ["security"]  # left out: kept
    demote = desk.client.patch(f"/api/agents/{desk.ids['admin']}", headers=desk.auth("admin"), json={"role": "agent"})
    assert demote.status_code == 409 and "last active admin" in demote.json()["detail"]
    assert desk.client.patch("/api/agents/a-nobody", headers=desk.auth("admin"), json={}).status_code == 404

    assert desk.client.post(f"/api/agents/{dee}/token", headers=desk.auth("supervisor")).status_code == 403
    token = desk.client.post(f"/api/agents/{dee}/token", headers=desk.auth("admin")).json()["token"]
    me = desk.client.get("/api/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200 and me.json()["id"] == dee and me.json()["has_token"]


def test_away_and_back(desk: Desk) -> None:
    agent, other = desk.ids["agent"], desk.ids["other"]
    assert desk.client.post(f"/api/agents/{agent}/away", headers=desk.auth("agent")).json()["away"] is True
    assert desk.agents.find(agent).away
    assert desk.client.post(f"/api/agents/{other}/away", headers=desk.auth("agent")).status_code == 403
    assert not desk.agents.find(other).away
    assert desk.client.post(f"/api/agents/{other}/away", headers=desk.auth("supervisor")).json()["away"] is True
    assert desk.client.post(f"/api/agents/{agent}/back", headers=desk.auth("admin")).json()["away"] is False
    assert desk.client.post("/api/agents/a-nobody/back", headers=desk.auth("supervisor")).status_code == 404


def test_queues_with_counts_and_sla_risk(desk: Desk, settings: Settings, store: Store) -> None:
    store.accept(email("q1@example.com", "Fraud: someone stole my phone"), b"raw")
    store.accept(email("q2@example.com", "Fraud: my card was stolen", sender="bob@example.com"), b"raw")
    drain(settings)
    mine = desk.client.get("/api/queues", headers=desk.auth("agent"))
    assert [q["queue"] for q in mine.json()] == ["general"] and mine.json()[0]["waiting"] == 0
    assert desk.client.get("/api/queues/security", headers=desk.auth("agent")).status_code == 403
    assert desk.client.get("/api/queues/nowhere", headers=desk.auth("agent")).status_code == 404
    security = desk.client.get("/api/queues/security", headers=desk.auth("other")).json()
    assert security["waiting"] == 2 and security["open"] == 0
    urgent = next(p for p in security["priorities"] if p["priority"] == "urgent")
    assert urgent["waiting"] == 2 and urgent["first_response_breached"] == 0 and urgent["oldest_age_seconds"] >= 0
    every = desk.client.get("/api/queues", headers=desk.auth("supervisor")).json()
    names = [q["queue"] for q in every]
    assert names == sorted(names) and {"security", "general", "escalations"} <= set(names)


def test_503_when_redis_is_away(desk: Desk, settings: Settings, engine: Engine) -> None:
    from core.redis_conn import connect_url
    from tests.support.ports import free_port

    dead = Store(connect_url(f"redis://127.0.0.1:{free_port()}", connect_timeout=0.2))
    client = TestClient(create_app(settings, dead, engine))
    signed = client.post("/api/session", json={"email": "agent@desk.example", "password": PASSWORD})
    assert signed.status_code == 503 and "Redis" in signed.json()["detail"]
    # An API token is looked up in the record alone: it keeps working while Redis is away.
    assert client.get("/api/me", headers=desk.auth("agent")).status_code == 200
    session = {"Authorization": "Bearer hls_a-session-needs-redis"}
    assert client.get("/api/me", headers=session).status_code == 503
