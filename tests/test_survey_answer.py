"""What reads as an answer to the satisfaction survey (core/survey_answer.py), in English, Chinese and emoji; and,
as much, what must not: a message about money that happens to start with a small number is a new request."""

from __future__ import annotations

import pytest

from core.survey_answer import Rating, parse_rating

RATINGS: list[tuple[str, int, str | None]] = [
    # digits, alone and on a scale
    ("5", 5, None),
    ("1", 1, None),
    (" 3 \n", 3, None),
    ("５", 5, None),  # full width
    ("４／５", 4, None),
    ("5/5", 5, None),
    ("4 / 5", 4, None),
    ("5 out of 5", 5, None),
    ("5 stars", 5, None),
    ("2 stars, nobody read my mail", 2, "nobody read my mail"),
    ("5分", 5, None),
    ("5 分", 5, None),
    ("5星", 5, None),
    ("3颗星", 3, None),
    ("五星", 5, None),
    ("五分，谢谢", 5, "谢谢"),
    ("五", 5, None),
    ("Rating: 4", 4, None),
    ("评分：2", 2, None),
    # digits with a comment
    ("5, thanks a lot", 5, "thanks a lot"),
    ("5 thanks!", 5, "thanks!"),
    ("4 - quick but had to ask twice", 4, "quick but had to ask twice"),
    ("1. You never answered my question", 1, "You never answered my question"),
    ("2\nThe agent was rude", 2, "The agent was rude"),
    ("5！非常感谢", 5, "非常感谢"),
    ("1，问题根本没解决", 1, "问题根本没解决"),
    ("3 but slow", 3, "but slow"),
    ("5 👍", 5, "👍"),
    # English words
    ("excellent", 5, None),
    ("Great!", 5, None),
    ("great service, thank you", 5, "service, thank you"),
    ("Good job", 4, "job"),
    ("good", 4, None),
    ("very good", 5, None),
    ("Very satisfied.", 5, None),
    ("not satisfied, still waiting", 2, "still waiting"),
    ("bad", 2, None),
    ("Poor. Took a week.", 2, "Took a week."),
    ("terrible", 1, None),
    ("so-so", 3, None),
    # Chinese words
    ("满意", 4, None),
    ("非常满意", 5, None),
    ("非常满意！", 5, None),
    ("满意，谢谢", 4, "谢谢"),
    ("满意谢谢", 4, "谢谢"),
    ("不满意", 2, None),
    ("不满意，客服态度很差", 2, "客服态度很差"),
    ("很不满意", 1, None),
    ("一般", 3, None),
    ("一般般吧", 3, "吧"),
    ("还行", 3, None),
    ("好评", 5, None),
    # emoji and stars
    ("👍", 5, None),
    ("👍🏽", 5, None),  # skin tone
    ("👍👍", 5, None),
    ("👎", 1, None),
    ("😀", 5, None),
    ("🙂", 4, None),
    ("😐", 3, None),
    ("☹️", 2, None),
    ("😡", 1, None),
    ("😡 still no money", 1, "still no money"),
    ("❤️", 5, None),
    ("⭐⭐⭐⭐⭐", 5, None),
    ("⭐⭐⭐", 3, None),
    ("⭐️⭐️⭐️⭐️", 4, None),  # with variation selectors
    ("★★★☆☆", 3, None),
    ("⭐ terrible", 1, "terrible"),
]

NOT_RATINGS = [
    "5000 yuan missing",
    "I paid 5 dollars",
    "5 dollars are missing from my account",
    "5 days and still no refund",
    "3 transfers failed today",
    "2 weeks ago I sent money",
    "5元没到账",
    "5 元",
    "五百元没到账",
    "4.5",
    "5,000 is gone",
    "5%",
    "$5",
    "5$ missing",
    "5/10",
    "3/4 of my money is gone",
    "1. my account is alice\n2. the amount is 300",
    "10",
    "0",
    "6",
    "55",
    "good morning, my transfer failed",
    "goodbye",
    "Goods not received",
    "badly charged twice",
    "ok",
    "OK, I will send the documents tomorrow",
    "fine",
    "好的",
    "好的，谢谢",
    "一般来说我的账户没问题",
    "满意度调查是什么",
    "thanks",
    "谢谢",
    "where is my money?",
    "my card was charged twice",
    "⭐⭐⭐⭐⭐⭐",
    "",
    "   ",
    "Rating",
]


@pytest.mark.parametrize(("text", "score", "comment"), RATINGS)
def test_a_rating_is_read_with_its_comment(text: str, score: int, comment: str | None) -> None:
    assert parse_rating(text) == Rating(score, comment)


@pytest.mark.parametrize("text", NOT_RATINGS)
def test_what_is_not_a_rating_is_left_for_agents(text: str) -> None:
    assert parse_rating(text) is None


def test_every_score_has_a_way_to_say_it_in_every_form() -> None:
    """The tables reach every score in digits, English, Chinese and emoji: no score is unreachable in a language."""
    for form in (["1", "2", "3", "4", "5"], ["terrible", "bad", "average", "good", "excellent"],
                 ["很不满意", "不满意", "一般", "满意", "非常满意"], ["😡", "🙁", "😐", "🙂", "😀"]):  # fmt: skip
        assert [parse_rating(text).score for text in form] == [1, 2, 3, 4, 5]  # type: ignore[union-attr]


def test_a_long_message_is_read_whole_once_its_start_says_rating() -> None:
    """The verdict comes from the first characters; the comment and a numbered list further down from the whole."""
    comment = "the agent was slow " * 300
    assert parse_rating(f"2, {comment}") == Rating(2, comment.strip())
    assert parse_rating("1. my account is alice\n" + "x" * 600 + "\n2. the amount is 300") is None
    assert parse_rating("I paid 5 dollars " * 5000) is None
