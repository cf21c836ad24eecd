"""Local-folder specifics: signed links refused when tampered with, atomic writes, sweeping."""

from __future__ import annotations

import os
import time
import urllib.parse
from pathlib import Path

import pytest

from media.store import LocalStore, SignatureRejected, sha256_hex
from tests.media.conftest import SIGNING_SECRET


@pytest.fixture
def local(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path / "m", signing_secret=SIGNING_SECRET)


def _query(url: str) -> dict[str, str]:
    return dict(urllib.parse.parse_qsl(urllib.parse.urlparse(url).query))


def test_tampered_links_are_refused(local: LocalStore) -> None:
    key = sha256_hex(b"photo")
    other = sha256_hex(b"other")
    query = _query(local.download_url(key, expires_in=60, content_type="image/jpeg"))
    local.verify_download(key, query)
    cases = {
        "other key": (other, query),
        "longer expiry": (key, {**query, "exp": str(int(query["exp"]) + 3600)}),
        "other type": (key, {**query, "ct": "text/html"}),
        "added filename": (key, {**query, "fn": "x.html"}),
        "bad signature": (key, {**query, "sig": query["sig"][:-2] + "AA"}),
    }
    for label, (k, q) in cases.items():
        with pytest.raises(SignatureRejected) as info:
            local.verify_download(k, q)
        assert info.value.reason == "bad_signature", label


def test_malformed_links_are_refused(local: LocalStore) -> None:
    key = sha256_hex(b"photo")
    for query in ({}, {"exp": "soon", "sig": "x"}, {"exp": "1"}):
        with pytest.raises(SignatureRejected) as info:
            local.verify_download(key, query)
        assert info.value.reason == "malformed"
    with pytest.raises(SignatureRejected):
        local.verify_download("../../etc/passwd", {"exp": "9999999999", "sig": "x"})


def test_other_secret_is_refused(local: LocalStore, tmp_path: Path) -> None:
    key = sha256_hex(b"photo")
    other = LocalStore(tmp_path / "m", signing_secret="another-secret-of-enough-length")
    with pytest.raises(SignatureRejected):
        other.verify_download(key, _query(local.download_url(key)))


def test_short_secret_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        LocalStore(tmp_path, signing_secret="short")


def test_failed_write_leaves_no_temp_file(local: LocalStore) -> None:
    with pytest.raises(ValueError, match="hashes"):
        local.put(sha256_hex(b"a"), b"b")
    assert list((local.root / "tmp").iterdir()) == []


def test_sweep_removes_stale_leftovers(local: LocalStore) -> None:
    upload = local.begin_multipart()
    local.upload_part(upload, 1, b"abc")
    (local.root / "tmp" / "crashed").write_bytes(b"x")
    assert local.sweep(older_than=3600) == 0
    old = time.time() - 7200
    for entry in [*(local.root / "multipart").iterdir(), local.root / "tmp" / "crashed"]:
        os.utime(entry, (old, old))
    assert local.sweep(older_than=3600) == 2
    assert list((local.root / "multipart").iterdir()) == []
