"""Benchmark: the public listing with 10,000 listed providers, and how fast a signed contract shows.

Starts the bundled broker (or uses KAFKA_BOOTSTRAP_SERVERS), throw-away PostgreSQL databases
(TEST_DATABASE_URL), and `zorg serve publication` as its own process (one worker) with its
consumers. Loads the listing the way production does, through events on the topics
(``ProviderRegistered`` and ``ContractSigned``), then measures:

1. ``GET /listings`` first page (year 2023, 50 items of 10,000): p50/p99 with one client at a time,
   and requests/s with several clients at once;
2. the same request revalidated with ``If-None-Match`` (a 304): the same figures;
3. visibility: ``ContractSigned`` committed to a service's outbox (the eligibility service's
   outbox and relay, run here; contracting emits it the same way) until the entry is in
   ``GET /listings/changes``: p50/p99 over 500 contracts offered at a steady rate, watched by one
   client polling the feed every 5 ms (the polling adds at most that).

    .venv/bin/python bench/publication.py            # 10,000 providers, 10 s per request phase, 500 contracts
    .venv/bin/python bench/publication.py --quick    # 1,000 providers, 3 s, 100 contracts

Targets (issue 5): p99 under 50 ms for a page, under 10 ms for a 304, visibility p99 under 1 s.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import statistics
import time
from dataclasses import dataclass

import aiohttp
from _harness import percentile, serve
from aiokafka import AIOKafkaProducer

from zorg_common.broker import free_port
from zorg_common.events import (
    Address,
    ContractSigned,
    Event,
    ProviderRegistered,
    Tariff,
    envelope,
)
from zorg_common.service import Runtime
from zorg_common.testing import kafka_bootstrap, temporary_database
from zorg_eligibility.service import SPEC as ELIGIBILITY
from zorg_eligibility.settings import EligibilitySettings

TODAY = "2023-03-01"  # GLI 2023 is public (since 12 November 2022)
TARGET_PAGE_P99_MS = 50.0
TARGET_304_P99_MS = 10.0
TARGET_VISIBLE_P99_MS = 1000.0
CITIES = ["Utrecht", "Groningen", "Zwolle", "Eindhoven", "Rotterdam", "Amsterdam", "Nijmegen", "Maastricht"]


def agb(n: int) -> str:
    return f"{70000000 + n}"


def registered(n: int) -> ProviderRegistered:
    return ProviderRegistered(
        agb=agb(n),
        kvk=f"{60000000 + n}",
        name=f"Zorgaanbieder {n:05d}",
        kind="care_group",
        sectors=["GLI"],
        address=Address(street="Markt 1", postcode="3511 AB", city=CITIES[n % len(CITIES)]),
        care_forms=["in_person", "hybrid"] if n % 3 else ["digital"],
    )


def contract(n: int) -> ContractSigned:
    return ContractSigned(
        agb=agb(n),
        contract_id=f"BENCH-{n}",
        policy_id="GLI-2023",
        sector="GLI",
        route="follow",
        start_date=dt.date(2023, 1, 1),
        end_date=dt.date(2023, 12, 31),
        contract_years=[2023],
        tariffs=[Tariff(prestation_code="GLI-INTAKE", amount_cents=8193)],
        signed_on=dt.date(2023, 2, 1),
    )


async def load(bootstrap: str, prefix: str, events: list[Event]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5, max_batch_size=256 * 1024)
    await producer.start()
    try:
        sends = []
        for event in events:
            ce = envelope(event, "/zorg/bench")
            sends.append(await producer.send(prefix + event.TOPIC, ce.to_json(), key=event.agb.encode()))
        await asyncio.gather(*sends)
    finally:
        await producer.stop()


async def wait_for_total(client: aiohttp.ClientSession, total: int, timeout: float, year: int = 2023) -> None:
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        async with client.get("/listings", params={"year": str(year), "page_size": "1"}) as response:
            if (await response.json())["total"] >= total:
                return
        await asyncio.sleep(0.2)
    raise SystemExit(f"the listing did not reach {total} entries in {timeout:.0f} s")


@dataclass
class Figures:
    latencies: list[float]
    errors: int
    elapsed: float

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.elapsed if self.elapsed else 0.0


async def hammer(
    client: aiohttp.ClientSession, headers: dict[str, str], expect: int, clients: int, seconds: float
) -> Figures:
    """``clients`` loops, each sending the next request when the last is answered, for ``seconds``."""
    latencies: list[float] = []
    errors = 0
    stop = time.perf_counter() + seconds

    async def loop() -> None:
        nonlocal errors
        while time.perf_counter() < stop:
            started = time.perf_counter()
            try:
                async with client.get("/listings", params={"year": "2023"}, headers=headers) as response:
                    await response.read()
                    if response.status != expect:
                        errors += 1
            except (TimeoutError, aiohttp.ClientError):
                errors += 1
            latencies.append((time.perf_counter() - started) * 1000)

    start = time.perf_counter()
    await asyncio.gather(*(loop() for _ in range(clients)))
    return Figures(latencies, errors, time.perf_counter() - start)


async def visibility(
    client: aiohttp.ClientSession, producer: Runtime, first: int, count: int, rate: float
) -> tuple[list[float], int]:
    """Sign ``count`` contracts at ``rate``/s through the outbox; time each until the feed shows it."""
    async with client.get("/listings/changes", params={"since": "0", "limit": "1"}) as response:
        body = await response.json()
    cursor = body["next_cursor"]
    while body["has_more"]:  # skip to the end of the feed
        async with client.get("/listings/changes", params={"since": str(cursor), "limit": "1000"}) as response:
            body = await response.json()
        cursor = body["next_cursor"]
    committed: dict[str, float] = {}
    seen: dict[str, float] = {}
    done = asyncio.Event()

    async def watch() -> None:
        nonlocal cursor
        while not done.is_set() or len(seen) < len(committed):
            async with client.get("/listings/changes", params={"since": str(cursor), "limit": "1000"}) as response:
                page = await response.json()
            now = time.perf_counter()
            for change in page["changes"]:
                seen.setdefault(change["item"]["agb"], now)
            cursor = page["next_cursor"]
            if not page["changes"]:
                await asyncio.sleep(0.005)

    watcher = asyncio.create_task(watch())
    start = time.perf_counter()
    for i in range(count):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        n = first + i
        async with producer.uow() as uow:
            uow.emit(contract(n))
            await uow.commit()
        committed[agb(n)] = time.perf_counter()
    done.set()
    try:
        await asyncio.wait_for(watcher, 60)
    except TimeoutError:
        watcher.cancel()
    missing = len([a for a in committed if a not in seen])
    return [(seen[a] - t) * 1000 for a, t in committed.items() if a in seen], missing


def line(label: str, figures: Figures, target: float | None) -> str:
    p50, p99 = percentile(figures.latencies, 50), percentile(figures.latencies, 99)
    verdict = "" if target is None else f"   (target p99 < {target:.0f} ms: {'met' if p99 < target else 'NOT met'})"
    return (
        f"  {label:<34} p50 {p50:7.2f} ms  p99 {p99:7.2f} ms  {figures.rate:8.0f} req/s"
        f"  ({len(figures.latencies)} requests, {figures.errors} errors){verdict}"
    )


async def run(args: argparse.Namespace, base: str, bootstrap: str, prefix: str, eligibility_url: str) -> bool:
    providers, contracts, seconds = (1_000, 100, 3.0) if args.quick else (args.providers, args.contracts, args.seconds)
    events: list[Event] = [registered(n) for n in range(providers + contracts)]
    events += [contract(n) for n in range(providers)]
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(base, connector=aiohttp.TCPConnector(limit=64), timeout=timeout) as client:
        # One contract for another year first, so that the consumer has joined its group before the clock runs.
        warm = providers + contracts
        await load(bootstrap, prefix, [registered(warm), contract(warm).model_copy(update={"contract_years": [2030]})])
        await wait_for_total(client, 1, timeout=120, year=2030)
        started = time.perf_counter()
        await load(bootstrap, prefix, events)
        await wait_for_total(client, providers, timeout=600)
        took = time.perf_counter() - started
        print(
            f"\n  loaded {providers:,} listed providers from {len(events):,} events in {took:.1f} s "
            f"({len(events) / took:,.0f} events/s through the consumer, in batches)"
        )

        await hammer(client, {}, 200, 4, 1.0)  # warm-up
        page_one = await hammer(client, {}, 200, 1, seconds)
        page_many = await hammer(client, {}, 200, args.clients, seconds)
        async with client.get("/listings", params={"year": "2023"}) as response:
            etag = response.headers["ETag"]
            assert len((await response.json())["items"]) == 50
        revalidate = {"If-None-Match": etag}
        not_modified_one = await hammer(client, revalidate, 304, 1, seconds)
        not_modified_many = await hammer(client, revalidate, 304, args.clients, seconds)

        settings = EligibilitySettings(
            _env_file=None,
            DATABASE_URL=eligibility_url,
            KAFKA_BOOTSTRAP_SERVERS=bootstrap,
            KAFKA_TOPIC_PREFIX=prefix,
            RELAY_POLL_INTERVAL_S=0.2,
            LOG_LEVEL="WARNING",
        )
        async with Runtime(ELIGIBILITY, settings).running(relay=True, consumers=False) as producer:
            visible, missing = await visibility(client, producer, providers, contracts, args.rate)

    print(f"\nbench/publication.py: {providers:,} listed providers, PostgreSQL, one API process with its consumers")
    print(line("GET /listings page 1, 1 client", page_one, TARGET_PAGE_P99_MS))
    print(line(f"GET /listings page 1, {args.clients} clients", page_many, None))
    print(line("304 revalidation, 1 client", not_modified_one, TARGET_304_P99_MS))
    print(line(f"304 revalidation, {args.clients} clients", not_modified_many, None))
    v50, v99 = percentile(visible, 50), percentile(visible, 99)
    met = v99 < TARGET_VISIBLE_P99_MS and not missing
    print(
        f"  {'ContractSigned committed -> in feed':<34} p50 {v50:7.1f} ms  p99 {v99:7.1f} ms"
        f"  max {max(visible, default=float('nan')):7.1f} ms"
        f"  ({len(visible)} contracts at {args.rate:.0f}/s, {missing} not seen)"
        f"   (target p99 < {TARGET_VISIBLE_P99_MS:.0f} ms: {'met' if met else 'NOT met'})"
    )
    means = statistics.fmean(page_one.latencies), statistics.fmean(not_modified_one.latencies)
    print(f"  mean latency, 1 client: page {means[0]:.2f} ms, 304 {means[1]:.2f} ms")
    errors = sum(f.errors for f in (page_one, page_many, not_modified_one, not_modified_many))
    return errors == 0 and not missing


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--providers", type=int, default=10_000, help="listed providers")
    parser.add_argument("--contracts", type=int, default=500, help="contracts signed for the visibility figure")
    parser.add_argument("--rate", type=float, default=50.0, help="contracts signed per second")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each request phase")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients for the requests/s figure")
    parser.add_argument("--quick", action="store_true", help="1,000 providers, 100 contracts, 3 s phases")
    args = parser.parse_args()
    with (
        kafka_bootstrap() as (bootstrap, _),
        temporary_database("zorg_bench", migrations="zorg_publication.migrations") as url,
        temporary_database("zorg_bench", migrations="zorg_eligibility.migrations") as eligibility_url,
    ):
        port = free_port()
        prefix = f"bench{port}."
        env = {
            "PUBLICATION_DATABASE_URL": url,
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "KAFKA_TOPIC_PREFIX": prefix,
            "ZORG_TODAY": TODAY,
            "LOG_LEVEL": "WARNING",
        }
        with serve("publication", port, env):
            ok = asyncio.run(run(args, f"http://127.0.0.1:{port}", bootstrap, prefix, eligibility_url))
    if not ok:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
