"""The attachment store's contract (record/attachment_store.py), the same on the folder and on an S3 bucket of a real
S3 server; what only the bucket has (object names under a prefix, other objects beside ours, an unreachable server);
moving attachments between the two backends; the settings that choose the backend."""

from __future__ import annotations

import base64
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from rq.registry import FailedJobRegistry, ScheduledJobRegistry
from sqlalchemy import func, select, update

from core.errors import SettingsError
from core.records import MessageState, utcnow
from core.settings import Settings, load_settings
from core.store import INBOUND_QUEUE, Store
from ingest.email.parse import parse_email
from record.attachment_folder import AttachmentFolder
from record.attachment_s3 import S3Attachments
from record.attachment_store import (
    AttachmentGone,
    AttachmentStoreUnavailable,
    copy_attachments,
    open_attachment_store,
)
from record.engine import engine_for
from record.models import AttachmentRow
from tests.record.conftest import Backend
from tests.record.test_contact_erase import cli, mail
from tests.record.test_retention import accept as accept_for_retention
from tests.support.ports import free_port
from tests.support.s3 import S3Server, on_s3
from tests.support.work import drain
from workers.retention import run_retention

ONE, TWO, THREE = "1" * 64, "2" * 64, "3" * 64
PDF = b"%PDF-1.4 a statement \x00\xff"


@pytest.fixture
def on_each_backend(settings: Settings, attachment_backend: Backend) -> Settings:
    return attachment_backend(settings)


def test_the_store_contract(on_each_backend: Settings) -> None:
    store = open_attachment_store(on_each_backend)
    assert list(store.refs()) == [] and not store.exists(ONE)
    with pytest.raises(AttachmentGone):
        store.get(ONE)
    store.put(TWO, b"two")
    store.put(ONE, PDF)
    store.put(ONE, PDF)  # the same ref again: still one
    assert store.get(ONE) == PDF and store.exists(ONE)
    assert list(store.refs()) == [ONE, TWO]  # sorted
    store.delete(ONE)
    store.delete(ONE)  # erasure and retention may run twice
    assert not store.exists(ONE) and list(store.refs()) == [TWO]
    with pytest.raises(AttachmentGone):
        store.get(ONE)
    with pytest.raises(ValueError, match="not an attachment reference"):
        store.put("../../etc/passwd", b"x")  # a ref names a file or an object: nothing else passes for one


def test_many_refs_go_in_one_call_in_batches_the_bucket_takes(
    on_each_backend: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("record.attachment_s3.DELETE_BATCH", 3)  # S3 takes 1,000 a request; 3 covers the batching
    store = open_attachment_store(on_each_backend)
    refs = [f"{n:x}" * 64 for n in range(1, 8)]
    for ref in refs:
        store.put(ref, PDF)
    store.delete(*refs[:5], "9" * 64)  # the last was never kept: no error
    assert list(store.refs()) == sorted(refs[5:])
    store.delete()  # nothing to delete: no request, no error
    assert list(store.refs()) == sorted(refs[5:])


def test_objects_are_named_under_the_prefix_and_other_objects_are_left_alone(
    settings: Settings, s3_server: S3Server
) -> None:
    bucket = s3_server.new_bucket()
    ours = open_attachment_store(on_s3(settings, s3_server.url, bucket, prefix="helpline/att/"))
    theirs = open_attachment_store(on_s3(settings, s3_server.url, bucket, prefix="other/"))
    assert isinstance(ours, S3Attachments) and ours.describe() == f"s3://{bucket}/helpline/att/"
    ours.put(ONE, PDF)
    theirs.put(TWO, b"someone else's")
    client = s3_server.client()
    client.put_object(Bucket=bucket, Key="helpline/att/README", Body=b"not an attachment")
    keys = sorted(item["Key"] for item in client.list_objects_v2(Bucket=bucket)["Contents"])
    assert keys == [f"helpline/att/{ONE}", "helpline/att/README", f"other/{TWO}"]
    assert client.get_object(Bucket=bucket, Key=f"helpline/att/{ONE}")["Body"].read() == PDF
    assert list(ours.refs()) == [ONE] and list(theirs.refs()) == [TWO]
    assert not ours.exists(TWO)


def test_copy_moves_attachments_between_the_backends(tmp_path: Path, settings: Settings, s3_server: S3Server) -> None:
    folder = AttachmentFolder(tmp_path / "folder")
    bucket = open_attachment_store(on_s3(settings, s3_server.url, s3_server.new_bucket()))
    folder.put(ONE, PDF)
    folder.put(TWO, b"two")
    bucket.put(THREE, b"only in the bucket")
    assert copy_attachments(folder, bucket, replace=True) == 2
    assert list(bucket.refs()) == [ONE, TWO] and bucket.get(ONE) == PDF  # exactly the folder's
    back = AttachmentFolder(tmp_path / "back")
    assert copy_attachments(bucket, back) == 2 and back.get(ONE) == PDF and list(back.refs()) == [ONE, TWO]


def test_an_unreachable_bucket_pauses_the_pipeline_job_until_it_is_back(
    store: Store, settings: Settings, s3_server: S3Server
) -> None:
    live = on_s3(settings, s3_server.url, s3_server.new_bucket())
    down = on_s3(settings, f"http://127.0.0.1:{free_port()}", "nowhere")  # nothing listens there
    down = down.model_copy(
        update={"attachments": down.attachments.model_copy(
            update={"s3": down.attachments.s3.model_copy(update={"timeout_seconds": 0.5})})}
    )  # fmt: skip
    with pytest.raises(AttachmentStoreUnavailable, match="unreachable"):
        open_attachment_store(down).put(ONE, PDF)

    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = "alice@example.com", "support@wallet.example", "statement"
    mail["Message-ID"] = "<bucket-down@mail.example>"
    mail.set_content("Here it is.")
    mail.add_attachment(PDF, maintype="application", subtype="pdf", filename="statement.pdf")
    message_id = store.accept(parse_email(bytes(mail)), bytes(mail)).message_id

    drain(down)  # the content cannot be written: the job pauses instead of failing (no RQ retry spent)
    held = store.get_message(message_id)
    assert held is not None and held.state is MessageState.RECEIVED
    assert held.envelope.attachments[0].content_b64 == base64.b64encode(PDF).decode()  # still in Redis, not lost
    inbound = store.queue(INBOUND_QUEUE)
    assert ScheduledJobRegistry(queue=inbound).count == 1 and FailedJobRegistry(queue=inbound).count == 0  # type: ignore[no-untyped-call]

    drain(live, include_scheduled=True)  # the bucket is back: the paused job goes through
    routed = store.get_message(message_id)
    assert routed is not None and routed.state is MessageState.ROUTED
    ref = routed.envelope.attachments[0].ref
    assert ref is not None and routed.envelope.attachments[0].content_b64 is None
    assert open_attachment_store(live).get(ref) == PDF
    engine = engine_for(settings.database.url or "")
    try:
        with engine.connect() as connection:
            assert connection.scalar(select(func.count()).select_from(AttachmentRow)) == 1  # written once
    finally:
        engine.dispose()


def test_the_settings_that_choose_the_backend(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    file = tmp_path / "settings.toml"
    file.write_text('[attachments]\nbackend = "s3"\n', encoding="utf-8")
    with pytest.raises(SettingsError, match=r"attachments\.s3\.bucket"):
        load_settings(file)
    file.write_text('[attachments]\nbackend = "s3"\n[attachments.s3]\nsecret_access_key = "x"\n', encoding="utf-8")
    with pytest.raises(SettingsError, match="HELPLINE_ATTACHMENTS__S3__SECRET_ACCESS_KEY"):
        load_settings(file)  # a secret in the file is refused, with the variable to use instead
    file.write_text(
        '[attachments]\nbackend = "s3"\n[attachments.s3]\nbucket = "b"\naccess_key_id = "AKIA"\n', encoding="utf-8"
    )
    with pytest.raises(SettingsError, match="go together"):
        load_settings(file)  # a key id without its secret
    monkeypatch.setenv("HELPLINE_ATTACHMENTS__S3__SECRET_ACCESS_KEY", "s3cr3t")
    monkeypatch.setenv("HELPLINE_ATTACHMENTS__S3__ENDPOINT_URL", "http://127.0.0.1:9000")
    loaded = load_settings(file)
    s3 = loaded.attachments.s3
    assert (loaded.attachments.backend, s3.bucket, s3.key_prefix, s3.endpoint_url) == (
        "s3", "b", "attachments/", "http://127.0.0.1:9000"
    )  # fmt: skip
    assert s3.secret_access_key is not None and s3.secret_access_key.get_secret_value() == "s3cr3t"
    store = open_attachment_store(loaded)
    assert isinstance(store, S3Attachments) and store.describe() == "s3://b/attachments/"


def test_an_erasure_the_bucket_cannot_follow_stops_before_the_record_and_finishes_when_run_again(
    store: Store, settings: Settings, s3_server: S3Server
) -> None:
    live = on_s3(settings, s3_server.url, s3_server.new_bucket())
    down = on_s3(settings, f"http://127.0.0.1:{free_port()}", "nowhere")
    store.accept(parse_email(mail("dora@example.com", 7, "my card", name="Dora")), b"raw")
    drain(live)
    bucket = open_attachment_store(live)
    assert len(list(bucket.refs())) == 1

    failed = cli(down, "erase", "dora@example.com")
    assert failed.exit_code == 1 and "unreachable" in failed.output
    assert len(list(bucket.refs())) == 1  # nothing was erased in the record: it still knows her and her file

    done = cli(live, "erase", "dora@example.com")
    assert done.exit_code == 0, done.output
    assert list(bucket.refs()) == []


def test_a_retention_pass_the_bucket_cannot_follow_changes_nothing_and_the_next_one_does_it(
    store: Store, settings: Settings, s3_server: S3Server
) -> None:
    live = on_s3(settings, s3_server.url, s3_server.new_bucket())
    down = on_s3(settings, f"http://127.0.0.1:{free_port()}", "nowhere")
    message_id = accept_for_retention(store, "erin@example.com", 8, "a question", PDF)
    drain(live)
    now = utcnow()
    engine = engine_for(settings.database.url or "")
    try:
        with engine.begin() as connection:
            connection.execute(update(AttachmentRow).values(stored_at=now - timedelta(days=400)))
        with pytest.raises(AttachmentStoreUnavailable):
            run_retention(down, store, now, engine=engine)
        with engine.connect() as connection:  # rolled back: the row still points at the content, which is still there
            ref = connection.scalar(select(AttachmentRow.ref).where(AttachmentRow.message_id == message_id))
        assert ref is not None and open_attachment_store(live).exists(ref)
        assert run_retention(live, store, now, engine=engine).counts()["attachments"] == 1
        assert list(open_attachment_store(live).refs()) == []
    finally:
        engine.dispose()
