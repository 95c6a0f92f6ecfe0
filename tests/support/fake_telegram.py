"""A local stand-in for the Telegram Bot API (recipe in shared/TESTING.md section 4), served on a free port.

It speaks what python-telegram-bot sends: form-urlencoded POSTs to `/bot<token>/<method>` (ints as strings, dicts and
lists JSON-encoded), answered with `{"ok": true, "result": ...}` or a Bot API error. It records every call, queues
updates for `getUpdates` (dropping those below the offset, as Telegram does once they are confirmed), serves files
for `getFile`, and can be told to fail the next calls of a method (403 blocked, 429 retry after, ...).
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

from pydantic import SecretStr

from core.settings import Settings

TOKEN = "123456:TEST-token"
BOT = {"id": 123456, "is_bot": True, "first_name": "SupportBot", "username": "support_test_bot"}


# Each method the fake answers, by its lower-case name: Telegram matches method names case-insensitively.
METHODS = {
    name.lower(): name
    for name in ("getMe", "sendMessage", "editMessageText", "getUpdates", "setWebhook", "deleteWebhook",
                 "getWebhookInfo", "answerCallbackQuery", "getFile")
}  # fmt: skip


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    received_at: float = field(default_factory=time.monotonic)  # for bench/bench_latency.py: when the call arrived


@dataclass
class _State:
    calls: list[Call] = field(default_factory=list)
    updates: list[dict[str, Any]] = field(default_factory=list)
    failures: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)
    webhook: dict[str, Any] = field(default_factory=dict)
    next_message_id: int = 1000
    changed: threading.Condition = field(default_factory=threading.Condition)


def _decode(value: str) -> Any:
    """PTB sends nested objects JSON-encoded and scalars as plain strings."""
    if value[:1] in "{[":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


class FakeTelegram:
    def __init__(self, token: str = TOKEN) -> None:
        self.token = token
        self.state = _State()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> FakeTelegram:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # ---- test controls -----------------------------------------------------------------------------------------

    def push_update(self, update: dict[str, Any]) -> None:
        with self.state.changed:
            self.state.updates.append(update)
            self.state.changed.notify_all()

    def fail_next(self, method: str, error_code: int, description: str, **parameters: Any) -> None:
        error: dict[str, Any] = {"ok": False, "error_code": error_code, "description": description}
        if parameters:
            error["parameters"] = parameters
        self.state.failures.setdefault(method, []).append(error)

    def add_file(self, file_id: str, content: bytes) -> None:
        self.state.files[file_id] = content

    def calls(self, method: str | None = None) -> list[Call]:
        with self.state.changed:
            return [c for c in self.state.calls if method is None or c.method == method]

    def wait_for(self, method: str, count: int = 1, timeout: float = 10.0) -> list[Call]:
        with self.state.changed:
            self.state.changed.wait_for(lambda: len(self.calls(method)) >= count, timeout)
        return self.calls(method)

    def pending_updates(self) -> list[dict[str, Any]]:
        with self.state.changed:
            return list(self.state.updates)

    # ---- the API -----------------------------------------------------------------------------------------------

    def _answer(self, method: str, p: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        failures = self.state.failures.get(method)
        if failures:
            error = failures.pop(0)
            return int(error["error_code"]), error
        result: Any
        if method == "getMe":
            result = BOT
        elif method in ("sendMessage", "editMessageText"):
            result = self._message(p)
        elif method == "getUpdates":
            result = self._updates(int(p.get("offset", 0) or 0), float(p.get("timeout", 0) or 0))
        elif method in ("setWebhook", "deleteWebhook"):
            self.state.webhook = dict(p) if method == "setWebhook" else {}
            result = True
        elif method == "getWebhookInfo":
            result = {
                "url": self.state.webhook.get("url", ""),
                "has_custom_certificate": False,
                "pending_update_count": 0,
            }
        elif method == "answerCallbackQuery":
            result = True
        elif method == "getFile":
            content = self.state.files.get(str(p["file_id"]))
            if content is None:
                return 400, {"ok": False, "error_code": 400, "description": "Bad Request: invalid file_id"}
            result = {"file_id": p["file_id"], "file_unique_id": "u" + str(p["file_id"]), "file_size": len(content),
                      "file_path": f"files/{p['file_id']}"}  # fmt: skip
        else:
            return 404, {"ok": False, "error_code": 404, "description": "Not Found: method not found"}
        return 200, {"ok": True, "result": result}

    def _message(self, p: dict[str, Any]) -> dict[str, Any]:
        with self.state.changed:
            self.state.next_message_id += 1
            message_id = self.state.next_message_id
        return {"message_id": message_id, "date": int(time.time()), "text": p.get("text", ""),
                "chat": {"id": int(p["chat_id"]), "type": "private", "first_name": "Alice"}, "from": BOT}  # fmt: skip

    def _updates(self, offset: int, timeout: float) -> list[dict[str, Any]]:
        deadline = time.monotonic() + min(timeout, 1.0)
        with self.state.changed:
            # Asking with an offset confirms every update below it: Telegram forgets them for good.
            self.state.updates = [u for u in self.state.updates if u["update_id"] >= offset]
            while not self.state.updates and time.monotonic() < deadline:
                self.state.changed.wait(deadline - time.monotonic())
            return list(self.state.updates)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                path = unquote(urlparse(self.path).path)  # PTB percent-encodes the token's colon
                prefix = f"/file/bot{fake.token}/files/"
                content = fake.state.files.get(path[len(prefix) :]) if path.startswith(prefix) else None
                if content is None:
                    self._send(404, b"not found", "text/plain")
                    return
                self._send(200, content, "application/octet-stream")

            def do_POST(self) -> None:
                path = urlparse(self.path).path
                prefix = f"/bot{fake.token}/"
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                if not path.startswith(prefix):
                    self._json(401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
                    return
                method = METHODS.get(path[len(prefix) :].lower(), path[len(prefix) :])  # case-insensitive, as Telegram
                if self.headers.get("Content-Type", "").startswith("application/json"):
                    params = json.loads(body or "{}")
                else:
                    params = {k: _decode(v[0]) for k, v in parse_qs(body).items()}
                with fake.state.changed:
                    fake.state.calls.append(Call(method, params))
                    fake.state.changed.notify_all()
                status, answer = fake._answer(method, params)
                self._json(status, answer)

            def _json(self, status: int, data: dict[str, Any]) -> None:
                self._send(status, json.dumps(data).encode(), "application/json")

            def _send(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                # The client may have given up (a long poll cancelled on shutdown): nothing left to answer.
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(body)

        return Handler


def update(update_id: int, text: str = "hi", *, user_id: int = 1001, chat_id: int | None = None,
           message_id: int | None = None, first_name: str = "Alice", last_name: str | None = None,
           language_code: str | None = "en", chat_type: str = "private", **message: Any) -> dict[str, Any]:  # fmt: skip
    """A `message` update as Telegram sends it; extra keyword arguments go into the message (photo, contact, ...)."""
    user: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name}
    if last_name:
        user["last_name"] = last_name
    if language_code:
        user["language_code"] = language_code
    chat = {"id": chat_id if chat_id is not None else user_id, "type": chat_type, "first_name": first_name}
    body: dict[str, Any] = {"message_id": message_id or update_id, "date": int(time.time()), "chat": chat,
                            "from": user, **message}  # fmt: skip
    if text:
        body["text"] = text
    return {"update_id": update_id, "message": body}


SECRET = "s3cr3t-Token_1"


def settings_for(base: Settings, fake: FakeTelegram, **telegram: Any) -> Settings:
    """`base` with the [telegram] section pointed at `fake`, a token and a webhook secret (as the environment would)."""
    section = base.telegram.model_copy(
        update={
            "token": SecretStr(fake.token),
            "webhook_secret": SecretStr(SECRET),
            "api_base_url": fake.url,
            "poll_timeout_seconds": 1,
            **telegram,
        }
    )
    return base.model_copy(update={"telegram": section})


def callback(update_id: int, data: str, *, user_id: int = 1001, language_code: str = "en") -> dict[str, Any]:
    """A button press on an inline keyboard."""
    user = {"id": user_id, "is_bot": False, "first_name": "Alice", "language_code": language_code}
    return {"update_id": update_id, "callback_query": {"id": f"cq{update_id}", "from": user, "chat_instance": "ci1",
                                                       "data": data}}  # fmt: skip
