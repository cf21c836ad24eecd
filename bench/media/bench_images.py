"""Renditions per second per core for 12-megapixel JPEGs: the naive way versus `media.images`.

Run: ``.venv/bin/python bench/media/bench_images.py [--rounds N] [--images N]``

The process pins itself to one core (``os.sched_setaffinity``) so the figures are per core.
The test photos are generated (seeded, so every run sees the same bytes): 4000×3000 pictures with
gradients, shapes, lines and sensor-like noise, saved at JPEG quality 92 (about 2.5 MB, close to a
phone camera's output), half of them tagged EXIF orientation 6 (portrait, as phones write it).

The naive way: open, ``ImageOps.exif_transpose`` (full decode), ``thumbnail`` to 1600 and to 320
from the full-size picture, save both as JPEG. The shipped way: `media.images.process_image`,
which also verifies, reads EXIF and computes the perceptual hash. Runs of the two are interleaved,
photo by photo, and the best of ``--rounds`` runs of each photo is kept, both as CPU time of the
running thread (what one core does, the figure to quote on a shared machine) and as wall time.
"""

from __future__ import annotations

import argparse
import io
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageOps, ImageStat

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from media.images import process_image

__all__ = ["make_photo", "naive_renditions"]


def make_photo(seed: int, size: tuple[int, int] = (4000, 3000), orientation: int = 1, quality: int = 92) -> bytes:
    """A photo-like JPEG with the given EXIF orientation."""
    rnd = random.Random(seed)
    width, height = size
    red = Image.linear_gradient("L").resize(size)
    blue = Image.radial_gradient("L").resize(size)
    green = Image.effect_noise((width // 16, height // 16), 50).resize(size, Image.Resampling.BICUBIC)
    im = Image.merge("RGB", (red, green, blue))
    draw = ImageDraw.Draw(im)
    for _ in range(300):
        x, y, s = rnd.randrange(width), rnd.randrange(height), rnd.randrange(20, 400)
        colour = (rnd.randrange(256), rnd.randrange(256), rnd.randrange(256))
        shape = draw.ellipse if rnd.random() < 0.5 else draw.rectangle
        shape((x, y, x + s, y + s * rnd.random()), fill=colour)
    for _ in range(2000):
        x, y = rnd.randrange(width), rnd.randrange(height)
        end = (x + rnd.randrange(-200, 200), y + rnd.randrange(-200, 200))
        draw.line((x, y, *end), fill=(rnd.randrange(256),) * 3, width=rnd.randrange(1, 5))
    im = im.filter(ImageFilter.GaussianBlur(1.2))
    noise = Image.effect_noise(size, 12)
    im = Image.merge("RGB", [Image.blend(band, noise, 0.15) for band in im.split()])
    exif = Image.Exif()
    exif[0x0112] = orientation
    out = io.BytesIO()
    im.save(out, "JPEG", quality=quality, exif=exif)
    return out.getvalue()


def naive_renditions(data: bytes) -> tuple[bytes, bytes]:
    """Open, exif_transpose, thumbnail to 1600 and 320 from the full picture, save both."""
    with Image.open(io.BytesIO(data)) as opened:
        im = ImageOps.exif_transpose(opened)
    review = im.copy()
    review.thumbnail((1600, 1600))
    thumb = im.copy()
    thumb.thumbnail((320, 320))
    out_review, out_thumb = io.BytesIO(), io.BytesIO()
    review.save(out_review, "JPEG", quality=82)
    thumb.save(out_thumb, "JPEG", quality=75)
    return out_review.getvalue(), out_thumb.getvalue()


def draft_decode_only(data: bytes) -> None:
    """The ceiling: only decoding the JPEG at half scale (draft mode), nothing else."""
    with Image.open(io.BytesIO(data)) as im:
        im.draft("RGB", (im.width // 2, im.height // 2))
        im.load()


def shipped_renditions(data: bytes) -> tuple[bytes, bytes]:
    """`media.images.process_image`: verification, EXIF, renditions and hash."""
    result = process_image(data)
    return result.review.data, result.thumb.data


def _psnr(a: bytes, b: bytes) -> float:
    """Peak signal-to-noise ratio between two renditions of the same size, in dB."""
    im_a, im_b = Image.open(io.BytesIO(a)).convert("RGB"), Image.open(io.BytesIO(b)).convert("RGB")
    if im_a.size != im_b.size:
        im_b = im_b.resize(im_a.size)
    diff = ImageChops.difference(im_a, im_b)
    mse = statistics.fmean(v**2 for v in ImageStat.Stat(diff).rms)
    return 99.0 if mse == 0 else 10 * __import__("math").log10(255**2 / mse)


def _best(fn: Callable[[bytes], object], data: bytes, best: dict[str, float]) -> None:
    """Run once; keep the smallest wall and CPU (this thread's) time seen for this photo."""
    wall, cpu = time.perf_counter(), time.thread_time()
    fn(data)
    best["wall"] = min(best.get("wall", float("inf")), time.perf_counter() - wall)
    best["cpu"] = min(best.get("cpu", float("inf")), time.thread_time() - cpu)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--images", type=int, default=4)
    args = parser.parse_args(argv)
    if hasattr(os, "sched_setaffinity"):
        core = sorted(os.sched_getaffinity(0))[-1]
        os.sched_setaffinity(0, {core})
        print(f"pinned to core {core}")
    photos = [make_photo(seed, orientation=6 if seed % 2 else 1) for seed in range(args.images)]
    mean_size = statistics.fmean(len(p) for p in photos) / 1e6
    print(f"{len(photos)} photos, 4000×3000, {mean_size:.2f} MB on average, half with orientation 6")

    naive_review, _ = naive_renditions(photos[1])
    shipped_review, _ = shipped_renditions(photos[1])
    print(f"review rendition: shipped vs naive PSNR {_psnr(naive_review, shipped_review):.1f} dB")

    naive: list[dict[str, float]] = [{} for _ in photos]
    shipped: list[dict[str, float]] = [{} for _ in photos]
    ceiling: list[dict[str, float]] = [{} for _ in photos]
    for _ in range(args.rounds):
        for i, data in enumerate(photos):
            _best(naive_renditions, data, naive[i])
            _best(shipped_renditions, data, shipped[i])
            _best(draft_decode_only, data, ceiling[i])
    for clock in ("cpu", "wall"):
        naive_rate = 1 / statistics.fmean(b[clock] for b in naive)
        shipped_rate = 1 / statistics.fmean(b[clock] for b in shipped)
        print(
            f"{clock:4s} time: naive {naive_rate:5.1f}/s  shipped {shipped_rate:5.1f}/s  "
            f"ratio {shipped_rate / naive_rate:4.2f}×   "
            f"(ceiling, half-scale decode only: {1 / statistics.fmean(b[clock] for b in ceiling):5.1f}/s)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
