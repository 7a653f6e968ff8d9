"""The rule of who may act on a ticket has one Python and one SQL form; on generated staff and tickets
they select exactly the same tickets (SQLite and PostgreSQL)."""

from __future__ import annotations

import random

from sqlmodel import col, select

from desk.models import Enterprise, Staff, Ticket
from desk.service import Desk
from desk.visibility import may_act, may_act_clause, staff_scope

DEPARTMENTS = ["市场监管局", "税务局", "人社局", "生态环境局"]


async def test_python_and_sql_forms_agree(desk: Desk) -> None:
    rng = random.Random(20261202)
    async with desk.sessions() as s, s.begin():
        staff = [Staff(tg_user_id=1, name="领导", role="leader"), Staff(tg_user_id=2, name="管理员", role="admin",
                                                                  departments=["税务局"])]
        for i in range(8):
            staff.append(Staff(tg_user_id=10 + i, name=f"专员{i}", role="commissioner",
                               departments=rng.sample(DEPARTMENTS, rng.randint(0, 2))))
        s.add_all(staff)
        await s.flush()
        commissioners = [x for x in staff if x.role == "commissioner"]
        enterprises = [Enterprise(name=f"企业{i}", credit_code=f"91{i:016d}",
                                  commissioner_id=rng.choice([None, *[c.id for c in commissioners]]))
                       for i in range(6)]
        s.add_all(enterprises)
        await s.flush()
        for i in range(120):
            s.add(Ticket(
                number=f"BC-20261202-{i:04d}", title=f"问题{i}", department=rng.choice([*DEPARTMENTS, "某某办", ""]),
                co_departments=rng.sample(DEPARTMENTS, rng.randint(0, 2)), reason="其他",
                enterprise_id=rng.choice([None, *[e.id for e in enterprises]]),
                assignee_id=rng.choice([None, None, *[c.id for c in commissioners]]),
                accept_due_at=desk.now(),
            ))
    async with desk.sessions() as s:
        tickets = list((await s.exec(select(Ticket))).all())
        commissioner_of = {e.id: e.commissioner_id for e in (await s.exec(select(Enterprise))).all()}
        sizes = []
        for member in (await s.exec(select(Staff))).all():
            scope = staff_scope(member)
            by_python = {t.id for t in tickets
                         if may_act(scope, t, commissioner_of.get(t.enterprise_id) if t.enterprise_id else None)}
            by_sql = set((await s.exec(select(Ticket.id).where(may_act_clause(scope)))).all())
            assert by_python == by_sql, member.name
            sizes.append(len(by_sql))
            # The desk's own check says the same for every ticket.
            assert {t.id for t in tickets if await desk._can_act(s, member, t)} == by_sql
    assert sizes[0] == 120 and sizes[1] == 0  # the leader acts on all, the admin on none
    assert any(0 < n < 120 for n in sizes[2:])  # commissioners: some, not all


async def test_listings_use_the_same_rule(desk: Desk) -> None:
    await desk.add_staff(11, "张专员", "commissioner", ["市场监管局"])
    await desk.add_staff(12, "王专员", "commissioner", ["税务局"])
    from desk.models import TicketCreate

    for department in ("市场监管局", "税务局", "市场监管局"):
        await desk.create_ticket(TicketCreate(title="办证遇阻", department=department, reason="超时"))
    mine = await desk.list_tickets(11)
    assert [t.department for t in mine] == ["市场监管局", "市场监管局"]
    assert len(await desk.list_tickets(11, limit=1)) == 1
    async with desk.sessions() as s:
        assert len((await s.exec(select(Ticket).where(col(Ticket.department) == "税务局"))).all()) == 1
