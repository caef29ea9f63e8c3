"""`zorg up` (what `make run` runs) with the contracting demo, and a follow-format e-mail over SMTP."""

from __future__ import annotations

import smtplib
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.test_platform import ZORG, _free_offset, _start_platform, _stop_platform
from zorg_common.broker import free_port

pytestmark = pytest.mark.e2e
MAIL = Path(__file__).resolve().parents[1] / "fixtures" / "mail"


def _get(url: str, token: str) -> Any:
    response = httpx.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def test_make_run_loads_the_contracting_demo_and_takes_mail_over_smtp(tmp_path: Path) -> None:
    offset, broker_port = _free_offset(), free_port()
    smtp_port = 2525 + offset  # `zorg up --port-offset` moves the SMTP port with the HTTP ones
    proc, lines = _start_platform(tmp_path, offset, broker_port)
    try:
        base = f"http://127.0.0.1:{8002 + offset}"
        token = subprocess.run(
            [*ZORG, "token", "--scope", "contracts:read"], capture_output=True, text=True, check=True
        ).stdout.strip()
        intakes = _get(f"{base}/follow-formats", token)["items"]
        assert Counter(i["status"] for i in intakes) == {"accepted": 2, "rejected": 3, "needs_review": 3}
        spoofed = next(i for i in intakes if i["message_id"] == "<demo-spoofed@zorginkoop.example>")
        assert spoofed["status"] == "needs_review" and spoofed["reply"] is None  # waits for a person, unanswered
        change = next(i for i in intakes if i["message_id"] == "<demo-change-request@zorginkoop.example>")
        assert change["review_reasons"][0].startswith("change request") and change["procurement_id"] is None
        assert _get(f"{base}/negotiations?state=open", token)["total"] == 1
        assert _get(f"{base}/invitations?policy_id=GGZ-2021", token)["total"] == 2
        with smtplib.SMTP("127.0.0.1", smtp_port, timeout=30) as smtp:
            smtp.sendmail(
                "info@zorggroep.example", ["contracten@zorginkoop.example"], (MAIL / "not_eligible.eml").read_bytes()
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            smtp_intakes = [i for i in _get(f"{base}/follow-formats", token)["items"] if i["channel"] == "smtp"]
            if smtp_intakes and smtp_intakes[0]["status"] != "received":
                break
            time.sleep(0.5)
        assert smtp_intakes[0]["status"] == "rejected"
        assert [p["field"] for p in smtp_intakes[0]["problems"]] == ["Voorwaarden inkoopbeleid"]
        assert "NOT_IN_FRAUD_REGISTERS" not in smtp_intakes[0]["reply"]["body"]  # a confidential criterion
    finally:
        output = _stop_platform(proc, lines)
    assert "demo data   contracting: loaded" in output and "FAILED" not in output
