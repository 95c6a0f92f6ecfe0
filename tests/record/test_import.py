"""The import of Redis-only data: every message, contact and conversation Helpline kept before it had a record
lands in it, as the pipeline would have written it, and importing again adds nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, select

from core.envelope import Channel, Envelope, Party
from core.records import MessageState, utcnow
from core.settings import Settings
from core.store import Store, text
from record.engine import engine_for
from record.imports import data_imports, import_redis_data
from record.migrate import migrate
from record.models import Base, Contact, ContactIdentity, Conversation, DataImport, Message, Reply, ThreadReference
from router.normalize import normalize
from tests.support.postgres import PostgresCluster
from tests.support.smtp_sink import SmtpSink
from tests.support.work import drain


@pytest.fixture
def pipeline_record(settings: Settings) -> Iterator[Engine]:
    assert settings.database.url is not None
    engine = engine_for(settings.database.url)
    yield engine
    engine.dispose()


@pytest.fixture
def empty_record(postgres_cluster: PostgresCluster) -> Iterator[Engine]:
    url = postgres_cluster.new_database()
    engine = engine_for(url)
    yield engine
    engine.dispose()
    postgres_cluster.drop(url)


def mail(provider_id: str, text: str, sender: str = "alice@example.com", **kw: object) -> Envelope:
    return Envelope(
        channel=Channel.EMAIL, provider_id=provider_id, sender=Party(address=sender), subject="Help", text=text,
        recipient=Party(address="support@wallet.example"), message_id=provider_id, **kw,
    )  # fmt: skip


def rows(engine: Engine, model: type[Base], *columns: str) -> set[tuple[Any, ...]]:
    table = model.__table__
    with engine.connect() as connection:
        result = connection.execute(select(*(table.c[c] for c in columns)))
        # JSON text: lists and dicts (tags, decisions) become comparable and hashable.
        return {tuple(json.dumps(value, sort_keys=True, default=str) for value in row) for row in result}


def test_redis_only_data_is_imported_as_the_pipeline_writes_it(
    store: Store, settings: Settings, smtp_sink: SmtpSink, pipeline_record: Engine, empty_record: Engine
) -> None:
    store.accept(mail("i1@example.com", "my top-up failed 充值失败"), b"raw")
    drain(settings)
    store.accept(mail("i2@example.com", "any news?", in_reply_to="i1@example.com"), b"raw")
    store.accept(mail("i3@example.com", "me too", sender="bob@example.com", in_reply_to="i1@example.com"), b"raw")
    sms = Envelope(channel=Channel.SMS, provider_id="SM1", sender=Party(address="+14155550100"), text="card lost")
    store.accept(sms, b"raw")
    store.accept(mail("i4@example.com", "echo", sender=settings.email.outbound.sender), b"raw")  # dropped
    drain(settings)
    pending = store.accept(mail("i5@example.com", "still queued"), b"raw").message_id  # its job has not run

    for message_id in store.message_ids():  # as before the record: no expiry on anything
        store.redis.persist(store.key("raw", message_id))
    for key in store.redis.scan_iter("hl:dedupe:*"):
        store.redis.persist(key)

    done = migrate(empty_record, data_imports(store, normalize, now=utcnow))
    assert done[-1].startswith("data import 1 (redis-only data): ")
    recorded = [m for m in store.message_ids() if m != pending]
    # Imported, so their raw payloads and dedupe keys start their retention; the pending one's do not.
    assert all(store.redis.ttl(store.key("raw", m)) > 29 * 86400 for m in recorded)
    assert store.redis.ttl(store.key("dedupe", "email:i1@example.com")) > 13 * 86400
    assert store.redis.ttl(store.key("raw", pending)) == -1
    assert store.redis.ttl(store.key("dedupe", "email:i5@example.com")) == -1

    # What the pipeline wrote is exactly what the import writes from Redis alone.
    for model, columns in [
        (Contact, ("id", "created_at", "tags", "attributes")),
        (ContactIdentity, ("identity", "contact_id")),
        (Conversation, ("id", "reference", "contact_id", "channel", "linked_to", "queue", "category", "priority")),
        (Message, ("id", "state", "drop_reason", "contact_id", "conversation_id", "sender", "text", "decision",
                   "trace", "details", "search_text", "search_bigrams", "received_at")),
    ]:  # fmt: skip
        assert rows(empty_record, model, *columns) == rows(pipeline_record, model, *columns), model.__name__
    assert len(rows(empty_record, Message, "id")) == 5 and (json.dumps(pending),) not in rows(
        empty_record, Message, "id"
    )
    assert rows(pipeline_record, ThreadReference, "reference") <= rows(empty_record, ThreadReference, "reference")
    # ...plus our acknowledgements' Message-IDs, which thread a customer's answer back, and the replies themselves.
    acknowledgements = {(json.dumps(m.message["Message-ID"].strip("<>")),) for m in smtp_sink.messages}
    assert acknowledgements and acknowledgements <= rows(empty_record, ThreadReference, "reference")
    hot_replies = [store.get_reply(text(key).rsplit(":", 1)[1]) for key in store.redis.scan_iter("hl:reply:*")]
    expected = {(json.dumps(r.id), json.dumps(r.state.value)) for r in hot_replies if r is not None}
    # The mail acknowledgements (sent; the follow-up in an open case gets none) and the SMS one (failed: no Twilio).
    assert len(expected) == 3
    assert rows(empty_record, Reply, "id", "state") == expected

    # Once per database; and a second run over the same data (a retry after a failure) adds nothing.
    assert migrate(empty_record, data_imports(store, normalize)) == []
    assert rows(empty_record, DataImport, "number", "name") == {("1", '"redis-only data"')}
    before = {model: rows(empty_record, model, "id") for model in (Contact, Conversation, Message, Reply)}
    with empty_record.begin() as connection:
        again = import_redis_data(connection, store, normalize, utcnow())
    assert again["messages"] == 5 and again["messages left to their pipeline job"] == 1
    assert {model: rows(empty_record, model, "id") for model in before} == before
    # The pending message is recorded by its own job, into the same record.
    assert store.get_message(pending).state is MessageState.RECEIVED  # type: ignore[union-attr]
