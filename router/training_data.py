"""The examples the triage model learns from: the shipped data (router/triage_data/) and the desk's own history.

Shipped data, read from the package (so a wheel carries it):
- `en/banking77_train.csv`: the train split of BANKING77 (PolyAI, CC BY 4.0; Casanueva et al. 2020), each intent
  mapped to a Helpline category by `en/banking77_intent_to_category.json`. Its test split is never used.
- `en/feedback.txt`: English feedback messages we wrote (BANKING77 has no feedback intent).
- `zh/<category>.txt`: the Chinese seed set, one message per line, written for Helpline (see its README).

Every shipped example falls on one side of a fixed split by a hash of its text: about one in five is held out for
evaluation and never trained on, so every `helpline train` (and the current model it is compared with) is judged on
the same unseen messages. The desk's history (workers/triage_history.py) is training data only.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterable
from dataclasses import dataclass
from importlib.resources import files
from importlib.resources.abc import Traversable

HOLDOUT_PERCENT = 20
SHIPPED_WEIGHT = 1.0


@dataclass(frozen=True)
class Example:
    text: str
    category: str
    language: str  # "en" or "zh"
    source: str  # "banking77", "seed", "correction", "confirmed"
    weight: float = SHIPPED_WEIGHT

    @property
    def held_out(self) -> bool:
        """On the evaluation side of the fixed split (shipped data only; history always trains)."""
        if self.source not in ("banking77", "seed"):
            return False
        digest = hashlib.sha256(self.text.encode("utf-8")).digest()
        return int.from_bytes(digest[:4], "big") % 100 < HOLDOUT_PERCENT


def data_root() -> Traversable:
    return files("router").joinpath("triage_data")


def shipped_examples(categories: Iterable[str] | None = None) -> list[Example]:
    """Every shipped example, English then Chinese; only those of `categories` when given."""
    root = data_root()
    wanted = set(categories) if categories is not None else None
    out = _banking77(root) + _lines(root.joinpath("en"), "en", "seed") + _lines(root.joinpath("zh"), "zh", "seed")
    return [e for e in out if wanted is None or e.category in wanted]


def split(examples: list[Example]) -> tuple[list[Example], list[Example]]:
    """(training, held out)."""
    return [e for e in examples if not e.held_out], [e for e in examples if e.held_out]


def _banking77(root: Traversable) -> list[Example]:
    mapping = json.loads(root.joinpath("en", "banking77_intent_to_category.json").read_text(encoding="utf-8"))
    category_of = {
        intent: category for category, intents in mapping.items() if not category.startswith("_") for intent in intents
    }
    text = root.joinpath("en", "banking77_train.csv").read_text(encoding="utf-8")
    out = []
    for row in csv.DictReader(io.StringIO(text)):
        category = category_of.get(row["category"])
        if category is None:
            raise ValueError(f"BANKING77 intent {row['category']!r} has no category in the mapping")
        out.append(Example(row["text"].strip(), category, "en", "banking77"))
    return out


def _lines(folder: Traversable, language: str, source: str) -> list[Example]:
    out = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".txt"):
            continue
        category = entry.name.removesuffix(".txt")
        for line in entry.read_text(encoding="utf-8").splitlines():
            if line.strip() and not line.startswith("#"):
                out.append(Example(line.strip(), category, language, source))
    return out
