"""Seeded, bounded fuzzing of the payload masker: mail in every transfer encoding and charset, JSON at any depth,
forms, with garbage around them and cut short. Whatever comes in, masking never raises and no secret planted in a
text-like part survives in any decoding of what it returns."""

from __future__ import annotations

import json
import random
import string
from email.message import EmailMessage
from urllib.parse import urlencode

import pytest

from core.payload_masking import PayloadKind, mask_payload
from tests.test_no_secret_kept import views

CARDS = ["4111111111111111", "5555555555554444", "378282246310005", "6011111111111117", "4012888888881881"]
ROUNDS = 300


def secret(rng: random.Random) -> tuple[str, str]:
    """A sentence holding a secret, and the secret as it must never be found again (digits without blanks)."""
    kind = rng.choice(["password", "code", "card", "pin"])
    if kind == "password":
        value = "Zq" + "".join(rng.choices(string.ascii_letters + string.digits, k=10))
        return rng.choice([f"my password: {value}", f"密码是{value}", f"PASSWORD = {value}"]), value
    if kind in ("code", "pin"):
        value = str(rng.randrange(100_000, 999_999))
        return rng.choice([f"verification code {value}", f"验证码：{value}", f"{value} is my OTP code"]), value
    card = rng.choice(CARDS)
    sep = rng.choice(["", " ", "-"])
    shown = sep.join(card[i : i + 4] for i in range(0, len(card), 4))
    return f"card {shown} was charged", card


def garbage(rng: random.Random) -> bytes:
    return bytes(rng.randrange(256) for _ in range(rng.randrange(0, 40)))


def mail(rng: random.Random, sentence: str) -> bytes:
    message = EmailMessage()
    message["From"], message["To"] = "a@example.com", "support@wallet.example"
    where = rng.choice(["body", "html", "attachment", "subject"])
    message["Subject"] = sentence if where == "subject" else "help"
    charset = rng.choice(["utf-8", "gbk", "big5", "gb18030"])
    cte = rng.choice(["base64", "quoted-printable", "8bit"])
    body = sentence if where == "body" else "please see"
    try:
        body.encode(charset)
    except UnicodeEncodeError:  # simplified Chinese has no Big5 form
        charset = "utf-8"
    message.set_content(body, charset=charset, cte=cte)
    if where == "html":
        message.add_alternative(f"<p>{sentence}</p>", subtype="html", cte=rng.choice(["base64", "quoted-printable"]))
    if where == "attachment":
        data = sentence.encode(rng.choice(["utf-8", "utf-16", "gbk"]))
        message.add_attachment(data, maintype="text", subtype="plain", filename="notes.txt")
    return bytes(message)


def nested(rng: random.Random, sentence: str, depth: int) -> object:
    if depth == 0:
        return sentence
    inner = nested(rng, sentence, depth - 1)
    return rng.choice([{"k" + str(depth): inner, "n": depth}, [depth, inner, None]])


@pytest.mark.parametrize("seed", range(ROUNDS))
def test_no_planted_secret_survives_any_payload(seed: int) -> None:
    rng = random.Random(seed)
    sentence, value = secret(rng)
    kind = rng.choice([PayloadKind.EMAIL, PayloadKind.JSON, PayloadKind.FORM])
    if kind is PayloadKind.EMAIL:
        payload = mail(rng, sentence)
    elif kind is PayloadKind.JSON:
        payload = json.dumps({"update_id": seed, "message": nested(rng, sentence, rng.randrange(0, 30))}).encode()
    else:
        payload = urlencode({"From": "+14155550100", "Body": sentence, "Sid": str(seed)}).encode()
    if rng.random() < 0.3:
        payload = garbage(rng) + payload + garbage(rng)  # no longer its format: masked as text
    masked = mask_payload(kind, payload)
    for view in views(masked.data):
        assert value.encode() not in view.replace(b" ", b"").replace(b"-", b""), (seed, kind, sentence)


@pytest.mark.parametrize("seed", range(50))
def test_masking_random_bytes_never_raises(seed: int) -> None:
    rng = random.Random(seed)
    payload = garbage(rng) * rng.randrange(1, 50)
    for kind in PayloadKind:
        assert isinstance(mask_payload(kind, payload).data, bytes)
