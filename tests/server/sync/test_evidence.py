"""Evidence status through the real sync endpoints: the pull brings it, not only the push answer."""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

import httpx
import msgspec

from schemas.capture import IncomeItem, Photo
from schemas.media import PhotoKind
from schemas.sync import VisitItem
from sync.client import DeviceClient
from tests.server.media.conftest import jpeg_bytes, tus_create, upload_metadata
from tests.server.sync.factory import make_visits
from tests.server.sync.test_e2e import device, form
from tests.support import LiveServer


def _upload(live: LiveServer, client: DeviceClient, data: bytes, visit_id: str) -> httpx.Response:
    """One photo by tus (creation-with-upload), with the tablet's own device token."""
    token = client.store.get("access_token")
    with live.client(headers={"Authorization": f"Bearer {token}"}) as c:
        return tus_create(c, len(data), upload_metadata(data, uuid.UUID(visit_id)), data)


def _held_visit(client: DeviceClient, visit_id: str) -> VisitItem:
    held = client.store.item("visit", visit_id)
    assert held is not None
    return msgspec.json.decode(held[1], type=VisitItem)


def test_the_pull_brings_the_evidence_status_once_every_photo_is_stored(live: LiveServer, tmp_path: Path) -> None:
    url = live.settings.database_url
    w1, w1b = live.world.user_ids["worker1"], live.world.user_ids["worker1b"]
    ((visit_id, household_id),) = make_visits(url, live.world.area_ids["T1-a"], w1, partner_id=w1b)
    tablet = device(live, tmp_path, "worker1")
    partner = device(live, tmp_path, "worker1b")
    tablet.pull()
    partner.pull()
    assert _held_visit(tablet, visit_id).missing_photos == []
    house, proof = jpeg_bytes(seed=11), jpeg_bytes(seed=12)
    house_sha, proof_sha = hashlib.sha256(house).hexdigest(), hashlib.sha256(proof).hexdigest()
    members = [m.id for m in tablet.household(household_id).members]  # type: ignore[union-attr]
    capture = msgspec.structs.replace(
        form(members),
        photos=[Photo(sha256=house_sha, kind=PhotoKind.house_outside)],
        incomes=[
            IncomeItem(id=uuid.uuid4(), kind="wages", monthly_amount=1000, member_id=members[0], evidence=[proof_sha])
        ],
    )
    tablet.record_capture(visit_id, capture, submit=True)
    tablet.push()
    assert tablet.store.evidence() == {visit_id: sorted([house_sha, proof_sha])}
    tablet.pull()
    assert _held_visit(tablet, visit_id).missing_photos == sorted([house_sha, proof_sha])
    partner.pull()  # the partner's tablet learns what is missing without pushing anything
    assert partner.store.evidence() == {visit_id: sorted([house_sha, proof_sha])}

    assert _upload(live, tablet, house, visit_id).status_code == 201
    tablet.pull()
    assert tablet.store.evidence() == {visit_id: [proof_sha]}
    assert _held_visit(tablet, visit_id).missing_photos == [proof_sha]

    assert _upload(live, tablet, proof, visit_id).status_code == 201
    pulled = tablet.pull()
    assert pulled.upserts >= 1
    assert tablet.store.evidence() == {}, "stale: the tablet still lists stored photos as missing"
    assert tablet.status()["photos_missing"] == 0
    assert _held_visit(tablet, visit_id).missing_photos == []
    partner.pull()
    assert partner.store.evidence() == {}
    # the change rode the feed without a new visit version: the state check still agrees
    assert tablet.pull().state_check == "ok"
    with live.as_user("sup1") as c:
        review = c.get(f"/reviews/visits/{visit_id}").json()
    # an empty list is a default: omitted on the wire
    assert review.get("missing_photos", []) == review["visit"].get("missing_photos", []) == []
    tablet.close()
    partner.close()


def test_a_capture_dropping_a_photo_reference_clears_it_from_the_pulled_status(
    live: LiveServer, tmp_path: Path
) -> None:
    url = live.settings.database_url
    ((visit_id, household_id),) = make_visits(url, live.world.area_ids["T1-a"], live.world.user_ids["worker1"])
    tablet = device(live, tmp_path, "worker1")
    tablet.pull()
    members = [m.id for m in tablet.household(household_id).members]  # type: ignore[union-attr]
    sha = "cd" * 32
    with_photo = msgspec.structs.replace(form(members), photos=[Photo(sha256=sha, kind=PhotoKind.house_outside)])
    tablet.record_capture(visit_id, with_photo)
    tablet.push()
    tablet.pull()
    assert _held_visit(tablet, visit_id).missing_photos == [sha]
    tablet.record_capture(visit_id, form(members))  # the worker took the photo out again
    tablet.push()
    tablet.pull()
    assert _held_visit(tablet, visit_id).missing_photos == []
    assert tablet.store.evidence() == {}
    tablet.close()
