"""`helpline serve web` as a process: it seeds the settings' agents at start, serves the agents' API on the main
listener, `/metrics` alone on `[web] metrics_bind` (closed on the main listener), and stops both on SIGTERM, within
seconds even while a console tab holds a live stream open."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from desk.agents import AgentStore
from helpline.processes import GRACEFUL_STOP_SECONDS
from record.engine import engine_for
from tests.support.ports import free_port
from tests.support.redis_server import RedisServer

ROOT = Path(__file__).resolve().parent.parent

AGENTS = """
[[agents]]
name = "Ana Li"
email = "Ana@Desk.example"
queues = ["security"]
role = "admin"
"""


def wait_for(url: str, process: subprocess.Popen[bytes], timeout: float = 60) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "the web process exited"
        try:
            return httpx.get(url, timeout=5)
        except httpx.TransportError:
            time.sleep(0.2)
    raise AssertionError(f"{url} did not answer in {timeout}s")


def console_stream(base: str, record_url: str) -> httpx.Response:
    """Ana signed in to the console with its live stream open (read no further: it stays open)."""
    record = engine_for(record_url)
    try:
        AgentStore(record).set_password(AgentStore(record).find("ana@desk.example").id, "a long password 1")
    finally:
        record.dispose()
    client = httpx.Client(base_url=base, timeout=10)
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/console/sign-in").text)
    assert token is not None
    signed = client.post("/console/sign-in", data={"csrf_token": token.group(1), "email": "ana@desk.example",
                                                   "password": "a long password 1", "next": ""})  # fmt: skip
    assert signed.status_code == 303, signed.text
    stream = client.send(client.build_request("GET", "/console/live"), stream=True)
    assert stream.status_code == 200 and stream.headers["content-type"].startswith("text/event-stream")
    return stream


@pytest.mark.slow
def test_serve_web_seeds_agents_and_serves_metrics_on_their_own_address(
    redis_server: RedisServer, record_url: str, tmp_path: Path
) -> None:
    settings_file = tmp_path / "settings.toml"
    settings_file.write_text((ROOT / "settings.toml").read_text(encoding="utf-8") + AGENTS, encoding="utf-8")
    port, metrics_port = free_port(), free_port()
    env = {
        **os.environ, "HELPLINE_SETTINGS": str(settings_file), "HELPLINE_REDIS__URL": redis_server.url,
        "HELPLINE_DATABASE__URL": record_url, "HELPLINE_WEB__PORT": str(port),
        "HELPLINE_WEB__METRICS_BIND": f"127.0.0.1:{metrics_port}",
    }  # fmt: skip
    log = (tmp_path / "web.log").open("wb")
    process = subprocess.Popen([sys.executable, "-m", "helpline", "serve", "web"], cwd=tmp_path, env=env, stdout=log,
                               stderr=subprocess.STDOUT)  # fmt: skip
    try:
        metrics = wait_for(f"http://127.0.0.1:{metrics_port}/metrics", process)
        assert metrics.status_code == 200 and "helpline_record_up 1.0" in metrics.text
        assert 'name="Ana Li",role="admin"' in metrics.text  # seeded at start
        main = wait_for(f"http://127.0.0.1:{port}/metrics", process)
        assert main.status_code == 403
        assert httpx.get(f"http://127.0.0.1:{port}/api/me").status_code == 401
        assert httpx.get(f"http://127.0.0.1:{port}/api/openapi.json").json()["info"]["title"] == "Helpline agents' API"
        live = console_stream(f"http://127.0.0.1:{port}", record_url)  # a console tab open, as there always is
    finally:
        process.send_signal(signal.SIGTERM)
        asked = time.monotonic()
        code = process.wait(30)
        stopped_in = time.monotonic() - asked
        log.close()
    assert code in (0, -signal.SIGTERM), (tmp_path / "web.log").read_text()
    live.close()
    assert stopped_in < GRACEFUL_STOP_SECONDS + 10  # not the stream's five minutes
    for listener in (port, metrics_port):
        try:
            httpx.get(f"http://127.0.0.1:{listener}/healthz", timeout=2)
            raise AssertionError(f"port {listener} still answers")
        except httpx.TransportError:
            pass
