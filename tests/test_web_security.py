"""The desk's security model without a browser: loopback only by default (and only under a
loopback name), a login with hashed passwords elsewhere, a CSRF token on every POST, files
served only from the data and output folders, every action logged with who did it."""
from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import unquote

import pytest
from fastapi.testclient import TestClient

from dondoc.ledger import Ledger
from dondoc.settings import Settings
from dondoc.web import add_account, app, check_password, hash_password, read_accounts
from tests.conftest import SHIPPED


@pytest.fixture
def settings(tmp_path):
    return Settings(config=SHIPPED, db=tmp_path / "d.db", out=tmp_path / "out", data=tmp_path / "data",
                    web_accounts=tmp_path / "accounts", web_host="0.0.0.0")


def token(client, path="/login") -> str:
    return re.search(r'name="csrf" value="([^"]+)"', client.get(path).text)[1]


def test_passwords_are_salted_scrypt_hashes(tmp_path):
    stored = hash_password("mật-khẩu-dài")
    assert stored.startswith("scrypt$") and "mật" not in stored and stored != hash_password("mật-khẩu-dài")
    assert check_password(stored, "mật-khẩu-dài") and not check_password(stored, "mật-khẩu-sai")
    add_account(tmp_path / "acc", "lan", "12345678")
    add_account(tmp_path / "acc", "lan", "87654321")          # a new password replaces the old
    assert list(read_accounts(tmp_path / "acc")) == ["lan"]
    assert check_password(read_accounts(tmp_path / "acc")["lan"], "87654321")
    assert (tmp_path / "acc").stat().st_mode & 0o077 == 0


def test_elsewhere_every_page_needs_a_login_and_every_post_a_token(settings):
    add_account(settings.web_accounts, "lan", "đúng-mật-khẩu")
    client = TestClient(app(settings), base_url="http://10.0.0.5:8080", follow_redirects=False)
    assert client.get("/").headers["location"] == "/login"
    assert client.get("/export.xlsx").status_code == 303
    assert client.get("/file", params={"path": str(SHIPPED)}).status_code == 303
    assert client.get("/drafts").headers["location"] == "/login"
    assert client.post("/drafts/1/issue", data={"number": "1/X", "date": "01/12/2026",
                                                "csrf": token(client)}).headers["location"] == "/login"
    assert client.post("/login", data={"name": "lan", "password": "đúng-mật-khẩu"}).status_code == 403   # no token
    r = client.post("/login", data={"name": "lan", "password": "sai", "csrf": token(client)})
    assert r.headers["location"] == "/login"
    r = client.post("/login", data={"name": "lan", "password": "đúng-mật-khẩu", "csrf": token(client)})
    assert r.headers["location"] == "/"
    assert client.get("/").status_code == 200
    page = client.get("/unit/hoc-tap-suot-doi/bao-dak-nong").text
    assert "lan" in page
    note = "/unit/hoc-tap-suot-doi/bao-dak-nong/note"
    assert client.post(note, data={"text": "gọi điện"}).status_code == 403
    assert client.post(note, data={"text": "gọi điện", "csrf": "0" * 64}).status_code == 403
    csrf = re.search(r'name="csrf" value="([^"]+)"', page)[1]
    assert client.post(note, data={"text": "đã gọi điện", "csrf": csrf}).status_code == 303
    led = Ledger(settings.db)
    assert [(n["text"], n["who"]) for n in led.notes("hoc-tap-suot-doi", "bao-dak-nong")] == [("đã gọi điện", "lan")]
    logged = [(json.loads(e["detail"])["action"], json.loads(e["detail"])["by"]) for e in led.events("desk")]
    assert logged == [("login-failed", "lan"), ("login", "lan")]
    assert json.loads(led.events("note")[0]["detail"])["by"] == "lan"
    # issuing a draft: a token too; an unknown draft is said plainly, and nothing is logged as issued
    issue = {"number": "1/STTTT-TTBCXB", "date": "01/12/2026"}
    assert client.post("/drafts/1/issue", data=issue).status_code == 403
    r = client.post("/drafts/1/issue", data={**issue, "csrf": csrf}, headers={"referer": "http://10.0.0.5:8080/drafts"})
    assert r.headers["location"] == "/drafts" and "không có dự thảo số 1" in unquote(client.cookies["dondoc_flash"])
    assert client.get("/drafts").status_code == 200 and not led.events("issued")
    assert client.get("/document/1", params={"kind": "../../etc/passwd"}).status_code == 404
    # a file outside the data and output folders is never served
    assert client.get("/file", params={"path": str(SHIPPED)}).status_code == 404
    assert client.get("/file", params={"path": str(settings.data / ".." / "d.db")}).status_code == 404
    # a stolen cookie from another key (another run) is no session
    other = TestClient(app(settings), base_url="http://10.0.0.5:8080", follow_redirects=False)
    other.cookies.update(client.cookies)
    assert other.get("/").headers["location"] == "/login"


def test_on_loopback_no_login_but_only_loopback_names(settings):
    local = settings.model_copy(update={"web_host": "127.0.0.1"})
    client = TestClient(app(local), base_url="http://127.0.0.1:8080", follow_redirects=False)
    assert client.get("/").status_code == 200
    assert TestClient(app(local), base_url="http://localhost:8080").get("/").status_code == 200
    rebound = TestClient(app(local), base_url="http://attacker.example:8080")
    assert rebound.get("/").status_code == 400
    assert client.post("/unit/hoc-tap-suot-doi/bao-dak-nong/note", data={"text": "x"}).status_code == 403


def test_without_an_account_the_page_does_not_open_to_the_network(settings):
    from dondoc.desk import DeskError
    from dondoc.web import server
    with pytest.raises(DeskError, match="--add-account"):
        server(settings)
    assert not Path(settings.web_accounts).exists()
