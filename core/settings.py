"""Typed settings: `settings.toml`, overridden key by key by `HELPLINE_<SECTION>__<KEY>` environment variables.

Secrets (fields typed `SecretStr`) come only from the environment; a file that names one is invalid, so a password
never lands in version control. `load_settings` raises `SettingsError` with every problem, each pointing at its key
and, where it can, its line.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterator
from contextvars import ContextVar
from importlib.resources import files
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, NonNegativeInt, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from core.agent_settings import AgentSeed, AuthSettings
from core.envelope import Channel
from core.errors import SettingsError, SettingsProblem
from core.routing_settings import RouterSettings, router_table_problems
from core.settings_base import Section
from core.timing_settings import (
    BusinessHoursSettings,
    DeskSettings,
    NoticesSettings,
    SchedulerSettings,
    SlaSettings,
)
from core.toml_lines import locate_key
from core.twilio_settings import TwilioSettings

ENV_PREFIX = "HELPLINE_"
LOCAL_SETTINGS_FILE = Path("settings.toml")
# The settings the package ships (a symlink to the checkout's top-level settings.toml; the wheel carries a copy).
PACKAGED_SETTINGS = "default_settings.toml"


class RedisSettings(Section):
    url: str | None = Field(None, description="redis:// or unix:// URL; unset starts an embedded redis-server")
    embedded_dir: Path = Field(Path("var/redis"), description="where the embedded Redis keeps its AOF and socket")
    sentinels: list[str] = Field(
        default_factory=list,
        description="Redis Sentinels as host:port; with `service`, the master is found through them",
    )
    service: str | None = Field(None, description="the master's name in Sentinel (`sentinel monitor <name> …`)")
    replica_acks: int = Field(1, ge=0, description="with sentinels: replicas that confirm a message (WAIT) before 250")
    replica_wait_ms: int = Field(1000, gt=0, description="with sentinels: how long to wait for those replicas")
    password: SecretStr | None = Field(
        None, description="with sentinels: the master's and replicas' password; environment only"
    )

    @field_validator("sentinels")
    @classmethod
    def _host_port(cls, sentinels: list[str]) -> list[str]:
        for sentinel in sentinels:
            host, _, port = sentinel.rpartition(":")
            if not host or not port.isdigit():
                raise ValueError(f"{sentinel!r} is not host:port")
        return sentinels

    @model_validator(mode="after")
    def _sentinel_pair(self) -> RedisSettings:
        if bool(self.sentinels) != bool(self.service):
            raise ValueError("redis.sentinels and redis.service go together: set both, or neither")
        if self.sentinels and self.url:
            raise ValueError("set redis.url or redis.sentinels, not both")
        return self

    @property
    def embedded(self) -> bool:
        """No Redis configured: `helpline run` starts its own."""
        return not self.url and not self.sentinels


class DatabaseSettings(Section):
    url: str | None = Field(
        None, description="PostgreSQL URL of the record (postgresql://user@host/db); unset starts an embedded server"
    )
    embedded_dir: Path = Field(
        Path("var/postgres"), description="where the embedded PostgreSQL keeps its cluster (the postgres user's)"
    )
    statement_timeout_seconds: float = Field(30.0, gt=0, description="longest a record query may run")


class RetentionSettings(Section):
    raw_payload_days: float = Field(
        30, gt=0, description="a recorded message's raw payload stays in Redis this long, for audits and replays"
    )
    dedupe_key_days: float = Field(
        14, gt=0, description="a recorded message's dedupe key stays in Redis this long; the record catches later ones"
    )
    hot_message_days: float = Field(
        7,
        gt=0,
        description="a recorded message's hot copy stays in Redis this long; then it is read from the record",
    )
    attachments_days: float = Field(
        365, ge=0, description="an attachment's file is removed this long after the pipeline stored it (0: kept)"
    )
    resolved_case_years: float = Field(
        5, ge=0, description="a case resolved this long ago is anonymised like an erased contact's (0: kept)"
    )


class S3AttachmentsSettings(Section):
    """An S3-compatible bucket for attachments' content (`[attachments] backend = "s3"`; record/attachment_s3.py)."""

    bucket: str | None = Field(None, description="the bucket attachments are written to (required with backend s3)")
    key_prefix: str = Field(
        "attachments/", description="prepended to every object's name, so the bucket can hold other things too"
    )
    endpoint_url: str | None = Field(
        None, description="an S3-compatible server (MinIO, Ceph, R2...); unset: AWS S3 of `region`"
    )
    region: str = Field("us-east-1", description="the bucket's region (S3-compatible servers mostly accept any)")
    addressing_style: Literal["auto", "path", "virtual"] = Field(
        "auto", description="`path` for servers without bucket-name DNS (many MinIO and Ceph set-ups)"
    )
    access_key_id: str | None = Field(
        None, description="unset, with the secret: boto3's own chain (AWS_* variables, ~/.aws, an instance role)"
    )
    secret_access_key: SecretStr | None = Field(None, description="the access key's secret; environment only")
    timeout_seconds: float = Field(10.0, gt=0, description="connect and read timeout of one request to the bucket")

    @model_validator(mode="after")
    def _key_pair(self) -> S3AttachmentsSettings:
        if (self.access_key_id is None) != (self.secret_access_key is None):
            raise ValueError(
                "attachments.s3.access_key_id and HELPLINE_ATTACHMENTS__S3__SECRET_ACCESS_KEY go together: set both,"
                " or neither (boto3's own credential chain)"
            )
        return self


class AttachmentsSettings(Section):
    backend: Literal["folder", "s3"] = Field(
        "folder", description="where attachments' content is kept: `dir`, or the bucket of `[attachments.s3]`"
    )
    dir: Path = Field(
        Path("var/attachments"), description="with backend folder: the folder attachments' content is written to"
    )
    s3: S3AttachmentsSettings = S3AttachmentsSettings()

    @model_validator(mode="after")
    def _bucket_for_s3(self) -> AttachmentsSettings:
        if self.backend == "s3" and not self.s3.bucket:
            raise ValueError('attachments.backend = "s3" needs attachments.s3.bucket')
        return self


class InboundEmailSettings(Section):
    host: str = Field("127.0.0.1", description="address the SMTP server listens on")
    port: int = Field(2525, ge=0, le=65535, description="SMTP listening port")
    addresses: list[str] = Field(default_factory=list, description="support addresses mail is accepted for")
    max_message_bytes: int = Field(25 * 1024 * 1024, gt=0, description="larger mail gets 552 (EHLO advertises SIZE)")
    max_line_bytes: int = Field(
        1024 * 1024,
        ge=1001,
        description="longest line accepted in DATA (RFC 5321 asks only 1,000, real mail goes past it); longer gets 500",
    )


class OutboundEmailSettings(Section):
    host: str = Field("127.0.0.1", description="SMTP relay replies are sent through")
    port: int = Field(25, ge=0, le=65535, description="relay port")
    sender: str = Field("support@helpline.invalid", description="From address of replies (also the loop check)")
    sender_name: str = Field("Support", description="From display name; also the reply signature")
    username: str | None = Field(None, description="relay login, if it needs one")
    password: SecretStr | None = Field(None, description="relay password; environment only")
    starttls: bool = Field(False, description="upgrade the relay connection with STARTTLS")
    timeout_seconds: float = Field(30.0, gt=0, description="relay connect/command timeout")


class ImapSettings(Section):
    host: str | None = Field(None, description="unset disables the IMAP poller")
    port: int = Field(993, ge=0, le=65535, description="IMAP port")
    ssl: bool = Field(True, description="IMAP over TLS (port 993)")
    username: str = Field("", description="mailbox login")
    password: SecretStr | None = Field(None, description="mailbox password; environment only")
    folder: str = Field("INBOX", description="folder polled for new mail (tracked by UID)")
    move_to: str | None = Field(None, description="folder to move stored mail to; unset marks it \\Seen instead")
    poll_seconds: float = Field(60.0, gt=0, description="polling interval when the server has no IDLE")
    idle_seconds: float = Field(300.0, gt=0, description="how long one IDLE waits before it is renewed")


class EmailSettings(Section):
    inbound: InboundEmailSettings = InboundEmailSettings()
    outbound: OutboundEmailSettings = OutboundEmailSettings()
    imap: ImapSettings = ImapSettings()
    max_attachment_bytes: int = Field(5 * 1024 * 1024, ge=0, description="attachments above this are kept as metadata")
    max_text_chars: int = Field(
        100_000,
        ge=1000,
        description="body text beyond this is cut before quote stripping and routing (extras.text_truncated)",
    )


class WebSettings(Section):
    host: str = Field(
        "127.0.0.1", description="address the web app (webhooks, /healthz, /metrics, /console) listens on"
    )
    port: int = Field(8080, ge=0, le=65535, description="web app port")
    public_url: str | None = Field(None, description="the URL providers call, e.g. https://support.example.com")
    trust_forwarded_headers: bool = Field(False, description="rebuild the public URL from X-Forwarded-Proto/Host")
    survey_secret: SecretStr | None = Field(
        None, description="signs the survey page's links (replies.survey_link_channels); environment only"
    )
    metrics_bind: str | None = Field(
        None,
        description="host:port of a second listener serving only /metrics (e.g. 127.0.0.1:9108); unset: none",
    )
    metrics_token: SecretStr | None = Field(
        None, description="bearer token /metrics asks for on the main listener; environment only"
    )
    metrics_open: bool = Field(
        False,
        description="serve /metrics on the main listener without a token (only behind a proxy that hides it)",
    )

    @field_validator("metrics_bind")
    @classmethod
    def _host_port(cls, bind: str | None) -> str | None:
        if bind is not None:
            host, _, port = bind.rpartition(":")
            if not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError(f"{bind!r} is not host:port")
        return bind

    console_secret: SecretStr | None = Field(
        None, description="signs the console's session cookies; environment only (unset: console_secret_file)"
    )
    console_secret_file: Path = Field(
        Path("var/console_secret"), description="made (random, mode 0600) and kept when console_secret is unset"
    )


class RepliesSettings(Section):
    acknowledge: bool = Field(True, description="send an acknowledgement for each routed message")
    auto_reply_limit: int = Field(3, ge=0, description="auto-replies per contact, thread or repeated text per window")
    auto_reply_window_seconds: int = Field(3600, gt=0, description="the window of the auto-reply cap")
    max_send_attempts: int = Field(5, ge=1, description="attempts before a transient send failure becomes final")
    retry_backoff_seconds: list[NonNegativeInt] = Field(
        default_factory=lambda: [10, 60, 300, 900],
        min_length=1,
        description="delay before attempt 2, 3, ...; the last repeats",
    )
    default_language: str = Field("en", description="reply language when a message's cannot be told (en or zh)")
    survey_delay_seconds: int = Field(
        3600, ge=0, description="satisfaction survey this long after a case is resolved (once per case); 0 sends none"
    )
    survey_window_hours: float = Field(
        72, ge=0, description="a rating (5, 满意, 👍) this long after the survey is the case's score; 0 reads none"
    )
    survey_link_channels: list[Channel] = Field(
        default_factory=lambda: [Channel.VOICE],
        description="channels whose survey carries a link to a web page (needs web.public_url and the survey secret)",
    )


class CasesSettings(Section):
    """A case's life after an agent's answer (core/inbox.py)."""

    pending_days: float = Field(
        7, gt=0, description="a case waiting for the customer's reply this long is resolved by the scheduler"
    )
    reopen_days: float = Field(
        7, ge=0, description="a customer message this long after resolution reopens the case; later: a new linked case"
    )
    claim_timeout_minutes: float = Field(
        0, ge=0, description="a taken case not answered in this long goes back to the queue; 0: it stays taken"
    )
    auto_assign: bool = Field(
        False,
        description="give each case that starts waiting to an agent of its queue at once (round robin, within "
        "capacity, skipping agents away); false: agents take the next case themselves",
    )


class WorkersSettings(Section):
    # One more than the cores of the 2-core box the benchmarks run on: a worker spends about a third of its time
    # waiting for Redis's and PostgreSQL's fsyncs, which another worker fills (BENCHMARKS.md, ingest).
    count: int = Field(3, ge=1, description="worker processes `helpline run` starts")
    job_timeout_seconds: int = Field(
        20, ge=1, description="a job running longer is stopped and retried (a send counts it as a transient failure)"
    )
    abandoned_after_seconds: int = Field(
        30,
        ge=2,
        description="a job started (or taken from its queue) this long ago and not done died with its worker: requeued",
    )
    reconcile_seconds: float = Field(
        10.0, gt=0, description="how often the scheduler looks for work lost with a worker"
    )

    @model_validator(mode="after")
    def _abandoned_after_timeout(self) -> WorkersSettings:
        # A job still running legitimately must never look abandoned, or two workers would hold it at once.
        if self.abandoned_after_seconds <= self.job_timeout_seconds:
            raise ValueError(
                f"abandoned_after_seconds ({self.abandoned_after_seconds}) must be greater than "
                f"job_timeout_seconds ({self.job_timeout_seconds})"
            )
        return self


class TelegramSettings(Section):
    mode: Literal["webhook", "polling"] = Field("webhook", description="polling runs the `telegram` process")
    token: SecretStr | None = Field(None, description="bot token; environment only")
    webhook_secret: SecretStr | None = Field(None, description="X-Telegram-Bot-Api-Secret-Token; environment only")
    api_base_url: str = Field("https://api.telegram.org", description="Bot API server (tests point it at a fake)")
    bot_username: str | None = Field(None, description="recorded as the recipient of inbound messages")
    allow_groups: bool = Field(False, description="accept messages from group chats, not only private chats")
    max_file_bytes: int = Field(20 * 1024 * 1024, gt=0, description="largest file the lazy getFile fetch downloads")
    poll_timeout_seconds: int = Field(30, ge=0, le=50, description="long-poll wait of one getUpdates call")
    category_choice_ttl_seconds: int = Field(3600, gt=0, description="how long a /start button choice waits")


LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]


class LoggingSettings(Section):
    level: LogLevel = Field("INFO", description="Helpline's own log lines")
    libraries: LogLevel = Field(
        "WARNING", description="rq, uvicorn, twilio, httpx, aiosmtpd...; `--verbose` lowers it to `level`"
    )


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="forbid", case_sensitive=False
    )

    redis: RedisSettings = RedisSettings()
    database: DatabaseSettings = DatabaseSettings()
    retention: RetentionSettings = RetentionSettings()
    attachments: AttachmentsSettings = AttachmentsSettings()
    email: EmailSettings = EmailSettings()
    web: WebSettings = WebSettings()
    replies: RepliesSettings = RepliesSettings()
    cases: CasesSettings = CasesSettings()
    workers: WorkersSettings = WorkersSettings()
    telegram: TelegramSettings = TelegramSettings()
    twilio: TwilioSettings = TwilioSettings()
    router: RouterSettings = RouterSettings()
    hours: dict[str, BusinessHoursSettings] = Field(default_factory=dict, description="queues left out: 24/7")
    sla: SlaSettings = SlaSettings()
    scheduler: SchedulerSettings = SchedulerSettings()
    notices: NoticesSettings = NoticesSettings()
    logging: LoggingSettings = LoggingSettings()
    desk: DeskSettings = DeskSettings()
    agents: list[AgentSeed] = Field(
        default_factory=list,
        description="seeded into the store at start: name, email, languages, queues, capacity, role (see Agents)",
    )
    auth: AuthSettings = AuthSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _FileSource(settings_cls))


_file_data: ContextVar[dict[str, Any] | None] = ContextVar("helpline_settings_file_data", default=None)


class _FileSource(PydanticBaseSettingsSource):
    """The parsed TOML file, lowest priority; `load_settings` puts it in a context variable first."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return (_file_data.get() or {}).get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(_file_data.get() or {})


def settings_path(path: Path | str | None = None) -> Path:
    """The settings file to read, first found: `path` (`--settings`), `$HELPLINE_SETTINGS`, `./settings.toml`,
    then the packaged default, so that an installed Helpline runs from any folder. A named file must exist."""
    return settings_origin(path)[0]


def settings_origin(path: Path | str | None = None) -> tuple[Path, str]:
    """`settings_path`, and where it came from: "--settings", "HELPLINE_SETTINGS", "./settings.toml" or "packaged"."""
    if path is not None:
        return Path(path), "--settings"
    if "HELPLINE_SETTINGS" in os.environ:
        return Path(os.environ["HELPLINE_SETTINGS"]), "HELPLINE_SETTINGS"
    if LOCAL_SETTINGS_FILE.is_file():
        return LOCAL_SETTINGS_FILE, "./settings.toml"
    return packaged_settings_path(), "packaged"


def packaged_settings_path() -> Path:
    # An installed package is a folder on disk (not a zip), so the resource is a real path that hot reload can watch.
    return Path(str(files(__package__ or "core").joinpath(PACKAGED_SETTINGS)))


def load_settings(path: Path | str | None = None) -> Settings:
    """Read, validate and return the settings; raise `SettingsError` listing every problem."""
    file = settings_path(path)
    source = str(file)
    data, text = read_toml_file(file)
    problems = [
        SettingsProblem(
            key,
            f"secrets are read only from the environment; remove it and set {env_name(key)}",
            source,
            locate_key(text, key),
        )
        for key in _secret_keys(Settings)
        if _lookup(data, key) is not None
    ]
    token = _file_data.set(data)
    try:
        settings = Settings()
    except ValidationError as exc:
        problems += [_problem(err, text, source) for err in exc.errors()]
        if not any(p.key.partition(".")[0] == "router" for p in problems):
            # The router's own problems too (unknown queue, unreachable rule...), so `check` shows every one at once.
            problems += _located(router_table_problems(data.get("router", {})), text, source)
        raise SettingsError(problems) from None
    finally:
        _file_data.reset(token)
    problems += _located(settings.router.semantic_problems() + cross_section_problems(settings), text, source)
    if problems:
        raise SettingsError(problems)
    if "REDIS_URL" in os.environ and env_name("redis.url") not in os.environ and not settings.redis.sentinels:
        # The de-facto standard variable (Heroku, Render, Fly...) also works; HELPLINE_REDIS__URL wins over it.
        settings.redis.url = os.environ["REDIS_URL"]
    if "DATABASE_URL" in os.environ and env_name("database.url") not in os.environ:
        settings.database.url = os.environ["DATABASE_URL"]  # likewise; HELPLINE_DATABASE__URL wins over it
    return settings


def cross_section_problems(settings: Settings) -> list[tuple[str, str]]:
    """Names one section uses that another defines: a typo there would silently make a queue 24/7 or an SLA
    override never apply, so it is an error like any other."""
    router = settings.router
    queues = router.known_queues() | {settings.scheduler.escalation_queue}
    problems = [
        (f"hours.{queue}", f"unknown queue {queue!r} (queues: {', '.join(sorted(queues))})")
        for queue in settings.hours
        if queue not in queues
    ]
    if router.categories:
        problems += [
            (f"sla.categories.{category}", f"unknown category {category!r}")
            for category in settings.sla.categories
            if category not in router.categories
        ]
    problems += [
        (f"agents.{i}.queues", f"unknown queue {queue!r} (queues: {', '.join(sorted(queues))})")
        for i, agent in enumerate(settings.agents)
        for queue in agent.queues
        if queue not in queues
    ]
    emails = [agent.email for agent in settings.agents]
    problems += [
        (f"agents.{i}.email", f"{email!r} is seeded twice") for i, email in enumerate(emails) if email in emails[:i]
    ]
    if router.categories and settings.scheduler.escalation_queue not in router.known_queues():
        problems.append(
            ("scheduler.escalation_queue", f"{settings.scheduler.escalation_queue!r} is not in router.queues")
        )
    return problems


def read_toml_file(path: Path | str, *, missing_ok: bool = False) -> tuple[dict[str, Any], str]:
    """A TOML file parsed, and its text (to find the line of a problem's key); `SettingsError` when it cannot be
    read or parsed, with the TOML error's line. `missing_ok`: a missing file reads as empty."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        if not missing_ok:
            raise SettingsError([SettingsProblem("-", "file not found", source)]) from None
        text = ""
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError([SettingsProblem("-", f"cannot read: {exc}", source)]) from None
    try:
        return tomllib.loads(text), text
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError([SettingsProblem("-", f"not valid TOML: {exc}", source, _toml_error_line(exc))]) from None


def table_problems(exc: ValidationError, table: str, text: str, source: str) -> list[SettingsProblem]:
    """The schema errors of one `[table]` of a file validated on its own, without environment overrides (a candidate
    `[router]` for `helpline route --rules`): each with its full key, its line and the value it got."""
    return [_problem({**err, "loc": (table, *err["loc"])}, text, source, environment=False) for err in exc.errors()]


def _located(problems: list[tuple[str, str]], text: str, source: str) -> list[SettingsProblem]:
    return [SettingsProblem(key, message, source, locate_key(text, key)) for key, message in problems]


def env_name(dotted_key: str) -> str:
    return ENV_PREFIX + "__".join(dotted_key.split(".")).upper()


def _problem(err: Any, text: str, source: str, *, environment: bool = True) -> SettingsProblem:
    loc = [str(part) for part in err["loc"]]
    key = ".".join(loc)
    message = err["msg"]
    if err["type"] == "extra_forbidden":
        message = "unknown key"
    elif "input" in err and not isinstance(err["input"], dict | list):
        message += f" (got {err['input']!r})"
    variable = _env_source(loc) if environment else None
    if variable is not None:  # the bad value came from the environment, not from the file's line
        return SettingsProblem(key, message, f"environment {variable}")
    return SettingsProblem(key, message, source, locate_key(text, key))


def _env_source(loc: list[str]) -> str | None:
    """The environment variable that set this key (or the table holding it), if any."""
    for end in range(len(loc), 0, -1):
        variable = env_name(".".join(loc[:end]))
        if any(name.upper() == variable for name in os.environ):
            return variable
    return None


def _toml_error_line(exc: tomllib.TOMLDecodeError) -> int | None:
    marker = "at line "
    message = str(exc)
    if marker not in message:
        return None
    digits = message.split(marker, 1)[1].split(",", 1)[0].rstrip(")")
    return int(digits) if digits.isdigit() else None


def _secret_keys(model: type[BaseModel], prefix: str = "") -> Iterator[str]:
    for name, field in model.model_fields.items():
        annotation = field.annotation
        key = f"{prefix}{name}"
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            yield from _secret_keys(annotation, key + ".")
        elif "SecretStr" in str(annotation):
            yield key


def _lookup(data: dict[str, Any], dotted_key: str) -> Any:
    node: Any = data
    for part in dotted_key.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node
