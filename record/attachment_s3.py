"""The S3 backend of the attachment store (`[attachments] backend = "s3"`, `[attachments.s3]`): one object per ref,
named `<key_prefix><ref>`, in a bucket of AWS S3 or of an S3-compatible server (MinIO, Ceph, Cloudflare R2...).

boto3 is the client: AWS's own, the reference every S3-compatible server tests against, with request signing,
retries (standard mode: three attempts with backoff, on throttling and 5xx too) and its credential chain.
An object is whole once `PutObject` returns (S3 has no partial objects), so no temporary name is needed. The
bucket's own settings (encryption at rest, versioning, lifecycle rules, replication) are the operator's; Helpline
only needs `s3:PutObject`, `s3:GetObject`, `s3:DeleteObject` (which `DeleteObjects` also asks for) and
`s3:ListBucket` on it.

A server that cannot be reached (refused, timed out, a connection dropped, a 5xx after the retries) raises
`AttachmentStoreUnavailable`; an answer that says the request is wrong (no such bucket, access denied) raises
`AttachmentStoreError` with S3's code and message, since waiting would not mend it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from core.settings import S3AttachmentsSettings
from record.attachment_store import (
    AttachmentGone,
    AttachmentStoreError,
    AttachmentStoreUnavailable,
    check_ref,
    is_ref,
)

_MISSING = {"NoSuchKey", "404", "NotFound"}
DELETE_BATCH = 1000  # the most keys S3's DeleteObjects takes in one request


class S3Attachments:
    """Attachments' content as objects in a bucket."""

    def __init__(self, client: Any, bucket: str, prefix: str = "") -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix

    @classmethod
    def from_settings(cls, s3: S3AttachmentsSettings) -> S3Attachments:
        if not s3.bucket:
            raise ValueError("attachments.s3.bucket is not set")
        config = Config(
            connect_timeout=s3.timeout_seconds,
            read_timeout=s3.timeout_seconds,
            retries={"max_attempts": 3, "mode": "standard"},
            s3={"addressing_style": s3.addressing_style},
        )
        # A session of its own: boto3's default session is shared module state, and not safe across threads.
        client = boto3.session.Session().client(
            "s3",
            endpoint_url=s3.endpoint_url,
            region_name=s3.region,
            aws_access_key_id=s3.access_key_id,
            aws_secret_access_key=s3.secret_access_key.get_secret_value() if s3.secret_access_key else None,
            config=config,
        )
        return cls(client, s3.bucket, s3.key_prefix)

    def key(self, ref: str) -> str:
        return self.prefix + check_ref(ref)

    def put(self, ref: str, content: bytes) -> None:
        # The same ref is the same owner's same content: writing it again changes nothing, and costs no more than
        # the HEAD that would avoid it.
        with _reachable():
            self.client.put_object(
                Bucket=self.bucket, Key=self.key(ref), Body=content, ContentType="application/octet-stream"
            )

    def get(self, ref: str) -> bytes:
        with _reachable():
            try:
                answer = self.client.get_object(Bucket=self.bucket, Key=self.key(ref))
            except ClientError as exc:
                if _missing(exc):
                    raise AttachmentGone(ref) from exc
                raise
            return bytes(answer["Body"].read())

    def delete(self, *refs: str) -> None:
        """`DeleteObjects`, a thousand keys a request (S3's limit): a retention pass or an erasure with many
        attachments makes one request per thousand, not one each. A key that is not there is no error; a key S3
        could not delete (its answer lists it under `Errors`) fails the call, as one `DeleteObject` would."""
        keys = [self.key(ref) for ref in refs]
        for start in range(0, len(keys), DELETE_BATCH):
            batch = [{"Key": key} for key in keys[start : start + DELETE_BATCH]]
            with _reachable():
                answer = self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})
            errors = answer.get("Errors") or []
            if errors:
                first = errors[0]
                raise AttachmentStoreError(
                    f"the attachment bucket did not delete {len(errors)} of {len(batch)} objects, e.g. "
                    f"{first.get('Key')}: {first.get('Code')} {first.get('Message')}"
                )

    def exists(self, ref: str) -> bool:
        with _reachable():
            try:
                self.client.head_object(Bucket=self.bucket, Key=self.key(ref))
            except ClientError as exc:
                if _missing(exc):
                    return False
                raise
            return True

    def refs(self) -> Iterator[str]:
        with _reachable():
            found: list[str] = []
            for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.prefix):
                for item in page.get("Contents", []):
                    name = str(item["Key"])[len(self.prefix) :]
                    if is_ref(name):  # the prefix may hold other things (its own sub-prefixes, a marker file)
                        found.append(name)
        return iter(sorted(found))

    def describe(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"


def _missing(exc: ClientError) -> bool:
    return str(exc.response.get("Error", {}).get("Code", "")) in _MISSING


@contextmanager
def _reachable() -> Iterator[None]:
    """Translate "the server is away" into AttachmentStoreUnavailable, once boto3's own retries are spent."""
    try:
        yield
    except (BotoConnectionError, HTTPClientError) as exc:
        raise AttachmentStoreUnavailable(f"the attachment bucket is unreachable: {exc}") from exc
    except ClientError as exc:
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
        if status >= 500:
            raise AttachmentStoreUnavailable(f"the attachment bucket's server failed: {exc}") from exc
        raise AttachmentStoreError(f"the attachment bucket refused: {exc}") from exc
