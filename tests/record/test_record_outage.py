"""The SMTP answer never waits for PostgreSQL: with the record unreachable, mail is still accepted (250) into Redis;
its pipeline job pauses (queued again for later, no RQ retry spent), and records the message once the record is back."""

from __future__ import annotations

import smtplib

from sqlalchemy import func, select

from core.records import MessageState
from core.settings import Settings
from core.store import Store
from ingest.email.smtp_server import controller
from record.engine import engine_for
from record.models import Message
from tests.mail_factory import raw_email
from tests.support.ports import free_port
from tests.support.work import drain

UNREACHABLE = "postgresql+psycopg://postgres@/helpline?host=/nonexistent-record-socket"


def test_mail_is_accepted_while_the_record_is_down_and_recorded_when_it_is_back(
    store: Store, settings: Settings
) -> None:
    down = settings.model_copy(update={"database": settings.database.model_copy(update={"url": UNREACHABLE})})
    port = free_port()
    server = controller(down, store, port=port)
    server.start()
    try:
        with smtplib.SMTP("127.0.0.1", port) as client:
            refused = client.sendmail("alice@example.com", ["support@wallet.example"], raw_email("top-up failed"))
    finally:
        server.stop()
    assert refused == {}  # 250: stored in Redis, no SQL on the way
    (message_id,) = store.message_ids()

    drain(down)  # the pipeline job cannot write the record: it pauses (workers/record_updates.py)
    message = store.get_message(message_id)
    assert message is not None and message.state is MessageState.RECEIVED

    drain(settings, include_scheduled=True)  # the record is back: the paused job goes through
    message = store.get_message(message_id)
    assert message is not None and message.state is MessageState.ROUTED
    engine = engine_for(settings.database.url or "")
    try:
        with engine.connect() as connection:
            assert connection.scalar(select(func.count()).select_from(Message)) == 1
    finally:
        engine.dispose()
