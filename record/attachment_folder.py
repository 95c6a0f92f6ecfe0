"""The folder backend of the attachment store (`[attachments] backend = "folder"`, the default): one file per ref
under `[attachments] dir`, in two levels of 0700 folders named after the ref's first digits (`ab/cd/abcd…`), so
no folder grows past a few thousand entries. Files are written atomically: a temporary file, fsync, rename."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from record.attachment_store import AttachmentGone, check_ref, is_ref


class AttachmentFolder:
    """Attachments' content as files in a folder."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path(self, ref: str) -> Path:
        check_ref(ref)
        return self.root / ref[:2] / ref[2:4] / ref

    def put(self, ref: str, content: bytes) -> None:
        target = self.path(ref)
        if target.exists():
            return  # the same owner's same content: the name says so
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        try:
            with os.fdopen(handle, "wb") as file:
                file.write(content)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def get(self, ref: str) -> bytes:
        try:
            return self.path(ref).read_bytes()
        except FileNotFoundError as exc:
            raise AttachmentGone(ref) from exc

    def delete(self, *refs: str) -> None:
        for ref in refs:
            self.path(ref).unlink(missing_ok=True)

    def exists(self, ref: str) -> bool:
        return self.path(ref).is_file()

    def refs(self) -> Iterator[str]:
        return iter(sorted(p.name for p in self.root.glob("??/??/*") if is_ref(p.name)))

    def describe(self) -> str:
        return str(self.root)
