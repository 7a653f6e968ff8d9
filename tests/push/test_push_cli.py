"""`zhitong push …` on a SQLite data dir: the same PushService as the bot, for the local administrator."""

from __future__ import annotations

import asyncio
from pathlib import Path

from typer.testing import CliRunner

from cli import _register_all, app
from core.config import load_settings
from core.db import init_db, make_async_engine, make_sessionmaker
from push.service import PushService
from tests.e2e.test_push_e2e import POLICY
from tests.push.conftest import valid_code


def _profile(data_dir: Path, tg: int, industry: str, size: str) -> None:
    async def main() -> None:
        settings = load_settings(data_dir=data_dir)
        engine = make_async_engine(settings.database_url)
        await init_db(engine)
        pushes = PushService(make_sessionmaker(engine), settings)
        await pushes.update_profile(tg, industry=industry, size=size)
        await pushes.set_consent(tg, True)
        await engine.dispose()

    asyncio.run(main())


def test_push_cli_review_and_approve(tmp_path: Path) -> None:
    if not any(g.name == "push" for g in app.registered_groups):
        _register_all()
    cli = CliRunner()
    data_dir = tmp_path / "var"

    def run(*args: str, code: int = 0) -> str:
        result = cli.invoke(app, ["--data-dir", str(data_dir), *args])
        assert result.exit_code == code, (args, result.output)
        return result.output

    policy = tmp_path / "房租补贴.md"
    policy.write_text(POLICY, encoding="utf-8")
    run("ingest", "-q", str(policy))
    run("enterprise", "add", "--name", "好味道餐馆", "--code", valid_code(1), "--tg", "501")
    run("enterprise", "add", "--name", "精工机械厂", "--code", valid_code(2), "--tg", "502")
    _profile(data_dir, 501, "住宿和餐饮业", "小型")
    _profile(data_dir, 502, "制造业", "小型")
    listed = run("push", "list")
    assert "示范市小微餐饮企业房租补贴通知" in listed and "待审核" in listed and "文件声明" in listed
    preview = run("push", "preview", "1")
    assert "匹配的已订阅企业：1 家" in preview and "行业=住宿和餐饮业：1 家" in preview
    assert "【惠企政策直达】" in preview and "申报截止：2027-06-30" in preview
    assert "美食" in run("push", "audience", "1", "行业=美食", code=1)
    assert "没有编号为 99" in run("push", "preview", "99", code=1)
    assert "1 家企业" in run("push", "approve", "1")
    assert "已经批准" in run("push", "approve", "1", code=1)
    stats = run("push", "stats")
    assert "示范市小微餐饮企业房租补贴通知" in stats and "已批准" in stats
