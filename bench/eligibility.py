"""Benchmark: `POST /evaluations` over HTTP at a steady rate against PostgreSQL.

Starts the bundled broker (or uses KAFKA_BOOTSTRAP_SERVERS), a throw-away PostgreSQL database
(TEST_DATABASE_URL), and `zorg serve eligibility` as its own process with its relay; registers
providers, then offers requests on a fixed schedule (open loop: a slow answer does not slow the
offered rate) and prints p50/p99 latency, the achieved rate and errors.

    .venv/bin/python bench/eligibility.py                 # 200 requests/s for 30 s
    .venv/bin/python bench/eligibility.py --rate 400 --seconds 10
    .venv/bin/python bench/eligibility.py --quick         # a short smoke run

Target (issue 3): p99 under 25 ms at 200 requests/s for 30 s, no errors.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time

import aiohttp
from _harness import percentile, serve

from zorg_common.auth import issue_token
from zorg_common.broker import free_port
from zorg_common.settings import ServiceSettings
from zorg_common.testing import kafka_bootstrap, temporary_database

PROVIDERS = 200
TARGET_P99_MS = 25.0


def provider(n: int) -> dict[str, object]:
    return {
        "kvk": f"{60000000 + n}",
        "name": f"Bench Zorggroep {n}",
        "kind": ("care_group", "individual")[n % 2],
        "sectors": ["GLI", "GGZ"],
        "address": {"street": "Markt 1", "postcode": "3511 AB", "city": "Utrecht"},
        "care_forms": ["in_person"],
        "facts": {
            "kvk_registered": True,
            "wtza_admitted": True,
            "ubo_known": True,
            "ubo_sanctioned": False,
            "blcn_registered": True,
            "programmes": ["Cool"],
            "in_fraud_register": False,
            "fraud_investigation": n % 7 == 0,
            "enhanced_supervision": False,
            "sound_administration": True,
            "vecozo_certificate": True,
            "refuses_care": False,
            "serious_misconduct_on": None,
            "quality_concerns": False,
            "professional_standards": True,
            "quality_statute_ii_approved": True,
        },
    }


async def run_load(base: str, token: str, rate: float, seconds: float) -> tuple[list[float], int, float]:
    """Offer ``rate`` requests a second for ``seconds``; returns latencies (ms), errors and elapsed time.

    aiohttp rather than httpx: at a few hundred requests a second httpx's connection pool costs
    more CPU than the service under test, and the figures would measure the client.
    """
    headers = {"Authorization": f"Bearer {token}"}
    latencies: list[float] = []
    errors = 0
    total = int(rate * seconds)
    connector = aiohttp.TCPConnector(limit=64)
    async with aiohttp.ClientSession(
        base, headers=headers, connector=connector, timeout=aiohttp.ClientTimeout(total=10)
    ) as client:
        for n in range(PROVIDERS):
            async with client.put(f"/providers/{50000000 + n}", json=provider(n)) as response:
                response.raise_for_status()

        async def one(i: int) -> None:
            nonlocal errors
            body = {"agb": f"{50000000 + i % PROVIDERS}", "policy_id": ("GLI-2023", "GGZ-2021")[i % 2]}
            started = time.perf_counter()
            try:
                async with client.post("/evaluations", json=body) as response:
                    await response.read()
                    if response.status != 201:
                        errors += 1
            except (TimeoutError, aiohttp.ClientError):
                errors += 1
            latencies.append((time.perf_counter() - started) * 1000)

        await asyncio.gather(*(one(i) for i in range(20)))  # warm-up: connections, caches
        latencies.clear()
        tasks = []
        start = time.perf_counter()
        for i in range(total):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(i)))
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - start
    return latencies, errors, elapsed


def _busy_seconds() -> float:
    """CPU seconds the whole machine spent busy so far (from /proc/stat)."""
    with open("/proc/stat") as stat:
        ticks = [int(f) for f in stat.readline().split()[1:]]
    idle = ticks[3] + ticks[4]
    return (sum(ticks) - idle) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=200.0, help="requests per second offered")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--quick", action="store_true", help="5 seconds, for a smoke run")
    args = parser.parse_args()
    seconds = 5.0 if args.quick else args.seconds
    token = issue_token(ServiceSettings(), ["providers:read", "providers:write"], subject="bench")
    with (
        kafka_bootstrap() as (bootstrap, _),
        temporary_database("zorg_bench", migrations="zorg_eligibility.migrations") as url,
    ):
        port = free_port()
        env = {
            "ELIGIBILITY_DATABASE_URL": url,
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "KAFKA_TOPIC_PREFIX": f"bench{port}.",
            "LOG_LEVEL": "WARNING",
        }
        with serve("eligibility", port, env):
            busy_before, wall_before = _busy_seconds(), time.perf_counter()
            latencies, errors, elapsed = asyncio.run(run_load(f"http://127.0.0.1:{port}", token, args.rate, seconds))
            wall = time.perf_counter() - wall_before
            busy = (_busy_seconds() - busy_before) / (wall * (os.cpu_count() or 1))
    p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
    print("\nbench/eligibility.py: POST /evaluations, PostgreSQL, one API process with its relay")
    print(f"  offered      {args.rate:8.0f} req/s for {seconds:.0f} s ({len(latencies)} requests)")
    print(f"  achieved     {len(latencies) / elapsed:8.1f} req/s")
    print(f"  latency p50  {p50:8.2f} ms")
    verdict = "met" if p99 < TARGET_P99_MS else "NOT met"
    print(f"  latency p99  {p99:8.2f} ms   (target < {TARGET_P99_MS:.0f} ms: {verdict})")
    print(f"  latency max  {max(latencies):8.2f} ms, mean {statistics.fmean(latencies):.2f} ms")
    print(f"  errors       {errors:8d}       (target 0: {'met' if errors == 0 else 'NOT met'})")
    print(
        f"  machine      {busy:8.0%} of all cores busy during the load, this run included "
        "(figures compare only when nothing else runs)"
    )
    if errors:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
