"""The store's own guarantees on a real Redis: atomic accept, forward-only delivery states, early statuses."""

from __future__ import annotations

import threading
from datetime import timedelta

from core.envelope import Channel, Envelope, Party
from core.records import Reply, ReplyState
from core.store import Store


def reply(store: Store, provider_id: str | None = None) -> Reply:
    r = Reply(id=f"r-{provider_id}", message_id="m-1", channel=Channel.SMS, to="+15550001111", purpose="answer",
              language="en", text="hi", provider_id=provider_id, state=ReplyState.SENT)  # fmt: skip
    store.save_reply(r)
    return r


def test_delivery_states_only_move_forward_even_when_callbacks_race(store: Store) -> None:
    replies = [reply(store, f"SM{i}") for i in range(40)]

    def callbacks(state: ReplyState) -> None:
        for r in replies:
            store.record_provider_status(str(r.provider_id), state)

    states = [ReplyState.DELIVERED, ReplyState.SENT] * 2
    threads = [threading.Thread(target=callbacks, args=(state,)) for state in states]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    final = {store.get_reply(r.id).state for r in replies}  # type: ignore[union-attr]
    assert final == {ReplyState.DELIVERED}


def test_failed_is_final(store: Store) -> None:
    r = reply(store, "SMf")
    store.record_provider_status("SMf", ReplyState.FAILED, "30003 unreachable")
    store.record_provider_status("SMf", ReplyState.DELIVERED)
    saved = store.get_reply(r.id)
    assert saved is not None and saved.state is ReplyState.FAILED and saved.error == "30003 unreachable"


def test_a_status_that_beats_the_worker_is_applied_when_the_reply_is_saved(store: Store) -> None:
    assert store.record_provider_status("SMearly", ReplyState.DELIVERED) is None  # parked, not lost
    r = reply(store, "SMearly")
    saved = store.get_reply(r.id)
    assert saved is not None and saved.state is ReplyState.DELIVERED


def test_concurrent_accepts_of_one_provider_id_store_it_once(store: Store) -> None:
    envelope = Envelope(channel=Channel.SMS, provider_id="SMdup", sender=Party(address="+15550001111"), text="hi")
    results = []
    threads = [threading.Thread(target=lambda: results.append(store.accept(envelope, b"raw"))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({r.message_id for r in results}) == 1
    assert sum(not r.duplicate for r in results) == 1
    assert len(store.message_ids()) == 1


def test_a_message_joins_its_conversation_once_and_leaves_its_senders_line_in_the_same_step(store: Store) -> None:
    first = Envelope(
        channel=Channel.EMAIL, provider_id="a@x", sender=Party(address="Ann@Example.com"), text="hi", message_id="a@x"
    )
    later = first.received_at + timedelta(seconds=1)  # the sender's line is ordered by arrival
    second = first.model_copy(update={"provider_id": "b@x", "message_id": "b@x", "text": "again", "received_at": later})
    one, two = store.accept(first, b"raw"), store.accept(second, b"raw")
    assert store.earlier_arrivals(second, two.message_id) == [one.message_id]  # the second waits for the first
    conversation = store.open_conversation("c-1", Channel.EMAIL, "hi")
    assert store.add_to_conversation(conversation, one.message_id, first, ["a@x"])
    assert store.earlier_arrivals(second, two.message_id) == []  # let go with the append
    assert not store.add_to_conversation(conversation, one.message_id, first, ["a@x"])  # a re-run: nothing twice
    info = store.conversation(conversation)
    assert info["messages"] == [one.message_id] and info["participants"] == ["ann@example.com"]
    assert store.conversation_for_reference("a@x") == conversation
    assert store.conversation_of(one.message_id) == (conversation, True)
