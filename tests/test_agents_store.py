"""The agents' store in a real PostgreSQL, its secrets, its sessions and sign-in limit in a real Redis, and the
`helpline agent add|list|set-password|rotate-token|away|back` commands."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from core.agent_settings import AgentSeed, Role
from core.settings import Settings
from core.store import Store, text
from desk.agents import AgentChanges, AgentExists, AgentStore, LastAdmin
from desk.auth import API_TOKEN_PREFIX, Sessions, SignInLimiter, token_digest
from helpline.cli import app
from helpline.record_setup import migrate_record
from record.engine import engine_for
from record.models import Agent

PASSWORD = "correct horse battery"


@pytest.fixture
def engine(record_url: str) -> Iterator[Engine]:
    engine = engine_for(record_url)
    yield engine
    engine.dispose()


def test_add_find_update_and_the_hashes_kept(engine: Engine) -> None:
    agents = AgentStore(engine, known_queues={"general", "security"})
    ana = agents.add("Ana", "Ana@Desk.example", queues=["general"], languages=["en", "zh"], capacity=3)
    assert (ana.email, ana.role, ana.queues, ana.capacity, ana.away) == (
        "ana@desk.example",
        Role.AGENT,
        ["general"],
        3,
        False,
    )
    assert agents.find("ANA@desk.example") == ana == agents.find(ana.id)
    with pytest.raises(AgentExists):
        agents.add("Ana again", "ana@desk.example")
    with pytest.raises(ValueError, match="unknown queue nope"):
        agents.add("Bo", "bo@desk.example", queues=["nope"])
    with pytest.raises(LookupError, match="no agent ghost"):
        agents.find("ghost")
    moved = agents.update(ana.id, AgentChanges(queues=["security"], role=Role.SUPERVISOR))
    assert (moved.queues, moved.role, moved.name) == (["security"], Role.SUPERVISOR, "Ana")
    assert agents.set_away(ana.id, True).away and not agents.set_away(ana.id, False).away

    agents.set_password(ana.id, PASSWORD)
    token = agents.rotate_token(ana.id)
    with engine.connect() as connection:
        row = connection.execute(select(Agent.password_hash, Agent.token_hash)).one()
    assert row.password_hash.startswith("$argon2id$") and PASSWORD not in row.password_hash
    assert token.startswith(API_TOKEN_PREFIX) and row.token_hash == token_digest(token) and token not in row.token_hash
    assert agents.by_token(token) == agents.get(ana.id)
    assert agents.check_password("ana@desk.example", PASSWORD) == agents.get(ana.id)
    assert agents.check_password("ana@desk.example", PASSWORD + "x") is None
    assert agents.check_password("nobody@desk.example", PASSWORD) is None
    with pytest.raises(ValueError, match="at least 10"):
        agents.set_password(ana.id, "short")


def test_rotating_a_secret_ends_sessions_and_the_old_token(engine: Engine, store: Store) -> None:
    agents = AgentStore(engine)
    ana = agents.add("Ana", "ana@desk.example")
    first = agents.rotate_token(ana.id)
    sessions = Sessions(store, 3600)
    signed_in = sessions.open(ana.id, agents.find(ana.id).session_version)
    found = sessions.find(signed_in)
    assert found is not None and found.version == agents.find(ana.id).session_version
    second = agents.rotate_token(ana.id)
    assert agents.by_token(first) is None and agents.by_token(second) is not None
    assert found.version < agents.find(ana.id).session_version  # the session's version is stale now
    before = agents.find(ana.id).session_version
    agents.set_password(ana.id, PASSWORD)
    assert agents.find(ana.id).session_version == before + 1
    assert store.redis.ttl(store.key("session", token_digest(signed_in))) <= 3600
    assert [text(k) for k in store.redis.keys("*")] == [store.key("session", token_digest(signed_in))]
    assert store.redis.get(store.key("session", token_digest(signed_in))) == f"{ana.id} {found.version}".encode()
    sessions.close(signed_in)
    assert sessions.find(signed_in) is None and sessions.find("not-a-session") is None


def test_the_last_active_admin_stays(engine: Engine) -> None:
    agents = AgentStore(engine)
    root = agents.add("Root", "root@desk.example", role=Role.ADMIN)
    with pytest.raises(LastAdmin):
        agents.update(root.id, AgentChanges(role=Role.AGENT))
    with pytest.raises(LastAdmin):
        agents.update(root.id, AgentChanges(active=False))
    assert agents.find(root.id).role is Role.ADMIN  # the refused change was rolled back
    other = agents.add("Other", "other@desk.example", role=Role.ADMIN)
    assert agents.update(root.id, AgentChanges(role=Role.AGENT)).role is Role.AGENT
    with pytest.raises(LastAdmin):
        agents.update(other.id, AgentChanges(role=Role.SUPERVISOR))


def test_sign_in_limit_per_account_and_per_client(store: Store) -> None:
    limiter = SignInLimiter(store, attempts=3, window_seconds=900)
    for _ in range(3):
        assert limiter.attempt("ana@desk.example", "10.0.0.1") == 0  # three failures, each counted
    assert 0 < limiter.attempt("ANA@desk.example", "10.0.0.9") <= 900  # the account, from any address
    assert 0 < limiter.attempt("bo@desk.example", "10.0.0.1") <= 900  # the address, for any account
    assert limiter.attempt("bo@desk.example", "10.0.0.2") == 0
    limiter.succeeded("bo@desk.example", "10.0.0.2")
    for _ in range(5):  # successes take their attempt back: an agent signing in all day is never limited
        assert limiter.attempt("bo@desk.example", "10.0.0.2") == 0
        limiter.succeeded("bo@desk.example", "10.0.0.2")


def test_sign_in_limit_holds_against_attempts_sent_at_once(store: Store) -> None:
    limiter = SignInLimiter(store, attempts=3, window_seconds=900)
    start = threading.Barrier(12)

    def try_once() -> int:
        start.wait()
        return limiter.attempt("ana@desk.example", "10.0.0.1")

    with ThreadPoolExecutor(12) as pool:
        waits = list(pool.map(lambda _: try_once(), range(12)))
    assert sum(1 for wait in waits if wait == 0) == 3  # checked-then-counted let all twelve through


def test_seeding_is_idempotent_and_keeps_stored_changes(settings: Settings, engine: Engine) -> None:
    seeded = settings.model_copy(update={"agents": [
        AgentSeed(name="Ana", email="ana@desk.example", queues=["general"], role=Role.ADMIN),
        AgentSeed(name="Bo", email="bo@desk.example", capacity=2),
    ]})  # fmt: skip
    assert "agent seeded: ana@desk.example" in migrate_record(seeded)
    agents = AgentStore(engine)
    bo = agents.find("bo@desk.example")
    agents.update(bo.id, AgentChanges(capacity=9))
    assert not any(line.startswith("agent seeded") for line in migrate_record(seeded))
    assert [(a.email, a.capacity) for a in agents.all()] == [("ana@desk.example", 5), ("bo@desk.example", 9)]


def _cli(settings: Settings, tmp_path: Path, *args: str, stdin: str | None = None) -> tuple[int, str]:
    settings_file = tmp_path / "settings.toml"
    settings_file.write_text(f'[database]\nurl = "{settings.database.url}"\n', encoding="utf-8")
    result = CliRunner().invoke(app, ["agent", *args, "--settings", str(settings_file)], input=stdin)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def test_agent_commands(settings: Settings, engine: Engine, tmp_path: Path) -> None:
    code, out = _cli(settings, tmp_path, "add", "Ana Li", "--email", "ana@desk.example", "-q", "general", "-l", "zh")
    assert code == 0 and "ana@desk.example" in out and "general" in out, out
    assert _cli(settings, tmp_path, "add", "Ana", "--email", "ana@desk.example")[0] == 1
    code, out = _cli(settings, tmp_path, "add", "Bo", "--email", "bo@desk.example", "--role", "supervisor")
    assert code == 0 and AgentStore(engine).find("bo@desk.example").role is Role.SUPERVISOR, out
    code, out = _cli(settings, tmp_path, "add", "X", "--email", "x@desk.example", "-q", "nowhere")
    assert code == 1 and "unknown queue nowhere" in out
    code, out = _cli(settings, tmp_path, "set-password", "ana@desk.example", "--stdin", stdin=PASSWORD + "\n")
    assert code == 0 and "password set" in out
    code, out = _cli(settings, tmp_path, "set-password", "ana@desk.example", stdin=f"{PASSWORD}2\n{PASSWORD}2\n")
    assert code == 0 and PASSWORD not in out, out  # prompted twice, not echoed
    agents = AgentStore(engine)
    assert agents.check_password("ana@desk.example", PASSWORD + "2") is not None
    code, out = _cli(settings, tmp_path, "rotate-token", "ana@desk.example")
    token = out.strip().splitlines()[-1]
    assert code == 0 and agents.by_token(token) == agents.find("ana@desk.example")
    assert _cli(settings, tmp_path, "away", "ana@desk.example") == (0, "ana@desk.example: away\n")
    code, listed = _cli(settings, tmp_path, "list")
    assert code == 0 and "[away]" in listed and "Ana Li" in listed and token not in listed
    assert _cli(settings, tmp_path, "back", "ana@desk.example") == (0, "ana@desk.example: back\n")
    code, out = _cli(settings, tmp_path, "away", "ghost@desk.example")
    assert code == 1 and "no agent ghost@desk.example" in out


def test_two_admins_demoting_each_other_at_once_leave_one_admin(engine: Engine) -> None:
    agents = AgentStore(engine)
    one, two = (agents.add(n, f"{n}@desk.example", role=Role.ADMIN).id for n in ("one", "two"))
    start = threading.Barrier(2)
    outcomes: list[str] = []

    def demote(agent_id: str) -> None:
        start.wait()
        try:
            agents.update(agent_id, AgentChanges(role=Role.AGENT))
            outcomes.append("demoted")
        except LastAdmin:
            outcomes.append("refused")

    threads = [threading.Thread(target=demote, args=(agent_id,)) for agent_id in (one, two)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(outcomes) == ["demoted", "refused"]
    assert [a.role for a in agents.all()].count(Role.ADMIN) == 1
