"""The photo pipeline (Pillow): verify, orient, read EXIF, make renditions, hash.

`process_image` takes the bytes of an uploaded photo and either returns a `ProcessedImage` (two
JPEG renditions with every piece of metadata stripped, the capture time and GPS fix read from
EXIF, a perceptual hash) or raises `ImageRejected` with a machine-readable ``reason``. It never
writes anything: the caller stores the original and the renditions only when it returns.

What is refused, and why (``reason`` codes):

- ``empty`` / ``too_large``: zero bytes, or more than `ImagePolicy.max_bytes`.
- ``unsupported_format``: the bytes are not JPEG, PNG, WebP or HEIC, whatever the file name or
  declared type say (ZIP, SVG, GIF, TIFF, PDF, AVIF…). The format is sniffed from the magic
  bytes and Pillow is asked to open only that format (``formats=``), so no other decoder ever
  sees the data.
- ``decompression_bomb``: Pillow's own bomb guard fired (its warning is turned into an error,
  never left as a mere warning), e.g. a PNG whose header declares a gigantic size.
- ``too_many_pixels`` / ``bad_dimensions``: more pixels than `ImagePolicy.max_pixels` (checked
  from the header, before any pixel is decoded), or an absurd aspect ratio.
- ``corrupt`` / ``truncated``: the decoder failed or the data ends early (every photo is fully
  decoded, so a damaged file cannot slip through).
- ``trailing_data``: bytes after the end of the image (after a JPEG's end-of-image marker, a
  PNG's ``IEND`` chunk, the WebP RIFF chunk, the last complete HEIF box). A photo with something
  appended is a polyglot (a ZIP archive behind a JPEG opens as both) and the original is served
  verbatim, so it is refused rather than trimmed.
- ``exif_invalid``: EXIF holding *impossible* values: a latitude beyond ±90°, a longitude beyond
  ±180°, a non-finite or zero-denominator coordinate, an unknown hemisphere reference, a
  capture date that is no calendar date (month 13, 31 February…), or an orientation tag outside
  1–8 (0, which Android writes for "undefined", means upright). Such a file was forged or
  damaged, and the evidence record must not carry a made-up position, time or rotation.

*Implausible* but possible values are ignored rather than refused, and named in
`ProcessedImage.notes`: a capture time before `ImagePolicy.earliest_capture` or later than now
plus `ImagePolicy.future_slack` (a tablet whose clock was reset), a GPS fix of exactly 0°, 0°
(no fix).

Capture time: ``DateTimeOriginal`` with ``OffsetTimeOriginal`` when both are present; otherwise
the GPS date and time stamps (always UTC); otherwise ``DateTimeOriginal`` read in
`ImagePolicy.assume_tz` (China Standard Time by default, where the tablets are). The source used
is recorded in `ProcessedImage.capture_time_source`.

Speed (12-megapixel JPEG, one core): the JPEG is decoded straight at half scale in YCbCr (libjpeg's
DCT scaling through `Image.draft`, no colour conversion), the luma band is resampled with an
antialiasing filter while the already low-resolution chroma bands are resampled by nearest
neighbour (the JPEG encoder subsamples chroma again anyway), orientation is applied to the small
bands, the YCbCr image is encoded without a colour conversion, and the thumbnail is derived from
the review rendition with `Image.reduce`. See ``bench/media``.

Everything here blocks and is CPU-bound: call it from a worker thread.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
import io
import itertools
import math
import re
import warnings
from collections.abc import Callable
from typing import Any

import pillow_heif
from PIL import ExifTags, Image, ImageFile

__all__ = [
    "DEFAULT_POLICY",
    "FORMATS",
    "PHASH_BANDS",
    "PHASH_BAND_BITS",
    "GeoPoint",
    "ImagePolicy",
    "ImageRejected",
    "ProcessedImage",
    "Rendition",
    "band_neighbours",
    "dhash",
    "hamming",
    "is_near_duplicate",
    "phash_bands",
    "process_image",
    "sniff_format",
]

pillow_heif.register_heif_opener()

# Pillow only *warns* between MAX_IMAGE_PIXELS and twice that. Make its bomb guard fail closed, for
# the whole process, once: a filter installed here, rather than warnings.catch_warnings() around
# each open, because catch_warnings swaps the process-wide filter list and is not thread-safe
# (the pipeline runs in worker threads). The explicit pixel limit in _open is checked as well.
warnings.filterwarnings("error", category=Image.DecompressionBombWarning)

#: Accepted formats: our name → (Pillow format name, media type of the original).
FORMATS: dict[str, tuple[str, str]] = {
    "jpeg": ("JPEG", "image/jpeg"),
    "png": ("PNG", "image/png"),
    "webp": ("WEBP", "image/webp"),
    "heic": ("HEIF", "image/heic"),
}

#: ISO-BMFF brands of HEIF files holding HEVC images (AVIF's ``avif``/``avis`` are not here).
_HEIC_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs", b"mif1", b"msf1"}

_CHINA_STANDARD_TIME = dt.timezone(dt.timedelta(hours=8), "CST")

#: EXIF orientation → the transpose that makes the picture upright (as ImageOps.exif_transpose).
_ORIENTATION_OPS: dict[int, Image.Transpose] = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


class ImageRejected(ValueError):
    """The upload is not an acceptable photo. ``reason`` is a stable machine-readable code."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message


@dataclasses.dataclass(frozen=True, slots=True)
class ImagePolicy:
    """Limits and rendition settings (defaults suit 12–50 MP tablet and phone cameras).

    Attributes:
        max_bytes: Largest accepted upload.
        max_pixels: Largest accepted width × height, checked before decoding.
        max_aspect: Largest accepted ratio of the long side to the short side.
        review_size: Longest side of the review rendition (never upscaled).
        thumb_size: Longest side of the thumbnail (never upscaled).
        review_quality: JPEG quality of the review rendition.
        thumb_quality: JPEG quality of the thumbnail.
        assume_tz: Zone for an EXIF capture time that carries no offset.
        earliest_capture: Capture times before this are ignored as implausible.
        future_slack: Capture times later than now plus this are ignored as implausible.
    """

    max_bytes: int = 40 * 1024 * 1024
    max_pixels: int = 40_000_000
    max_aspect: float = 20.0
    review_size: int = 1600
    thumb_size: int = 320
    review_quality: int = 82
    thumb_quality: int = 75
    assume_tz: dt.tzinfo = _CHINA_STANDARD_TIME
    earliest_capture: dt.datetime = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
    future_slack: dt.timedelta = dt.timedelta(days=1)


DEFAULT_POLICY = ImagePolicy()


@dataclasses.dataclass(frozen=True, slots=True)
class Rendition:
    """One derived JPEG, metadata-free. ``sha256`` is its content address."""

    data: bytes
    width: int
    height: int
    sha256: str
    content_type: str = "image/jpeg"


@dataclasses.dataclass(frozen=True, slots=True)
class GeoPoint:
    """A WGS-84 position from EXIF: degrees, north and east positive; altitude in metres."""

    lat: float
    lon: float
    altitude: float | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class ProcessedImage:
    """What the pipeline learnt and made from one accepted photo.

    Attributes:
        format: ``jpeg``, ``png``, ``webp`` or ``heic`` (sniffed, not declared).
        content_type: Media type of the original.
        width: Width of the upright picture.
        height: Height of the upright picture.
        orientation: The EXIF orientation applied (1 = none).
        captured_at: Capture time, UTC, or None when absent or implausible.
        capture_time_source: ``exif_offset``, ``gps``, ``assumed_tz`` or None.
        gps: Position, or None when absent or ignored.
        phash: 64-bit difference hash of the upright picture (unsigned).
        review: The review rendition (at most `ImagePolicy.review_size` px).
        thumb: The thumbnail (at most `ImagePolicy.thumb_size` px).
        notes: Values ignored as implausible, as short codes.
    """

    format: str
    content_type: str
    width: int
    height: int
    orientation: int
    captured_at: dt.datetime | None
    capture_time_source: str | None
    gps: GeoPoint | None
    phash: int
    review: Rendition
    thumb: Rendition
    notes: tuple[str, ...] = ()


# -- format sniffing -----------------------------------------------------------------------------


def sniff_format(data: bytes) -> str | None:
    """The accepted format the bytes really are (``jpeg``, ``png``, ``webp``, ``heic``), or None."""
    head = data[:32]
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[4:8] == b"ftyp" and head[8:12] in _HEIC_BRANDS:
        return "heic"
    return None


# -- perceptual hash -----------------------------------------------------------------------------


def dhash(image: Image.Image) -> int:
    """64-bit difference hash: luma averaged to 9×8, one bit per left-to-right brightening.

    Robust to rescaling, recompression and small colour changes; compute it on the upright
    picture so rotated copies of one photo match.
    """
    luma = image if image.mode == "L" else image.getchannel(0) if image.mode == "YCbCr" else image.convert("L")
    small = luma.resize((9, 8), Image.Resampling.BOX)
    pixels = small.tobytes()
    bits = 0
    for row in range(8):
        base = row * 9
        for col in range(8):
            bits = (bits << 1) | (pixels[base + col] < pixels[base + col + 1])
    return bits


def hamming(a: int, b: int) -> int:
    """Number of differing bits between two 64-bit hashes."""
    return ((a ^ b) & 0xFFFF_FFFF_FFFF_FFFF).bit_count()


#: A 64-bit hash is indexed as bands of these widths (multi-index hashing, Norouzi et al.): two
#: hashes at most ``d`` bits apart differ in at most ``d // 3`` bits in one of the bands
#: (pigeonhole), so a lookup reads only the stored hashes with a band that close. Three bands of
#: about 21 bits suit a county's to a province's million photos: a band value is shared by one
#: photo in two million, so the few hundred values within the radius find a few hundred photos.
PHASH_BAND_BITS = (22, 21, 21)
PHASH_BANDS = len(PHASH_BAND_BITS)


def phash_bands(phash: int) -> tuple[int, ...]:
    """The hash's bands, low bits first (of its unsigned value)."""
    unsigned = phash & 0xFFFF_FFFF_FFFF_FFFF
    bands, shift = [], 0
    for bits in PHASH_BAND_BITS:
        bands.append((unsigned >> shift) & ((1 << bits) - 1))
        shift += bits
    return tuple(bands)


@functools.lru_cache(maxsize=16)
def _flip_masks(radius: int, bits: int) -> tuple[int, ...]:
    return tuple(
        sum(1 << b for b in chosen) for k in range(radius + 1) for chosen in itertools.combinations(range(bits), k)
    )


def band_neighbours(band: int, radius: int, bits: int) -> list[int]:
    """Every value of a ``bits``-wide band at most ``radius`` bits from ``band`` (itself included)."""
    return [band ^ mask for mask in _flip_masks(radius, bits)]


def is_near_duplicate(a: int, b: int, threshold: int = 10) -> bool:
    """Whether two perceptual hashes are within ``threshold`` bits (the same photo, re-encoded)."""
    return hamming(a, b) <= threshold


# -- EXIF ----------------------------------------------------------------------------------------


def _ratio(value: Any) -> float:
    """A float from an EXIF rational (IFDRational or (num, den)); raises on zero denominators."""
    if isinstance(value, tuple) and len(value) == 2:
        num, den = value
        if not den:
            raise ZeroDivisionError("zero denominator")
        return float(num) / float(den)
    if getattr(value, "denominator", 1) == 0:
        raise ZeroDivisionError("zero denominator")
    result = float(value)
    if not math.isfinite(result):
        raise ValueError("not finite")
    return result


def _degrees(value: Any) -> float:
    parts = [_ratio(v) for v in value]
    if len(parts) != 3 or any(p < 0 for p in parts) or parts[1] >= 60 or parts[2] >= 60:
        raise ValueError(f"bad degrees/minutes/seconds {parts}")
    return parts[0] + parts[1] / 60 + parts[2] / 3600


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    return str(value).strip("\x00 ").strip()


def _read_gps(gps_ifd: dict[int, Any], notes: list[str]) -> tuple[GeoPoint | None, dt.datetime | None]:
    """Position and UTC time stamp from the GPS IFD. Impossible values raise `ImageRejected`."""
    tags = ExifTags.GPS
    point: GeoPoint | None = None
    when: dt.datetime | None = None
    try:
        if tags.GPSLatitude in gps_ifd and tags.GPSLongitude in gps_ifd:
            lat_ref = _text(gps_ifd.get(tags.GPSLatitudeRef, "N")).upper() or "N"
            lon_ref = _text(gps_ifd.get(tags.GPSLongitudeRef, "E")).upper() or "E"
            if lat_ref not in ("N", "S") or lon_ref not in ("E", "W"):
                raise ValueError(f"bad hemisphere {lat_ref!r}/{lon_ref!r}")
            lat = _degrees(gps_ifd[tags.GPSLatitude]) * (-1 if lat_ref == "S" else 1)
            lon = _degrees(gps_ifd[tags.GPSLongitude]) * (-1 if lon_ref == "W" else 1)
            if not (-90 <= lat <= 90 and -180 <= lon <= 180):
                raise ValueError(f"position out of range {lat}, {lon}")
            altitude: float | None = None
            if tags.GPSAltitude in gps_ifd:
                altitude = _ratio(gps_ifd[tags.GPSAltitude])
                if gps_ifd.get(tags.GPSAltitudeRef) in (1, b"\x01"):
                    altitude = -altitude
                if not -1_000 <= altitude <= 10_000:
                    notes.append("gps_altitude_implausible")
                    altitude = None
            if lat == 0 and lon == 0:
                notes.append("gps_null_island")
            else:
                point = GeoPoint(lat=round(lat, 7), lon=round(lon, 7), altitude=altitude)
    except (ValueError, TypeError, ZeroDivisionError, OverflowError) as exc:
        raise ImageRejected("exif_invalid", f"impossible GPS position: {exc}") from None
    if tags.GPSDateStamp in gps_ifd and tags.GPSTimeStamp in gps_ifd:
        try:
            date = dt.datetime.strptime(_text(gps_ifd[tags.GPSDateStamp]), "%Y:%m:%d")
            h, m, s = (_ratio(v) for v in gps_ifd[tags.GPSTimeStamp])
            if not (0 <= h < 24 and 0 <= m < 60 and 0 <= s < 61):
                raise ValueError("time out of range")
            when = date.replace(tzinfo=dt.UTC) + dt.timedelta(hours=h, minutes=m, seconds=s)
        except (ValueError, TypeError, ZeroDivisionError, OverflowError) as exc:
            raise ImageRejected("exif_invalid", f"impossible GPS time stamp: {exc}") from None
    return point, when


def _parse_exif_datetime(value: Any, offset: Any, assume_tz: dt.tzinfo) -> tuple[dt.datetime, str] | None:
    text = _text(value)
    if not text or set(text) <= set(" :0"):  # blank or all zeros: "no date", not an impossible one
        return None
    try:
        naive = dt.datetime.strptime(text[:19], "%Y:%m:%d %H:%M:%S")
    except ValueError:
        raise ImageRejected("exif_invalid", f"capture date {text!r} is no calendar date") from None
    offset_text = _text(offset) if offset is not None else ""
    if offset_text:
        try:
            sign = -1 if offset_text[0] == "-" else 1
            hours, minutes = offset_text.lstrip("+-").split(":")
            delta = dt.timedelta(hours=int(hours), minutes=int(minutes))
            if delta > dt.timedelta(hours=14):
                raise ValueError("offset beyond 14 h")
            return naive.replace(tzinfo=dt.timezone(sign * delta)).astimezone(dt.UTC), "exif_offset"
        except (ValueError, IndexError):
            raise ImageRejected("exif_invalid", f"capture time offset {offset_text!r} is impossible") from None
    return naive.replace(tzinfo=assume_tz).astimezone(dt.UTC), "assumed_tz"


def _read_exif(
    im: Image.Image, policy: ImagePolicy, now: dt.datetime, notes: list[str]
) -> tuple[int, dt.datetime | None, str | None, GeoPoint | None]:
    """Orientation, capture time (UTC) and its source, and GPS position."""
    try:
        exif = im.getexif()
        exif_ifd = dict(exif.get_ifd(ExifTags.IFD.Exif))
        gps_ifd = dict(exif.get_ifd(ExifTags.IFD.GPSInfo))
    except Exception as exc:  # Pillow raises many types on damaged IFDs
        raise ImageRejected("exif_invalid", f"unreadable EXIF: {exc}") from None

    orientation = exif.get(ExifTags.Base.Orientation, 1)
    if not isinstance(orientation, int) or not 0 <= orientation <= 8:
        raise ImageRejected("exif_invalid", f"orientation {orientation!r} is not one of 1–8")
    orientation = orientation or 1  # 0: Android's ORIENTATION_UNDEFINED

    point, gps_time = _read_gps(gps_ifd, notes)

    captured: tuple[dt.datetime, str] | None = None
    original = exif_ifd.get(ExifTags.Base.DateTimeOriginal) or exif.get(ExifTags.Base.DateTime)
    offset = exif_ifd.get(ExifTags.Base.OffsetTimeOriginal)
    if original is not None:
        captured = _parse_exif_datetime(original, offset, policy.assume_tz)
    if gps_time is not None and (captured is None or captured[1] == "assumed_tz"):
        captured = (gps_time, "gps")
    if captured is not None and not (policy.earliest_capture <= captured[0] <= now + policy.future_slack):
        notes.append("capture_time_implausible")
        captured = None
    return orientation, *(captured or (None, None)), point


# -- where the image ends --------------------------------------------------------------------------

#: The next JPEG marker after entropy-coded data: 0xFF (with any fill bytes) followed by a byte
#: that is no stuffing (0x00) and no restart marker (0xD0–0xD7).
_JPEG_MARKER = re.compile(rb"\xff+[^\x00\xd0-\xd7\xff]")
_JPEG_STANDALONE = {0x01, *range(0xD0, 0xD8)}


def _jpeg_end(data: bytes) -> int:
    """Offset just after the end-of-image marker (segments are skipped by their length, so an
    EXIF thumbnail's own end marker is not taken for the image's)."""
    i, n = 2, len(data)
    while i + 1 < n:
        if data[i] != 0xFF or data[i + 1] == 0xFF:  # extraneous or fill bytes before a marker
            found = _JPEG_MARKER.search(data, i)
            if found is None:
                return n
            i = found.end() - 2
            continue
        marker = data[i + 1]
        if marker == 0xD9:
            return i + 2
        if marker in _JPEG_STANDALONE:
            i += 2
            continue
        i += 2 + int.from_bytes(data[i + 2 : i + 4], "big")
        if marker == 0xDA:  # start of scan: entropy-coded data runs to the next marker
            found = _JPEG_MARKER.search(data, i)
            i = n if found is None else found.end() - 2
    return n


def _png_end(data: bytes) -> int:
    """Offset just after the ``IEND`` chunk (length, type, data, CRC)."""
    i, n = 8, len(data)
    while i + 12 <= n:
        length = int.from_bytes(data[i : i + 4], "big")
        kind = data[i + 4 : i + 8]
        i += 12 + length
        if kind == b"IEND":
            return min(i, n)
    return n


def _webp_end(data: bytes) -> int:
    """The RIFF container's declared end (its size field counts from byte 8; odd sizes are padded)."""
    size = int.from_bytes(data[4:8], "little")
    return min(8 + size + (size & 1), len(data))


def _heif_end(data: bytes) -> int:
    """The end of the last complete top-level ISO-BMFF box."""
    i, n = 0, len(data)
    while i + 8 <= n:
        size = int.from_bytes(data[i : i + 4], "big")
        if size == 1 and i + 16 <= n:  # 64-bit size follows the type
            size = int.from_bytes(data[i + 8 : i + 16], "big")
        elif size == 0:  # the box runs to the end of the file
            return n
        if size < 8 or i + size > n:
            break
        i += size
    return i


_IMAGE_END: dict[str, Callable[[bytes], int]] = {
    "jpeg": _jpeg_end,
    "png": _png_end,
    "webp": _webp_end,
    "heic": _heif_end,
}


def _refuse_trailing_data(data: bytes, fmt: str) -> None:
    end = _IMAGE_END[fmt](data)
    if end < len(data):
        raise ImageRejected("trailing_data", f"{len(data) - end} bytes after the end of the {fmt} image")


# -- decoding ------------------------------------------------------------------------------------


def _open(data: bytes, fmt: str, policy: ImagePolicy) -> ImageFile.ImageFile:
    """Open (header only) with just the sniffed format's plugin; enforce the pixel limits."""
    try:
        im = Image.open(io.BytesIO(data), formats=[FORMATS[fmt][0]])
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageRejected("decompression_bomb", str(exc)) from None
    except Image.UnidentifiedImageError:
        raise ImageRejected("corrupt", f"not a readable {fmt} file") from None
    except Exception as exc:  # hostile headers reach odd corners of the plugins; warnings too
        raise ImageRejected("corrupt", f"unreadable {fmt} header: {exc}") from None
    width, height = im.size
    if width < 1 or height < 1:
        raise ImageRejected("bad_dimensions", f"{width}×{height}")
    if width * height > policy.max_pixels:
        raise ImageRejected("too_many_pixels", f"{width}×{height} exceeds {policy.max_pixels} pixels")
    if max(width, height) / min(width, height) > policy.max_aspect:
        raise ImageRejected("bad_dimensions", f"{width}×{height} aspect ratio is beyond {policy.max_aspect}")
    return im


def _load(im: ImageFile.ImageFile, fmt: str) -> None:
    try:
        im.load()
    except OSError as exc:
        reason = "truncated" if "truncated" in str(exc) else "corrupt"
        raise ImageRejected(reason, f"{fmt} data does not decode: {exc}") from None
    except Exception as exc:  # any decoder failure (or warning made an error) means a bad file
        raise ImageRejected("corrupt", f"{fmt} data does not decode: {exc}") from None


def _fit(size: tuple[int, int], longest: int) -> tuple[int, int]:
    """``size`` scaled to fit a ``longest``×``longest`` box, never enlarged, at least 1 px."""
    width, height = size
    scale = min(1.0, longest / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def _encode(im: Image.Image, quality: int) -> Rendition:
    im.info = {}  # nothing of the original's metadata (comment, ICC, EXIF, XMP) may travel on
    out = io.BytesIO()
    im.save(out, "JPEG", quality=quality, optimize=False, progressive=False)
    data = out.getvalue()
    return Rendition(data=data, width=im.width, height=im.height, sha256=hashlib.sha256(data).hexdigest())


def _to_rgb_or_l(im: Image.Image) -> Image.Image:
    """Any decoded mode as RGB (or L for greyscale), alpha flattened onto white."""
    if im.mode in ("RGB", "L", "YCbCr"):
        return im
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        return im.convert("I").point(lambda v: v * (1 / 256)).convert("L")
    if im.mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    if im.mode in ("RGBA", "LA", "RGBa", "La", "PA"):
        rgba = im.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return im.convert("RGB")


def _review_fast(im: Image.Image, size: tuple[int, int], op: Image.Transpose | None) -> Image.Image:
    """YCbCr: luma resampled with an antialiasing filter, chroma by nearest neighbour."""
    luma, cb, cr = im.split()
    if luma.size != size:
        luma = luma.resize(size, Image.Resampling.BILINEAR)
        cb = cb.resize(size, Image.Resampling.NEAREST)
        cr = cr.resize(size, Image.Resampling.NEAREST)
    bands = [luma, cb, cr]
    if op is not None:
        bands = [band.transpose(op) for band in bands]
    return Image.merge("YCbCr", bands)


def _review_generic(im: Image.Image, size: tuple[int, int], op: Image.Transpose | None) -> Image.Image:
    if im.size != size:
        im = im.resize(size, Image.Resampling.BICUBIC, reducing_gap=2.0)
    if op is not None:
        im = im.transpose(op)
    return im


def _thumbnail(review: Image.Image, longest: int) -> Image.Image:
    size = _fit(review.size, longest)
    if size == review.size:
        return review.copy()
    return review.resize(size, Image.Resampling.BILINEAR, reducing_gap=1.0)


def process_image(
    data: bytes,
    policy: ImagePolicy = DEFAULT_POLICY,
    *,
    now: dt.datetime | None = None,
) -> ProcessedImage:
    """Verify one uploaded photo and make its renditions (blocking, CPU-bound: use a thread).

    Args:
        data: The complete upload.
        policy: Limits and rendition settings.
        now: The current time (for the plausibility of capture times); defaults to the clock.

    Returns:
        The renditions, hash and metadata. The original bytes are left untouched.

    Raises:
        ImageRejected: The bytes are not an acceptable photo; see the module docstring.
    """
    if not data:
        raise ImageRejected("empty", "zero bytes")
    if len(data) > policy.max_bytes:
        raise ImageRejected("too_large", f"{len(data)} bytes exceed {policy.max_bytes}")
    fmt = sniff_format(data)
    if fmt is None:
        raise ImageRejected("unsupported_format", "content is not JPEG, PNG, WebP or HEIC")
    now = now or dt.datetime.now(dt.UTC)
    notes: list[str] = []

    im = _open(data, fmt, policy)
    stored_size = im.size  # before draft() shrinks it
    try:
        # The review size in the stored (not yet upright) orientation: a square box, so the same.
        review_size = _fit(im.size, policy.review_size)
        if fmt == "jpeg" and im.mode == "RGB":
            im.draft("YCbCr", review_size)  # libjpeg DCT scaling: decode at 1/2, 1/4 or 1/8
        _load(im, fmt)  # before EXIF: a PNG's eXIf chunk may follow the image data
        _refuse_trailing_data(data, fmt)  # after decoding: a truncated file is reported as such
        orientation, captured_at, time_source, gps = _read_exif(im, policy, now, notes)
        op = _ORIENTATION_OPS.get(orientation)
        frame: Image.Image = im
        render: Callable[[Image.Image, tuple[int, int], Image.Transpose | None], Image.Image]
        if frame.mode == "YCbCr":
            render = _review_fast
        else:
            frame = _to_rgb_or_l(frame)
            render = _review_generic
        try:
            review_im = render(frame, review_size, op)
            thumb_im = _thumbnail(review_im, policy.thumb_size)
            review = _encode(review_im, policy.review_quality)
            thumb = _encode(thumb_im, policy.thumb_quality)
            phash = dhash(thumb_im)
        except Exception as exc:
            raise ImageRejected("corrupt", f"cannot render: {exc}") from None
    finally:
        im.close()
    width, height = (stored_size[1], stored_size[0]) if orientation >= 5 else stored_size
    return ProcessedImage(
        format=fmt,
        content_type=FORMATS[fmt][1],
        width=width,
        height=height,
        orientation=orientation,
        captured_at=captured_at,
        capture_time_source=time_source,
        gps=gps,
        phash=phash,
        review=review,
        thumb=thumb,
        notes=tuple(notes),
    )
