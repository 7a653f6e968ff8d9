"""The scale-out arrangement, run: webhook workers behind nginx, PostgreSQL, a Chroma server, Redis.

    .venv/bin/python bench/cluster.py [--chats 500] [--workers 3] [--throughput-s 60] [--skip-faults]

Starts on 127.0.0.1 (tests/auxil/cluster.py): a fresh PostgreSQL database, `chroma run`, the demo city
ingested into both, Debian's nginx with deploy/nginx/'s rules (round-robin, no stickiness), and `zhitong run`
webhook workers; the test Bot API server posts every update through nginx and retries failed posts, as
Telegram does. Then:

1. Faults: ``--chats`` owners each ask, file a 办不成事 intake (two of its updates sent at once), and ask
   again; one worker is SIGKILLed mid-burst and restarted, then all are restarted one by one. Prints what
   was lost, duplicated or reordered (all must be 0 but the documented at-least-once repeats).
2. Throughput: 1, 2 and 3 workers answering owners who ask, wait for the answer, and ask again (distinct
   questions, so every one is retrieved): replies/s and p50/p95 latency per worker count.

Telegram's own limit (~30 messages/s per bot, whichever worker sends) is not imposed by the test server;
the deployment splits it between workers (deploy/zhitong.env). Here the workers' limiter is off so the table
shows what the machine can do.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.auxil.botapi_server import BotApiServer  # noqa: E402
from tests.auxil.cluster import Cluster, fault_report, fault_run, percentile, question_load, settle  # noqa: E402
from tests.auxil.postgres import throwaway_database  # noqa: E402


async def main(args: argparse.Namespace) -> int:
    failed = False
    with tempfile.TemporaryDirectory(prefix="zt-cluster-") as tmp, throwaway_database("zt_cluster") as db:
        async with BotApiServer() as api:
            cluster = Cluster(Path(tmp), api, db, workers=args.workers,
                              # the owners of the throughput run ask faster than the flood limit allows
                              env_extra={"ZHITONG_TELEGRAM_RATE_OVERALL_PER_S": "0",
                                         "ZHITONG_TELEGRAM_RATE_GROUP_PER_MIN": "0",
                                         "ZHITONG_TELEGRAM_FLOOD_MESSAGES": "1000"})
            began = time.monotonic()
            await cluster.start()
            print(f"cluster up in {time.monotonic() - began:.0f} s: {args.workers} workers behind nginx "
                  f"127.0.0.1:{cluster.nginx_port}, chroma :{cluster.chroma_port}, PostgreSQL, Redis")
            try:
                if not args.skip_faults:
                    fault = await fault_run(cluster, chats=args.chats, spread_s=args.spread,
                                            first_user=7_000_000, kill_after_s=args.kill_after)
                    runs, took = fault.runs, fault.seconds
                    await settle(db)
                    report = fault_report(api, db, runs)
                    print(f"\nfault run ({args.chats} chats, {took:.0f} s):")
                    for line in report.lines():
                        print("  " + line)
                    for error in report.errors[:10]:
                        print("  ! " + error)
                    for chat in report.disorder:
                        print("  ~ " + chat)
                    if args.verbose:
                        from tests.auxil.cluster import _observed_steps
                        for run in runs[:3] + [r for r in runs if r.error][:3]:
                            print(f"  chat {run.user_id}: {_observed_steps(api, run.user_id)}")
                            for e in api._by_chat.get(run.user_id, []):
                                print(f"     {e.seq} {e.method} {len(e.buttons())}b {e.text[:60]!r}")
                    failed = bool(report.errors or report.out_of_order or report.duplicated_tickets
                                  or report.unfinished_updates or report.duplicated_messages > report.handed_over_updates)
                if args.throughput_s > 0:
                    print(f"\nthroughput ({args.owners} owners asking in a closed loop, {args.throughput_s:.0f} s each):")
                    print("| workers | replies/s | p50 ms | p95 ms |")
                    print("|---|---|---|---|")
                    for count in range(1, args.workers + 1):
                        for index in range(args.workers):
                            if index < count:
                                await cluster.start_worker(index) if not _running(cluster, index) else None
                            else:
                                await cluster.terminate_worker(index)
                        await asyncio.sleep(2)
                        answered, latencies = await question_load(api, args.owners, args.throughput_s,
                                                                  first_user=8_000_000 + count * 10_000)
                        print(f"| {count} | {answered / args.throughput_s:.1f} | {percentile(latencies, 50) * 1000:.0f} "
                              f"| {percentile(latencies, 95) * 1000:.0f} |", flush=True)
            finally:
                await cluster.stop()
    return 1 if failed else 0


def _running(cluster: Cluster, index: int) -> bool:
    process = cluster._workers[index].process  # noqa: SLF001
    return process is not None and process.returncode is None


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chats", type=int, default=500)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--spread", type=float, default=150.0, help="seconds over which the chats start")
    parser.add_argument("--kill-after", type=float, default=15.0, help="seconds into the fault run")
    parser.add_argument("--owners", type=int, default=40, help="owners asking at once in the throughput run")
    parser.add_argument("--throughput-s", type=float, default=60.0)
    parser.add_argument("--skip-faults", action="store_true")
    parser.add_argument("--verbose", action="store_true", help="print the messages of a few chats")
    sys.exit(asyncio.run(main(parser.parse_args())))
