"""Each service's OpenAPI document says what its routes answer: the problems of the shared mechanics
(401, 403 with the scopes in ``x-scopes``, 413, 422, 503) and of its own rules, as problem+json."""

from __future__ import annotations

from typing import Any

import pytest

from zorg_claims.service import SPEC as CLAIMS
from zorg_common.app import create_app
from zorg_common.openapi import PROBLEM_REF
from zorg_common.service import ServiceSpec
from zorg_contracting.service import SPEC as CONTRACTING
from zorg_eligibility.service import SPEC as ELIGIBILITY
from zorg_publication.service import SPEC as PUBLICATION

SPECS = [ELIGIBILITY, CONTRACTING, CLAIMS, PUBLICATION]
PROBLEM = {"application/problem+json": {"schema": {"$ref": PROBLEM_REF}}}
#: Error answers that are not problems: the public page answers in HTML, /readyz says what is not ready.
#: Pages answer pages, also when they refuse (the public page, contracting's staff pages); /readyz its body.
NOT_PROBLEMS = {
    ("/", "get", "422"),
    ("/readyz", "get", "503"),
    ("/overzicht/{policy_id}", "get", "404"),
    ("/overzicht/{policy_id}/onderhandelingen/{negotiation_id}", "get", "404"),
}


def document(spec: ServiceSpec) -> dict[str, Any]:
    app = create_app(spec, spec.settings_cls(_env_file=None), workers=False)  # type: ignore[call-arg]
    openapi: dict[str, Any] = app.openapi()
    return openapi


def operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, method, op) for path, ops in doc["paths"].items() for method, op in ops.items()]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_every_error_is_documented_as_problem_json(spec: ServiceSpec) -> None:
    doc = document(spec)
    schemas = doc["components"]["schemas"]
    assert {"Problem", "FieldError"} <= set(schemas) and "HTTPValidationError" not in schemas
    for path, method, op in operations(doc):
        for status, response in op["responses"].items():
            if status[0] in "45" and (path, method, status) not in NOT_PROBLEMS:
                assert response["content"] == PROBLEM, (path, method, status)


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_the_mechanics_are_documented_where_they_apply(spec: ServiceSpec) -> None:
    for path, method, op in operations(document(spec)):
        statuses = set(op["responses"])
        if op.get("security"):
            assert "401" in statuses, (path, method)
        assert ("403" in statuses) == bool(op.get("x-scopes")), (path, method)
        if op.get("parameters") or op.get("requestBody"):
            assert "422" in statuses, (path, method)
        if op.get("requestBody"):
            assert "413" in statuses, (path, method)
    assert "403" not in set(document(ELIGIBILITY)["paths"]["/policies"]["get"]["responses"])  # any token reads them


def test_scopes_say_which_tokens_a_route_admits() -> None:
    paths = document(ELIGIBILITY)["paths"]
    assert paths["/providers"]["get"]["x-scopes"] == ["admin", "portal", "providers:read"]
    assert paths["/portal/accounts"]["post"]["x-scopes"] == ["admin", "providers:write"]
    assert "x-scopes" not in paths["/portal/token"]["post"] and "security" not in paths["/portal/token"]["post"]


def test_a_route_documents_its_own_answers() -> None:
    put = document(ELIGIBILITY)["paths"]["/providers/{agb}"]["put"]["responses"]
    assert {"200", "201", "412", "428"} <= set(put)
    assert "ETag" in put["200"]["headers"] and "ETag" in put["201"]["headers"]
    listings = document(PUBLICATION)["paths"]["/listings"]["get"]["responses"]
    assert set(listings["304"]["headers"]) == {"ETag"} and "Cache-Control" in listings["200"]["headers"]
    page = document(PUBLICATION)["paths"]["/"]["get"]["responses"]
    assert set(page["422"]["content"]) == {"text/html"} and "304" in page


def test_bodies_read_by_hand_are_documented_as_they_are_read() -> None:
    mail = document(CONTRACTING)["paths"]["/follow-formats"]["post"]
    assert mail["requestBody"]["required"] is True
    assert set(mail["requestBody"]["content"]) == {"message/rfc822"} and "415" in mail["responses"]
    login = document(ELIGIBILITY)["paths"]["/portal/token"]["post"]["requestBody"]["content"]
    assert set(login) == {"application/x-www-form-urlencoded"}
    batch = document(CLAIMS)["paths"]["/claims/batch"]["post"]["requestBody"]["content"]["application/json"]
    assert batch["schema"]["required"] == ["lines"]
