"""What a provider never sees about itself: the insurer's own findings (DOMAIN.md, "confidential criteria")."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

CONFIDENTIAL_CRITERIA = frozenset({"NOT_IN_FRAUD_REGISTERS", "NO_QUALITY_CONCERNS"})
CONFIDENTIAL_FACTS = frozenset({"in_fraud_register", "fraud_investigation", "quality_concerns"})


def visible_facts(facts: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in facts.items() if k not in CONFIDENTIAL_FACTS}


def visible_criteria(criteria: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return [c for c in criteria if c["code"] not in CONFIDENTIAL_CRITERIA]


def hidden_criterion_blocks(criteria: Iterable[dict[str, Any]]) -> bool:
    """Whether a confidential criterion keeps the provider from being eligible (fail or unknown)."""
    return any(c["code"] in CONFIDENTIAL_CRITERIA and c["blocking"] and c["verdict"] != "pass" for c in criteria)
