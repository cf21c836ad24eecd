"""The Pillow pipeline on real bytes made here, and the hostile corpus."""

from __future__ import annotations

import datetime as dt
import io
import struct
import zipfile
import zlib
from collections.abc import Mapping

import pytest
from PIL import Image, ImageDraw, ImageOps, TiffImagePlugin

from media.images import (
    ImagePolicy,
    ImageRejected,
    dhash,
    hamming,
    is_near_duplicate,
    process_image,
    sniff_format,
)

NOW = dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.UTC)
R = TiffImagePlugin.IFDRational
BEIJING_GPS = {
    1: "N",
    2: (R(39), R(54), R(2730, 100)),
    3: "E",
    4: (R(116), R(23), R(1788, 100)),
    5: b"\x00",
    6: R(52),
}


def picture(size: tuple[int, int] = (800, 600), seed: int = 0, mode: str = "RGB") -> Image.Image:
    """A picture with a distinctive layout: blue block top-left, shapes elsewhere."""
    im = Image.new("RGB", size, (200, 40, 40))
    draw = ImageDraw.Draw(im)
    w, h = size
    draw.rectangle((0, 0, w // 2, h // 3), fill=(20, 20, 230))
    draw.ellipse((w // 2, h // 2, w - 10, h - 10), fill=(240, 240, 20))
    for i in range(12):
        x = (seed * 97 + i * 61) % w
        draw.line((x, 0, (x + 150) % w, h), fill=(seed * 40 % 256, 250, i * 20), width=7)
    return im.convert(mode) if mode != "RGB" else im


def encode(
    im: Image.Image,
    fmt: str = "JPEG",
    *,
    orientation: int | None = None,
    gps: Mapping[int, object] | None = None,
    taken: str | None = None,
    offset: str | None = None,
    **save: object,
) -> bytes:
    exif = Image.Exif()
    if orientation is not None:
        exif[0x0112] = orientation
    if taken is not None:
        exif[0x8769] = {0x9003: taken, **({0x9011: offset} if offset else {})}
    if gps is not None:
        exif[0x8825] = dict(gps)
    out = io.BytesIO()
    im.save(out, fmt, exif=exif.tobytes(), **save)
    return out.getvalue()


def jpeg_markers(data: bytes) -> list[int]:
    """The marker bytes of a JPEG up to the start of scan."""
    assert data[:2] == b"\xff\xd8"
    markers, pos = [], 2
    while pos < len(data):
        assert data[pos] == 0xFF
        marker = data[pos + 1]
        markers.append(marker)
        if marker == 0xDA:
            break
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        pos += 2 + length
    return markers


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def crafted_png(width: int, height: int, idat: bytes, colour_type: int = 0) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")


def zero_rows(width: int, height: int) -> bytes:
    """zlib stream of ``height`` all-zero greyscale rows, compressed without building them at once."""
    compressor = zlib.compressobj(9)
    row = b"\0" * (width + 1)
    parts = [compressor.compress(row) for _ in range(height)]
    return b"".join(parts) + compressor.flush()


# -- accepted photos -----------------------------------------------------------------------------


@pytest.mark.parametrize(("fmt", "name"), [("JPEG", "jpeg"), ("PNG", "png"), ("WEBP", "webp"), ("HEIF", "heic")])
def test_each_format_accepted_with_exif(fmt: str, name: str) -> None:
    data = encode(picture(), fmt, gps=BEIJING_GPS, taken="2026:11:20 10:30:00", offset="+08:00")
    assert sniff_format(data) == name
    result = process_image(data, now=NOW)
    assert result.format == name
    assert (result.width, result.height) == (800, 600)
    assert result.captured_at == dt.datetime(2026, 11, 20, 2, 30, tzinfo=dt.UTC)
    assert result.capture_time_source == "exif_offset"
    assert result.gps is not None
    assert result.gps.lat == pytest.approx(39.907583, abs=1e-5)
    assert result.gps.lon == pytest.approx(116.38830, abs=1e-5)
    assert result.gps.altitude == pytest.approx(52)
    assert (result.review.width, result.review.height) == (800, 600)  # never upscaled
    assert (result.thumb.width, result.thumb.height) == (320, 240)
    assert result.notes == ()


@pytest.mark.parametrize("orientation", range(1, 9))
def test_orientation_applied_like_exif_transpose(orientation: int) -> None:
    base = picture((1200, 900))
    data = encode(base, orientation=orientation, quality=95)
    result = process_image(data, now=NOW)
    expected = ImageOps.exif_transpose(Image.open(io.BytesIO(data)))
    assert (result.width, result.height) == expected.size
    review = Image.open(io.BytesIO(result.review.data)).convert("RGB")
    assert review.size == expected.size
    # The blue block must land where exif_transpose puts it: compare the two small pictures.
    small_expected = expected.convert("RGB").resize((32, 24) if expected.width > expected.height else (24, 32))
    small_review = review.resize(small_expected.size)
    diffs = [abs(a - b) for a, b in zip(small_expected.tobytes(), small_review.tobytes(), strict=True)]
    assert sum(diffs) / len(diffs) < 12
    assert result.orientation == orientation


def test_large_jpeg_renditions_and_draft_path() -> None:
    data = encode(picture((4000, 3000)), orientation=6, quality=90)
    result = process_image(data, now=NOW)
    assert (result.width, result.height) == (3000, 4000)
    assert (result.review.width, result.review.height) == (1200, 1600)
    assert (result.thumb.width, result.thumb.height) == (240, 320)
    for rendition in (result.review, result.thumb):
        im = Image.open(io.BytesIO(rendition.data))
        assert im.format == "JPEG"
        assert im.size == (rendition.width, rendition.height)
        im.load()


def test_renditions_carry_no_metadata() -> None:
    im = picture((2000, 1500))
    im.info["comment"] = b"secret household note"
    icc = ImageOps_icc()
    data = encode(im, gps=BEIJING_GPS, taken="2026:11:20 10:30:00", comment=b"secret", icc_profile=icc)
    assert b"secret" in data
    result = process_image(data, now=NOW)
    for rendition in (result.review, result.thumb):
        markers = jpeg_markers(rendition.data)
        assert 0xE1 not in markers  # APP1: EXIF / XMP
        assert 0xE2 not in markers  # APP2: ICC
        assert 0xFE not in markers  # COM
        assert b"secret" not in rendition.data
        assert not Image.open(io.BytesIO(rendition.data)).getexif()


def ImageOps_icc() -> bytes:
    from PIL import ImageCms

    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def test_original_is_not_modified() -> None:
    data = encode(picture(), orientation=6, gps=BEIJING_GPS)
    copy = bytes(data)
    process_image(data, now=NOW)
    assert data == copy


@pytest.mark.parametrize("mode", ["L", "RGBA", "P", "CMYK", "I;16", "LA"])
def test_unusual_modes(mode: str) -> None:
    im = picture((640, 480))
    if mode == "CMYK":
        data = encode(im.convert("CMYK"), "JPEG")
    elif mode == "I;16":
        data = encode(im.convert("L").convert("I;16"), "PNG")
    else:
        data = encode(im.convert(mode), "PNG")
    result = process_image(data, now=NOW)
    assert (result.review.width, result.review.height) == (640, 480)


def test_rendition_content_addresses() -> None:
    import hashlib

    result = process_image(encode(picture()), now=NOW)
    assert result.review.sha256 == hashlib.sha256(result.review.data).hexdigest()
    assert result.thumb.sha256 == hashlib.sha256(result.thumb.data).hexdigest()
    assert result.review.content_type == "image/jpeg"


# -- perceptual hash -----------------------------------------------------------------------------


def test_phash_matches_reencoded_and_rotated_copies() -> None:
    original = process_image(encode(picture((1600, 1200), seed=1), quality=92), now=NOW)
    smaller = process_image(encode(picture((1600, 1200), seed=1).resize((800, 600)), "WEBP", quality=60), now=NOW)
    # The same scene stored sideways with an orientation tag is the same photo once upright.
    sideways = picture((1600, 1200), seed=1).transpose(Image.Transpose.ROTATE_90)
    rotated = process_image(encode(sideways, orientation=6), now=NOW)
    other = process_image(encode(picture((1600, 1200), seed=5).transpose(Image.Transpose.FLIP_TOP_BOTTOM)), now=NOW)
    assert hamming(original.phash, smaller.phash) <= 6
    assert hamming(original.phash, rotated.phash) <= 6
    assert is_near_duplicate(original.phash, smaller.phash)
    assert hamming(original.phash, other.phash) > 16
    assert not is_near_duplicate(original.phash, other.phash)
    assert 0 <= original.phash < 2**64


def test_hamming() -> None:
    assert hamming(0, 0) == 0
    assert hamming(0, 2**64 - 1) == 64
    assert hamming(0b1011, 0b0001) == 2
    assert dhash(Image.new("L", (90, 80), 128)) == 0


# -- EXIF capture time and plausibility ----------------------------------------------------------


def test_capture_time_without_offset_uses_assumed_zone() -> None:
    result = process_image(encode(picture(), taken="2026:11:20 10:30:00"), now=NOW)
    assert result.captured_at == dt.datetime(2026, 11, 20, 2, 30, tzinfo=dt.UTC)
    assert result.capture_time_source == "assumed_tz"
    utc_policy = ImagePolicy(assume_tz=dt.UTC)
    assert process_image(encode(picture(), taken="2026:11:20 10:30:00"), utc_policy, now=NOW).captured_at == (
        dt.datetime(2026, 11, 20, 10, 30, tzinfo=dt.UTC)
    )


def test_gps_time_preferred_over_assumed_zone() -> None:
    gps = {**BEIJING_GPS, 7: (R(1), R(2), R(3)), 29: "2026:11:20"}
    result = process_image(encode(picture(), gps=gps, taken="2026:11:20 10:30:00"), now=NOW)
    assert result.captured_at == dt.datetime(2026, 11, 20, 1, 2, 3, tzinfo=dt.UTC)
    assert result.capture_time_source == "gps"


@pytest.mark.parametrize(
    ("taken", "note"),
    [("1970:01:01 00:00:05", "capture_time_implausible"), ("2031:05:01 08:00:00", "capture_time_implausible")],
)
def test_implausible_capture_time_ignored(taken: str, note: str) -> None:
    result = process_image(encode(picture(), taken=taken), now=NOW)
    assert result.captured_at is None
    assert note in result.notes


def test_null_island_ignored() -> None:
    gps = {1: "N", 2: (R(0), R(0), R(0)), 3: "E", 4: (R(0), R(0), R(0))}
    result = process_image(encode(picture(), gps=gps), now=NOW)
    assert result.gps is None
    assert result.notes == ("gps_null_island",)


def test_orientation_zero_is_android_undefined_and_upright() -> None:
    result = process_image(encode(picture(), orientation=0), now=NOW)
    assert (result.orientation, result.width, result.height) == (1, 800, 600)
    assert result.notes == ()


@pytest.mark.parametrize(("fmt", "name"), [("JPEG", "jpeg"), ("PNG", "png"), ("WEBP", "webp"), ("HEIF", "heic")])
def test_bytes_after_the_image_end_refused(fmt: str, name: str) -> None:
    """A polyglot: the photo opens as an image and, with a ZIP archive appended, as an archive."""
    photo = encode(picture(), fmt, gps=BEIJING_GPS)
    assert process_image(photo, now=NOW).format == name  # the photo alone is fine
    polyglot = photo + _zip_named_jpg()
    assert zipfile.is_zipfile(io.BytesIO(polyglot))
    with pytest.raises(ImageRejected) as rejected:
        process_image(polyglot, now=NOW)
    assert rejected.value.reason == "trailing_data", rejected.value
    with pytest.raises(ImageRejected) as one_byte:
        process_image(photo + b"\0", now=NOW)
    assert one_byte.value.reason == "trailing_data", one_byte.value


def test_jpeg_end_found_past_an_exif_thumbnail_and_in_progressive_scans() -> None:
    """The end marker of an embedded thumbnail (inside APP1) is not the image's end."""
    thumbnail = io.BytesIO()
    picture((160, 120)).save(thumbnail, "JPEG")
    exif = Image.Exif()
    exif[0x0112] = 1
    app1 = exif.tobytes()
    data = encode(picture(), quality=90, progressive=True, optimize=True)
    # APP1 right after SOI, holding a JPEG thumbnail with its own end marker
    segment = b"\xff\xe1" + struct.pack(">H", len(app1) + thumbnail.tell() + 2) + app1 + thumbnail.getvalue()
    with_thumbnail = data[:2] + segment + data[2:]
    assert with_thumbnail.count(b"\xff\xd9") >= 2
    assert process_image(with_thumbnail, now=NOW).format == "jpeg"
    with pytest.raises(ImageRejected) as rejected:
        process_image(with_thumbnail + b"PK\x05\x06" + b"\0" * 18, now=NOW)
    assert rejected.value.reason == "trailing_data"


def test_no_exif_at_all() -> None:
    out = io.BytesIO()
    picture().save(out, "JPEG")
    result = process_image(out.getvalue(), now=NOW)
    assert (result.captured_at, result.gps, result.orientation) == (None, None, 1)


# -- the hostile corpus --------------------------------------------------------------------------


def _truncated_jpeg() -> bytes:
    data = encode(picture((1600, 1200)), quality=95)
    return data[: len(data) // 2]


def _zip_named_jpg() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("photo.jpg", b"\xff\xd8\xff" + b"\0" * 1000)
    return out.getvalue()


def _svg() -> bytes:
    return (
        b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="100" height="100">'
        b'<script>alert(1)</script><rect width="100" height="100"/></svg>'
    )


def _absurd_gps(lat: tuple[object, ...] = (R(200), R(0), R(0))) -> bytes:
    return encode(picture(), gps={1: "N", 2: lat, 3: "E", 4: (R(116), R(0), R(0))})


HOSTILE = {
    "zero bytes": (b"", "empty"),
    "truncated jpeg": (_truncated_jpeg(), "truncated"),
    "jpeg header then garbage": (b"\xff\xd8\xff\xe0" + b"\x13\x37" * 500, "corrupt"),
    "decompression bomb png (100 MP of zeros)": (
        crafted_png(10_000, 10_000, zero_rows(10_000, 10_000)),
        "decompression_bomb",
    ),
    "png declaring 1e6 x 1e6": (crafted_png(1_000_000, 1_000_000, zlib.compress(b"\0" * 64)), "decompression_bomb"),
    "png over the pixel limit (49 MP)": (crafted_png(7_000, 7_000, zero_rows(7_000, 7_000)), "too_many_pixels"),
    "png with absurd aspect": (crafted_png(30_000, 1, zlib.compress(b"\0" * 30_001)), "bad_dimensions"),
    "png with broken data": (crafted_png(100, 100, b"not zlib at all"), "corrupt"),
    "zip named .jpg": (_zip_named_jpg(), "unsupported_format"),
    "svg": (_svg(), "unsupported_format"),
    "gif": (encode(picture(), "GIF"), "unsupported_format"),
    "tiff": (encode(picture(), "TIFF"), "unsupported_format"),
    "pdf": (b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\n", "unsupported_format"),
    "html": (b"<html><body>hi</body></html>", "unsupported_format"),
    "truncated webp": (encode(picture(), "WEBP")[:200], "corrupt"),
    "exif latitude 200 degrees": (_absurd_gps(), "exif_invalid"),
    "exif latitude with zero denominator": (_absurd_gps((R(39, 0), R(0), R(0))), "exif_invalid"),
    "exif minutes 75": (_absurd_gps((R(39), R(75), R(0))), "exif_invalid"),
    "exif hemisphere X": (encode(picture(), gps={**BEIJING_GPS, 1: "X"}), "exif_invalid"),
    "exif date month 13": (encode(picture(), taken="2026:13:45 99:00:00"), "exif_invalid"),
    "exif offset +99:00": (encode(picture(), taken="2026:11:20 10:30:00", offset="+99:00"), "exif_invalid"),
    "exif orientation 99": (encode(picture(), orientation=99), "exif_invalid"),
    "exif orientation 9": (encode(picture(), orientation=9), "exif_invalid"),
    "jpeg with a zip archive appended": (encode(picture()) + _zip_named_jpg(), "trailing_data"),
}


@pytest.mark.parametrize("case", list(HOSTILE), ids=list(HOSTILE))
def test_hostile_file_rejected(case: str) -> None:
    data, reason = HOSTILE[case]
    with pytest.raises(ImageRejected) as rejected:
        process_image(data, now=NOW)
    assert rejected.value.reason == reason, rejected.value


def test_byte_limit() -> None:
    with pytest.raises(ImageRejected) as rejected:
        process_image(encode(picture()), ImagePolicy(max_bytes=100), now=NOW)
    assert rejected.value.reason == "too_large"


def test_configurable_pixel_limit() -> None:
    data = encode(picture((1000, 1000)))
    with pytest.raises(ImageRejected) as rejected:
        process_image(data, ImagePolicy(max_pixels=999_999), now=NOW)
    assert rejected.value.reason == "too_many_pixels"
    assert process_image(data, ImagePolicy(max_pixels=1_000_000), now=NOW).width == 1000


def test_name_and_declared_type_do_not_matter() -> None:
    """Sniffing looks at the bytes only: a PNG is a PNG whatever it is called."""
    assert sniff_format(encode(picture(), "PNG")) == "png"
    assert sniff_format(b"RIFF\0\0\0\0WAVEfmt ") is None
    assert sniff_format(b"\0\0\0\x18ftypavif") is None


def test_bomb_warning_is_an_error_outside_pytest_too() -> None:
    """Pytest turns every warning into an error; a production process must refuse bombs as well."""
    import subprocess
    import sys

    script = (
        "import sys\n"
        "from media.images import ImageRejected, process_image\n"
        "try:\n"
        "    process_image(sys.stdin.buffer.read())\n"
        "except ImageRejected as exc:\n"
        "    print(exc.reason)\n"
    )
    bomb, _reason = HOSTILE["decompression bomb png (100 MP of zeros)"]
    result = subprocess.run(
        [sys.executable, "-W", "default", "-c", script], input=bomb, capture_output=True, timeout=120, check=True
    )
    assert result.stdout.decode().strip() == "decompression_bomb", result.stderr
