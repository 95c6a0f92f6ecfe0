"""Sending never gets stuck: whatever a sender raises, the reply ends sent or failed, recorded on the reply and the
message, and its in-flight entry is gone. The real senders against the real SMTP sink and the provider fakes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from pydantic import SecretStr
from rq.registry import FailedJobRegistry, ScheduledJobRegistry

from channels.email import EmailSender, reply_message_id
from core import inflight
from core.envelope import Channel, Envelope, Party
from core.inbox import Inbox
from core.inflight import Kind
from core.queues import QUEUE_ORDER
from core.records import Reply, ReplyState, StoredMessage
from core.settings import Settings
from core.store import Store
from tests.support.fake_telegram import FakeTelegram, settings_for
from tests.support.fake_twilio import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio
from tests.support.smtp_sink import SmtpSink
from tests.support.work import drain
from workers.acknowledge import acknowledgement_id
from workers.jobs import send_job_id


@pytest.fixture
def twilio_fake() -> Iterator[FakeTwilio]:
    server = FakeTwilio().start()
    yield server
    server.stop()


@pytest.fixture
def telegram_fake() -> Iterator[FakeTelegram]:
    server = FakeTelegram().start()
    yield server
    server.stop()


def quick_retries(settings: Settings, attempts: int = 3) -> Settings:
    """Retries at once (no backoff), so that `drain` runs every attempt."""
    replies = settings.replies.model_copy(update={"max_send_attempts": attempts, "retry_backoff_seconds": [0]})
    return settings.model_copy(update={"replies": replies})


def with_twilio(settings: Settings, fake: FakeTwilio) -> Settings:
    twilio = settings.twilio.model_copy(
        update={"account_sid": ACCOUNT_SID, "auth_token": SecretStr(AUTH_TOKEN), "api_base_url": fake.url}
    )
    return settings.model_copy(update={"twilio": twilio})


def email_from(address: str, provider_id: str, **fields: object) -> Envelope:
    return Envelope(channel=Channel.EMAIL, provider_id=provider_id, sender=Party(address=address),
                    subject="my withdrawal is pending", text="my withdrawal has been pending for two days",
                    message_id=provider_id, **fields)  # fmt: skip


def acknowledged(store: Store, message_id: str) -> tuple[StoredMessage, Reply]:
    message = store.get_message(message_id)
    assert message is not None
    reply = store.get_reply(acknowledgement_id(message))
    assert reply is not None
    return message, reply


def failed_jobs(store: Store) -> list[str]:
    return [job for name in QUEUE_ORDER for job in FailedJobRegistry(name=name, connection=store.redis).get_job_ids()]


def assert_nothing_in_flight(store: Store) -> None:
    assert inflight.count(store, Kind.SEND) == 0 and inflight.count(store, Kind.PROCESS) == 0
    assert store.redis.keys("hl:sendpending:*") == []
    assert store.redis.keys("hl:sendlease:*") == []


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("李雷@example.com", "local-part contains non-ASCII"),  # the email package cannot write it at all
        ("alice@example.com\r\nBcc: everyone@example.com", "line break"),  # header injection
        ("alice@@example.com", "cannot email"),
        ("alice@example.com, bob@example.com", "cannot email"),
        ("MAILER-DAEMON", "no domain"),  # kept as it came by the parser; never answered to a local user
    ],
)
def test_an_email_address_no_relay_can_take_fails_for_good_at_once(
    store: Store, settings: Settings, smtp_sink: SmtpSink, address: str, why: str
) -> None:
    accepted = store.accept(email_from(address, f"bad-{len(address)}@example.com"), b"raw")
    drain(quick_retries(settings))
    message, reply = acknowledged(store, accepted.message_id)
    assert reply.state is ReplyState.FAILED and reply.attempts == 1
    assert reply.error is not None and reply.error.startswith("permanent:") and why in reply.error
    assert message.ack_status is not None and message.ack_status.startswith("failed:") and why in message.ack_status
    assert smtp_sink.messages == []
    # The acknowledgement was tried inside the message's own job (one job per message), which did its work: the
    # failure is the reply's (recorded, counted, flagged), and no send job was queued for a retry no one can help.
    assert failed_jobs(store) == []
    assert all(ScheduledJobRegistry(name=q, connection=store.redis).count == 0 for q in QUEUE_ORDER)  # type: ignore[no-untyped-call]
    assert_nothing_in_flight(store)


def test_a_line_break_in_the_subject_is_folded_not_injected(
    store: Store, settings: Settings, smtp_sink: SmtpSink
) -> None:
    envelope = email_from("alice@example.com", "crlf@example.com")
    envelope.subject = "pending\r\nBcc: everyone@example.com"
    accepted = store.accept(envelope, b"raw")
    drain(settings)
    (sent,) = smtp_sink.wait_for(1)
    assert sent.rcpt_tos == ["alice@example.com"] and sent.message["Bcc"] is None
    assert "\n" not in str(sent.message["Subject"]) and "pending" in str(sent.message["Subject"])
    assert acknowledged(store, accepted.message_id)[0].ack_status == "sent"
    assert_nothing_in_flight(store)


def test_a_transient_failure_is_retried_under_the_same_message_id(
    store: Store, settings: Settings, smtp_sink: SmtpSink
) -> None:
    smtp_sink.refuse("451 4.3.0 try again later")
    accepted = store.accept(email_from("alice@example.com", "retry@example.com"), b"raw")
    drain(quick_retries(settings))
    # Every attempt but the first is queued under an id of its own; each one is the reply's in-flight job.
    _, reply = acknowledged(store, accepted.message_id)
    assert reply.state is ReplyState.FAILED and reply.attempts == 3
    assert reply.error is not None and reply.error.startswith("gave up after 3 attempts: relay answered 451")
    assert failed_jobs(store) == [send_job_id(reply.id, 3)]  # the last attempt's job failed, not "OK"
    assert all(ScheduledJobRegistry(name=name, connection=store.redis).count == 0 for name in QUEUE_ORDER)  # type: ignore[no-untyped-call]
    assert_nothing_in_flight(store)

    # The same reply composed again (a re-send after a crash) carries the same Message-ID.
    sender = EmailSender(settings.email.outbound)
    first = sender.compose(reply, store.get_message(accepted.message_id).envelope)  # type: ignore[union-attr]
    again = sender.compose(reply, store.get_message(accepted.message_id).envelope)  # type: ignore[union-attr]
    assert first["Message-ID"] == again["Message-ID"] == f"<{reply_message_id(reply, settings.email.outbound.sender)}>"


def test_a_failure_no_sender_foresaw_is_transient_then_final(
    store: Store, settings: Settings, twilio_fake: FakeTwilio
) -> None:
    twilio_fake.garbled = 10  # a 200 whose body is no JSON: the twilio library raises what no sender maps
    configured = quick_retries(with_twilio(settings, twilio_fake), attempts=2)
    sms = Envelope(channel=Channel.SMS, provider_id="SM-garbled", sender=Party(address="+14155550100"),
                   recipient=Party(address="+15017122661"), text="my top-up failed")  # fmt: skip
    accepted = store.accept(sms, b"raw")
    drain(configured)
    message, reply = acknowledged(store, accepted.message_id)
    assert twilio_fake.attempts == 2
    assert reply.state is ReplyState.FAILED and reply.error is not None
    assert reply.error.startswith("gave up after 2 attempts:")
    assert message.ack_status is not None and message.ack_status.startswith("failed: gave up after 2 attempts")
    assert failed_jobs(store) == [send_job_id(reply.id, 2)]
    assert_nothing_in_flight(store)


@pytest.mark.parametrize(
    ("sender", "recipient", "why"),
    [
        ("+1 555\r\n0100", "+15017122661", "not a possible phone number"),
        ("call me maybe", "+15017122661", "not a possible phone number"),
        ("+14155550100", "+1\r\nBcc", "21212"),  # the number the customer wrote to is no number: Twilio says so
    ],
)
def test_a_number_twilio_can_never_take_fails_for_good_at_once(
    store: Store, settings: Settings, twilio_fake: FakeTwilio, sender: str, recipient: str, why: str
) -> None:
    sms = Envelope(
        channel=Channel.SMS,
        provider_id=f"SM-{sender!r}-{recipient!r}",
        sender=Party(address=sender),
        recipient=Party(address=recipient),
        text="my top-up failed",
    )
    accepted = store.accept(sms, b"raw")
    drain(quick_retries(with_twilio(settings, twilio_fake)))
    message, reply = acknowledged(store, accepted.message_id)
    assert reply.state is ReplyState.FAILED and reply.attempts == 1 and why in (reply.error or "")
    assert message.ack_status is not None and message.ack_status.startswith("failed:") and why in message.ack_status
    assert twilio_fake.messages == []
    assert_nothing_in_flight(store)


@pytest.mark.parametrize("chat_id", ["not-a-number", "12\r\n34", "１２３", ""])
def test_a_telegram_chat_id_that_is_no_number_fails_for_good_at_once(
    store: Store, settings: Settings, telegram_fake: FakeTelegram, chat_id: str
) -> None:
    chat = Envelope(
        channel=Channel.TELEGRAM,
        provider_id=f"u-{chat_id!r}",
        sender=Party(address=chat_id or "?"),
        text="my transfer failed",
        extras={"chat_id": chat_id, "message_id": "not a number either"},
    )
    accepted = store.accept(chat, b"{}")
    drain(quick_retries(settings_for(settings, telegram_fake)))
    message, reply = acknowledged(store, accepted.message_id)
    assert reply.state is ReplyState.FAILED and reply.attempts == 1
    assert "is not a number" in (reply.error or "") and message.ack_status is not None
    assert message.ack_status.startswith("failed: telegram: chat id")
    assert telegram_fake.calls("sendMessage") == []
    assert_nothing_in_flight(store)


def test_a_telegram_reply_with_a_garbled_quote_still_goes_out(
    store: Store, settings: Settings, telegram_fake: FakeTelegram
) -> None:
    chat = Envelope(channel=Channel.TELEGRAM, provider_id="u-quote", sender=Party(address="1001"),
                    text="my transfer failed", extras={"chat_id": 1001, "message_id": "5x"})  # fmt: skip
    accepted = store.accept(chat, b"{}")
    drain(settings_for(settings, telegram_fake))
    assert acknowledged(store, accepted.message_id)[1].state is ReplyState.SENT
    (call,) = telegram_fake.calls("sendMessage")
    assert call.params["chat_id"] == "1001" and "reply_parameters" not in call.params
    assert_nothing_in_flight(store)


def test_a_sent_reply_leaves_no_marker_behind(store: Store, settings: Settings, smtp_sink: SmtpSink) -> None:
    accepted = store.accept(email_from("alice@example.com", "clean@example.com"), b"raw")
    drain(settings)
    (sent,) = smtp_sink.wait_for(1)
    message, reply = acknowledged(store, accepted.message_id)
    assert message.ack_status == "sent" and reply.state is ReplyState.SENT and reply.attempts == 1
    assert sent.message["Message-ID"] == f"<{reply_message_id(reply, settings.email.outbound.sender)}>"
    assert_nothing_in_flight(store)


def test_one_job_at_a_time_sends_a_reply_and_a_sent_reply_is_not_sent_again(
    store: Store, settings: Settings, smtp_sink: SmtpSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What makes queuing a send job again safe: the reconciler's requeue, RQ's retry and a late duplicate alike."""
    from workers import context, jobs
    from workers.jobs import process_message, send_reply

    context.install(context.context_for(settings, store))
    accepted = store.accept(email_from("alice@example.com", "lease@example.com"), b"raw")
    reply_id = f"r-ack-{accepted.message_id}"

    def worker_dies(*args: object) -> str:
        raise RuntimeError("worker killed right before sending the acknowledgement")

    with monkeypatch.context() as patched:
        patched.setattr(jobs, "_send_new", worker_dies)
        with pytest.raises(RuntimeError):
            process_message(accepted.message_id)
    lease = store.key("sendlease", reply_id)
    # The reply was planned with its lease taken and its first attempt counted, in the MULTI that routed the message.
    assert store.redis.pttl(lease) > 0 and store.get_reply(reply_id).attempts == 1  # type: ignore[union-attr]
    assert "acknowledgement" not in process_message(accepted.message_id)  # RQ's retry: the reply's entry has it
    assert send_reply(reply_id) == "being sent by another job"  # the dead job's lease stands until it expires
    assert smtp_sink.messages == [] and inflight.is_tracked(store, Kind.SEND, reply_id)
    store.redis.delete(lease)  # as its expiry would (`workers.job_timeout_seconds`)
    assert send_reply(reply_id).startswith("sent as ")
    assert send_reply(reply_id) == "already sent"
    assert len(smtp_sink.wait_for(1)) == 1 and acknowledged(store, accepted.message_id)[0].ack_status == "sent"
    assert store.get_reply(reply_id).attempts == 2  # type: ignore[union-attr]  # the lost one counts
    assert_nothing_in_flight(store)


def test_a_new_acknowledgement_is_sent_without_taking_its_lease_again_and_lets_go_of_it(
    store: Store, settings: Settings, smtp_sink: SmtpSink
) -> None:
    from workers import context
    from workers.jobs import process_message

    context.install(context.context_for(settings, store))
    accepted = store.accept(email_from("bob@example.com", "fresh@example.com"), b"raw")
    assert process_message(accepted.message_id).endswith(
        "acknowledgement sent as "
        + (f"helpline.r-ack-{accepted.message_id}@{settings.email.outbound.sender.rpartition('@')[2]}")
    )
    reply = store.get_reply(f"r-ack-{accepted.message_id}")
    assert reply is not None and reply.state is ReplyState.SENT and reply.attempts == 1
    assert len(smtp_sink.wait_for(1)) == 1
    assert_nothing_in_flight(store)  # the lease went with the MULTI that recorded the send


def test_a_survey_job_run_twice_queues_one_survey(store: Store, settings: Settings) -> None:
    """Every job is retried by RQ now, the survey job too: a second run must not send a second survey."""
    from workers import context
    from workers.jobs import process_message
    from workers.survey import send_survey

    context.install(context.context_for(settings, store))
    accepted = store.accept(email_from("alice@example.com", "survey@example.com"), b"raw")
    process_message(accepted.message_id)
    message = store.get_message(accepted.message_id)
    assert message is not None and message.conversation_id is not None
    assert Inbox(store).resolve(message.conversation_id, "mei", datetime.now(UTC))  # surveys ask of resolved cases
    first, again = send_survey(accepted.message_id), send_survey(accepted.message_id)
    survey_id = f"r-survey-{accepted.message_id}"
    assert first == f"survey {survey_id} queued" and again == f"survey {survey_id} already queued"
    send_jobs = [job for name in QUEUE_ORDER for job in store.queue(name).job_ids if survey_id in job]
    assert send_jobs == [send_job_id(survey_id, 1)] and inflight.is_tracked(store, Kind.SEND, survey_id)


def test_a_reply_failed_for_good_is_counted_logged_and_flags_its_case(
    store: Store, settings: Settings, smtp_sink: SmtpSink, caplog: pytest.LogCaptureFixture
) -> None:
    """After its last retry: the reply's state in the record, a flag on the case (Redis and the record), the
    Prometheus counter for its channel, a warning line, and a failed job."""
    from sqlalchemy import select

    from core.case_flags import Flag, flagged
    from record.engine import engine_for
    from record.models import Conversation
    from record.models import Reply as ReplyRow
    from web.metrics import exposition

    assert b"helpline_send_failures_total{" not in exposition(store)  # nothing failed: no sample yet
    smtp_sink.refuse("451 4.3.0 try again later")
    accepted = store.accept(email_from("alice@example.com", "visible@example.com"), b"raw")
    with caplog.at_level("WARNING", logger="helpline.send"):
        drain(quick_retries(settings, attempts=2))
    message, reply = acknowledged(store, accepted.message_id)
    case = message.conversation_id
    assert reply.state is ReplyState.FAILED and case is not None
    assert failed_jobs(store) == [send_job_id(reply.id, 2)]
    assert b'helpline_send_failures_total{channel="email"} 1.0' in exposition(store)
    (line,) = [r for r in caplog.records if r.name == "helpline.send" and r.levelname == "WARNING"]
    assert reply.id in line.getMessage() and case in line.getMessage() and "451" in line.getMessage()
    assert [(f.conversation_id, f.kind) for f in flagged(store)] == [(case, Flag.SEND_FAILED)]
    assert settings.database.url is not None
    engine = engine_for(settings.database.url)
    try:
        with engine.connect() as connection:
            assert connection.scalar(select(ReplyRow.state).where(ReplyRow.id == reply.id)) == "failed"
            assert connection.scalar(select(Conversation.flags).where(Conversation.id == case)) == ["send_failed"]
    finally:
        engine.dispose()
    assert_nothing_in_flight(store)
