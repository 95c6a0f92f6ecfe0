"""`helpline serve web` as a process: it seeds the settings' agents at start, serves the agents' API on the main
listener, `/metrics` alone on `[web] metrics_bind` (closed on the main listener), and stops both on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

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
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(30)
        log.close()
    assert code in (0, -signal.SIGTERM), (tmp_path / "web.log").read_text()
    for listener in (port, metrics_port):
        try:
            httpx.get(f"http://127.0.0.1:{listener}/healthz", timeout=2)
            raise AssertionError(f"port {listener} still answers")
        except httpx.TransportError:
            pass
