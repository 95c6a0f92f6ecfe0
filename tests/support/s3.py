"""A real S3 server for the S3 attachment backend: moto's (`moto[server]`), an HTTP server in a thread of the test
process on a free port, spoken to through boto3 over the network like any S3-compatible server. No in-process
mocking: the requests are signed, sent, parsed and answered. One server per test session; a bucket per test."""

from __future__ import annotations

import uuid
from typing import Any

import boto3
from moto.server import ThreadedMotoServer
from pydantic import SecretStr

from core.settings import Settings
from tests.support.ports import free_port, wait_for_greeting

ACCESS_KEY_ID = "helpline-test"
SECRET_ACCESS_KEY = "helpline-test-secret"  # moto accepts any key; these only have to be the same everywhere
REGION = "us-east-1"


class S3Server:
    def __init__(self) -> None:
        self.port = free_port()
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> S3Server:
        self._server.start()
        wait_for_greeting(self.port, b"")
        return self

    def stop(self) -> None:
        self._server.stop()

    def client(self) -> Any:
        return boto3.session.Session().client(
            "s3", endpoint_url=self.url, region_name=REGION,
            aws_access_key_id=ACCESS_KEY_ID, aws_secret_access_key=SECRET_ACCESS_KEY,
        )  # fmt: skip

    def new_bucket(self) -> str:
        name = f"hl-{uuid.uuid4().hex[:16]}"
        self.client().create_bucket(Bucket=name)
        return name


def on_s3(settings: Settings, endpoint_url: str, bucket: str, prefix: str = "attachments/") -> Settings:
    """`settings` with the S3 attachment backend, pointed at `bucket` on the server at `endpoint_url`."""
    s3 = settings.attachments.s3.model_copy(
        update={
            "bucket": bucket, "key_prefix": prefix, "endpoint_url": endpoint_url, "region": REGION,
            "access_key_id": ACCESS_KEY_ID, "secret_access_key": SecretStr(SECRET_ACCESS_KEY),
            "timeout_seconds": 5.0,
        }
    )  # fmt: skip
    return settings.model_copy(
        update={"attachments": settings.attachments.model_copy(update={"backend": "s3", "s3": s3})}
    )


def attachments_env(settings: Settings) -> dict[str, str]:
    """The environment that gives a `helpline` command (CliRunner, a subprocess) the attachment store of `settings`."""
    attachments = settings.attachments
    env = {"HELPLINE_ATTACHMENTS__BACKEND": attachments.backend, "HELPLINE_ATTACHMENTS__DIR": str(attachments.dir)}
    if attachments.backend == "s3":
        s3 = attachments.s3
        env |= {
            "HELPLINE_ATTACHMENTS__S3__BUCKET": s3.bucket or "",
            "HELPLINE_ATTACHMENTS__S3__KEY_PREFIX": s3.key_prefix,
            "HELPLINE_ATTACHMENTS__S3__ENDPOINT_URL": s3.endpoint_url or "",
            "HELPLINE_ATTACHMENTS__S3__REGION": s3.region,
            "HELPLINE_ATTACHMENTS__S3__ACCESS_KEY_ID": s3.access_key_id or "",
            "HELPLINE_ATTACHMENTS__S3__SECRET_ACCESS_KEY": s3.secret_access_key.get_secret_value()
            if s3.secret_access_key
            else "",
        }
    return env
