"""Helpline as an operator runs it: the real process tree from the Procfile, an embedded Redis, mail in,
acknowledgement out — under `helpline run` and under a generic Procfile runner (honcho)."""

from __future__ import annotations

import os
import shutil
import signal
import smtplib
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis import Redis

from core.store import Store
from record.migrate import SCHEMA_BEHIND_EXIT
from tests.mail_factory import raw_email
from tests.support.ports import free_port
from tests.support.postgres import PostgresCluster
from tests.support.smtp_sink import SmtpSink

ROOT = Path(__file__).resolve().parent.parent
# Loggers of libraries that log each job, request or SMTP command at INFO: quiet unless `--verbose`.
LIBRARY_LOGGERS = {"rq.worker", "rq.scheduler", "rq.job", "twilio.http_client", "httpx", "uvicorn.access", "mail.log"}


CANARY_RULE = """
[[router.rules]]
name = "hot reload canary"
when.keywords_any = ["canary-word"]
then.queue = "vip"
then.priority = "low"
"""


def environment(tmp_path: Path, smtp_port: int, relay_port: int, postgres_dir: Path | None = None) -> dict[str, str]:
    settings = tmp_path / "settings.toml"  # a copy: the hot-reload test edits it
    settings.write_text((ROOT / "settings.toml").read_text(encoding="utf-8"), encoding="utf-8")
    env = {
        **os.environ,
        "HELPLINE_SETTINGS": str(settings),
        "HELPLINE_REDIS__EMBEDDED_DIR": str(tmp_path / "redis"),
        "HELPLINE_DATABASE__EMBEDDED_DIR": str(postgres_dir or tmp_path / "postgres"),
        "HELPLINE_EMAIL__INBOUND__PORT": str(smtp_port),
        "HELPLINE_EMAIL__OUTBOUND__PORT": str(relay_port),
        "HELPLINE_WEB__PORT": str(free_port()),
        "HELPLINE_WORKERS__COUNT": "1",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    env.pop("HELPLINE_REDIS__URL", None)
    env.pop("REDIS_URL", None)
    env.pop("HELPLINE_DATABASE__URL", None)
    env.pop("DATABASE_URL", None)
    return env


@pytest.fixture
def postgres_dir() -> Iterator[Path]:
    """The embedded PostgreSQL's folder: one the postgres user can reach (pytest's tmp_path is root's 0700)."""
    folder = Path(tempfile.mkdtemp(prefix="hl-run-", dir="/tmp"))
    os.chmod(folder, 0o755)
    yield folder / "postgres"
    shutil.rmtree(folder, ignore_errors=True)


def stop(process: subprocess.Popen[bytes], log: Path) -> str:
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=30)
    return log.read_text(errors="replace")


@pytest.mark.slow
def test_run_starts_everything_with_an_embedded_redis(tmp_path: Path, smtp_sink: SmtpSink, postgres_dir: Path) -> None:
    smtp_port = free_port()
    log = tmp_path / "run.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "helpline", "run"], cwd=tmp_path,
            env=environment(tmp_path, smtp_port, smtp_sink.port, postgres_dir), stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        ready = wait_for_ready_block(log)
        assert f"  mail in      smtp://127.0.0.1:{smtp_port} for support@wallet.example" in ready
        assert f"  replies out  SMTP relay 127.0.0.1:{smtp_sink.port} as support@wallet.example\n" in ready
        assert "  channels on  email (SMTP on " in ready
        assert f"  record       embedded PostgreSQL in {postgres_dir}\n" in ready
        assert "SMS/WhatsApp/voice: set twilio.account_sid and HELPLINE_TWILIO__AUTH_TOKEN" in ready
        assert "Telegram: set HELPLINE_TELEGRAM__TOKEN" in ready and "; 1 worker\n" in ready
        send_when_ready(smtp_port, raw_email("My card was stolen", message_id="<run-1@example.com>"))
        (ack,) = smtp_sink.wait_for(1, timeout=30)
        assert ack.message["In-Reply-To"] == "<run-1@example.com>"
        # the embedded Redis persists to an append-only file in its own folder
        redis = Redis(unix_socket_path=str(tmp_path / "redis" / "redis.sock"))
        assert redis.config_get("appendonly") == {"appendonly": "yes"}
        assert (tmp_path / "redis" / "appendonlydir").is_dir()
        # a new rule, then SIGHUP: passed on to the workers, which swap their rules; nothing is killed
        with (tmp_path / "settings.toml").open("a", encoding="utf-8") as settings:
            settings.write(CANARY_RULE)
        process.send_signal(signal.SIGHUP)
        time.sleep(1)
        assert process.poll() is None
        send_when_ready(smtp_port, raw_email("canary-word: hello", message_id="<run-2@example.com>", sender="b@x.org"))
        assert len(smtp_sink.wait_for(2, timeout=30)) == 2
        store = Store(redis)
        (canary,) = [
            m for m in map(store.get_message, store.message_ids()) if m and m.envelope.message_id == "run-2@example.com"
        ]
        assert canary.decision is not None and (canary.decision.queue, canary.decision.priority.value) == ("vip", "low")
    finally:
        output = stop(process, log)
    assert process.returncode == 0, output
    assert output.count("Helpline is ready") == 1
    # jobs ran and mail went out, yet the libraries stayed quiet (they log every step at INFO)
    assert not [line for line in output.splitlines() if " INFO " in line and line.split()[2] in LIBRARY_LOGGERS]
    assert "SIGHUP: passing it on to the workers" in output
    assert "exited with" not in output, "a process died on SIGHUP (or otherwise) and was restarted"
    assert not (tmp_path / "redis" / "redis.sock").exists(), "embedded Redis still running"
    assert not (postgres_dir / "data" / "postmaster.pid").exists(), "embedded PostgreSQL still running"


@pytest.mark.slow
def test_run_verbose_lets_the_libraries_speak_and_the_block_shows_twilio_on(
    tmp_path: Path, smtp_sink: SmtpSink, postgres_dir: Path
) -> None:
    smtp_port = free_port()
    env = environment(tmp_path, smtp_port, smtp_sink.port, postgres_dir)
    env |= {"HELPLINE_TWILIO__ACCOUNT_SID": "AC" + "0" * 32, "HELPLINE_TWILIO__AUTH_TOKEN": "not-a-real-token"}
    log = tmp_path / "run.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "helpline", "run", "--verbose"], cwd=tmp_path, env=env, stdout=out,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        ready = wait_for_ready_block(log)
        assert "  channels on  email (SMTP on 127.0.0.1:" in ready and "; SMS/WhatsApp/voice (webhooks" in ready
        send_when_ready(smtp_port, raw_email("Refund please", message_id="<verbose-1@example.com>"))
        smtp_sink.wait_for(1, timeout=30)
    finally:
        # Ctrl-C in a terminal: SIGINT to the whole process group at once. Redis (its own group) must outlive the
        # workers finishing their jobs, so nothing crashes on the way down.
        os.killpg(process.pid, signal.SIGINT)
        process.wait(timeout=30)
        output = log.read_text(errors="replace")
    assert process.returncode == 0, output
    assert "Traceback" not in output and " ERROR " not in output, output
    assert not (tmp_path / "redis" / "redis.sock").exists(), "embedded Redis still running"
    speakers = {line.split()[2] for line in output.splitlines() if " INFO " in line}
    assert {"rq.worker", "uvicorn.access", "mail.log"} <= speakers, speakers  # a job, the /healthz probe, SMTP


@pytest.mark.slow
def test_a_generic_procfile_runner_runs_the_same_processes(
    tmp_path: Path, smtp_sink: SmtpSink, postgres_dir: Path
) -> None:
    honcho = shutil.which("honcho", path=str(Path(sys.executable).parent))
    assert honcho is not None, "honcho is a test dependency"
    smtp_port = free_port()
    log = tmp_path / "honcho.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [honcho, "start", "-f", str(ROOT / "Procfile"), "-d", str(ROOT)],
            env=environment(tmp_path, smtp_port, smtp_sink.port, postgres_dir), stdout=out,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        send_when_ready(smtp_port, raw_email("Refund please", message_id="<honcho-1@example.com>"))
        (ack,) = smtp_sink.wait_for(1, timeout=30)
        assert ack.message["In-Reply-To"] == "<honcho-1@example.com>"
        assert process.poll() is None, "a disabled process (imap, telegram) must not stop the others"
    finally:
        output = stop(process, log)
    assert "imap" in output and "idle until stopped" in output
    assert not (postgres_dir / "data" / "postmaster.pid").exists(), "embedded PostgreSQL still running"


def test_a_record_behind_the_code_stops_run_instead_of_restarting(
    tmp_path: Path, postgres_cluster: PostgresCluster
) -> None:
    postgres_cluster.server.create_database("behind_for_run")  # empty: no migration applied
    env = environment(tmp_path, free_port(), free_port())
    env["HELPLINE_DATABASE__URL"] = postgres_cluster.server.url_for("behind_for_run")
    try:
        done = subprocess.run(
            [sys.executable, "-m", "helpline", "run"], cwd=tmp_path, env=env, capture_output=True, timeout=60
        )
    finally:
        postgres_cluster.server.drop_database("behind_for_run")
    output = done.stderr.decode(errors="replace")
    assert done.returncode == SCHEMA_BEHIND_EXIT, output
    assert "run `helpline migrate`" in output
    assert "restarting in" not in output


def wait_for_ready_block(log: Path, timeout: float = 90.0) -> str:
    """The block `helpline run` prints once every process answers (a generous timeout: CI machines are shared)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace")
        start = text.find("Helpline is ready")
        end = text.find("Ctrl-C stops everything", start)
        if start >= 0 and end >= 0:
            return text[start : text.index("\n", end) + 1]
        time.sleep(0.2)
    raise AssertionError(f"no ready block after {timeout}s:\n{log.read_text(errors='replace')}")


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
