"""Fixtures for media tests: a moto S3 server over real HTTP, and a store of each backend."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from moto.server import ThreadedMotoServer

from media.store import LocalStore, MediaStore, S3Store

__all__ = ["moto_endpoint"]

SIGNING_SECRET = "test-signing-secret-0123456789"


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """A moto S3 server on a free loopback port, for the whole session; yields its URL."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def make_s3_store(endpoint: str, **kwargs: object) -> S3Store:
    """An `S3Store` on the moto server in a fresh bucket."""
    return S3Store(
        f"test-{secrets.token_hex(6)}",
        "media",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        create_bucket=True,
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MediaStore]:
    """Each backend in turn: a fresh folder, or a fresh bucket on the moto server."""
    media_store: MediaStore
    if request.param == "local":
        media_store = LocalStore(tmp_path / "media", signing_secret=SIGNING_SECRET)
    else:
        media_store = make_s3_store(request.getfixturevalue("moto_endpoint"))
    try:
        yield media_store
    finally:
        media_store.close()


def stored_keys(media_store: MediaStore) -> set[str]:
    """Every object, staging file, part and pending multipart upload the backend holds."""
    found: set[str] = set()
    if isinstance(media_store, LocalStore):
        for path in media_store.root.rglob("*"):
            if path.is_file():
                found.add(str(path.relative_to(media_store.root)))
        return found
    assert isinstance(media_store, S3Store)
    client = media_store.client
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=media_store.bucket):
        found.update(obj["Key"] for obj in page.get("Contents", []))
    uploads = client.list_multipart_uploads(Bucket=media_store.bucket)
    found.update(f"multipart:{u['Key']}" for u in uploads.get("Uploads", []))
    return found
