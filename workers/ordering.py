"""A sender's messages join their conversation in the order they arrived, however many workers run.

Two workers can take a customer's message and its follow-up a few milliseconds apart (two ingest processes, or
just a queue drained by several workers); whichever finishes threading first would come first in the conversation,
and a follow-up threaded before the message it answers would open a conversation of its own. So `Store.accept`
puts every message in its sender's arrival line (`hl:arrivals:{channel}:{sender}`, in the MULTI that stores it), the
pipeline waits here until the sender's earlier messages have been threaded, and `thread` takes each message out
of the line once it joined its conversation.

The wait is bounded (`ORDER_WAIT_SECONDS`): an earlier message whose job failed and waits for its retry must not
hold the customer's later ones back for minutes. Past the bound the message goes ahead and a note says so; that is
the one case where a conversation can show two messages out of arrival order. An earlier message that was dropped
(our own loop, a service message) or is gone no longer counts.
"""

from __future__ import annotations

import logging
import time

from core.envelope import Envelope
from core.records import MessageState
from core.store import Store

log = logging.getLogger("helpline.ordering")

ORDER_WAIT_SECONDS = 5.0
POLL_SECONDS = 0.01


def wait_for_earlier(store: Store, envelope: Envelope, message_id: str, timeout: float = ORDER_WAIT_SECONDS) -> int:
    """Wait until the sender's earlier messages are threaded; returns how many were still not when it gave up."""
    deadline = time.monotonic() + timeout
    while True:
        earlier = store.earlier_arrivals(envelope, message_id)
        settled = [other for other in earlier if _settled(store, other)]
        if settled:
            store.mark_threaded(envelope, settled)
        waiting = len(earlier) - len(settled)
        if waiting == 0:
            return 0
        if time.monotonic() >= deadline:
            log.warning("%s goes ahead of %d earlier message(s) from its sender", message_id, waiting)
            return waiting
        time.sleep(POLL_SECONDS)


def _settled(store: Store, message_id: str) -> bool:
    """Threaded, dropped, or gone: nothing a later message needs to wait for."""
    if store.conversation_of(message_id) is not None:
        return True
    message = store.get_message(message_id)
    return message is None or message.state is not MessageState.RECEIVED
