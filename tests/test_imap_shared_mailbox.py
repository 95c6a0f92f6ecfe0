"""A mailbox shared with people, against the real Dovecot: the poller tracks what it took by UID and UIDVALIDITY, so
mail a person opens first is still ingested, once, across restarts and a recreated folder."""

from __future__ import annotations

from core.settings import Settings
from core.store import Store
from ingest.email.imap_poller import ImapPoller
from tests.mail_factory import raw_email
from tests.support.dovecot import Dovecot
from tests.test_imap_poller import folder, imap_settings, mailbox

__all__ = ["folder"]  # the fixture, shared with the poller's own tests


def poll(settings: Settings, store: Store) -> int:
    """One poll by a fresh poller, as after a process restart."""
    poller = ImapPoller(settings, store)
    with poller._connect() as client:
        return poller.fetch_new(client)


def stored_message_ids(store: Store) -> list[str]:
    messages = [store.get_message(message_id) for message_id in store.message_ids()]
    return sorted(str(m.envelope.message_id) for m in messages if m is not None)


def append(dovecot: Dovecot, folder: str, message_id: str, *, seen: bool = False) -> None:
    with mailbox(dovecot) as client:
        client.append(folder, raw_email(message_id=f"<{message_id}>"), flags=[b"\\Seen"] if seen else [])


def test_mail_a_person_opened_before_the_poll_is_still_ingested_once(
    dovecot: Dovecot, folder: str, settings: Settings, store: Store
) -> None:
    settings = imap_settings(settings, dovecot, folder)
    assert poll(settings, store) == 0  # the folder is known from here on
    append(dovecot, folder, "opened-first@example.com")
    with mailbox(dovecot) as client:  # someone reads it in their mail client before the poller comes round
        client.select_folder(folder)
        client.fetch(client.search(["ALL"]), ["RFC822"])  # a plain FETCH sets \Seen, as a mail client's does
        assert client.search(["UNSEEN"]) == []
    assert poll(settings, store) == 1
    assert poll(settings, store) == 0
    assert stored_message_ids(store) == ["opened-first@example.com"]


def test_a_restarted_poller_does_not_take_mail_again_even_marked_unread(
    dovecot: Dovecot, folder: str, settings: Settings, store: Store
) -> None:
    settings = imap_settings(settings, dovecot, folder)
    append(dovecot, folder, "once@example.com")
    assert poll(settings, store) == 1
    with mailbox(dovecot) as client:  # a person marks it unread again, to come back to it later
        client.select_folder(folder)
        client.remove_flags(client.search(["ALL"]), [b"\\Seen"])
    assert poll(settings, store) == 0  # a new poller: the cursor, not the flag, says it was taken
    assert stored_message_ids(store) == ["once@example.com"]


def test_the_first_poll_takes_unread_mail_but_not_a_mailboxs_read_history(
    dovecot: Dovecot, folder: str, settings: Settings, store: Store
) -> None:
    append(dovecot, folder, "read-last-year@example.com", seen=True)
    append(dovecot, folder, "waiting@example.com")
    settings = imap_settings(settings, dovecot, folder)
    assert poll(settings, store) == 1
    append(dovecot, folder, "arrived-read@example.com", seen=True)  # after the first poll: taken, read or not
    assert poll(settings, store) == 1
    assert stored_message_ids(store) == ["arrived-read@example.com", "waiting@example.com"]


def test_a_recreated_folder_is_read_again_without_duplicating_old_mail(
    dovecot: Dovecot, folder: str, settings: Settings, store: Store
) -> None:
    settings = imap_settings(settings, dovecot, folder)
    append(dovecot, folder, "old@example.com")
    assert poll(settings, store) == 1
    with mailbox(dovecot) as client:
        before = client.folder_status(folder, [b"UIDVALIDITY"])[b"UIDVALIDITY"]
        client.delete_folder(folder)  # e.g. a migration to a new mail store copies the mail over
        client.create_folder(folder)
        after = client.folder_status(folder, [b"UIDVALIDITY"])[b"UIDVALIDITY"]
    assert after != before
    append(dovecot, folder, "old@example.com", seen=True)  # the copy keeps its Message-ID, read or not
    append(dovecot, folder, "new@example.com", seen=True)
    assert poll(settings, store) == 2  # both read again; the old one is recognised by the dedupe ledger
    assert poll(settings, store) == 0
    assert stored_message_ids(store) == ["new@example.com", "old@example.com"]
