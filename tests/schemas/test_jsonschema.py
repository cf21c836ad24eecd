"""The field app's contract: the JSON Schema exported from the msgspec Structs, the TypeScript
types and the offline validator generated from it are the committed ones, and the validator
accepts and refuses exactly what the server's decoder does."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any

import msgspec
import pytest

from schemas.jsonschema import wire_schema
from schemas.sync import Mutation
from server.cli import FIELD_SCHEMA

ROOT = Path(__file__).resolve().parents[2]
GENERATED = ("types.ts", "validate.js", "validate.d.ts", "defaults.ts")


def _node() -> str:
    node = shutil.which("node")
    if node is None or not (ROOT / "node_modules" / "ajv").is_dir():
        if os.environ.get("CI") == "true":
            pytest.fail("node and node_modules are required under CI=true (make assets)")
        pytest.skip("node or node_modules missing (make assets)")
    return node


def test_committed_schema_is_the_structs_export() -> None:
    committed = json.loads(FIELD_SCHEMA.read_text(encoding="utf-8"))
    assert committed == wire_schema(), "schemas/ changed: run `make schema` and commit field/src/schema/"


def test_generated_types_and_validator_are_up_to_date(tmp_path: Path) -> None:
    subprocess.run([_node(), "field/scripts/schema.mjs", str(tmp_path)], cwd=ROOT, check=True, capture_output=True)
    for name in GENERATED:
        fresh = (tmp_path / name).read_text(encoding="utf-8")
        assert fresh == (FIELD_SCHEMA.parent / name).read_text(encoding="utf-8"), f"{name}: run `make schema`"


def _mutation(fields: dict[str, Any]) -> dict[str, Any]:
    ids = [str(uuid.uuid4()) for _ in range(3)]
    return {
        "entity": "capture",
        "mutation_id": ids[0],
        "entity_id": ids[1],
        "visit_id": ids[2],
        "base_version": 0,
        "fields": fields,
    }


def _household(fields: dict[str, Any]) -> dict[str, Any]:
    ids = [str(uuid.uuid4()) for _ in range(2)]
    return {"entity": "household", "mutation_id": ids[0], "entity_id": ids[1], "base_version": 3, "fields": fields}


SAMPLES: list[dict[str, Any]] = [
    _mutation({}),
    _mutation({"outcome": "completed", "notes": "门口有狗"}),
    _mutation({"outcome": "asleep"}),
    _mutation({"notes": "\U0001f600" * 500}),  # max_length counts code points on both sides
    _mutation({"notes": "\U0001f600" * 501}),
    _mutation({"started_at": "2026-02-29T10:00:00Z"}),
    _mutation({"incomes": [{"id": str(uuid.uuid4()), "kind": "wages", "monthly_amount": 150000}]}),
    _mutation({"incomes": [{"id": str(uuid.uuid4()), "kind": "wages", "monthly_amount": -1}]}),
    _mutation({"incomes": [{"id": str(uuid.uuid4()), "kind": "wages", "monthly_amount": 10_000_000_001}]}),
    _mutation({"gps": {"lat": 91, "lon": 10, "accuracy_m": 5}}),
    _mutation({"photos": [{"sha256": "a" * 64, "kind": "house_outside"}]}),
    _mutation({"photos": [{"sha256": "A" * 64, "kind": "house_outside"}]}),
    _mutation({"surprise": 1}),
    {**_mutation({}), "base_version": -1},
    {**_mutation({}), "device_time": "2026-12-03T10:00:00"},
    {**_mutation({}), "device_time": "2026-12-03T10:00:00+08:00"},
    {**_mutation({}), "visit_id": "not-a-uuid"},
    _household({"lat": 30.5, "phone": None}),
    _household({"category": "rich"}),
]


def _server_accepts(sample: dict[str, Any]) -> bool:
    try:
        msgspec.json.decode(json.dumps(sample), type=Mutation)
    except msgspec.ValidationError:
        return False
    return True


def test_offline_validator_agrees_with_the_server_decoder(tmp_path: Path) -> None:
    script = tmp_path / "check.mjs"
    validate = (FIELD_SCHEMA.parent / "validate.js").as_uri()
    script.write_text(
        f"import * as v from {json.dumps(validate)};\n"
        "const samples = JSON.parse(process.argv[2]);\n"
        "const check = (s) => (s.entity === 'household' ? v.HouseholdMutation : v.CaptureMutation)(s);\n"
        "console.log(JSON.stringify(samples.map(check)));\n"
    )
    argv = [_node(), str(script), json.dumps(SAMPLES)]
    out = subprocess.run(argv, cwd=ROOT, check=True, capture_output=True, text=True)
    tablet = json.loads(out.stdout)
    server = [_server_accepts(s) for s in SAMPLES]
    assert tablet == server
    assert True in server
    assert False in server
