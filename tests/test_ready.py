"""What `helpline run` prints once it is ready, and how loud the libraries are (tests/test_helpline_run.py checks
both on the real process tree)."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.settings import LoggingSettings, Settings, load_settings
from helpline.logs import OURS, configure_logging, verbose
from helpline.ready import ChannelState, channel_states, ready_block
from helpline.supervisor import READY_PATIENCE_SECONDS, Child, ReadyCheck
from tests.support.ports import free_port

ROOT = Path(__file__).resolve().parent.parent
LIBRARIES = ("rq.worker", "rq.scheduler", "twilio.http_client", "httpx", "uvicorn.access", "uvicorn.error", "mail.log")


def settings(monkeypatch: pytest.MonkeyPatch, **env: str) -> Settings:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return load_settings(ROOT / "settings.toml")


def block(loaded: Settings, *, named: bool = False, relay_answers: bool = True) -> str:
    return ready_block(
        loaded,
        store="embedded Redis unix:///x/redis.sock (append-only)",
        record="embedded PostgreSQL in /x/postgres",
        settings_file=Path("/etc/helpline/settings.toml"),
        settings_named=named,
        relay_answers=relay_answers,
        workers=2,
    )


def test_with_the_default_settings_only_email_is_on_and_each_other_channel_says_what_it_needs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    states = {state.name: state for state in channel_states(settings(monkeypatch))}
    assert states["email"] == ChannelState("email", True, "SMTP on 127.0.0.1:2525")
    assert not states["IMAP"].on and "email.imap.host" in states["IMAP"].detail
    sms = states["SMS/WhatsApp/voice"]
    assert not sms.on and sms.detail == "set twilio.account_sid and HELPLINE_TWILIO__AUTH_TOKEN"
    telegram = states["Telegram"]
    assert not telegram.on and telegram.detail == "set HELPLINE_TELEGRAM__TOKEN and HELPLINE_TELEGRAM__WEBHOOK_SECRET"


def test_settings_and_secrets_turn_channels_on(monkeypatch: pytest.MonkeyPatch) -> None:
    loaded = settings(
        monkeypatch,
        HELPLINE_TWILIO__ACCOUNT_SID="AC123",
        HELPLINE_TWILIO__AUTH_TOKEN="token",
        HELPLINE_TELEGRAM__MODE="polling",
        HELPLINE_TELEGRAM__TOKEN="123:abc",
        HELPLINE_EMAIL__IMAP__HOST="imap.example.com",
    )
    assert all(state.on for state in channel_states(loaded))
    half = settings(monkeypatch, HELPLINE_TELEGRAM__MODE="webhook", HELPLINE_TWILIO__ACCOUNT_SID="")
    states = {state.name: state for state in channel_states(half)}
    assert states["Telegram"].detail == "set HELPLINE_TELEGRAM__WEBHOOK_SECRET"
    assert states["SMS/WhatsApp/voice"].detail == "set twilio.account_sid"


def test_the_block_says_where_everything_listens_and_what_to_try(monkeypatch: pytest.MonkeyPatch) -> None:
    text = block(settings(monkeypatch, HELPLINE_EMAIL__INBOUND__PORT="2600", HELPLINE_WEB__HOST="0.0.0.0"))
    lines = text.splitlines()
    assert lines[0] == "Helpline is ready (settings: /etc/helpline/settings.toml)"
    assert "  mail in      smtp://127.0.0.1:2600 for support@wallet.example, help@wallet.example" in text
    health = "  health       http://127.0.0.1:8080/healthz (metrics: closed; set [web] metrics_token or metrics_bind)"
    assert health in lines
    assert "  agents' API  http://127.0.0.1:8080/api/ (OpenAPI: http://127.0.0.1:8080/api/docs)" in lines
    private = block(settings(monkeypatch, HELPLINE_WEB__METRICS_BIND="127.0.0.1:9108"))
    assert "  health       http://127.0.0.1:8080/healthz (metrics: http://127.0.0.1:9108/metrics)" in private
    assert "  replies out  SMTP relay 127.0.0.1:25 as support@wallet.example" in lines
    assert "  store        embedded Redis unix:///x/redis.sock (append-only); 2 workers" in lines
    assert "  record       embedded PostgreSQL in /x/postgres" in lines
    assert "  attachments  folder var/attachments" in lines
    assert "  channels on  email (SMTP on 127.0.0.1:2600)" in lines
    assert sum("channels off" in line for line in lines) == 1 and len(lines) < 25
    # the sample mail names a keyword of the first category, and `agent next` that category's queue
    assert "swaks --server 127.0.0.1:2600 --from you@example.com --to support@wallet.example" in text
    assert "--header 'Subject: Help: fraud'" in text
    assert any(line.endswith("helpline agent next security") for line in lines)
    assert "--settings" not in text and "aiosmtpd" not in text


def test_a_named_settings_file_and_a_silent_relay_are_spelled_out(monkeypatch: pytest.MonkeyPatch) -> None:
    text = block(settings(monkeypatch, HELPLINE_EMAIL__OUTBOUND__PORT="2526"), named=True, relay_answers=False)
    assert "helpline --settings /etc/helpline/settings.toml queues" in text
    assert "SMTP relay 127.0.0.1:2526 as support@wallet.example (NOT answering: replies wait and retry)" in text
    assert "-m aiosmtpd -n -l 127.0.0.1:2526" in text
    bucket = block(
        settings(monkeypatch, HELPLINE_ATTACHMENTS__BACKEND="s3", HELPLINE_ATTACHMENTS__S3__BUCKET="desk-files")
    )
    assert "  attachments  s3://desk-files/attachments/ (AWS S3, us-east-1)" in bucket.splitlines()
    assert (
        "  WARNING      the outbound relay 127.0.0.1:2526 cannot be reached: replies wait and retry, and fail for good"
        " after 5 attempts"
    ) in text.splitlines()
    assert "WARNING" not in block(settings(monkeypatch))
    privileged = block(settings(monkeypatch, HELPLINE_EMAIL__OUTBOUND__PORT="25"), relay_answers=False)
    assert "-m aiosmtpd -n -l 127.0.0.1:1025, then restart with HELPLINE_EMAIL__OUTBOUND__PORT=1025" in privileged


@pytest.fixture
def restored_logging(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # As in a fresh process: other tests here ran uvicorn (which sets its loggers' levels) and rq.
    libraries = [name for name in logging.root.manager.loggerDict if name.split(".")[0] in {"uvicorn", "rq", "mail"}]
    names = ["", *OURS, *LIBRARIES, *libraries]
    levels = {name: logging.getLogger(name).level for name in names}
    for name in {*LIBRARIES, *libraries}:
        logging.getLogger(name).setLevel(logging.NOTSET)
    # verbose() sets it: set and removed through monkeypatch, it is put back as it was after the test
    monkeypatch.setenv("HELPLINE_LOGGING__LIBRARIES", "WARNING")
    monkeypatch.delenv("HELPLINE_LOGGING__LIBRARIES")
    yield
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


@pytest.mark.usefixtures("restored_logging")
def test_libraries_are_quiet_by_default_and_speak_with_verbose() -> None:
    configure_logging(LoggingSettings())
    assert all(logging.getLogger(f"{name}.x").isEnabledFor(logging.INFO) for name in OURS)
    assert not any(logging.getLogger(name).isEnabledFor(logging.INFO) for name in LIBRARIES)
    assert all(logging.getLogger(name).isEnabledFor(logging.WARNING) for name in LIBRARIES)

    chosen = LoggingSettings()
    verbose(chosen)
    configure_logging(chosen)
    assert all(logging.getLogger(name).isEnabledFor(logging.INFO) for name in LIBRARIES)
    assert not logging.getLogger("rq.worker").isEnabledFor(logging.DEBUG)


@pytest.mark.usefixtures("restored_logging")
def test_verbose_reaches_the_processes_run_starts_through_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    verbose(settings(monkeypatch).logging)
    assert settings(monkeypatch).logging.libraries == "INFO"  # what a child reads with its settings
    monkeypatch.setenv("HELPLINE_LOGGING__LEVEL", "WARNING")
    monkeypatch.setenv("HELPLINE_LOGGING__LIBRARIES", "ERROR")
    configure_logging(settings(monkeypatch).logging)
    assert not logging.getLogger("helpline.run").isEnabledFor(logging.INFO)
    assert not logging.getLogger("httpx").isEnabledFor(logging.WARNING)


def test_run_names_what_is_still_not_answering_once_after_a_minute(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    loaded = settings(monkeypatch, HELPLINE_EMAIL__INBOUND__PORT=str(free_port()))
    children = [Child("smtp", [], kind="smtp"), Child("scheduler", [], kind="scheduler")]  # neither started
    check = ReadyCheck(loaded, "unix:///nowhere/redis.sock", None, started=time.monotonic() - READY_PATIENCE_SECONDS)
    with caplog.at_level(logging.WARNING, logger="helpline.run"):
        check.poll(children)
        check.next_probe = 0.0
        check.poll(children)
    (warning,) = [r.getMessage() for r in caplog.records]  # once, however often it polls
    assert warning.startswith("not ready after ") and warning.endswith("s, still waiting for: smtp, scheduler, SMTP")
    assert not check.reported and "Helpline is ready" not in capsys.readouterr().out


def test_run_warns_at_start_up_when_the_outbound_relay_cannot_be_reached(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A TCP connect with a short timeout: a warning line, never an exception (the relay may come up later)."""
    import socket

    from helpline.ready import relay_problem, warn_if_relay_unreachable

    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen(1)
        port = listening.getsockname()[1]
        assert relay_problem("127.0.0.1", port) is None
        with caplog.at_level("WARNING", logger="helpline.run"):
            assert warn_if_relay_unreachable(settings(monkeypatch, HELPLINE_EMAIL__OUTBOUND__PORT=str(port)))
        assert caplog.records == []
    closed = free_port()  # nothing listens there now
    problem = relay_problem("127.0.0.1", closed)
    assert problem is not None and "refused" in problem.lower()
    with caplog.at_level("WARNING", logger="helpline.run"):
        assert not warn_if_relay_unreachable(settings(monkeypatch, HELPLINE_EMAIL__OUTBOUND__PORT=str(closed)))
    (line,) = caplog.records
    assert line.levelname == "WARNING" and f"the outbound relay 127.0.0.1:{closed} cannot be reached" in line.message
    assert relay_problem("no-such-host.invalid", 25, timeout=0.5) is not None  # a name that does not resolve
