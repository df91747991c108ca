"""The demo plays the whole cycle with real flows; the report shows what its simulated units did."""
from __future__ import annotations

import datetime as dt

from docx import Document

from dondoc import demo
from dondoc.ledger import Ledger
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
    # every cycle of the year: Q1 of the quarterly plan opens in February, its year report in January
    assert days[0] == dt.date(2026, 2, 27) and result["last_day"].year == 2027
    led = Ledger(out / "dondoc.db")
    # one mailbox for both plans: no reply of one plan is triaged or counted by the other
    assert led.inbound("triage") == []
    matched = led.inbound("matched")
    assert {r["plan_id"] for r in matched} == {"hoc-tap-suot-doi", "binh-dan-hoc-vu-so"}
    assert all(f"[{r['plan_id']}/{r['period']}/{r['task_id']}/{r['unit_id']}]" in r["subject"] for r in matched)
    built = {pid: {r["period"]: r for r in rs} for pid, rs in result["reports"].items()}
    assert set(built["hoc-tap-suot-doi"]) == {"2026"}
    assert set(built["binh-dan-hoc-vu-so"]) == {"2026-Q1", "2026-Q2", "2026-Q3", "2026-Q4", "2026-H1", "2026-H2",
                                                "2026"}
    # the seed plan's year: 43 reports asked for (21/4 and 01-07/10 too); the simulated units: one never
    # answers, one address bounces, some answer late, one out of office answers late too; the Sở's own
    # division (on the Sở's domain) is a unit like any other
    seed = built["hoc-tap-suot-doi"]["2026"]
    assert (seed["asked"], seed["on_time"], seed["late"], seed["overdue"], seed["exempt"]) == (43, 36, 4, 3, 1)
    # the quarterly plan's year report counts its own (one-off) cycle, never the quarters again
    assert built["binh-dan-hoc-vu-so"]["2026"]["asked"] == 9
    # each quarter: 6 xã/phường and the newspaper; Q4 also the one-off report of 20/10 (9 units)
    assert [built["binh-dan-hoc-vu-so"][q]["asked"] for q in ("2026-Q1", "2026-Q2", "2026-Q3", "2026-Q4")] == [
        7, 7, 7, 16]
    for pid, periods in built.items():
        for label, r in periods.items():
            docx = out / "out" / f"bao-cao-{pid}-{label}.docx"
            assert str(docx) in r["files"] and check(docx) == []
    body = "\n".join(p.text for p in Document(str(out / "out" / "bao-cao-hoc-tap-suot-doi-2026.docx")).paragraphs)
    assert "đã đề nghị 43 lượt báo cáo của 26 đơn vị" in body
    assert "36 báo cáo đúng hạn (83,7%); 4 báo cáo trễ hạn (9,3%); 3 chưa báo cáo (7,0%)" in body
