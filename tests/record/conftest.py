"""The attachment backends, for the tests of everything that reads or writes attachments' content: a module that
overrides `settings` with `attachment_backend` runs each of its tests once on the folder and once on a bucket of a
real S3 server (tests/support/s3.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from core.settings import Settings
from tests.support.s3 import S3Server, on_s3

Backend = Callable[[Settings], Settings]


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    server = S3Server().start()
    yield server
    server.stop()


@pytest.fixture(params=["folder", "s3"])
def attachment_backend(request: pytest.FixtureRequest) -> Backend:
    """Turns test settings into settings on this backend: the folder as they are, or a fresh bucket of its own."""
    if request.param == "folder":
        return lambda settings: settings
    server: S3Server = request.getfixturevalue("s3_server")  # started only when an S3 case runs
    bucket = server.new_bucket()
    return lambda settings: on_s3(settings, server.url, bucket)
