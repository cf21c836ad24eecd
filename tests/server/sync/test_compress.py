"""Sync answers' compression: the coding the device accepts, decodable by the client's HTTP library."""

from __future__ import annotations

import gzip
import random

import anyio
import httpx
import msgspec
import pytest

from server.sync.compress import compress, negotiate


def feed_like(n: int, seed: int = 7) -> bytes:
    """JSON shaped like a pull page: many similar items, with random ids and Chinese text."""
    rng = random.Random(seed)
    items = [
        {
            "kind": "household",
            "id": f"{rng.getrandbits(128):032x}",
            "version": rng.randint(1, 9),
            "data": {
                "head_name": "".join(rng.choice("王李张刘陈杨黄赵吴周") for _ in range(3)),
                "address": f"青溪县{rng.randint(1, 20)}镇{rng.randint(1, 999)}号",
                "benefit_amount": rng.randint(1000, 200000),
            },
        }
        for _ in range(n)
    ]
    return msgspec.json.encode({"items": items, "cursor": "c", "has_more": True})


@pytest.mark.parametrize(
    ("header", "coding"),
    [
        ("zstd, gzip", "zstd"),
        ("gzip, zstd", "zstd"),  # the server's preference among accepted codings
        ("gzip, deflate, br", "gzip"),
        ("gzip, zstd;q=0", "gzip"),
        ("ZSTD;q=0.5", "zstd"),
        ("gzip;q=0.000, deflate", None),
        ("identity", None),
        ("", None),
    ],
)
def test_negotiate(header: str, coding: str | None) -> None:
    assert negotiate(header) == coding


@pytest.mark.parametrize("coding", ["zstd", "gzip"])
def test_answer_round_trips_through_the_clients_decoder(coding: str) -> None:
    data = feed_like(2_000)
    body = anyio.run(compress, data, coding)
    assert len(body) < len(data) / 3
    decoder = httpx._decoders.SUPPORTED_DECODERS[coding]()  # what the reference client runs
    assert decoder.decode(body) + decoder.flush() == data
    if coding == "gzip":
        assert gzip.decompress(body) == data
