"""Fixtures of the Telegram tests: the fake Bot API, settings pointed at it, and the real web app over HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from core.settings import Settings
from core.store import Store
from tests.support.fake_telegram import FakeTelegram, settings_for
from tests.support.web_server import WebServer
from web.app import create_app


@pytest.fixture
def fake() -> Iterator[FakeTelegram]:
    server = FakeTelegram().start()
    yield server
    server.stop()


@pytest.fixture
def tg_settings(settings: Settings, fake: FakeTelegram) -> Settings:
    return settings_for(settings, fake)


@pytest.fixture
def web(tg_settings: Settings, store: Store) -> Iterator[WebServer]:
    server = WebServer(create_app(tg_settings, store)).start()
    yield server
    server.stop()
