"""How far the IMAP poller has taken a mailbox folder: the highest UID stored, per UIDVALIDITY.

Flags are the mailbox users' business: a person may open (\\Seen) a mail in their client before the poller gets to
it, so what the poller took is tracked here, by UID, and not by `UNSEEN`. UIDs only grow within one UIDVALIDITY
(RFC 3501 §2.3.1.1); when the server changes UIDVALIDITY (the folder recreated, the mail store migrated) the old
UIDs mean nothing, and the folder is read again from the start: the dedupe ledger (Message-ID) keeps mail already
stored from being stored twice.

Key: `hl:imap:{host}:{port}:{username}:{folder}`, a sorted set of UIDVALIDITY -> highest UID stored. `ZADD GT` only
ever moves it forward, so two pollers on one folder (during a deploy) cannot move it back.
"""

from __future__ import annotations

from core.settings import ImapSettings
from core.store import Store, store_errors


class ImapCursor:
    def __init__(self, store: Store, imap: ImapSettings) -> None:
        self.store = store
        self.key = store.key("imap", f"{imap.host}:{imap.port}:{imap.username}:{imap.folder}")

    def known(self) -> bool:
        """Whether this folder was ever polled (under any UIDVALIDITY)."""
        with store_errors():
            return bool(self.store.redis.exists(self.key))

    def last_uid(self, uidvalidity: int) -> int | None:
        """The highest UID stored under `uidvalidity`; None when that UIDVALIDITY is new to us."""
        with store_errors():
            score = self.store.redis.zscore(self.key, str(uidvalidity))
        return None if score is None else int(score)

    def advance(self, uidvalidity: int, uid: int) -> None:
        with store_errors():
            self.store.redis.zadd(self.key, {str(uidvalidity): uid}, gt=True)

    def restart(self, uidvalidity: int, uid: int = 0) -> None:
        """Forget every older UIDVALIDITY and start this one at `uid`."""
        with store_errors(), self.store.redis.pipeline() as pipe:
            pipe.delete(self.key)
            pipe.zadd(self.key, {str(uidvalidity): uid})
            pipe.execute()
