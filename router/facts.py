"""What the rules look at, computed ONCE per message before any rule runs."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class Facts:
    channel: str
    recipient: str  # lower-cased address, number or bot; "" when unknown
    chosen_category: str  # "" when the customer chose nothing
    sender: str  # lower-cased
    language: str  # lower-cased, e.g. "zh" or "zh-tw"
    text: str  # subject + text in keyword-matching form (router.normalize.normalize)
    folded: str  # subject + text width-folded and simplified, for regular expressions (router.normalize.fold)
    keywords: set[int]  # ids of every keyword found in `text`
    spans: list[tuple[int, int, int]]  # every keyword match as (start, end, id), for classification
    has_attachment: bool
    new_conversation: bool
    in_business_hours: bool | None
    tags: set[str] = field(default_factory=set)  # contact tags; rules with `continue` add to them
    category: str = ""  # the category decided so far; rules may change it
    # The recipient and every other address the message reached, lower-cased; completed once, in __post_init__.
    recipients: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        self.recipients = self.recipients | {self.recipient}
