"""Polling mode: the real PTB Bot long-polls the fake's getUpdates; offsets advance only after an update is stored."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from channels.telegram import make_bot
from core.envelope import Channel
from core.settings import Settings
from core.store import Store
from ingest.telegram.polling import Poller
from tests.conftest import ROOT
from tests.support.fake_telegram import FakeTelegram, callback, settings_for, update
from web.telegram_follow_ups import FollowUps


@pytest.fixture
def tg_settings(settings: Settings, fake: FakeTelegram) -> Settings:
    return settings_for(settings, fake, mode="polling")


def poll_once(poller: Poller) -> int:
    async def once() -> int:
        async with poller.bot:
            return await poller.poll_once()

    return asyncio.run(once())


def test_each_update_is_stored_and_the_offset_advances_after_it(
    tg_settings: Settings, store: Store, fake: FakeTelegram
) -> None:
    fake.push_update(update(100, "first"))
    fake.push_update(update(101, "second"))
    poller = Poller(tg_settings, store, make_bot(tg_settings.telegram))
    assert poll_once(poller) == 2
    assert store.find_duplicate(Channel.TELEGRAM, "100") and store.find_duplicate(Channel.TELEGRAM, "101")
    assert poller.offset() == 102
    (call,) = fake.calls("getUpdates")
    assert call.params["offset"] == "0"


def test_a_restart_resumes_from_the_stored_offset_without_reprocessing(
    tg_settings: Settings, store: Store, fake: FakeTelegram
) -> None:
    fake.push_update(update(200, "before the restart"))
    poll_once(Poller(tg_settings, store, make_bot(tg_settings.telegram)))
    fake.push_update(update(201, "after the restart"))
    restarted = Poller(tg_settings, store, make_bot(tg_settings.telegram))  # a new process: state only in Redis
    assert restarted.offset() == 201
    assert poll_once(restarted) == 1  # only the new one: 200 was confirmed by asking for offset 201
    assert fake.calls("getUpdates")[-1].params["offset"] == "201"
    assert len(store.message_ids()) == 2
    assert [u["update_id"] for u in fake.pending_updates()] == [201]  # confirmed by the next getUpdates only


def test_while_the_store_is_down_the_offset_stays_and_nothing_is_confirmed(
    tg_settings: Settings, store: Store, fake: FakeTelegram
) -> None:
    from redis import Redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    from core.errors import StoreUnavailable
    from tests.support.ports import free_port

    fake.push_update(update(300, "hello"))
    dead = Store(Redis(port=free_port(), socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0)))
    with pytest.raises(StoreUnavailable):
        poll_once(Poller(tg_settings, dead, make_bot(tg_settings.telegram)))
    assert [u["update_id"] for u in fake.pending_updates()] == [300]
    # Back up: the same update is delivered again and stored.
    assert poll_once(Poller(tg_settings, store, make_bot(tg_settings.telegram))) == 1
    assert store.find_duplicate(Channel.TELEGRAM, "300") is not None


def test_the_polling_loop_runs_follow_ups_and_stops_on_request(
    tg_settings: Settings, store: Store, fake: FakeTelegram
) -> None:
    stop = threading.Event()
    poller = Poller(tg_settings, store, make_bot(tg_settings.telegram), FollowUps(tg_settings))
    thread = threading.Thread(target=poller.run, args=(stop,), daemon=True)
    thread.start()
    try:
        fake.push_update(update(400, "/start", user_id=4000))
        fake.push_update(callback(401, "cat:top_up", user_id=4000))
        (welcome,) = fake.wait_for("sendMessage")
        assert welcome.params["chat_id"] == "4000" and "inline_keyboard" in welcome.params["reply_markup"]
        fake.wait_for("answerCallbackQuery")
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive()
    assert fake.calls("deleteWebhook"), "polling must remove a webhook first (getUpdates is refused while one is set)"
    assert store.redis.get(store.key("tg", "category", "4000")) == b"top_up"


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_the_telegram_process_stops_cleanly_on_a_signal(
    settings: Settings, store: Store, fake: FakeTelegram, tmp_path: Path, signum: signal.Signals
) -> None:
    """`helpline serve telegram` as a process manager runs it: a signal during a long poll ends it with status 0,
    and what it stored before stays stored and confirmed."""
    env = {
        **os.environ,
        "HELPLINE_REDIS__URL": str(settings.redis.url),
        "HELPLINE_TELEGRAM__MODE": "polling",
        "HELPLINE_TELEGRAM__TOKEN": fake.token,
        "HELPLINE_TELEGRAM__API_BASE_URL": fake.url,
        "HELPLINE_TELEGRAM__POLL_TIMEOUT_SECONDS": "30",  # the fake answers within 1 s; the process must not wait
    }
    fake.push_update(update(600, "My card was declined", user_id=6000))
    process = subprocess.Popen(
        [sys.executable, "-m", "helpline", "serve", "telegram", "--settings", str(ROOT / "settings.toml")],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        # Its second getUpdates confirms update 600, so by then the update is stored and the process is long-polling.
        getting = fake.wait_for("getUpdates", 2, timeout=20)
        assert len(getting) >= 2, "the process never polled twice"
        assert int(getting[1].params["offset"]) == 601
        process.send_signal(signum)
        output = process.communicate(timeout=10)[0].decode(errors="replace")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, output
    assert store.find_duplicate(Channel.TELEGRAM, "600") is not None
    assert store.redis.get(store.key("tg", "offset")) == b"601"
