"""Benchmark: 1,000 follow-format e-mails with .xlsx attachments through the SMTP listener.

Starts the bundled broker (or uses KAFKA_BOOTSTRAP_SERVERS), two throw-away PostgreSQL databases
(TEST_DATABASE_URL), `zorg serve eligibility` and `zorg serve contracting` as their own processes
(each with its relay; contracting with its SMTP listener and intake worker). Registers one care
group per e-mail in eligibility, builds the e-mails, then sends them over several SMTP
connections and waits until every intake is decided. Prints the e-mails/s the listener took, and
the time from the first e-mail until the last contract was signed.

    .venv/bin/python bench/contracting.py             # 1,000 e-mails
    .venv/bin/python bench/contracting.py --quick     # 100 e-mails, a smoke run
    .venv/bin/python bench/contracting.py --mails 2000 --connections 16

Target (issue 4): all 1,000 decided within 60 s.
"""

from __future__ import annotations

import argparse
import asyncio
import smtplib
import time
from concurrent.futures import ThreadPoolExecutor

import asyncpg
import httpx
from _harness import serve

from zorg_common.auth import issue_token
from zorg_common.broker import free_port
from zorg_common.settings import ServiceSettings
from zorg_common.testing import kafka_bootstrap, temporary_database
from zorg_contracting.entrypoints.samples import GLI_TARIFFS, XLSX, format_fields, mail, xlsx_bytes

TARGET_S = 60.0
FIRST_AGB = 41_000_000


def care_group(n: int) -> dict[str, object]:
    return {
        "kvk": f"{71000000 + n}",
        "name": f"Bench Zorggroep {n}",
        "kind": "care_group",
        "sectors": ["GLI"],
        "address": {"street": "Markt 1", "postcode": "3511 AB", "city": "Utrecht"},
        "care_forms": ["in_person"],
        "contact_emails": ["info@zorggroep.example"],  # the benchmark's sender: on file, so acted on
        "facts": {
            "kvk_registered": True,
            "wtza_admitted": True,
            "ubo_known": True,
            "ubo_sanctioned": False,
            "blcn_registered": True,
            "programmes": ["Cool"],
            "in_fraud_register": False,
            "fraud_investigation": False,
            "enhanced_supervision": False,
            "sound_administration": True,
            "vecozo_certificate": True,
            "refuses_care": False,
            "serious_misconduct_on": None,
            "quality_concerns": False,
            "professional_standards": True,
        },
    }


async def register(base: str, token: str, count: int) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as client:
        slots = asyncio.Semaphore(16)

        async def one(n: int) -> None:
            async with slots:
                response = await client.put(f"/providers/{FIRST_AGB + n}", json=care_group(n))
                response.raise_for_status()

        await asyncio.gather(*(one(n) for n in range(count)))


def build_mails(count: int) -> list[bytes]:
    mails = []
    for n in range(count):
        fields = format_fields(f"{FIRST_AGB + n}", f"Bench Zorggroep {n}", f"{71000000 + n}", programmes="Cool")
        data = xlsx_bytes(fields, GLI_TARIFFS)
        mails.append(
            mail(
                subject=f"Volgformat GLI 2023 Bench Zorggroep {n}",
                attachments=[("volgformat.xlsx", XLSX, data)],
                message_id=f"<bench-{n}@zorggroep.example>",
            )
        )
    return mails


def send(port: int, mails: list[bytes], connections: int) -> float:
    """Send over ``connections`` SMTP sessions at once; returns the seconds it took."""

    def session(share: list[bytes]) -> None:
        with smtplib.SMTP("127.0.0.1", port, timeout=60) as smtp:
            for raw in share:
                smtp.sendmail("info@zorggroep.example", ["zorg.overeenkomsten@zorginkoop.example"], raw)

    shares = [mails[i::connections] for i in range(connections)]
    started = time.perf_counter()
    with ThreadPoolExecutor(connections) as pool:
        list(pool.map(session, shares))
    return time.perf_counter() - started


async def wait_decided(url: str, count: int, started_wall: float, timeout: float) -> tuple[int, int, float | None]:
    """Polls the contracting database: (decided, signed, seconds from the first e-mail to the last signature)."""
    conn = await asyncpg.connect(url)
    try:
        deadline = time.monotonic() + timeout
        decided = signed = 0
        while time.monotonic() < deadline:
            decided = await conn.fetchval("SELECT count(*) FROM intakes WHERE status <> 'received'")
            signed = await conn.fetchval("SELECT count(*) FROM contracts WHERE status = 'signed'")
            if decided >= count:
                break
            await asyncio.sleep(0.2)
        last = await conn.fetchval("SELECT max(updated_at) FROM contracts WHERE status = 'signed'")
        return decided, signed, (last.timestamp() - started_wall) if last else None
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--mails", type=int, default=1000)
    parser.add_argument("--connections", type=int, default=8, help="SMTP sessions sending at once")
    parser.add_argument("--quick", action="store_true", help="100 e-mails, for a smoke run")
    args = parser.parse_args()
    count = 100 if args.quick else args.mails
    token = issue_token(ServiceSettings(), ["providers:read", "providers:write"], subject="bench")
    with (
        kafka_bootstrap() as (bootstrap, _),
        temporary_database("zorg_bench", migrations="zorg_eligibility.migrations") as eligibility_url,
        temporary_database("zorg_bench", migrations="zorg_contracting.migrations") as contracting_url,
    ):
        eligibility_port, contracting_port, smtp_port = free_port(), free_port(), free_port()
        common = {
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "LOG_LEVEL": "WARNING",
            "KAFKA_TOPIC_PREFIX": f"bench{smtp_port}.",
        }
        with serve("eligibility", eligibility_port, {**common, "ELIGIBILITY_DATABASE_URL": eligibility_url}):
            print(f"registering {count} care groups and building {count} e-mails ...", flush=True)
            asyncio.run(register(f"http://127.0.0.1:{eligibility_port}", token, count))
            mails = build_mails(count)
            size = sum(len(m) for m in mails) / count
            env = {
                **common,
                "CONTRACTING_DATABASE_URL": contracting_url,
                "ELIGIBILITY_URL": f"http://127.0.0.1:{eligibility_port}",
                "SMTP_PORT": str(smtp_port),
            }
            with serve("contracting", contracting_port, env):
                started_wall = time.time()
                sent_s = send(smtp_port, mails, args.connections)
                decided, signed, last_signed = asyncio.run(
                    wait_decided(contracting_url.replace("+asyncpg", ""), count, started_wall, timeout=300)
                )
    print("\nbench/contracting.py: follow-format e-mails (.xlsx) through SMTP, PostgreSQL, eligibility as a process")
    print(f"  e-mails         {count:8d}   ({size / 1000:.1f} kB each, {args.connections} SMTP connections)")
    print(f"  taken in        {count / sent_s:8.1f} e-mails/s  ({sent_s:.1f} s for all, stored before each 250 OK)")
    print(f"  decided         {decided:8d}   signed contracts {signed}")
    if last_signed is None:
        print("  last signed       never")
        raise SystemExit(1)
    verdict = "met" if decided == count and last_signed <= TARGET_S else "NOT met"
    print(f"  last signed at  {last_signed:8.1f} s after the first e-mail   (target {TARGET_S:.0f} s: {verdict})")
    print(f"  throughput      {count / last_signed:8.1f} contracts/s end to end")
    if decided < count:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
