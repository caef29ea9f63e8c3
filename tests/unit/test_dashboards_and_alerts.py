"""The Grafana dashboards and the Prometheus alert rules read only metrics that the code registers."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import REGISTRY

from zorg_common.cli import services

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = ROOT / "deploy" / "grafana"
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yaml"
#: The sample names a metric family of each type exposes (a counter `x` is scraped as `x_total`).
SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "summary": ("", "_count", "_sum", "_created"),
}


def registered() -> set[str]:
    """Every sample name the platform's processes can expose: the service modules are imported first."""
    services()  # imports every service, and with them every module that registers a metric
    return {family.name + suffix for family in REGISTRY.collect() for suffix in SUFFIXES.get(family.type, ("",))}


def used(expr: str) -> set[str]:
    return set(re.findall(r"\bzorg_[a-z0-9_]+\b", expr))


def dashboard_exprs() -> dict[str, list[str]]:
    found = {}
    for path in sorted(DASHBOARDS.glob("*.json")):
        board: dict[str, Any] = json.loads(path.read_text())
        found[path.stem] = [t["expr"] for p in board["panels"] for t in p["targets"]]
    return found


def alert_rules() -> list[dict[str, Any]]:
    loaded: dict[str, Any] = yaml.safe_load(ALERTS.read_text())
    return [rule for group in loaded["groups"] for rule in group["rules"]]


def test_a_dashboard_per_service_with_the_panels_operators_need() -> None:
    boards = dashboard_exprs()
    assert set(boards) == set(services())
    for service, exprs in boards.items():
        text = " ".join(exprs)
        for metric in (
            "zorg_http_requests_total",
            "zorg_http_request_seconds_bucket",
            "zorg_consumer_lag",
            "zorg_outbox_backlog",
            "zorg_consumer_dead_letters_total",
        ):
            assert metric in text, f"{service}: no panel on {metric}"
        assert 'status=~"5.."' in text and "histogram_quantile(0.99" in text, service
    assert any("zorg_claims_decided_total" in e and "outcome" in e for e in boards["claims"])


@pytest.mark.parametrize("source", ["dashboards", "alerts"])
def test_every_metric_they_use_is_registered_by_the_code(source: str) -> None:
    exprs = (
        [e for es in dashboard_exprs().values() for e in es]
        if source == "dashboards"
        else [r["expr"] for r in alert_rules()]
    )
    names = set().union(*(used(e) for e in exprs))
    assert names, "no zorg_ metric found: the expressions are not being read"
    missing = names - registered()
    assert not missing, f"{source} use metrics no code registers: {sorted(missing)}"


def test_the_alerts_cover_lag_dead_letters_backlog_errors_and_the_procurement_deadline() -> None:
    rules = {r["alert"]: r for r in alert_rules()}
    for rule in rules.values():
        assert rule["labels"]["severity"] in {"info", "warning", "critical"}
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]
    lag = rules["ZorgConsumerLagGrowing"]
    assert "zorg_consumer_lag" in lag["expr"] and lag["for"] == "10m"
    assert "zorg_consumer_dead_letters_total" in rules["ZorgDeadLetters"]["expr"]
    assert "zorg_outbox_backlog" in rules["ZorgOutboxBacklog"]["expr"]
    assert 'status=~"5.."' in rules["ZorgServerErrors"]["expr"]
    deadline = rules["ZorgProcurementDeadlineNear"]["expr"]
    assert "zorg_procurement_deadline_days) <= 7" in deadline and "zorg_procurements_open) > 0" in deadline


def test_a_misspelt_metric_would_be_caught() -> None:
    assert "zorg_consumer_lag" in registered()
    assert "zorg_consumer_lags" not in registered()
    assert "zorg_claims_decided_total" in registered() and "zorg_claims_decided" not in registered()
