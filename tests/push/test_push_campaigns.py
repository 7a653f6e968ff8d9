"""Campaigns from the knowledge base, the admin's review, the queue (caps, hours, leases), answers, reminders
and outcomes — on real SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from core.clock import FakeClock
from desk.models import TicketCreate
from desk.service import Desk
from knowledge.audience import Audience
from push.base import PushError
from push.campaigns import parse_audience_text
from push.models import CampaignStatus, DeliveryKind, DeliveryStatus, Response
from push.service import PushService
from tests.push.conftest import ADMIN, GUIDE, RENT_RELIEF, add_department_card, add_owner, add_policy, sh

FRONT_MATTER = {"applies_to": {"industries": ["住宿和餐饮业"], "sizes": ["小型", "微型"], "districts": [], "tags": []},
                "benefit": "申请", "apply_by": "2026-12-31", "summary": "小微餐饮企业减免三个月房租。"}


async def _restaurants(desk: Desk, pushes: PushService) -> dict[str, int]:
    """Owners: two small restaurants (one unsubscribed), a small factory, a restaurant without size."""
    return {
        "small": (await add_owner(desk, pushes, 1, industry="住宿和餐饮业", size="小型")).tg,
        "micro": (await add_owner(desk, pushes, 2, industry="住宿和餐饮业", size="微型")).tg,
        "declined": (await add_owner(desk, pushes, 3, industry="住宿和餐饮业", size="小型", consent=False)).tg,
        "factory": (await add_owner(desk, pushes, 4, industry="制造业", size="小型")).tg,
        "no_size": (await add_owner(desk, pushes, 5, industry="住宿和餐饮业")).tg,
    }


async def test_push_sync_opens_a_campaign_per_benefit_policy_version(engine, pushes: PushService) -> None:
    await add_policy(engine, "房租减免.md", RENT_RELIEF, push_meta=FRONT_MATTER)
    await add_policy(engine, "开店指南.md", GUIDE)  # a guide offers nothing: not pushed
    await add_policy(engine, "过期补贴.md", RENT_RELIEF, expires=sh(2026, 1, 1).date())
    opened = await pushes.sync_from_knowledge()
    assert [c.policy_name for c in opened] == ["房租减免.md"]
    campaign = opened[0]
    assert campaign.status == CampaignStatus.PENDING and campaign.audience_origin == "front_matter"
    assert campaign.benefit == "申请" and campaign.apply_by is not None
    assert await pushes.sync_from_knowledge() == []  # the same version: nothing new
    # A new version retires the pending campaign of the old one and opens its own.
    await add_policy(engine, "房租减免.md", RENT_RELIEF, push_meta=FRONT_MATTER, version="2")
    reopened = await pushes.sync_from_knowledge()
    assert len(reopened) == 1 and reopened[0].sha256 != campaign.sha256
    assert (await pushes.get_campaign(campaign.id)).status == CampaignStatus.RETIRED  # type: ignore[arg-type]


async def test_push_without_applies_to_proposes_an_audience_and_waits(engine, pushes: PushService) -> None:
    await add_policy(engine, "房租减免.md", RENT_RELIEF)
    (campaign,) = await pushes.sync_from_knowledge()
    assert campaign.audience_origin == "proposed" and campaign.status == CampaignStatus.PENDING
    assert campaign.audience["industries"] == ["住宿和餐饮业"]
    assert set(campaign.audience["sizes"]) == {"小型", "微型"}
    assert await pushes.claim_due("w1") == []  # nothing queued before an admin approves


async def test_push_preview_shows_matches_why_and_the_exact_message(engine, desk: Desk, pushes: PushService) -> None:
    await add_department_card(engine, "市商务局", "人民路 1 号", "0755-12345")
    await add_policy(engine, "房租减免.md", RENT_RELIEF, push_meta=FRONT_MATTER)
    await _restaurants(desk, pushes)
    (campaign,) = await pushes.sync_from_knowledge()
    preview = await pushes.preview(campaign.id)  # type: ignore[arg-type]
    assert len(preview.recipients.matched) == 2
    assert preview.recipients.not_subscribed == 1
    assert preview.recipients.reasons["行业=住宿和餐饮业"] == 2
    assert preview.recipients.reasons["规模=小型"] == 1 and preview.recipients.reasons["规模=微型"] == 1
    text = preview.sample
    assert "《房租减免》" in text and "为什么推送给您：行业=住宿和餐饮业" in text
    assert "小微餐饮企业减免三个月房租" in text  # the summary
    assert "营业执照复印件" in text  # materials quoted from the policy
    assert "人民路 1 号" in text and "申报截止：2026-12-31" in text
    assert "来源：「房租减免.md」" in text


async def test_push_approval_queues_exactly_the_matching_subscribed_enterprises(engine, desk: Desk,
                                                                                 pushes: PushService) -> None:
    await add_policy(engine, "房租减免.md", RENT_RELIEF, push_meta=FRONT_MATTER)
    owners = await _restaurants(desk, pushes)
    (campaign,) = await pushes.sync_from_knowledge()
    with pytest.raises(PushError, match="只有管理员"):
        await pushes.approve(campaign.id, by_tg_id=owners["small"])  # type: ignore[arg-type]
    approved = await pushes.approve(campaign.id, by_tg_id=ADMIN)  # type: ignore[arg-type]
    assert approved.status == CampaignStatus.APPROVED and approved.queued_count == 2
    due = await pushes.claim_due("w1")
    assert sorted(d.tg_user_id for d in due) == sorted([owners["small"], owners["micro"]])
    with pytest.raises(PushError, match="已经批准"):
        await pushes.approve(campaign.id, by_tg_id=ADMIN)  # type: ignore[arg-type]


async def test_push_admin_edits_the_audience_before_approving(engine, desk: Desk, pushes: PushService) -> None:
    await add_policy(engine, "房租减免.md", RENT_RELIEF)
    owners = await _restaurants(desk, pushes)
    (campaign,) = await pushes.sync_from_knowledge()
    with pytest.raises(PushError, match="美食"):
        parse_audience_text("行业=美食", [])
    audience = parse_audience_text("行业=制造业；规模=小型", [])
    await pushes.set_audience(campaign.id, audience, by_tg_id=ADMIN)  # type: ignore[arg-type]
    await pushes.approve(campaign.id, by_tg_id=ADMIN)  # type: ignore[arg-type]
    assert [d.tg_user_id for d in await pushes.claim_due("w1")] == [owners["factory"]]


async def test_push_goes_out_only_in_working_hours(engine, desk: Desk, pushes: PushService, clock: FakeClock) -> None:
    await add_policy(engine, "房租减免.md", RENT_RELIEF, push_meta=FRONT_MATTER)
    await _restaurants(desk, pushes)
    (campaign,) = await pushes.sync_from_knowledge()
    await pushes.approve(campaign.id, by_tg_id=ADMIN)  # type: ignore[arg-type]
    clock.set(sh(2026, 11, 16, 20, 0))  # Monday evening
    assert await pushes.claim_due("w1") == []
    clock.set(sh(2026, 11, 21, 10, 0))  # Saturday
    assert await pushes.claim_due("w1") == []
    clock.set(sh(2026, 11, 23, 9, 30))  # Monday morning
    assert len(await pushes.claim_due("w1")) == 2


async def test_push_weekly_cap_defers_the_third_policy_a_week(engine, desk: Desk, pushes: PushService,
                                                              clock: FakeClock) -> None:
    pushes.cfg.max_per_week = 2
    owner = await add_owner(desk, pushes, 1, industry="住宿和餐饮业", size="小型")
    for n in range(3):
        await add_policy(engine, f"政策{n}.md", RENT_RELIEF, push_meta=FRONT_MATTER)
    for campaign in await pushes.sync_from_knowledge():
        await pushes.approve(campaign.id, by_tg_id=ADMIN)  # type: ignore[arg-type]
    first = await pushes.claim_due("w1")
    assert len(first) == 2  # the cap counts the batch itself
    for d in first:
        await pushes.mark_sent(d.id)
    clock.advance(days=1)
    assert await pushes.claim_due("w1") == []
    clock.advance(days=6, minutes=1)  # a week after the first two
    third = await pushes.claim_due("w1")
    assert [d.tg_user_id for d in third] == [owner.tg]


async def test_push_lease_of_a_dead_worker_runs_out_and_two_workers_never_share(engine, desk: Desk,
                                                                                  pushes: PushService,
                                                                                  clock: FakeClock) -> None:
    await add_policy(engine, "房租减免.md", RENT_RELIEF, push_meta=FRONT_MATTER)
    await _restaurants(desk, pushes)
    (campaign,) = await pushes.sync_from_knowledge()
    await pushes.approve(campaign.id, by_tg_id=ADMIN)  # type: ignore[arg-type]
    a = await pushes.claim_due("a", limit=1)
    b = await pushes.claim_due("b", limit=5)
    assert len(a) == 1 and len(b) == 1 and a[0].id != b[0].id
    await pushes.mark_sent(b[0].id)
    assert await pushes.claim_due("c") == []  # a's lease still holds
    clock.advance(seconds=pushes.cfg.lease_s + 1)  # worker a died holding it
    again = await pushes.claim_due("c")
    assert [d.id for d in again] == [a[0].id]
    await pushes.release([again[0].id])  # c shuts down before sending: queued again at once
    assert [d.id for d in await pushes.claim_due("d")] == [a[0].id]


async def test_push_blocked_bot_marks_the_enterprise_unreachable(engine, desk: Desk, pushes: PushService) -> None:
    await add_policy(engine, "政策一.md", RENT_RELIEF, push_meta=FRONT_MATTER)
    await add_policy(engine, "政策二.md", RENT_RELIEF, push_meta=FRONT_MATTER)
    owner = await add_owner(desk, pushes, 1, industry="住宿和餐饮业", size="小型")
    first, second = await pushes.sync_from_knowledge()
    await pushes.approve(first.id, by_tg_id=ADMIN)  # type: ignore[arg-type]
    (due,) = await pushes.claim_due("w1")
    await pushes.mark_unreachable(due.id, "Forbidden: bot was blocked by the user")
    profile = await pushes.profile(owner.tg)
    assert profile is not None and profile.unreachable_at is not None
    preview = await pushes.preview(second.id)  # type: ignore[arg-type]
    assert preview.recipients.unreachable == 1 and preview.recipients.matched == []
    await pushes.set_consent(owner.tg, True)  # writing /subscribe again makes them reachable
    assert len((await pushes.preview(second.id)).recipients.matched) == 1  # type: ignore[arg-type]


async def test_push_retry_backs_off_then_fails(engine, desk: Desk, pushes: PushService, clock: FakeClock) -> None:
    await add_policy(engine, "房租减免.md", RENT_RELIEF, push_meta=FRONT_MATTER)
    await add_owner(desk, pushes, 1, industry="住宿和餐饮业", size="小型")
    (campaign,) = await pushes.sync_from_knowledge()
    await pushes.approve(campaign.id, by_tg_id=ADMIN)  # type: ignore[arg-type]
    for _ in range(5):
        (due,) = await pushes.claim_due("w1")
        await pushes.mark_retry(due.id, "Timed out")
        assert await pushes.claim_due("w1") == []  # not at once
        clock.advance(days=1)  # Tuesday … Friday, 10:00: working hours, past any backoff
    (outcome,) = await pushes.outcomes(campaign.id)
    assert outcome.status[DeliveryStatus.FAILED] == 1


async def test_push_answers_unsubscribe_and_not_applicable(engine, desk: Desk, pushes: PushService) -> None:
    await add_policy(engine, "政策一.md", RENT_RELIEF, push_meta=FRONT_MATTER)
    await add_policy(engine, "政策二.md", RENT_RELIEF, push_meta=FRONT_MATTER)
    owners = await _restaurants(desk, pushes)
    first, second = await pushes.sync_from_knowledge()
    await pushes.approve(first.id, by_tg_id=ADMIN)  # type: ignore[arg-type]
    due = {d.tg_user_id: d for d in await pushes.claim_due("w1")}
    for d in due.values():
        await pushes.mark_sent(d.id)
    small, micro = due[owners["small"]], due[owners["micro"]]
    with pytest.raises(PushError):
        await pushes.respond(small.id, owners["micro"], Response.DETAILS)  # not theirs
    with pytest.raises(PushError, match="原因"):
        await pushes.respond(small.id, owners["small"], Response.NOT_APPLICABLE, "随便")
    await pushes.respond(small.id, owners["small"], Response.NOT_APPLICABLE, "规模不符")
    await pushes.respond(small.id, owners["small"], Response.DETAILS)  # does not hide the decision
    await pushes.respond(micro.id, owners["micro"], Response.UNSUBSCRIBED)
    (outcome,) = await pushes.outcomes(first.id)
    assert outcome.responses[Response.NOT_APPLICABLE] == 1 and outcome.reasons["规模不符"] == 1
    assert outcome.responses[Response.UNSUBSCRIBED] == 1
    profile = await pushes.profile(owners["micro"])
    assert profile is not None and profile.push_consent is False
    await pushes.approve(second.id, by_tg_id=ADMIN)  # type: ignore[arg-type]
    assert [d.tg_user_id for d in await pushes.claim_due("w1")] == [owners["small"]]


async def test_push_reminders_go_to_those_who_neither_applied_nor_declined(engine, desk: Desk,
                                                                           pushes: PushService,
                                                                           clock: FakeClock) -> None:
    pushes.cfg.remind_days_before = 7
    await add_policy(engine, "房租减免.md", RENT_RELIEF, push_meta={**FRONT_MATTER, "apply_by": "2026-11-30"})
    owners = {n: await add_owner(desk, pushes, n, industry="住宿和餐饮业", size="小型") for n in (1, 2, 3)}
    (campaign,) = await pushes.sync_from_knowledge()
    await pushes.approve(campaign.id, by_tg_id=ADMIN)  # type: ignore[arg-type]
    due = {d.tg_user_id: d for d in await pushes.claim_due("w1")}
    for d in due.values():
        await pushes.mark_sent(d.id)
    await pushes.respond(due[owners[1].tg].id, owners[1].tg, Response.APPLIED)
    await pushes.respond(due[owners[2].tg].id, owners[2].tg, Response.NOT_APPLICABLE, "已经享受")
    assert await pushes.queue_reminders() == 0  # 2026-11-16: two weeks before the deadline
    clock.set(sh(2026, 11, 24, 10, 0))
    assert await pushes.queue_reminders() == 1
    assert await pushes.queue_reminders() == 0  # once
    (reminder,) = await pushes.claim_due("w1")
    assert reminder.kind == DeliveryKind.REMINDER and reminder.tg_user_id == owners[3].tg
    assert "申报提醒" in reminder.text and "还有 6 天截止" in reminder.text
    # An answer on the reminder is kept on the push.
    await pushes.respond(reminder.id, owners[3].tg, Response.APPLIED)
    (outcome,) = await pushes.outcomes(campaign.id)
    assert outcome.responses[Response.APPLIED] == 2


async def test_push_outcomes_count_desk_tickets_within_the_window(engine, desk: Desk, pushes: PushService,
                                                                  clock: FakeClock) -> None:
    await add_policy(engine, "房租减免.md", RENT_RELIEF, push_meta=FRONT_MATTER)
    owner = await add_owner(desk, pushes, 1, industry="住宿和餐饮业", size="小型")
    (campaign,) = await pushes.sync_from_knowledge()
    await pushes.approve(campaign.id, by_tg_id=ADMIN)  # type: ignore[arg-type]
    (due,) = await pushes.claim_due("w1")
    await pushes.mark_sent(due.id)
    clock.advance(days=3)
    await desk.create_ticket(TicketCreate(title="房租减免申请被退回", reason="其他", requester_tg_id=owner.tg))
    clock.advance(days=20)
    await desk.create_ticket(TicketCreate(title="另一件事", reason="其他", requester_tg_id=owner.tg))
    (outcome,) = await pushes.outcomes(campaign.id)
    assert outcome.sent == 1 and outcome.tickets == 1
    month = await pushes.month(sh(2026, 11, 1, 0, 0), sh(2026, 12, 1, 0, 0))
    assert month.pushes_sent == 1 and month.enterprises_reached == 1 and month.campaigns_approved == 1
    assert month.tickets == 1


async def test_push_profile_refuses_values_outside_the_lists(desk: Desk, pushes: PushService) -> None:
    owner = await add_owner(desk, pushes, 1)
    with pytest.raises(PushError):
        await pushes.update_profile(owner.tg, industry="美食")
    with pytest.raises(PushError):
        await pushes.update_profile(owner.tg, size="超大型")
    with pytest.raises(PushError, match="东城区"):
        await pushes.update_profile(owner.tg, district="南湖区")
    profile = await pushes.update_profile(owner.tg, toggle_tag="外贸企业")
    assert profile.tags == ["外贸企业"]
    assert (await pushes.update_profile(owner.tg, toggle_tag="外贸企业")).tags == []
    with pytest.raises(PushError, match="register"):
        await pushes.set_consent(123, True)


async def test_push_an_audience_for_everyone_reaches_every_subscriber(engine, desk: Desk, pushes: PushService) -> None:
    await add_policy(engine, "普惠政策.md", RENT_RELIEF)
    owners = await _restaurants(desk, pushes)
    (campaign,) = await pushes.sync_from_knowledge()
    await pushes.set_audience(campaign.id, Audience(), by_tg_id=None)  # type: ignore[arg-type]
    preview = await pushes.preview(campaign.id)  # type: ignore[arg-type]
    assert len(preview.recipients.matched) == len(owners) - 1  # all but the one who declined
    assert "为什么推送给您：您已订阅政策推送，本政策面向全部企业" in preview.sample
    approved = await pushes.approve(campaign.id, by_tg_id=None)  # type: ignore[arg-type]
    assert approved.reviewer_name == "本地管理员"
    assert approved.reviewed_at == approved.created_at  # both on the service's clock
