"""The deployment docker/compose.yaml describes, without Docker: two app workers as separate
processes on one PostgreSQL and one S3 server (moto, its own process), tablets reaching them
through one address (the fault proxy, spreading connections like nginx) with faults on the
network — and one worker SIGKILLed and restarted again and again while the fleet works. The
reconciliation finds nothing lost, duplicated or half-written."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from server.simulation import ADMIN, Killer, bootstrap
from sync.simulation.faultproxy import FaultPlan, FaultProxy
from sync.simulation.fleet import Fleet, FleetConfig
from sync.simulation.process import ServerProcess

BUCKET = "recheck-scaled"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def s3_process(tmp_path: Path) -> Iterator[str]:
    """moto's S3 server as its own process, with the media bucket made."""
    port = _free_port()
    log = (tmp_path / "moto.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=log
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError(f"moto server did not start: {(tmp_path / 'moto.log').read_text()}") from None
                time.sleep(0.2)
        s3 = boto3.client(
            "s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t"
        )
        s3.create_bucket(Bucket=BUCKET)
        yield endpoint
    finally:
        process.terminate()
        process.wait(10)
        log.close()


def test_two_workers_on_postgresql_and_s3_lose_nothing_while_one_is_killed(
    postgres_url: str, s3_process: str, tmp_path: Path
) -> None:
    county_id = bootstrap(postgres_url)
    env = {
        "RECHECK_S3_ENDPOINT_URL": s3_process,
        "RECHECK_S3_ACCESS_KEY": "t",
        "RECHECK_S3_SECRET_KEY": "t",
        "RECHECK_S3_REGION": "us-east-1",
    }
    media = f"s3://{BUCKET}/originals"
    config = FleetConfig(devices=6, days=1, visits_per_day=2, photos_per_visit=1, workers_per_community=3, seed=23)
    plan = FaultPlan.uniform(0.15, delay_range=(0.01, 0.2), max_connections=256)
    with (
        ServerProcess(postgres_url, media, env=env, log_path=tmp_path / "worker-a.log") as worker_a,
        ServerProcess(postgres_url, media, env=env, log_path=tmp_path / "worker-b.log") as worker_b,
        FaultProxy([worker_a.port, worker_b.port], plan, seed=config.seed) as proxy,
    ):
        # the office scripts talk to worker b; tablets reach both through the proxy; a is killed
        fleet = Fleet(worker_b.url, ADMIN, county_id, config, tmp_path, proxy=proxy)
        try:
            with Killer(worker_a, config.seed, (2.0, 5.0), min_kills=2) as killer:
                report = fleet.run(kill_count=lambda: killer.kills, calm=killer.stop)
        finally:
            fleet.close()
    assert report.server_kills >= 2
    assert report.captures_stored == report.captures_made > 0
    assert report.photos_stored == report.photos_made > 0
    assert report.ok, report
