"""``POST /imports/roster`` over real HTTP, and ``recheck import roster`` exit codes, on both engines."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest

from server.cli import main
from server.settings import get_settings
from tests.server.registry.test_roster import EN, HEAD, ZH, csv_bytes, rows, xlsx_bytes
from tests.support import LiveServer, seed_world


def upload(live: LiveServer, user: str, data: bytes, name: str = "roster.csv", **params: str) -> dict:
    with live.as_user(user) as c:
        response = c.post("/imports/roster", params=params, files={"file": (name, data)})
    return {"status": response.status_code, **response.json()}


def household_count(live: LiveServer) -> int:
    with live.as_user("admin") as c:
        return len(c.get("/households/", params={"limit": 200}).json()["items"])


def test_upload_imports_and_is_idempotent(live: LiveServer) -> None:
    first = upload(live, "sup1", csv_bytes(ZH, rows()))
    assert (first["status"], first["created"], first["households"]) == (200, 2, 2)
    again = upload(live, "sup1", xlsx_bytes(EN, rows()), "roster.xlsx")
    assert (again["status"], again["unchanged"], again.get("created", 0)) == (200, 2, 0)
    assert household_count(live) == 2
    with live.as_user("admin") as c:
        events = c.get("/audit/", params={"entity": "roster"}).json()
    assert len(events) == 1  # the unchanged re-import left no trace


def test_upload_refusals_name_rows_and_columns(live: LiveServer) -> None:
    data = rows()
    data[1][6] = "520111197203040000"
    bad = upload(live, "admin", csv_bytes(ZH, data))
    assert bad["status"] == 422
    assert bad["code"] == "invalid_roster"
    first = bad["errors"][0]
    assert (first["path"], first["row"], first["column"]) == ("row 3 / 身份证号", 3, "身份证号")
    wrong_columns = upload(live, "admin", csv_bytes(["姓名", "电话号码"], [["张三", "1"]]))
    assert wrong_columns["status"] == 422
    assert {e["path"] for e in wrong_columns["errors"]} >= {"row 1 / 电话号码", "row 1 / 身份证号"}
    merged = upload(live, "admin", xlsx_bytes(ZH, rows(), merge="E2:E3"), "roster.xlsx")
    assert (merged["status"], merged["errors"][0]["column"]) == (422, "E2:E3")
    outside = upload(live, "sup2", csv_bytes(ZH, rows()))  # T1 households, a T2 supervisor
    assert outside["status"] == 422
    assert {e["reason"] for e in outside["errors"]} == {"outside your areas"}
    assert upload(live, "worker1", csv_bytes(ZH, rows()))["status"] == 403
    partial = upload(live, "admin", csv_bytes(ZH, data), skip_invalid="true")
    assert (partial["status"], partial["created"], partial["skipped_households"]) == (200, 1, 1)
    assert household_count(live) == 1


def test_one_gigabyte_upload_is_refused_before_reading(live: LiveServer) -> None:
    url = urlparse(live.base_url)
    connection = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=30)
    connection.putrequest("POST", "/imports/roster")
    connection.putheader("Authorization", f"Bearer {live.token('admin')}")
    connection.putheader("Content-Type", "multipart/form-data; boundary=xyz")
    connection.putheader("Content-Length", str(1 << 30))
    connection.endheaders()
    connection.send(b"--xyz\r\n")  # the rest of the gigabyte never has to be sent
    response = connection.getresponse()
    body = json.loads(response.read())
    connection.close()
    assert response.status == 413
    assert (body["code"], body["errors"][0]["path"]) == ("too_large", "file")
    assert household_count(live) == 0


# ---------------------------------------------------------------- command line


@pytest.fixture
def cli_env(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    seed_world(database_url)
    monkeypatch.setenv("RECHECK_DATABASE_URL", database_url)
    get_settings.cache_clear()
    yield database_url
    get_settings.cache_clear()


def test_cli_exit_codes(cli_env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "good.csv"
    good.write_bytes(csv_bytes(ZH, rows(), "gbk"))
    bad = tmp_path / "bad.csv"
    data = rows()
    data[0][0] = data[0][6] = HEAD[:-1] + ("0" if HEAD[-1] != "0" else "1")
    bad.write_bytes(csv_bytes(ZH, data))
    huge = tmp_path / "huge.xlsx"
    with huge.open("wb") as f:
        f.truncate(1 << 30)

    assert main(["import", "roster", str(bad), "--no-progress"]) == 1
    assert "row 2 / 身份证号" in capsys.readouterr().err
    assert main(["import", "roster", str(bad), "--json"]) == 1
    body = json.loads(capsys.readouterr().out)
    assert body["errors"][0]["row"] == 2
    assert main(["import", "roster", str(huge)]) == 1
    assert "too large" in capsys.readouterr().err
    assert main(["import", "roster", str(tmp_path / "missing.csv")]) == 1
    assert main(["import", "roster", str(good), "--dry-run", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["dry_run"] is True
    assert main(["import", "roster", str(good)]) == 0
    assert "2 were created" in capsys.readouterr().out
    assert main(["import", "roster", str(good), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["unchanged"] == 2
    assert main(["import", "roster", str(bad), "--skip-invalid", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["skipped_households"] == 1
    with pytest.raises(SystemExit) as usage:
        main(["import", "roster"])
    assert usage.value.code == 2
