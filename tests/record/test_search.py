"""Search over the record: folded text in both languages (trigrams for 3+ characters, bigrams for 1–2 Chinese
characters, both through their indexes), and cases by reference, email address or phone number."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, insert, select, text, update

from core.envelope import Channel, Envelope, Party
from core.records import ANSWER, Reply, utcnow
from core.settings import Settings
from core.store import Store
from record.engine import engine_for
from record.models import Conversation, Note
from record.models import Reply as ReplyRow
from record.search import QueryTooShort, cjk_grams, find_conversations, is_cjk, search_text
from record.writer import write_replies
from router.normalize import normalize
from tests.support.work import drain


@pytest.fixture
def record(settings: Settings) -> Iterator[Engine]:
    assert settings.database.url is not None
    engine = engine_for(settings.database.url)
    yield engine
    engine.dispose()


@pytest.fixture
def messages(store: Store, settings: Settings) -> dict[str, str]:
    texts = {
        "simplified": "我的转账失败了",
        "traditional": "轉賬失敗，請幫忙",
        "english": "Refund please, I was charged twice",
        "percent": "Is the discount 50% off?",
        "plain": "Is it 50 off?",
    }
    ids = {}
    for name, body in texts.items():
        envelope = Envelope(
            channel=Channel.EMAIL, provider_id=f"{name}@example.com", sender=Party(address=f"{name}@example.com"),
            subject="", text=body, message_id=f"{name}@example.com",
        )  # fmt: skip
        ids[name] = store.accept(envelope, b"raw").message_id
    sms = Envelope(channel=Channel.SMS, provider_id="SM-search", sender=Party(address="+14155550100"), text="hello")
    ids["sms"] = store.accept(sms, b"raw").message_id
    drain(settings)
    return ids


def found(engine: Engine, query: str, kind: str = "message") -> set[str]:
    with engine.connect() as connection:
        return {hit.id for hit in search_text(connection, normalize(query)) if hit.kind == kind}


def test_chinese_is_found_in_either_script_by_one_two_or_more_characters(
    record: Engine, messages: dict[str, str]
) -> None:
    both = {messages["simplified"], messages["traditional"]}
    assert found(record, "轉賬") == both  # two characters, traditional: the bigram index
    assert found(record, "转账") == both
    assert found(record, "账") == both  # one character
    assert found(record, "转账失败") == both  # four characters: the trigram index
    assert found(record, "失败了") == {messages["simplified"]}
    assert found(record, "帮忙") == {messages["traditional"]}


def test_latin_text_is_folded_and_matched_literally(record: Engine, messages: dict[str, str]) -> None:
    assert found(record, "REFUND") == {messages["english"]}
    assert found(record, "ＲＥＦＵＮＤ") == {messages["english"]}  # full width
    assert found(record, "50%") == {messages["percent"]}  # % is a character, not a LIKE wildcard
    assert found(record, "50 off") == {messages["plain"]}
    with pytest.raises(QueryTooShort):
        found(record, "ab")  # too short for trigrams, and not Chinese
    with pytest.raises(QueryTooShort):
        found(record, "  ")


def test_notes_are_searched_too(record: Engine, messages: dict[str, str]) -> None:
    with record.begin() as connection:
        conversation = connection.scalar(select(Conversation.id).limit(1))
        folded = normalize("客戶說卡被凍結")
        connection.execute(
            insert(Note).values(
                conversation_id=conversation,
                text="客戶說卡被凍結",
                search_text=folded,
                search_bigrams=cjk_grams(folded),
                created_at=utcnow(),
            )
        )
    assert found(record, "冻结", kind="note") == {"1"}
    assert found(record, "冻结") == set()  # no message says it


def test_agents_answers_are_searched_and_automatic_replies_are_not(record: Engine, messages: dict[str, str]) -> None:
    """An acknowledgement or a survey is its template's words, in every case: searchable, it would bury what customers
    and agents wrote. It is recorded without search text, and one recorded with it (before that) is not searched."""
    text_ = "For your safety: we will never ask for your password. 我们不会索要密码"
    replies = [
        Reply(id=f"r-{name}", message_id=messages["english"], channel=Channel.EMAIL, to="english@example.com",
              purpose=purpose, language="en", text=text_, state="sent", attempts=1)
        for name, purpose in [(ANSWER, ANSWER), ("acknowledgement", "acknowledgement"), ("survey", "survey"),
                              ("legacy", ANSWER)]
    ]  # fmt: skip
    with record.begin() as connection:
        write_replies(connection, replies, normalize)
        # An acknowledgement recorded before automatic replies went unindexed: written as an answer is, then renamed.
        connection.execute(update(ReplyRow).where(ReplyRow.id == "r-legacy").values(purpose="acknowledgement"))
        rows = {row.id: row.search_text for row in connection.execute(select(ReplyRow.id, ReplyRow.search_text))}
    assert rows["r-acknowledgement"] == rows["r-survey"] == ""
    assert "password" in rows["r-answer"] and rows["r-legacy"] == rows["r-answer"]
    assert found(record, "password", kind="reply") == {"r-answer"}  # not the legacy acknowledgement's indexed text
    assert found(record, "密码", kind="reply") == {"r-answer"}


def test_both_queries_are_answered_by_their_indexes(record: Engine, messages: dict[str, str]) -> None:
    with record.connect() as connection:
        connection.execute(text("SET enable_seqscan = off"))  # a tiny table: make the planner show its index choice
        for query, index in [("失败了", "ix_messages_search_text_trgm"), ("冻结", "ix_messages_search_bigrams")]:
            statement = text(
                "EXPLAIN SELECT id FROM messages WHERE search_text LIKE :pattern"
                if len(query) >= 3
                else "EXPLAIN SELECT id FROM messages WHERE search_bigrams @> ARRAY[CAST(:gram AS text)]"
            )
            plan = "\n".join(connection.scalars(statement, {"pattern": f"%{query}%", "gram": query}))
            assert index in plan, plan


def test_cases_are_found_by_reference_email_and_phone(record: Engine, messages: dict[str, str]) -> None:
    with record.connect() as connection:
        english = connection.execute(
            text("SELECT c.id, c.reference FROM conversations c JOIN messages m ON m.conversation_id = c.id "
                 "WHERE m.id = :id"), {"id": messages["english"]},
        ).one()  # fmt: skip
        sms_case = connection.scalar(
            text("SELECT conversation_id FROM messages WHERE id = :id"), {"id": messages["sms"]}
        )
        assert find_conversations(connection, english.reference.lower()) == [english.id]
        assert find_conversations(connection, "ENGLISH@example.com") == [english.id]
        assert find_conversations(connection, "(415) 555-0100") == [sms_case]
        assert find_conversations(connection, "+1 415 555 0100") == [sms_case]
        assert find_conversations(connection, "nobody@example.com") == []
        assert find_conversations(connection, "not a number") == []


def test_chinese_grams_are_the_characters_and_pairs_of_each_run_within_the_ranges_is_cjk_names() -> None:
    # The ranges' first and last characters, and the ones just outside them, which break a run.
    text = "ab 冻结了 \u33ff\u3400\u9fff\ua000\uf8ff\uf900\ufaff\ufb00\U0001ffff\U00020000\U0010ffff 卡"
    expected = {"冻", "结", "了", "冻结", "结了", "\u3400", "\u9fff", "\u3400\u9fff", "\uf900", "\ufaff",
                "\uf900\ufaff", "\U00020000", "\U0010ffff", "\U00020000\U0010ffff", "卡"}  # fmt: skip
    assert cjk_grams(text) == sorted(expected)
    assert all(is_cjk(c) for gram in expected for c in gram)
    assert cjk_grams("no Chinese here 123") == []
