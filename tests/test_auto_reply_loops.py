"""Loops with robots that answer from a new address each time, through the real SMTP server, a worker and the relay
sink: the acknowledgements stop at the cap, and many customers of one mail provider still all get theirs."""

from __future__ import annotations

import smtplib
from collections.abc import Iterator

import pytest

from core.settings import Settings
from core.store import Store
from ingest.email.smtp_server import controller
from tests.mail_factory import raw_email
from tests.support.ports import free_port
from tests.support.smtp_sink import SmtpSink
from tests.support.work import drain
from workers.reply_caps import address_shape, normalised_text

ROUNDS = 8  # far past the cap: a loop that is not broken shows as one acknowledgement per round


@pytest.fixture
def smtp_port(settings: Settings, store: Store) -> Iterator[int]:
    port = free_port()
    server = controller(settings, store, port=port)
    server.start()
    yield port
    server.stop()


def send(port: int, raw: bytes, sender: str) -> None:
    with smtplib.SMTP("127.0.0.1", port) as client:
        assert client.sendmail(sender, ["support@wallet.example"], raw) == {}


def robot_answer(number: int, *, in_reply_to: str | None = None, wording: str = "") -> tuple[str, bytes]:
    """A desk's robot without any auto-reply header, answering from a per-ticket (VERP-style) address."""
    sender = f"bounce+ticket{number}@desk.example"
    headers = {"In-Reply-To": in_reply_to, "References": in_reply_to} if in_reply_to else {}
    raw = raw_email(
        f"Thank you for contacting us. Your ticket number is {number}, opened on 2026-12-{number % 28 + 1:02d}. "
        f"We will get back to you within 24 hours.{wording}",
        sender=sender,
        subject=f"Re: Ticket #{number} received",
        headers=headers,
    )
    return sender, raw


def test_a_robot_answering_each_acknowledgement_from_a_new_address_is_stopped_at_the_cap(
    smtp_port: int, settings: Settings, smtp_sink: SmtpSink
) -> None:
    """Each round the robot answers our latest acknowledgement (In-Reply-To/References) from a new address, with a
    text that differs in more than numbers: only the thread cap can stop it."""
    limit = settings.replies.auto_reply_limit
    sender, raw = robot_answer(100, wording=" (round 0)")
    send(smtp_port, raw, sender)
    for round_number in range(1, ROUNDS):
        drain(settings)
        acknowledgements = smtp_sink.messages
        latest = acknowledgements[-1].message["Message-ID"]
        words = " ".join(["again"] * round_number)  # the text changes every round, beyond its numbers
        sender, raw = robot_answer(100 + round_number, in_reply_to=latest, wording=f" {words}")
        send(smtp_port, raw, sender)
    drain(settings)
    # The first message opens the thread; `limit` answers to our own replies are acknowledged, then none.
    assert len(smtp_sink.messages) == limit + 1
    assert len({m.rcpt_tos[0] for m in smtp_sink.messages}) == limit + 1


def test_a_robot_sending_the_same_text_without_references_is_stopped_at_the_cap(
    smtp_port: int, settings: Settings, smtp_sink: SmtpSink
) -> None:
    """No References at all: only the repeated text (its numbers normalised) from one address shape betrays it."""
    for round_number in range(ROUNDS):
        sender, raw = robot_answer(200 + round_number)
        send(smtp_port, raw, sender)
        drain(settings)
    assert len(smtp_sink.messages) == settings.replies.auto_reply_limit


def test_fifty_customers_of_one_provider_all_get_their_acknowledgement(
    smtp_port: int, settings: Settings, smtp_sink: SmtpSink, store: Store
) -> None:
    """The same short text from fifty different gmail.com people during an outage is not a loop."""
    names = [f"{first}.{last}" for first in ("ana", "ben", "chen", "dara", "eli") for last in "klmnopqrst"]
    for index, name in enumerate(names):
        sender = f"{name}{1980 + index}@gmail.com"  # numbers in real addresses too
        send(smtp_port, raw_email("My payment failed, please help", sender=sender, subject="Payment failed"), sender)
    drain(settings)
    acknowledged = smtp_sink.wait_for(len(names))
    expected = sorted(f"{name}{1980 + index}@gmail.com" for index, name in enumerate(names))
    assert sorted(m.rcpt_tos[0] for m in acknowledged) == expected


def test_qq_numbers_are_people_not_ticket_numbers(smtp_port: int, settings: Settings, smtp_sink: SmtpSink) -> None:
    for number in range(10):
        sender = f"{284710390 + number * 7919}@qq.com"
        send(smtp_port, raw_email("充值没到账", sender=sender, subject="充值问题"), sender)
    drain(settings)
    assert len(smtp_sink.wait_for(10)) == 10


@pytest.mark.parametrize(
    ("address", "shape"),
    [
        ("bounce+ticket123@desk.example", "bounce+ticket#@desk.example"),
        ("noreply-8f3a@desk.example", "noreply-#@desk.example"),
        ("Ana.K1980@Gmail.com", "ana.k#@gmail.com"),
        ("284710390@qq.com", "284710390@qq.com"),
    ],
)
def test_address_shape_keeps_what_a_robot_keeps(address: str, shape: str) -> None:
    assert address_shape(address) == shape


def test_normalised_text_ignores_reply_prefixes_numbers_and_spacing() -> None:
    first = normalised_text("Re: RE: Ticket #123 received", "We got ticket 123\non 2026-12-03.  Ref ABC-99")
    second = normalised_text("回复: Ticket #9 received", "We got ticket 9 on 2027-01-01. Ref ABC-100")
    assert first == second == "ticket # received we got ticket # on # ref #"
    assert normalised_text("Ticket received", "a different text") != first
