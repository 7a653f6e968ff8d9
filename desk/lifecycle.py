"""A ticket's life after creation: claim, work, wait, escalate, hand over, resolve, rate, close; the messages
both sides exchange on it, and the outbox the bot delivers from."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from desk.actors import SYSTEM_ACTOR, Actor
from desk.errors import (
    AlreadyClaimed,
    ConcurrentUpdate,
    IllegalTransition,
    InvalidInput,
    PermissionDenied,
)
from desk.models import (
    FollowUp,
    Notification,
    NotificationPublic,
    Rating,
    Ticket,
    TicketMessage,
    TicketPublic,
)
from desk.states import (
    CLAIMABLE_STATES,
    Audience,
    AuthorKind,
    RatingScore,
    StaffRole,
    TicketState,
    check_transition,
)

if TYPE_CHECKING:
    pass

from desk.base import (
    _SCORE_ALIASES,
    MAX_TEXT,
    DeskBase,
    retry_on_conflict,
)
from desk.visibility import colleague_may_take, staff_scope


class Lifecycle(DeskBase):
    # ================================================================ lifecycle
    @retry_on_conflict
    async def claim(self, ref: int | str, staff_tg_id: int) -> TicketPublic:
        """Accept (受理) a ticket: a conditional UPDATE makes exactly one of concurrent claimers win."""
        now = self.now()
        async with self._staff_ticket_tx(ref, staff_tg_id) as (s, actor, t):
            if t.state not in CLAIMABLE_STATES:
                if t.state == TicketState.ASSIGNED and t.accepted_at is not None:
                    raise AlreadyClaimed(t.number or str(t.id))
                raise IllegalTransition(f"工单 {t.number} 当前状态为「{TicketState(t.state).label}」，不能认领。")
            for _attempt in range(3):
                previous_state, seen_version = t.state, t.version
                values: dict[str, Any] = {"state": TicketState.ASSIGNED.value, "assignee_id": actor.staff.id, "updated_at": now}  # type: ignore[union-attr]
                first_accept = t.accepted_at is None
                if first_accept:
                    values["accepted_at"] = now
                    if t.accept_due_at is not None and now > t.accept_due_at and not t.accept_overdue:
                        values["accept_overdue"] = True
                # The race is decided here, in the database: only a row still in the state and version we
                # read is updated; a second claimer (other session, other process) matches nothing.
                result = await s.exec(  # type: ignore[call-overload]
                    update(Ticket)
                    .where(
                        col(Ticket.id) == t.id,
                        col(Ticket.version) == seen_version,
                        col(Ticket.state).in_([x.value for x in CLAIMABLE_STATES]),
                    )
                    .values(version=seen_version + 1, **values)
                    .execution_options(synchronize_session=False)
                )
                await s.refresh(t)
                if result.rowcount == 1:
                    break
                # Lost: if someone claimed it, say so; if only an unrelated change (a scheduler warning)
                # bumped the version while it is still claimable, try again on the fresh row.
                if t.state not in CLAIMABLE_STATES:
                    raise AlreadyClaimed(t.number or str(t.id))
            else:
                raise ConcurrentUpdate()
            if values.get("accept_overdue"):
                self._audit(s, t, SYSTEM_ACTOR, "accept_overdue", reason=f"受理时限 {self.fmt(t.accept_due_at)}，实际 {self.fmt(now)}")
            if first_accept:
                self._set_resolve_clock(t, now)
            self._audit(s, t, actor, "claim", previous_state, t.state, f"{actor.name} 受理")
            await self._notify(s, t, Audience.ENTERPRISE, "claimed", staff_name=self._shown_name(actor),
                               resolve_due_at=t.resolve_due_at)
            await self._notify(s, t, Audience.STAFF, "claimed", actor_name=actor.name, resolve_due_at=t.resolve_due_at)
            return await self._public(s, t)

    @retry_on_conflict
    async def start(self, ref: int | str, staff_tg_id: int, note: str = "") -> TicketPublic:
        """Mark an accepted ticket as being worked on (assigned/reopened/escalated → in_progress)."""
        async with self._staff_ticket_tx(ref, staff_tg_id) as (s, actor, t):
            if t.accepted_at is None:
                raise IllegalTransition(f"工单 {t.number} 尚未受理，请先认领。")
            self._transition(s, t, TicketState.IN_PROGRESS, actor, "start", note)
            return await self._public(s, t)

    @retry_on_conflict
    async def wait_for_enterprise(self, ref: int | str, staff_tg_id: int, reason: str) -> TicketPublic:
        """Ask the enterprise for materials; the resolve clock pauses until it answers or staff resume."""
        reason = self._text(reason, "需要企业补充的内容", 1000)
        now = self.now()
        async with self._staff_ticket_tx(ref, staff_tg_id) as (s, actor, t):
            self._transition(s, t, TicketState.WAITING_ENTERPRISE, actor, "wait_enterprise", reason)
            t.paused_at = now
            t.resolve_remaining_s = (
                self.calendar.working_seconds_between(now, t.resolve_due_at) if t.resolve_due_at else None
            )
            await self._notify(s, t, Audience.ENTERPRISE, "need_materials", asked=reason)
            return await self._public(s, t)

    @retry_on_conflict
    async def resume(self, ref: int | str, staff_tg_id: int, reason: str = "") -> TicketPublic:
        """Restart the resolve clock after waiting_enterprise (the deadline moves by the paused time)."""
        async with self._staff_ticket_tx(ref, staff_tg_id) as (s, actor, t):
            await self._resume(s, t, actor, reason or "恢复办理")
            await self._notify(s, t, Audience.ENTERPRISE, "resumed", resolve_due_at=t.resolve_due_at)
            return await self._public(s, t)

    async def _escalate(self, s: AsyncSession, t: Ticket, actor: Actor, action: str, reason: str,
                        **facts: Any) -> None:
        """`reason` is the audit's; `facts` tell the leaders why (`note`, or `overdue` and `due_at`)."""
        if t.paused_at is not None:
            # Escalating a ticket that waits for the enterprise restarts its clock: a leader now owns it.
            if t.resolve_remaining_s is not None and not t.resolve_overdue:
                self._set_resolve_clock(t, self.now(), t.resolve_remaining_s)
            t.paused_at, t.resolve_remaining_s = None, None
        if t.state != TicketState.ESCALATED:
            self._transition(s, t, TicketState.ESCALATED, actor, action, reason)
        else:
            self._audit(s, t, actor, action, t.state, t.state, reason)
        t.escalated_at = self.now()
        t.escalation_count += 1
        await self._notify(s, t, Audience.LEADERS, action, **(facts or {"note": reason}))

    @retry_on_conflict
    async def escalate(self, ref: int | str, actor_tg_id: int, reason: str, *, by_enterprise: bool = False) -> TicketPublic:
        """Ask for a leader (领导领办): by a staff member who may act, or by the requesting enterprise."""
        reason = self._text(reason, "升级原因", 1000)
        async with self._tx() as s:
            t = await self._ticket(s, ref)
            if by_enterprise:
                self._require_owner(t, actor_tg_id)
                actor = Actor(AuthorKind.ENTERPRISE, actor_tg_id, t.requester_name)
            else:
                actor = await self._staff_actor(s, actor_tg_id)
                await self._require_act(s, actor, t)
            check_transition(t.state, TicketState.ESCALATED)
            await self._escalate(s, t, actor, "escalate", reason)
            await self._notify(s, t, Audience.ENTERPRISE, "escalated")
            return await self._public(s, t)

    @retry_on_conflict
    async def reassign(self, ref: int | str, leader_tg_id: int, to_staff_tg_id: int, reason: str = "") -> TicketPublic:
        """A leader hands a ticket to someone (领导交办); an escalated ticket goes back to assigned."""
        async with self._tx() as s:
            actor = await self._staff_actor(s, leader_tg_id)
            if not actor.is_leader:
                raise PermissionDenied("只有领导可以交办（改派）工单。")
            target = await self._staff_by_tg(s, to_staff_tg_id)
            t = await self._ticket(s, ref)
            if t.state in (TicketState.CLOSED, TicketState.RESOLVED):
                raise IllegalTransition(f"工单 {t.number} 当前状态为「{TicketState(t.state).label}」，不能改派。")
            if target.role == StaffRole.ADMIN:
                # An admin cannot open tickets: handed one, it would sit with its clock running.
                raise InvalidInput(f"{target.name} 是管理员，不办理工单；请交办给服务专员或领导。")
            t.assignee_id = target.id
            why = reason or "领导交办"
            if t.state in (TicketState.ESCALATED, TicketState.NEW):
                self._transition(s, t, TicketState.ASSIGNED, actor, "reassign", why)
                if t.accepted_at is None:
                    t.accepted_at = self.now()
                    self._set_resolve_clock(t, self.now())
            else:
                self._audit(s, t, actor, "reassign", t.state, t.state, why)
            await self._notify(s, t, Audience.STAFF, "reassigned", actor_name=actor.name, target_name=target.name,
                               note=reason)
            return await self._public(s, t)

    async def hand_over(self, ref: int | str, staff_tg_id: int, to_staff_tg_id: int, reason: str = "") -> TicketPublic:
        """转派: a leader's 交办 (to anyone, see reassign); a commissioner's handover of a ticket they hold (or
        nobody holds yet) to a colleague offered by handover_targets — audited, the staff topic told."""
        async with self.sessions() as s:
            is_leader = (await self._staff_actor(s, staff_tg_id)).is_leader
        if is_leader:
            return await self.reassign(ref, staff_tg_id, to_staff_tg_id, reason)
        return await self._hand_over_to_colleague(ref, staff_tg_id, to_staff_tg_id, reason)

    @retry_on_conflict
    async def _hand_over_to_colleague(self, ref: int | str, staff_tg_id: int, to_staff_tg_id: int,
                                      reason: str) -> TicketPublic:
        reason = reason.strip()[:1000]
        async with self._staff_ticket_tx(ref, staff_tg_id) as (s, actor, t):
            assert actor.staff is not None
            if t.state in (TicketState.CLOSED, TicketState.RESOLVED):
                raise IllegalTransition(f"工单 {t.number} 当前状态为「{TicketState(t.state).label}」，不能转派。")
            if t.state == TicketState.ESCALATED:
                raise PermissionDenied(f"工单 {t.number} 已升级督办，只有领导可以交办（改派）。")
            if t.assignee_id not in (None, actor.staff.id):
                raise PermissionDenied(f"工单 {t.number} 由其他专员承办，只有承办人或领导可以转派。")
            target = await self._staff_by_tg(s, to_staff_tg_id)
            if not colleague_may_take(staff_scope(actor.staff), staff_scope(target), t):
                raise PermissionDenied(
                    f"{target.name} 不是与您同部门、可办理工单 {t.number} 的专员；跨部门请点「升级」由领导交办。")
            t.assignee_id = target.id
            t.updated_at = self.now()
            why = reason or "转给同部门同事"
            if t.state == TicketState.NEW:
                # Handing on an unclaimed ticket accepts it for the department (as a leader's 交办 does).
                self._transition(s, t, TicketState.ASSIGNED, actor, "handover", why)
                t.accepted_at = self.now()
                self._set_resolve_clock(t, self.now())
            else:
                self._audit(s, t, actor, "handover", t.state, t.state, f"{actor.name} → {target.name}：{why}")
            await self._notify(s, t, Audience.STAFF, "reassigned", actor_name=actor.name, target_name=target.name,
                               note=reason)
            return await self._public(s, t)

    @retry_on_conflict
    async def add_department(self, ref: int | str, staff_tg_id: int, department: str) -> TicketPublic:
        """Bring in a co-handling department (多部门会办)."""
        department = self._text(department, "会办部门", 100)
        async with self._staff_ticket_tx(ref, staff_tg_id) as (s, actor, t):
            if t.state == TicketState.CLOSED:
                raise IllegalTransition(f"工单 {t.number} 已销号。")
            (department,) = await self._canonical_departments(s, [department], "会办部门")
            if department != t.department and department not in t.co_departments:
                t.co_departments = [*t.co_departments, department]
                t.updated_at = self.now()
                self._audit(s, t, actor, "add_department", t.state, t.state, department)
                await self._notify(s, t, Audience.STAFF, "co_department", co_department=department)
            return await self._public(s, t)

    @retry_on_conflict
    async def resolve(self, ref: int | str, staff_tg_id: int, note: str) -> TicketPublic:
        """Record the result (办结, a note is required) and ask the enterprise to rate it."""
        note = self._text(note, "办理结果说明", MAX_TEXT)
        now = self.now()
        async with self._staff_ticket_tx(ref, staff_tg_id) as (s, actor, t):
            if t.accepted_at is None:
                raise IllegalTransition(f"工单 {t.number} 尚未受理，请先认领。")
            self._transition(s, t, TicketState.RESOLVED, actor, "resolve", note)
            self._mark_resolve_overdue_if_late(s, t, now)
            t.resolved_at = now
            t.first_resolved_at = t.first_resolved_at or now
            t.resolution_note = note
            t.resolution_round += 1
            t.paused_at, t.resolve_remaining_s = None, None
            t.rating_due_at = self.calendar.add_working_days(now, self.cfg.rating_within_days)
            t.rating_remind_at = self.calendar.add_working_days(now, self.cfg.rating_reminder_after_days)
            t.rating_reminded = False
            s.add(TicketMessage(ticket_id=t.id, author_kind=AuthorKind.STAFF, author_tg_id=actor.tg_id, text=f"办理结果：{note}", created_at=now))  # type: ignore[arg-type]
            await self._notify(s, t, Audience.ENTERPRISE, "rate_request", note=note, rating_due_at=t.rating_due_at)
            return await self._public(s, t)

    def _mark_resolve_overdue_if_late(self, s: AsyncSession, t: Ticket, now: datetime) -> None:
        # Counted even when the scheduler never ran (e.g. bot down): the deadline is in the row.
        if t.resolve_due_at is not None and now > t.resolve_due_at and not t.resolve_overdue and t.paused_at is None:
            t.resolve_overdue = True
            self._audit(s, t, SYSTEM_ACTOR, "resolve_overdue", reason=f"办结时限 {self.fmt(t.resolve_due_at)}")

    @retry_on_conflict
    async def rate(self, ref: int | str, enterprise_tg_id: int, score: str, comment: str = "") -> TicketPublic:
        """The requester rates a resolved ticket: 满意/基本满意 close it, 不满意 reopens it with a 回访 task."""
        try:
            value = _SCORE_ALIASES[str(score).strip().lower()]
        except KeyError as exc:
            raise InvalidInput(f"评价「{score}」无效，请选择：满意 / 基本满意 / 不满意。") from exc
        comment = self._text(comment, "评价意见", 1000, required=False)
        now = self.now()
        async with self._tx() as s:
            t = await self._ticket(s, ref)
            self._require_owner(t, enterprise_tg_id)
            if t.state != TicketState.RESOLVED:
                raise IllegalTransition(f"工单 {t.number} 当前状态为「{TicketState(t.state).label}」，暂不能评价。")
            actor = Actor(AuthorKind.ENTERPRISE, enterprise_tg_id, t.requester_name)
            s.add(Rating(ticket_id=t.id, round=t.resolution_round, score=value.value, comment=comment, rater_tg_id=enterprise_tg_id, created_at=now))  # type: ignore[arg-type]
            self._audit(s, t, actor, "rate", t.state, t.state, f"{value.value} {comment}".strip())
            if value == RatingScore.UNSATISFIED:
                self._transition(s, t, TicketState.REOPENED, actor, "reopen", comment or "企业不满意")
                t.rating_due_at = t.rating_remind_at = None
                t.resolve_warned = False
                t.resolve_escalated_at = None
                self._set_resolve_clock(t, now)
                fu = FollowUp(
                    ticket_id=t.id,  # type: ignore[arg-type]
                    assignee_id=t.assignee_id,
                    created_at=now,
                    due_at=self.calendar.add_working_days(now, self.cfg.followup_within_days),
                    warn_at=self.calendar.add_working_days(now, self.cfg.followup_within_days * self.cfg.warn_at_fraction),
                )
                s.add(fu)
                await self._notify(s, t, Audience.ENTERPRISE, "reopened", followup_due_at=fu.due_at)
                await self._notify(s, t, Audience.STAFF, "followup", comment=comment, followup_due_at=fu.due_at,
                                   resolve_due_at=t.resolve_due_at)
            else:
                self._transition(s, t, TicketState.CLOSED, actor, "close", f"企业评价{value.value}，对账销号")
                t.closed_at, t.close_reason = now, "rated"
                await self.close_followups(s, t, actor, f"企业评价{value.value}")
                await self._notify(s, t, Audience.ENTERPRISE, "closed")
                await self._notify(s, t, Audience.STAFF, "rated", score=value.value)
            return await self._public(s, t)

    @retry_on_conflict
    async def add_rating_comment(self, ref: int | str, enterprise_tg_id: int, comment: str) -> TicketPublic:
        """The requester's comment on their latest rating, sent after the buttons; a 不满意 one also reaches the commissioner."""
        comment = self._text(comment, "评价意见", MAX_TEXT)
        now = self.now()
        async with self._tx() as s:
            t = await self._ticket(s, ref)
            self._require_owner(t, enterprise_tg_id)
            stmt = select(Rating).where(Rating.ticket_id == t.id).order_by(col(Rating.id).desc())
            rating = (await s.exec(stmt)).first()
            if rating is None:
                raise IllegalTransition(f"工单 {t.number} 还没有评价。")
            if rating.comment:
                raise IllegalTransition(f"工单 {t.number} 的这次评价已有意见。")
            rating.comment = comment
            actor = Actor(AuthorKind.ENTERPRISE, enterprise_tg_id, t.requester_name)
            self._audit(s, t, actor, "rating_comment", t.state, t.state, f"{rating.score} {comment}")
            if rating.score == RatingScore.UNSATISFIED.value and t.state != TicketState.CLOSED:
                # What is still unresolved: to the commissioner like any enterprise message (one notification).
                await self._notify(s, t, Audience.STAFF, "enterprise_message", text=comment, unhappy=True)
                s.add(TicketMessage(ticket_id=t.id, author_kind=AuthorKind.ENTERPRISE.value, author_tg_id=enterprise_tg_id, text=comment, created_at=now))  # type: ignore[arg-type]
            t.updated_at = now
            return await self._public(s, t)

    @retry_on_conflict
    async def close(self, ref: int | str, staff_tg_id: int, note: str) -> TicketPublic:
        """对账销号 by staff: only a resolved ticket with a resolution note, and a closing note is required."""
        note = self._text(note, "销号说明", MAX_TEXT)
        async with self._staff_ticket_tx(ref, staff_tg_id) as (s, actor, t):
            if not t.resolution_note:
                raise IllegalTransition(f"工单 {t.number} 没有办理结果说明，不能销号。")
            self._transition(s, t, TicketState.CLOSED, actor, "close", note)
            t.closed_at, t.close_reason, t.close_note = self.now(), "manual", note
            await self.close_followups(s, t, actor, "对账销号")
            await self._notify(s, t, Audience.ENTERPRISE, "closed", note=note)
            return await self._public(s, t)

    async def close_followups(self, s: AsyncSession, t: Ticket, actor: Actor, why: str) -> int:
        """Close the ticket's open 回访 tasks with it: a closed ticket has nobody left to call back, and a
        task left open would later send leaders a false 督办 notice. Audited; returns how many."""
        stmt = select(FollowUp).where(FollowUp.ticket_id == t.id, col(FollowUp.done_at).is_(None))
        open_tasks = list((await s.exec(stmt)).all())
        for fu in open_tasks:
            fu.done_at, fu.note = self.now(), f"工单销号（{why}），回访任务随之关闭"
            s.add(fu)
        if open_tasks:
            self._audit(s, t, actor, "followup_closed", t.state, t.state, f"随工单销号关闭 {len(open_tasks)} 个回访任务")
        return len(open_tasks)

    @retry_on_conflict
    async def complete_followup(self, followup_id: int, staff_tg_id: int, note: str) -> FollowUp:
        """Record that the 回访 happened."""
        note = self._text(note, "回访记录", MAX_TEXT)
        async with self._tx() as s:
            actor = await self._staff_actor(s, staff_tg_id)
            fu = await s.get(FollowUp, followup_id)
            if fu is None:
                raise InvalidInput(f"找不到回访任务 {followup_id}。")
            t = await self._ticket(s, fu.ticket_id)
            await self._require_act(s, actor, t)
            if fu.done_at is not None:
                raise IllegalTransition(f"回访任务 {followup_id} 已完成。")
            fu.done_at, fu.note = self.now(), note
            self._audit(s, t, actor, "followup_done", t.state, t.state, note)
            return fu

    # ================================================================ messages
    @retry_on_conflict
    async def add_message(self, ticket_id: int | str, author_kind: str, author_tg_id: int | None, text: str) -> TicketMessage:
        """Store a message and queue it to the other side (staff → enterprise, enterprise → staff)."""
        text = self._text(text, "消息内容", MAX_TEXT)
        try:
            kind = AuthorKind(author_kind)
        except ValueError as exc:
            raise InvalidInput(f"未知的消息作者类型：{author_kind}") from exc
        if kind == AuthorKind.NOTE:
            raise InvalidInput("内部备注不经此发送（add_note）：它不会转给企业。")
        now = self.now()
        async with self._tx() as s:
            t = await self._ticket(s, ticket_id)
            if t.state == TicketState.CLOSED:
                raise IllegalTransition(f"工单 {t.number} 已销号，如有新问题请重新反映。")
            if kind == AuthorKind.ENTERPRISE:
                self._require_owner(t, author_tg_id)
                if t.state == TicketState.WAITING_ENTERPRISE:
                    await self._resume(s, t, Actor(kind, author_tg_id, t.requester_name), "企业已补充材料")
                await self._notify(s, t, Audience.STAFF, "enterprise_message", text=text)
            elif kind == AuthorKind.STAFF:
                actor = await self._staff_actor(s, author_tg_id)
                await self._require_act(s, actor, t)
                if t.accepted_at is None:
                    raise IllegalTransition(f"工单 {t.number} 尚未受理，请先认领后再回复企业。")
                if t.state in (TicketState.ASSIGNED, TicketState.REOPENED):
                    self._transition(s, t, TicketState.IN_PROGRESS, actor, "start", "首次答复企业")
                await self._notify(s, t, Audience.ENTERPRISE, "staff_message", staff_name=self._shown_name(actor),
                                   text=text)
            msg = TicketMessage(ticket_id=t.id, author_kind=kind.value, author_tg_id=author_tg_id, text=text, created_at=now)  # type: ignore[arg-type]
            s.add(msg)
            t.updated_at = now
            await s.flush()
            return msg

    async def add_note(self, ticket_id: int | str, staff_tg_id: int | None, text: str) -> TicketMessage:
        """An internal note: kept with the ticket's messages for the staff who may act on it, audited, and
        never queued to the enterprise (no outbox row), also on a closed ticket (a record for later)."""
        text = self._text(text, "备注内容", MAX_TEXT)
        now = self.now()
        async with self._tx() as s:
            t = await self._ticket(s, ticket_id)
            actor = await self._staff_actor(s, staff_tg_id)
            await self._require_act(s, actor, t)
            msg = TicketMessage(ticket_id=t.id, author_kind=AuthorKind.NOTE.value, author_tg_id=staff_tg_id,  # type: ignore[arg-type]
                                text=text, created_at=now)
            s.add(msg)
            self._audit(s, t, actor, "note", t.state, t.state, text[:200])
            await s.flush()
            return msg

    # ================================================================ outbox
    async def pending_notifications(self, limit: int = 50, max_attempts: int = 10) -> list[NotificationPublic]:
        """Undelivered outbox rows, oldest first (rows that failed max_attempts times are left for humans)."""
        async with self.sessions() as s:
            stmt = (
                select(Notification, Ticket)
                .join(Ticket, col(Notification.ticket_id) == col(Ticket.id), isouter=True)
                .where(col(Notification.sent_at).is_(None), Notification.attempts < max_attempts)
                .order_by(col(Notification.id))
                .limit(limit)
            )
            out = []
            for n, t in (await s.exec(stmt)).all():
                data = n.model_dump()
                if t is not None:
                    data.update(ticket_number=t.number or "", staff_chat_id=t.staff_chat_id, staff_thread_id=t.staff_thread_id)
                out.append(NotificationPublic.model_validate(data))
            return out

    async def mark_notification_sent(self, notification_id: int) -> None:
        """The bot delivered it."""
        async with self._tx() as s:
            n = await s.get(Notification, notification_id)
            if n is None:
                raise InvalidInput(f"找不到通知 {notification_id}。")
            n.sent_at = self.now()
            n.attempts += 1

    async def mark_notification_failed(self, notification_id: int, error: str) -> None:
        """Delivery failed; it stays pending and will be retried."""
        async with self._tx() as s:
            n = await s.get(Notification, notification_id)
            if n is None:
                raise InvalidInput(f"找不到通知 {notification_id}。")
            n.attempts += 1
            n.last_error = error[:2000]
