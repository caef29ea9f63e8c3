"""Benchmark: the month-end peak. Claim lines through `POST /claims/batch` until every line has a decision.

Starts the bundled broker (or uses KAFKA_BOOTSTRAP_SERVERS), a throw-away PostgreSQL database
(TEST_DATABASE_URL) and `zorg serve claims` as its own process with its relay and consumers
(intake, adjudication, read models). The read models are seeded with 1,000 eligible GLI
providers. Prints lines/s end to end (first request to last decision), and in the same run the
raw bound on this machine: the same number of rows inserted into PostgreSQL plus the same number
of messages produced and consumed with aiokafka; the ratio; and the peak resident memory of the
service process.

    .venv/bin/python bench/claims.py                 # 200,000 lines in batches of 5,000
    .venv/bin/python bench/claims.py --lines 50000
    .venv/bin/python bench/claims.py --quick         # 20,000 lines

Target (issue 6): at least 5,000 lines/s end to end on this 2-core machine, each process under 300 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import asyncpg
from _harness import serve
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

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
            "INSERT INTO known_providers (agb, name, version) VALUES ($1, $2, 1)",
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
def server(url: str, bootstrap: str, port: int) -> Iterator[subprocess.Popen[bytes]]:
    env = {
        "CLAIMS_DATABASE_URL": url,
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "ZORG_TODAY": TODAY,
        "KAFKA_TOPIC_PREFIX": f"bench{port}.",
        "LOG_LEVEL": "WARNING",
        "KAFKA_TOPIC_PARTITIONS": "6",
    }
    with serve("claims", port, env) as proc:
        time.sleep(6)  # the consumer groups join (the bundled broker takes half the session timeout)
        yield proc


def rss_mb(pid: int) -> float:
    for row in Path(f"/proc/{pid}/status").read_text().splitlines():
        if row.startswith("VmRSS:"):
            return int(row.split()[1]) / 1024
    return 0.0


async def end_to_end(base: str, url: str, pid: int, total: int, batch: int) -> tuple[float, float, int]:
    token = issue_token(ServiceSettings(), ["claims:write", "claims:read"], subject="bench")
    lines = [line(n) for n in range(total)]
    peak = 0.0
    conn = await asyncpg.connect(url)
    try:
        async with aiohttp.ClientSession(
            base, headers={"Authorization": f"Bearer {token}"}, timeout=aiohttp.ClientTimeout(total=300)
        ) as client:
            started = time.perf_counter()

            async def post(chunk: list[dict[str, object]]) -> int:
                async with client.post("/claims/batch", json={"lines": chunk}) as response:
                    body = await response.json()
                    if response.status != 202 or body["refused"]:
                        raise SystemExit(f"batch refused: {response.status} {str(body)[:300]}")
                    return len(body["accepted"])

            sending = asyncio.gather(*(post(lines[i : i + batch]) for i in range(0, total, batch)))
            decided = 0
            while decided < total:
                await asyncio.sleep(0.5)
                peak = max(peak, rss_mb(pid))
                decided = await conn.fetchval("SELECT count(*) FROM claims WHERE status <> 'received'")
                if sending.done() and sending.exception():
                    raise sending.exception()  # type: ignore[misc]
                if time.perf_counter() - started > 1_800:
                    raise SystemExit(f"only {decided} of {total} decided after 30 minutes")
            elapsed = time.perf_counter() - started
            await sending
        statuses = await conn.fetch("SELECT status, count(*) FROM claims GROUP BY status ORDER BY status")
    finally:
        await conn.close()
    print("  outcomes     " + ", ".join(f"{r['status']} {r['count']}" for r in statuses))
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
    args = parser.parse_args()
    total = 20_000 if args.quick else args.lines
    with (
        kafka_bootstrap() as (bootstrap, _),
        temporary_database("zorg_bench", migrations="zorg_claims.migrations") as url,
    ):
        asyncio.run(seed(url))
        port = free_port()
        with server(url, bootstrap, port) as proc:
            print(f"\nbench/claims.py: {total:,} lines in batches of {args.batch:,}, PostgreSQL, one claims process")
            elapsed, peak, decided = asyncio.run(
                end_to_end(f"http://127.0.0.1:{port}", url, proc.pid, total, args.batch)
            )
        insert_s, kafka_s = asyncio.run(raw_bound(url, bootstrap, total))
    rate = decided / elapsed
    raw_rate = total / (insert_s + kafka_s)
    print(f"  end to end   {rate:10,.0f} lines/s   ({decided:,} decided in {elapsed:.1f} s)")
    print(f"  raw bound    {raw_rate:10,.0f} lines/s   (insert {insert_s:.1f} s + produce/consume {kafka_s:.1f} s)")
    print(f"  ratio        {rate / raw_rate:10.2f}")
    print(
        f"  peak RSS     {peak:10.0f} MB       (the claims process; target < {TARGET_RSS_MB} MB: "
        f"{'met' if peak < TARGET_RSS_MB else 'NOT met'})"
    )
    print(f"  target       {TARGET_LINES_PER_S:10,} lines/s: {'met' if rate >= TARGET_LINES_PER_S else 'NOT met'}")


if __name__ == "__main__":
    main()
