"""HTML mail bodies: readable plain text for routing (inscriptis) and a sanitised copy for agents (nh3).

inscriptis renders block layout (paragraphs, lists, tables) the way a reader sees it, which regex tag-stripping does
not; nh3 (ammonia) removes scripts, event handlers and dangerous URLs so the HTML is safe to show in the agent UI.
"""

from __future__ import annotations

import nh3
from inscriptis import get_text

# Inline images point at "cid:" URLs; keep them so the agent UI can resolve them to the attachments.
_URL_SCHEMES = set(nh3.ALLOWED_URL_SCHEMES) | {"cid"}


def html_to_text(html: str) -> str:
    """The text a reader would see; empty for an empty or unreadable document."""
    if not html.strip():
        return ""
    try:
        return str(get_text(html))
    except Exception:  # inscriptis/lxml can fail on pathological markup; the sanitiser's text is the fallback
        return str(get_text(nh3.clean(html, tags=set())))


def sanitise_html(html: str) -> str:
    return nh3.clean(html, url_schemes=_URL_SCHEMES)
