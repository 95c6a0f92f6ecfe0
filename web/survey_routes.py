"""The survey's one-question web page, for channels where answering by reply is awkward (a phone call): the
survey sent on those channels (`replies.survey_link_channels`) links here with a signed, expiring token
(core/survey_link.py).

    GET  /survey/{token}   the question, in the language the survey was sent in (en/zh), five buttons
    POST /survey/{token}   records the score once (the case's one rating: core/surveys.py), through the record queue

A link that is not ours (altered, cut short) is a 404 page, an expired one 410, a second answer 409, a store that
is down 503: never a 500, and never a page that says more than that. The token is the only credential, so the pages
ask browsers not to send it on (Referrer-Policy) nor keep them (Cache-Control).
"""

from __future__ import annotations

import asyncio
import html
import logging
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route

from core.errors import StoreUnavailable
from core.ids import new_id
from core.records import utcnow
from core.settings import Settings
from core.store import Store
from core.survey_link import BadToken, ExpiredToken, SurveyToken, verify
from core.surveys import Surveys

log = logging.getLogger("helpline.web")

MAX_FORM_BYTES = 1024
_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
}
_TEXT = {
    "en": {
        "title": "How did we do?",
        "question": "How satisfied are you with the help you received?",
        "low": "not at all",
        "high": "very satisfied",
        "thanks": "Thank you! Your rating has been recorded.",
        "already": "This case has been rated already. Thank you!",
        "invalid": "This survey link is not valid.",
        "expired": "This survey link has expired.",
        "choose": "Please choose a rating from 1 to 5.",
        "unavailable": "We cannot record your rating right now. Please try again in a few minutes.",
    },
    "zh": {
        "title": "请评价我们的服务",
        "question": "您对本次服务满意吗？",
        "low": "非常不满意",
        "high": "非常满意",
        "thanks": "谢谢！您的评价已记录。",
        "already": "此工单已评价过，谢谢！",
        "invalid": "此评价链接无效。",
        "expired": "此评价链接已过期。",
        "choose": "请选择 1 到 5 分。",
        "unavailable": "暂时无法记录您的评价，请稍后再试。",
    },
}


def routes(settings: Settings, store: Store) -> list[BaseRoute]:
    secret = settings.web.survey_secret.get_secret_value() if settings.web.survey_secret else None
    window = settings.replies.survey_window_hours

    async def page(request: Request) -> Response:
        token = _token(secret, request.path_params["token"])
        if isinstance(token, Response):
            return token
        text = _TEXT.get(token.language, _TEXT["en"])
        try:
            if request.method == "GET":
                answered = await asyncio.to_thread(Surveys(store).answered, token.conversation_id)
                return _page(token.language, text["already"]) if answered else _question(token.language)
            body = await request.body()
            score = _score(body)
            if score is None:
                return _question(token.language, note=text["choose"], status=400)
            recorded = await asyncio.to_thread(_record, store, token, score, window)
        except StoreUnavailable as exc:
            log.warning("survey page: %s", exc)
            return _page(token.language, text["unavailable"], status=503)
        if recorded is None:
            return _page(token.language, text["invalid"], status=404)
        return _page(token.language, text["thanks"] if recorded else text["already"], status=200 if recorded else 409)

    return [Route("/survey/{token}", page, methods=["GET", "POST"])]


def _token(secret: str | None, raw: str) -> SurveyToken | Response:
    if secret is None:  # links are not set up here: no token can be ours
        return _page("en", _TEXT["en"]["invalid"], status=404)
    try:
        return verify(secret, raw, utcnow())
    except ExpiredToken:
        return _page("en", f"{_TEXT['en']['expired']} / {_TEXT['zh']['expired']}", status=410)
    except BadToken:
        return _page("en", f"{_TEXT['en']['invalid']} / {_TEXT['zh']['invalid']}", status=404)


def _score(body: bytes) -> int | None:
    if len(body) > MAX_FORM_BYTES:
        return None
    values = parse_qs(body.decode("utf-8", errors="replace")).get("score", [])
    return int(values[0]) if len(values) == 1 and values[0] in {"1", "2", "3", "4", "5"} else None


def _record(store: Store, token: SurveyToken, score: int, window: float) -> bool | None:
    """True when recorded now, False when the case was rated already, None when the link's survey is unknown."""
    surveys = Surveys(store)
    sent = surveys.sent(token.conversation_id)
    if sent is None or sent.reply_id != token.reply_id:
        return None
    # A claim of its own per request: the same link posted twice is a second answer, not a re-run.
    if surveys.claim_answer(token.conversation_id, new_id("web"), window) is not None:
        return False
    surveys.queue_score(token.conversation_id, token.reply_id, score)
    return True


def _question(language: str, *, note: str = "", status: int = 200) -> Response:
    text = _TEXT.get(language, _TEXT["en"])
    buttons = "".join(f'<button name="score" value="{n}">{n}</button>' for n in range(1, 6))
    body = (
        (f"<p><strong>{html.escape(note)}</strong></p>" if note else "")
        + f"<p>{html.escape(text['question'])}</p><form method='post'>{buttons}</form>"
        + f"<p><small>1 = {html.escape(text['low'])}, 5 = {html.escape(text['high'])}</small></p>"
    )
    return _html(language, text["title"], body, status)


def _page(language: str, message: str, *, status: int = 200) -> Response:
    text = _TEXT.get(language, _TEXT["en"])
    return _html(language, text["title"], f"<p>{html.escape(message)}</p>", status)


def _html(language: str, title: str, body: str, status: int) -> Response:
    document = (
        f"<!doctype html><html lang='{'zh' if language == 'zh' else 'en'}'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{html.escape(title)}</title><style>body{{font-family:sans-serif;max-width:30em;margin:2em auto}}"
        "button{font-size:1.5em;margin:.2em;min-width:2.5em}</style></head>"
        f"<body><h1>{html.escape(title)}</h1>{body}</body></html>"
    )
    return HTMLResponse(document, status_code=status, headers=_HEADERS)
