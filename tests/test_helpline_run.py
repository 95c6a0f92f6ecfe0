"""`helpline run` as an operator runs it: a real process tree with an embedded Redis, mail in, acknowledgement out."""

from __future__ import annotations

import os
import signal
import smtplib
import subprocess
import sys
import time
from pathlib import Path

import pytest
from redis import Redis

from tests.mail_factory import raw_email
from tests.support.ports import free_port
from tests.support.smtp_sink import SmtpSink

ROOT = Path(__file__).resolve().parent.parent


def settings_file(tmp_path: Path, smtp_port: int, relay_port: int) -> Path:
    shipped = (ROOT / "settings.toml").read_text(encoding="utf-8")
    path = tmp_path / "settings.toml"
    path.write_text(shipped, encoding="utf-8")
    return path


@pytest.mark.slow
def test_run_starts_everything_with_an_embedded_redis(tmp_path: Path, smtp_sink: SmtpSink) -> None:
    smtp_port = free_port()
    env = {
        **os.environ,
        "HELPLINE_REDIS__EMBEDDED_DIR": str(tmp_path / "redis"),
        "HELPLINE_EMAIL__INBOUND__PORT": str(smtp_port),
        "HELPLINE_EMAIL__OUTBOUND__PORT": str(smtp_sink.port),
        "HELPLINE_WEB__PORT": str(free_port()),
        "HELPLINE_WORKERS__COUNT": "1",
    }
    env.pop("HELPLINE_REDIS__URL", None)
    path = settings_file(tmp_path, smtp_port, smtp_sink.port)
    process = subprocess.Popen(
        [sys.executable, "-m", "helpline", "run", "--settings", str(path)], cwd=tmp_path, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        send_when_ready(smtp_port, raw_email("My card was stolen", message_id="<run-1@example.com>"))
        (ack,) = smtp_sink.wait_for(1, timeout=30)
        assert ack.message["In-Reply-To"] == "<run-1@example.com>"
        # the embedded Redis persists to an append-only file in its own folder
        redis = Redis(unix_socket_path=str(tmp_path / "redis" / "redis.sock"))
        assert redis.config_get("appendonly") == {"appendonly": "yes"}
        assert (tmp_path / "redis" / "appendonlydir").is_dir()
    finally:
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=30)[0].decode(errors="replace")
    assert process.returncode == 0, output
    assert not (tmp_path / "redis" / "redis.sock").exists(), "embedded Redis still running"


def send_when_ready(port: int, raw: bytes, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with smtplib.SMTP("127.0.0.1", port, timeout=5) as client:
                client.sendmail("alice@example.com", ["support@wallet.example"], raw)
                return
        except (OSError, smtplib.SMTPException):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
