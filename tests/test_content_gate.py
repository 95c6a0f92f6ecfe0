"""The store's gate (core/content_gate.py) and the payload masker behind it (core/payload_masking.py): what is
masked, what is kept as it came, and that a masked dead letter still replays."""

from __future__ import annotations

import base64
import json
from email import message_from_bytes
from email.message import EmailMessage, Message
from email.policy import default
from urllib.parse import parse_qsl, urlencode

import pytest

from core.content_gate import mask_envelope, seal_message
from core.envelope import Attachment, Channel, Envelope, Party
from core.payload_masking import PayloadKind, mask_file, mask_payload
from core.records import StoredMessage
from core.settings import Settings
from core.store import Store
from workers.replay import replay_dead_letters

CARD, CODE, PASSWORD = "4111 1111 1111 1111", "482913", "Hunter2Zebra"


def email(text: str = "hello", **fields: object) -> Envelope:
    fields.setdefault("sender", Party(address="a@example.com"))
    return Envelope(channel=Channel.EMAIL, provider_id="<a@example.com>", text=text, **fields)


def encoded_mail() -> bytes:
    """Secrets that only show once decoded: base64 bodies (one in GBK) and an RFC 2047 subject."""
    mail = EmailMessage()
    mail["From"], mail["To"] = "Li <li@example.com>", "support@wallet.example"
    mail["Subject"] = f"验证码{CODE}"
    mail["Message-ID"] = "<enc-1@example.com>"
    mail.set_content(f"我的密码是{PASSWORD}，卡号 {CARD}", charset="gbk", cte="base64")
    mail.add_alternative(f"<p>card {CARD}</p>", subtype="html", cte="base64")
    return bytes(mail)


def decoded_texts(raw: bytes) -> str:
    message = message_from_bytes(raw, policy=default)
    parts = [part.get_content() for part in message.walk() if part.get_content_maintype() == "text"]
    return str(message["Subject"]) + "\n" + "\n".join(parts)


# ---- payloads -------------------------------------------------------------------------------------------------------


def test_a_mail_is_masked_inside_its_encoded_parts_and_headers() -> None:
    raw = encoded_mail()
    assert all(secret not in raw for secret in (PASSWORD.encode(), CODE.encode(), b"card"))  # all of it encoded
    masked = mask_payload(PayloadKind.EMAIL, raw)
    assert sorted(masked.kinds) == ["card_number", "one_time_code", "password"]
    texts = decoded_texts(masked.data)
    assert all(secret not in texts.replace(" ", "") for secret in (CODE, PASSWORD, CARD.replace(" ", "")))
    assert "验证码******" in texts and "我的密码是********" in texts and "**** **** **** 1111" in texts
    assert message_from_bytes(masked.data)["Message-ID"] == "<enc-1@example.com>"  # threading and dedupe intact


def test_a_mail_that_is_no_mail_keeps_every_byte_but_the_secret() -> None:
    raw = b"hello support\r\nmy password: " + PASSWORD.encode() + b"\r\n\xff\xfe binary tail\r\n"
    masked = mask_payload(PayloadKind.EMAIL, raw)
    assert masked.data == raw.replace(PASSWORD.encode(), b"********")


def test_a_clean_payload_is_kept_as_it_came() -> None:
    raw = encoded_mail().replace(b"Subject:", b"X-Old-Subject:")
    clean = EmailMessage()
    clean["From"], clean["Subject"] = "a@example.com", "top-up"
    clean.set_content("my top-up failed", cte="base64")
    for kind, payload in [(PayloadKind.EMAIL, bytes(clean)), (PayloadKind.FORM, b"Body=hi+there&From=%2B1415"),
                          (PayloadKind.JSON, b'{"a": "b"}'), (PayloadKind.TEXT, b"\xff\x00")]:  # fmt: skip
        result = mask_payload(kind, payload)
        assert (result.data, result.kinds) == (payload, [])
    assert mask_payload(PayloadKind.EMAIL, raw).found  # the body still holds its secrets


def test_a_form_keeps_every_field_with_its_values_masked() -> None:
    form = {"Body": f"card {CARD}", "From": "+14155550100", "MessageSid": "SM1"}
    masked = mask_payload(PayloadKind.FORM, urlencode(form).encode())
    assert dict(parse_qsl(masked.data.decode())) == form | {"Body": "card **** **** **** 1111"}


def test_json_is_masked_at_any_depth_and_too_deep_json_as_text() -> None:
    update = {
        "update_id": 1,
        "message": {"reply_to_message": {"text": f"OTP {CODE}"}, "entities": [f"pwd: {PASSWORD}"]},
    }
    masked = mask_payload(PayloadKind.JSON, json.dumps(update).encode())
    data = json.loads(masked.data)
    assert data["message"]["reply_to_message"]["text"] == "OTP ******"
    assert data["message"]["entities"] == ["pwd: ********"]
    deep = ("[" * 100_000 + f'"OTP {CODE}"' + "]" * 100_000).encode()  # json.loads gives up (RecursionError)
    masked = mask_payload(PayloadKind.JSON, deep)
    assert CODE.encode() not in masked.data and masked.kinds == ["one_time_code"]


def test_files_text_is_masked_binary_is_not_scanned() -> None:
    assert mask_file(f"pin code: {CODE}".encode("utf-16"), "text/plain").kinds == ["one_time_code"]
    assert mask_file(f"card {CARD}".encode(), "application/octet-stream").kinds == ["card_number"]  # unlabelled .txt
    png = b"\x89PNG\r\n\x1a\n\x00\x00" + f"card {CARD}".encode()
    assert mask_file(png, "image/png").data == png


# ---- envelopes and messages -----------------------------------------------------------------------------------------


def test_secrets_only_in_the_html_an_attachment_or_a_name_are_masked() -> None:
    notes = Attachment(filename="notes.txt", content_type="text/plain",
                       content_b64=base64.b64encode(f"verification code {CODE}".encode()).decode())  # fmt: skip
    photo = Attachment(
        filename="card.jpg", content_type="image/jpeg", content_b64=base64.b64encode(b"\xff\xd8").decode()
    )
    envelope = email(
        "please see the formatted version",
        sender=Party(address="a@example.com", name=f"password: {PASSWORD}"),
        attachments=[notes, photo],
        extras={"html": f"<td>Password:</td><td>{PASSWORD}</td>"},
    )
    sealed = mask_envelope(envelope)
    assert sealed.extras["html"] is None  # dropped: masking inside markup is not worth a miss
    assert sealed.sender.name == "password: ********" and sealed.sender.address == "a@example.com"
    kept = sealed.attachments[0].content_b64
    assert kept is not None and base64.b64decode(kept) == b"verification code ******"
    assert sealed.attachments[1] == photo
    assert sealed.extras["masked"] == ["one_time_code", "password"]
    assert mask_envelope(sealed) == sealed  # idempotent: sealing again on every update changes nothing


def test_a_clean_message_is_not_touched() -> None:
    envelope = email("my top-up of 100 failed", extras={"html": "<p>my top-up of 100 failed</p>"})
    assert mask_envelope(envelope) is envelope


def test_notes_are_masked_and_the_kinds_accumulate() -> None:
    first = seal_message(StoredMessage(id="m1", envelope=email(f"code: {CODE}")))
    assert first.envelope.extras["masked"] == ["one_time_code"]
    changed = first.model_copy(deep=True)
    changed.notes.append(f"the customer said the card was {CARD}")
    second = seal_message(changed, first)
    assert second.notes == ["the customer said the card was **** **** **** 1111"]
    assert second.envelope.extras["masked"] == ["card_number", "one_time_code"]


# ---- in the store ---------------------------------------------------------------------------------------------------


def test_every_update_of_a_stored_message_goes_through_the_gate(store: Store) -> None:
    accepted = store.accept(email("hello"), b"Subject: hi\r\n\r\nhello\r\n")
    assert store.get_raw(accepted.message_id) == b"Subject: hi\r\n\r\nhello\r\n"  # clean: kept as it came

    def edit(message: StoredMessage) -> None:
        message.envelope.text = f"sorry, my password is {PASSWORD}"

    returned = store.update_message(accepted.message_id, edit)
    stored = store.get_message(accepted.message_id)
    assert stored is not None and stored == returned
    assert stored.envelope.text == "sorry, my password is ********"
    assert stored.envelope.extras["masked"] == ["password"]


def test_the_raw_copy_is_dropped_when_only_the_payload_carried_a_secret(store: Store) -> None:
    raw = json.dumps({"update_id": 5, "message": {"text": "see above", "reply_to_message": {"text": f"OTP {CODE}"}}})
    envelope = Envelope(channel=Channel.TELEGRAM, provider_id="5", sender=Party(address="1"), text="see above")
    accepted = store.accept(envelope, raw.encode())
    stored = store.get_message(accepted.message_id)
    assert store.get_raw(accepted.message_id) == b""
    assert (
        stored is not None and stored.envelope.extras["raw_discarded"] == "the payload carried a secret (one_time_code)"
    )


def test_a_masked_dead_letter_mail_replays_into_a_masked_message(store: Store, settings: Settings) -> None:
    letter_id = store.dead_letter(Channel.EMAIL, encoded_mail(), f"parser crashed: ValueError('password: {PASSWORD}')",
                                  {"mail_from": "li@example.com", "rcpt_tos": ["support@wallet.example"]})  # fmt: skip
    (letter,) = store.dead_letters()
    assert PASSWORD not in letter.error and "password: ********" in letter.error  # an error can quote the customer
    assert letter.meta["masked"] == ["card_number", "one_time_code", "password"]
    assert letter.meta["rcpt_tos"] == ["support@wallet.example"]
    kept = store.dead_letter_raw(letter_id)
    assert kept is not None and PASSWORD not in decoded_texts(kept)

    assert replay_dead_letters(settings, [letter_id], list_only=False, echo=lambda line: None)
    (message_id,) = store.message_ids()
    message = store.get_message(message_id)
    assert message is not None and message.envelope.message_id == "enc-1@example.com"
    assert message.envelope.subject == "验证码******"
    assert "我的密码是********" in message.envelope.text and "**** **** **** 1111" in message.envelope.text
    # The kinds the gate masked in the payload are carried over: the acknowledgement warns the customer.
    assert message.envelope.extras["masked"] == ["card_number", "one_time_code", "password"]


def test_a_masked_twilio_dead_letter_replays(store: Store, settings: Settings) -> None:
    form = {"MessageSid": "SM9", "From": "+14155550100", "To": "+15017122661", "Body": f"my OTP is {CODE}"}
    store.dead_letter(Channel.SMS, urlencode(form).encode(), "unusable", {"endpoint": "/twilio/sms", "query": {}})
    assert replay_dead_letters(settings, [], list_only=False, echo=lambda line: None)
    (message_id,) = store.message_ids()
    message = store.get_message(message_id)
    assert message is not None and message.envelope.text == "my OTP is ******"


def test_a_mail_too_broken_to_write_back_keeps_its_headers_and_masked_text(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> bytes:
        raise ValueError("the generator chokes")  # what compat32 does on some malformed mail

    raw = encoded_mail()
    monkeypatch.setattr(Message, "as_bytes", refuse)
    masked = mask_payload(PayloadKind.EMAIL, raw)
    monkeypatch.undo()
    assert sorted(masked.kinds) == ["card_number", "one_time_code", "password"]
    flat = message_from_bytes(masked.data, policy=default)
    assert flat["Message-ID"] == "<enc-1@example.com>" and flat.get_content_type() == "text/plain"
    assert "我的密码是********" in flat.get_content() and "card **** **** **** 1111" in flat.get_content()
    assert PASSWORD not in decoded_texts(masked.data) and CODE not in decoded_texts(masked.data)


def test_the_gate_reuses_the_parsers_reading_of_a_mail_and_masks_the_same() -> None:
    """`parse_email` offers its compat32 reading of the mail to the gate (no second parse when the mail is stored
    right after): masking it finds and rewrites exactly what a fresh parse would, and only that very mail uses it."""
    from core import payload_masking
    from ingest.email.parse import parse_email

    raw = encoded_mail()
    fresh = mask_payload(PayloadKind.EMAIL, raw)
    parse_email(raw)
    offered = payload_masking._parsed_mail.get()
    assert offered is not None and offered[0] is raw
    reused = mask_payload(PayloadKind.EMAIL, raw)
    assert (reused.data, reused.kinds) == (fresh.data, fresh.kinds)
    assert payload_masking._parsed_mail.get() is None  # taken once: the gate rewrote the parts it masked
    parse_email(raw)
    other = bytes(bytearray(raw))  # equal bytes, another object: parsed afresh, and the offer is dropped
    assert other is not raw
    assert mask_payload(PayloadKind.EMAIL, other).data == fresh.data and payload_masking._parsed_mail.get() is None
