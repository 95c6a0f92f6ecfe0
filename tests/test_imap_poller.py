"""The IMAP poller against a real Dovecot: fetch, store, only then mark seen or move; survive a restart."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator

import pytest
from imapclient import IMAPClient
from pydantic import SecretStr

from core.settings import Settings
from core.store import Store
from ingest.email.imap_poller import ImapPoller
from tests.mail_factory import raw_email
from tests.support.dovecot import PASSWORD, USER, Dovecot
from tests.support.smtp_sink import SmtpSink
from tests.support.work import drain


@pytest.fixture
def folder(dovecot: Dovecot) -> Iterator[str]:
    """A folder of this test's own, so tests sharing the Dovecot never see each other's mail."""
    name = f"T{uuid.uuid4().hex[:10]}"
    with mailbox(dovecot) as client:
        client.create_folder(name)
    yield name


def mailbox(dovecot: Dovecot) -> IMAPClient:
    client = IMAPClient("127.0.0.1", port=dovecot.port, ssl=False)
    client.login(USER, PASSWORD)
    return client


def imap_settings(settings: Settings, dovecot: Dovecot, folder: str, move_to: str | None = None) -> Settings:
    imap = settings.email.imap.model_copy(
        update={"host": "127.0.0.1", "port": dovecot.port, "ssl": False, "username": USER,
                "password": SecretStr(PASSWORD), "folder": folder, "move_to": move_to, "idle_seconds": 5.0}
    )  # fmt: skip
    return settings.model_copy(update={"email": settings.email.model_copy(update={"imap": imap})})


def flags_in(dovecot: Dovecot, folder: str) -> list[tuple[bytes, ...]]:
    with mailbox(dovecot) as client:
        client.select_folder(folder)
        return [data[b"FLAGS"] for data in client.fetch(client.search(["ALL"]), ["FLAGS"]).values()]


def test_appended_mail_is_stored_acknowledged_then_marked_seen(
    dovecot: Dovecot, folder: str, settings: Settings, store: Store, smtp_sink: SmtpSink
) -> None:
    with mailbox(dovecot) as client:
        client.append(folder, raw_email("I cannot log in, my account is locked", message_id="<imap-1@example.com>"))
    poller = ImapPoller(imap_settings(settings, dovecot, folder), store)
    with poller._connect() as client:
        assert poller.fetch_new(client) == 1
        assert poller.fetch_new(client) == 0  # seen now: not fetched twice
    assert flags_in(dovecot, folder) == [(b"\\Seen",)]

    drain(settings)
    (message_id,) = store.message_ids()
    stored = store.get_message(message_id)
    assert stored is not None and stored.envelope.extras["imap_folder"] == folder
    (ack,) = smtp_sink.wait_for(1)
    assert ack.message["In-Reply-To"] == "<imap-1@example.com>"


def test_mail_is_moved_when_configured(dovecot: Dovecot, folder: str, settings: Settings, store: Store) -> None:
    with mailbox(dovecot) as client:
        client.append(folder, raw_email(message_id=f"<move-{folder}@example.com>"))
        before = client.select_folder("Processed")[b"EXISTS"]
    poller = ImapPoller(imap_settings(settings, dovecot, folder, move_to="Processed"), store)
    with poller._connect() as client:
        assert poller.fetch_new(client) == 1
    assert flags_in(dovecot, folder) == []
    with mailbox(dovecot) as client:
        assert client.select_folder("Processed")[b"EXISTS"] == before + 1


def test_nothing_is_marked_seen_when_the_store_is_down(
    dovecot: Dovecot, folder: str, settings: Settings, store: Store
) -> None:
    from core.errors import StoreUnavailable
    from core.redis_conn import connect_url
    from tests.support.ports import free_port

    with mailbox(dovecot) as client:
        client.append(folder, raw_email())
    dead_store = Store(connect_url(f"redis://127.0.0.1:{free_port()}", connect_timeout=0.2))
    poller = ImapPoller(imap_settings(settings, dovecot, folder), dead_store)
    with poller._connect() as client, pytest.raises(StoreUnavailable):
        poller.fetch_new(client)
    assert flags_in(dovecot, folder) == [()]
    poller = ImapPoller(imap_settings(settings, dovecot, folder), store)  # the store is back: it goes through
    with poller._connect() as client:
        assert poller.fetch_new(client) == 1


def test_poller_idles_and_survives_a_server_restart(settings: Settings, store: Store) -> None:
    own = Dovecot().start()  # restarted below: not the shared one
    try:
        poller = ImapPoller(imap_settings(settings, own, "INBOX"), store)
        thread = threading.Thread(target=poller.run, daemon=True)
        thread.start()
        with mailbox(own) as client:
            client.append("INBOX", raw_email(message_id="<before-restart@example.com>"))
        wait_until(lambda: poller.stored == 1)
        own.restart()
        with mailbox(own) as client:
            client.append("INBOX", raw_email(message_id="<after-restart@example.com>"))
        wait_until(lambda: poller.stored == 2, timeout=20)
        poller.stop.set()
        thread.join(10)
        assert not thread.is_alive()
        stored = [store.get_message(m) for m in store.message_ids()]
        assert sorted(str(m.envelope.message_id) for m in stored if m) == [
            "after-restart@example.com",
            "before-restart@example.com",
        ]
    finally:
        own.remove()


def wait_until(condition: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def test_poller_falls_back_to_polling_without_idle(settings: Settings, store: Store) -> None:
    # A server that does not offer IDLE (some hosted mailboxes): the poller polls every poll_seconds instead.
    no_idle = Dovecot(extra_config="imap_capability = IMAP4rev1 LITERAL+ SASL-IR ID ENABLE UIDPLUS MOVE").start()
    try:
        with mailbox(no_idle) as client:
            assert not client.has_capability("IDLE")
        fast = imap_settings(settings, no_idle, "INBOX")
        fast.email.imap.poll_seconds = 0.2
        poller = ImapPoller(fast, store)
        thread = threading.Thread(target=poller.run, daemon=True)
        thread.start()
        for n in range(2):  # both the first fetch and a later poll pick mail up
            with mailbox(no_idle) as client:
                client.append("INBOX", raw_email(message_id=f"<poll-{n}@example.com>"))
            wait_until(lambda n=n: poller.stored == n + 1)
        poller.stop.set()
        thread.join(10)
        assert not thread.is_alive()
    finally:
        no_idle.remove()


def test_move_without_the_move_extension_and_into_a_missing_folder(settings: Settings, store: Store) -> None:
    plain = Dovecot(extra_config="imap_capability = IMAP4rev1 LITERAL+ SASL-IR ID ENABLE IDLE UIDPLUS").start()
    try:
        with mailbox(plain) as client:
            assert not client.has_capability("MOVE")
            for n in range(3):
                client.append("INBOX", raw_email(message_id=f"<nomove-{n}@example.com>"))
        poller = ImapPoller(imap_settings(settings, plain, "INBOX", move_to="Handled"), store)
        with poller._connect() as client:
            assert poller.fetch_new(client) == 3
        assert flags_in(plain, "INBOX") == []
        with mailbox(plain) as client:
            assert client.select_folder("Handled")[b"EXISTS"] == 3
        assert len(store.message_ids()) == 3
    finally:
        plain.remove()
