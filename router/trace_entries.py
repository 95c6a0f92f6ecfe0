"""Read-only trace entries, shared by every decision that skips or fails a rule the same way.

A decision's trace has one entry per rule up to the one that stopped the evaluation — about 200 with 200 rules —
and nearly all of them say the same thing for every message: "rule X: not matched, because <a reason fixed when
the rules were compiled>". Building 200 fresh dicts per message cost more than the rest of the decision, so the
router makes each such entry once and puts the same object in many traces. Being shared, an entry refuses
changes (TypeError); its copies (`dict(entry)`, copy, deepcopy, pickle) are plain dicts. It compares, reads,
serialises (json, pydantic) and stores exactly like the dict it holds.
"""

from __future__ import annotations

import copy
from typing import Any, NoReturn


class ReadOnlyEntry(dict[str, Any]):
    __slots__ = ()

    def _refuse(self, *args: object, **kwargs: object) -> NoReturn:
        raise TypeError("trace entries are shared between decisions and read-only; change a copy: dict(entry)")

    __setitem__ = __delitem__ = __ior__ = clear = pop = popitem = setdefault = update = _refuse

    def __copy__(self) -> dict[str, Any]:
        return dict(self)

    def __deepcopy__(self, memo: dict[int, Any]) -> dict[str, Any]:
        return copy.deepcopy(dict(self), memo)

    def __reduce__(self) -> tuple[type[dict[str, Any]], tuple[dict[str, Any]]]:
        return dict, (dict(self),)
