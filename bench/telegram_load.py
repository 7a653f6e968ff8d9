"""Load bench: N simulated owners ask at once; the real bot answers through a local Bot API server.

Prints p50/p95/max reply latency (question pushed → first reply in that chat) and lost updates
(questions with no reply within the timeout). Usage:

    .venv/bin/python bench/telegram_load.py --chats 200 [--rounds 3] [--rate 30] [--data-dir DIR]

--data-dir reuses a data dir that already holds the ingested demo city (else a temporary one is
ingested first, ~15 s). --rate applies Telegram's overall limit (messages/s) through AIORateLimiter;
the default 0 measures the bot itself (Telegram's real limit of ~30 msg/s bounds any bot: 200 replies
take at least 200/30 ≈ 6.7 s, so the p95 ≤ 1 s target can only be met below the limit).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
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


def questions(n: int) -> list[str]:
    rows = [json.loads(line) for line in (ROOT / "data/sample/questions.jsonl").read_text("utf-8").splitlines() if line.strip()]
    qs = [r["q"] for r in rows]
    return [qs[i % len(qs)] for i in range(n)]


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


async def main(args: argparse.Namespace) -> int:
    from cli.telegram_app import build_application
    from knowledge.service import KnowledgeService

    data_dir = Path(args.data_dir) if args.data_dir else Path(tempfile.mkdtemp(prefix="zt-load-")) / "var"
    kb_settings = load_settings(data_dir=data_dir)
    if not (data_dir / "zhitong.db").exists():
        from ingest.pipeline import ingest_paths

        print(f"ingesting the demo city into {data_dir} …", flush=True)
        ingest_paths(kb_settings, [ROOT / "data/sample/directory", ROOT / "data/sample/policies"])
    knowledge = await asyncio.to_thread(KnowledgeService.open, kb_settings)
    knowledge.ask("预热")

    # Update ids continue from run to run, as Telegram's do for one bot (a reused --data-dir keeps the
    # bot's update journal, where an old id would be checked as a possible re-delivery).
    api = BotApiServer(first_update_id=int(time.time() * 1000) - 1_700_000_000_000)
    await api.start()
    telegram = {
        "token": BOT_TOKEN, "base_url": api.base_url, "base_file_url": api.base_file_url,
        "rate_overall_per_s": args.rate, "flood_messages": 1000, "outbox_interval_s": 5,
        "concurrent_updates": args.concurrency,
    }
    proc = None
    app = None
    if args.in_process:
        settings = load_settings(data_dir=data_dir, telegram=telegram)
        app = build_application(settings, knowledge=knowledge)
        await app.initialize()
        assert app.post_init is not None and app.updater is not None
        await app.post_init(app)
        await app.updater.start_polling(poll_interval=0.0, timeout=10)
        await app.start()
    else:
        # The bot as it runs in production: `zhitong run` in its own process, configured by environment.
        knowledge.close()
        env = {**os.environ, "ZHITONG_DATA_DIR": str(data_dir), "ZHITONG_CONFIG": str(data_dir / "absent.toml"),
               "ZHITONG_LOG_LEVEL": "WARNING"}
        env.update({f"ZHITONG_TELEGRAM_{k.upper()}": str(v) for k, v in telegram.items()})
        proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "cli", "run", env=env, cwd=str(ROOT))
        deadline = time.monotonic() + 120
        while not api.commands and time.monotonic() < deadline:  # post_init sets the command menu  # noqa: ASYNC110 (another process; polling its effect)
            await asyncio.sleep(0.2)
        while api.get_updates_calls == 0 and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.1)
        # Warm-up question (first query pays one-off costs in the new process).
        warm = FakeUser(api, 9_999_999)
        warm.send("预热")
        await warm.expect("", timeout=60)
        # Until the answer worker process has loaded its knowledge core (a few seconds after start),
        # the bot answers in threads; the bench measures the bot as it runs after that.
        await asyncio.sleep(args.settle)

    latencies: list[float] = []
    lost = 0
    sent = 0
    try:
        for round_no in range(args.rounds):
            users = [FakeUser(api, 10_000_000 + round_no * 100_000 + i) for i in range(args.chats)]
            qs = questions(args.chats)
            start_seq = api.last_seq
            pushed: dict[int, float] = {}
            for user, q in zip(users, qs, strict=True):
                user.send(q)
                pushed[user.user_id] = time.monotonic()
            sent += len(users)
            first_reply: dict[int, float] = {}
            deadline = time.monotonic() + args.timeout
            scanned = 0  # events are appended in order: look at each one once (the bench shares the CPU)
            while len(first_reply) < len(users) and time.monotonic() < deadline:
                events = api.events
                for event in events[scanned:]:
                    if event.seq > start_seq and event.chat_id in pushed and event.chat_id not in first_reply:
                        first_reply[event.chat_id] = event.sent_at
                scanned = len(events)
                await asyncio.sleep(0.01)
            round_lat = [first_reply[u] - pushed[u] for u in first_reply]
            latencies.extend(round_lat)
            lost += len(users) - len(first_reply)
            print(f"round {round_no + 1}: {len(first_reply)}/{len(users)} answered, "
                  f"p50 {percentile(round_lat, 50) * 1000:.0f} ms, p95 {percentile(round_lat, 95) * 1000:.0f} ms",
                  flush=True)
    finally:
        if app is not None:
            await app.updater.stop()
            await app.stop()
            await app.shutdown()
            if app.post_shutdown is not None:
                await app.post_shutdown(app)
            knowledge.close()
        if proc is not None:
            proc.send_signal(signal.SIGINT)
            await asyncio.wait_for(proc.wait(), 30)
        await api.stop()

    print(f"chats {args.chats} × rounds {args.rounds} = {sent} questions, rate limit "
          f"{args.rate or 'off'} msg/s, concurrency {args.concurrency}, "
          f"bot {'in-process' if args.in_process else 'separate process (zhitong run)'}")
    if latencies:
        print(f"reply latency: p50 {percentile(latencies, 50) * 1000:.0f} ms, "
              f"p95 {percentile(latencies, 95) * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms, "
              f"mean {statistics.mean(latencies) * 1000:.0f} ms")
    print(f"lost updates: {lost}")
    return 0 if lost == 0 else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chats", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rate", type=float, default=0.0, help="overall msg/s limit (0: off)")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--settle", type=float, default=8.0, help="seconds to wait after start-up")
    parser.add_argument("--data-dir", default="")
    parser.add_argument("--in-process", action="store_true", help="run the bot in the bench's own event loop")
    logging.basicConfig(level=logging.WARNING)
    sys.exit(asyncio.run(main(parser.parse_args())))
