"""Reply subjects: one `Re:` (or `回复：` on a Chinese thread) and one reference tag, whatever the client did."""

from __future__ import annotations

import pytest

from core.subjects import bare_subject, reply_subject

REF = "HL-9F3A2C1D4B7E"


@pytest.mark.parametrize(
    "subject",
    [
        "Top-up failed",
        "Re: Top-up failed",
        "RE: re: Top-up failed",
        "Re: Top-up failed [HL-9F3A2C1D4B7E]",
        "Re: [HL-9F3A2C1D4B7E] Re: Top-up failed [HL-9F3A2C1D4B7E]",
        "回复：Re: Top-up failed",
        "回复: 答复：Top-up failed",
        "Re[2]: Fwd: Top-up failed",
        "AW: SV: Top-up  failed",
    ],
)
def test_one_prefix_and_one_tag_whatever_the_client_did(subject: str) -> None:
    assert reply_subject(subject, REF, "en") == f"Re: Top-up failed [{REF}]"
    assert reply_subject(subject, REF, "zh-CN") == f"回复：Top-up failed [{REF}]"


def test_a_subject_that_is_only_prefixes_and_tags_is_empty() -> None:
    assert bare_subject("Re: [HL-9F3A2C1D] 回复：") == ""
    assert bare_subject("Rebate question") == "Rebate question"  # a word starting with "Re" is not a prefix
    assert reply_subject("充值失败", "", "zh") == "回复：充值失败"
