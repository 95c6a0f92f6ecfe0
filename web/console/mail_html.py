"""An email's HTML as the case view shows it: sanitised again here with nh3, whatever ingest kept, and with remote
images blocked until the agent asks for them.

Ingest keeps an nh3-sanitised copy of each HTML body (`extras["html"]`, ingest/email/html_text.py); it is cleaned
once more at display, so a copy stored before a sanitiser fix, or written by anything else, never reaches an agent's
browser as it is. The page then puts it in an `<iframe sandbox srcdoc>` without `allow-scripts` (and the page's
Content-Security-Policy, which the frame inherits, allows no inline script either): three locks on one door.

Remote images (`http:`, `https:`, protocol-relative) are how senders learn that a mail was opened, and from where:
their `src` is dropped unless the agent clicked "show images" for that message. Inline images (`cid:`) are parts of
the mail itself: they are shown as `data:` URLs when their content is at hand, and dropped otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import nh3

_SCHEMES = set(nh3.ALLOWED_URL_SCHEMES) | {"cid", "data"}
_REMOTE = ("http:", "https:", "//")


@dataclass(frozen=True)
class MailHtml:
    html: str
    blocked: int  # remote images whose src was dropped


def safe_mail_html(html: str, *, show_images: bool, inline: Mapping[str, str]) -> MailHtml:
    """`inline`: a `data:` URL per Content-ID (without `<>`) of the mail's inline images."""
    blocked = 0

    def keep(tag: str, attribute: str, value: str) -> str | None:
        nonlocal blocked
        lowered = value.strip().lower()
        if tag == "a" and attribute == "href":
            return None if lowered.startswith(("data:", "cid:")) else value  # data: and cid: are for images only
        if tag != "img" or attribute != "src":
            return value
        if lowered.startswith("cid:"):
            return inline.get(value.strip()[4:].strip("<>"))
        if lowered.startswith("data:"):
            return value if lowered.startswith("data:image/") else None
        if lowered.startswith(_REMOTE):
            if show_images:
                return value
            blocked += 1
            return None
        return None  # a relative src would point at the console itself

    # Links open in a new tab, outside the frame (the frame may open popups, not navigate the console).
    cleaned = nh3.clean(
        html, url_schemes=_SCHEMES, attribute_filter=keep, link_rel="noopener noreferrer",
        set_tag_attribute_values={"a": {"target": "_blank"}},
    )  # fmt: skip
    return MailHtml(cleaned, blocked)
