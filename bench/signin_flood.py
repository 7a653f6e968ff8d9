"""A signed-in leader's queue while anonymous clients flood /login: real uvicorn, real HTTP, SQLite.

    .venv/bin/python bench/signin_flood.py [--threads 40] [--seconds 10] [--tickets 2000]

Three runs: no flood; 40 threads posting wrong passwords from one address; the same from 40 addresses
(each thread sends its own X-Forwarded-For, which uvicorn trusts from 127.0.0.1 as it would from a local
nginx). Prints the leader's queue p50/p95 and what the flood got back (401 checked, 429 refused before
hashing). Before the sign-in throttle, the one-address flood took the queue from p50 14 ms to 8 s.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from multiprocessing import Process, Queue
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.dashboard_queue import pct, seed, sign_in  # noqa: E402
from core.config import load_settings  # noqa: E402
from dashboard.main import create_app  # noqa: E402
from tests.dashboard.live import serve  # noqa: E402

LEADER = 8000


def _flooder(base: str, first: int, n_threads: int, spread: bool, seconds: float, out: Queue[Counter[int]]) -> None:
    """One process of the flood (a process of its own, so the flood's client work does not share the
    server's interpreter lock and slow it down for reasons a real attacker's machine would not)."""
    codes: Counter[int] = Counter()
    lock = threading.Lock()
    end = time.monotonic() + seconds

    def worker(n: int) -> None:
        headers = {"X-Forwarded-For": f"203.0.{n // 250}.{n % 250 + 1}"} if spread else {}
        with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
            page = client.get("/login")
            token = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
            while time.monotonic() < end:
                r = client.post("/login", data={"tg_user_id": "9001", "password": "guess", "csrf_token": token})
                with lock:
                    codes[r.status_code] += 1

    threads = [threading.Thread(target=worker, args=(first + n,)) for n in range(n_threads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    out.put(codes)


def flood(base: str, n_threads: int, spread: bool, seconds: float, out: Queue[Counter[int]]) -> list[Process]:
    per = max(1, n_threads // 4)
    procs = [Process(target=_flooder, args=(base, first, min(per, n_threads - first), spread, seconds, out))
             for first in range(0, n_threads, per)]
    for proc in procs:
        proc.start()
    return procs


def queue_times(client: httpx.Client, seconds: float) -> list[float]:
    times: list[float] = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        t0 = time.perf_counter()
        r = client.get("/queue")
        times.append((time.perf_counter() - t0) * 1000)
        if r.status_code != 200:
            raise SystemExit(f"/queue → {r.status_code}")
        time.sleep(0.05)
    return times


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=40)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--tickets", type=int, default=2000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(Path(tmp) / "absent.toml", data_dir=Path(tmp) / "var", log_level="WARNING")
        seed(settings, args.tickets)
        print(f"{args.tickets} tickets; flood of {args.threads} threads for {args.seconds:.0f} s per run; "
              f"rates {settings.dashboard.signin_rate_per_address} per address, "
              f"{settings.dashboard.signin_rate_overall} overall, {settings.dashboard.signin_hash_threads} hash thread(s)")
        for label, flooding, spread in (("no flood", False, False), ("flood, one address", True, False),
                                        (f"flood, {args.threads} addresses", True, True)):
            app = create_app(settings)  # fresh counters for each run
            with serve(app) as base, httpx.Client(
                base_url=base, follow_redirects=False, timeout=60, headers={"X-Forwarded-For": "198.51.100.1"}
            ) as leader:
                sign_in(leader, LEADER)  # signed in before the flood starts, from an address of its own
                leader.get("/queue")
                out: Queue[Counter[int]] = Queue()
                procs = flood(base, args.threads, spread, args.seconds + 1.5, out) if flooding else []
                time.sleep(1.0 if flooding else 0)
                times = queue_times(leader, args.seconds)
                codes: Counter[int] = Counter()
                for proc in procs:
                    codes.update(out.get(timeout=120))
                    proc.join(timeout=60)
            summary = ", ".join(f"{code}: {n}" for code, n in sorted(codes.items())) or "-"
            print(f"{label:24s} queue p50 {statistics.median(times):7.1f} ms  p95 {pct(times, 0.95):7.1f} ms  "
                  f"(n={len(times)})  sign-in answers {summary}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
