"""The demo data reaches every route, every criterion's failure, and a provider with unknown facts."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import running_app
from zorg_common.auth import issue_token
from zorg_common.migrations import upgrade
from zorg_common.policy import policies
from zorg_eligibility.service import SPEC
from zorg_eligibility.settings import EligibilitySettings

pytestmark = pytest.mark.integration


async def test_demo_reaches_every_route_and_every_failure(tmp_path: Path) -> None:
    settings = EligibilitySettings(
        _env_file=None, DATABASE_URL=f"sqlite:///{tmp_path}/e.db", KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:1"
    )
    upgrade(SPEC.migrations, settings.database_url)

    def token(*scopes: str, agb: str | None = None) -> str:
        return issue_token(settings, scopes, agb=agb)

    assert SPEC.demo is not None
    async with running_app(SPEC, settings, workers=False) as client:
        await SPEC.demo(client, token)
        await SPEC.demo(client, token)  # a second `make run` loads it again without harm
        headers = {"Authorization": f"Bearer {token('admin')}"}
        listed = (await client.get("/providers?page_size=200", headers=headers)).json()
        assert 20 <= listed["total"] <= 30
        routes, failed, unknown_everywhere = set(), set(), []
        for provider in listed["items"]:
            history = (await client.get(f"/providers/{provider['agb']}/evaluations", headers=headers)).json()
            for evaluation in history["items"]:
                routes.add((evaluation["policy_id"], evaluation["route"], tuple(evaluation["warnings"])[-1:]))
                failed |= {
                    (evaluation["policy_id"], c["code"]) for c in evaluation["criteria"] if c["verdict"] == "fail"
                }
                if {c["verdict"] for c in evaluation["criteria"]} == {"unknown"}:
                    unknown_everywhere.append(provider["agb"])
    assert {r[:2] for r in routes} >= {
        ("GLI-2023", "follow"),
        ("GLI-2023", "restitution"),
        ("GGZ-2021", "digital"),
        ("GGZ-2021", "offer"),
    }
    assert ("GGZ-2021", None, ("SIZE_UNKNOWN",)) in routes
    every_criterion = {(p.id, c.code) for p in policies().values() for c in p.criteria}
    assert failed == every_criterion
    assert unknown_everywhere
