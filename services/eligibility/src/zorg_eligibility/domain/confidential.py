"""What a provider never sees about itself: the insurer's own findings (DOMAIN.md, "confidential criteria").

Which criteria those are is policy data (``confidential: true`` on a criterion), the same list the
contracting replies use; their facts are the facts those criteria read.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from zorg_common.policy import policies


def confidential_criteria() -> frozenset[str]:
    return frozenset().union(*(p.confidential_criteria() for p in policies().values()))


def confidential_facts() -> frozenset[str]:
    return frozenset().union(*(p.confidential_facts() for p in policies().values()))


def visible_facts(facts: dict[str, Any]) -> dict[str, Any]:
    hidden = confidential_facts()
    return {k: v for k, v in facts.items() if k not in hidden}


def visible_criteria(criteria: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    hidden = confidential_criteria()
    return [c for c in criteria if c["code"] not in hidden]


def hidden_criterion_blocks(criteria: Iterable[dict[str, Any]]) -> bool:
    """Whether a confidential criterion keeps the provider from being eligible (fail or unknown)."""
    hidden = confidential_criteria()
    return any(c["code"] in hidden and c["blocking"] and c["verdict"] != "pass" for c in criteria)
