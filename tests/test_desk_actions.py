"""desk/'s case actions below the API, and their CLI commands: canned replies render in both languages with the
case's details, a recategorized waiting case keeps its place in line, reopening resumes or restarts the resolution
clock, `helpline agent note|reopen|canned list|answer --canned|recategorize` work on any case handle, and automatic
assignment (off by default) gives waiting cases in turn within capacity, skipping agents away."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from typer.testing import CliRunner

from core.envelope import Priority
from core.inbox import Inbox, Place, Status
from core.settings import Settings
from core.store import Store
from desk.canned import CannedNotFound, canned_replies, render_canned
from desk.cases import answer, release_unanswered, reopen, resolve, take_next
from desk.notes import NoteError, add_note, case_notes
from desk.recategorize import Change, recategorize
from helpline.cli import app
from tests.conftest import ROOT
from tests.support.smtp_sink import SmtpSink
from tests.support.work import drain
from tests.test_pipeline import email
from workers.context import context_for

TOP_UP = ("My top-up of 250.00 CNY failed and the money is gone", "en")
TOP_UP_ZH = ("我充值了250元但是失败了，钱被扣了", "zh")


def case_of(settings: Settings, store: Store, provider_id: str, text: str, language: str, sender: str) -> str:
    accepted = store.accept(email(provider_id, text, sender=sender, language=language), b"raw")
    drain(settings)
    message = store.get_message(accepted.message_id)
    assert message is not None and message.conversation_id is not None
    return message.conversation_id


def test_every_canned_reply_renders_in_both_languages_with_the_cases_details(
    settings: Settings, store: Store, smtp_sink: SmtpSink
) -> None:
    ctx = context_for(settings, store)
    english = case_of(settings, store, "cr1@example.com", *TOP_UP, "ana@example.com")
    chinese = case_of(settings, store, "cr2@example.com", *TOP_UP_ZH, "wei@example.com")
    replies = canned_replies()
    assert len(replies) >= 4 and all(c.languages == ["en", "zh"] for c in replies)
    for case, language in ((english, "en"), (chinese, "zh")):
        reference = Inbox(store).case(case)
        assert reference is not None
        for canned in replies:
            rendered = render_canned(ctx, case, canned.name, agent_name="Ana")
            assert rendered.language == language, canned.name
            assert "HL-" in rendered.text and "{" not in rendered.text and "Ana" in rendered.text, canned.name
            assert any("\u4e00" <= ch <= "\u9fff" for ch in rendered.text) == (language == "zh"), canned.name
    assert "250.00 CNY" in render_canned(ctx, english, "refund-timeline").text  # the amount the case supplied
    asks = render_canned(ctx, chinese, "transaction-reference").text
    assert "交易单号" in asks and "交易的日期和时间" in asks  # what the case still lacks, in Chinese
    with pytest.raises(CannedNotFound, match="no canned reply 'nope'"):
        render_canned(ctx, english, "nope")
    with pytest.raises(CannedNotFound):
        render_canned(ctx, english, "../acknowledgement/default")


def test_a_recategorized_waiting_case_keeps_its_place_in_line(
    settings: Settings, store: Store, smtp_sink: SmtpSink
) -> None:
    ctx = context_for(settings, store)
    first = case_of(settings, store, "pl1@example.com", "I have a question about fees", "en", "p1@example.com")
    second = case_of(settings, store, "pl2@example.com", "A question about the exchange rate", "en", "p2@example.com")
    inbox = Inbox(store)
    state = inbox.case(first)
    assert state is not None and state.queue == "general"
    score = store.redis.zscore(store.key("inbox", "general", state.priority.value), first)
    done = recategorize(ctx, first, Change("fees on a top-up", "top_up", Priority.HIGH), "ann")
    assert done.queue == ("general", "payments") and done.priority == (state.priority, Priority.HIGH)
    assert [c for c, _ in inbox.waiting("payments", Priority.HIGH)] == [first]
    assert store.redis.zscore(store.key("inbox", "payments", "high"), first) == score
    assert first not in [c for c, _ in inbox.waiting("general", state.priority)]
    assert [c for c, _ in inbox.waiting("general", state.priority)] == [second]
    moved = inbox.case(first)
    assert moved is not None and (moved.category, moved.queue, moved.priority) == ("top_up", "payments", Priority.HIGH)
    with pytest.raises(ValueError, match="say why"):
        recategorize(ctx, first, Change("  ", priority=Priority.LOW), "ann")
    with pytest.raises(ValueError, match="is not in case"):
        other = inbox.case(second)
        assert other is not None
        recategorize(ctx, first, Change("x", priority=Priority.LOW), "ann", message_id=other.lead)


def test_reopen_resumes_a_pending_clock_and_restarts_a_resolved_one(
    settings: Settings, store: Store, smtp_sink: SmtpSink
) -> None:
    ctx = context_for(settings, store)
    case = case_of(settings, store, "ro1@example.com", *TOP_UP, "rae@example.com")
    taken = take_next(ctx, "payments", "ann")
    assert taken is not None and taken.case.id == case
    answer(ctx, case, "Refunded.", "ann")
    pending = Inbox(store).case(case)
    assert pending is not None and pending.status is Status.PENDING and pending.pending_at is not None
    reopened = reopen(ctx, case, "ann")
    assert (reopened.status, reopened.place, reopened.agent) == (Status.OPEN, Place.WAITING, None)
    assert reopened.clock >= pending.clock  # moved later by the time spent pending
    assert reopened.clock - pending.clock <= reopened.since - pending.pending_at + timedelta(seconds=1)
    assert Inbox(store).load("ann") == []

    resolve(ctx, case, "ann")
    again = reopen(ctx, case, "bob")
    assert again.status is Status.OPEN and again.reopened == 1 and again.clock == again.since
    assert again.times.resolved_at is None
    with pytest.raises(ValueError, match="is open"):
        reopen(ctx, case, "bob")


def test_notes_refuse_empty_text_and_list_oldest_first(settings: Settings, store: Store, smtp_sink: SmtpSink) -> None:
    ctx = context_for(settings, store)
    case = case_of(settings, store, "no1@example.com", *TOP_UP, "nia@example.com")
    with pytest.raises(NoteError, match="empty"):
        add_note(ctx, case, "   ", "ann")
    add_note(ctx, case, "first", "ann")
    add_note(ctx, case, "second: her code was 123456", "bob")
    notes = case_notes(ctx, case)
    assert [(n.agent, n.text.split(":")[0]) for n in notes] == [("ann", "first"), ("bob", "second")]
    with pytest.raises(NoteError, match="does not hold case"):
        add_note(ctx, "t-nothing", "hello", "ann")


def test_agent_cli_notes_reopens_sends_canned_and_recategorizes_by_any_handle(
    settings: Settings, store: Store, smtp_sink: SmtpSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HELPLINE_REDIS__URL", str(settings.redis.url))
    monkeypatch.setenv("HELPLINE_DATABASE__URL", str(settings.database.url))
    monkeypatch.setenv("HELPLINE_EMAIL__OUTBOUND__PORT", str(smtp_sink.port))
    shipped = ["--settings", str(ROOT / "settings.toml")]
    runner = CliRunner()
    case = case_of(settings, store, "cli1@example.com", *TOP_UP_ZH, "lin@example.com")
    case_of(settings, store, "cli2@example.com", "and another question about fees", "en", "lin@example.com")
    reference = "<cli1@example.com>"  # its Message-ID

    listed = runner.invoke(app, ["agent", "canned", "list", "--json", *shipped])
    assert listed.exit_code == 0, listed.output
    assert "refund-timeline" in {c["name"] for c in json.loads(listed.output)}

    noted = runner.invoke(app, ["agent", "note", reference, "card 4111 1111 1111 1111 blocked", "--as", "li", *shipped])
    assert noted.exit_code == 0 and "masked: card_number" in noted.output, noted.output
    [note] = case_notes(context_for(settings, store), case)
    assert note.agent == "li" and "4111" not in note.text
    ambiguous = runner.invoke(app, ["agent", "note", "lin@example.com", "which one?", *shipped])
    assert ambiguous.exit_code == 4 and "matches 2 cases" in ambiguous.output

    both = runner.invoke(app, ["agent", "answer", reference, "--text", "x", "--canned", "known-outage", *shipped])
    assert both.exit_code == 2
    unknown = runner.invoke(app, ["agent", "answer", reference, "--canned", "nope", *shipped])
    assert unknown.exit_code == 1 and "no canned reply 'nope'" in unknown.output
    canned = runner.invoke(app, ["agent", "answer", reference, "--canned", "refund-timeline", "--as", "li", *shipped])
    assert canned.exit_code == 0 and "case pending" in canned.output, canned.output
    drain(settings)
    sent = [m.message.get_content() for m in smtp_sink.messages]
    assert any("原路退回" in body and "250 CNY" in body for body in sent)  # in Chinese, with the case's amount

    reopened = runner.invoke(app, ["agent", "reopen", reference, "--as", "li", *shipped])
    assert reopened.exit_code == 0 and "open, waiting in payments" in reopened.output, reopened.output
    refused = runner.invoke(app, ["agent", "reopen", reference, *shipped])
    assert refused.exit_code == 1 and "only a pending or resolved case reopens" in refused.output

    moved = runner.invoke(app, ["agent", "recategorize", reference, "refund", "--priority", "high",
                                "--reason", "she wants the money back", "--as", "li", *shipped])  # fmt: skip
    assert moved.exit_code == 0, moved.output
    assert "category top_up -> refund" in moved.output and "kept for training" in moved.output
    state = Inbox(store).case(case)
    assert state is not None and (state.category, state.queue, state.priority) == ("refund", "payments", Priority.HIGH)
    several = runner.invoke(app, ["agent", "recategorize", "lin@example.com", "-p", "low", "-r", "x", *shipped])
    assert several.exit_code == 4 and "matches 2 cases" in several.output
    no_reason = runner.invoke(app, ["agent", "recategorize", reference, "--queue", "vip", "--reason", " ", *shipped])
    assert no_reason.exit_code == 1 and "say why" in no_reason.output


def test_auto_assign_gives_waiting_cases_in_turn_within_capacity_skipping_agents_away(
    settings: Settings, store: Store, smtp_sink: SmtpSink
) -> None:
    from sqlalchemy import func, select

    from desk.agents import AgentStore
    from record.models import AuditEntry, Conversation

    ctx = context_for(settings, store)
    agents = AgentStore(ctx.record)
    ann = agents.add("Ann", "ann@desk.example", queues=["payments"], capacity=1)
    bea = agents.add("Bea", "bea@desk.example", queues=["payments"], capacity=5)
    agents.set_away(bea.id, True)
    cy = agents.add("Cy", "cy@desk.example", queues=["payments", "general"], capacity=2)
    dee = agents.add("Dee", "dee@desk.example", queues=["general"], capacity=5)

    assert not settings.cases.auto_assign  # off by default: the case waits for "next"
    left = case_of(settings, store, "aa0@example.com", *TOP_UP, "aa0@example.com")
    assert Inbox(store).case(left).place is Place.WAITING  # type: ignore[union-attr]

    auto = settings.model_copy(update={"cases": settings.cases.model_copy(update={"auto_assign": True})})
    cases = [case_of(auto, store, f"aa{n}@example.com", *TOP_UP, f"aa{n}@example.com") for n in range(1, 5)]
    holders = [Inbox(store).case(case).agent for case in cases]  # type: ignore[union-attr]
    assert holders[0] != holders[1] and None not in holders[:2]  # in turn
    assert holders[3] is None  # Ann (1) and Cy (2) are full, Bea is away, Dee does not work payments
    loads = {agent.name: len(Inbox(store).load(agent.id)) for agent in (ann, bea, cy, dee)}
    assert loads == {"Ann": 1, "Bea": 0, "Cy": 2, "Dee": 0}
    assert sorted(c for c, _ in Inbox(store).waiting("payments", Inbox(store).case(left).priority)) == sorted(  # type: ignore[union-attr]
        [left, cases[3]]
    )
    lead = store.get_message(Inbox(store).case(cases[0]).lead)  # type: ignore[union-attr]
    assert lead is not None and any(note.startswith("assigned to") for note in lead.notes)
    with ctx.record.connect() as connection:
        assert connection.scalar(select(func.count()).where(AuditEntry.action == "auto-assign")) == 3
        held = connection.scalars(select(Conversation.assigned_agent_id).where(Conversation.id.in_(cases))).all()
    assert sorted(h for h in held if h) == sorted(h for h in holders if h)

    # Cy answers and resolves one: reopened, it goes straight back to someone with room (Cy).
    mine = next(case for case, holder in zip(cases, holders, strict=True) if holder == cy.id)
    auto_ctx = context_for(auto, store)
    answer(auto_ctx, mine, "Refunded.", cy.id)
    resolve(auto_ctx, mine, cy.id)
    again = reopen(auto_ctx, mine, cy.id)
    assert (again.place, again.agent) == (Place.TAKEN, cy.id)

    # A claim left unanswered past claim_timeout_minutes goes to someone else with room, not back to its holder.
    timed = auto.model_copy(update={"cases": auto.cases.model_copy(update={"claim_timeout_minutes": 30})})
    agents.set_away(bea.id, False)
    lapsed = next(case for case, holder in zip(cases, holders, strict=True) if holder == ann.id)
    later = datetime.now(UTC) + timedelta(minutes=31)
    released = release_unanswered(context_for(timed, store), later)  # every unanswered claim is that old here
    assert lapsed in released
    assert Inbox(store).case(lapsed).agent not in (None, ann.id)  # type: ignore[union-attr]
