"""The compiled router: `compile_router(settings)` once, then `router.decide(envelope, context)` per message.

decide() is pure and allocation-light: the text is normalised once, one Aho-Corasick pass finds every keyword of every
category and rule, the category is scored from those ids, then the ordered rules run (first match wins unless a rule
says `continue`). Every step is written to the decision's trace, which `helpline explain` prints.

Classification (when the customer did not choose a category): each category scores the summed weight of its DISTINCT
keywords found in the message — an English keyword weighs its number of words, a Chinese one its characters / 2
(minimum 1) — so longer phrases count more, and a match nested inside a longer match does not count ("pay" inside
"apple pay", "transfer" inside "transfer fee"). The highest score wins; ties go to the category declared first; no match
gives `default_category`. A category's priority and queue follow it unless a rule has set them explicitly.

With a triage model (router/text_model.py, `[router.triage]`), the model proposes instead: its probabilities are
blended with the keyword scores (each category's share of the keyword total, weighted `keyword_weight`), and the best
blended category wins when it reaches `min_confidence`. Below it, the keyword result stands if a keyword matched,
otherwise the default category, and the decision is flagged for review. Either way the rules then run unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from core.envelope import Decision, Envelope, Priority
from core.routing_settings import RouterSettings, Rule
from router.check_codegen import Check
from router.condition_tree import compile_condition
from router.conditions import Node
from router.errors import RouterConfigError
from router.facts import Facts
from router.index_keys import Key, message_keys
from router.keywords import KeywordIndex, outermost
from router.normalize import fold, match_form
from router.senders import SenderMatcher
from router.text_model import InvalidModel, Scored, TextModel
from router.trace_entries import ReadOnlyEntry

DEFAULT_TEMPLATE = "acknowledgement"


@dataclass(frozen=True)
class RoutingContext:
    """What the caller knows that the envelope does not. The router does no I/O to find it out."""

    new_conversation: bool = True
    contact_tags: frozenset[str] = frozenset()
    in_business_hours: bool | None = None  # None: unknown, so business_hours conditions do not hold
    now: datetime = field(default_factory=lambda: datetime.now(UTC))

    def trace_entry(self) -> dict[str, Any]:
        return {
            "step": "context",
            "new_conversation": self.new_conversation,
            "contact_tags": sorted(self.contact_tags),
            "in_business_hours": self.in_business_hours,
            "now": self.now.isoformat(),
        }

    @classmethod
    def from_trace(cls, trace: list[dict[str, Any]]) -> RoutingContext | None:
        """The context a stored decision was made in (for replays), if its trace recorded it."""
        for entry in trace:
            if entry.get("step") == "context":
                return cls(
                    new_conversation=bool(entry.get("new_conversation", True)),
                    contact_tags=frozenset(entry.get("contact_tags") or ()),
                    in_business_hours=entry.get("in_business_hours"),
                    now=datetime.fromisoformat(entry["now"]) if entry.get("now") else datetime.now(UTC),
                )
        return None


@dataclass(frozen=True)
class CompiledCategory:
    name: str
    priority: Priority
    queue: str


@dataclass(frozen=True)
class CompiledRule:
    index: int
    name: str
    node: Node
    check: Check  # node.fails: the whole tree's statements compiled into one flat function
    guard: frozenset[Key] | None  # index keys one of which the message must have, or None: always evaluate
    skip_entry: dict[str, Any] | None  # the trace entry when the guard rules the rule out
    category: str | None
    priority: Priority | None
    queue: str | None
    tags: tuple[str, ...]
    template: str | None
    suppress_ack: bool
    continue_: bool
    # Fixed parts of a match's trace entry and reason, computed once here rather than for every match.
    actions_head: dict[str, Any] = field(default_factory=dict)  # category, priority, queue, template: those set
    reason_prefix: str = ""  # the reason is reason_prefix + why + reason_suffix
    reason_suffix: str = ""

    def actions(self) -> dict[str, Any]:
        """The actions as the trace shows them: a fresh dict (the head's copy, then tags and suppress_ack)."""
        out = self.actions_head.copy()
        if self.tags:
            out["tags"] = list(self.tags)
        if self.suppress_ack:
            out["suppress_ack"] = True
        return out

    def actions_text(self) -> str:
        shown = ", ".join(f"{k}={v}" for k, v in self.actions().items())
        return shown or "no actions"

    def matched_entry(self, why: str) -> dict[str, Any]:
        return {
            "step": "rule",
            "rule": self.name,
            "matched": True,
            "why": why,
            "actions": self.actions(),
            "continue": self.continue_,
        }


class Router:
    """Compiled rules. Immutable after construction, so one instance is safely shared by threads.

    Takes a valid document: build it with `compile_router`, which refuses an invalid one.
    """

    def __init__(self, settings: RouterSettings, *, index_rules: bool = True, model: TextModel | None = None) -> None:
        self.settings = settings
        self.model = model if settings.triage.enabled else None
        if self.model is not None:
            unknown = sorted(set(self.model.categories) - set(settings.categories))
            if unknown:
                raise InvalidModel(
                    f"model {self.model.version} proposes categories the settings do not have: {', '.join(unknown)}"
                )
        self._index = KeywordIndex()
        self._categories: dict[str, CompiledCategory] = {}
        # keyword id -> [(category position, weight)]: scoring walks only the keywords a message contains.
        self._scoring: dict[int, list[tuple[int, float]]] = {}
        self._category_names: list[str] = []
        for position, (name, spec) in enumerate(settings.categories.items()):
            self._category_names.append(name)
            self._categories[name] = CompiledCategory(
                name,
                spec.priority or settings.default_priority,
                settings.queue_for(name),
            )
            for word in spec.keywords.en + spec.keywords.zh:
                entry = self._index.add(word)
                if entry is not None and all(p != position for p, _ in self._scoring.get(entry.id, [])):
                    self._scoring.setdefault(entry.id, []).append((position, entry.weight))
        self._category_positions = {name: position for position, name in enumerate(self._category_names)}
        # the settings' categories as positions in the model's (None: the model does not propose it)
        model_index = {name: i for i, name in enumerate(self.model.categories)} if self.model is not None else {}
        self._model_positions = [model_index.get(name) for name in self._category_names]
        self._taggers = [(t.tag, SenderMatcher(t.sender, t.sender_regex)) for t in settings.contact_tags]
        added_tags = frozenset(tag for rule in settings.rules for tag in rule.then.tags)
        set_categories = frozenset(rule.then.category for rule in settings.rules if rule.then.category)
        self._rules = [self._compile_rule(i, rule, added_tags, set_categories) for i, rule in enumerate(settings.rules)]
        # index key -> indexes of the rules it can wake up; rules without a guard are always evaluated.
        self._rules_by_key: dict[Key, list[int]] = {}
        for rule in self._rules:
            for key in rule.guard or ():
                self._rules_by_key.setdefault(key, []).append(rule.index)
        # index_rules=False evaluates every rule (tests compare both ways: the index must never change a decision).
        self._unguarded = frozenset(r.index for r in self._rules if r.guard is None or not index_rules)
        self._unguarded_order = sorted(self._unguarded)
        # Shared read-only entries (router.trace_entries); {}: unguarded rules are never skipped.
        self._skip_entries: list[dict[str, Any]] = [ReadOnlyEntry(r.skip_entry or {}) for r in self._rules]
        # Per rule: failure reason -> its shared entry, made on first use. Every reason is a string fixed at
        # compile time, so this is bounded by the rules' conditions; a race between threads only makes one equal
        # entry twice.
        self._failures: list[dict[str, dict[str, Any]]] = [{} for _ in self._rules]
        self._checks = [r.check for r in self._rules]
        self._names = [r.name for r in self._rules]
        self._index.freeze()

    def _compile_rule(
        self, index: int, rule: Rule, added_tags: frozenset[str], set_categories: frozenset[str]
    ) -> CompiledRule:
        node = compile_condition(rule.when, self._index, added_tags, set_categories)
        guard = node.guard()
        skip = {"step": "rule", "rule": rule.name, "matched": False, "why": guard[1]} if guard else None
        then = rule.then
        head = {
            key: str(value)
            for key in ("category", "priority", "queue", "template")
            if (value := getattr(then, key)) is not None
        }
        compiled = CompiledRule(
            index=index,
            name=rule.name,
            node=node,
            check=node.fails,
            guard=guard[0] if guard else None,
            skip_entry=skip,
            category=rule.then.category,
            priority=rule.then.priority,
            queue=rule.then.queue,
            tags=tuple(rule.then.tags),
            template=rule.then.template,
            suppress_ack=rule.then.suppress_ack,
            continue_=rule.continue_,
            actions_head=head,
        )
        suffix = f"): {compiled.actions_text()}"
        return replace(compiled, reason_prefix=f"rule {rule.name!r} (", reason_suffix=suffix)

    @property
    def rule_count(self) -> int:
        return len(self._rules)

    @property
    def keyword_count(self) -> int:
        return len(self._index)

    def categories(self) -> list[str]:
        return list(self._category_names)

    def label(self, category: str, language: str) -> str:
        """The team name a customer is shown for `category`, in their language: `RouterSettings.label`, the one rule."""
        return self.settings.label(category, language)

    def decide(self, envelope: Envelope, context: RoutingContext | None = None) -> Decision:
        folded = fold(f"{envelope.subject}\n{envelope.text}" if envelope.subject else envelope.text)
        return self._decide(envelope, context, folded, match_form(folded), None)

    def decide_many(
        self, batch: Sequence[tuple[Envelope, RoutingContext | None]], *, trace: bool = True
    ) -> list[Decision]:
        """`decide` of each (envelope, context), the same decisions: the triage model scores the batch's texts in one
        pass of its kernel (router/text_model.py), which costs far less per message than scoring them one by one.

        `trace=False` leaves every decision's trace empty, and builds none of its entries: for a caller that shows
        none (`helpline route` without `--trace`). Everything else is the same, reasons and review included."""
        folded = [fold(f"{e.subject}\n{e.text}" if e.subject else e.text) for e, _ in batch]
        texts = [match_form(f) for f in folded]
        scores: list[Scored | None] = [None] * len(batch)
        if self.model is not None:
            # the messages whose category the classify step proposes: not those whose customer chose a known one
            wanted = [i for i, (e, _) in enumerate(batch) if (e.chosen_category or "") not in self._categories]
            for i, scored in zip(wanted, self.model.score_many_normalised([texts[i] for i in wanted]), strict=True):
                scores[i] = scored
        return [
            self._decide(envelope, context, folded[i], texts[i], scores[i], trace)
            for i, (envelope, context) in enumerate(batch)
        ]

    def _decide(
        self,
        envelope: Envelope,
        context: RoutingContext | None,
        folded: str,
        text: str,
        scored: Scored | None,
        traced: bool = True,
    ) -> Decision:
        """`decide`, given the text's two normal forms and, if the batch scored it already, the model's scores;
        `traced=False`: no trace (`decide_many`)."""
        ctx = context if context is not None else RoutingContext()
        sender = envelope.sender.address.lower()
        tags = set(ctx.contact_tags)
        given = [tag for tag, matches in self._taggers if matches(sender)]
        tags.update(given)
        keywords, spans = self._index.find(text)
        facts = Facts(
            channel=envelope.channel.value,
            recipient=envelope.recipient.address.lower() if envelope.recipient else "",
            recipients=frozenset(envelope.other_recipients),
            chosen_category=envelope.chosen_category or "",
            sender=sender,
            language=envelope.language.lower(),
            text=text,
            folded=folded,
            keywords=keywords,
            spans=spans,
            has_attachment=bool(envelope.attachments),
            new_conversation=ctx.new_conversation,
            in_business_hours=ctx.in_business_hours,
            tags=tags,
        )
        trace: list[dict[str, Any]] = []
        if traced:
            context_entry = ctx.trace_entry()
            if given:
                context_entry["tags_from_settings"] = given
            trace.append(context_entry)
        reasons: list[str] = []
        facts.category, review = self._classify(facts, reasons, trace if traced else None, scored)
        category = self._categories.get(facts.category)
        priority = category.priority if category else self.settings.default_priority
        queue = category.queue if category else self.settings.queue_for(facts.category)
        priority_set = queue_set = False
        decision_tags: list[str] = []
        template = DEFAULT_TEMPLATE
        suppress_ack = False

        # Only the rules woken by one of the message's index keys (its keywords, channel, language, ...) and the rules
        # without a guard are evaluated; the others cannot match. Every rule's trace entry starts as its shared
        # skip entry (router.trace_entries); a rule evaluated replaces it with the shared entry of its failure
        # reason, or with a fresh entry when it matched.
        by_key = self._rules_by_key
        woken = [by_key[k] for k in facts.keywords if k in by_key]
        woken += [by_key[k] for k in message_keys(facts) if k in by_key]
        order = sorted(self._unguarded.union(*woken)) if woken else self._unguarded_order
        rules, checks, failures = self._rules, self._checks, self._failures
        rule_entries = self._skip_entries[:] if traced else []
        last = len(rules) - 1  # the last rule tried
        for index in order:
            why_not = checks[index](facts)
            if why_not is not None:
                if traced:
                    entry = failures[index].get(why_not)
                    rule_entries[index] = entry if entry is not None else self._failure_entry(index, why_not)
                continue
            rule = rules[index]
            why = rule.node.why(facts)
            if traced:
                rule_entries[index] = rule.matched_entry(why)
            reasons.append(rule.reason_prefix + why + rule.reason_suffix)
            if rule.category is not None and rule.category != facts.category:
                facts.category = rule.category
                moved = self._categories.get(rule.category)
                if moved is not None:
                    priority = priority if priority_set else moved.priority
                    queue = queue if queue_set else moved.queue
            if rule.priority is not None:
                priority, priority_set = rule.priority, True
            if rule.queue is not None:
                queue, queue_set = rule.queue, True
            for tag in rule.tags:
                if tag not in decision_tags:
                    decision_tags.append(tag)
                facts.tags.add(tag)
            if rule.template is not None:
                template = rule.template
            suppress_ack = suppress_ack or rule.suppress_ack
            if not rule.continue_:
                last = index
                break
        del rule_entries[last + 1 :]  # the rules after the one that stopped were not tried
        trace += rule_entries

        # model_construct: every value here is already valid, and validating a trace of 200 dicts per message
        # would cost more than deciding.
        return Decision.model_construct(
            category=facts.category,
            priority=priority,
            queue=queue,
            reasons=reasons,
            tags=decision_tags,
            template=template,
            suppress_ack=suppress_ack,
            trace=trace,
            review=review,
        )

    def skipped(self, entry: dict[str, Any]) -> bool:
        """Whether a trace entry of a decision this router just made is a rule the index skipped unevaluated.

        By identity with the shared skip entries (for benchmarks and tests); a stored trace has lost it.
        """
        return any(entry is skip for skip in self._skip_entries)

    def _failure_entry(self, index: int, why_not: str) -> dict[str, Any]:
        entry = ReadOnlyEntry(step="rule", rule=self._names[index], matched=False, why=why_not)
        return self._failures[index].setdefault(why_not, entry)

    def _classify(
        self, facts: Facts, reasons: list[str], trace: list[dict[str, Any]] | None, scored: Scored | None = None
    ) -> tuple[str, str | None]:
        """The proposed category, and why an agent should check it (None: no need); its entry goes to `trace`
        unless that is None."""
        chosen = facts.chosen_category
        if chosen and chosen in self._categories:
            reasons.append(f"category {chosen}: chosen by the customer (menu or button), no keyword guessing")
            if trace is not None:
                trace.append({"step": "classify", "category": chosen, "chosen": True})
            return chosen, None
        if chosen:
            reasons.append(f"the customer chose an unknown category {chosen!r}; classified by keywords instead")
        entry, reason, review = self.propose(facts.text, facts.spans, scored, explained=trace is not None)
        reasons.append(reason)
        if trace is not None:
            trace.append(entry)
        return entry["category"], review

    def propose(
        self,
        text: str,
        spans: list[tuple[int, int, int]] | None = None,
        scored: Scored | None = None,
        *,
        explained: bool = True,
    ) -> tuple[dict[str, Any], str, str | None]:
        """The classify step on normalised `text`: its trace entry, its reason, and the review flag.

        `spans` are the keyword matches when the caller has them already (decide); evaluation passes text alone.
        `scored` is the model's score of `text` when a batch has it already (`decide_many`). `explained=False`
        leaves the model's part out of the entry (a decision without a trace): the category and reason are the same.
        """
        if spans is None:
            spans = self._index.find(text)[1]
        scores: dict[int, float] = {}
        hits: dict[int, list[int]] = {}
        for keyword_id in outermost(spans):
            for position, weight in self._scoring.get(keyword_id, ()):
                scores[position] = scores.get(position, 0.0) + weight
                hits.setdefault(position, []).append(keyword_id)
        entry: dict[str, Any] = {
            "step": "classify",
            "category": self.settings.default_category,
            "chosen": False,
            "scores": {self._category_names[p]: s for p, s in scores.items()},
        }
        if scores:
            best = min(scores, key=lambda p: (-scores[p], p))
            entry["category"] = self._category_names[best]
            entry["keywords"] = sorted(self._index.keyword(i).text for i in hits[best])
            words = ", ".join(repr(w) for w in entry["keywords"])
            keyword_reason = f"keywords {words} (score {scores[best]:g})"
        else:
            keyword_reason = "no category keyword matched (the default)"
        if self.model is None:
            return entry, f"category {entry['category']}: {keyword_reason}", None
        return self._propose_with_model(text, entry, keyword_reason, scored, explained)

    def _propose_with_model(
        self, text: str, entry: dict[str, Any], keyword_reason: str, scored: Scored | None, explained: bool
    ) -> tuple[dict[str, Any], str, str | None]:
        assert self.model is not None
        triage = self.settings.triage
        if scored is None:
            scored = self.model.score_normalised(text)
        keyword_scores: dict[str, float] = entry["scores"]
        total = sum(keyword_scores.values())
        share = triage.keyword_weight if total else 0.0
        probabilities = scored.probabilities
        # by the settings' category order (ties go to the earlier category); positions are the model's, or None
        blended = [(1 - share) * probabilities[i] if i is not None else 0.0 for i in self._model_positions]
        if total:
            for name, score in keyword_scores.items():
                blended[self._category_positions[name]] += share * score / total
        confidence = max(blended)
        best = self._category_names[blended.index(confidence)]
        if explained:
            entry["model"] = {
                "version": self.model.version,
                "top": [[name, round(p, 3)] for name, p in scored.ranked],
                "weighing": [[feature, weight] for feature, weight in scored.weighing],
                "confidence": round(confidence, 3),
                "keyword_share": share,
            }
        top = ", ".join(f"{name} {p:.0%}" for name, p in scored.ranked)
        if confidence >= triage.min_confidence:
            entry["category"] = best
            weighed = ", ".join(repr(f) for f, _ in scored.weighing[:3])
            reason = f"category {best}: model {confidence:.0%} (top {top}; weighed most: {weighed or 'nothing'})"
            return entry, reason, None
        review = (
            f"the model was unsure ({best} {confidence:.0%} < {triage.min_confidence:.0%}); "
            f"category {entry['category']} by {'keywords' if total else 'default'}"
        )
        entry["review"] = review
        return entry, f"category {entry['category']}: {keyword_reason}; {review}", review

    def classify_text(self, text: str) -> str:
        """The category the classify step proposes for raw `text` (no rules): for evaluating models."""
        return str(self.propose(match_form(fold(text)))[0]["category"])


def compile_router(
    settings: RouterSettings, *, index_rules: bool = True, validated: bool = False, model: TextModel | None = None
) -> Router:
    """Compile the `[router]` settings; raises `RouterConfigError` (with every problem) for an invalid document.

    `validated=True` says the caller's settings come from `load_settings` or `load_router_file`, which have already
    refused any `semantic_problems()`: the check (quadratic in the rules, plus template lookups on disk) is not
    run a second time. A `model` whose categories the settings lack raises `InvalidModel`; with
    `router.triage.enabled = false` the model is ignored.
    """
    if not validated:
        problems = settings.semantic_problems()
        if problems:
            raise RouterConfigError(problems)
    return Router(settings, index_rules=index_rules, model=model)
