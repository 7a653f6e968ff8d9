"""Push fixtures: a PushService and a Desk on real SQLite and PostgreSQL, a FakeClock, and a knowledge
base written as ingest leaves it (kb_source + kb_record rows: the push reads only those)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

import push.models  # noqa: F401  (the push tables in SQLModel.metadata, for the PostgreSQL truncation)
from core.clock import FakeClock
from core.config import Settings
from core.db import make_sessionmaker
from desk.models import EnterpriseCreate
from desk.service import Desk
from knowledge.models import KbRecord, KbSource
from push.service import PushService
from tests.desk.conftest import sh

ADMIN = 3001



@pytest.fixture
def clock() -> FakeClock:
    # Monday 2026-11-16, 10:00 Beijing: working hours.
    return FakeClock(sh(2026, 11, 16, 10, 0))


@pytest.fixture
def push_settings(settings: Settings) -> Settings:
    settings.telegram.admin_ids = [ADMIN]
    settings.push.districts = ["东城区", "西山县"]
    return settings


@pytest.fixture
def pushes(engine, push_settings: Settings, clock: FakeClock) -> PushService:  # type: ignore[no-untyped-def]
    return PushService(make_sessionmaker(engine), push_settings, clock)


@pytest.fixture
def desk(engine, push_settings: Settings, clock: FakeClock) -> Desk:  # type: ignore[no-untyped-def]
    return Desk(make_sessionmaker(engine), push_settings, clock)


@dataclass
class Owner:
    tg: int
    enterprise_id: int


async def add_owner(desk: Desk, pushes: PushService, n: int, *, industry: str = "", size: str = "",
                    district: str = "", tags: tuple[str, ...] = (), consent: bool | None = True) -> Owner:
    """A registered enterprise (owner Telegram id 800000+n) with this profile and consent."""
    tg = 800000 + n
    enterprise = await desk.register_enterprise(EnterpriseCreate(
        name=f"测试企业{n}", credit_code=valid_code(n), contact_name="张三", contact_phone="13800000000", tg_user_id=tg))
    await pushes.update_profile(tg, industry=industry, size=size, district=district)
    for tag in tags:
        await pushes.update_profile(tg, toggle_tag=tag)
    if consent is not None:
        await pushes.set_consent(tg, consent)
    return Owner(tg, enterprise.id)


def valid_code(n: int) -> str:
    """A valid 统一社会信用代码 for enterprise n (the check character computed per GB 32100-2015)."""
    alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    weights = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]
    body = f"91440300MA{n:07d}"
    total = sum(alphabet.index(ch) * w for ch, w in zip(body, weights, strict=True))
    return body + alphabet[(31 - total % 31) % 31]


async def add_policy(engine, name: str, passages: list[tuple[str, str]], *, department: str = "市商务局",  # type: ignore[no-untyped-def]
                     push_meta: dict[str, Any] | None = None, version: str = "1", expires: date | None = None,
                     title: str = "") -> KbSource:
    """A policy file as ingest stores it: its kb_source row and one kb_record per (section, passage)."""
    sessions = make_sessionmaker(engine)
    async with sessions() as s, s.begin():
        source = await _source(s, name)
        if source is None:
            source = KbSource(path=f"/data/{name}", name=name, kind="policy", sha256="")
        source.sha256 = hashlib.sha256(f"{name}{version}".encode()).hexdigest()
        source.title = title or name.rsplit(".", 1)[0]
        source.department = department
        source.push_meta = push_meta or {}
        source.expires = expires
        s.add(source)
        await s.flush()
        for i, (section, text) in enumerate(passages):
            s.add(KbRecord(id=hashlib.sha256(f"{name}{version}{i}".encode()).hexdigest()[:32], source_id=source.id,
                           kind="policy", title=source.title, department=department, section=section,
                           citation=f"{name} › {section}", text=text, span_start=i * 100, span_end=i * 100 + len(text),
                           data={"quote": text}))
        return source


async def add_department_card(engine, name: str, address: str, phone: str) -> None:  # type: ignore[no-untyped-def]
    sessions = make_sessionmaker(engine)
    async with sessions() as s, s.begin():
        source = await _source(s, "departments.csv") or KbSource(path="/data/departments.csv", name="departments.csv",
                                                                kind="directory", sha256="d")
        s.add(source)
        await s.flush()
        assert source.id is not None
        s.add(KbRecord(id=hashlib.sha256(name.encode()).hexdigest()[:32], source_id=source.id, kind="department",
                       title=name, department=name, section="", citation=f"departments.csv › {name}", text=name,
                       data={"address": address, "phone": phone}))


async def _source(s: AsyncSession, name: str) -> KbSource | None:
    return (await s.exec(select(KbSource).where(KbSource.name == name))).first()


RENT_RELIEF = [
    ("一、适用对象", "本市住宿和餐饮业小微企业，租用国有房屋的，减免三个月房租。"),
    ("二、补贴标准", "对符合条件的企业给予一次性稳岗补贴，每户最高补贴 5 万元；对新招用人员再给予奖励。"),
    ("三、申报材料", "营业执照复印件、租赁合同、上年度纳税证明。"),
]
GUIDE = [("一、办理流程", "开办餐饮店需先办理营业执照，再申请食品经营许可证。")]
