"""The contract every media backend passes (run once per backend by the ``store`` fixture)."""

from __future__ import annotations

import hashlib
import io
import os
import time
import urllib.parse
import urllib.request

import pytest

from media.store import (
    ContentMismatch,
    InvalidKey,
    LocalStore,
    MediaStore,
    ObjectNotFound,
    Part,
    S3Store,
    SignatureRejected,
    open_store,
    sha256_hex,
)
from tests.media.conftest import SIGNING_SECRET, stored_keys


def _blob(size: int, seed: int = 0) -> bytes:
    return hashlib.shake_256(f"{seed}:{size}".encode()).digest(size)


def test_put_get_roundtrip(store: MediaStore) -> None:
    data = _blob(1000)
    key = sha256_hex(data)
    assert not store.exists(key)
    assert store.put(key, data, content_type="image/jpeg") is True
    assert store.exists(key)
    assert store.size(key) == 1000
    assert store.get(key) == data
    with store.open(key) as stream:
        assert stream.read(10) == data[:10]
    assert store.verify(key)


def test_put_is_idempotent(store: MediaStore) -> None:
    data = _blob(300)
    key = sha256_hex(data)
    assert store.put(key, data) is True
    assert store.put(key, data) is False
    assert store.put(key, io.BytesIO(data)) is False
    assert store.get(key) == data


def test_put_stream(store: MediaStore) -> None:
    data = _blob(3 * 1024 * 1024 + 7)
    key = sha256_hex(data)
    assert store.put(key, io.BytesIO(data)) is True
    assert store.get(key) == data


def test_put_rejects_wrong_content_and_leaves_nothing(store: MediaStore) -> None:
    data = _blob(100)
    wrong = sha256_hex(b"something else")
    before = stored_keys(store)
    with pytest.raises(ContentMismatch):
        store.put(wrong, data)
    with pytest.raises(ContentMismatch):
        store.put(wrong, io.BytesIO(data))
    assert not store.exists(wrong)
    assert stored_keys(store) == before


def test_empty_object(store: MediaStore) -> None:
    key = sha256_hex(b"")
    assert store.put(key, b"") is True
    assert store.size(key) == 0
    assert store.get(key) == b""


def test_missing_object(store: MediaStore) -> None:
    key = sha256_hex(b"never stored")
    assert not store.exists(key)
    with pytest.raises(ObjectNotFound):
        store.size(key)
    with pytest.raises(ObjectNotFound):
        store.get(key)
    store.delete(key)  # idempotent


@pytest.mark.parametrize("key", ["", "ABC", "../etc/passwd", "a" * 63, "g" * 64, "staging/../x", "A" * 64])
def test_invalid_keys_are_refused(store: MediaStore, key: str) -> None:
    with pytest.raises(InvalidKey):
        store.put(key, b"x")
    with pytest.raises(InvalidKey):
        store.exists(key)
    with pytest.raises(InvalidKey):
        store.delete(key)


def test_delete(store: MediaStore) -> None:
    data = _blob(10)
    key = sha256_hex(data)
    store.put(key, data)
    store.delete(key)
    assert not store.exists(key)
    store.delete(key)


def test_multipart_assembles_and_promotes(store: MediaStore) -> None:
    part_size = max(store.min_part_size, 1024)
    data = _blob(2 * part_size + 123, seed=1)
    key = sha256_hex(data)
    upload = store.begin_multipart(content_type="image/jpeg")
    chunks = [data[:part_size], data[part_size : 2 * part_size], data[2 * part_size :]]
    parts = [store.upload_part(upload, n, chunk) for n, chunk in enumerate(chunks, start=1)]
    assert [p.size for p in parts] == [len(c) for c in chunks]
    assert not store.exists(key)
    assert store.complete_multipart(upload, parts) == len(data)
    assert store.get(upload.staging_key) == data
    assert not store.exists(key)  # not at its content address before verification
    assert store.promote(upload.staging_key, key, content_type="image/jpeg") is True
    assert store.get(key) == data
    assert not store.exists(upload.staging_key)
    assert {k for k in stored_keys(store) if "staging" in k or "multipart" in k} == set()


def test_multipart_continued_by_another_process(store: MediaStore, tmp_path: object) -> None:
    """A second store instance finishes an upload from the plain data a database would hold."""
    part_size = max(store.min_part_size, 512)
    data = _blob(part_size + 10, seed=2)
    upload = store.begin_multipart()
    first = store.upload_part(upload, 1, data[:part_size])
    saved = {"upload_id": upload.upload_id, "staging_key": upload.staging_key}
    first_parts = [first.to_dict()]

    other = _second_instance(store)
    try:
        from media.store import MultipartUpload

        resumed = MultipartUpload(upload_id=str(saved["upload_id"]), staging_key=str(saved["staging_key"]))
        parts = [Part.from_dict(p) for p in first_parts]
        parts.append(other.upload_part(resumed, 2, data[part_size:]))
        assert other.complete_multipart(resumed, parts) == len(data)
        assert other.promote(resumed.staging_key, sha256_hex(data)) is True
    finally:
        other.close()
    assert store.get(sha256_hex(data)) == data


def test_part_resent_replaces_earlier_copy(store: MediaStore) -> None:
    part_size = max(store.min_part_size, 64)
    data = _blob(part_size + 5, seed=3)
    upload = store.begin_multipart()
    store.upload_part(upload, 1, b"\0" * part_size)  # a first attempt, garbled
    parts = [store.upload_part(upload, 1, data[:part_size]), store.upload_part(upload, 2, data[part_size:])]
    store.complete_multipart(upload, parts)
    assert store.get(upload.staging_key) == data
    store.delete(upload.staging_key)


def test_multipart_with_no_parts_makes_empty_object(store: MediaStore) -> None:
    upload = store.begin_multipart()
    assert store.complete_multipart(upload, []) == 0
    assert store.get(upload.staging_key) == b""
    store.delete(upload.staging_key)


def test_abort_leaves_nothing(store: MediaStore) -> None:
    before = stored_keys(store)
    part_size = max(store.min_part_size, 64)
    upload = store.begin_multipart()
    store.upload_part(upload, 1, _blob(part_size))
    store.abort_multipart(upload)
    store.abort_multipart(upload)  # idempotent
    assert stored_keys(store) == before


def test_promote_onto_existing_object_drops_staging(store: MediaStore) -> None:
    data = _blob(50, seed=4)
    key = sha256_hex(data)
    store.put(key, data)
    upload = store.begin_multipart()
    store.complete_multipart(upload, [store.upload_part(upload, 1, data)])
    assert store.promote(upload.staging_key, key) is False
    assert not store.exists(upload.staging_key)
    assert store.get(key) == data


def test_download_url_serves_the_bytes(store: MediaStore) -> None:
    data = _blob(2048, seed=5)
    key = sha256_hex(data)
    store.put(key, data, content_type="image/jpeg")
    url = store.download_url(key, expires_in=60, content_type="image/jpeg", filename="house.jpg")
    if isinstance(store, S3Store):
        with urllib.request.urlopen(url, timeout=10) as response:
            assert response.read() == data
            assert response.headers["Content-Type"] == "image/jpeg"
            assert "house.jpg" in response.headers["Content-Disposition"]
    else:
        assert isinstance(store, LocalStore)
        parsed = urllib.parse.urlparse(url)
        assert parsed.path == f"/media/{key}"
        query = dict(urllib.parse.parse_qsl(parsed.query))
        granted = store.verify_download(key, query)
        assert (granted.key, granted.content_type, granted.filename) == (key, "image/jpeg", "house.jpg")


def test_download_url_expires(store: MediaStore) -> None:
    data = _blob(20, seed=6)
    key = sha256_hex(data)
    store.put(key, data)
    if isinstance(store, S3Store):
        # moto does not enforce presigned expiry; S3 and MinIO do. Check what is signed.
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlparse(store.download_url(key, expires_in=90)).query))
        assert query["X-Amz-Expires"] == "90"
        assert query["X-Amz-Signature"]
    else:
        assert isinstance(store, LocalStore)
        url = store.download_url(key, expires_in=60, now=time.time() - 120)
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlparse(url).query))
        with pytest.raises(SignatureRejected) as rejected:
            store.verify_download(key, query)
        assert rejected.value.reason == "expired"


def _second_instance(store: MediaStore) -> MediaStore:
    if isinstance(store, LocalStore):
        return LocalStore(store.root, signing_secret=SIGNING_SECRET)
    assert isinstance(store, S3Store)
    return S3Store(
        store.bucket,
        store.prefix,
        endpoint_url=store.client.meta.endpoint_url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def test_open_store_urls(tmp_path: object, moto_endpoint: str) -> None:
    local = open_store(f"file://{tmp_path}/m", signing_secret=SIGNING_SECRET, endpoint_url=None)
    assert isinstance(local, LocalStore)
    assert os.path.isdir(f"{tmp_path}/m/objects")
    s3 = open_store(
        "s3://bucket-x/some/prefix",
        endpoint_url=moto_endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        create_bucket=True,
        signing_secret="ignored for s3",
    )
    assert isinstance(s3, S3Store)
    assert (s3.bucket, s3.prefix) == ("bucket-x", "some/prefix/")
    s3.close()
    with pytest.raises(ValueError, match="scheme"):
        open_store("ftp://x")
    with pytest.raises(ValueError, match="signing_secret"):
        open_store("file:///tmp/x")


def test_download_url_with_a_chinese_file_name(store: MediaStore) -> None:
    data = _blob(64, seed=7)
    key = sha256_hex(data)
    store.put(key, data, content_type="image/jpeg")
    url = store.download_url(key, content_type="image/jpeg", filename="房屋 外景.jpg")
    if isinstance(store, S3Store):
        with urllib.request.urlopen(url, timeout=10) as response:
            assert response.read() == data
            disposition = response.headers["Content-Disposition"]
        assert "filename*=UTF-8''%E6%88%BF%E5%B1%8B%20%E5%A4%96%E6%99%AF.jpg" in disposition
    else:
        assert isinstance(store, LocalStore)
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlparse(url).query))
        assert store.verify_download(key, query).filename == "房屋 外景.jpg"
