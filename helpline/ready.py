"""What `helpline run` tells a newcomer once every process answers: where mail, webhooks and `/healthz` listen,
where replies go, which channels are on and what turns the others on, and the commands to try next.

`channel_states` and `ready_block` are pure (settings in, text out); the probes that decide when to print it are
`smtp_answers`, `http_ok` and `workers_registered`, each short-timed so the supervisor's loop is never held long.
"""

from __future__ import annotations

import logging
import shlex
import smtplib
import socket
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from core.settings import Settings, WebSettings, env_name
from record.attachment_store import attachment_location

log = logging.getLogger("helpline.run")

PROBE_TIMEOUT = 1.0
ALL_INTERFACES = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}


@dataclass(frozen=True)
class ChannelState:
    name: str
    on: bool
    detail: str  # on: how it arrives; off: the settings that would turn it on


def channel_states(settings: Settings) -> list[ChannelState]:
    inbound, imap, twilio, telegram = settings.email.inbound, settings.email.imap, settings.twilio, settings.telegram
    states = [ChannelState("email", True, f"SMTP on {address(inbound.host, inbound.port)}")]
    if imap.host:
        states.append(ChannelState("IMAP", True, f"polls {imap.username or '?'}@{imap.host} {imap.folder}"))
    else:
        states.append(ChannelState("IMAP", False, f"set email.imap.host and {env_name('email.imap.password')}"))
    missing = [name for name, value in (("twilio.account_sid", twilio.account_sid),) if not value]
    missing += [env_name("twilio.auth_token")] if twilio.auth_token is None else []
    twilio_detail = "webhooks under /twilio/" + ("" if twilio.validate_signatures else " (signatures NOT checked)")
    twilio_detail = twilio_detail if not missing else "set " + _and(missing)
    states.append(ChannelState("SMS/WhatsApp/voice", not missing, twilio_detail))
    if telegram.mode == "polling":
        needed = [env_name("telegram.token")] if telegram.token is None else []
        telegram_detail = "long polling (the telegram process)"
    else:
        needed = [env_name(key) for key in ("telegram.token", "telegram.webhook_secret") if _unset(settings, key)]
        telegram_detail = "webhook /telegram/webhook (then `helpline telegram set-webhook`)"
    states.append(ChannelState("Telegram", not needed, telegram_detail if not needed else "set " + _and(needed)))
    return states


def _unset(settings: Settings, key: str) -> bool:
    section, name = key.split(".")
    return getattr(getattr(settings, section), name) is None


def _and(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def address(host: str, port: int) -> str:
    host = ALL_INTERFACES.get(host, host)
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def ready_block(
    settings: Settings,
    *,
    store: str,
    record: str,
    settings_file: Path,
    settings_named: bool,
    relay_answers: bool,
    workers: int,
) -> str:
    """The block itself. `settings_named`: the file came from --settings or HELPLINE_SETTINGS, so the commands to
    try name it (another terminal has neither)."""
    inbound, outbound, web = settings.email.inbound, settings.email.outbound, settings.web
    web_base = f"http://{address(web.host, web.port)}"
    states = channel_states(settings)
    helpline = runnable("helpline") + (f" --settings {shlex.quote(str(settings_file))}" if settings_named else "")
    support = inbound.addresses[0] if inbound.addresses else "support@example.com"
    keyword, queue = _sample(settings)
    public = f"public URL {web.public_url}" if web.public_url else "no web.public_url: providers cannot reach it yet"
    relay = f"SMTP relay {address(outbound.host, outbound.port)} as {outbound.sender}"
    off = [f"{s.name}: {s.detail}" for s in states if not s.on]
    accepted = ", ".join(inbound.addresses) or "any address"
    lines = [
        f"Helpline is ready (settings: {_shown(settings_file)})",
        f"  mail in      smtp://{address(inbound.host, inbound.port)} for {accepted}",
        f"  webhooks     {web_base}/ ({public})",
        f"  health       {web_base}/healthz ({_metrics(web, web_base)})",
        f"  agents' API  {web_base}/api/ (OpenAPI: {web_base}/api/docs)",
        f"  replies out  {relay}" + ("" if relay_answers else " (NOT answering: replies wait and retry)"),
        *([] if relay_answers else [f"  WARNING      {relay_warning(settings)}"]),
        f"  store        {store}; {workers} worker{'s' if workers != 1 else ''}",
        f"  record       {record}",
        f"  attachments  {attachment_location(settings)}",
        "  channels on  " + "; ".join(f"{s.name} ({s.detail})" for s in states if s.on),
        *(f"  {'channels off' if i == 0 else '':12} {line}" for i, line in enumerate(off)),
        "  try, in another terminal in this folder:",
        f"    swaks --server {address(inbound.host, inbound.port)} --from you@example.com --to {support}"
        f" --header 'Subject: Help: {keyword}'",
        f"    {helpline} queues",
        f"    {helpline} agent next {queue}",
    ]
    if not relay_answers:
        lines.append(f"  to see replies: {_sink_hint(outbound.host, outbound.port)}")
    lines.append("  Ctrl-C stops everything; --verbose (or [logging] libraries) shows every job and request.")
    return "\n".join(lines)


def relay_warning(settings: Settings) -> str:
    outbound, replies = settings.email.outbound, settings.replies
    return (
        f"the outbound relay {address(outbound.host, outbound.port)} cannot be reached: replies wait and retry, and "
        f"fail for good after {replies.max_send_attempts} attempts"
    )


def relay_problem(host: str, port: int, timeout: float = PROBE_TIMEOUT) -> str | None:
    """Why the outbound relay cannot be reached (a plain TCP connect, short-timed), or None when it can."""
    try:
        with socket.create_connection((ALL_INTERFACES.get(host, host), port), timeout=timeout):
            return None
    except OSError as exc:
        return str(exc) or type(exc).__name__


def warn_if_relay_unreachable(settings: Settings) -> bool:
    """`helpline run`'s start-up check: a warning line when the relay is not there (never an error: it may come up
    later, and replies wait for it). True when it was reachable."""
    outbound = settings.email.outbound
    problem = relay_problem(outbound.host, outbound.port)
    if problem is not None:
        log.warning("%s (%s)", relay_warning(settings), problem)
    return problem is None


def _sink_hint(host: str, port: int) -> str:
    """A local SMTP server that prints what it receives (aiosmtpd, already installed) where replies are sent."""
    python = runnable("python3")
    if host in ("127.0.0.1", "localhost", "::1") and port >= 1024:
        return f"{python} -m aiosmtpd -n -l {address(host, port)}"
    return f"{python} -m aiosmtpd -n -l 127.0.0.1:1025, then restart with {env_name('email.outbound.port')}=1025"


def runnable(name: str) -> str:
    """A program beside our interpreter (.venv/bin/helpline when `make run` started us) as this shell can run it:
    relative to this folder when it is inside it; the bare name when it is not there."""
    script = Path(sys.executable).parent / name
    return _shown(script) if script.exists() else name


def _shown(path: Path) -> str:
    try:
        return str(path.absolute().relative_to(Path.cwd()))
    except ValueError:
        return shlex.quote(str(path))


def _sample(settings: Settings) -> tuple[str, str]:
    """A keyword of the first category that has one, and that category's queue: the sample mail lands there."""
    router = settings.router
    for name, category in router.categories.items():
        keywords = category.keywords.en or category.keywords.zh
        if keywords:
            return keywords[0], category.queue or name
    return "question", router.default_category


def smtp_answers(host: str, port: int) -> bool:
    """A full greeting and QUIT, so the server sees a polite client rather than a dropped connection."""
    try:
        with smtplib.SMTP(ALL_INTERFACES.get(host, host), port, timeout=PROBE_TIMEOUT) as client:
            client.noop()
        return True
    except (OSError, smtplib.SMTPException):
        return False


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=PROBE_TIMEOUT) as response:
            return bool(response.status == 200)
    except (OSError, urllib.error.URLError):
        return False


def workers_registered(redis_url: str) -> int:
    from rq import Worker

    from core.redis_conn import connect_url

    try:
        return int(Worker.count(connection=connect_url(redis_url, connect_timeout=PROBE_TIMEOUT)))
    except Exception:  # the store not answering yet is the same as no worker yet
        return 0


def _metrics(web: WebSettings, web_base: str) -> str:
    if web.metrics_bind:
        return f"metrics: http://{web.metrics_bind}/metrics"
    if web.metrics_token:
        return f"metrics: {web_base}/metrics with the bearer token"
    if web.metrics_open:
        return f"metrics: {web_base}/metrics"
    return "metrics: closed; set [web] metrics_token or metrics_bind"
