"""Hot reload: a file change or SIGHUP swaps the rules; an invalid file keeps the running ones and says why."""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.router_helpers import BASE, envelope
from workers.live_router import LiveRouter

RULE = '\n[[router.rules]]\nname = "sms to vip"\nwhen.keywords_any = ["{word}"]\nthen.queue = "vip"\n'


def wait_for(condition: Callable[[], bool], timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def save_until(path: Path, text: str, condition: Callable[[], bool], attempts: int = 30) -> bool:
    for _ in range(attempts):
        path.write_text(text, encoding="utf-8")
        if wait_for(condition, timeout=0.5):
            return True
    return False


@pytest.fixture
def settings_file(tmp_path: Path) -> Path:
    path = tmp_path / "settings.toml"
    path.write_text(BASE + RULE.format(word="alpha"), encoding="utf-8")
    return path


@pytest.fixture
def live(settings_file: Path) -> Iterator[LiveRouter]:
    router = LiveRouter.from_file(settings_file)
    yield router
    router.stop()


def queue_for(live: LiveRouter, text: str) -> str:
    return live.current().decide(envelope(text)).queue


def test_reload_swaps_the_compiled_router(live: LiveRouter, settings_file: Path) -> None:
    before = live.current()
    assert queue_for(live, "alpha") == "vip"
    settings_file.write_text(BASE + RULE.format(word="beta"), encoding="utf-8")
    assert live.reload() is True
    assert live.current() is not before
    assert (queue_for(live, "alpha"), queue_for(live, "beta")) == ("general", "vip")
    assert live.generation == 1


def test_invalid_file_keeps_running_rules_and_logs_every_problem(
    live: LiveRouter, settings_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    running = live.current()
    bad = BASE + '\n[[router.rules]]\nname = "broken"\nwhen.regex = "("\nthen.queue = "nowhere"\n'
    settings_file.write_text(bad, encoding="utf-8")
    with caplog.at_level(logging.ERROR, logger="helpline.router"):
        assert live.reload() is False
    assert live.current() is running
    assert queue_for(live, "alpha") == "vip"
    assert len(live.last_problems) == 2
    logged = caplog.text
    assert "keeping the running routing rules" in logged
    assert "router.rules.0.when.regex" in logged and "router.rules.0.then.queue" in logged


def test_file_change_is_picked_up_by_the_watcher(live: LiveRouter, settings_file: Path) -> None:
    live.watch(debounce_ms=50)
    # The watcher thread may still be starting: save again until it has seen a save (it reloads on each).
    assert save_until(settings_file, BASE + RULE.format(word="gamma"), lambda: queue_for(live, "gamma") == "vip")
    assert live.generation >= 1
    # A save that breaks the file is refused by the watcher too.
    assert save_until(settings_file, "[router\nbroken", lambda: bool(live.last_problems))
    assert queue_for(live, "gamma") == "vip"


def test_sighup_reloads(live: LiveRouter, settings_file: Path) -> None:
    live.install_sighup()
    settings_file.write_text(BASE + RULE.format(word="delta"), encoding="utf-8")
    os.kill(os.getpid(), signal.SIGHUP)
    assert wait_for(lambda: live.generation >= 1)
    assert queue_for(live, "delta") == "vip"


def test_stop_restores_the_previous_sighup_handler(settings_file: Path) -> None:
    previous = signal.getsignal(signal.SIGHUP)
    live = LiveRouter.from_file(settings_file)
    live.install_sighup()
    assert signal.getsignal(signal.SIGHUP) is not previous
    live.stop()
    assert signal.getsignal(signal.SIGHUP) == previous


def test_a_repointed_symlink_is_followed(tmp_path: Path) -> None:
    # A release link or a Kubernetes ConfigMap: settings.toml is a link that a deploy repoints.
    first, second = tmp_path / "v1.toml", tmp_path / "v2.toml"
    first.write_text(BASE + RULE.format(word="alpha"), encoding="utf-8")
    second.write_text(BASE + RULE.format(word="omega"), encoding="utf-8")
    link = tmp_path / "settings.toml"
    link.symlink_to(first)
    live = LiveRouter.from_file(link)
    try:
        live.watch(debounce_ms=50)
        replacement = tmp_path / "settings.toml.new"
        replacement.symlink_to(second)
        replacement.replace(link)  # an atomic repoint, as deploy tools do it
        first.unlink()
        assert wait_for(lambda: live.generation >= 1)
        assert queue_for(live, "omega") == "vip" and queue_for(live, "alpha") == "general"
    finally:
        live.stop()


def test_an_edit_of_a_link_target_in_another_folder_is_seen(tmp_path: Path) -> None:
    (tmp_path / "checkout").mkdir()
    (tmp_path / "etc").mkdir()
    target = tmp_path / "checkout" / "settings.toml"
    target.write_text(BASE + RULE.format(word="alpha"), encoding="utf-8")
    link = tmp_path / "etc" / "settings.toml"
    link.symlink_to(target)
    live = LiveRouter.from_file(link)
    try:
        live.watch(debounce_ms=50)
        assert save_until(target, BASE + RULE.format(word="kappa"), lambda: live.generation >= 1)
        assert queue_for(live, "kappa") == "vip"
    finally:
        live.stop()
