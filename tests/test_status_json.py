"""`dondoc status --json` writes its rows from pre-encoded parts: the document is the one
json.dumps writes of the rows' dicts, in a pipe (several chunks) and at a terminal (indented)."""
from __future__ import annotations

import datetime as dt
import json
from types import SimpleNamespace

import pytest

from dondoc import cli
from models.status import StatusRow

D = dt.date
ROWS = [
    StatusRow("2026", "bao-cao", 'u"1\\', 'Xã "Số 1" \\ huyện\nĐắk Mil\x01\u2028', D(2026, 12, 1), "late",
              D(2026, 12, 5), (("request", D(2026, 11, 5), "sent"), ("reminder", D(2026, 11, 20), "failed")),
              D(2026, 12, 8), D(2026, 11, 30)),
    StatusRow("2026-Q3", "t", "u2", "Ủy ban nhân dân", D(2026, 10, 1), "overdue", None, ()),
]


def as_dict(plan_id: str, r: StatusRow) -> dict:
    return {"plan": plan_id, "period": r.period, "task": r.task_id, "unit": r.unit_id, "unit_name": r.unit_name,
            "deadline": r.deadline.isoformat(), "status": r.status, "status_text": r.word,
            "reported_on": r.reported_on and r.reported_on.isoformat(),
            "updated_on": r.updated_on and r.updated_on.isoformat(),
            "sent": [{"stage": s, "on": d.isoformat(), "status": st} for s, d, st in r.sent]}


@pytest.mark.parametrize("indent", [None, 2])
def test_status_json_is_what_json_dumps_writes(capsys, monkeypatch, indent):
    monkeypatch.setattr(cli, "_indent", lambda: indent)
    plans = [(SimpleNamespace(plan=SimpleNamespace(id="kh-ü")), ROWS * 1500, []),   # 3,000 rows: two chunks
             (SimpleNamespace(plan=SimpleNamespace(id='kh"b')), ROWS[1:], [])]
    failed = [{"key": "k/1", "status": "failed", "to_addrs": '["a@x.example"]', "last_error": "550 không có"}]
    cli._status_json(plans, D(2026, 12, 10), failed, 3, ["Gửi thất bại: x"])
    text = capsys.readouterr().out
    doc = json.loads(text)
    assert doc["rows"] == [as_dict("kh-ü", r) for r in ROWS * 1500] + [as_dict('kh"b', ROWS[1])]
    assert doc["rows"][0]["unit_name"] == ROWS[0].unit_name
    assert doc["rows"][0]["status_text"].endswith("(đã cập nhật 08/12)")
    assert list(doc) == ["today", "counts", "plans", "rows", "failed", "problems", "triage"]
    assert doc["counts"]["late"] == 1500 and doc["plans"]['kh"b']["overdue"] == 1 and doc["triage"] == 3
    assert doc["failed"] == [{"key": "k/1", "status": "failed", "to": ["a@x.example"], "error": "550 không có"}]
    if indent is None:   # each row exactly as json.dumps writes its dict
        assert json.dumps(as_dict("kh-ü", ROWS[0]), ensure_ascii=False) in text
        assert text.count("\n") == 1
    else:
        assert text == json.dumps(doc, ensure_ascii=False, indent=2) + "\n"
