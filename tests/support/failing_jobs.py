"""Jobs for worker tests, importable by RQ by their dotted names."""

from __future__ import annotations


def fail_quoting_a_card() -> None:
    """Fails the way a parser or a provider's error can: its message quotes what the customer wrote."""
    raise ValueError("cannot read 'my card 4111 1111 1111 1111 was charged twice'")
