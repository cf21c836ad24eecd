"""``recheck device upload`` against a live server: the photos a capture refers to, from files, by
tus, resumable — through connections cut mid-chunk and across a killed client."""

from __future__ import annotations

import hashlib
import itertools
import json
import urllib.parse
import uuid
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

from schemas.capture import IncomeItem, Photo
from schemas.media import PhotoKind
from server.cli import main
from sync.client import Backoff, DeviceClient, Store
from tests.server.media.conftest import jpeg_bytes
from tests.server.media.cutproxy import cut_proxy
from tests.server.sync.factory import make_visits
from tests.server.sync.test_e2e import device, form
from tests.support import PASSWORD, LiveServer


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _capture_with(client: DeviceClient, visit_id: str, household_id: str, house: bytes, proof: bytes) -> None:
    household = client.household(household_id)
    assert household is not None
    members = [m.id for m in household.members]
    capture = msgspec.structs.replace(
        form(members),
        photos=[Photo(sha256=_sha(house), kind=PhotoKind.house_outside)],
        incomes=[
            IncomeItem(id=uuid.uuid4(), kind="wages", monthly_amount=1000, member_id=members[0], evidence=[_sha(proof)])
        ],
    )
    client.record_capture(visit_id, capture, submit=True)


def _photos(live: LiveServer, visit_id: str) -> dict[str, dict[str, Any]]:
    with live.as_user("sup1") as c:
        listing = c.get(f"/visits/{visit_id}/photos").json()
    return {p["sha256"]: p for p in listing["photos"]}


def _through(proxy_url: str) -> httpx.Client:
    """A connection per request: the proxy tells PATCHes by a connection's first bytes."""
    return httpx.Client(base_url=proxy_url, timeout=30, limits=httpx.Limits(max_keepalive_connections=0))


def _original(url: str) -> bytes:
    with httpx.Client(timeout=30) as c:
        response = c.get(url)
    assert response.status_code == 200, response.text
    return response.content


def test_upload_command_sends_the_referenced_files_and_the_pull_clears_the_evidence(
    live: LiveServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = live.settings.database_url
    ((visit_id, household_id),) = make_visits(url, live.world.area_ids["T1-a"], live.world.user_ids["worker1"])
    store = tmp_path / "tablet.sqlite"
    base = ["device", "--store", str(store), "--server", live.base_url]

    def run(*args: str) -> dict[str, Any]:
        capsys.readouterr()
        assert main([*base, *args]) == 0
        out: dict[str, Any] = json.loads(capsys.readouterr().out)
        return out

    run("login", "worker1", "--password", PASSWORD)
    run("pull")
    house, proof, stray = jpeg_bytes(seed=21), jpeg_bytes(seed=22), jpeg_bytes(seed=23)
    photos = tmp_path / "camera"
    photos.mkdir()
    (photos / "house.jpg").write_bytes(house)
    (photos / "payslip.jpg").write_bytes(proof)
    (photos / "someone-else.jpg").write_bytes(stray)
    tablet = DeviceClient(store, live.base_url)
    _capture_with(tablet, visit_id, household_id, house, proof)
    tablet.close()
    run("push")
    assert run("status")["photos_missing"] == 2

    done = run("upload", str(photos), "--chunk-size", "65536")
    assert sorted(done["stored"]) == sorted([_sha(house), _sha(proof)])
    assert done["unreferenced"] == [str(photos / "someone-else.jpg")]
    assert done["refused"] == done["unfinished"] == done["without_file"] == {}
    assert done["bytes_sent"] == len(house) + len(proof)
    stored = _photos(live, visit_id)
    assert set(stored) == {_sha(house), _sha(proof)}
    assert stored[_sha(house)]["kind"] == "house_outside"
    assert stored[_sha(proof)]["kind"] == "income_proof"
    assert stored[_sha(house)]["filename"] == "house.jpg"
    assert _original(stored[_sha(house)]["links"]["original"]) == house
    assert _original(stored[_sha(proof)]["links"]["original"]) == proof
    run("pull")
    assert run("status")["photos_missing"] == 0

    again = run("upload", str(photos))  # nothing is sent twice
    assert sorted(again["already_stored"]) == sorted([_sha(house), _sha(proof)])
    assert again["stored"] == []
    assert again["bytes_sent"] == 0


def test_a_photo_the_server_refuses_is_kept_as_refused_and_not_sent_again(live: LiveServer, tmp_path: Path) -> None:
    url = live.settings.database_url
    ((visit_id, household_id),) = make_visits(url, live.world.area_ids["T1-a"], live.world.user_ids["worker1"])
    tablet = device(live, tmp_path, "worker1")
    tablet.pull()
    house, not_a_photo = jpeg_bytes(seed=31), b"%PDF-1.4 not a photo" * 100
    _capture_with(tablet, visit_id, household_id, house, not_a_photo)
    (tmp_path / "house.jpg").write_bytes(house)
    (tmp_path / "scan.pdf").write_bytes(not_a_photo)
    first = tablet.upload_photos([tmp_path / "house.jpg", tmp_path / "scan.pdf"])
    assert first.stored == [_sha(house)]
    assert first.refused == {_sha(not_a_photo): "image_rejected"}
    second = tablet.upload_photos([tmp_path / "scan.pdf"])
    assert second.bytes_sent == 0
    assert second.refused == {}
    assert [u.state for u in tablet.store.uploads() if u.sha256 == _sha(not_a_photo)] == ["refused"]
    tablet.close()


def test_a_cut_upload_resumes_from_the_server_offset(live: LiveServer, tmp_path: Path) -> None:
    url = live.settings.database_url
    ((visit_id, household_id),) = make_visits(url, live.world.area_ids["T1-a"], live.world.user_ids["worker1"])
    house = jpeg_bytes(size=(2000, 1500), noise=True)
    proof = jpeg_bytes(seed=41)
    assert len(house) > 2_000_000
    (tmp_path / "house.jpg").write_bytes(house)
    (tmp_path / "proof.jpg").write_bytes(proof)
    chunk = 256 * 1024
    port = urllib.parse.urlparse(live.base_url).port
    assert port is not None
    cuts = [700_000, 1_500_000]
    with cut_proxy(port, cuts) as proxy:
        tablet = DeviceClient(
            tmp_path / "tablet.sqlite", proxy.url, http=_through(proxy.url), sleep=lambda _: None, seed=3
        )
        tablet.login("worker1", PASSWORD, "tablet")
        tablet.pull()
        _capture_with(tablet, visit_id, household_id, house, proof)
        tablet.push()
        summary = tablet.upload_photos([tmp_path / "house.jpg", tmp_path / "proof.jpg"], chunk_size=chunk)
    assert proxy.cuts == len(cuts)
    assert sorted(summary.stored) == sorted([_sha(house), _sha(proof)])
    # resumed from the server's offset, never from zero: PATCH offsets only go forward, each
    # resumption starts at the last whole chunk the server kept (a cut chunk cannot be checked)
    offsets = proxy.patch_offsets
    assert offsets[0] == 0
    assert offsets.count(0) == 2  # the two photos' first chunks (in either order); no restart
    resumed = [o for o in offsets if o]  # the large photo's later chunks, cut twice
    assert all(b >= a for a, b in itertools.pairwise(resumed))
    assert _sha(house) in summary.resumed
    assert summary.resumed[_sha(house)] % chunk == 0
    assert len(house) + len(proof) < summary.bytes_sent <= len(house) + len(proof) + len(cuts) * chunk
    assert _original(_photos(live, visit_id)[_sha(house)]["links"]["original"]) == house
    tablet.close()


def test_a_killed_client_resumes_the_upload_it_kept(live: LiveServer, tmp_path: Path) -> None:
    url = live.settings.database_url
    ((visit_id, household_id),) = make_visits(url, live.world.area_ids["T1-a"], live.world.user_ids["worker1"])
    house, proof = jpeg_bytes(size=(1600, 1200), noise=True), jpeg_bytes(seed=51)
    (tmp_path / "house.jpg").write_bytes(house)
    (tmp_path / "proof.jpg").write_bytes(proof)
    chunk = 128 * 1024
    port = urllib.parse.urlparse(live.base_url).port
    assert port is not None
    store = tmp_path / "tablet.sqlite"
    with cut_proxy(port, [600_000]) as proxy:
        # one attempt only: the first cut ends the run, as a killed process would
        tablet = DeviceClient(
            store, proxy.url, http=_through(proxy.url), sleep=lambda _: None, backoff=Backoff(attempts=1)
        )
        tablet.login("worker1", PASSWORD, "tablet")
        tablet.pull()
        _capture_with(tablet, visit_id, household_id, house, proof)
        tablet.push()
        cut = tablet.upload_photos([tmp_path / "house.jpg"], chunk_size=chunk)
        tablet.close()
    assert proxy.cuts == 1
    assert _sha(house) in cut.unfinished
    assert cut.without_file == {visit_id: [_sha(proof)]}
    held = Store(store)
    [kept] = [u for u in held.uploads() if u.sha256 == _sha(house)]
    held.close()
    assert kept.state == "open"
    assert kept.url is not None
    assert kept.url.startswith("/uploads/")
    with cut_proxy(port, []) as watcher:
        again = DeviceClient(store, watcher.url, http=_through(watcher.url), sleep=lambda _: None)
        resumed = again.upload_photos(chunk_size=chunk)  # no files: continue what is open
    assert resumed.stored == [_sha(house)]
    assert watcher.patch_offsets[0] == resumed.resumed[_sha(house)] > 0
    assert resumed.bytes_sent == len(house) - resumed.resumed[_sha(house)]
    assert _original(_photos(live, visit_id)[_sha(house)]["links"]["original"]) == house
    assert again.status()["uploads_open"] == 0
    again.close()
