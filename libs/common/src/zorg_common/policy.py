"""Procurement policies as data: the schema every policy file must meet, and the one loader.

A policy (*inkoopbeleid*) is a YAML file, one per sector and contract year, in the folder that
ships with this package (``zorg_common/policies/``) or in the folders named by
``ZORG_POLICY_DIRS``. Adding next year's policy is adding a file. Every service reads policies
through ``load_policies()``; what a criterion *means* is the eligibility service's business,
here it is only data that must be well formed.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Iterable
from functools import cached_property, lru_cache
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

Sector = Literal["GLI", "GGZ"]
ProviderKind = Literal["individual", "care_group", "institution"]
RouteName = Literal["follow", "restitution", "digital", "offer"]
FACT_NAMES = frozenset(
    {
        "kvk_registered",
        "wtza_admitted",
        "ubo_known",
        "ubo_sanctioned",
        "blcn_registered",
        "vektis_lifestyle_coach",
        "programmes",
        "in_fraud_register",
        "fraud_investigation",
        "enhanced_supervision",
        "sound_administration",
        "vecozo_certificate",
        "professional_standards",
        "refuses_care",
        "serious_misconduct_on",
        "quality_concerns",
        "co2_roadmap",
        "hybrid_care_published",
        "quality_statute_ii_approved",
        "claims_total_prev_year_cents",
        "insured_treated_prev_year",
    }
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _known_fact(name: str) -> str:
    if name not in FACT_NAMES:
        raise ValueError(f"unknown fact {name!r}; known facts: {', '.join(sorted(FACT_NAMES))}")
    return name


FactName = Annotated[str, AfterValidator(_known_fact)]


class FactIs(_Strict):
    """The fact (yes or no) must have this value."""

    fact: FactName
    equals: bool


class FactIncludesAny(_Strict):
    """The fact (a list) must hold at least one of these values."""

    fact: FactName
    includes_any: list[str] = Field(min_length=1)


class NoDateWithinYears(_Strict):
    """The fact (a date, or null for none on file) must not lie within so many years before the evaluation."""

    fact: FactName
    no_date_within_years: int = Field(gt=0)


class IncludesRecognisedProgramme(_Strict):
    """The fact (a list of programme names) holds at least one of the policy's recognised programmes,
    in any of its spellings (compared by ``programme_key``)."""

    fact: FactName
    includes_recognised_programme: Literal[True]


class AllOf(_Strict):
    all_of: list[Rule] = Field(min_length=1)


class AnyOf(_Strict):
    any_of: list[Rule] = Field(min_length=1)


Rule = Annotated[
    FactIs | FactIncludesAny | IncludesRecognisedProgramme | NoDateWithinYears | AllOf | AnyOf,
    Field(union_mode="smart"),
]
AllOf.model_rebuild()
AnyOf.model_rebuild()


class Criterion(_Strict):
    code: str = Field(pattern=r"^[A-Z][A-Z0-9_]*$")
    blocking: bool = True
    #: The insurer's own finding (DOMAIN.md, confidential criteria): no message to a provider names it,
    #: and a portal token never sees it or the facts behind it.
    confidential: bool = False
    text_nl: str = Field(min_length=1)
    text_en: str = Field(min_length=1)
    rule: Rule


def rule_facts(rule: Rule) -> list[str]:
    """Every fact a rule reads, in order."""
    if isinstance(rule, AllOf):
        return [fact for inner in rule.all_of for fact in rule_facts(inner)]
    if isinstance(rule, AnyOf):
        return [fact for inner in rule.any_of for fact in rule_facts(inner)]
    return [rule.fact]


class Question(_Strict):
    """One question of the policy's questionnaire (*vragenlijst*) and the kind of answer it takes."""

    id: str = Field(pattern=r"^[A-Z][A-Z0-9_]*$")
    text_nl: str = Field(min_length=1)
    text_en: str = Field(min_length=1)
    answer: Literal["yes_no", "text", "number", "date"]
    required: bool = True


class Enquiries(_Strict):
    """Whom a provider calls about the policy (named in replies that cannot say more)."""

    name_nl: str = Field(min_length=1)
    phone: str = Field(min_length=1)
    email: str | None = None


class RouteRule(_Strict):
    """Providers of these kinds (and, for institutions, this size) take this route."""

    route: RouteName
    kinds: list[ProviderKind] = Field(min_length=1)
    size: Literal["small", "large"] | None = None
    contract_years: int = Field(default=1, ge=1, le=2)
    description: str = ""


class Calendar(_Strict):
    published: dt.date
    contracting_deadline: dt.date
    publication: dt.date
    claims_processed_by: dt.date


class LargeInstitution(_Strict):
    """An institution is large when it reaches either threshold in the previous year."""

    claims_total_prev_year_cents: int = Field(gt=0)
    insured_treated_prev_year: int = Field(gt=0)


class PrestationLimit(_Strict):
    max_count: int = Field(gt=0)
    per: Literal["programme"] = "programme"
    phase: Literal["treatment", "maintenance"] | None = None


class Prestation(_Strict):
    code: str = Field(min_length=1)
    description: str
    kind: Literal["GLI", "ZPM", "DBC"]
    max_tariff_cents: int = Field(gt=0)
    sample: bool = False  # an illustrative amount until the real table is loaded
    #: Specialised care: on a referral at an institution it needs an authorisation (machtiging).
    specialised: bool = False
    #: The care type an authorisation may name instead of the prestation code (e.g. ``sggz``).
    care_type: str | None = Field(default=None, min_length=1, max_length=64)
    limit: PrestationLimit | None = None


_ARTICLE = re.compile(r"^de\s+", re.IGNORECASE)
_UNSPACED = re.compile(r"[\s\-\u2010-\u2015]+")


@lru_cache(maxsize=4096)  # asked for every GLI claim line, with a handful of distinct names
def programme_key(name: str) -> str:
    """How programme names are compared (DOMAIN.md, recognised programmes): case, a leading article
    *de*, spacing and hyphens do not matter ("de BeweegKuur", "Beweegkuur" and "BEWEEG-KUUR" are one)."""
    return _UNSPACED.sub("", _ARTICLE.sub("", name.strip())).casefold()


class Programme(_Strict):
    """A recognised programme, listed once: its name and the other ways it is written."""

    name: str = Field(min_length=1, max_length=100)
    spellings: list[str] = []


class Policy(_Strict):
    id: str = Field(pattern=r"^[A-Z]+-\d{4}$")
    sector: Sector
    contract_year: int = Field(ge=2000, le=2100)
    title_nl: str
    title_en: str
    calendar: Calendar
    criteria: list[Criterion] = Field(min_length=1)
    routes: list[RouteRule] = Field(min_length=1)
    large_institution: LargeInstitution | None = None
    prestations: list[Prestation] = Field(min_length=1)
    #: The recognised programmes (GLI), each once with its spellings: the one list that eligibility,
    #: the follow format and claims compare programme names with.
    programmes: list[Programme] = []
    #: From this date claims use ZPM prestations and no longer DBC ones (the *harde stop*).
    zpm_from: dt.date | None = None
    #: How long a GLI programme runs: months 0-12 treatment, 12-24 maintenance.
    programme_phase_months: int | None = Field(default=None, gt=0)
    non_contracted_reimbursement_pct: int = Field(default=100, ge=0, le=100)
    max_above_tariff_pct: int = Field(default=0, ge=0, le=100)
    digital_route_tariffs: Literal["max_tariff"] = "max_tariff"
    #: The incentives of one offer's KPIs add up to at most this percentage (DOMAIN.md, Decision: 2).
    max_kpi_incentive_pct: float = Field(default=2, ge=0, le=100)
    #: The questions an invitation of the digital route carries; answered when the provider signs.
    questionnaire: list[Question] = []
    #: Whom a provider calls (told in a reply that may not name a confidential criterion).
    enquiries: Enquiries | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Policy:
        if self.id != f"{self.sector}-{self.contract_year}":
            raise ValueError(
                f"id {self.id!r} must be <sector>-<contract year>, here {self.sector}-{self.contract_year}"
            )
        for name, items in (
            ("criteria", [c.code for c in self.criteria]),
            ("prestations", [p.code for p in self.prestations]),
            ("questionnaire", [q.id for q in self.questionnaire]),
        ):
            doubles = sorted({x for x in items if items.count(x) > 1})
            if doubles:
                raise ValueError(f"{name} listed twice: {', '.join(doubles)}")
        keys = [k for p in self.programmes for k in {programme_key(s) for s in (p.name, *p.spellings)}]
        doubles = sorted({k for k in keys if keys.count(k) > 1})
        if doubles:
            raise ValueError(f"programmes: two programmes spelled alike: {', '.join(doubles)}")
        if self._uses_programme_list() and not self.programmes:
            raise ValueError("a criterion asks for a recognised programme, but the policy lists no programmes")
        if any(r.size for r in self.routes) and self.large_institution is None:
            raise ValueError("routes by institution size need large_institution thresholds")
        cal = self.calendar
        if not cal.published <= cal.contracting_deadline <= cal.publication:
            raise ValueError("calendar: published <= contracting_deadline <= publication")
        return self

    def prestation(self, code: str) -> Prestation | None:
        return self._prestations_by_code.get(code)

    @cached_property
    def _prestations_by_code(self) -> dict[str, Prestation]:
        # Asked for every claim line: a lookup, not a walk through the list.
        return {p.code: p for p in self.prestations}

    def recognised_programme(self, name: str | None) -> Programme | None:
        """The recognised programme ``name`` is a spelling of, if any (compared by ``programme_key``)."""
        return self._programmes_by_key.get(programme_key(name)) if name else None

    def confidential_criteria(self) -> frozenset[str]:
        """The codes of the criteria no provider may see named (DOMAIN.md, confidential criteria)."""
        return frozenset(c.code for c in self.criteria if c.confidential)

    def confidential_facts(self) -> frozenset[str]:
        """The facts behind the confidential criteria: a portal token never sees them either."""
        return frozenset(fact for c in self.criteria if c.confidential for fact in rule_facts(c.rule))

    def question(self, question_id: str) -> Question | None:
        return next((q for q in self.questionnaire if q.id == question_id), None)

    @cached_property
    def _programmes_by_key(self) -> dict[str, Programme]:
        return {programme_key(s): p for p in self.programmes for s in (p.name, *p.spellings)}

    def _uses_programme_list(self) -> bool:
        def uses(rule: Rule) -> bool:
            if isinstance(rule, AllOf | AnyOf):
                return any(uses(r) for r in (rule.all_of if isinstance(rule, AllOf) else rule.any_of))
            return isinstance(rule, IncludesRecognisedProgramme)

        return any(uses(c.rule) for c in self.criteria)


class PolicyFileError(ValueError):
    """A policy file that cannot be read or does not meet the schema; the message says where and what."""


def _describe(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(top)"
        lines.append(f"  {where}: {err['msg']}")
    return "\n".join(lines)


def load_policy_file(path: Path) -> Policy:
    try:
        raw: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise PolicyFileError(f"{path}: cannot be read as YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise PolicyFileError(f"{path}: a policy file is a mapping of fields, not {type(raw).__name__}")
    try:
        policy = Policy.model_validate(raw)
    except ValidationError as exc:
        raise PolicyFileError(f"{path}: not a valid policy:\n{_describe(exc)}") from exc
    if path.stem != policy.id:
        raise PolicyFileError(f"{path}: the file must be named after its id, {policy.id}.yaml")
    return policy


def policy_dirs() -> list[Path]:
    """The bundled folder, then every folder in ``ZORG_POLICY_DIRS`` (``:``-separated)."""
    dirs = [Path(str(resources.files("zorg_common") / "policies"))]
    extra = os.environ.get("ZORG_POLICY_DIRS", "")
    dirs += [Path(d) for d in extra.split(os.pathsep) if d.strip()]
    return dirs


def load_policies(dirs: Iterable[Path] | None = None) -> dict[str, Policy]:
    """Every policy in ``dirs`` by id; a malformed file or a duplicate id is an error, never skipped."""
    found: dict[str, Policy] = {}
    where: dict[str, Path] = {}
    for folder in dirs if dirs is not None else policy_dirs():
        if not folder.is_dir():
            raise PolicyFileError(f"{folder}: policy folder does not exist")
        for path in sorted(folder.glob("*.yaml")):
            policy = load_policy_file(path)
            if policy.id in found:
                raise PolicyFileError(f"{path}: policy {policy.id} is already defined in {where[policy.id]}")
            found[policy.id] = policy
            where[policy.id] = path
    return dict(sorted(found.items()))


@lru_cache(maxsize=1)
def policies() -> dict[str, Policy]:
    """The policies of this process, loaded once."""
    return load_policies()


def policy_for(sector: str, year: int, available: dict[str, Policy] | None = None) -> Policy | None:
    """The sector's policy for ``year``, else its latest earlier policy (DOMAIN.md, Claims)."""
    pool = available if available is not None else policies()
    candidates = [p for p in pool.values() if p.sector == sector and p.contract_year <= year]
    return max(candidates, key=lambda p: p.contract_year, default=None)
