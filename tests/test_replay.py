"""`helpline replay`: dead letters are re-parsed; those that now parse are stored, the rest stay with their error."""

from __future__ import annotations

from core.envelope import Channel
from core.settings import Settings
from core.store import Store
from tests.mail_factory import raw_email
from workers.replay import replay_dead_letters


def test_replay_stores_what_now_parses_and_keeps_what_does_not(store: Store, settings: Settings) -> None:
    good = store.dead_letter(Channel.EMAIL, raw_email(message_id="<dl-1@example.com>"), "parser crashed: bug #12",
                             {"mail_from": "alice@example.com", "rcpt_tos": ["help@wallet.example"]})  # fmt: skip
    bad = store.dead_letter(Channel.EMAIL, b"", "parse error: empty")
    lines: list[str] = []
    assert replay_dead_letters(settings, [], list_only=False, echo=lines.append) is False

    (message_id,) = store.message_ids()
    message = store.get_message(message_id)
    assert message is not None and message.envelope.message_id == "dl-1@example.com"
    assert message.envelope.recipient is not None and message.envelope.recipient.address == "help@wallet.example"
    assert [letter.id for letter in store.dead_letters()] == [bad]
    assert store.dead_letters()[0].attempts == 2
    assert any(line.startswith(f"{good}: stored as {message_id}") for line in lines)
    assert any(line.startswith(f"{bad}: still failing") for line in lines)


def test_replay_of_an_unknown_id_says_so(store: Store, settings: Settings) -> None:
    lines: list[str] = []
    assert replay_dead_letters(settings, ["d-nope"], list_only=False, echo=lines.append) is False
    assert lines[0] == "d-nope: no such dead letter"


def test_a_replayed_bounce_is_still_a_bounce(store: Store, settings: Settings) -> None:
    store.dead_letter(Channel.EMAIL, raw_email(message_id="<dl-b@example.com>"), "bug",
                      {"mail_from": "", "rcpt_tos": ["support@wallet.example"]})  # fmt: skip
    assert replay_dead_letters(settings, [], list_only=False, echo=lambda line: None)
    (message_id,) = store.message_ids()
    message = store.get_message(message_id)
    assert message is not None and message.envelope.bounce
    assert message.envelope.no_auto_reply_reason is not None


def test_a_replayed_message_arrived_when_it_was_dead_lettered(store: Store, settings: Settings) -> None:
    letter = store.dead_letter(Channel.EMAIL, raw_email(message_id="<late@example.com>"), "bug",
                               {"mail_from": "a@example.com", "rcpt_tos": ["support@wallet.example"]})  # fmt: skip
    (dead,) = store.dead_letters()
    assert replay_dead_letters(settings, [letter], list_only=False, echo=lambda line: None)
    (message_id,) = store.message_ids()
    assert store.get_message(message_id).envelope.received_at == dead.received_at  # type: ignore[union-attr]
