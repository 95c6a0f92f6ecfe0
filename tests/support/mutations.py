"""Hypothesis strategies for property tests of the webhooks: JSON values of every shape, and mutations of a good
payload (a field replaced by a value of another type, a field dropped, junk added, nesting deepened, bytes broken).

Every property test runs with `PROPERTIES`: derandomized (the same examples on every run and machine, no example
database), a bounded number of examples, no per-example deadline (each example is a real HTTP call into real Redis).
"""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

PROPERTIES = settings(
    max_examples=150,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)

# Text without lone surrogates: what an HTTP client can encode at all (broken bytes are a mutation of their own).
texts = st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=40)
json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | texts
json_values = st.recursive(
    json_scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts, inner, max_size=4), max_leaves=10
)
# What an id may wrongly be: digits as a string, a float, a bool, a number past 64 bits, nothing.
wrong_ids = st.one_of(
    st.integers().map(str), st.floats(allow_nan=False), st.booleans(), st.integers(min_value=2**64), st.none(), texts
)
DEEP = 5000  # far past any recursion limit in Python or in the JSON parser


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value inside `value` (dict keys and list indexes), outermost first."""
    found: list[tuple[Any, ...]] = []
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, inner in items:
        found.append((*prefix, key))
        found.extend(paths(inner, (*prefix, key)))
    return found


def _parent(value: Any, path: tuple[Any, ...]) -> Any:
    for key in path[:-1]:
        value = value[key]
    return value


@st.composite
def mutated(draw: st.DrawFn, payload: dict[str, Any], keep: tuple[str, ...] = ()) -> dict[str, Any]:
    """`payload` with up to three mutations, never at a top-level key in `keep` (or inside it)."""
    result = copy.deepcopy(payload)
    for _ in range(draw(st.integers(0, 3))):
        candidates = [p for p in paths(result) if p[0] not in keep]
        if not candidates:
            break
        path = draw(st.sampled_from(candidates))
        parent = _parent(result, path)
        kind = draw(st.sampled_from(["replace", "wrong id", "drop", "junk", "nest"]))
        if kind == "replace":
            parent[path[-1]] = draw(json_values)
        elif kind == "wrong id":
            parent[path[-1]] = draw(wrong_ids)
        elif kind == "drop" and isinstance(parent, dict):
            del parent[path[-1]]
        elif kind == "junk" and isinstance(parent, dict):
            parent[draw(texts)] = draw(json_values)
        elif kind == "nest":
            parent[path[-1]] = nested(draw(st.integers(1, 400)), parent[path[-1]])
    return result


def nested(depth: int, inner: Any) -> Any:
    for _ in range(depth):
        inner = {"a": inner}
    return inner


@st.composite
def broken_bytes(draw: st.DrawFn, body: bytes) -> bytes:
    """`body` cut short, with a byte that is never UTF-8 inside, or deep-nested past every limit as raw text."""
    kind = draw(st.sampled_from(["cut", "bad byte", "deep", "binary"]))
    if kind == "cut":
        return body[: draw(st.integers(0, max(0, len(body) - 1)))]
    if kind == "bad byte":
        at = draw(st.integers(0, len(body)))
        return body[:at] + draw(st.sampled_from([b"\xff", b"\xc0\xaf", b"\xed\xa0\x80", b"\x80"])) + body[at:]
    if kind == "deep":
        return body[:1] + b'"x":' + b"[" * DEEP + b"]" * DEEP + b"," + body[1:]
    return draw(st.binary(max_size=200))
