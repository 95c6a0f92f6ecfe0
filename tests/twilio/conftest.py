"""Fixtures of the Twilio tests: the fake REST API, settings pointed at it, and the real web app over HTTP.

A test module that needs other settings (a Messaging Service, a public URL) overrides `tw_settings` locally.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from core.settings import Settings
from core.store import Store
from tests.support.fake_twilio import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio
from tests.support.web_server import WebServer
from web.app import create_app


@pytest.fixture
def fake() -> Iterator[FakeTwilio]:
    server = FakeTwilio().start()
    yield server
    server.stop()


@pytest.fixture
def tw_settings(settings: Settings, fake: FakeTwilio) -> Settings:
    twilio = settings.twilio.model_copy(
        update={"account_sid": ACCOUNT_SID, "auth_token": SecretStr(AUTH_TOKEN), "api_base_url": fake.url}
    )
    return settings.model_copy(update={"twilio": twilio})


@pytest.fixture
def web(tw_settings: Settings, store: Store) -> Iterator[WebServer]:
    server = WebServer(create_app(tw_settings, store)).start()
    yield server
    server.stop()
