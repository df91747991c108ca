"""The demo plays the whole cycle with real flows; the report shows what its simulated units did."""
from __future__ import annotations

import datetime as dt

from docx import Document

from dondoc import demo
from dondoc.ndformat import check
from tests.conftest import SHIPPED


def test_the_demo_cycle(prefect_api, tmp_path, monkeypatch):
    monkeypatch.setenv("DONDOC_CONFIG", str(SHIPPED))
    for key in ("DONDOC_DB", "DONDOC_OUT", "DONDOC_DATA", "DONDOC_INBOX", "DONDOC_SMTP_HOST", "DONDOC_SMTP_PORT",
                "DONDOC_SMTP_SECURITY", "DONDOC_SMTP_BACKOFF"):
        monkeypatch.setenv(key, "25")   # registered with monkeypatch, so the demo's settings are undone after
    out = tmp_path / "demo"
    demo.settings_for(out)
    days = []
    result = demo.run(out, 2026, lambda day, n: days.append(day))
    # 29 reports asked for; the simulated units: one never answers, one address bounces,
    # three answer late and the one out of office answers late too; the others on time
    assert (result["asked"], result["on_time"], result["late"], result["overdue"], result["exempt"]) == (29, 23, 4, 2, 1)
    assert days[0] == dt.date(2026, 11, 5) and days[-1] == dt.date(2026, 12, 25) and len(days) < 40
    assert len(result["escalations"]) == 2
    docx = out / "out" / "bao-cao-2026.docx"
    assert str(docx) == result["files"][0] and check(docx) == []
    body = "\n".join(p.text for p in Document(str(docx)).paragraphs)
    assert "đã đề nghị 29 lượt báo cáo của 25 đơn vị" in body
    assert "23 báo cáo đúng hạn (79,3%); 4 báo cáo trễ hạn (13,8%); 2 chưa báo cáo (6,9%)" in body
