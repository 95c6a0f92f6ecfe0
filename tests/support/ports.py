from __future__ import annotations

import socket
import time


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_greeting(port: int, prefix: bytes, timeout: float = 10.0) -> None:
    """Wait until the server on `port` greets with `prefix` (a connect alone can reach a dying old listener)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), 0.5) as s:
                if prefix == b"" or s.recv(100).startswith(prefix):
                    return
        except OSError:
            time.sleep(0.01)
    raise RuntimeError(f"nothing greeted with {prefix!r} on port {port}")
