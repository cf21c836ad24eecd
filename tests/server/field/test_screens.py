"""The field app's screens in Chromium against the live server, as a worker uses them.

A worker signs in (the tablet registers itself), syncs the day's visits, loses the network,
captures three households through the form (real JPEGs through the camera input, GPS from the
tablet, a signature drawn on the screen), reloads the app offline and finds everything still
there, is refused sign-out while anything is unsent, and once online every capture and photo
reaches the server once, byte-identical. A returned visit comes back with its comment.
Screenshots of each screen (Chinese, tablet portrait and landscape) go to docs/field/.
"""

from __future__ import annotations

import hashlib
import io
import os
import random
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from playwright.sync_api import BrowserContext, Page, expect

from server.field.controllers import FIELD_DIST
from tests.server.sync.factory import make_visits, visit_state
from tests.support import PASSWORD, LiveServer, off_loop

pytestmark = pytest.mark.skipif(
    not (FIELD_DIST / "index.html").is_file() and os.environ.get("CI") != "true",
    reason="the field app is not built (make assets)",
)

SHOTS = Path(__file__).resolve().parents[3] / "docs" / "field"
LANDSCAPE = {"width": 1280, "height": 800}
PORTRAIT = {"width": 800, "height": 1280}
GPS = {"latitude": 26.4601, "longitude": 106.6612, "accuracy": 12}


def _jpeg(seed: int, width: int = 640, height: int = 480) -> bytes:
    """A real JPEG, different for each seed (a camera's photo as the file input gives it)."""
    rng = random.Random(seed)
    image = Image.new("RGB", (width, height), (rng.randrange(256), rng.randrange(256), rng.randrange(256)))
    noise = Image.frombytes("RGB", (width // 4, height // 4), rng.randbytes(width * height * 3 // 16))
    image.paste(noise.resize((width, height)), (0, 0))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=88)
    return out.getvalue()


def _shot(page: Page, name: str) -> None:
    """Save the screen in both tablet orientations (portrait first, landscape last: the test's size)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    for suffix, size in (("portrait", PORTRAIT), ("landscape", LANDSCAPE)):
        page.set_viewport_size(size)
        page.wait_for_timeout(150)
        page.screenshot(path=str(SHOTS / f"{name}-{suffix}.png"), full_page=False)


def _sign_in(page: Page, base_url: str, username: str = "worker1") -> None:
    page.goto(f"{base_url}/field/")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()


def _wait_synced(page: Page) -> None:
    expect(page.get_by_test_id("sync-phase")).to_have_attribute("data-phase", "idle", timeout=30_000)


def _draw_signature(page: Page) -> None:
    """Sign on the pad and keep it. The pad is cleared when the form above it changes height
    (a thumbnail or a GPS fix appearing resizes the canvas), so on a slow machine the strokes can
    be lost before "keep": then sign again, as a worker would."""
    for _attempt in range(3):
        pad = page.get_by_test_id("signature-pad").first
        pad.scroll_into_view_if_needed()
        page.wait_for_timeout(300)  # let the layout settle before the strokes
        box = pad.bounding_box()
        assert box is not None
        x, y = box["x"] + 40, box["y"] + box["height"] / 2
        page.mouse.move(x, y)
        page.mouse.down()
        for i in range(1, 30):
            page.mouse.move(x + i * 12, y + (18 if i % 2 else -18), steps=2)
        page.mouse.up()
        page.get_by_test_id("signature-keep").first.click()
        try:
            expect(page.get_by_test_id("signed").first).to_be_visible(timeout=10_000)
            return
        except AssertionError:
            continue
    raise AssertionError("the signature was not kept after three tries")


def _capture(page: Page, visit_id: str, photo: Path, *, income_text: str | None, reload: bool = False) -> None:
    """Fill one household's form as a worker does and submit it (offline)."""
    page.locator(f'[data-visit-id="{visit_id}"]').click()
    expect(page.get_by_test_id("visit-screen")).to_be_visible()
    page.get_by_test_id("outcome-completed").click()
    page.get_by_test_id("present-0").check()
    # the head has no income of their own; the second member earns (or also has none)
    page.get_by_test_id("no-income-0").check()
    if income_text is None:
        page.get_by_test_id("no-income-1").check()
    else:
        page.get_by_test_id("income-add-1").click()
        amount = page.get_by_test_id("income-owner").nth(1).get_by_test_id("amount")
        amount.fill("1234.567")
        expect(page.locator(".field-error").first).to_be_visible()
        page.get_by_test_id("submit").click()
        errors = page.get_by_test_id("form-errors")
        expect(errors).to_contain_text("monthly_amount")
        expect(errors).to_contain_text("最多两位小数")
        amount.fill(income_text)
    page.get_by_test_id("photo-house_outside").set_input_files(str(photo))
    expect(page.locator('[data-testid="thumb"] img')).to_have_count(1)
    page.get_by_test_id("gps").click()
    expect(page.get_by_test_id("gps-fix")).to_contain_text("12")
    if reload:
        # the draft is saved on every change: a reload mid-form (offline) loses nothing
        page.reload()
        expect(page.get_by_test_id("outcome-completed")).to_have_attribute("aria-pressed", "true")
        expect(page.get_by_test_id("no-income-1")).to_be_checked()
        expect(page.locator('[data-testid="thumb"] img')).to_have_count(1)
        expect(page.get_by_test_id("gps-fix")).to_contain_text("12")
    _draw_signature(page)
    expect(page.get_by_test_id("signed")).to_be_visible()
    if income_text is not None:
        # the earning member is there too and signs on the screen as well
        page.get_by_test_id("present-1").check()
        page.get_by_test_id("member-signature").get_by_role("button", name="请其签名").click()
        _draw_signature(page)
        expect(page.get_by_test_id("member-signature").get_by_test_id("thumb")).to_have_count(1)


def _submit(page: Page) -> None:
    page.get_by_test_id("submit").click()
    expect(page.get_by_test_id("visits")).to_be_visible()


def test_offline_capture_of_three_households_reaches_the_server_once(
    live: LiveServer, context: BrowserContext, page: Page, tmp_path: Path
) -> None:
    world = live.world
    visits = off_loop(
        lambda: make_visits(
            live.settings.database_url,
            world.area_ids["T1-a"],
            world.user_ids["worker1"],
            n=3,
            partner_id=world.user_ids["worker1b"],
        )
    )
    photos = []
    for i in range(3):
        path = tmp_path / f"house-{i}.jpg"
        path.write_bytes(_jpeg(i))
        photos.append(path)
    context.grant_permissions(["geolocation"], origin=live.base_url)
    context.set_geolocation(GPS)
    page.set_viewport_size(LANDSCAPE)

    page.goto(f"{live.base_url}/field/")
    expect(page.get_by_test_id("signin")).to_be_visible()
    _shot(page, "01-signin")
    _sign_in(page, live.base_url)
    expect(page.get_by_test_id("visit")).to_have_count(3, timeout=30_000)
    _wait_synced(page)
    expect(page.get_by_test_id("unsent")).to_have_attribute("data-count", "0")
    # the service worker takes the app over from the next load on: from then on it opens offline
    page.evaluate("() => navigator.serviceWorker.ready.then(() => true)")
    page.reload()
    assert page.evaluate("() => navigator.serviceWorker.controller !== null")
    expect(page.get_by_test_id("visit")).to_have_count(3)

    context.set_offline(True)
    for i, (visit_id, _) in enumerate(visits):
        _capture(page, visit_id, photos[i], income_text="1234.50" if i == 0 else None, reload=i == 2)
        if i == 0:
            page.get_by_test_id("visit-screen").locator("h1").scroll_into_view_if_needed()
            _shot(page, "03-visit-form")
            page.set_viewport_size(PORTRAIT)
            page.screenshot(path=str(SHOTS / "03-visit-form-whole-portrait.png"), full_page=True)
            page.set_viewport_size(LANDSCAPE)
        _submit(page)
    expect(page.get_by_test_id("unsent")).not_to_have_attribute("data-count", "0")
    _shot(page, "02-visit-list-offline")

    page.reload()  # offline: the service worker answers, IndexedDB still holds everything
    expect(page.get_by_test_id("visit")).to_have_count(3)
    for visit_id, _ in visits:
        expect(page.locator(f'[data-visit-id="{visit_id}"]')).to_contain_text("已提交")
    unsent: dict[str, Any] = page.evaluate("() => window.recheckField.store.unsent(window.recheckField.db)")
    assert unsent == {"pending": 3, "rejected": 0, "photos": 7, "total": 10}

    page.get_by_test_id("signout").click()
    expect(page.get_by_test_id("signout-refused")).to_contain_text("10")
    expect(page.get_by_test_id("visits")).to_be_visible()  # still signed in

    context.set_offline(False)
    page.get_by_test_id("sync").click()
    expect(page.get_by_test_id("unsent")).to_have_attribute("data-count", "0", timeout=60_000)
    _wait_synced(page)
    check = page.evaluate(
        """async () => {
          const { db, engine } = window.recheckField;
          // the server compares digests on a pull with nothing new (the photos' arrival may still bring a page)
          let pulled = await engine.pull();
          if (pulled.stateCheck === "skipped") pulled = await engine.pull();
          return { outbox: await db.outbox.count(), receipts: await db.receipts.count(), state: pulled.stateCheck };
        }"""
    )
    assert check == {"outbox": 0, "receipts": 3, "state": "ok"}

    with live.as_user("sup1") as sup, live.as_user("worker1") as worker:
        for i, (visit_id, _) in enumerate(visits):
            review = sup.get(f"/reviews/visits/{visit_id}").json()
            assert len(review["captures"]) == 1, review
            form = review["captures"][0]["form"]
            assert form["outcome"] == "completed"
            assert form["gps"]["accuracy_m"] == 12
            assert form["partner_id"] == str(world.user_ids["worker1b"])
            assert form["head_signature"]
            assert [m.get("no_income", False) for m in form["members"]] == ([True, False] if i == 0 else [True, True])
            if i == 0:
                amounts = sorted(line["monthly_amount"] for line in form["incomes"])
                assert amounts == [60000, 123450]  # the registered 600 yuan and the typed 1234.50
            listing = worker.get(f"/visits/{visit_id}/photos").json()
            assert listing["evidence_pending"] is False
            by_hash = {p["sha256"]: p for p in listing["photos"]}
            # the house and the head's signature (and the earning member's), once each
            assert len(listing["photos"]) == (3 if i == 0 else 2)
            jpeg = photos[i].read_bytes()
            stored = by_hash[hashlib.sha256(jpeg).hexdigest()]
            assert stored["status"] == "stored"
            assert stored["kind"] == "house_outside"
            original = worker.get(stored["links"]["original"])
            assert original.content == jpeg
            assert by_hash[form["head_signature"]]["kind"] == "signature"
            signers = [p.get("member_id") for p in form["photos"] if p["kind"] == "signature"]
            assert signers == ([form["members"][1]["member_id"]] if i == 0 else [])

        returned = sup.post(f"/reviews/visits/{visits[0][0]}/return", json={"comment": "收入证明缺失，请补拍"})
        assert returned.status_code == 200, returned.text

    page.get_by_test_id("sync").click()
    card = page.locator(f'[data-visit-id="{visits[0][0]}"]')
    expect(card.get_by_test_id("return-comment")).to_contain_text("收入证明缺失，请补拍", timeout=30_000)
    _shot(page, "04-visit-list-returned")
    card.click()
    expect(page.get_by_test_id("visit-return-comment")).to_contain_text("收入证明缺失，请补拍")
    expect(page.get_by_test_id("submit")).to_be_visible()  # it can be captured again
    _shot(page, "05-visit-returned")
    proof = tmp_path / "proof.jpg"
    proof.write_bytes(_jpeg(99))
    # the proof the supervisor asked for, as the evidence of the member's wages
    page.get_by_test_id("income").first.get_by_test_id("evidence").set_input_files(str(proof))
    expect(page.get_by_test_id("income").first).to_contain_text("(1)")
    page.get_by_test_id("submit").click()
    expect(page.get_by_test_id("visits")).to_be_visible()
    page.get_by_test_id("sync").click()
    expect(page.get_by_test_id("unsent")).to_have_attribute("data-count", "0", timeout=60_000)
    _wait_synced(page)
    assert off_loop(lambda: visit_state(live.settings.database_url, visits[0][0])) == "submitted"
    with live.as_user("worker1") as worker:
        listing = worker.get(f"/visits/{visits[0][0]}/photos").json()
    by_hash = {p["sha256"]: p for p in listing["photos"]}
    review = sup_review(live, visits[0][0])
    proof_sha = hashlib.sha256(proof.read_bytes()).hexdigest()
    assert by_hash[proof_sha]["status"] == "stored"
    assert by_hash[proof_sha]["kind"] == "income_proof"
    wages = [line for line in review["captures"][0]["form"]["incomes"] if line["monthly_amount"] == 123450]
    assert wages[0]["evidence"] == [proof_sha]


def sup_review(live: LiveServer, visit_id: str) -> dict[str, Any]:
    with live.as_user("sup1") as sup:
        review: dict[str, Any] = sup.get(f"/reviews/visits/{visit_id}").json()
    return review


def test_a_revoked_tablet_is_told_in_words_and_keeps_its_captures(live: LiveServer, page: Page) -> None:
    world = live.world
    ((visit_id, _),) = off_loop(
        lambda: make_visits(live.settings.database_url, world.area_ids["T1-a"], world.user_ids["worker1"])
    )
    page.set_viewport_size(PORTRAIT)
    _sign_in(page, live.base_url)
    expect(page.get_by_test_id("visit")).to_have_count(1, timeout=30_000)
    _wait_synced(page)
    page.locator(f'[data-visit-id="{visit_id}"]').click()
    page.get_by_test_id("outcome-nobody_home").click()
    device_id = page.evaluate("() => window.recheckField.store.getMeta(window.recheckField.db, 'device_id')")
    with live.as_user("sup1") as sup:
        assert sup.post(f"/devices/{device_id}/revoke").status_code == 200
    page.get_by_test_id("save").click()
    expect(page.get_by_test_id("revoked")).to_contain_text("已被停用", timeout=30_000)
    expect(page.get_by_test_id("unsent")).to_have_attribute("data-count", "1")
    page.get_by_test_id("back").click()
    _shot(page, "06-revoked")
    page.get_by_test_id("signout").click()
    expect(page.get_by_test_id("signout-refused")).to_contain_text("1")


LOW_STORAGE = """{
  // a tablet nearly full: 950 MB of 1000 MB used
  StorageManager.prototype.estimate = async () => ({ usage: 950 * 1048576, quota: 1000 * 1048576 });
}"""

REFUSED_BY_SERVER = """async ([visitId, memberId]) => {
  const { db, engine, store } = window.recheckField;
  // a member the household does not have: the schema allows the form, the server refuses it
  await store.recordCapture(db, visitId, { notes: "x", members: [{ member_id: memberId }] });
  return (await engine.sync()).unsent;
}"""

CORRECTED = """async ([visitId]) => {
  const { db, engine, store } = window.recheckField;
  await store.recordCapture(db, visitId, { notes: "x", members: [] });
  return (await engine.sync()).unsent;
}"""


def test_refusals_are_named_on_their_visit_and_never_block_the_others(
    live: LiveServer, page: Page, tmp_path: Path
) -> None:
    world = live.world
    (first, _), (second, _) = off_loop(
        lambda: make_visits(live.settings.database_url, world.area_ids["T1-a"], world.user_ids["worker1"], n=2)
    )
    page.add_init_script(LOW_STORAGE)
    page.set_viewport_size(LANDSCAPE)
    _sign_in(page, live.base_url)
    expect(page.get_by_test_id("visit")).to_have_count(2, timeout=30_000)
    _wait_synced(page)
    expect(page.get_by_test_id("storage-low")).to_contain_text("存储空间不足")

    page.locator(f'[data-visit-id="{first}"]').click()
    not_an_image = tmp_path / "photo.jpg"
    not_an_image.write_bytes(b"this is a text file, not a photo" * 10)
    page.get_by_test_id("photo-house_outside").set_input_files(str(not_an_image))
    expect(page.get_by_test_id("form-errors")).to_contain_text("照片不能用")
    expect(page.get_by_test_id("thumb")).to_have_count(0)
    page.get_by_test_id("submit").click()  # no outcome yet: refused, named, nothing queued
    expect(page.get_by_test_id("form-errors")).to_contain_text("$.outcome")
    expect(page.get_by_test_id("form-errors")).to_contain_text("走访结果")
    assert page.evaluate("() => window.recheckField.db.outbox.count()") == 0
    page.get_by_test_id("outcome-completed").click()
    page.get_by_test_id("submit").click()
    errors = page.get_by_test_id("form-errors")
    expect(errors).to_contain_text("请填写收入或勾选“无收入”")
    expect(errors).to_contain_text("需要户主签名")
    page.get_by_test_id("visit-screen").locator("h1").scroll_into_view_if_needed()
    page.get_by_test_id("form-errors").scroll_into_view_if_needed()
    _shot(page, "07-refused-on-the-tablet")
    page.get_by_test_id("outcome-nobody_home").click()
    page.get_by_test_id("submit").click()
    expect(page.get_by_test_id("visits")).to_be_visible()

    unsent = page.evaluate(REFUSED_BY_SERVER, [second, "6f9619ff-8b86-4011-b42d-00cf4fc96400"])
    assert unsent["rejected"] == 1
    assert unsent["pending"] == 0  # the first visit's capture went through beside the refusal
    expect(page.locator(f'[data-visit-id="{first}"]').get_by_test_id("visit-state")).to_have_text("已提交")
    card = page.locator(f'[data-visit-id="{second}"]')
    expect(card).to_contain_text("服务器拒绝")
    card.click()
    refusal = page.get_by_test_id("visit-rejected")
    expect(refusal).to_contain_text("members[0].member_id")
    expect(refusal).to_contain_text("不是本户成员")
    _shot(page, "08-refused-by-the-server")
    page.get_by_test_id("signout").click()
    expect(page.get_by_test_id("signout-refused")).to_contain_text("1")

    assert page.evaluate(CORRECTED, [second])["total"] == 0
    expect(page.get_by_test_id("visit-rejected")).to_have_count(0)

    page.get_by_test_id("lang").click()
    expect(page.get_by_test_id("signout")).to_have_text("Sign out")
    expect(page.get_by_test_id("unsent")).to_have_text("All sent")
    page.get_by_test_id("back").click()
    expect(page.get_by_role("heading", name="Today's visits")).to_be_visible()
    page.get_by_test_id("lang").click()

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_test_id("signout").click()  # everything sent: the tablet lets the worker go
    expect(page.get_by_test_id("signin")).to_be_visible()
    assert page.evaluate("() => window.recheckField.db.visits.count()") == 0
