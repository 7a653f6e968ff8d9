"""The dashboard's 政策直达 page (admins): review a campaign (matches, reasons, the exact message), edit
its audience (unknown names refused), approve or discard, and see what it came to."""

from __future__ import annotations

from fastapi.testclient import TestClient

from desk.models import EnterpriseCreate
from push.service import PushService
from tests.dashboard.conftest import Db, csrf_of, sign_in
from tests.push.conftest import RENT_RELIEF, add_policy, valid_code

META = {"applies_to": {"industries": ["住宿和餐饮业"], "sizes": [], "districts": [], "tags": []},
        "benefit": "申请", "summary": "餐饮企业减免三个月房租。"}


def _arrange(db: Db, settings) -> None:  # type: ignore[no-untyped-def]
    pushes = PushService(db.sessions, settings, db.clock)

    async def go() -> None:
        await add_policy(db.engine, "房租减免.md", RENT_RELIEF, push_meta=META)
        for n, industry in ((1, "住宿和餐饮业"), (2, "住宿和餐饮业"), (3, "制造业")):
            await db.desk.register_enterprise(EnterpriseCreate(
                name=f"企业{n}", credit_code=valid_code(n), tg_user_id=700 + n))
            await pushes.update_profile(700 + n, industry=industry)
            await pushes.set_consent(700 + n, True)

    db.run(go())


def test_push_page_review_edit_and_approve(app_client: TestClient, db: Db, settings) -> None:  # type: ignore[no-untyped-def]
    _arrange(db, settings)
    db.staff(3001, "管理员", role="admin")
    sign_in(app_client, 3001)
    listing = app_client.get("/push")
    assert listing.status_code == 200 and "房租减免" in listing.text and "待审核" in listing.text
    page = app_client.get("/push/1")
    assert "匹配的已订阅企业：<b>2</b> 家" in page.text and "行业=住宿和餐饮业：2 家" in page.text
    assert "【惠企政策直达】《房租减免》" in page.text and "餐饮企业减免三个月房租" in page.text
    token = csrf_of(page.text)
    refused = app_client.post("/push/1/audience", data={"csrf_token": token, "text": "行业=美食"})
    assert refused.status_code == 400 and "美食" in refused.text
    edited = app_client.post("/push/1/audience", data={"csrf_token": token, "text": "行业=制造业"},
                             follow_redirects=True)
    assert "匹配的已订阅企业：<b>1</b> 家" in edited.text and "管理员修改" in edited.text
    approved = app_client.post("/push/1/approve", data={"csrf_token": csrf_of(edited.text)}, follow_redirects=True)
    assert "已批准：1 家企业" in approved.text and "已发送 0，待发送 1" in approved.text
    again = app_client.post("/push/1/approve", data={"csrf_token": csrf_of(approved.text)})
    assert again.status_code == 409 and "已经批准" in again.text
    assert app_client.get("/push/99").status_code == 404


def test_push_page_is_for_admins_and_needs_the_csrf_token(app_client: TestClient, db: Db, settings) -> None:  # type: ignore[no-untyped-def]
    _arrange(db, settings)
    db.staff(1001, "王专员", departments=["市场监管局"])
    sign_in(app_client, 1001)
    assert app_client.get("/push").status_code == 403
    db.staff(3001, "管理员", role="admin")
    sign_in(app_client, 3001)
    app_client.get("/push")
    assert app_client.post("/push/1/approve", data={"csrf_token": "forged"}).status_code in (400, 403)
    assert "待审核" in app_client.get("/push").text  # nothing changed
