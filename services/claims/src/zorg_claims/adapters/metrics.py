"""The claims service's own Prometheus metrics: decisions made by the rules, by outcome."""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Iterable

from prometheus_client import Counter

from ..domain.adjudication import Decision

DECIDED = Counter("zorg_claims_decided_total", "Claim decisions made by the rules, by outcome", ["outcome"])


def count_decisions(decisions: Iterable[Decision]) -> None:
    """One ``inc(n)`` per outcome for a whole batch: a counter call per claim would cost at the month-end peak.

    Counted when the batch is decided, before its transaction commits: a batch that fails and is
    retried claim by claim is counted again (rare; the rate over minutes is what the dashboards read).
    """
    for outcome, count in Tally(d.status for d in decisions).items():
        DECIDED.labels(outcome).inc(count)
