"""Tables owned by the dashboard: web sign-in credentials and FAQ proposals an admin decided on.

Credentials live apart from the desk's Staff table on purpose: the bot and the CLI never need a
password, and the desk's model stays free of web concerns. Rows are keyed by the staff member's
Telegram user id, which is how the desk identifies staff.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import BigInteger, Column, DateTime
from sqlmodel import Field, SQLModel


def _utc_now() -> datetime:
    return datetime.now(UTC)


class StaffCredential(SQLModel, table=True):
    """A staff member's dashboard password (argon2id hash)."""

    __tablename__ = "dashboard_credential"

    tg_user_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    password_hash: str = Field(max_length=255)
    # Bumped on every password change so cookies issued before it stop working.
    generation: int = 1
    updated_at: datetime = Field(default_factory=_utc_now, sa_type=DateTime(timezone=True))  # type: ignore[call-overload]


# The address recorded on the row that counts one account's failures from every address together.
ALL_ADDRESSES = "*"


class SignInGuard(SQLModel, table=True):
    """Failed sign-ins for one submitted user id: one row per client address, and one (address "*")
    for all addresses together.

    Rows exist for ids that have no account too, so an unknown id is refused and locked exactly
    like a known one (nobody learns which ids exist). Idle rows are deleted as sign-ins happen.
    """

    __tablename__ = "dashboard_signin_guard"

    tg_user_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    address: str = Field(primary_key=True, max_length=64)
    failed_count: int = 0
    first_failure_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))  # type: ignore[call-overload]
    locked_until: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))  # type: ignore[call-overload]


class FaqDecision(SQLModel, table=True):
    """What an admin did with a resolved ticket proposed as a new FAQ entry (accepted or dismissed)."""

    __tablename__ = "dashboard_faq_decision"

    ticket_id: int = Field(primary_key=True)
    accepted: bool
    decided_by: int = Field(sa_column=Column(BigInteger, nullable=False))
    decided_at: datetime = Field(default_factory=_utc_now, sa_type=DateTime(timezone=True))  # type: ignore[call-overload]
    # The knowledge-base file written for an accepted entry (relative to the data dir).
    path: str = Field(default="", max_length=1024)
