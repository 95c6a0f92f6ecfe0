"""The IMAP poller (imapclient): fetches new mail by UID, stores it, and only then marks it seen (or moves it).

- What was taken is tracked by UID under the folder's UIDVALIDITY (ingest/email/imap_cursor.py), not by `UNSEEN`:
  a person reading the shared mailbox may open a mail before the poller gets to it, and it must still be ingested.
  A changed UIDVALIDITY re-reads the folder; the dedupe ledger (Message-ID) keeps what was stored from doubling.
- The first poll of a folder takes its unseen mail and everything that arrives after: the read mail already in a
  mailbox Helpline is pointed at was someone's business before, and must not all be acknowledged again.
- `use_uid=True`; UIDs survive other clients' expunges, sequence numbers do not.
- `BODY.PEEK[]` fetches without setting \\Seen; the cursor moves only after a batch is stored, so a crash in between
  fetches the batch again next time (the dedupe ledger makes the second store a no-op).
- IDLE when the server offers it, renewed every `idle_seconds` (RFC 2177 asks for < 29 min); polling every
  `poll_seconds` otherwise.
- Any connection or protocol error: close, wait with exponential backoff (1 s doubling to 60 s), reconnect. The store
  being down is handled the same way, without marking anything seen.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError

from core.errors import StoreUnavailable
from core.redis_conn import connect
from core.settings import ImapSettings, Settings
from core.store import Store
from ingest.email.imap_cursor import ImapCursor
from ingest.email.intake import take_in

log = logging.getLogger("helpline.imap")

FETCH_BATCH = 50
MAX_BACKOFF_SECONDS = 60.0
STABLE_SESSION_SECONDS = 60.0


class ImapPoller:
    def __init__(self, settings: Settings, store: Store, stop: threading.Event | None = None) -> None:
        self.settings = settings
        self.imap: ImapSettings = settings.email.imap
        self.store = store
        self.cursor = ImapCursor(store, self.imap)
        self.stop = stop or threading.Event()
        self.stored = 0  # messages stored by this poller (observability and tests)

    def run(self) -> None:
        backoff = 1.0
        while not self.stop.is_set():
            started = time.monotonic()
            try:
                with self._connect() as client:
                    self._session(client)
            except (IMAPClientError, OSError, StoreUnavailable) as exc:
                if time.monotonic() - started > STABLE_SESSION_SECONDS:
                    backoff = 1.0  # a long healthy session ended: a fresh failure, not a failing loop
                log.warning("IMAP session ended: %s; reconnecting in %.0fs", exc, backoff)
                self.stop.wait(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)

    @contextmanager
    def _connect(self) -> Iterator[IMAPClient]:
        assert self.imap.host is not None
        client = IMAPClient(self.imap.host, port=self.imap.port, ssl=self.imap.ssl, timeout=30)
        try:
            password = self.imap.password.get_secret_value() if self.imap.password else ""
            client.login(self.imap.username, password)
            client.select_folder(self.imap.folder)
            if self.imap.move_to and not client.folder_exists(self.imap.move_to):
                client.create_folder(self.imap.move_to)  # else every stored mail would fail to move, forever
            log.info("IMAP connected to %s:%s/%s", self.imap.host, self.imap.port, self.imap.folder)
            yield client
        finally:
            with suppress(IMAPClientError, OSError):
                client.logout()

    def _session(self, client: IMAPClient) -> None:
        can_idle = client.has_capability("IDLE")
        while not self.stop.is_set():
            self.fetch_new(client)
            if can_idle:
                client.idle()
                try:
                    # Wake up at least once a second to notice `stop`; renew IDLE every idle_seconds.
                    waited = 0.0
                    while not self.stop.is_set() and waited < self.imap.idle_seconds:
                        if client.idle_check(timeout=1):
                            break
                        waited += 1
                finally:
                    client.idle_done()
            else:
                self.stop.wait(self.imap.poll_seconds)
                client.noop()  # a selected session sees other sessions' APPENDs only after a command

    def fetch_new(self, client: IMAPClient) -> int:
        """Store every message the cursor has not passed; mark each seen (or move it) only after it is stored, and
        move the cursor after each stored batch. Returns the count."""
        # SELECT again: a fresh UIDVALIDITY, and other sessions' appends become visible.
        selected = client.select_folder(self.imap.folder)
        uidvalidity = int(selected[b"UIDVALIDITY"])
        last = self.cursor.last_uid(uidvalidity)
        if last is None and not self.cursor.known():
            unseen_before = self._first_poll(client, uidvalidity, selected)
            return unseen_before + self.fetch_new(client)
        if last is None:
            log.warning("IMAP %s: UIDVALIDITY changed to %s; reading the folder again", self.imap.folder, uidvalidity)
            self.cursor.restart(uidvalidity)
            last = 0
        uids = [uid for uid in client.search(["UID", f"{last + 1}:*"]) if uid > last]  # N:* matches the last UID
        return self._take(client, sorted(uids), uidvalidity)

    def _first_poll(self, client: IMAPClient, uidvalidity: int, selected: dict[bytes, object]) -> int:
        """The first poll of a folder: its unseen mail, then the cursor at the last UID that was there."""
        uidnext = selected.get(b"UIDNEXT")  # RFC 3501 servers send it; without it, the highest UID there is
        baseline = int(uidnext) - 1 if isinstance(uidnext, int) else max(client.search(["ALL"]), default=0)
        unseen = [uid for uid in client.search(["UNSEEN"]) if uid <= baseline]
        done = self._take(client, sorted(unseen), None)
        # Only now: a crash before this line polls "for the first time" again, and the unseen mail is still unseen.
        self.cursor.restart(uidvalidity, baseline)
        return done

    def _take(self, client: IMAPClient, uids: list[int], uidvalidity: int | None) -> int:
        done = 0
        for start in range(0, len(uids), FETCH_BATCH):
            batch = uids[start : start + FETCH_BATCH]
            for uid, data in sorted(client.fetch(batch, ["BODY.PEEK[]"]).items()):
                raw = data.get(b"BODY[]")
                if raw is None:
                    continue
                self._store(bytes(raw), uid)
                self._mark_done(client, uid)
                done += 1
            if uidvalidity is not None:
                self.cursor.advance(uidvalidity, batch[-1])
        return done

    def _store(self, raw: bytes, uid: int) -> None:
        intake = take_in(self.store, self.settings, raw, {"imap_folder": self.imap.folder, "imap_uid": uid})
        if not (intake.duplicate or intake.dead_letter):
            self.stored += 1

    def _mark_done(self, client: IMAPClient, uid: int) -> None:
        if not self.imap.move_to:
            client.add_flags([uid], [b"\\Seen"])
        elif client.has_capability("MOVE"):
            client.move([uid], self.imap.move_to)
        else:  # RFC 6851's MOVE is an extension: without it, copy, flag deleted, and expunge just this UID
            client.copy([uid], self.imap.move_to)
            client.add_flags([uid], [b"\\Deleted", b"\\Seen"])
            if client.has_capability("UIDPLUS"):
                client.uid_expunge([uid])
            else:
                client.expunge()


def serve(settings: Settings) -> None:
    poller = ImapPoller(settings, Store(connect(settings)))
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: poller.stop.set())
    poller.run()
