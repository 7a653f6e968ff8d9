"""A small, hand-written knowledge base inserted straight into the tables and the vector store.

It mirrors what ingest writes (KbSource / KbRecord / KbDepartment rows + vectors), so retrieval and
answering can be tested on their own with real SQLite, real Chroma and the real embedder.
"""

from __future__ import annotations

import hashlib
from datetime import date, timedelta
from typing import Any

from sqlmodel import select

from core.config import Settings
from core.db import init_db_sync, make_sync_engine, sync_session
from knowledge.models import KbDepartment, KbRecord, KbSource
from knowledge.store import VectorStore
from knowledge.types import Record

DEPARTMENTS: dict[str, dict[str, Any]] = {
    "示范市市场监督管理局": {
        "aliases": ["市场监管局", "工商局", "质监局", "食药监局"],
        "address": "示范市新城区市民大道88号市民中心A区3楼",
        "phone": "0740-81233001",
        "hours": "周一至周五 9:00-12:00，13:30-17:30",
        "section": "登记注册科",
        "section_duties": "负责企业登记注册、营业执照核发",
        "contact": "王强",
    },
    "示范市税务局": {
        "aliases": ["国税局", "地税局", "税务"],
        "address": "示范市新城区税兴路6号办税服务厅",
        "phone": "0740-12366",
        "hours": "周一至周五 9:00-17:00",
        "section": "纳税服务科",
        "section_duties": "发票申领、税务登记、减税降费政策辅导",
        "contact": "李娜",
    },
    "示范市人力资源和社会保障局": {
        "aliases": ["人社局", "劳动局", "社保局"],
        "address": "示范市新城区民生路12号",
        "phone": "0740-12333",
        "hours": "周一至周五 9:00-17:30",
        "section": "就业促进科",
        "section_duties": "就业补贴、社会保险登记、招用工服务",
        "contact": "赵敏",
    },
    "示范市生态环境局": {
        "aliases": ["环保局", "环境局"],
        "address": "示范市新城区绿水路3号",
        "phone": "0740-12369",
        "hours": "周一至周五 9:00-17:30",
        "section": "环评审批科",
        "section_duties": "建设项目环境影响评价审批、排污许可",
        "contact": "孙涛",
    },
    "示范市营商环境建设局": {
        "aliases": ["营商局", "营商办", "办不成事窗口"],
        "address": "示范市新城区市民大道88号市民中心A区1楼1号窗口",
        "phone": "0740-81231001",
        "hours": "周一至周五 9:00-12:00，13:30-17:30",
        "section": "“办不成事”反映窗口",
        "section_duties": "受理企业在正常渠道办不成、办不好、办得慢的事项",
        "contact": "陈静",
    },
}

SERVICES: list[dict[str, str]] = [
    {
        "name": "食品经营许可证核发",
        "department": "示范市市场监督管理局",
        "window": "市民中心A区3楼12号窗口",
        "materials": "食品经营许可申请书；营业执照复印件；经营场所平面图；食品安全管理制度",
        "time_limit": "10个工作日",
        "fee": "不收费",
        "online": "https://zwfw.example.gov.cn/spjy",
        "keywords": "开饭店、餐馆、餐饮、小吃店、奶茶店、食品销售",
    },
    {
        "name": "企业设立登记（营业执照）",
        "department": "示范市市场监督管理局",
        "window": "市民中心A区2楼企业开办专区",
        "materials": "公司登记申请书；公司章程；股东身份证明；住所使用证明",
        "time_limit": "1个工作日",
        "fee": "不收费",
        "keywords": "开公司、注册公司、办营业执照、个体户",
    },
    {
        "name": "增值税发票申领",
        "department": "示范市税务局",
        "window": "办税服务厅1-8号窗口",
        "materials": "经办人身份证件；发票领用簿",
        "time_limit": "即办",
        "keywords": "发票、领发票、开票、税控盘",
    },
    {
        "name": "小规模纳税人增值税减免申报",
        "department": "示范市税务局",
        "window": "办税服务厅",
        "materials": "增值税纳税申报表",
        "time_limit": "即办",
        "keywords": "减税、免税、小规模、增值税",
    },
    {
        "name": "单位社会保险登记",
        "department": "示范市人力资源和社会保障局",
        "window": "民生路12号社保大厅5号窗口",
        "materials": "营业执照；法定代表人身份证",
        "time_limit": "即办",
        "keywords": "社保开户、员工社保、五险",
    },
    {
        "name": "建设项目环境影响评价审批",
        "department": "示范市生态环境局",
        "window": "市民中心B区环保窗口",
        "materials": "环境影响报告书（表）；项目立项文件",
        "time_limit": "20个工作日",
        "fee": "不收费",
        "keywords": "环评、工厂、建厂、排放",
    },
    {
        "name": "排污许可证核发",
        "department": "示范市生态环境局",
        "window": "市民中心B区环保窗口",
        "materials": "排污许可证申请表",
        "time_limit": "20个工作日",
        "keywords": "排污、废水、废气",
    },
]

POLICIES: list[dict[str, Any]] = [
    {
        "file": "稳岗补贴实施办法.md",
        "title": "示范市稳岗补贴实施办法",
        "department": "示范市人力资源和社会保障局",
        "sections": [
            (
                "一、补贴对象",
                "依法参加失业保险并足额缴费、上年度未裁员或裁员率低于规定标准的企业，可以申请稳岗补贴。",
            ),
            (
                "二、补贴标准",
                "中小微企业按上年度实际缴纳失业保险费的60%返还，大型企业按30%返还。补贴资金直接拨付到企业对公账户。",
            ),
        ],
    },
    {
        "file": "旧版稳岗补贴办法.md",
        "title": "示范市稳岗补贴暂行办法（2019）",
        "department": "示范市人力资源和社会保障局",
        "superseded_by": "稳岗补贴实施办法.md",
        "sections": [("二、补贴标准", "稳岗补贴按上年度实际缴纳失业保险费的50%返还。")],
    },
    {
        "file": "过期的房租减免通知.md",
        "title": "示范市小微企业房租减免通知",
        "department": "示范市营商环境建设局",
        "expires": date.today() - timedelta(days=30),
        "sections": [("一、减免范围", "承租国有房屋的小微企业免除三个月房租。")],
    },
]


def rid(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:32]


def build_rows() -> tuple[list[KbSource], list[tuple[int, Record]], list[KbDepartment]]:
    """Sources, (source index, record) pairs and departments, as ingest would produce them."""
    sources: list[KbSource] = []
    records: list[tuple[int, Record]] = []
    departments: list[KbDepartment] = []
    sources.append(
        KbSource(path="/fixture/departments.csv", name="departments.csv", kind="directory", sha256="d" * 64)
    )
    for name, info in DEPARTMENTS.items():
        departments.append(KbDepartment(name=name, aliases=info["aliases"]))
        data = {k: v for k, v in info.items() if k != "aliases"} | {"aliases": info["aliases"]}
        text = (
            f"部门：{name}\n别名：{'、'.join(info['aliases'])}\n科室：{info['section']}\n"
            f"科室职责：{info['section_duties']}\n地址：{info['address']}\n电话：{info['phone']}"
        )
        records.append(
            (
                0,
                Record(
                    id=rid("departments.csv", "department", text),
                    kind="department",
                    title=name,
                    department=name,
                    text=text,
                    citation=f"departments.csv › {name}",
                    source_file="departments.csv",
                    section=info["section"],
                    data=data,
                ),
            )
        )
    sources.append(
        KbSource(path="/fixture/services.csv", name="services.csv", kind="directory", sha256="s" * 64)
    )
    for row, svc in enumerate(SERVICES, start=2):
        text = "\n".join(f"{k}：{v}" for k, v in svc.items())
        records.append(
            (
                1,
                Record(
                    id=rid("services.csv", "service", text),
                    kind="service",
                    title=svc["name"],
                    department=svc["department"],
                    text=text,
                    citation=f"services.csv › 第{row}行 {svc['name']}",
                    source_file="services.csv",
                    data=dict(svc),
                ),
            )
        )
    for policy in POLICIES:
        src_index = len(sources)
        sources.append(
            KbSource(
                path=f"/fixture/{policy['file']}",
                name=policy["file"],
                kind="policy",
                sha256=rid(policy["file"]) * 2,
                title=policy["title"],
                department=policy["department"],
                expires=policy.get("expires"),
                superseded_by=policy.get("superseded_by", ""),
            )
        )
        offset = 0
        for heading, body in policy["sections"]:
            text = f"{heading}\n{body}"
            records.append(
                (
                    src_index,
                    Record(
                        id=rid(policy["file"], "policy", text),
                        kind="policy",
                        title=policy["title"],
                        department=policy["department"],
                        text=text,
                        citation=f"{policy['file']} › {heading}",
                        source_file=policy["file"],
                        section=heading,
                        span=(offset, offset + len(text)),
                        data={"quote": body},
                    ),
                )
            )
            offset += len(text) + 1
    return sources, records, departments


def seed(settings: Settings, store: VectorStore) -> list[Record]:
    """Write the fixture KB the way ingest does: vectors first, then one SQL transaction."""
    sources, pairs, departments = build_rows()
    store.upsert([r for _, r in pairs])
    engine = make_sync_engine(settings.database_url)
    init_db_sync(engine)
    with sync_session(engine) as session:
        for source in sources:
            session.add(source)
        session.flush()
        for src_index, r in pairs:
            session.add(
                KbRecord(
                    id=r.id,
                    source_id=sources[src_index].id or 0,
                    kind=r.kind,
                    title=r.title,
                    department=r.department,
                    section=r.section,
                    citation=r.citation,
                    text=r.text,
                    span_start=r.span[0],
                    span_end=r.span[1],
                    data=r.data,
                )
            )
        for dept in departments:
            session.add(dept)
        session.commit()
        assert session.exec(select(KbRecord)).first() is not None
    engine.dispose()
    return [r for _, r in pairs]
