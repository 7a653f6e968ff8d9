"""Push bench: a campaign to N matching enterprises through the real bot (`zhitong run`, its own process)
and a local Bot API server, while owners keep asking questions.

Prints the campaign's duration and rate (pushes per second, from the first push to the last) and the
reply latency of the owners' questions asked meanwhile (p50/p95/max). Usage:

    .venv/bin/python bench/push_campaign.py [--enterprises 10000] [--ask-every 1.0] [--rate 25]

The demo city is ingested into a temporary data dir first (~15 s) with one extra policy to push; the
enterprises are written straight into the database (the bench measures sending, not registering).
Telegram's limits apply as configured: AIORateLimiter at `telegram.rate_overall_per_s` (30/s) for every
message, pushes paced at `push.rate_per_s` so answers keep a share of it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.config import load_settings  # noqa: E402
from tests.auxil.botapi_server import BOT_TOKEN, BotApiServer, FakeUser  # noqa: E402

POLICY = """---
title: 示范市小微餐饮企业房租补贴通知
department: 示范市商务局
applies_to:
  industries: [餐饮]
benefit: 申请
apply_by: 2027-06-30
summary: 小微餐饮企业按月租金的 30% 给予补贴，最长 6 个月。
---
# 示范市小微餐饮企业房租补贴通知

一、补贴标准：按月租金的百分之三十给予补贴。二、申报材料：营业执照、租赁合同。
"""
PUSH_MARK = "惠企政策直达"
FIRST_OWNER = 50_000_000


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))]


def seed(data_dir: Path, enterprises: int) -> int:
    """Ingest the demo city and the policy, write the enterprises, open and approve the campaign."""
    from sqlalchemy import insert

    from core.db import init_db_sync, make_sync_engine
    from desk.models import Enterprise
    from ingest.pipeline import ingest_paths

    settings = load_settings(data_dir=data_dir)
    policy = data_dir.parent / "房租补贴.md"
    policy.write_text(POLICY, encoding="utf-8")
    report = ingest_paths(settings, [ROOT / "data/sample/directory", ROOT / "data/sample/policies", policy])
    assert not report.failed, report.summary_zh()
    engine = make_sync_engine(settings.database_url)
    init_db_sync(engine)
    rows = [{"name": f"餐馆{n}", "credit_code": f"BENCH{n:013d}", "industry": "住宿和餐饮业", "size": "小型",
             "district": "", "tags": [], "tg_user_id": FIRST_OWNER + n, "push_consent": True,
             "contact_name": "", "contact_phone": ""} for n in range(enterprises)]
    with engine.begin() as conn:
        for start in range(0, len(rows), 2000):
            conn.execute(insert(Enterprise), rows[start : start + 2000])
    engine.dispose()
    return asyncio.run(_approve(settings))


async def _approve(settings: object) -> int:
    from core.db import make_async_engine, make_sessionmaker
    from push.service import PushService

    engine = make_async_engine(settings.database_url)  # type: ignore[attr-defined]
    pushes = PushService(make_sessionmaker(engine), settings)  # type: ignore[arg-type]
    (campaign,) = [c for c in await pushes.sync_from_knowledge() if c.policy_name == "房租补贴.md"]
    assert campaign.id is not None
    approved = await pushes.approve(campaign.id, by_tg_id=None)
    await engine.dispose()
    return approved.queued_count


async def main(args: argparse.Namespace) -> int:
    data_dir = Path(tempfile.mkdtemp(prefix="zt-push-")) / "var"
    print(f"seeding {args.enterprises} enterprises and the demo city into {data_dir} …", flush=True)
    queued = await asyncio.to_thread(seed, data_dir, args.enterprises)
    print(f"campaign approved: {queued} pushes queued", flush=True)
    questions = [json.loads(line)["q"] for line in (ROOT / "data/sample/questions.jsonl").read_text("utf-8").splitlines()
                 if line.strip()]

    api = BotApiServer()
    await api.start()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZHITONG_")}
    env.update({
        "ZHITONG_DATA_DIR": str(data_dir), "ZHITONG_CONFIG": str(data_dir / "absent.toml"),
        "ZHITONG_LOG_LEVEL": "WARNING", "ZHITONG_TELEGRAM_TOKEN": BOT_TOKEN,
        "ZHITONG_TELEGRAM_BASE_URL": api.base_url, "ZHITONG_TELEGRAM_BASE_FILE_URL": api.base_file_url,
        "ZHITONG_TELEGRAM_FLOOD_MESSAGES": "1000", "ZHITONG_PUSH_WORKING_HOURS_ONLY": "false",
        "ZHITONG_PUSH_RATE_PER_S": str(args.rate), "ZHITONG_PUSH_INTERVAL_S": "1",
    })
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "cli", "run", env=env, cwd=str(ROOT))
    latencies: list[float] = []
    unanswered = 0
    try:
        deadline = time.monotonic() + 300
        while not any(PUSH_MARK in e.text for e in api.events):  # noqa: ASYNC110 (another process)
            assert time.monotonic() < deadline, "no push within 300 s"
            await asyncio.sleep(0.2)
        owner = FakeUser(api, 9_000_001)
        scanned = 0
        pushes_seen = 0
        first_push = last_push = 0.0
        asked = 0
        next_question = time.monotonic()
        while pushes_seen < queued:
            now = time.monotonic()
            if now >= next_question:
                owner.send(questions[asked % len(questions)])
                sent_at = time.monotonic()
                asked += 1
                next_question = now + args.ask_every
                try:
                    reply = await owner.expect(timeout=30)
                    latencies.append(reply.sent_at - sent_at)
                except TimeoutError:
                    unanswered += 1
            events = api.events
            for event in events[scanned:]:
                if PUSH_MARK in event.text:
                    pushes_seen += 1
                    first_push = first_push or event.sent_at
                    last_push = event.sent_at
            scanned = len(events)
            if time.monotonic() - last_push > 120 and last_push:
                print("no push for 120 s: stopping", flush=True)
                break
            await asyncio.sleep(0.05)
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            await proc.wait()
        await api.stop()
    duration = last_push - first_push
    print(f"pushes: {pushes_seen}/{queued} in {duration:.1f} s = {pushes_seen / max(duration, 1e-9):.1f}/s "
          f"(push.rate_per_s {args.rate}, telegram.rate_overall_per_s 30)")
    if latencies:
        print(f"owners' questions during the campaign: {len(latencies)} answered, {unanswered} unanswered; "
              f"reply p50 {statistics.median(latencies) * 1000:.0f} ms, p95 {percentile(latencies, 95) * 1000:.0f} ms, "
              f"max {max(latencies) * 1000:.0f} ms")
    return 0 if pushes_seen == queued and unanswered == 0 else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--enterprises", type=int, default=10_000)
    parser.add_argument("--ask-every", type=float, default=1.0, help="seconds between two owners' questions")
    parser.add_argument("--rate", type=float, default=25.0, help="push.rate_per_s")
    sys.exit(asyncio.run(main(parser.parse_args())))
