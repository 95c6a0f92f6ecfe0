"""A stored decision's trace, in words an admin can read (`helpline explain MESSAGE_ID`, helpline/explain_cli.py)."""

from __future__ import annotations

from typing import Any

from core.records import StoredMessage


def explain(message: StoredMessage) -> str:
    envelope = message.envelope
    lines = [
        f"message {message.id}: {envelope.channel.value} from {envelope.sender.address}"
        + (f" to {envelope.recipient.address}" if envelope.recipient else "")
        + f", {envelope.received_at.isoformat()}, language {envelope.language}",
    ]
    if envelope.subject:
        lines.append(f"  subject: {envelope.subject}")
    text = " ".join(envelope.text.split())
    lines.append(f"  text: {text[:200]}{'…' if len(text) > 200 else ''}")
    decision = message.decision
    if decision is None:
        lines.append(f"not routed yet (state: {message.state.value})")
        return "\n".join(lines)
    lines.append(
        f"decision: category {decision.category}, priority {decision.priority.value}, queue {decision.queue}, "
        f"template {decision.template}"
        + (", acknowledgement suppressed" if decision.suppress_ack else "")
        + (f", tags {', '.join(decision.tags)}" if decision.tags else "")
    )
    if decision.review:
        lines.append(f"REVIEW the category: {decision.review}")
    lines.append("reasons:")
    lines += [f"  - {reason}" for reason in decision.reasons]
    if decision.trace:
        lines.append("trace:")
        number = 0
        for entry in decision.trace:
            if entry.get("step") == "rule":
                number += 1
            lines.append("  " + _entry(entry, number))
    return "\n".join(lines)


def _entry(entry: dict[str, Any], number: int) -> str:
    step = entry.get("step")
    if step == "context":
        hours = {True: "within", False: "outside", None: "unknown"}[entry.get("in_business_hours")]
        tags = list(entry.get("contact_tags") or []) + list(entry.get("tags_from_settings") or [])
        return (
            f"context: {'new conversation' if entry.get('new_conversation') else 'follow-up'}, "
            f"contact tags: {', '.join(tags) or 'none'}, business hours: {hours}, at {entry.get('now')}"
        )
    if step == "classify":
        if entry.get("chosen"):
            return f"category: {entry['category']} (chosen by the customer)"
        scores = entry.get("scores") or {}
        if not scores:
            by_keywords = "no category keyword matched"
        else:
            shown = ", ".join(f"{name} {score:g}" for name, score in sorted(scores.items(), key=lambda x: -x[1]))
            words = ", ".join(repr(w) for w in entry.get("keywords", []))
            by_keywords = f"keywords {words} (scores: {shown})"
        model = entry.get("model")
        if not model:
            return (
                f"category: {entry['category']} by {by_keywords}"
                if scores
                else (f"category: {entry['category']} ({by_keywords}: the default)")
            )
        top = ", ".join(f"{name} {p:.0%}" for name, p in model.get("top", []))
        weighing = ", ".join(f"{feature} {weight:+.2f}" for feature, weight in model.get("weighing", []))
        text = (
            f"category: {entry['category']}; model {model.get('version')}: top {top}; weighed most: "
            f"{weighing or 'nothing'}; blended with {by_keywords} at {model.get('keyword_share', 0):.0%}, "
            f"confidence {model.get('confidence', 0):.0%}"
        )
        return text + (f"; REVIEW: {entry['review']}" if entry.get("review") else "")
    if step == "rule":
        if not entry.get("matched"):
            return f"rule {number} {entry['rule']!r}: no match ({entry.get('why')})"
        actions = ", ".join(f"{k}={v}" for k, v in (entry.get("actions") or {}).items()) or "no actions"
        then = "continue" if entry.get("continue") else "stop"
        return f"rule {number} {entry['rule']!r}: MATCHED ({entry.get('why')}) -> {actions}; {then}"
    return str(entry)
