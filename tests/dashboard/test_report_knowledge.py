"""Monthly report page (same service as `zhitong report`) and the admins' knowledge page."""

from __future__ import annotations

import io
from datetime import timedelta

from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlmodel import select

from core.clock import FakeClock
from dashboard.models import FaqDecision
from desk.analytics import QuestionLog
from knowledge.models import KbRecord, KbSource
from tests.dashboard.conftest import Db, csrf_of, sign_in

MARKET = "市场监管局"


def _resolved_ticket(db: Db, title: str = "餐饮许可证迟迟办不下来") -> int:
    db.staff(1001, "王专员", departments=[MARKET])
    t = db.ticket(title=title)
    db.run(db.desk.claim(t.id, 1001))
    db.run(db.desk.resolve(t.id, 1001, "已协调窗口加急办理，食品经营许可证 3 个工作日内核发。"))
    return t.id


def test_report_page_chart_and_xlsx(app_client: TestClient, db: Db) -> None:
    _resolved_ticket(db)
    db.staff(2001, "李局长", role="leader")
    sign_in(app_client, 2001)
    page = app_client.get("/report?month=2026-11")
    assert (
        page.status_code == 200 and "2026-11" in page.text and MARKET in page.text and "王专员" in page.text
        and "政策直达" in page.text and "推送条数" in page.text
    )
    png = app_client.get("/report/chart.png?month=2026-11")
    assert (
        png.status_code == 200
        and png.headers["content-type"] == "image/png"
        and png.content[:4] == b"\x89PNG"
    )
    xlsx = app_client.get("/report/xlsx?month=2026-11")
    assert xlsx.status_code == 200 and "attachment" in xlsx.headers["content-disposition"]
    wb = load_workbook(io.BytesIO(xlsx.content))
    assert wb.sheetnames == ["按部门", "按专员", "政策直达"]
    values = [c.value for c in wb["按部门"]["A"]]
    assert MARKET in values
    # The default month is the clock's month in the desk timezone.
    assert "2026-11" in app_client.get("/report").text


def test_report_refuses_bad_month_and_non_leaders(app_client: TestClient, db: Db) -> None:
    db.staff(2001, "李局长", role="leader")
    db.staff(1001, "王专员", departments=[MARKET])
    sign_in(app_client, 2001)
    r = app_client.get("/report?month=2026-13")
    assert r.status_code == 400 and "YYYY-MM" in r.text
    assert app_client.get("/report?month=<script>").status_code == 400
    app_client.cookies.clear()
    sign_in(app_client, 1001)
    assert app_client.get("/report").status_code == 403
    assert app_client.get("/report/xlsx").status_code == 403
    assert app_client.get("/knowledge").status_code == 403


def test_knowledge_page_questions_of_the_week(app_client: TestClient, db: Db, clock: FakeClock) -> None:
    db.staff(3001, "管理员", role="admin")
    now = clock.now()
    # The bot assigns question ids itself (Analytics batches its writes).
    db.add(
        QuestionLog(
            id=1,
            tg_user_id=1,
            question="开奶茶店要办什么证？",
            feedback="down",
            top_title="食品经营许可",
            created_at=now,
        ),
        QuestionLog(id=2, tg_user_id=2, question="开奶茶店要办什么证？", feedback="down", created_at=now),
        QuestionLog(id=3, tg_user_id=3, question="无人机航拍需要审批吗？", routed=True, created_at=now),
        QuestionLog(
            id=4, tg_user_id=4, question="上个月的旧问题<b>", routed=True, created_at=now - timedelta(days=30)
        ),
    )
    sign_in(app_client, 3001)
    html = app_client.get("/knowledge").text
    assert "开奶茶店要办什么证？" in html and "× 2" in html and "食品经营许可" in html
    assert "无人机航拍需要审批吗？" in html and "上个月的旧问题" not in html


def test_upload_reingests_and_shows_the_change_report(app_client: TestClient, db: Db, settings) -> None:  # type: ignore[no-untyped-def]
    db.staff(3001, "管理员", role="admin")
    sign_in(app_client, 3001)
    token = csrf_of(app_client.get("/knowledge").text)
    policy = (
        "---\ntitle: 餐饮小店扶持办法\ndepartment: 市场监管局\neffective: 2026-01-01\n---\n\n"
        "# 餐饮小店扶持办法\n\n## 第一条\n\n小微餐饮企业申请食品经营许可，材料齐全的当场办结。\n"
    )
    r = app_client.post(
        "/knowledge/upload",
        data={"csrf_token": token},
        files={"file": ("餐饮扶持.md", policy.encode(), "text/markdown")},
    )
    assert r.status_code == 200, r.text
    assert "变更报告" in r.text and "新增 1 个文件" in r.text and "餐饮扶持.md" in r.text
    sources = db.all(select(KbSource))
    assert [s.name for s in sources] == ["餐饮扶持.md"] and sources[0].record_count >= 1
    assert db.all(select(KbRecord))
    # The same file again changes nothing.
    r = app_client.post(
        "/knowledge/upload",
        data={"csrf_token": token},
        files={"file": ("餐饮扶持.md", policy.encode(), "text/markdown")},
    )
    assert "未变化跳过 1 个" in r.text


def test_bad_uploads_change_nothing(app_client: TestClient, db: Db, settings) -> None:  # type: ignore[no-untyped-def]
    db.staff(3001, "管理员", role="admin")
    sign_in(app_client, 3001)
    token = csrf_of(app_client.get("/knowledge").text)
    r = app_client.post(
        "/knowledge/upload",
        data={"csrf_token": token},
        files={"file": ("virus.exe", b"MZ\x90\x00", "application/octet-stream")},
    )
    assert r.status_code == 415 and "不支持的文件类型" in r.text
    big = b"a" * int(settings.ingest.max_file_mb * 1024 * 1024 + 10)
    r = app_client.post(
        "/knowledge/upload", data={"csrf_token": token}, files={"file": ("big.txt", big, "text/plain")}
    )
    assert r.status_code == 413 and "过大" in r.text
    # A .docx that is not a docx: the pipeline reports the failure, nothing is indexed or kept.
    r = app_client.post(
        "/knowledge/upload",
        data={"csrf_token": token},
        files={"file": ("假文件.docx", b"not a zip", "application/octet-stream")},
    )
    assert r.status_code == 422 and "导入失败" in r.text
    r = app_client.post("/knowledge/upload", files={"file": ("a.md", b"# x", "text/markdown")})
    assert r.status_code == 403
    assert db.all(select(KbSource)) == []
    uploads = settings.data_dir / "uploads"
    assert not uploads.exists() or [p.name for p in uploads.iterdir()] == []


def test_resolved_ticket_accepted_as_faq(app_client: TestClient, db: Db, settings) -> None:  # type: ignore[no-untyped-def]
    ticket_id = _resolved_ticket(db)
    other_id = db.ticket(title="另一个已办结的问题").id
    db.run(db.desk.claim(other_id, 1001))
    db.run(db.desk.resolve(other_id, 1001, "已答复。"))
    db.staff(3001, "管理员", role="admin")
    sign_in(app_client, 3001)
    html = app_client.get("/knowledge").text
    assert f'id="faq-{ticket_id}"' in html and f'id="faq-{other_id}"' in html
    token = csrf_of(html)
    r = app_client.post(
        f"/knowledge/faq/{ticket_id}/accept",
        data={
            "csrf_token": token,
            "question": "餐饮许可证办理太慢怎么办？",
            "answer": "可向办不成事窗口反映，协调加急办理。",
        },
    )
    assert r.status_code == 200 and "已采纳" in r.text
    faq = settings.data_dir / "faq"
    files = list(faq.iterdir())
    assert len(files) == 1 and "餐饮许可证办理太慢怎么办" in files[0].read_text(encoding="utf-8")
    src = db.all(select(KbSource))
    assert len(src) == 1 and src[0].department == MARKET and "餐饮许可证办理太慢怎么办" in src[0].title
    r = app_client.post(
        f"/knowledge/faq/{other_id}/dismiss", data={"csrf_token": token}, follow_redirects=False
    )
    assert r.status_code == 303
    html = app_client.get("/knowledge").text
    assert f'id="faq-{ticket_id}"' not in html and f'id="faq-{other_id}"' not in html
    decisions = {d.ticket_id: d.accepted for d in db.all(select(FaqDecision))}
    assert decisions == {ticket_id: True, other_id: False}
    # Deciding twice is refused and changes nothing.
    r = app_client.post(
        f"/knowledge/faq/{other_id}/accept",
        data={"csrf_token": token, "question": "问题问题", "answer": "答复答复"},
    )
    assert r.status_code == 409
    assert len(list(faq.iterdir())) == 1


def test_question_text_is_escaped_on_the_knowledge_page(
    app_client: TestClient, db: Db, clock: FakeClock
) -> None:
    db.staff(3001, "管理员", role="admin")
    evil = "<script>alert(1)</script>怎么办"
    db.add(
        QuestionLog(id=9, tg_user_id=1, question=evil, feedback="down", routed=True, created_at=clock.now())
    )
    sign_in(app_client, 3001)
    html = app_client.get("/knowledge").text
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;怎么办" in html


def test_oversized_request_is_refused_before_parsing(app_client: TestClient, db: Db, settings) -> None:  # type: ignore[no-untyped-def]
    db.staff(3001, "管理员", role="admin")
    sign_in(app_client, 3001)
    token = csrf_of(app_client.get("/knowledge").text)
    huge = b"x" * int(settings.ingest.max_file_mb * 1024 * 1024 + 512 * 1024)
    r = app_client.post(
        "/knowledge/upload", data={"csrf_token": token}, files={"file": ("big.md", huge, "text/markdown")}
    )
    assert r.status_code == 413 and "上传内容过大" in r.text
    assert db.all(select(KbSource)) == []
