"""The store's masking gate (core/content_gate.py) on mail of every size, against parsing the same mail.

Every message the store writes goes through the gate: its envelope is masked (text, extras, the HTML copy's source
and text, text attachments) and its raw payload is scanned (as text, then each MIME part decoded) to decide whether
it may be kept. The baseline is `parse_email` of the same bytes, which every mail costs anyway: the ratio says what
masking adds to taking in a mail. Mails:
- small: a short plain-text mail with a one-time code (masked);
- 5 MB HTML: a table of orders, amounts and dates, no secret (the SMTP server's worst case of the issue);
- 5 MB HTML with cues: the same, with a code word, a password word and a 16-digit number every 2 KB (the windows
  around cues cover most of the text: the gate's worst case).
"""

from __future__ import annotations

from collections.abc import Callable
from email.message import EmailMessage

from bench.support import fmt_ratio, timed
from core.content_gate import seal_message, seal_raw
from core.records import StoredMessage
from ingest.email.parse import parse_email

ROUNDS = 3  # best of: a shared machine's noise only ever slows a run down
ROW = "<tr><td>Order 2026-0312</td><td>amount 100.00</td><td>status ok</td><td>shipped to Shenzhen</td></tr>\n"
CUED_ROW = "<tr><td>promo code SPRING, password reset pending, ref 1234567812345678</td></tr>\n"


def mail(text: str, html: str | None = None) -> bytes:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "a@example.com", "support@wallet.example", "top-up"
    message.set_content(text)
    if html is not None:
        message.add_alternative(html, subtype="html")
    return bytes(message)


def html_table(size: int, cue_every: int | None = None) -> str:
    rows = []
    for i in range(size // len(ROW)):
        rows.append(CUED_ROW if cue_every and i % (cue_every // len(ROW)) == 0 else ROW)
    return "<table>" + "".join(rows) + "</table>"


def gate(raw: bytes) -> None:
    envelope = parse_email(raw)
    sealed = seal_message(StoredMessage(id="m", envelope=envelope))
    seal_raw(envelope.channel, raw, sealed.envelope)


def best(action: Callable[[bytes], object], raw: bytes) -> float:
    """Seconds per run of `action(raw)`, best of ROUNDS; small mails are run many times per round."""
    repeat = 200 if len(raw) < 100_000 else 1
    return min(timed(lambda: [action(raw) for _ in range(repeat)]) for _ in range(ROUNDS)) / repeat


def main() -> str:
    cases = {
        "small, with a code": mail("My top-up failed. The verification code is 482913, please help."),
        "5 MB HTML": mail("see below", html_table(5_000_000)),
        "5 MB HTML with cues every 2 KB": mail("see below", html_table(5_000_000, cue_every=2_000)),
    }
    lines = [
        "## Masking gate: parse + gate vs parse alone (`bench/bench_masking.py`)",
        "",
        "| mail | parse | parse + gate | gate / parse |",
        "|---|---:|---:|---:|",
    ]
    for name, raw in cases.items():
        parse, total = best(parse_email, raw), best(gate, raw)
        added = fmt_ratio((total - parse) / parse)
        lines.append(f"| {name} | {parse * 1000:.1f} ms | {total * 1000:.1f} ms | {added} |")
    return "\n".join(lines)
