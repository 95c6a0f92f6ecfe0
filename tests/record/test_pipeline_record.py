"""The pipeline writes the record: once per message, whatever runs twice, on the real Redis, PostgreSQL and SMTP."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import Connection, Engine, event, func, select

from core.envelope import Attachment, Channel, Envelope, Party
from core.ids import conversation_reference, is_our_reference
from core.records import MessageState, utcnow
from core.settings import Settings
from core.store import Store
from record.engine import engine_for
from record.models import Contact, ContactIdentity, Conversation, Message, ThreadReference
from record.writer import ContactEntry, ConversationEntry, write_contact, write_conversation
from tests.support.smtp_sink import SmtpSink
from tests.support.work import drain
from workers import context
from workers.jobs import process_message


@pytest.fixture
def record(settings: Settings) -> Iterator[Engine]:
    assert settings.database.url is not None
    engine = engine_for(settings.database.url)
    yield engine
    engine.dispose()


def email(provider_id: str, text: str, *, sender: str = "alice@example.com", **kw: object) -> Envelope:
    fields: dict[str, object] = {
        "channel": Channel.EMAIL, "provider_id": provider_id, "sender": Party(address=sender, name="Alice"),
        "recipient": Party(address="support@wallet.example"), "subject": "Help", "text": text,
        "message_id": provider_id,
    }  # fmt: skip
    fields.update(kw)
    return Envelope.model_validate(fields)


def count(engine: Engine, model: type[object]) -> int:
    with engine.connect() as connection:
        return int(connection.scalar(select(func.count()).select_from(model)) or 0)


def test_a_routed_message_lands_in_the_record_with_its_case(
    store: Store, settings: Settings, smtp_sink: SmtpSink, record: Engine
) -> None:
    accepted = store.accept(email("r1@example.com", "Someone stole my card, fraud! 我的帳戶被凍結了"), b"raw")
    drain(settings)
    hot = store.get_message(accepted.message_id)
    assert hot is not None and hot.state is MessageState.ROUTED and hot.conversation_id is not None
    with record.connect() as connection:
        row = connection.execute(select(Message).where(Message.id == accepted.message_id)).one()._mapping
        case = connection.execute(select(Conversation)).one()._mapping
        identities = connection.scalars(select(ContactIdentity.identity)).all()
        threads = connection.execute(select(ThreadReference.reference, ThreadReference.conversation_id)).all()
    assert (row["channel"], row["provider_id"], row["state"]) == ("email", "r1@example.com", "routed")
    assert row["conversation_id"] == hot.conversation_id and row["contact_id"] == hot.contact_id
    assert hot.decision is not None and hot.decision.trace  # the decision, and why it was made
    assert row["decision"] == hot.decision.model_dump(mode="json", exclude={"trace"})
    assert row["trace"] == hot.decision.trace
    assert "fraud" in row["search_text"] and "账户被冻结" in row["search_text"]  # folded: traditional → simplified
    assert {"冻", "冻结"} <= set(row["search_bigrams"])
    assert row["recorded_at"] >= row["received_at"] - timedelta(seconds=5)
    assert case["id"] == hot.conversation_id and case["queue"] == hot.decision.queue
    assert case["reference"] == conversation_reference(hot.conversation_id)
    assert is_our_reference(case["reference"]) and len(case["reference"]) == len("HL-") + 12  # 48 random bits
    assert identities == ["email:alice@example.com"]
    assert threads == [("r1@example.com", hot.conversation_id)]
    (ack,) = smtp_sink.wait_for(1)
    assert case["reference"] in ack.message["Subject"]  # what the customer quotes is what the record holds


def test_a_job_that_runs_twice_leaves_one_row(store: Store, settings: Settings, record: Engine) -> None:
    accepted = store.accept(email("twice@example.com", "my top-up failed"), b"raw")
    drain(settings)
    # A crash after the record was written but before Redis heard the message was routed: RQ runs the job again,
    # and the pipeline with it.
    store.update_message(accepted.message_id, lambda m: setattr(m, "state", MessageState.RECEIVED))
    context.install(context.context_for(settings, store))
    assert process_message(accepted.message_id).startswith("routed")
    assert process_message(accepted.message_id).startswith("routed")  # and a plain re-delivery
    for model in (Message, Conversation, Contact, ContactIdentity, ThreadReference):
        assert count(record, model) == 1, model


def test_a_message_accepted_twice_under_new_ids_is_recorded_and_answered_once(
    store: Store, settings: Settings, smtp_sink: SmtpSink, record: Engine
) -> None:
    first = store.accept(email("again@example.com", "refund please"), b"raw")
    drain(settings)
    store.redis.delete(store.key("dedupe", "email:again@example.com"))  # expired, or lost in a failover
    second = store.accept(email("again@example.com", "refund please"), b"raw")
    assert not second.duplicate and second.message_id != first.message_id
    drain(settings)
    twin = store.get_message(second.message_id)
    assert twin is not None and twin.state is MessageState.DROPPED
    assert twin.drop_reason == f"accepted again under a new id: the record holds it as {first.message_id}"
    assert count(record, Message) == 1
    assert count(record, Conversation) == 1  # the twin's new case in Redis never reaches the record
    assert len(smtp_sink.wait_for(1)) == 1


def test_a_dropped_message_is_kept_with_its_reason(store: Store, settings: Settings, record: Engine) -> None:
    own = settings.email.outbound.sender
    accepted = store.accept(email("loop@example.com", "echo", sender=own), b"raw")
    drain(settings)
    with record.connect() as connection:
        row = connection.execute(select(Message.state, Message.drop_reason, Message.contact_id)).one()
    assert row == ("dropped", "sent by our own outbound address", None)
    context.install(context.context_for(settings, store))
    assert process_message(accepted.message_id) == "already dropped"
    assert count(record, Message) == 1


def test_a_reference_collision_gets_another_reference(record: Engine) -> None:
    now = utcnow()
    with record.begin() as connection:
        write_contact(connection, ContactEntry(id="c-1", created_at=now))
        older = ConversationEntry(id="t-0001-aaaaaaaaaaaa", contact_id="c-1", channel="sms", subject="", created_at=now)
        # Another conversation id with the same random part: the same derived reference.
        newer = ConversationEntry(id="t-0002-aaaaaaaaaaaa", contact_id="c-1", channel="sms", subject="", created_at=now)
        first = write_conversation(connection, older)
        second = write_conversation(connection, newer)
        assert write_conversation(connection, newer) == second  # a retried write keeps the one it got
    assert first == "HL-AAAAAAAAAAAA"
    assert second != first and is_our_reference(second)


def test_once_recorded_the_raw_payload_dedupe_key_and_hot_copy_start_their_retention(
    store: Store, settings: Settings, record: Engine
) -> None:
    recorded = store.accept(email("kept@example.com", "refund please"), b"raw mail")
    drain(settings)
    waiting = store.accept(email("waiting@example.com", "not processed yet"), b"raw mail")
    day = 86400
    retention = settings.retention
    assert retention.raw_payload_days * day - 60 < store.redis.ttl(store.key("raw", recorded.message_id))
    assert store.redis.ttl(store.key("raw", recorded.message_id)) <= retention.raw_payload_days * day
    assert retention.dedupe_key_days * day - 60 < store.redis.ttl(store.key("dedupe", "email:kept@example.com"))
    assert store.redis.ttl(store.key("dedupe", "email:kept@example.com")) <= retention.dedupe_key_days * day
    # Not in the record yet: kept without a limit, whatever happens to its job.
    assert store.redis.ttl(store.key("raw", waiting.message_id)) == -1
    assert store.redis.ttl(store.key("dedupe", "email:waiting@example.com")) == -1
    hot = store.redis.ttl(store.key("msg", recorded.message_id))  # then read from the record (record/messages.py)
    assert retention.hot_message_days * day - 60 < hot <= retention.hot_message_days * day
    assert store.redis.ttl(store.key("msg", waiting.message_id)) == -1


def test_a_message_is_written_in_one_statement_and_one_with_attachments_in_a_transaction(
    store: Store, settings: Settings
) -> None:
    """Without attachments the message's write is one statement, sent in autocommit (one round trip, not BEGIN,
    statement, COMMIT); with them the contact's salt, the message and its attachment rows commit together."""
    plain = store.accept(email("plain@example.com", "my top-up failed"), b"raw")
    attached = store.accept(
        email("attached@example.com", "receipt attached", sender="bob@example.com",
              attachments=[Attachment(filename="r.txt", content_type="text/plain", size=2, content_b64="aGk=")]),
        b"raw",
    )  # fmt: skip
    context.install(context.context_for(settings, store))
    statements: list[tuple[str, bool]] = []

    def seen(connection: Connection, _cursor: object, statement: str, *_args: object) -> None:
        autocommit = connection.connection.dbapi_connection.autocommit  # type: ignore[union-attr]
        statements.append((statement.split()[0].upper(), bool(autocommit)))

    engine = context.current().record
    event.listen(engine, "before_cursor_execute", seen)
    try:
        assert process_message(plain.message_id).startswith("routed")
        assert statements == [("WITH", True)]  # the message's one statement (its CTEs carry contact and case)
        statements.clear()
        assert process_message(attached.message_id).startswith("routed")
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert statements == [("WITH", False), ("UPDATE", False), ("INSERT", False)]  # message, salt, attachment row
