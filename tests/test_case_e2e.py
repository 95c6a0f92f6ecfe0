"""A case end to end over SMTP: the customer's mail through Helpline's own SMTP server, the workers, the record and
the relay (an SMTP sink): her message and its acknowledgement, her follow-up with the details (one case, no second
ask), an agent's answer (pending), its resolution, and a later message that reopens it."""

from __future__ import annotations

import smtplib
from collections.abc import Iterator

import pytest

from core.envelope import Priority
from core.ids import conversation_reference
from core.inbox import Inbox, Status
from core.settings import Settings
from core.store import Store
from desk.cases import answer, resolve, take_next
from desk.context import desk_context
from desk.details import case_details
from desk.lookup import one_case
from ingest.email.smtp_server import controller
from tests.mail_factory import raw_email
from tests.support.ports import free_port
from tests.support.smtp_sink import SmtpSink
from tests.support.work import drain


@pytest.fixture
def smtp_port(settings: Settings, store: Store) -> Iterator[int]:
    port = free_port()
    server = controller(settings, store, port=port)
    server.start()
    yield port
    server.stop()


def send(port: int, raw: bytes) -> None:
    with smtplib.SMTP("127.0.0.1", port) as client:
        assert client.sendmail("alice@example.com", ["support@wallet.example"], raw) == {}


def waiting(store: Store) -> list[str]:
    inbox = Inbox(store)
    return [c for q in inbox.queues() for p in Priority for c, _ in inbox.waiting(q, p)]


def test_message_ack_follow_up_answer_resolve_reopen(
    smtp_port: int, store: Store, settings: Settings, smtp_sink: SmtpSink
) -> None:
    ctx = desk_context(settings, store)
    send(smtp_port, raw_email("My top-up failed and the money is gone.", message_id="<e2e-1@example.com>"))
    drain(settings)
    (ack,) = smtp_sink.wait_for(1)
    case = one_case(ctx, "<e2e-1@example.com>").case_id
    reference = conversation_reference(case)
    assert ack.message["Subject"] == f"Re: Top-up failed [{reference}]"
    assert "please reply with" in ack.message.get_content()  # the missing details are asked for, once

    follow_up = raw_email(
        "It was 120.00 USD, reference TX55667788, on 2026-03-01 09:15.",
        subject=f"RE: Re: Top-up failed [{reference}] [{reference}]",
        message_id="<e2e-2@example.com>",
        headers={
            "In-Reply-To": ack.message["Message-ID"],
            "References": f"<e2e-1@example.com> {ack.message['Message-ID']}",
        },
    )
    send(smtp_port, follow_up)
    drain(settings)
    assert len(smtp_sink.messages) == 1  # no second acknowledgement, no second ask
    assert waiting(store) == [case]  # one case, one inbox item
    found, missing = case_details(ctx, case)
    assert found.get("reference") == "TX55667788" and found.get("amount") and "amount" not in missing

    taken = take_next(ctx, Inbox(store).queues(), "mei")
    assert taken is not None and taken.case.id == case
    done = answer(ctx, one_case(ctx, reference).case_id, "Refunded.", "mei")
    assert done.case.status is Status.PENDING and waiting(store) == []
    drain(settings)
    reply = smtp_sink.wait_for(2)[1].message
    assert reply["Subject"] == f"Re: Top-up failed [{reference}]"  # one Re:, one tag, whatever her client did
    assert reply["In-Reply-To"] == "<e2e-2@example.com>"

    assert resolve(ctx, one_case(ctx, reference).case_id, "mei").case_id == case
    assert Inbox(store).case(case).status is Status.RESOLVED  # type: ignore[union-attr]

    later = raw_email(
        "It happened again today.",
        subject=f"Re: Top-up failed [{reference}]",
        message_id="<e2e-3@example.com>",
        headers={"In-Reply-To": reply["Message-ID"]},
    )
    send(smtp_port, later)
    drain(settings)
    state = Inbox(store).case(case)
    assert state is not None and state.status is Status.OPEN and state.reopened == 1
    assert waiting(store) == [case]  # the same case, back in the queue
