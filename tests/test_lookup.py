"""Finding cases by what a person has at hand (desk/lookup.py), against the real Redis and PostgreSQL: reads list
every match, a write naming several cases refuses and lists them; the CLI and `helpline explain` take the same."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from core.envelope import Channel, Envelope, Party
from core.ids import conversation_reference
from core.settings import Settings
from core.store import Store
from desk.context import desk_context
from desk.lookup import Ambiguous, find, one_case
from tests.conftest import ROOT
from tests.support.work import drain
from tests.test_pipeline import email


def case_of(store: Store, message_id: str) -> str:
    message = store.get_message(message_id)
    assert message is not None and message.conversation_id is not None
    return message.conversation_id


@pytest.fixture
def two_cases(store: Store, settings: Settings) -> tuple[str, str, str]:
    """Two email cases of alice@example.com (two unrelated mails) and one SMS case; returns their case ids."""
    a = store.accept(email("la1@example.com", "my top-up failed"), b"raw")
    b = store.accept(email("lb1@example.com", "how do I change my PIN?"), b"raw")
    sms = Envelope(channel=Channel.SMS, provider_id="SM0123456789abcdef", sender=Party(address="+8613800138002"),
                   text="my card was charged twice")  # fmt: skip
    c = store.accept(sms, b"raw")
    drain(settings)
    return case_of(store, a.message_id), case_of(store, b.message_id), case_of(store, c.message_id)


def test_every_handle_finds_its_case(store: Store, settings: Settings, two_cases: tuple[str, str, str]) -> None:
    ctx = desk_context(settings, store)
    first, second, texted = two_cases
    assert one_case(ctx, conversation_reference(first)).case_id == first
    assert one_case(ctx, conversation_reference(first).lower()).case_id == first
    assert one_case(ctx, first).case_id == first
    for message_id in ("la1@example.com", "<la1@example.com>"):
        match = one_case(ctx, message_id)
        assert (match.case_id, match.how) == (first, "Message-ID")
    assert one_case(ctx, "SM0123456789abcdef").case_id == texted
    assert one_case(ctx, "+86 138 0013 8002").case_id == texted  # a phone number as a person types it
    stored = store.conversation(second)["messages"][0]
    assert one_case(ctx, stored).message_id == stored
    assert find(ctx, "nobody@example.com") == []


def test_a_read_lists_every_match_and_a_write_refuses_to_guess(
    store: Store, settings: Settings, two_cases: tuple[str, str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx = desk_context(settings, store)
    first, second, _ = two_cases
    assert {m.case_id for m in find(ctx, "Alice@Example.com")} == {first, second}
    with pytest.raises(Ambiguous, match="matches 2 cases") as refused:
        one_case(ctx, "alice@example.com")
    assert {m.case_id for m in refused.value.matches} == {first, second}

    from helpline.cli import app

    monkeypatch.setenv("HELPLINE_REDIS__URL", str(settings.redis.url))
    monkeypatch.setenv("HELPLINE_DATABASE__URL", str(settings.database.url))
    shipped = ["--settings", str(ROOT / "settings.toml")]
    runner = CliRunner()
    write = runner.invoke(app, ["agent", "resolve", "alice@example.com", *shipped])
    assert write.exit_code == 4
    assert conversation_reference(first) in write.output and conversation_reference(second) in write.output
    read = runner.invoke(app, ["agent", "show", "alice@example.com", *shipped])
    assert read.exit_code == 0, read.output
    assert conversation_reference(first) in read.output and conversation_reference(second) in read.output
    explained = runner.invoke(app, ["explain", conversation_reference(first), *shipped])
    assert explained.exit_code == 0, explained.output
    assert f"== case {conversation_reference(first)}" in explained.output and "decision:" in explained.output
    one = runner.invoke(app, ["agent", "resolve", "<la1@example.com>", "--as", "li", *shipped])
    assert one.exit_code == 0 and f"{first}: resolved" in one.output
