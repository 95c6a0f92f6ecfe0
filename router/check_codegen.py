"""Conditions written once, as Python statements, and compiled to ONE flat function: the hot path of `decide`.

Each condition (router.conditions, router.condition_tree) says what it tests only as `statements(const)`: lines
that read the facts as `f` and `return` its failure reason, or fall through when it holds. `compile_check` turns
them into a function, for a condition alone (its `fails`) or for a rule's whole tree. For `channel = ["sms"]` and
`keywords_any = ["refund"]`:

    def check(f):
        if f.channel not in c0: return c1
        if c2.isdisjoint(f.keywords): return c3
        return None

Walking a tree of objects would cost a method call per node plus the loop of every AND; the flat function holds
the same tests inline, in the same order. `c0`… are the conditions' own values (frozensets, reasons, compiled
patterns), named by `const(value)` and bound in the function's globals. The code is built only from those names and
fixed text: no value from a settings file is ever pasted into it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from router.facts import Facts

Check = Callable[[Facts], "str | None"]
Const = Callable[[object], str]  # binds a value to a fresh global name and returns the name


class Testable(Protocol):
    def statements(self, const: Const) -> list[str]: ...


def compile_check(node: Testable) -> Check:
    """The node's statements as a function: None when the condition holds, else its failure reason."""
    constants: dict[str, object] = {}

    def const(value: object) -> str:
        key = f"c{len(constants)}"
        constants[key] = value
        return key

    body = "".join(f"    {line}\n" for line in node.statements(const))
    source = f"def check(f):\n{body}    return None\n"
    namespace: dict[str, object] = dict(constants)
    exec(compile(source, "<router check>", "exec"), namespace)
    check: Check = namespace["check"]  # type: ignore[assignment]
    return check
