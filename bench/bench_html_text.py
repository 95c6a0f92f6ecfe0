"""HTML-to-text converters on big and hostile HTML mail, and `parse_email` of a 5 MB HTML mail before and after.

Candidates (each skipped when not installed; `pip install -e '.[bench]'` brings them all):
- inscriptis (the baseline: what Helpline used before), pure Python over lxml, layout-aware;
- resiliparse `extract_plain_text` (what Helpline uses), C++ over the lexbor HTML5 parser, block layout;
- html-text (lxml with block newlines), html2text (pure Python, Markdown), selectolax (lexbor, `.text()` with
  a newline between text nodes: no block layout), nh3 with every tag stripped (text only, no layout).

Documents: a bank-statement-like mail (a long table in pages with links and lists, 1 MB), a newsletter-like mail
(paragraphs, headings, lists, inline formatting, 1 MB), and a hostile one (20,000 nested `<div>`s, ~0.2 MB).
Each conversion runs in a child process (fork) with a time limit, and is timed in CPU seconds of that process
(`time.process_time`), so the other load on a shared machine does not count; best of `ROUNDS`.

Then `parse_email` of a 5 MB HTML-only mail (base64, UTF-8; the statement document grown to 5 MB): the project's
parser as it is, and the same parser with inscriptis swapped back in for the HTML-to-text step (the "before").
"""

from __future__ import annotations

import importlib.util
import multiprocessing
import time
from collections.abc import Callable
from email.mime.text import MIMEText
from multiprocessing.connection import Connection

from bench.support import fmt_ratio

ROUNDS = 2
LIMIT_SECONDS = 60.0
SMALL = 1024 * 1024
BIG = 5 * 1024 * 1024
NESTED_DEPTH = 20_000
NESTED = f"{NESTED_DEPTH:,} nested divs"
TARGET_SECONDS = 1.0  # issue 9: a 5 MB HTML mail parsed in under a second


def statement(size: int) -> str:
    parts = ["<html><body><p>Dear customer, here is your statement.</p><table>"]
    total, i = 0, 0
    while total < size:
        row = f"<tr><td>2026-11-{i % 28 + 1:02d}</td><td>Top-up <b>TU-{i:06d}</b></td><td>{i}.00 SGD</td></tr>\n"
        if i % 50 == 49:
            row += f"</table><p>Page {i // 50}. Thanks for using <a href='https://w.example/{i}'>Wallet</a>.</p>"
            row += "<ul><li>Questions? Reply to this mail.</li><li>Disputes within 30 days.</li></ul><table>"
        parts.append(row)
        total += len(row)
        i += 1
    return "".join(parts) + "</table></body></html>"


def newsletter(size: int) -> str:
    block = (
        "<h2>Wallet news</h2><p>Top up with <b>no fee</b> this week, <i>only</i> in the app. "
        "<a href='https://w.example/x'>Read more</a></p><ul><li>Cashback 2%</li><li>New cards</li></ul>"
        "<div style='color:#333'><span>Questions?</span> <span>Write to us.</span></div><br>\n"
    )
    return "<html><body>" + block * (size // len(block) + 1) + "</body></html>"


def nested(depth: int) -> str:
    return "<html><body>" + "<div>x" * depth + "</div>" * depth + "</body></html>"


def _converters() -> dict[str, Callable[[str], str] | None]:
    def have(module: str) -> bool:
        return importlib.util.find_spec(module) is not None

    out: dict[str, Callable[[str], str] | None] = {}
    if have("inscriptis"):
        from inscriptis import get_text

        out["inscriptis (before)"] = lambda html: str(get_text(html))
    else:
        out["inscriptis (before)"] = None
    from ingest.email.html_text import html_to_text

    out["resiliparse (Helpline)"] = html_to_text
    if have("html_text"):
        import html_text

        out["html-text (lxml)"] = lambda html: str(html_text.extract_text(html))
    else:
        out["html-text (lxml)"] = None
    if have("html2text"):
        import html2text

        out["html2text"] = lambda html: str(html2text.html2text(html))
    else:
        out["html2text"] = None
    if have("selectolax"):
        from selectolax.lexbor import LexborHTMLParser

        out["selectolax (lexbor .text)"] = lambda html: str(LexborHTMLParser(html).text(separator="\n"))
    else:
        out["selectolax (lexbor .text)"] = None
    import nh3

    out["nh3, all tags stripped"] = lambda html: nh3.clean(html, tags=set())
    return out


def _child(send: Connection, action: Callable[[], object]) -> None:
    start = time.process_time()
    result = action()
    send.send((time.process_time() - start, result.count("x") if isinstance(result, str) else 0))


def cpu_seconds(action: Callable[[], object]) -> tuple[float | None, int]:
    """CPU seconds of `action` in a forked child, best of ROUNDS (None when it runs past LIMIT_SECONDS), and how
    many "x" its text result has (the nested document's words: libxml2 drops what is nested past 256 levels)."""
    best: float | None = None
    kept = 0
    context = multiprocessing.get_context("fork")
    for _ in range(ROUNDS):
        receive, send = context.Pipe(duplex=False)
        child = context.Process(target=_child, args=(send, action))
        child.start()
        if not receive.poll(LIMIT_SECONDS):
            child.kill()
            child.join()
            return None, 0
        seconds, kept = receive.recv()
        child.join()
        best = seconds if best is None else min(best, seconds)
    return best, kept


def _cell(seconds: float | None, baseline: float | None) -> str:
    if seconds is None:
        return f"> {LIMIT_SECONDS:.0f} s (stopped)"
    ratio = f" ({fmt_ratio(baseline / seconds)})" if baseline else ""
    return f"{seconds:.3f} s{ratio}"


def _parse_with(
    converter: Callable[[str], str] | None, raw: bytes, max_text_chars: int = 100_000
) -> Callable[[], object]:
    def run() -> object:
        import ingest.email.body as body
        from ingest.email.parse import parse_email

        if converter is not None:
            vars(body)["html_to_text"] = converter  # the child process is thrown away after this one parse
        parse_email(raw, max_text_chars=max_text_chars)
        return None

    return run


def main() -> str:
    documents = {"statement, 1 MB": statement(SMALL), "newsletter, 1 MB": newsletter(SMALL)}
    documents[NESTED] = nested(NESTED_DEPTH)
    converters = _converters()
    rows = [
        "| converter | " + " | ".join(documents) + " |",
        "|---|" + "---|" * len(documents),
    ]
    baseline: dict[str, float | None] = {}
    for name, convert in converters.items():
        if convert is None:
            rows.append(f"| {name} | " + " | ".join("not installed" for _ in documents) + " |")
            continue
        cells = []
        for label, html in documents.items():
            seconds, kept = cpu_seconds(lambda convert=convert, html=html: convert(html))  # type: ignore[misc]
            if name.startswith("inscriptis"):
                baseline[label] = seconds
            cell = f"{_cell(seconds, None)} (1.00×, baseline)" if name.startswith("inscriptis") else None
            cell = cell or _cell(seconds, baseline.get(label))
            if label == NESTED and seconds is not None:
                cell += f", {kept:,} of {NESTED_DEPTH:,} words kept"
            cells.append(cell)
        rows.append(f"| {name} | " + " | ".join(cells) + " |")

    message = MIMEText(statement(BIG), "html", "utf-8")
    message["From"], message["To"], message["Subject"] = "a@example.com", "support@wallet.example", "Statement"
    raw = message.as_bytes()
    after, _ = cpu_seconds(_parse_with(None, raw))
    unbounded, _ = cpu_seconds(_parse_with(None, raw, max_text_chars=10**9))
    inscriptis = converters["inscriptis (before)"]
    before = cpu_seconds(_parse_with(inscriptis, raw, max_text_chars=10**9))[0] if inscriptis else None
    verdict = "meets" if after is not None and after < TARGET_SECONDS else "MISSES"
    return "\n".join(
        [
            "## HTML to text: converters on big and hostile HTML (`bench/bench_html_text.py`)",
            "",
            "CPU seconds of one conversion in a child process (best of "
            f"{ROUNDS}, stopped after {LIMIT_SECONDS:.0f} s), and in brackets how many times faster than inscriptis, "
            "the converter Helpline used before. Documents: a statement (a long table in pages, with links and "
            "lists), a newsletter (headings, paragraphs, lists, inline formatting), 20,000 nested `<div>`s.",
            "",
            *rows,
            "",
            f"`parse_email` of a {len(raw) / 1e6:.1f} MB HTML-only mail (the statement grown to 5 MB, base64): "
            f"**{_cell(after, None)}** as Helpline parses it; {_cell(unbounded, None)} with resiliparse but without "
            "the bounds (`max_text_chars` 10⁹: all 2 MB of text through quote stripping, all the HTML through nh3); "
            f"{_cell(before, None)} as it was before (inscriptis, no bounds): "
            f"**{fmt_ratio(before / after) if before and after else 'n/a'}** faster now. "
            f"Target under {TARGET_SECONDS:.0f} s: **{verdict}**. The bounds: the text past `email.max_text_chars` "
            "(100,000) is cut before quote stripping, the sanitised HTML copy keeps 1,000,000 characters, and "
            "`extras.truncated` says so. nh3 (html5ever) is quadratic in nesting depth (10,000 levels took 0.4 s, "
            "40,000 took 5 s here), which is why a document nested deeper than 500 levels gets no sanitised copy; "
            "lxml-based converters (inscriptis, html-text) are fast on the nested document only because libxml2 "
            "drops everything nested deeper than 256 levels.",
            "",
            "Why resiliparse: selectolax is faster on flat documents but writes a newline between every text node "
            "(no paragraphs: `Top-up` and `TU-1` on lines of their own) and, like nh3, slows down on deep nesting; "
            "html-text and inscriptis lose deeply nested text; html2text is slower than the baseline; resiliparse "
            "renders the golden mail as inscriptis did (9 of the 10 HTML goldens unchanged; list bullets are now "
            "`•`) and stays linear.",
        ]
    )
