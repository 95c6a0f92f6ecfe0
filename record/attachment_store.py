"""Where attachments' content is kept: one small protocol, two backends, chosen by `[attachments] backend`.

- `folder` (record/attachment_folder.py): files under `[attachments] dir`, the default.
- `s3` (record/attachment_s3.py): objects in an S3-compatible bucket (`[attachments.s3]`), through boto3.

Everything that reads or writes attachments' content goes through `AttachmentStore`: the pipeline's record step
(put), `helpline agent attachment` (get), erasure and retention (delete), backup and restore (refs, get, put,
delete). Content is named by its `ref` (record/attachments.py: the SHA-256 of the owner's salt and the content), so
a put of a name that exists writes the same bytes again, and every operation is safe to repeat.

Errors: `AttachmentGone` (a LookupError) when a ref has no content (erased, past its retention);
`AttachmentStoreError` when the store refuses (no such bucket, access denied), and its subclass
`AttachmentStoreUnavailable` when the store cannot be reached now (the bucket's server down or timing out): the
pipeline treats that one like an unreachable record and pauses the job instead of spending its retries. A folder's
own OSErrors (a full disk, a permission) are raised as they are.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from core.settings import Settings

REF_DIGITS = 64
_HEX = frozenset("0123456789abcdef")


class AttachmentGone(LookupError):
    """No content under this ref: it was erased, or removed by retention (or never written)."""


class AttachmentStoreError(Exception):
    """The store refused the operation (its message says why: no such bucket, access denied...)."""


class AttachmentStoreUnavailable(AttachmentStoreError):
    """The store cannot be reached now; the operation may succeed later."""


def is_ref(name: str) -> bool:
    return len(name) == REF_DIGITS and all(c in _HEX for c in name)


def check_ref(ref: str) -> str:
    """The ref itself, or ValueError: a ref names a file or an object, so nothing else may pass for one."""
    if not is_ref(ref):
        raise ValueError(f"not an attachment reference: {ref!r}")
    return ref


class AttachmentStore(Protocol):
    """Attachments' content by ref. Implementations raise `AttachmentStoreUnavailable` for a store that is away."""

    def put(self, ref: str, content: bytes) -> None:
        """Keep `content` under `ref`, durably once this returns; a ref already kept is left as it is."""

    def get(self, ref: str) -> bytes:
        """The content; `AttachmentGone` when there is none."""

    def delete(self, *refs: str) -> None:
        """Remove the refs' content (a bucket takes up to a thousand in one request); a ref with none is not an
        error (erasure and retention may run twice)."""

    def exists(self, ref: str) -> bool: ...

    def refs(self) -> Iterator[str]:
        """Every ref kept (backup, restore, tests and audits); names that are not refs are skipped."""

    def describe(self) -> str:
        """Where the content lives, for people: a folder's path, `s3://bucket/prefix`."""


def open_attachment_store(settings: Settings) -> AttachmentStore:
    """The store `[attachments]` names. boto3 is imported only for the s3 backend (it costs a moment to load)."""
    if settings.attachments.backend == "s3":
        from record.attachment_s3 import S3Attachments

        return S3Attachments.from_settings(settings.attachments.s3)
    from record.attachment_folder import AttachmentFolder

    return AttachmentFolder(settings.attachments.dir)


def attachment_location(settings: Settings) -> str:
    """Where `[attachments]` keeps the content, in words, without connecting (the ready block)."""
    attachments = settings.attachments
    if attachments.backend == "s3":
        s3 = attachments.s3
        server = s3.endpoint_url or f"AWS S3, {s3.region}"
        return f"s3://{s3.bucket}/{s3.key_prefix} ({server})"
    return f"folder {attachments.dir}"


def copy_attachments(source: AttachmentStore, target: AttachmentStore, *, replace: bool = False) -> int:
    """Copy every ref of `source` into `target` (backup, restore, a move between backends); with `replace`, refs in
    `target` that `source` does not hold are deleted first, so `target` ends up holding exactly `source`'s. Returns
    how many were copied."""
    wanted = set(source.refs())
    if replace:
        target.delete(*(ref for ref in list(target.refs()) if ref not in wanted))
    for ref in sorted(wanted):
        target.put(ref, source.get(ref))
    return len(wanted)
