"""A rule's condition tree compiled to ONE flat Python function: the hot path of `Router.decide`.

Calling `node.fails` walks the tree: a method call per node, plus the loop of every AND. The generated function
holds the same tests inline, in the same order, and returns the same failure reason, e.g. for
`channel = ["sms"]` and `keywords_any = ["refund"]`:

    def check(f):
        if f.channel not in c0: return c1
        if c2.isdisjoint(f.keywords): return c3
        return None

`c0`… are the node's own values (frozensets, reasons, compiled patterns), bound in the function's globals. An
`all` is flattened into its children's statements; the children of `any` and `not` get functions of their own.
The code is built only from those names and fixed text: no value from a settings file is ever pasted into it.
"""

from __future__ import annotations

from collections.abc import Callable

from router.conditions import AllOf, AnyOf, Const, Node, NotOf
from router.facts import Facts

Check = Callable[[Facts], "str | None"]


def compile_check(node: Node) -> Check:
    """A function equivalent to `node.fails`: None when the condition holds, else the same reason."""
    constants: dict[str, object] = {}

    def const(value: object) -> str:
        key = f"c{len(constants)}"
        constants[key] = value
        return key

    body = "".join(f"    {line}\n" for line in _statements(node, const))
    source = f"def check(f):\n{body}    return None\n"
    namespace: dict[str, object] = dict(constants)
    exec(compile(source, "<router check>", "exec"), namespace)
    check: Check = namespace["check"]  # type: ignore[assignment]
    return check


def _statements(node: Node, const: Const) -> list[str]:
    """Statements that `return` node's failure reason, or fall through when it holds."""
    if isinstance(node, AllOf):  # the children in order: the first that fails returns, like AllOf.fails
        return [line for child in node.children for line in _statements(child, const)]
    if isinstance(node, AnyOf):  # fails only when every child does (each compiled on its own)
        every = " and ".join(f"{const(compile_check(child))}(f) is not None" for child in node.children)
        return [f"if {every or 'True'}: return {const(node.fail_reason)}"]
    if isinstance(node, NotOf):
        return [f"if {const(compile_check(node.child))}(f) is None: return {const(node.fail_reason)}"]
    inlined = node.inline(const)
    if inlined is not None:
        return inlined
    return [f"r = {const(node.fails)}(f)", "if r is not None: return r"]
