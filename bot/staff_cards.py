"""Where each ticket's card sits in the staff group, so the bot can keep it current.

The card (state, assignee, deadlines, buttons) is the first thing a commissioner sees in a ticket's
topic; without this record it would keep saying 待受理 after the ticket was claimed, resolved or closed.
A table of its own (not columns on ``ticket``): the desk knows nothing of Telegram messages, and
``create_all`` adds a new table to an existing database where it would not add a column.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from sqlalchemy import BigInteger
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import Field, SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession


class StaffCard(SQLModel, table=True):
    __tablename__ = "staff_card"

    ticket_id: int = Field(primary_key=True)
    chat_id: int = Field(sa_type=BigInteger)
    message_ids: str = Field(max_length=200)  # the card's messages in order (a long card is split)
    rendered: str = Field(default="", max_length=64)  # digest of what the messages show now


@dataclass(frozen=True)
class CardPlace:
    chat_id: int
    message_ids: list[int]
    rendered: str


def digest(*parts: object) -> str:
    return hashlib.sha256(repr(parts).encode("utf-8")).hexdigest()[:32]


class StaffCards:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def get(self, ticket_id: int) -> CardPlace | None:
        async with self._sessions() as session:
            row = await session.get(StaffCard, ticket_id)
        if row is None:
            return None
        ids = [int(i) for i in row.message_ids.split(",") if i]
        return CardPlace(row.chat_id, ids, row.rendered)

    async def save(self, ticket_id: int, chat_id: int, message_ids: list[int], rendered: str) -> None:
        async with self._sessions() as session, session.begin():
            row = await session.get(StaffCard, ticket_id)
            if row is None:
                row = StaffCard(ticket_id=ticket_id, chat_id=chat_id, message_ids="", rendered="")
            row.chat_id = chat_id
            row.message_ids = ",".join(str(i) for i in message_ids)[:200]
            row.rendered = rendered
            session.add(row)

    async def set_rendered(self, ticket_id: int, rendered: str) -> None:
        async with self._sessions() as session, session.begin():
            row = await session.get(StaffCard, ticket_id)
            if row is not None:
                row.rendered = rendered
                session.add(row)
