"""HTML mail bodies: readable plain text for routing (resiliparse) and a sanitised copy for agents (nh3).

The text comes from resiliparse's `extract_plain_text` on the lexbor HTML5 parser: it keeps the block layout a reader
sees (paragraphs, line breaks, list bullets, table rows) and runs in linear time — 5 MB of HTML in about a third of a
second, where inscriptis, which rendered it before, took 12 s and held one of the SMTP server's threads (see
BENCHMARKS.md, bench/bench_html_text.py). nh3 (ammonia) removes scripts, event handlers and dangerous URLs so the
HTML is safe to show in the agent UI; html5ever's tree building is quadratic in the nesting depth, so a document
nested deeper than any real mail is not sanitised at all (the raw mail still has it), and one longer than the
caller's budget is sanitised only up to it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import nh3
from resiliparse.extract.html2text import extract_plain_text

# Inline images point at "cid:" URLs; keep them so the agent UI can resolve them to the attachments.
_URL_SCHEMES = set(nh3.ALLOWED_URL_SCHEMES) | {"cid"}
_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9]*)[^>]*?(/?)>")
_ANY_TAG = re.compile(r"<[^>]*>")
# Elements that never nest (void) or that the HTML parser closes on its own (optional end tags): they add no depth.
_VOID = ("area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source", "track", "wbr")
_OPTIONAL_END = ("p", "li", "dt", "dd", "tr", "td", "th", "tbody", "thead", "tfoot", "colgroup", "caption", "option")
_FLAT = frozenset((*_VOID, *_OPTIONAL_END, "optgroup", "rb", "rt", "rp", "html", "head", "body"))
MAX_HTML_DEPTH = 500  # real mail nests a few dozen levels; long Outlook reply chains a few hundred at most


@dataclass(frozen=True)
class Sanitised:
    html: str | None  # None: not kept (see `note`)
    note: str | None = None  # what was cut or dropped, for extras["truncated"]


def html_to_text(html: str) -> str:
    """The text a reader would see; empty for an empty or unreadable document."""
    if not html.strip():
        return ""
    try:
        return _extract(html)
    except TypeError:  # lone surrogates (a damaged body) are not a str lexbor takes: replace them and retry
        return _extract(html.encode("utf-8", "replace").decode("utf-8"))
    except Exception:  # the parser refused the document: its text between the tags is still the best we have
        return _ANY_TAG.sub(" ", html)


def _extract(html: str) -> str:
    return str(
        extract_plain_text(
            html,
            preserve_formatting=True,
            main_content=False,  # a support mail is all main content; the heuristics are for web pages
            list_bullets=True,
            alt_texts=False,
            links=False,
            form_fields=False,
            noscript=False,
        )
    )


def nesting_depth(html: str) -> int:
    """An estimate of how deep `html`'s elements nest (start tags minus end tags, elements that nest not counted)."""
    depth = deepest = 0
    for match in _TAG.finditer(html):
        if match.group(2).lower() in _FLAT or match.group(3):
            continue
        depth = max(0, depth - 1) if match.group(1) else depth + 1
        deepest = max(deepest, depth)
    return deepest


def sanitise_html(html: str, *, max_chars: int | None = None) -> Sanitised:
    """The HTML without scripts, handlers or dangerous URLs; cut to `max_chars` first, and not kept at all when it
    nests deeper than MAX_HTML_DEPTH."""
    note = None
    if max_chars is not None and len(html) > max_chars:
        note = f"html: {len(html):,} characters; the sanitised copy keeps the first {max_chars:,}"
        html = html[:max_chars]
    depth = nesting_depth(html)
    if depth > MAX_HTML_DEPTH:
        return Sanitised(None, f"html: elements nested about {depth:,} deep; no sanitised copy kept")
    try:
        return Sanitised(nh3.clean(html, url_schemes=_URL_SCHEMES), note)
    except Exception:  # e.g. lone surrogates: the same retry as for the text
        return Sanitised(nh3.clean(html.encode("utf-8", "replace").decode("utf-8"), url_schemes=_URL_SCHEMES), note)
