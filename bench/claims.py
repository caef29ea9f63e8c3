"""Benchmark: the month-end peak. Claim lines through `POST /claims/batch` until every line has a decision.

Starts the bundled broker (or uses KAFKA_BOOTSTRAP_SERVERS) and a throw-away PostgreSQL database
(TEST_DATABASE_URL), and runs the claims service as ops would for the peak (`--layout split`, the
default): the API without workers (`zorg serve claims`, ZORG_RUN_WORKERS=false), `--workers`
consumer processes (`zorg worker claims`, default 2: one per core) and one relay (`zorg relay
claims`); `--layout one` runs it all in one `zorg serve claims` process instead. The read models
are seeded with 1,000 eligible GLI providers. Prints the outcomes, the CPU of every process
(and of PostgreSQL and the broker), lines/s end to end (first request to last decision), and in
the same run the raw bound on this machine: the same number of rows inserted into PostgreSQL plus
the same number of messages produced and consumed with aiokafka; the ratio; and the peak
resident memory of the largest claims process.

    .venv/bin/python bench/claims.py                 # 200,000 lines in batches of 5,000
    .venv/bin/python bench/claims.py --workers 1     # one worker process
    .venv/bin/python bench/claims.py --layout one    # one process for everything
    .venv/bin/python bench/claims.py --quick         # 20,000 lines

Target (issue 6): at least 5,000 lines/s end to end on this 2-core machine, each process under 300 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import asyncpg
from _harness import CpuMeter, serve
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from sqlalchemy.engine import make_url

from zorg_common.auth import issue_token
from zorg_common.broker import free_port
from zorg_common.settings import ServiceSettings
from zorg_common.testing import kafka_bootstrap, temporary_database

TODAY = "2023-06-01"
PROVIDERS = 1_000
TARGET_LINES_PER_S = 5_000
TARGET_RSS_MB = 300


def bsn(n: int) -> str:
    """A BSN that passes the elfproef: eight digits and a ninth that makes it so."""
    digits = [int(c) for c in f"{100_000_00 + n % 89_999_999:08d}"]
    total = sum(d * w for d, w in zip(digits, range(9, 1, -1), strict=True))
    for last in range(10):
        if (total - last) % 11 == 0:
            return "".join(map(str, digits)) + str(last)
    return bsn(n + 1)


def line(n: int) -> dict[str, object]:
    month = 1 + n % 5
    return {
        "provider_reference": f"B-{n}",
        "agb": f"{50_000_000 + n % PROVIDERS}",
        "bsn": bsn(n // 3),
        "sector": "GLI",
        "prestation_code": "GLI-TREATMENT-Q",
        "service_date": f"2023-{month:02d}-15",
        "quantity": 1,
        "claimed_cents": 19_000 + n % 700,
        "programme": "Cool",
        "programme_start": "2023-01-01",
    }


async def seed(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.executemany(
            "INSERT INTO known_providers (agb, name, kind, version) VALUES ($1, $2, 'care_group', 1)",
            [(f"{50_000_000 + i}", f"Zorggroep {i}") for i in range(PROVIDERS)],
        )
        await conn.executemany(
            "INSERT INTO eligibility (agb, policy_id, eligible, route, evaluated_on, evaluation_id) "
            "VALUES ($1, 'GLI-2023', true, 'follow', $2, $3)",
            [(f"{50_000_000 + i}", dt.date(2022, 9, 1), str(uuid.uuid4())) for i in range(PROVIDERS)],
        )
    finally:
        await conn.close()


@contextlib.contextmanager
def server(
    url: str, bootstrap: str, port: int, layout: str, workers: int = 1
) -> Iterator[list[subprocess.Popen[bytes]]]:
    env = {
        "CLAIMS_DATABASE_URL": url,
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "ZORG_TODAY": TODAY,
        "KAFKA_TOPIC_PREFIX": f"bench{port}.",
        "LOG_LEVEL": "WARNING",
        "KAFKA_TOPIC_PARTITIONS": "6",
    }
    if layout == "one":
        with serve("claims", port, env) as proc:
            time.sleep(6)  # the consumer groups join (the bundled broker takes half the session timeout)
            yield [proc]
        return
    # As ops would run the month-end peak: the API without workers, the consumers and the relay
    # each in a process of their own (`zorg worker claims`, `zorg relay claims`).
    helpers = [
        subprocess.Popen([sys.executable, "-m", "zorg_common.cli", command, "claims"], env={**os.environ, **env})
        for command in ("worker",) * workers + ("relay",)
    ]
    try:
        with serve("claims", port, {**env, "ZORG_RUN_WORKERS": "false"}) as proc:
            time.sleep(6)
            for helper in helpers:
                if helper.poll() is not None:
                    raise SystemExit(f"a claims worker process exited with {helper.returncode}")
            yield [proc, *helpers]
    finally:
        for helper in helpers:
            helper.terminate()
        for helper in helpers:
            helper.wait(30)


def rss_mb(pid: int) -> float:
    for row in Path(f"/proc/{pid}/status").read_text().splitlines():
        if row.startswith("VmRSS:"):
            return int(row.split()[1]) / 1024
    return 0.0


async def end_to_end(
    base: str, url: str, pids: list[int], total: int, batch: int, meter: CpuMeter
) -> tuple[float, float, int]:
    token = issue_token(ServiceSettings(), ["claims:write", "claims:read"], subject="bench")
    lines = [line(n) for n in range(total)]
    peak = 0.0
    conn = await asyncpg.connect(url)
    try:
        async with aiohttp.ClientSession(
            base, headers={"Authorization": f"Bearer {token}"}, timeout=aiohttp.ClientTimeout(total=300)
        ) as client:
            started = time.perf_counter()
            meter.start()

            async def post(chunk: list[dict[str, object]]) -> int:
                async with client.post("/claims/batch", json={"lines": chunk}) as response:
                    body = await response.json()
                    if response.status != 202 or body["refused"]:
                        raise SystemExit(f"batch refused: {response.status} {str(body)[:300]}")
                    return len(body["accepted"])

            sending = asyncio.gather(*(post(lines[i : i + batch]) for i in range(0, total, batch)))
            decided = 0
            while decided < total:
                await asyncio.sleep(0.25)
                # Counting 200,000 wide rows every poll would cost the database more than a little
                # of the CPU we measure: the decisions' serial id says when to count (one decision
                # per line here), and the count says whether every line has its decision.
                peak = max(peak, *(rss_mb(pid) for pid in pids))
                if sending.done() and sending.exception():
                    raise sending.exception()  # type: ignore[misc]
                if time.perf_counter() - started > 1_800:
                    raise SystemExit(f"only {decided} of {total} decided after 30 minutes")
                if (await conn.fetchval("SELECT coalesce(max(id), 0) FROM decisions")) >= total:
                    decided = await conn.fetchval("SELECT count(*) FROM claims WHERE status <> 'received'")
            elapsed = time.perf_counter() - started
            cpu = meter.stop()
            await sending
        statuses = await conn.fetch("SELECT status, count(*) FROM claims GROUP BY status ORDER BY status")
    finally:
        await conn.close()
    print("  outcomes     " + ", ".join(f"{r['status']} {r['count']}" for r in statuses))
    print("  cpu          " + "  ".join(f"{name} {pct:.0f}" for name, pct in cpu.items()) + "   (% of one core)")
    return elapsed, peak, decided


async def raw_bound(url: str, bootstrap: str, total: int) -> tuple[float, float]:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("CREATE TABLE raw_lines (id text PRIMARY KEY, agb text, body text)")
        rows = [(str(uuid.uuid4()), f"{50_000_000 + n % PROVIDERS}", str(line(n))) for n in range(total)]
        started = time.perf_counter()
        for i in range(0, total, 5_000):
            await conn.executemany("INSERT INTO raw_lines VALUES ($1, $2, $3)", rows[i : i + 5_000])
        insert_s = time.perf_counter() - started
    finally:
        await conn.close()
    topic = f"raw-{uuid.uuid4().hex[:8]}"
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=topic,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        session_timeout_ms=6_000,
        heartbeat_interval_ms=1_000,
    )
    await producer.start()
    await consumer.start()
    try:
        payload = [(row[1].encode(), row[2].encode()) for row in rows]
        started = time.perf_counter()
        futures = [await producer.send(topic, value=v, key=k) for k, v in payload]
        await asyncio.gather(*futures)
        seen = 0
        while seen < total:
            batch = await consumer.getmany(timeout_ms=500, max_records=5_000)
            for tp, records in batch.items():
                seen += len(records)
                await consumer.commit({tp: records[-1].offset + 1})
        kafka_s = time.perf_counter() - started
    finally:
        await producer.stop()
        await consumer.stop()
    return insert_s, kafka_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=5_000, help="lines per POST /claims/batch")
    parser.add_argument("--quick", action="store_true", help="20,000 lines")
    parser.add_argument(
        "--layout",
        choices=("split", "one"),
        default="split",
        help="split: API, `zorg worker` and `zorg relay` in three processes (default); one: `zorg serve` alone",
    )
    parser.add_argument("--workers", type=int, default=2, help="with --layout split: `zorg worker claims` processes")
    args = parser.parse_args()
    total = 20_000 if args.quick else args.lines
    with (
        kafka_bootstrap() as (bootstrap, broker),
        temporary_database("zorg_bench", migrations="zorg_claims.migrations") as url,
    ):
        asyncio.run(seed(url))
        port = free_port()
        with server(url, bootstrap, port, args.layout, args.workers) as procs:
            names = (
                ["api"] if args.layout == "one" else ["api", *(f"worker{n + 1}" for n in range(args.workers)), "relay"]
            )
            broker_pid = broker.process.pid if broker is not None and broker.process is not None else None
            meter = CpuMeter(
                {**{name: p.pid for name, p in zip(names, procs, strict=True)}, "broker": broker_pid},
                [make_url(url).database or ""],
            )
            shape = (
                "one claims process"
                if args.layout == "one"
                else f"claims API, {args.workers} worker process(es) and a relay process"
            )
            print(f"\nbench/claims.py: {total:,} lines in batches of {args.batch:,}, PostgreSQL, {shape}")
            elapsed, peak, decided = asyncio.run(
                end_to_end(f"http://127.0.0.1:{port}", url, [p.pid for p in procs], total, args.batch, meter)
            )
        insert_s, kafka_s = asyncio.run(raw_bound(url, bootstrap, total))
    rate = decided / elapsed
    raw_rate = total / (insert_s + kafka_s)
    print(f"  end to end   {rate:10,.0f} lines/s   ({decided:,} decided in {elapsed:.1f} s)")
    print(f"  raw bound    {raw_rate:10,.0f} lines/s   (insert {insert_s:.1f} s + produce/consume {kafka_s:.1f} s)")
    print(f"  ratio        {rate / raw_rate:10.2f}")
    print(
        f"  peak RSS     {peak:10.0f} MB       (largest claims process; target < {TARGET_RSS_MB} MB: "
        f"{'met' if peak < TARGET_RSS_MB else 'NOT met'})"
    )
    print(f"  target       {TARGET_LINES_PER_S:10,} lines/s: {'met' if rate >= TARGET_LINES_PER_S else 'NOT met'}")


if __name__ == "__main__":
    main()
