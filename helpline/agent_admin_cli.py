"""`helpline agent add|list|set-password|rotate-token|away|back`: the agents' store from a terminal (desk/agents.py).

A password is read from a prompt (typed twice, not echoed) or from stdin with `--stdin`, never from the command
line, where `ps` and the shell history would show it. A rotated token is printed once: only its digest is kept.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from typing import TYPE_CHECKING, Annotated

import typer

from core.agent_settings import Role
from helpline.options import SettingsOption, settings_or_exit

if TYPE_CHECKING:
    from desk.agents import AgentStore, AgentView

WhoArgument = Annotated[str, typer.Argument(help="the agent's id or email")]


@contextmanager
def _agents(settings_file: SettingsOption) -> Iterator[AgentStore]:
    """The agents' store on the configured record; a record that cannot be reached, a missing agent or a refused
    change becomes `error: …` and exit 1."""
    from sqlalchemy.exc import OperationalError

    from desk.agents import AgentStore
    from record.engine import connect

    loaded = settings_or_exit(settings_file)
    engine = connect(loaded)
    try:
        yield AgentStore(engine, known_queues=loaded.router.known_queues() | {loaded.scheduler.escalation_queue})
    except OperationalError as exc:
        typer.echo(f"error: the record cannot be reached: {exc.orig}", err=True)
        raise typer.Exit(1) from None
    except (LookupError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    finally:
        engine.dispose()


def _line(agent: AgentView) -> str:
    flags = [flag for flag, on in (("away", agent.away), ("inactive", not agent.active)) if on]
    return (
        f"{agent.id}  {agent.email:<28} {agent.name:<20} {agent.role.value:<10} cap {agent.capacity:<3} "
        f"{','.join(agent.queues) or '-':<24} {','.join(agent.languages)}" + (f"  [{' '.join(flags)}]" if flags else "")
    )


def _as_json(agent: AgentView) -> dict[str, object]:
    return {**asdict(agent), "role": agent.role.value, "created_at": agent.created_at.isoformat()}


def add_agent(
    name: Annotated[str, typer.Argument(help="the agent's name")],
    email: Annotated[str, typer.Option("--email", "-e", help="sign-in email; unique")],
    queue: Annotated[list[str] | None, typer.Option("--queue", "-q", help="a queue they work (repeat)")] = None,
    language: Annotated[list[str] | None, typer.Option("--language", "-l", help="a language (repeat)")] = None,
    capacity: Annotated[int, typer.Option("--capacity", min=0, help="open cases at once")] = 5,
    role: Annotated[Role, typer.Option("--role", help="agent | supervisor | admin")] = Role.AGENT,
    settings: SettingsOption = None,
) -> None:
    """Add an agent (no password or token yet: `set-password`, `rotate-token`)."""
    with _agents(settings) as agents:
        added = agents.add(name, email, languages=language or ["en"], queues=queue or [], capacity=capacity, role=role)
    typer.echo(_line(added))


def list_agents(
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
    settings: SettingsOption = None,
) -> None:
    """List the agents: id, email, name, role, capacity, queues, languages, away."""
    with _agents(settings) as agents:
        found = agents.all()
    if as_json:
        typer.echo(json.dumps([_as_json(a) for a in found], indent=2, ensure_ascii=False))
    elif not found:
        typer.echo("no agents")
    for agent in [] if as_json else found:
        typer.echo(_line(agent))


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return str(typer.prompt("New password", hide_input=True, confirmation_prompt=True))


def set_password(
    who: WhoArgument,
    from_stdin: Annotated[bool, typer.Option("--stdin", help="read the password from stdin's first line")] = False,
    settings: SettingsOption = None,
) -> None:
    """Set an agent's password (prompted, or `--stdin`); their sessions end."""
    with _agents(settings) as agents:
        agent = agents.find(who)
        agents.set_password(agent.id, _read_password(from_stdin))
    typer.echo(f"{agent.email}: password set; sessions signed in before are ended")


def rotate_token(who: WhoArgument, settings: SettingsOption = None) -> None:
    """Give an agent a new API token, printed once; the old token and their sessions end."""
    with _agents(settings) as agents:
        agent = agents.find(who)
        token = agents.rotate_token(agent.id)
    typer.echo(f"{agent.email}: new API token (shown once, keep it in a password manager):", err=True)
    typer.echo(token)


def _away(away: bool) -> Callable[..., None]:
    def command(who: WhoArgument, settings: SettingsOption = None) -> None:
        with _agents(settings) as agents:
            agent = agents.set_away(agents.find(who).id, away)
        typer.echo(f"{agent.email}: {'away' if agent.away else 'back'}")

    command.__doc__ = (
        "Mark an agent away: automatic assignment skips them." if away else "Mark an agent back from away."
    )
    return command


def add_commands(agent_app: typer.Typer) -> None:
    agent_app.command("add")(add_agent)
    agent_app.command("list")(list_agents)
    agent_app.command("set-password")(set_password)
    agent_app.command("rotate-token")(rotate_token)
    agent_app.command("away")(_away(True))
    agent_app.command("back")(_away(False))
