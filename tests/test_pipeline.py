"""The worker pipeline on the real Redis and the real SMTP sink: routing, threading, acknowledgements, caps."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from core.envelope import Channel, Envelope, Party, Priority
from core.inbox import Inbox
from core.records import MessageState, ReplyState, StoredMessage
from core.settings import Settings
from core.store import INBOUND_QUEUE, Store, as_bytes, text
from tests.support.cases import take
from tests.support.smtp_sink import SmtpSink
from tests.support.work import drain
from workers.pipeline import thread


def email(provider_id: str, text: str, *, sender: str = "alice@example.com", **kw: object) -> Envelope:
    fields: dict[str, object] = {
        "channel": Channel.EMAIL,
        "provider_id": provider_id,
        "sender": Party(address=sender, name="Alice"),
        "recipient": Party(address="support@wallet.example"),
        "subject": "Help",
        "text": text,
        "message_id": provider_id,
    }
    fields.update(kw)
    return Envelope.model_validate(fields)


def test_routed_message_is_filed_and_acknowledged_in_thread(
    store: Store, settings: Settings, smtp_sink: SmtpSink
) -> None:
    accepted = store.accept(email("m1@example.com", "Someone stole my card, fraud!"), b"raw")
    drain(settings)

    message = store.get_message(accepted.message_id)
    assert message is not None and message.state is MessageState.ROUTED
    assert message.decision is not None and message.decision.category == "security"
    assert message.decision.priority is Priority.URGENT
    assert take(store, message.decision.queue) == (Priority.URGENT, message.conversation_id)
    assert message.ack_status == "sent"

    (sent,) = smtp_sink.wait_for(1)
    ack = sent.message
    assert sent.rcpt_tos == ["alice@example.com"]
    assert ack["In-Reply-To"] == "<m1@example.com>"
    assert ack["Auto-Submitted"] == "auto-replied"
    assert "HL-" in ack["Subject"]


def test_auto_replies_are_stored_and_routed_but_never_acknowledged(
    store: Store, settings: Settings, smtp_sink: SmtpSink
) -> None:
    envelope = email("ooo@example.com", "I am out of office", auto_submitted=True, flag_reasons=["Auto-Submitted"])
    accepted = store.accept(envelope, b"raw")
    drain(settings)
    message = store.get_message(accepted.message_id)
    assert message is not None and message.state is MessageState.ROUTED
    assert message.ack_status == "suppressed: Auto-Submitted"
    assert smtp_sink.messages == []


def test_auto_reply_cap_per_contact(store: Store, settings: Settings, smtp_sink: SmtpSink) -> None:
    limit = settings.replies.auto_reply_limit
    ids = [store.accept(email(f"n{i}@example.com", f"question {i}"), b"raw").message_id for i in range(limit + 2)]
    drain(settings)
    statuses = [store.get_message(i).ack_status for i in ids]  # type: ignore[union-attr]
    assert statuses.count("sent") == limit
    assert statuses[-1].startswith("suppressed: auto-reply cap reached")  # type: ignore[union-attr]
    assert len(smtp_sink.wait_for(limit)) == limit


def test_follow_up_joins_only_when_sender_takes_part(store: Store, settings: Settings) -> None:
    first = store.accept(email("a1@example.com", "my top-up failed"), b"raw")
    drain(settings)
    follow = store.accept(email("a2@example.com", "any news?", in_reply_to="a1@example.com"), b"raw")
    stranger = store.accept(
        email("b1@example.com", "me too", sender="mallory@evil.example", in_reply_to="a1@example.com"), b"raw"
    )
    drain(settings)
    conv = store.get_message(first.message_id).conversation_id  # type: ignore[union-attr]
    assert store.get_message(follow.message_id).conversation_id == conv  # type: ignore[union-attr]
    other = store.get_message(stranger.message_id)
    assert other is not None and other.conversation_id != conv
    assert store.conversation(other.conversation_id)["linked_to"] == conv  # type: ignore[arg-type]


def test_reply_to_our_acknowledgement_threads_back(store: Store, settings: Settings, smtp_sink: SmtpSink) -> None:
    first = store.accept(email("c1@example.com", "refund please"), b"raw")
    drain(settings)
    ack_id = smtp_sink.wait_for(1)[0].message["Message-ID"].strip("<>")
    second = store.accept(email("c2@example.com", "thanks", in_reply_to=ack_id, references=[ack_id]), b"raw")
    drain(settings)
    assert (
        store.get_message(second.message_id).conversation_id  # type: ignore[union-attr]
        == store.get_message(first.message_id).conversation_id  # type: ignore[union-attr]
    )
    # our own acknowledgement coming back is a loop and is dropped
    loop = store.accept(email(ack_id, "echo", sender="someone@example.com"), b"raw")
    drain(settings)
    assert store.get_message(loop.message_id).state is MessageState.DROPPED  # type: ignore[union-attr]


def test_duplicate_provider_id_is_stored_once(store: Store) -> None:
    first = store.accept(email("dup@example.com", "hello"), b"raw")
    again = store.accept(email("dup@example.com", "hello"), b"raw")
    assert again.duplicate and again.message_id == first.message_id
    assert len(store.message_ids()) == 1


def test_transient_relay_failure_is_retried_then_sent(store: Store, settings: Settings, smtp_sink: SmtpSink) -> None:
    smtp_sink.refuse("451 4.3.0 try later")
    accepted = store.accept(email("t1@example.com", "my payment was declined"), b"raw")
    drain(settings)
    message = store.get_message(accepted.message_id)
    assert message is not None and message.ack_status == "queued"
    smtp_sink.refuse(None)
    drain(settings, include_scheduled=True)
    assert store.get_message(accepted.message_id).ack_status == "sent"  # type: ignore[union-attr]
    assert len(smtp_sink.wait_for(1)) == 1


def test_permanent_relay_failure_is_recorded(store: Store, settings: Settings, smtp_sink: SmtpSink) -> None:
    smtp_sink.refuse("550 5.1.1 no such user")
    accepted = store.accept(email("p1@example.com", "hello"), b"raw")
    drain(settings)
    message = store.get_message(accepted.message_id)
    assert message is not None and message.ack_status is not None
    assert message.ack_status.startswith("failed: relay answered 550")
    (key,) = store.redis.keys("hl:reply:*")
    reply = store.get_reply(text(key).split(":", 2)[2])
    assert reply is not None and reply.state is ReplyState.FAILED


def test_withheld_caller_ids_do_not_share_a_contact(store: Store, settings: Settings) -> None:
    def voicemail(sid: str) -> Envelope:
        return Envelope(channel=Channel.VOICE, provider_id=sid, sender=Party(address="anonymous"), text="call me")

    first, second = store.accept(voicemail("RE1"), b"raw"), store.accept(voicemail("RE2"), b"raw")
    drain(settings)
    contacts = {store.get_message(m.message_id).contact_id for m in (first, second)}  # type: ignore[union-attr]
    assert len(contacts) == 2 and None not in contacts


def test_secrets_are_masked_before_storage_and_the_customer_is_warned(
    store: Store, settings: Settings, smtp_sink: SmtpSink
) -> None:
    raw = b"Subject: payment\r\n\r\nMy payment failed. The verification code is 482913\r\n"
    envelope = email("otp@example.com", "My payment failed. The verification code is 482913",
                     extras={"quoted_text": "> my card 4111 1111 1111 1111", "html": "<p>482913</p>"})  # fmt: skip
    accepted = store.accept(envelope, raw)
    stored = store.get_message(accepted.message_id)
    assert stored is not None and "482913" not in stored.envelope.text
    assert stored.envelope.extras["masked"] == ["card_number", "one_time_code"]
    assert "4111 1111 1111 1111" not in stored.envelope.extras["quoted_text"]
    assert stored.envelope.extras["html"] is None
    assert store.get_raw(accepted.message_id) == b""  # nothing of the payload kept
    strings = [store.redis.get(k) for k in store.redis.keys("hl:*") if store.redis.type(k) == b"string"]
    assert not any(b"482913" in as_bytes(value) for value in strings if value)
    drain(settings)
    (ack,) = smtp_sink.wait_for(1)
    assert "seemed to contain a verification code" in ack.message.get_content()


def test_acknowledgement_asks_for_missing_transaction_details(
    store: Store, settings: Settings, smtp_sink: SmtpSink
) -> None:
    text = "我昨天转账500元给朋友，对方一直没收到，转账失败了"
    accepted = store.accept(email("tx@example.com", text, subject="转账失败", language="zh"), b"raw")
    drain(settings)
    message = store.get_message(accepted.message_id)
    assert message is not None and message.decision is not None and message.decision.category == "transfer"
    assert "amount" in message.envelope.extras["details"]
    assert "reference" in message.envelope.extras["missing_details"]
    body = smtp_sink.wait_for(1)[0].message.get_content()
    assert "交易单号或订单号" in body  # asks for the reference, in Chinese
    assert "预计" in body  # and says when to expect an answer


def test_active_notice_is_carried_by_every_acknowledgement(
    store: Store, settings: Settings, smtp_sink: SmtpSink
) -> None:
    from datetime import UTC, datetime, timedelta

    from core.notices import NoticeBoard

    until = datetime.now(UTC) + timedelta(hours=1)
    NoticeBoard(store).add(until, "Top-ups are delayed by a bank outage.", "银行故障，充值到账延迟。")
    store.accept(email("n-en@example.com", "my top-up is pending"), b"raw")
    store.accept(email("n-zh@example.com", "我的充值还没到账", sender="bo@example.com", language="zh"), b"raw")
    drain(settings)
    bodies = sorted(m.message.get_content() for m in smtp_sink.wait_for(2))
    assert any("bank outage" in b for b in bodies) and any("银行故障" in b for b in bodies)


def test_service_messages_are_stored_but_never_reach_agents(store: Store, settings: Settings) -> None:
    envelope = Envelope(
        channel=Channel.TELEGRAM, provider_id="77", sender=Party(address="1001"), text="/start", service="start"
    )
    accepted = store.accept(envelope, b"{}")
    drain(settings)
    message = store.get_message(accepted.message_id)
    assert message is not None and message.state is MessageState.DROPPED
    assert message.drop_reason == "service message: start"
    assert Inbox(store).queues() == []


def test_a_crashed_run_is_retried_without_a_second_conversation_or_acknowledgement(
    store: Store, settings: Settings, smtp_sink: SmtpSink
) -> None:
    from workers import context
    from workers.jobs import process_message
    from workers.pipeline import PIPELINE, Work, run_pipeline

    context.install(context.context_for(settings, store))
    accepted = store.accept(email("crash@example.com", "my refund never arrived"), b"raw")
    message = store.get_message(accepted.message_id)
    assert message is not None
    # the first run dies right after joining a conversation (a worker killed mid-pipeline)
    run_pipeline(Work(message), context.current(), PIPELINE[: PIPELINE.index(thread) + 1])
    assert process_message(accepted.message_id).startswith("routed")
    assert process_message(accepted.message_id).startswith("routed")  # and a re-delivered job changes nothing
    drain(settings)
    routed = store.get_message(accepted.message_id)
    assert routed is not None and routed.conversation_id is not None
    assert store.conversation(routed.conversation_id)["messages"] == [accepted.message_id]
    assert len(store.redis.keys("hl:conv:*:messages")) == 1
    assert len(smtp_sink.wait_for(1)) == 1 and routed.ack_status == "sent"


def test_a_routed_message_whose_acknowledgement_was_never_planned_gets_it_on_rerun(
    store: Store, settings: Settings, smtp_sink: SmtpSink
) -> None:
    from workers import context
    from workers.jobs import process_message

    accepted = store.accept(email("half@example.com", "my card was declined"), b"raw")
    drain(settings)
    store.redis.delete(*store.redis.keys("hl:reply:*"))

    def forget(m: StoredMessage) -> None:
        m.ack_status = None

    store.update_message(accepted.message_id, forget)
    context.install(context.context_for(settings, store))
    process_message(accepted.message_id)
    drain(settings)
    assert len(smtp_sink.wait_for(2)) == 2


def test_a_chat_case_resolved_longer_ago_than_reopen_days_gives_way_to_a_new_linked_one(
    store: Store, settings: Settings
) -> None:
    def sms(sid: str) -> Envelope:
        return Envelope(channel=Channel.SMS, provider_id=sid, sender=Party(address="+8613800138000"), text="hi")

    first = store.accept(sms("SM1"), b"raw")
    drain(settings)
    second = store.accept(sms("SM2"), b"raw")
    drain(settings)
    conversation = store.get_message(first.message_id).conversation_id  # type: ignore[union-attr]
    assert conversation is not None
    assert store.get_message(second.message_id).conversation_id == conversation  # type: ignore[union-attr]
    inbox = Inbox(store)
    assert inbox.resolve(conversation, "mei", datetime.now(UTC)) is not None
    long_ago = datetime.now(UTC).timestamp() - settings.cases.reopen_days * 86400 - 60
    store.redis.hset(inbox.case_key(conversation), "resolved_ts", repr(long_ago))
    third = store.accept(sms("SM3"), b"raw")
    drain(settings)
    later = store.get_message(third.message_id)
    assert later is not None and later.conversation_id != conversation
    assert later.decision is not None
    assert later.decision.trace[0]["new_conversation"] is True
    assert store.linked_conversation(later.conversation_id or "") == conversation


def test_rule_tags_stick_to_the_contact(store: Store, settings: Settings) -> None:
    legal = "I will contact my lawyer about this refund"
    accepted = store.accept(email("legal@example.com", legal), b"raw")
    drain(settings)
    message = store.get_message(accepted.message_id)
    assert message is not None and message.decision is not None and message.contact_id is not None
    assert message.decision.tags
    assert set(message.decision.tags) <= set(store.contact(message.contact_id)["tags"].split())


def test_an_unrenderable_acknowledgement_is_recorded_not_retried_forever(
    store: Store, settings: Settings, smtp_sink: SmtpSink
) -> None:
    from core.envelope import Decision

    accepted = store.accept(email("tpl@example.com", "hello"), b"raw")

    class FixedRouter:
        def decide(self, envelope: Envelope, context: object) -> Decision:
            return Decision(category="general", priority=Priority.NORMAL, queue="general", template="no_such_template")

    from workers import context

    ctx = context.context_for(settings, store)
    ctx.router = lambda: FixedRouter()  # type: ignore[assignment,return-value]
    context.install(ctx)
    from workers.jobs import process_message

    process_message(accepted.message_id)
    message = store.get_message(accepted.message_id)
    assert message is not None and message.ack_status is not None
    assert message.ack_status.startswith("failed: template")


def test_a_chat_id_is_no_account_but_a_phone_number_is(store: Store, settings: Settings) -> None:
    def transfer(channel: Channel, provider_id: str, address: str) -> Envelope:
        return Envelope(channel=channel, provider_id=provider_id, sender=Party(address=address),
                        text="我的转账失败了，500元没到账", language="zh")  # fmt: skip

    chat = store.accept(transfer(Channel.TELEGRAM, "9001", "424242"), b"{}")
    sms = store.accept(transfer(Channel.SMS, "SM9001", "+8613800138000"), b"raw")
    drain(settings)
    asked = {
        m.envelope.channel: m.envelope.extras["missing_details"]
        for m in map(store.get_message, (chat.message_id, sms.message_id))
        if m is not None
    }
    assert "account" in asked[Channel.TELEGRAM] and "account" not in asked[Channel.SMS]


def test_a_crash_between_planning_and_sending_the_acknowledgement_does_not_lose_it(
    store: Store, settings: Settings, smtp_sink: SmtpSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pipeline job sends the acknowledgement itself; killed right after planning it (the reply saved, with its
    in-flight entry as `send-{reply id}` on its reply queue), the reply is sent once by a `send_reply` job the
    reconciler queues, and neither RQ's retry of the pipeline job nor a late re-delivery sends it again."""
    import time

    from core import inflight
    from core.inflight import Kind
    from core.queues import QUEUE_ORDER
    from workers import context, jobs
    from workers.reconcile import reconcile

    accepted = store.accept(email("gap@example.com", "my withdrawal is pending"), b"raw")
    store.queue(INBOUND_QUEUE).empty()  # type: ignore[no-untyped-call]  # the job is run by hand
    context.install(context.context_for(settings, store))

    def worker_dies(*args: object, **kwargs: object) -> str:
        raise RuntimeError("worker killed right before sending the acknowledgement")

    with monkeypatch.context() as patched:
        patched.setattr(jobs, "_send_new", worker_dies)
        with pytest.raises(RuntimeError):
            jobs.process_message(accepted.message_id)
    reply_id = f"r-ack-{accepted.message_id}"
    assert store.get_message(accepted.message_id).ack_status == "queued"  # type: ignore[union-attr]
    assert inflight.is_tracked(store, Kind.SEND, reply_id) and not inflight.is_tracked(store, Kind.PROCESS, reply_id)
    assert not jobs.process_message(accepted.message_id).count("acknowledgement")  # RQ's retry: the entry has it
    assert [job for name in QUEUE_ORDER for job in store.queue(name).job_ids] == []
    report = reconcile(settings, store, time.time() + settings.workers.abandoned_after_seconds + 1)
    assert report.requeued == [f"send {reply_id}: its job is gone"]
    # The dead job's send lease, taken when the reply was planned, expires within `workers.job_timeout_seconds`,
    # before the reconciler's window ends; the test's clock is ahead of Redis's, so it goes here by hand.
    assert 0 < store.redis.pttl(store.key("sendlease", reply_id)) <= settings.workers.job_timeout_seconds * 1000
    store.redis.delete(store.key("sendlease", reply_id))
    drain(settings)
    assert len(smtp_sink.wait_for(1)) == 1
    assert store.get_message(accepted.message_id).ack_status == "sent"  # type: ignore[union-attr]
    jobs.process_message(accepted.message_id)  # and a late re-delivery sends nothing more
    drain(settings)
    assert len(smtp_sink.messages) == 1 and inflight.count(store, Kind.SEND) == 0


def test_a_rerun_after_the_acknowledgement_was_sent_sends_nothing_more(
    store: Store, settings: Settings, smtp_sink: SmtpSink
) -> None:
    from core.queues import QUEUE_ORDER
    from workers import context
    from workers.jobs import process_message

    context.install(context.context_for(settings, store))
    accepted = store.accept(email("twice@example.com", "my top-up failed"), b"raw")
    assert "; acknowledgement sent as " in process_message(accepted.message_id)  # one job: routed and sent
    assert "acknowledgement" not in process_message(accepted.message_id)  # a re-delivered job
    queued = [job for name in QUEUE_ORDER for job in store.queue(name).job_ids if job.startswith("send-")]
    assert queued == []
    drain(settings)
    assert len(smtp_sink.wait_for(1)) == 1
