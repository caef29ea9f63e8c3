"""The platform as processes: `zorg up` (what `make run` runs), and relays run on their own."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.conftest import Kafka, eventually
from tests.integration.backbone import read_topic, service_pair
from tests.support import provider_updated
from zorg_common.broker import bindable, ephemeral_range, free_port, port_open

pytestmark = pytest.mark.e2e

SERVICES = {"eligibility": 8001, "contracting": 8002, "claims": 8003, "publication": 8004}
ZORG = [sys.executable, "-m", "zorg_common.cli"]


def _free_offset() -> int:
    """An offset that puts every service port (and SMTP's 2525) on free ports."""
    ports = (*SERVICES.values(), 2525)
    top = ephemeral_range()[0] - max(ports)  # below it, only another listener can take a port
    for _ in range(50):
        offset = random.randrange(10_000 - min(ports), max(top, 10_000 - min(ports) + 1))
        if all(bindable(port + offset) for port in ports):
            return offset
    raise RuntimeError("no free ports")


def _start_platform(data_dir: Path, offset: int, broker_port: int) -> tuple[subprocess.Popen[str], list[str]]:
    skip = ("KAFKA_BOOTSTRAP_SERVERS", "ZORG_TODAY")  # `zorg up` picks its own: the demo date
    env = {k: v for k, v in os.environ.items() if not k.endswith("DATABASE_URL") and k not in skip}
    proc = subprocess.Popen(
        [*ZORG, "up", "--data-dir", str(data_dir), "--broker-port", str(broker_port), "--port-offset", str(offset)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        start_new_session=True,
    )
    lines: list[str] = []
    deadline = time.monotonic() + 120
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            raise AssertionError("zorg up ended early:\n" + "".join(lines))
        lines.append(line)
        if "Ctrl-C stops everything" in line:
            return proc, lines
    proc.kill()
    raise AssertionError("zorg up did not come up:\n" + "".join(lines))


def _stop_platform(proc: subprocess.Popen[str], lines: list[str]) -> str:
    proc.send_signal(signal.SIGINT)  # what Ctrl-C sends
    out, _ = proc.communicate(timeout=60)
    return "".join(lines) + out


def test_zorg_up_runs_everything_and_ctrl_c_stops_it_all(tmp_path: Path) -> None:
    offset, broker_port = _free_offset(), free_port()
    for run in (1, 2):  # the second run starts on the state the first one left
        proc, lines = _start_platform(tmp_path, offset, broker_port)
        try:
            for name, port in SERVICES.items():
                ready = httpx.get(f"http://127.0.0.1:{port + offset}/readyz", timeout=10)
                assert ready.status_code == 200, (name, ready.text)
                body = ready.json()
                assert (body["status"], body["database"], body["broker"]) == ("ready", "ok", "ok")
                assert body["loops"][name] == "running", body  # the relay in the process; its consumers too
                assert set(body["loops"].values()) == {"running"}, body
                assert httpx.get(f"http://127.0.0.1:{port + offset}/openapi.json", timeout=10).status_code == 200
            token = subprocess.run([*ZORG, "token", "--scope", "providers:read"], capture_output=True, text=True)
            listed = httpx.get(
                f"http://127.0.0.1:{SERVICES['eligibility'] + offset}/providers",
                headers={"Authorization": f"Bearer {token.stdout.strip()}"},
                timeout=10,
            )
            assert listed.status_code == 200 and listed.json()["total"] == 24
            if run == 1:
                _claims_demo_reaches_its_outcomes(SERVICES["claims"] + offset)
        finally:
            output = _stop_platform(proc, lines)
        assert proc.returncode == 0, output
        assert "stopped: every service and the broker" in output
        assert "demo data   eligibility: loaded" in output and "FAILED" not in output
        assert "today       2023-06-01 (ZORG_TODAY" in output
        for name, port in SERVICES.items():
            assert f"http://127.0.0.1:{port + offset}/docs" in output
            assert not port_open("127.0.0.1", port + offset), f"{name} still listening after run {run}"
        assert not port_open("127.0.0.1", broker_port)
        leftover = subprocess.run(["pgrep", "-f", str(tmp_path)], capture_output=True, text=True).stdout.strip()
        assert leftover == "", f"processes left running: {leftover}"
        for name in SERVICES:
            assert (tmp_path / f"{name}.db").exists()
            assert (tmp_path / "log" / f"{name}.log").stat().st_size > 0


async def test_two_relay_processes_send_every_event_once_in_key_order(
    make_pg_url: Callable[[], str], kafka: Kafka, topic_prefix: str
) -> None:
    async with service_pair(make_pg_url, kafka, topic_prefix, KAFKA_TOPIC_PARTITIONS=3) as pair:
        env = dict(
            os.environ,
            ELIGIBILITY_DATABASE_URL=str(pair.producer.settings.database_url),
            KAFKA_BOOTSTRAP_SERVERS=kafka.bootstrap,
            KAFKA_TOPIC_PREFIX=topic_prefix,
            RELAY_BATCH_SIZE="50",
        )
        relays = [
            await asyncio.create_subprocess_exec(
                *ZORG,
                "relay",
                "eligibility",
                env=env,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
            )
            for _ in range(2)
        ]
        try:
            await asyncio.sleep(2)  # both started and listening
            agbs = [f"{n:08d}" for n in range(20_000_001, 20_000_011)]
            for version in range(1, 41):  # 400 events, committed while both relays run
                await pair.emit(*(provider_updated(agb, version) for agb in agbs))

            async def all_sent() -> bool:
                return len(await read_topic(kafka.bootstrap, pair.topic, timeout=5)) >= 400

            await eventually(all_sent, timeout=60, interval=0.5)
        finally:
            for relay in relays:
                relay.send_signal(signal.SIGTERM)
            stderr = [(await relay.communicate())[1].decode() for relay in relays]
        assert [relay.returncode for relay in relays] == [0, 0], stderr
        assert all("stopped cleanly" in err for err in stderr), stderr
        sent = [int(err.split("it sent ")[1].split(" event")[0]) for err in stderr]
        assert sum(sent) == 400, sent  # shared between the two, none sent twice
        messages = await read_topic(kafka.bootstrap, pair.topic)
        assert len(messages) == 400
        per_key: dict[bytes, list[int]] = defaultdict(list)
        for message in sorted(messages, key=lambda m: (m.partition, m.offset)):
            per_key[message.key].append(int(message.value.split(b'"version":')[1].split(b",")[0]))
        assert all(versions == list(range(1, 41)) for versions in per_key.values()), per_key


CLAIMS_DEMO_REASONS = {
    "TARIFF_CAPPED",
    "PRESTATION_LIMIT_EXCEEDED",
    "DUPLICATE",
    "PROVIDER_UNKNOWN",
    "PROGRAMME_NOT_RECOGNISED",
    "PROGRAMME_DURATION_EXCEEDED",
    "PRESTATION_INVALID_FOR_PHASE",
    "PROVIDER_NOT_ELIGIBLE",
    "NON_CONTRACTED_RATE",
    "PRESTATION_INVALID_FOR_DATE",
    "SUBMISSION_DEADLINE_PASSED",
    "AWAITING_CONTRACT",
    "PRESTATION_NOT_CONTRACTED",
    # a provider far above its usual volume: held for review, one approved and one rejected by a person
    "REVIEW_VOLUME",
    "REVIEW_APPROVED",
    "REVIEW_REJECTED",
    # AUTHORISATION_REQUIRED needs a DBC (until 2021), whose claims were due by 30 April 2023: not on 2023-06-01
}


def _claims_demo_reaches_its_outcomes(port: int) -> None:
    token = subprocess.run([*ZORG, "token", "--scope", "claims:read"], capture_output=True, text=True).stdout.strip()
    deadline = time.monotonic() + 60
    while True:
        items = httpx.get(
            f"http://127.0.0.1:{port}/claims?page_size=200", headers={"Authorization": f"Bearer {token}"}, timeout=10
        ).json()["items"]
        if items and all(c["status"] != "received" for c in items):
            break
        assert time.monotonic() < deadline, f"claims not decided: {[c['status'] for c in items]}"
        time.sleep(0.5)
    # `zorg up` runs the demo on 2023-06-01, where the contracting demo's procurements still matter.
    assert len(items) == 16 + 50 + 1  # the outcomes, the busy institution's consults, the specialised DBC
    assert {c["status"] for c in items} == {"approved", "partially_approved", "rejected", "pending"}
    assert {r for c in items for r in c["reasons"]} == CLAIMS_DEMO_REASONS
    by_reference = {c["provider_reference"]: c for c in items}
    # Two intakes in one batch: the first line sent is the one paid, the second exceeds the limit.
    assert by_reference["DEMO-3"]["status"] == "approved"
    assert by_reference["DEMO-4"]["reasons"] == ["PRESTATION_LIMIT_EXCEEDED"]
    assert by_reference["DEMO-15"]["status"] == "pending" and by_reference["DEMO-15"]["reasons"] == [
        "AWAITING_CONTRACT"
    ]
    # The reviewed claim is paid the rules' amount (75% of the maximum tariff), not the 25.00 claimed.
    approved, rejected = by_reference["DEMO-R-1"], by_reference["DEMO-R-2"]
    assert (approved["status"], approved["allowed_cents"], approved["decided_by"]) == (
        "partially_approved",
        1650,
        "demo-loader",
    )
    assert approved["reasons"] == ["TARIFF_CAPPED", "NON_CONTRACTED_RATE", "REVIEW_APPROVED"]
    assert (rejected["status"], rejected["allowed_cents"]) == ("rejected", 0)
    assert by_reference["DEMO-R-3"]["hold"] == "review" and by_reference["DEMO-R-3"]["allowed_cents"] == 1650
    assert by_reference["DEMO-A-1"]["reasons"] == ["SUBMISSION_DEADLINE_PASSED"]
