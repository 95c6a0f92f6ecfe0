"""Validation of the [router] section at load: every problem names its rule, key and line."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from core.errors import SettingsError
from core.routing_settings import Actions
from core.settings import load_settings
from helpline.cli import app
from tests.router_helpers import BASE, router_settings

ROOT = Path(__file__).resolve().parent.parent


def problems(rules: str) -> list[tuple[str, str]]:
    return router_settings(rules).semantic_problems()


def test_default_settings_have_no_problems() -> None:
    assert load_settings(ROOT / "settings.toml").router.semantic_problems() == []


def test_the_money_categories_are_marked_transactional() -> None:
    money = {"security", "refund", "fees", "top_up", "transfer", "payment", "cards"}
    assert load_settings(ROOT / "settings.toml").router.transactional_categories() == money
    assert router_settings("").transactional_categories() == frozenset()  # false unless a category says so


def test_unknown_field_names_the_rule_and_suggests() -> None:
    found = problems('[[router.rules]]\nname = "typo"\nwhen.chanel = ["sms"]\nthen.queue = "vip"\n')
    assert found == [("router.rules.0.when.chanel", "rule 'typo': unknown field 'chanel'; did you mean 'channel'?")]


def test_unknown_action_and_nested_unknown_field() -> None:
    found = problems('[[router.rules]]\nname = "n"\nwhen.any = [{ langauge = ["zh"] }]\nthen.colour = "red"\n')
    keys = sorted(k for k, _ in found)
    assert keys == ["router.rules.0.then.colour", "router.rules.0.when.any.0.langauge"]


def test_bad_regex_unknown_queue_and_category() -> None:
    found = dict(
        problems(
            '[[router.rules]]\nname = "bad"\nwhen.regex = "(unclosed"\nwhen.category = ["nope"]\n'
            'then.queue = "nowhere"\nthen.category = "nada"\n'
        )
    )
    assert "bad regular expression" in found["router.rules.0.when.regex"]
    assert "unknown queue 'nowhere'" in found["router.rules.0.then.queue"]
    assert "unknown category 'nope'" in found["router.rules.0.when.category"]
    assert "unknown category 'nada'" in found["router.rules.0.then.category"]
    assert all("rule 'bad'" in message for message in found.values())


def test_rule_after_a_catch_all_is_unreachable() -> None:
    found = problems(
        '[[router.rules]]\nname = "all"\nthen.queue = "vip"\n'
        '[[router.rules]]\nname = "never"\nwhen.channel = ["sms"]\nthen.queue = "night"\n'
    )
    assert found == [("router.rules.1", "rule 'never' is unreachable: earlier rule 'all' has no conditions")]


def test_rule_with_identical_conditions_is_unreachable_unless_the_first_continues() -> None:
    pair = (
        '[[router.rules]]\nname = "a"\nwhen.channel = ["sms"]\nthen.queue = "vip"\n{cont}'
        '[[router.rules]]\nname = "b"\nwhen.channel = ["sms"]\nthen.queue = "night"\n'
    )
    assert problems(pair.format(cont="")) == [
        ("router.rules.1", "rule 'b' is unreachable: earlier rule 'a' has the same conditions")
    ]
    assert problems(pair.format(cont="continue = true\n")) == []


def test_catch_all_with_continue_shadows_nothing() -> None:
    assert (
        problems(
            '[[router.rules]]\nname = "tag"\nthen.tags = ["x"]\ncontinue = true\n'
            '[[router.rules]]\nname = "b"\nwhen.channel = ["sms"]\nthen.queue = "vip"\n'
        )
        == []
    )


def test_duplicate_rule_names_and_empty_keyword_lists() -> None:
    found = problems(
        '[[router.rules]]\nname = "x"\nwhen.keywords_any = []\nthen.queue = "vip"\n'
        '[[router.rules]]\nname = "x"\nwhen.channel = ["sms"]\nthen.queue = "vip"\n'
    )
    assert [k for k, _ in found] == ["router.rules.0.when.keywords_any", "router.rules.1.name"]


def test_contact_tag_problems() -> None:
    found = problems('[[router.contact_tags]]\ntag = "vip"\nsender_regex = "["\nsendr = ["a"]\n')
    assert sorted(k for k, _ in found) == ["router.contact_tags.0.sender_regex", "router.contact_tags.0.sendr"]


def test_load_settings_reports_router_problems_with_their_line(tmp_path: Path) -> None:
    text = BASE + '\n[[router.rules]]\nname = "bad"\nwhen.regex = "(x"\nthen.queue = "vip"\n'
    path = tmp_path / "settings.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SettingsError) as info:
        load_settings(path)
    [problem] = info.value.problems
    assert problem.key == "router.rules.0.when.regex"
    assert problem.line == text.splitlines().index('when.regex = "(x"') + 1
    assert "rule 'bad'" in problem.message


# ---- templates -----------------------------------------------------------------------------------------------------


def template_rule(name: str) -> str:
    return f'[[router.rules]]\nname = "t"\nwhen.channel = ["sms"]\nthen.template = "{name}"\n'


def test_a_rule_template_must_exist_in_both_languages() -> None:
    assert problems(template_rule("acknowledgement")) == []
    assert problems(template_rule("survey")) == []
    [(key, message)] = problems(template_rule("legal_ack"))
    assert key == "router.rules.0.then.template"
    assert "rule 't': unknown template 'legal_ack'" in message
    assert "legal_ack/default.en.j2, legal_ack/default.zh.j2 not found" in message
    assert "'acknowledgement'" in message and "'survey'" in message  # the usable ones are listed
    # welcome/ has only telegram.*.j2: on any other channel it would not render.
    assert "welcome/default.en.j2" in problems(template_rule("welcome"))[0][1]


def test_a_template_missing_one_language_or_with_a_path_in_its_name_is_reported(tmp_path: Path) -> None:
    (tmp_path / "legal").mkdir()
    (tmp_path / "legal" / "default.en.j2").write_text("Hello", encoding="utf-8")
    settings = router_settings(template_rule("legal"))
    [(_, message)] = settings.semantic_problems(templates_dir=tmp_path)
    assert "legal/default.zh.j2 not found" in message and "default.en.j2" not in message
    (tmp_path / "legal" / "default.zh.j2").write_text("你好", encoding="utf-8")
    assert settings.semantic_problems(templates_dir=tmp_path) == []
    [(_, message)] = router_settings(template_rule("../legal")).semantic_problems(templates_dir=tmp_path / "legal")
    assert "bad template name '../legal'" in message


# ---- every problem at once ----------------------------------------------------------------------------------------

ROUTER_PROBLEM = '\n[[router.rules]]\nname = "bad"\nwhen.channel = ["sms"]\nthen.queue = "nowhere"\n'


def test_router_problems_are_reported_beside_schema_errors_in_other_sections(tmp_path: Path) -> None:
    path = tmp_path / "settings.toml"
    path.write_text('[web]\nport = "eighty"\n' + BASE + ROUTER_PROBLEM, encoding="utf-8")
    with pytest.raises(SettingsError) as info:
        load_settings(path)
    assert [p.key for p in info.value.problems] == ["web.port", "router.rules.0.then.queue"]
    assert (
        info.value.problems[1].line == path.read_text(encoding="utf-8").splitlines().index('then.queue = "nowhere"') + 1
    )


def test_router_problems_are_reported_beside_a_secret_written_in_the_file(tmp_path: Path) -> None:
    path = tmp_path / "settings.toml"
    path.write_text('[telegram]\ntoken = "123:abc"\n' + BASE + ROUTER_PROBLEM, encoding="utf-8")
    with pytest.raises(SettingsError) as info:
        load_settings(path)
    assert [p.key for p in info.value.problems] == ["telegram.token", "router.rules.0.then.queue"]


def test_a_router_schema_error_is_not_followed_by_guesses_about_its_rules(tmp_path: Path) -> None:
    path = tmp_path / "settings.toml"
    path.write_text('[web]\nport = "eighty"\n' + BASE + ROUTER_PROBLEM + 'then.priority = "soon"\n', encoding="utf-8")
    with pytest.raises(SettingsError) as info:
        load_settings(path)
    assert [p.key for p in info.value.problems] == ["web.port", "router.rules.0.then.priority"]


def test_helpline_check_prints_every_problem(tmp_path: Path) -> None:
    path = tmp_path / "settings.toml"
    other_rule = template_rule("nope").replace('"sms"', '"voice"')
    path.write_text('[web]\nport = "eighty"\n' + BASE + ROUTER_PROBLEM + other_rule, encoding="utf-8")
    result = CliRunner().invoke(app, ["check", "--settings", str(path)])
    assert result.exit_code == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 3
    assert ": web.port:" in errors[0]
    assert "router.rules.0.then.queue: rule 'bad': unknown queue 'nowhere'" in errors[1]
    assert "router.rules.1.then.template: rule 't': unknown template 'nope'" in errors[2]


def test_the_tags_action_says_the_tags_reach_the_contact() -> None:
    description = Actions.model_fields["tags"].description
    assert description == (
        "added to the decision and to the contact's tags (so later messages from the contact match `contact_tags`)"
    )
