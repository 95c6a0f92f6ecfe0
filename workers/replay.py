"""`helpline replay`: run dead-lettered payloads through their channel's parser again, after a fix.

A payload that now parses is stored like any new message (dedupe still applies, so replaying twice is harmless)
and leaves the dead-letter store; one that still fails stays, with the new error and one more attempt counted.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from core.envelope import Channel, Envelope
from core.redis_conn import connect
from core.settings import Settings
from core.store import Store
from ingest.email.intake import envelope_of
from ingest.telegram.intake import replay_envelope
from ingest.twilio.message_intake import record_keyword
from ingest.twilio.replay import reparse_message, reparse_voice

Reparser = Callable[[bytes, dict[str, Any], Settings], Envelope]

REPARSERS: dict[Channel, Reparser] = {
    Channel.EMAIL: envelope_of,
    Channel.SMS: reparse_message,
    Channel.WHATSAPP: reparse_message,
    Channel.VOICE: reparse_voice,
    Channel.TELEGRAM: replay_envelope,
}

# What an adapter does with a stored message besides storing it, done again for a replayed one: a replayed STOP
# opts out, as it would have on arrival.
AFTER_STORE: dict[Channel, tuple[Callable[[Store, Envelope], None], ...]] = {
    Channel.SMS: (record_keyword,),
    Channel.WHATSAPP: (record_keyword,),
}


def replay_dead_letters(
    settings: Settings, letter_ids: list[str], *, list_only: bool, echo: Callable[[str], None]
) -> bool:
    store = Store(connect(settings))
    letters = [letter for letter in store.dead_letters() if not letter_ids or letter.id in letter_ids]
    missing = set(letter_ids) - {letter.id for letter in letters}
    for letter_id in sorted(missing):
        echo(f"{letter_id}: no such dead letter")
    ok = not missing
    for letter in letters:
        if list_only:
            when = f"{letter.received_at:%Y-%m-%d %H:%M}"
            echo(f"{letter.id}  {letter.channel.value}  {when}  x{letter.attempts}  {letter.error}")
            continue
        raw = store.dead_letter_raw(letter.id) or b""
        reparse = REPARSERS.get(letter.channel)
        try:
            if reparse is None:
                raise LookupError(f"no replay for channel {letter.channel.value}")
            # It arrived when it was dead-lettered: SLA clocks start then, not at the replay.
            envelope = reparse(raw, letter.meta, settings).model_copy(update={"received_at": letter.received_at})
            if letter.meta.get("masked"):  # the store masked the payload's secrets: the reply still warns about them
                masked = sorted(set(envelope.extras.get("masked") or []) | set(letter.meta["masked"]))
                envelope = envelope.model_copy(update={"extras": {**envelope.extras, "masked": masked}})
            accepted = store.accept(envelope, raw)
            for after in AFTER_STORE.get(letter.channel, ()):
                after(store, envelope)
        except Exception as exc:  # the point is to report every failure and carry on with the rest
            letter.attempts += 1
            letter.error = f"{type(exc).__name__}: {exc}"
            store.update_dead_letter(letter)
            echo(f"{letter.id}: still failing: {letter.error}")
            ok = False
            continue
        store.remove_dead_letter(letter.id)
        state = "already stored as" if accepted.duplicate else "stored as"
        echo(f"{letter.id}: {state} {accepted.message_id}")
    if not letters and not missing:
        echo("no dead letters")
    return ok
