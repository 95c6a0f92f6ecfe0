"""Validation of the [router] section at load: every problem names its rule, key and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import SettingsError
from core.settings import load_settings
from tests.router_helpers import BASE, router_settings

ROOT = Path(__file__).resolve().parent.parent


def problems(rules: str) -> list[tuple[str, str]]:
    return router_settings(rules).semantic_problems()


def test_default_settings_have_no_problems() -> None:
    assert load_settings(ROOT / "settings.toml").router.semantic_problems() == []


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
