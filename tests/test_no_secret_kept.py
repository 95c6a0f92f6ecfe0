"""No secret a customer sends is kept anywhere: a mixed run over the real servers, then every Redis key and every log
line is searched for every secret, in every form it could hide in (URL-encoded, base64 in a MIME part or a stored
attachment, compressed in an RQ job, with or without the spaces between a card's digit groups)."""

from __future__ import annotations

import ast
import base64
import binascii
import contextlib
import json
import logging
import re
import smtplib
import zlib
from collections.abc import Iterator
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import compat32
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

import httpx
import pytest
from pydantic import SecretStr

from core import log_masking
from core.envelope import Channel
from core.settings import LoggingSettings, Settings
from core.store import Store, as_bytes
from helpline.logs import OURS, configure_logging
from ingest.email.smtp_server import controller
from tests.support.fake_telegram import SECRET as TELEGRAM_SECRET
from tests.support.fake_telegram import FakeTelegram, settings_for, update
from tests.support.fake_twilio import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio, post_webhook, sms_form
from tests.support.ports import free_port
from tests.support.web_server import WebServer
from tests.support.work import drain
from web.app import create_app
from workers.replay import replay_dead_letters

ROOT = Path(__file__).resolve().parent.parent

# One secret (or two) per path, so that a leak names the path it came through.
TEXT_PASSWORD = "Hunter2Zebra"
HTML_PASSWORD, HTML_CARD = "Tr0ubad0r77", "4000 0566 5566 5556"
ATTACHMENT_CODE, ATTACHMENT_CARD = "739201", "5555 5555 5555 4444"
FORWARDED_PASSWORD = "FwdSecret88"
SMTP_DEAD_PASSWORD, SMTP_DEAD_CARD = "Qx7Vault9", "3782 822463 10005"
TWILIO_DEAD_PASSWORD, TWILIO_DEAD_CODE = "Walrus42Jam", "602913"
TELEGRAM_DEAD_CARD = "6011 1111 1111 1117"
TELEGRAM_QUOTED_PASSWORD = "QuotedPw55"
EDIT_CODE = "482913"
TRANSCRIPT_CODE, TRANSCRIPT_CARD = "483920", "4012 8888 8888 1881"
SMS_CARD = "4111 1111 1111 1111"
SECRETS = [
    TEXT_PASSWORD, HTML_PASSWORD, HTML_CARD, ATTACHMENT_CODE, ATTACHMENT_CARD, FORWARDED_PASSWORD, SMTP_DEAD_PASSWORD,
    SMTP_DEAD_CARD, TWILIO_DEAD_PASSWORD, TWILIO_DEAD_CODE, TELEGRAM_DEAD_CARD, TELEGRAM_QUOTED_PASSWORD, EDIT_CODE,
    TRANSCRIPT_CODE, TRANSCRIPT_CARD, SMS_CARD,
]  # fmt: skip
CALL_SID = "CA" + "7" * 32
RECORDING_SID = "RE" + "7" * 32


# ---- where a secret could hide ---------------------------------------------------------------------------------------


def views(value: bytes) -> Iterator[bytes]:
    """`value` and every decoding of it a secret could hide behind."""
    yield value
    yield unquote_plus(value.decode("utf-8", "replace")).encode()
    try:
        inflated = zlib.decompress(value)  # RQ compresses a job's data (function and arguments) and its errors
    except zlib.error:
        pass
    else:
        yield from views(inflated)
    if b"Content-Type" in value or b"Subject:" in value:
        for part in message_from_bytes(value, policy=compat32).walk():
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                yield payload
    try:
        data = json.loads(value)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return
    for text in _strings(data):
        yield text.encode()
        if len(text) >= 8 and re.fullmatch(r"[A-Za-z0-9+/=\s]+", text):
            with contextlib.suppress(binascii.Error, ValueError):  # stored attachments, a raw payload
                yield from views(base64.b64decode(text, validate=False))


def _strings(data: Any) -> Iterator[str]:
    if isinstance(data, str):
        yield data
    elif isinstance(data, dict):
        for item in data.values():
            yield from _strings(item)
    elif isinstance(data, list):
        for item in data:
            yield from _strings(item)


def leaks(blob: bytes, where: str) -> list[str]:
    found = []
    for view in views(blob):
        squeezed = re.sub(rb"[\s\-]", b"", view)  # "4111 1111 1111 1111", "4111-1111-…", folded across lines
        for secret in SECRETS:
            if secret.encode() in view or re.sub(r"[\s\-]", "", secret).encode() in squeezed:
                found.append(f"{secret!r} in {where}")
    return sorted(set(found))


def redis_leaks(store: Store) -> list[str]:
    found: list[str] = []
    redis = store.redis
    for key in redis.scan_iter(count=1000):
        kind = redis.type(key)
        values: list[Any] = []
        if kind == b"string":
            values = [redis.get(key)]
        elif kind == b"hash":
            values = [item for pair in redis.hgetall(key).items() for item in pair]
        elif kind == b"list":
            values = redis.lrange(key, 0, -1)
        elif kind == b"set":
            values = list(redis.smembers(key))
        elif kind == b"zset":
            values = redis.zrange(key, 0, -1)
        elif kind == b"stream":
            values = [str(entry).encode() for entry in redis.xrange(key) or []]
        found += leaks(as_bytes(key), f"the key name {key!r}")
        for value in values:
            if value is not None:
                found += leaks(as_bytes(value), f"{as_bytes(kind).decode()} {as_bytes(key).decode(errors='replace')}")
    return found


def log_leaks(records: list[logging.LogRecord]) -> list[str]:
    found: list[str] = []
    for record in records:
        line = logging.Formatter().format(record)  # with its traceback, as a handler writes it (`exc_text` first)
        found += leaks(line.encode(), f"log line of {record.name}: {line[:200]!r}")
    return found


# ---- the inputs ------------------------------------------------------------------------------------------------------


def html_only_mail() -> bytes:
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = "Bo <bo@example.com>", "support@wallet.example", "Cannot log in"
    mail.set_content("Please see the details in the formatted version.")
    mail.add_alternative(
        f"<p>My login: <table><tr><td>Password:</td><td><b>{HTML_PASSWORD}</b></td></tr></table>card {HTML_CARD}</p>",
        subtype="html",
    )
    return bytes(mail)


def attachment_mail() -> bytes:
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = "Cy <cy@example.com>", "support@wallet.example", "Top-up failed"
    mail.set_content("My top-up failed, details attached.")
    notes = f"verification code {ATTACHMENT_CODE}\ncard: {ATTACHMENT_CARD}\n"
    mail.add_attachment(notes.encode(), maintype="text", subtype="plain", filename="notes.txt")
    forwarded = EmailMessage()
    forwarded["From"], forwarded["Subject"] = "me@example.com", "my account"
    forwarded.set_content(f"for the record, password: {FORWARDED_PASSWORD}")
    mail.add_attachment(forwarded)
    return bytes(mail)


def text_mail() -> bytes:
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = "Di <di@example.com>", "support@wallet.example", "Locked out"
    mail.set_content(f"I am locked out. My password is {TEXT_PASSWORD} if that helps.")
    return bytes(mail)


def unreadable_mail() -> bytes:
    """No header at all: the parser refuses it ("not an email") and the SMTP server keeps it as a dead letter."""
    return f"hello support\nmy password: {SMTP_DEAD_PASSWORD}\ncard {SMTP_DEAD_CARD}\n".encode()


# ---- the run ---------------------------------------------------------------------------------------------------------


@pytest.fixture
def run_settings(settings: Settings) -> Iterator[tuple[Settings, FakeTelegram, FakeTwilio]]:
    telegram, twilio = FakeTelegram().start(), FakeTwilio().start()
    both = settings_for(settings, telegram)
    both = both.model_copy(
        update={
            "twilio": both.twilio.model_copy(
                update={"account_sid": ACCOUNT_SID, "auth_token": SecretStr(AUTH_TOKEN), "api_base_url": twilio.url}
            )
        }
    )
    yield both, telegram, twilio
    telegram.stop()
    twilio.stop()


@pytest.fixture
def production_log_levels() -> Iterator[None]:
    """The libraries quietened as helpline/logs.py quietens them (aiosmtpd logs every line of DATA at DEBUG)."""
    previous = {name: logging.getLogger(name).level for name in ("mail.log",)}
    for name in previous:
        logging.getLogger(name).setLevel(logging.WARNING)  # LoggingSettings().libraries
    yield
    for name, level in previous.items():
        logging.getLogger(name).setLevel(level)


def post_telegram(web: WebServer, payload: dict[str, Any]) -> httpx.Response:
    headers = {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET}
    return httpx.post(f"{web.url}/telegram/webhook", content=json.dumps(payload).encode(), headers=headers, timeout=10)


def test_no_secret_is_kept_in_redis_or_the_logs_after_a_mixed_run(
    run_settings: tuple[Settings, FakeTelegram, FakeTwilio],
    store: Store,
    caplog: pytest.LogCaptureFixture,
    production_log_levels: None,
) -> None:
    settings, _, _ = run_settings
    caplog.set_level(logging.INFO)  # what `helpline serve` and `helpline run` log (helpline/logs.py)
    port = free_port()
    smtp = controller(settings, store, port=port)
    smtp.start()
    web = WebServer(create_app(settings, store)).start()
    try:
        with smtplib.SMTP("127.0.0.1", port) as client:
            for raw in (text_mail(), html_only_mail(), attachment_mail(), unreadable_mail()):
                client.sendmail("customer@example.com", ["support@wallet.example"], raw)

        # Telegram: a secret only in the message replied to (not in the envelope), a message then edited to
        # carry a code, and a payload that is no update at all (dead-lettered).
        quoted = {"message_id": 1, "date": 1, "chat": {"id": 1001, "type": "private"},
                  "text": f"password: {TELEGRAM_QUOTED_PASSWORD}"}  # fmt: skip
        assert post_telegram(web, update(501, "see my message above", reply_to_message=quoted)).status_code == 200
        assert post_telegram(web, update(502, "I cannot pay", message_id=77)).status_code == 200
        edit = update(503, f"I cannot pay, my OTP is {EDIT_CODE}", message_id=77)
        edit["edited_message"] = edit.pop("message")
        assert post_telegram(web, edit).json()["status"] == "edited"
        dead = {"message": {"text": f"my card {TELEGRAM_DEAD_CARD}"}}  # no update_id
        assert post_telegram(web, dead).json().get("dead_lettered") is True

        # Twilio: an SMS with a card, one from a sender that is no phone number (dead-lettered), a voicemail
        # whose transcript carries a code and a card.
        assert post_webhook(web.url, "/twilio/sms", sms_form(f"card {SMS_CARD} was charged twice")).status_code == 200
        unusable = sms_form(f"my password is {TWILIO_DEAD_PASSWORD} and the OTP {TWILIO_DEAD_CODE}", from_="nobody")
        assert post_webhook(web.url, "/twilio/sms", unusable).status_code == 200
        call = {"CallSid": CALL_SID, "AccountSid": ACCOUNT_SID, "From": "+8613800138000", "To": "+15017122661"}
        url = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/{RECORDING_SID}"
        recording = {"RecordingSid": RECORDING_SID, "RecordingDuration": "14", "RecordingUrl": url}
        said = f"the verification code was {TRANSCRIPT_CODE} and my card is {TRANSCRIPT_CARD}"
        transcript = {"TranscriptionSid": "TR1", "TranscriptionText": said, "TranscriptionStatus": "completed"}
        assert post_webhook(web.url, "/twilio/voice/recording?lang=en", call | recording).status_code == 200
        path = "/twilio/voice/transcription?lang=en"
        assert post_webhook(web.url, path, call | recording | transcript).status_code == 200

        drain(settings)  # the pipeline and every acknowledgement
        assert replay_dead_letters(settings, [], list_only=False, echo=lambda line: None) is False  # still unusable
    finally:
        web.stop()
        smtp.stop()

    letters = store.dead_letters()
    assert sorted(letter.channel for letter in letters) == [Channel.EMAIL, Channel.SMS, Channel.TELEGRAM]
    assert all(letter.meta.get("masked") for letter in letters), "each dead letter says what was masked in it"
    assert len(store.message_ids()) == 7  # three mails, two Telegram messages (one edited), an SMS, a voicemail
    assert redis_leaks(store) == []
    assert log_leaks(caplog.records) == []


# ---- the gate is the only writer -------------------------------------------------------------------------------------

GATED = {"msg", "raw", "dead", "deadraw"}
GATE = {"_put_message", "_put_dead_letter", "accept"}  # accept writes the raw copy it sealed itself


def test_only_the_stores_gate_writes_customer_content() -> None:
    """Every key of customer content is built in core/store.py, and written there only by the gate's functions."""
    wrong = []
    for package in ("core", "ingest", "router", "channels", "workers", "web", "helpline", "record", "desk"):
        for path in sorted((ROOT / package).rglob("*.py")):
            name = path.relative_to(ROOT).as_posix()
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for function in (n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)):
                keys = [node for node in ast.walk(function) if isinstance(node, ast.Call) and _is_gated_key(node)]
                if keys and name != "core/store.py":
                    wrong += [f"{name}:{key.lineno} {function.name} builds a customer-content key" for key in keys]
                elif keys and function.name not in GATE and _writes_gated_key(function):
                    wrong.append(f"{name}:{function.lineno} {function.name} writes a customer-content key")
    assert wrong == []


def _is_gated_key(node: ast.AST) -> bool:
    """`<anything>.key("msg", ...)` and the like."""
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "key"):
        return False
    return bool(node.args) and isinstance(node.args[0], ast.Constant) and node.args[0].value in GATED


def _writes_gated_key(function: ast.FunctionDef) -> bool:
    """Whether `function` passes a gated key (directly, or through a variable) as the key of a Redis write."""
    names = {
        target.id
        for node in ast.walk(function)
        if isinstance(node, ast.Assign) and _is_gated_key(node.value)
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    writes = {"set", "hset", "hsetnx", "rpush", "lpush", "sadd", "zadd", "setex", "setnx", "mset", "append", "rename"}
    for node in ast.walk(function):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in writes:
            first = node.args[0] if node.args else None
            if first is not None and (_is_gated_key(first) or (isinstance(first, ast.Name) and first.id in names)):
                return True
    return False


# ---- logs ------------------------------------------------------------------------------------------------------------


@pytest.fixture
def masked_logs() -> Iterator[None]:
    """The log record factory `helpline.logs.configure_logging` installs, for one test."""
    previous = logging.getLogRecordFactory()
    log_masking.install()
    yield
    logging.setLogRecordFactory(previous)


def test_the_processes_mask_secrets_in_every_log_line() -> None:
    touched = ("", "rq.worker", *OURS)
    previous, levels = logging.getLogRecordFactory(), {name: logging.getLogger(name).level for name in touched}
    try:
        configure_logging(LoggingSettings())
        assert getattr(logging.getLogRecordFactory(), "_helpline_masks_secrets", False)
    finally:
        logging.setLogRecordFactory(previous)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


def test_a_secret_in_a_log_line_or_a_traceback_is_masked(masked_logs: None, caplog: pytest.LogCaptureFixture) -> None:
    log = logging.getLogger("helpline.test")
    with caplog.at_level(logging.INFO):
        log.error("dead-lettered: %s", f"my password: {TEXT_PASSWORD}")
        try:
            raise ValueError(f"card {SMS_CARD}")
        except ValueError:
            log.exception("parser crashed on %r", "100% sure")  # a % in an argument survives
    assert [record.getMessage() for record in caplog.records] == [
        "dead-lettered: my password: ********",
        "parser crashed on '100% sure'",
    ]
    assert "**** **** **** 1111" in (caplog.records[1].exc_text or "")
    assert log_leaks(caplog.records) == []
    assert leaks(caplog.text.encode(), "the formatted log") == []


def test_even_a_library_at_debug_logs_no_secret(
    masked_logs: None, settings: Settings, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    """aiosmtpd logs every line of DATA at DEBUG: the factory masks those lines too (a plain-text body)."""
    caplog.set_level(logging.DEBUG)
    port = free_port()
    smtp = controller(settings, store, port=port)
    smtp.start()
    try:
        with smtplib.SMTP("127.0.0.1", port) as client:
            client.sendmail("customer@example.com", ["support@wallet.example"], text_mail())
    finally:
        smtp.stop()
    assert any(record.name == "mail.log" and "password is ********" in record.getMessage() for record in caplog.records)
    assert log_leaks(caplog.records) == []
