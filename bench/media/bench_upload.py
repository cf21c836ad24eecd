"""tus upload throughput on loopback, local folder versus S3 (moto), through the real app.

Run: ``.venv/bin/python bench/media/bench_upload.py [--photos 5] [--chunk-mib 0]``

Starts the app under uvicorn on a loopback port with a fresh SQLite database (the embedded
default), once with a local media folder and once with an S3 bucket on moto's server (real HTTP),
registers a worker's device, and uploads 12-megapixel JPEGs of about 5.5 MB with tuspy (the standard Python tus client):

- **transfer**: ``upload(stop_at=size - 1)``: every byte but the last, so only the tus path is
  timed (requests, offsets, parts to the store, state in the database);
- **end to end**: the whole upload, including the completion: assembling the parts, re-reading the
  object, checking the sha256, the image pipeline, storing original and renditions.

``--chunk-mib 0`` sends each photo in one PATCH (tuspy's default); ``--chunk-mib 1`` in 1 MiB PATCHes.
moto is a Python emulation of S3: the S3 figures measure this app plus moto, not AWS or MinIO.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import io
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("RECHECK_ENV", "test")
os.environ.setdefault("RECHECK_LOG_JSON", "0")

import boto3
from bench_images import make_photo
from moto.server import ThreadedMotoServer
from tusclient.client import TusClient

from tests.server.media.conftest import MediaWorld, _seed_visits
from tests.support import seed_world, start_live_server

__all__ = ["main"]


def _photo(seed: int) -> bytes:
    """A 12 MP photo-like JPEG at quality 98: about 5.5 MB, as a good phone camera writes."""
    return make_photo(seed, orientation=6, quality=98)


def _run(backend: str, photos: list[bytes], chunk: int | None, moto: str | None) -> dict[str, float]:
    folder = tempfile.mkdtemp(prefix="bench-upload-")
    database_url = f"sqlite+aiosqlite:///{folder}/recheck.db"
    world = seed_world(database_url)
    overrides: dict[str, Any] = {}
    if backend == "s3":
        assert moto is not None
        bucket = f"bench-{os.getpid()}-{int(time.time())}"
        s3 = boto3.client(
            "s3", endpoint_url=moto, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
        )
        s3.create_bucket(Bucket=bucket)
        media_url = f"s3://{bucket}"
        overrides = {"s3_endpoint_url": moto, "s3_access_key": "x", "s3_secret_key": "x"}
    else:
        media_url = f"file://{folder}/media"
    with start_live_server(database_url, media_url, world, **overrides) as live:
        media = MediaWorld(live=live, backend=backend)
        asyncio.run(_seed_visits(database_url, media))
        token = media.device_token("worker1")
        client = TusClient(f"{live.base_url}/uploads/", headers={"Authorization": f"Bearer {token}"})
        transfer, total = [], []
        for data in photos:
            metadata = {
                "sha256": hashlib.sha256(data).hexdigest(),
                "visit_id": str(media.visits["v1"]),
                "kind": "house_inside",
            }
            uploader = client.uploader(file_stream=io.BytesIO(data), metadata=metadata, chunk_size=chunk or len(data))
            start = time.perf_counter()
            uploader.upload(stop_at=len(data) - 1)
            middle = time.perf_counter()
            uploader.upload()
            end = time.perf_counter()
            transfer.append((len(data) - 1) / (middle - start) / 1e6)
            total.append(len(data) / (end - start) / 1e6)
    return {"transfer": statistics.median(transfer), "end_to_end": statistics.median(total)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=5)
    parser.add_argument("--chunk-mib", type=int, default=0, help="PATCH size in MiB; 0: the whole photo")
    args = parser.parse_args(argv)
    photos = [_photo(seed) for seed in range(args.photos)]
    size = statistics.fmean(len(p) for p in photos) / 1e6
    chunk = args.chunk_mib * 1024 * 1024 or None
    how = "one PATCH each" if chunk is None else f"{args.chunk_mib} MiB PATCHes"
    print(f"{len(photos)} 12 MP JPEGs of {size:.1f} MB, {how}")
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    try:
        for backend in ("local", "s3"):
            figures = _run(backend, photos, chunk, f"http://{host}:{port}")
            print(
                f"{backend:5s}  transfer {figures['transfer']:6.1f} MB/s   "
                f"end to end (verify + renditions) {figures['end_to_end']:6.1f} MB/s"
            )
    finally:
        moto.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
