"""The `helpline` command. Each subcommand is thin: it loads settings and calls the module that does the work."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Annotated

import typer

from core.settings import settings_origin
from helpline.agent_admin_cli import add_commands as add_agent_admin_commands
from helpline.agent_cli import agent_app
from helpline.contact_cli import contact_app
from helpline.flagged_cli import flagged_command
from helpline.incident_cli import incident_app
from helpline.logs import configure_logging, verbose
from helpline.notice_cli import notice_app
from helpline.options import SettingsOption, settings_or_exit
from helpline.queues_cli import queues_command
from helpline.report_cli import report_command
from helpline.retention_cli import retention
from helpline.search_cli import search_command

app = typer.Typer(help="Helpline: omnichannel support engine.", no_args_is_help=True, add_completion=False)


def pin_settings_file(path: Path | None) -> None:
    """A long-running process started with `--settings F` exports it as `HELPLINE_SETTINGS`, so whatever re-reads
    the file later (the rules' hot reload, `helpline run`'s children) reads the same one."""
    if path is not None:
        os.environ["HELPLINE_SETTINGS"] = str(Path(path).absolute())  # not resolved: a symlink may be repointed


@app.command()
def check(settings: SettingsOption = None) -> None:
    """Validate a settings file; print every problem with its key and line; exit non-zero on any."""
    settings_or_exit(settings)
    path, origin = settings_origin(settings)
    note = " (the packaged default: copy it to ./settings.toml to change it)" if origin == "packaged" else ""
    typer.echo(f"{path}: OK{note}")


VerboseOption = Annotated[
    bool, typer.Option("--verbose", "-v", help="let libraries (rq, uvicorn, twilio, aiosmtpd...) log at INFO too")
]


@app.command()
def run(settings: SettingsOption = None, verbose_logs: VerboseOption = False) -> None:
    """Start every process Helpline needs (the Procfile's), with an embedded Redis when none is configured."""
    from helpline.supervisor import run_all

    loaded = settings_or_exit(settings)
    pin_settings_file(settings)
    if verbose_logs:
        verbose(loaded.logging)
    configure_logging(loaded.logging)
    sys.exit(run_all(loaded, settings))


@app.command()
def serve(
    process: Annotated[
        str, typer.Argument(help="redis | postgres | smtp | imap | web | worker | scheduler | telegram")
    ],
    settings: SettingsOption = None,
    verbose_logs: VerboseOption = False,
) -> None:
    """Run one Helpline process in the foreground (what each Procfile line runs)."""
    from helpline.processes import PROCESSES

    if process not in PROCESSES:
        typer.echo(f"error: unknown process {process!r}; expected one of: {', '.join(PROCESSES)}", err=True)
        raise typer.Exit(2)
    loaded = settings_or_exit(settings)
    pin_settings_file(settings)
    if verbose_logs:
        verbose(loaded.logging)
    configure_logging(loaded.logging)
    if not PROCESSES[process].enabled(loaded):
        typer.echo(f"{process}: not enabled by the settings; idle until stopped")
        stop_signals = {signal.SIGINT, signal.SIGTERM}
        signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
        signal.sigwait(stop_signals)  # exiting now would make honcho stop every other process
        return
    if process not in ("redis", "postgres"):
        from helpline.wait import wait_for_store

        wait_for_store(loaded)
    if not PROCESSES[process].reloads_rules:
        signal.signal(signal.SIGHUP, signal.SIG_IGN)  # an operator's `kill -HUP` to the group must not stop it
    PROCESSES[process].run(loaded)


@app.command()
def migrate(settings: SettingsOption = None) -> None:
    """Bring the record up to date: schema migrations, then numbered data imports (an embedded server is started
    for it when no [database] url is set and no `helpline run` holds it)."""
    from helpline.record_setup import migrate_command

    loaded = settings_or_exit(settings)
    configure_logging(loaded.logging)
    raise typer.Exit(migrate_command(loaded, echo=typer.echo))


app.command("report")(report_command)
app.command("search")(search_command)


@app.command()
def backup(
    directory: Annotated[Path, typer.Argument(help="an empty (or new) folder for the copy")],
    settings: SettingsOption = None,
) -> None:
    """Copy Redis (a point-in-time snapshot), the record (pg_dump) and the attachments' content into DIRECTORY."""
    from helpline.backup import BackupError
    from helpline.backup import backup as take_backup

    loaded = settings_or_exit(settings)
    try:
        outcome = take_backup(loaded, directory)
    except BackupError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    for line in outcome.done + [f"note: {note}" for note in outcome.notes]:
        typer.echo(line)
    typer.echo(f"backup written to {directory}")


@app.command()
def restore(
    directory: Annotated[Path, typer.Argument(help="a folder `helpline backup` wrote")],
    settings: SettingsOption = None,
    yes: Annotated[bool, typer.Option("--yes", help="do not ask: replace what Redis and the record hold now")] = False,
) -> None:
    """Replace Redis's Helpline database, the record and the attachments with a backup's (stop Helpline first)."""
    from helpline.backup import BackupError
    from helpline.backup import restore as restore_backup

    loaded = settings_or_exit(settings)
    if not yes and not typer.confirm(f"Replace everything Helpline holds now with the backup in {directory}?"):
        raise typer.Exit(1)
    try:
        outcome = restore_backup(loaded, directory)
    except BackupError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    for line in outcome.done + [f"note: {note}" for note in outcome.notes]:
        typer.echo(line)
    typer.echo(f"restored from {directory}")


@app.command()
def replay(
    settings: SettingsOption = None,
    letter_id: Annotated[list[str] | None, typer.Argument(help="dead-letter ids (default: all)")] = None,
    list_only: Annotated[bool, typer.Option("--list", help="only list the dead letters")] = False,
) -> None:
    """Re-run dead-lettered payloads (ones that could not be parsed) once the bug that stopped them is fixed."""
    from workers.replay import replay_dead_letters

    ok = replay_dead_letters(settings_or_exit(settings), letter_id or [], list_only=list_only, echo=typer.echo)
    raise typer.Exit(0 if ok else 1)


@app.command()
def parse(
    files: Annotated[list[str], typer.Argument(help="raw .eml files, or - for one message on stdin")],
) -> None:
    """Parse raw emails and print one envelope per line as JSON (exit 1 if any file could not be parsed)."""
    from ingest.email.parse_cli import parse_files, stdin_bytes

    ok = parse_files(files, stdin=stdin_bytes(), echo=typer.echo)
    raise typer.Exit(0 if ok else 1)


telegram_app = typer.Typer(help="Telegram bot administration.", no_args_is_help=True)
app.add_typer(telegram_app, name="telegram")


@telegram_app.command("set-webhook")
def telegram_set_webhook(settings: SettingsOption = None) -> None:
    """Register [web] public_url + /telegram/webhook and the webhook secret with the Bot API (setWebhook)."""
    from telegram.error import TelegramError

    from channels.telegram import set_webhook
    from core.errors import SendError

    try:
        info = set_webhook(settings_or_exit(settings))
    except (ValueError, SendError, TelegramError) as exc:  # SendError: no token configured
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"webhook set: {info.get('url')} (pending updates: {info.get('pending_update_count', 0)})")


app.add_typer(notice_app, name="notice")
app.add_typer(incident_app, name="incident")
add_agent_admin_commands(agent_app)
app.add_typer(agent_app, name="agent")
app.add_typer(contact_app, name="contact")
app.command("queues")(queues_command)
app.command("flagged")(flagged_command)
app.command("retention")(retention)


@app.command()
def route(
    settings: SettingsOption = None,
    rules: Annotated[Path | None, typer.Option("--rules", help="take the [router] section from this file")] = None,
    replay: Annotated[bool, typer.Option("--replay", help="re-route stored messages; report what would move")] = False,
    since: Annotated[str | None, typer.Option("--since", help="with --replay: ISO time, e.g. 2026-01-31")] = None,
    until: Annotated[str | None, typer.Option("--until", help="with --replay: ISO time")] = None,
    trace: Annotated[bool, typer.Option("--trace", help="add each decision's trace")] = False,
    model: Annotated[
        str | None, typer.Option("--model", help="triage model: an exported .npz file or a stored version")
    ] = None,
) -> None:
    """Dry-run routing: JSON Lines on stdin, one decision per line out; or --replay stored messages."""
    from helpline.route_cli import run_route

    code = run_route(
        settings_or_exit(settings),
        rules=rules,
        model=model,
        replay_stored=replay,
        since=since,
        until=until,
        trace=trace,
        stdin=sys.stdin,
        stdout=sys.stdout,
        stderr=sys.stderr,
    )
    raise typer.Exit(code)


@app.command()
def train(
    settings: SettingsOption = None,
    shipped_only: Annotated[
        bool, typer.Option("--shipped-only", help="train on the shipped data alone, without the store")
    ] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="evaluate, but do not publish to the store")] = False,
    out: Annotated[Path | None, typer.Option("--out", help="also write the model to this .npz file")] = None,
    by: Annotated[str | None, typer.Option("--by", help="who trains it, for the record (default: your user)")] = None,
) -> None:
    """Fit the triage model from the shipped data and the desk's corrections, show its held-out evaluation against
    the current model, and publish it to the store, where every worker picks it up."""
    from helpline.train_cli import run_train

    code = run_train(
        settings_or_exit(settings), shipped_only=shipped_only, dry_run=dry_run, out=out, stdout=sys.stdout,
        stderr=sys.stderr, by=by,
    )  # fmt: skip
    raise typer.Exit(code)


@app.command()
def explain(
    what: Annotated[
        str,
        typer.Argument(
            help="a stored message id, or a case's reference (HL-…), a Message-ID, a provider id, an "
            "email address or a phone number: every match is explained"
        ),
    ],
    settings: SettingsOption = None,
) -> None:
    """Print why a stored message was routed where it was: every rule tried, which matched, and why."""
    from helpline.explain_cli import run_explain

    raise typer.Exit(run_explain(settings_or_exit(settings), what, stdout=sys.stdout, stderr=sys.stderr))


def main() -> None:
    app()
