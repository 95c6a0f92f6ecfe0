"""`helpline route`: the admin's dry run. JSON Lines in (one message each), one JSON decision per line out.

Input keys: `text` (required), and optionally `subject`, `channel` (default email), `sender`, `recipient`,
`language` (detected from the text when absent), `chosen_category`, and the context: `new_conversation`,
`contact_tags`, `business_hours`. A line that is not such an object gets `{"line": n, "error": ...}` and the run
goes on; the exit status is 1 at the end if any line was bad.

With `--replay`, stored messages are decided again by the candidate rules instead, each in the context its original
decision recorded (new conversation or not, contact tags, business hours, time), so only the rules differ;
router/replay.py compares and reports. `--model NEW` (an exported .npz file, or a version stored by `helpline
train`) decides with that triage model instead of the current one, so a replay shows what a new model would move.
Without it the current model routes: the store's, or the shipped one when the store cannot be reached (a dry run
on a laptop).
"""

from __future__ import annotations

import ctypes
import gc
import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from pydantic import ValidationError

from core.envelope import Decision, Envelope, Party
from core.errors import SettingsError, StoreUnavailable
from core.language import detect_language
from core.routing_settings import RouterSettings
from core.settings import Settings
from helpline.rules_file import load_router_file
from router.engine import Router, RoutingContext, compile_router
from router.text_model import InvalidModel, TextModel

if TYPE_CHECKING:  # the replay's and the store's modules (SQLAlchemy, the record) load only when a run needs them
    from sqlalchemy import Engine

    from core.records import StoredMessage
    from core.store import Store
    from router.replay import ReplayReport

DRY_RUN_SENDER = "dry-run@helpline.invalid"
BATCH = 512  # lines decided together: enough to spread the model's per-call cost, little to hold
# Allocations between two collections of the youngest generation while lines are routed (Python's default: 700).
YOUNG_COLLECTION = 10_000
_DRY_RUN_PARTY = Party(address=DRY_RUN_SENDER)  # frozen: one for every line that names no sender
_ENCODER = json.JSONEncoder(ensure_ascii=False)  # json.dumps(..., ensure_ascii=False) would make one per call
M_TOP_PAD = -2  # glibc's mallopt parameter: free memory kept at the top of the heap instead of given back
TOP_PAD = 16 * 1024 * 1024


class BadLine(ValueError):
    pass


def route_lines(lines: Iterable[str], router: Router, out: TextIO, *, trace: bool = False) -> int:
    """Route every line; return how many were bad.

    Lines go through in batches of BATCH: the router scores a batch's texts with the triage model in one pass
    (`Router.decide_many`), and a batch's output is written at once. The input is still streamed: a batch is read,
    decided and written before the next is read."""
    bad = 0
    batch: list[tuple[int, str]] = []
    with few_collections():
        for number, line in enumerate(lines, start=1):
            if line.strip():
                batch.append((number, line))
            if len(batch) == BATCH:
                bad += route_batch(batch, router, out, trace=trace)
                batch = []
        if batch:
            bad += route_batch(batch, router, out, trace=trace)
    return bad


def keep_heap_top() -> None:
    """Ask the C allocator (glibc's; elsewhere nothing changes) to keep 16 MiB of freed memory at the top of the heap
    for the process's life. Each of the model's batches allocates a few MiB of numpy arrays and frees them at its end;
    glibc gave that memory back to the system every time and the kernel faulted it in again, page by page, for the
    next batch: 440,000 page faults and a seventh of the run's CPU time on 40,000 lines."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError, TypeError):  # no C library to ask, or one without mallopt
        return
    mallopt(M_TOP_PAD, TOP_PAD)


@contextmanager
def few_collections() -> Iterator[None]:
    """Spare a run the cyclic garbage collector's rescans, which took a quarter of its time: what exists before the
    run (modules, settings, the router, the model) is frozen out of the collector's sight, and the youngest
    generation is collected every YOUNG_COLLECTION allocations instead of 700. A batch in flight (envelopes,
    decisions, traces: tens of thousands of objects, freed by reference counting once written) was otherwise
    scanned again and again, and promoted into the old generation, whose every full collection rescanned all of it
    and the model's caches. Cycles are still collected, less often. Both are undone when the run ends."""
    threshold = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(YOUNG_COLLECTION, *threshold[1:])
    try:
        yield
    finally:
        gc.set_threshold(*threshold)
        gc.unfreeze()


def route_batch(batch: list[tuple[int, str]], router: Router, out: TextIO, *, trace: bool) -> int:
    """Route numbered non-blank lines and write their results in order; return how many were bad."""
    results: list[str | None] = []  # None: the next decision's place
    messages: list[tuple[Envelope, RoutingContext | None]] = []
    for number, line in batch:
        try:
            messages.append(parse_line(line))
        except BadLine as exc:
            results.append(_ENCODER.encode({"line": number, "error": str(exc)}))
            continue
        results.append(None)
    decisions = iter(router.decide_many(messages, trace=trace))
    out.write("".join((r if r is not None else decision_json(next(decisions), trace)) + "\n" for r in results))
    return len(batch) - len(messages)


def decision_json(decision: Decision, trace: bool) -> str:
    result: dict[str, Any] = {
        "category": decision.category,
        "priority": decision.priority,  # a StrEnum: JSON writes its value
        "queue": decision.queue,
        "reasons": decision.reasons,
    }
    if decision.tags:
        result["tags"] = decision.tags
    if decision.suppress_ack:
        result["suppress_ack"] = True
    if decision.review:
        result["review"] = decision.review
    if trace:
        result["trace"] = decision.trace
    return _ENCODER.encode(result)


def parse_line(line: str) -> tuple[Envelope, RoutingContext]:
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise BadLine(f"not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise BadLine("expected a JSON object")
    text = data.get("text")
    if not isinstance(text, str):
        raise BadLine('"text" (a string) is required')
    for key in ("subject", "channel", "sender", "recipient", "language", "chosen_category"):
        if key in data and data[key] is not None and not isinstance(data[key], str):
            raise BadLine(f'"{key}" must be a string')
    subject = data.get("subject") or ""
    try:
        envelope = Envelope(
            channel=data.get("channel") or "email",
            provider_id="dry-run",
            sender=Party(address=sender) if (sender := data.get("sender")) else _DRY_RUN_PARTY,
            recipient=Party(address=data["recipient"]) if data.get("recipient") else None,
            subject=subject,
            text=text,
            language=data.get("language") or detect_language(f"{subject}\n{text}"),
            chosen_category=data.get("chosen_category"),
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        raise BadLine(f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}") from None
    tags = data.get("contact_tags") or []
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise BadLine('"contact_tags" must be a list of strings')
    new_conversation = data.get("new_conversation", True)
    business_hours = data.get("business_hours")
    if not isinstance(new_conversation, bool) or not isinstance(business_hours, bool | None):
        raise BadLine('"new_conversation" and "business_hours" must be true or false')
    return envelope, RoutingContext(
        new_conversation=new_conversation, contact_tags=frozenset(tags), in_business_hours=business_hours
    )


def parse_time(value: str | None, option: str) -> datetime | None:
    """An ISO 8601 time (a date alone is midnight); without an offset it is UTC."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise BadLine(f"{option}: expected an ISO 8601 time such as 2026-01-31 or 2026-01-31T09:00:00+08:00") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def replay(
    store: Store,
    router: Router,
    since: datetime | None = None,
    until: datetime | None = None,
    record: Engine | None = None,
) -> ReplayReport:
    """Re-decide stored messages; one whose hot copy expired is read from `record` (record/messages.py)."""
    from record.messages import load_messages
    from router.replay import ReplayReport

    report = ReplayReport()
    message_ids = store.message_ids(since, until)
    messages = load_messages(store, record, message_ids)
    for message_id in message_ids:
        message = messages.get(message_id)
        if message is None:
            continue
        new = router.decide(message.envelope, context_of(message, store)) if message.decision is not None else None
        report.add(message, new)
    return report


def context_of(message: StoredMessage, store: Store) -> RoutingContext:
    assert message.decision is not None
    recorded = RoutingContext.from_trace(message.decision.trace)
    if recorded is not None:
        return recorded
    # Decisions older than the trace's context entry: rebuild what the store still knows.
    tags = store.contact(message.contact_id).get("tags", "").split() if message.contact_id else []
    return RoutingContext(contact_tags=frozenset(tags), now=message.envelope.received_at)


def choose_model(settings: Settings, router_settings: RouterSettings, model: str | None) -> TextModel | None:
    """The triage model a run uses; `InvalidModel` or `StoreUnavailable` when `model` names an unusable one."""
    if not router_settings.triage.enabled:
        return None
    if model is not None and ((path := Path(model)).suffix == ".npz" or path.exists()):
        try:
            return TextModel.from_bytes(path.read_bytes())
        except OSError as exc:
            raise InvalidModel(f"{path}: {exc.strerror}") from None
        except InvalidModel as exc:
            raise InvalidModel(f"{path}: {exc}") from None
    # a stored version, or the current model: the store's modules (Redis, the record) load only now
    from core.redis_conn import connect
    from core.store import Store
    from workers.triage import current_model, stored_model

    if model is not None:
        return stored_model(Store(connect(settings)), model)
    return current_model(Store(connect(settings)), router_settings)  # the shipped one if the store is down


def run_route(
    settings: Settings,
    *,
    rules: Path | None,
    model: str | None = None,
    replay_stored: bool,
    since: str | None,
    until: str | None,
    trace: bool,
    stdin: TextIO,
    stdout: TextIO,
    stderr: TextIO,
) -> int:
    """The whole `helpline route` command; returns its exit status (0 ok, 1 bad input lines, 2 unusable setup)."""
    try:
        router_settings = load_router_file(rules) if rules else settings.router
    except SettingsError as exc:
        for problem in exc.problems:
            stderr.write(f"error: {problem}\n")
        return 2
    try:
        triage_model = choose_model(settings, router_settings, model)
        # both loaders refuse semantic problems; a model that does not fit the categories raises InvalidModel
        router = compile_router(router_settings, validated=True, model=triage_model)
    except (InvalidModel, StoreUnavailable) as exc:
        stderr.write(f"error: --model: {exc}\n" if model else f"error: {exc}\n")
        return 2
    if not replay_stored:
        keep_heap_top()
        return 1 if route_lines(stdin, router, stdout, trace=trace) else 0
    try:
        window = parse_time(since, "--since"), parse_time(until, "--until")
    except BadLine as exc:
        stderr.write(f"error: {exc}\n")
        return 2
    from core.redis_conn import connect
    from core.store import Store
    from record.engine import connect as connect_record
    from router.replay import format_report

    record = connect_record(settings)
    try:
        report = replay(Store(connect(settings)), router, *window, record=record)
    except StoreUnavailable as exc:
        stderr.write(f"error: {exc}\n")
        return 2
    finally:
        record.dispose()
    stdout.write(format_report(report) + "\n")
    return 0
