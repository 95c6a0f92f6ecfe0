"""`helpline route` (dry run, candidate rules, replay of stored messages) and `helpline explain`."""

from __future__ import annotations

import gc
import io
import json
import random
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from core.envelope import Channel, Decision, Envelope, Party
from core.records import StoredMessage
from core.settings import load_settings
from core.store import Store
from helpline import route_cli
from helpline.cli import app
from router import text_model
from router.engine import RoutingContext, compile_router
from router.text_model import TextModel
from router.training_data import shipped_examples, split
from tests.support.redis_server import RedisServer
from workers.triage import shipped_model

ROOT = Path(__file__).resolve().parent.parent
SETTINGS = str(ROOT / "settings.toml")
runner = CliRunner()


def route(stdin: str, *args: str) -> tuple[int, list[dict[str, object]]]:
    result = runner.invoke(app, ["route", "--settings", SETTINGS, *args], input=stdin)
    return result.exit_code, [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def candidate_rules(tmp_path: Path, first_rule: str) -> Path:
    """The default [router] section with one more rule in front of the others."""
    section = (ROOT / "settings.toml").read_text(encoding="utf-8").split("# ---- router", 1)[1]
    head, rules = section.split("[[router.rules]]", 1)
    path = tmp_path / "candidate.toml"
    path.write_text(f"# ---- router{head}{first_rule}\n[[router.rules]]{rules}", encoding="utf-8")
    return path


# ---- dry run -----------------------------------------------------------------------------------------------------


def test_route_writes_one_decision_per_line() -> None:
    lines = [
        {"text": "我的充值没到账"},
        {"text": "Card stolen!!", "channel": "sms", "sender": "+8613800000000"},
        {"subject": "Complaint", "text": "Your service is terrible"},
        {"text": "hello", "recipient": "fraud@wallet.example"},
    ]
    code, out = route("\n".join(json.dumps(line) for line in lines) + "\n")
    assert code == 0
    assert [(d["category"], d["priority"], d["queue"]) for d in out] == [
        ("top_up", "high", "payments"),
        ("security", "urgent", "security"),
        ("feedback", "low", "general"),
        ("security", "urgent", "security"),
    ]
    assert all(isinstance(d["reasons"], list) and d["reasons"] for d in out)
    assert "fraud mailbox" in str(out[3]["reasons"])


def test_bad_lines_get_an_error_line_and_a_nonzero_exit_at_the_end() -> None:
    stdin = (
        '{"text": "fraud"}\nnot json\n[1]\n{"subject": "no text"}\n'
        '{"text": "x", "channel": "pigeon"}\n\n{"text": "ok"}\n'
    )
    code, out = route(stdin)
    assert code == 1
    assert out[0]["category"] == "security"
    assert [(d.get("line"), "error" in d) for d in out[1:5]] == [(2, True), (3, True), (4, True), (5, True)]
    assert "channel" in str(out[4]["error"])
    assert out[5]["category"] == "general"  # the run went on after the bad lines


def test_context_fields_and_trace_option() -> None:
    stdin = json.dumps({"text": "thanks!", "new_conversation": False}) + "\n"
    code, out = route(stdin, "--trace")
    assert code == 0
    assert out[0].get("suppress_ack") is True
    assert out[0]["priority"] == "low"
    assert out[0]["trace"][0]["new_conversation"] is False  # type: ignore[index]


def varied_lines() -> list[str]:
    """Held-out English and Chinese texts in every shape a dry run may get: subjects, channels, senders, recipients,
    chosen categories (known, unknown, empty), contact tags, context flags, odd spacing, dashes, curly apostrophes,
    traditional and full-width characters, repeated texts, and bad lines between them."""
    held_out = split(shipped_examples())[1]
    rnd = random.Random(5)
    lines = []
    for i, example in enumerate(held_out[::7] + held_out[:40]):
        text = example.text
        shape = i % 6
        if shape == 1:
            text = "  " + text.upper().replace(" ", "\t -- ") + " top-up_now  "
        elif shape == 2:
            text = "帳戶被鎖 ＡＢＣ１２３ Don’t " + text
        line: dict[str, object] = {"text": text}
        if rnd.random() < 0.7:
            line["language"] = example.language
        if rnd.random() < 0.3:
            line["subject"] = rnd.choice(["Help", "求助", "URGENT refund", ""])
        shapes: list[tuple[str, list[object]]] = [
            ("channel", ["email", "sms", "telegram", "whatsapp", "voice"]),
            ("sender", ["+8613800000000", "vip@bank.example", "staff@wallet.example"]),
            ("recipient", ["fraud@wallet.example", "support@wallet.example"]),
            ("chosen_category", ["refund", "cards", "nonsense", ""]),
            ("contact_tags", [["vip"], [], ["a", "b"]]),
            ("new_conversation", [True, False]),
            ("business_hours", [True, False, None]),
        ]
        for key, values in shapes:
            if rnd.random() < 0.25:
                line[key] = rnd.choice(values)
        lines.append(json.dumps(line, ensure_ascii=rnd.random() < 0.5))
        if i % 50 == 0:
            lines.append(rnd.choice(["not json", "[1]", '{"text": 3}', '{"text": "x", "channel": "fax"}', "  "]))
    return lines


def without_time(decision: dict[str, object]) -> dict[str, object]:
    """A decision as JSON with its context's time left out (each path reads the clock when it decides)."""
    for entry in decision.get("trace", []):  # type: ignore[attr-defined]
        entry.pop("now", None)
    return decision


@pytest.mark.parametrize("trace", [False, True])
def test_batched_dry_run_decides_every_line_as_deciding_it_alone(trace: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """`helpline route`'s path (lines in batches, the model scoring each batch in one pass, no trace built unless
    asked) prints, line for line, what deciding each message alone with `Router.decide` gives, with the model and
    rules only; batches and kernel passes that end mid-sample included."""
    lines = varied_lines()
    settings = load_settings(SETTINGS).router
    monkeypatch.setattr(route_cli, "BATCH", 37)
    monkeypatch.setattr(text_model, "TABLE_ENTRIES", 5 * (len(shipped_model().vocabulary)))  # type: ignore[union-attr]
    for model in (shipped_model(), None):
        batched = io.StringIO()
        bad = route_cli.route_lines(
            [line + "\n" for line in lines], compile_router(settings, model=model), batched, trace=trace
        )
        alone = compile_router(settings, model=TextModel.from_bytes(model.to_bytes()) if model else None)
        expected = []
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                envelope, context = route_cli.parse_line(line)
            except route_cli.BadLine as exc:
                expected.append({"line": number, "error": str(exc)})
                continue
            expected.append(json.loads(route_cli.decision_json(alone.decide(envelope, context), trace)))
        printed = [json.loads(line) for line in batched.getvalue().splitlines()]
        assert bad == sum(1 for d in expected if "error" in d) > 0
        assert [without_time(d) for d in printed] == [without_time(d) for d in expected]
        assert len({d.get("category") for d in printed}) > 5 and any(d.get("review") for d in printed) == bool(model)
        assert all(("trace" in d) == trace for d in printed if "error" not in d)


def test_a_dry_run_leaves_the_garbage_collector_as_it_found_it() -> None:
    threshold, frozen = gc.get_threshold(), gc.get_freeze_count()
    route_cli.route_lines(
        ['{"text": "refund please"}\n'], compile_router(load_settings(SETTINGS).router), io.StringIO()
    )
    assert (gc.get_threshold(), gc.get_freeze_count()) == (threshold, frozen)


def test_route_with_candidate_rules(tmp_path: Path) -> None:
    rules = candidate_rules(
        tmp_path, '[[router.rules]]\nname = "sms to vip"\nwhen.channel = ["sms"]\nthen.queue = "vip"\n'
    )
    code, out = route('{"text": "top up failed", "channel": "sms"}\n', "--rules", str(rules))
    assert code == 0
    assert (out[0]["category"], out[0]["queue"]) == ("top_up", "vip")


def test_invalid_candidate_rules_are_reported_with_line_and_rule(tmp_path: Path) -> None:
    rules = candidate_rules(tmp_path, '[[router.rules]]\nname = "oops"\nwhen.regex = "(("\nthen.queue = "vip"\n')
    result = runner.invoke(app, ["route", "--settings", SETTINGS, "--rules", str(rules)], input="")
    assert result.exit_code == 2
    assert "router.rules.0.when.regex" in result.stderr
    assert "rule 'oops'" in result.stderr
    assert f"{rules}:" in result.stderr  # file and line


def test_candidate_schema_errors_show_the_value_and_line_and_never_blame_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HELPLINE_ROUTER__DEFAULT_PRIORITY", "high")  # applies to settings.toml, not to a candidate
    rules = candidate_rules(tmp_path, "")
    rules.write_text(
        rules.read_text(encoding="utf-8").replace('default_priority = "normal"', 'default_priority = "asap"')
    )
    line = rules.read_text(encoding="utf-8").splitlines().index('default_priority = "asap"') + 1
    result = runner.invoke(app, ["route", "--settings", SETTINGS, "--rules", str(rules)], input="")
    assert result.exit_code == 2
    assert f"{rules}:{line}: router.default_priority:" in result.stderr
    assert "(got 'asap')" in result.stderr and "environment" not in result.stderr


def test_a_candidate_that_is_not_toml_is_reported_with_its_line(tmp_path: Path) -> None:
    rules = tmp_path / "candidate.toml"
    rules.write_text('[router]\ndefault_category = "general"\ndefault_priority = \nqueues = []\n', encoding="utf-8")
    result = runner.invoke(app, ["route", "--settings", SETTINGS, "--rules", str(rules)], input="")
    assert result.exit_code == 2
    assert f"{rules}:3: -: not valid TOML" in result.stderr


def test_thousands_of_lines_are_routed() -> None:
    stdin = "".join(json.dumps({"text": f"message {i}: 转账失败 transfer failed"}) + "\n" for i in range(3000))
    code, out = route(stdin)
    assert code == 0
    assert len(out) == 3000 and {d["category"] for d in out} == {"transfer"}


# ---- replay and explain against stored messages ------------------------------------------------------------------


def set_decision(decision: Decision) -> Callable[[StoredMessage], None]:
    def change(message: StoredMessage) -> None:
        message.decision = decision

    return change


@pytest.fixture
def stored(store: Store, redis_server: RedisServer, record_url: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Five stored messages, four routed by the default rules; the CLI reaches the same private Redis (and a record,
    where it looks for a message Redis does not hold)."""
    monkeypatch.setenv("HELPLINE_REDIS__URL", redis_server.url)
    monkeypatch.setenv("HELPLINE_DATABASE__URL", record_url)
    router = compile_router(load_settings(SETTINGS).router)
    texts = {
        "topup_old": ("我的充值没到账", datetime(2026, 1, 1, 9, tzinfo=UTC)),
        "topup_new": ("充值失败了", datetime(2026, 2, 1, 9, tzinfo=UTC)),
        "fraud": ("被盗刷了！", datetime(2026, 2, 2, 9, tzinfo=UTC)),
        "hello": ("hello", datetime(2026, 2, 3, 9, tzinfo=UTC)),
        "unrouted": ("充值", datetime(2026, 2, 4, 9, tzinfo=UTC)),
    }
    ids: dict[str, str] = {}
    for name, (text, when) in texts.items():
        envelope = Envelope(
            channel=Channel.EMAIL,
            provider_id=f"<{name}@example.com>",
            received_at=when,
            sender=Party(address="customer@example.com"),
            text=text,
            language="zh",
        )
        message_id = store.accept(envelope, text.encode()).message_id
        ids[name] = message_id
        if name != "unrouted":
            store.update_message(message_id, set_decision(router.decide(envelope, RoutingContext(now=when))))
    return ids


def test_replay_reports_what_would_move(tmp_path: Path, stored: dict[str, str]) -> None:
    rules = candidate_rules(
        tmp_path,
        '[[router.rules]]\nname = "top-ups to vip"\nwhen.category = ["top_up"]\n'
        'then.queue = "vip"\nthen.priority = "urgent"\n',
    )
    result = runner.invoke(app, ["route", "--settings", SETTINGS, "--rules", str(rules), "--replay"])
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "5 stored messages, 4 routed: 2 would move, 2 unchanged, 1 not routed yet" in out
    assert "queue: 2 would change" in out and "payments -> vip: 2" in out
    assert "priority: 2 would change" in out and "high -> urgent: 2" in out
    assert "category" not in out.split("\n", 1)[1]  # no category moved
    assert stored["topup_old"] in out and "我的充值没到账" in out


def test_replay_honours_the_time_range(tmp_path: Path, stored: dict[str, str]) -> None:
    rules = candidate_rules(
        tmp_path, '[[router.rules]]\nname = "all top-ups"\nwhen.category = ["top_up"]\nthen.queue = "vip"\n'
    )
    args = [
        "route",
        "--settings",
        SETTINGS,
        "--rules",
        str(rules),
        "--replay",
        "--since",
        "2026-01-15",
        "--until",
        "2026-02-02T12:00:00+00:00",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.stderr
    assert "2 stored messages, 2 routed: 1 would move" in result.stdout
    assert stored["topup_new"] in result.stdout and stored["topup_old"] not in result.stdout


def test_replay_with_unchanged_rules_moves_nothing(stored: dict[str, str]) -> None:
    result = runner.invoke(app, ["route", "--settings", SETTINGS, "--replay"])
    assert result.exit_code == 0, result.stderr
    assert "4 routed: 0 would move, 4 unchanged" in result.stdout


def test_bad_since_is_refused(stored: dict[str, str]) -> None:
    result = runner.invoke(app, ["route", "--settings", SETTINGS, "--replay", "--since", "last tuesday"])
    assert result.exit_code == 2
    assert "--since" in result.stderr


def test_explain_prints_the_stored_trace(stored: dict[str, str]) -> None:
    result = runner.invoke(app, ["explain", stored["fraud"], "--settings", SETTINGS])
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "decision: category security, priority urgent, queue security" in out
    assert "category: security by keywords '盗刷'" in out
    assert "rule 1 'fraud mailbox': no match (recipient is not fraud@wallet.example)" in out
    assert "context: new conversation" in out


def test_explain_shows_a_matched_rule(store: Store, stored: dict[str, str]) -> None:
    result = runner.invoke(app, ["explain", stored["unrouted"], "--settings", SETTINGS])
    assert result.exit_code == 0
    assert "not routed yet" in result.stdout
    rules = compile_router(load_settings(SETTINGS).router)
    message = store.get_message(stored["hello"])
    assert message is not None
    decision = rules.decide(
        message.envelope.model_copy(update={"text": "thanks"}), RoutingContext(new_conversation=False)
    )
    store.update_message(stored["hello"], set_decision(decision))
    out = runner.invoke(app, ["explain", stored["hello"], "--settings", SETTINGS]).stdout
    assert "'thank-you follow-ups need no acknowledgement': MATCHED" in out
    assert "suppress_ack=True; stop" in out


def test_explain_unknown_id_exits_1(stored: dict[str, str]) -> None:
    result = runner.invoke(app, ["explain", "m-does-not-exist", "--settings", SETTINGS])
    assert result.exit_code == 1
    assert "no stored message has the id 'm-does-not-exist'" in result.stderr
