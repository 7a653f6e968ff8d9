"""Three webhook workers behind Debian's nginx (round-robin, no stickiness), sharing PostgreSQL, a Chroma
server and Redis, while 500 owners file intakes (started over 150 s): one worker is SIGKILLed mid-burst and restarted, then all
three are restarted one by one. Nothing may be lost, duplicated or reordered; a message may repeat only
for an update that a second worker handled (the at-least-once window, README *Scale-out*).

The arrangement is tests/auxil/cluster.py, the same one bench/cluster.py runs.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.auxil.botapi_server import BotApiServer
from tests.auxil.cluster import Cluster, fault_report, fault_run, settle
from tests.auxil.postgres import throwaway_database

CHATS = 500


@pytest.mark.timeout(1500)
async def test_cluster_loses_and_duplicates_nothing_through_a_kill_and_a_rolling_restart(tmp_path: Path) -> None:
    with throwaway_database("zt_cluster") as database_url:
        async with BotApiServer() as api:
            cluster = Cluster(tmp_path / "cluster", api, database_url, workers=3)
            await cluster.start()
            try:
                # 500 intakes started over 150 s: ~25 updates/s, within what the cluster answers on 2 cores
                # (README: ~32-39/s) even while one worker restarts — faults, not overload, are tested here.
                fault = await fault_run(cluster, chats=CHATS, spread_s=150, first_user=6_000_000, kill_after_s=15)
                await settle(database_url)
                report = fault_report(api, database_url, fault.runs)
            finally:
                await cluster.stop()
            print("\n".join(report.lines() + report.disorder + report.errors[:10]))

    # the faults hit work in progress
    assert fault.in_flight_at_kill > 0 and fault.in_flight_at_rolling_restart > 0
    # 0 updates lost: every owner got every step, in the order the steps were taken
    assert report.errors == []
    assert report.completed == CHATS
    assert report.out_of_order == 0
    assert report.unfinished_updates == 0 and report.webhook_given_up == 0
    # 0 tickets duplicated
    assert report.tickets == CHATS and report.duplicated_tickets == 0
    # a message sent twice only for an update a second worker took over (or a restarted one replayed)
    assert report.duplicated_messages <= report.handed_over_updates
    assert report.leases_left == 0
