"""The follow format (*volgformat*): labelled fields and tariff rows, read and checked field by field.

Every problem is named by its field (the label the provider wrote) and told in Dutch: the provider
reads it in the reply (DOMAIN.md, Decision on language).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from zorg_common.identifiers import is_email_address
from zorg_common.policy import Policy

from .notation import euros, label_key, parse_amount_cents, parse_date

#: The labels of the format (CONTRACT.md) by the field they fill; the first is how replies name it.
LABELS: dict[str, tuple[str, ...]] = {
    "agb": ("AGB-code", "AGB"),
    "kvk": ("KvK-nummer", "KvK"),
    "name": ("Naam", "Naam zorgaanbieder"),
    "contact_email": ("E-mail contactpersoon", "E-mailadres contactpersoon"),
    "preferred_insurer": ("Preferente verzekeraar",),
    "uzovi": ("UZOVI preferente verzekeraar", "UZOVI"),
    "sector": ("Sector",),
    "start_date": ("Ingangsdatum",),
    "end_date": ("Einddatum",),
    "programmes": ("Programma's", "Programma"),
    "signed_with_preferred_on": ("Datum ondertekening preferente verzekeraar",),
    "signatory": ("Ondertekenaar",),
}
LABEL = {name: labels[0] for name, labels in LABELS.items()}
_BY_KEY = {label_key(label): name for name, labels in LABELS.items() for label in labels}
TARIFF_HEADER = "prestatiecode"
REQUIRED = tuple(name for name in LABELS if name != "contact_email")
_BODY_TARIFF = re.compile(r"^tarief\s+(\S+)$", re.IGNORECASE)


@dataclass(frozen=True)
class Problem:
    field: str
    message: str


@dataclass(frozen=True)
class FormulaWithoutValue:
    """A spreadsheet cell holding a formula whose value was never computed (only values are read)."""

    cell: str

    def problem(self, where: str) -> Problem:
        return Problem(
            where, f"cel {self.cell} bevat een formule zonder opgeslagen waarde; stuur waarden, geen formules"
        )


@dataclass
class RawForm:
    """What was read, before any check: values by field name, and tariff rows."""

    values: dict[str, object] = field(default_factory=dict)
    tariffs: list[tuple[object, object, object]] = field(default_factory=list)  # code, description, amount
    unknown_labels: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.values and not self.tariffs


@dataclass(frozen=True)
class TariffLine:
    prestation_code: str
    description: str
    amount_cents: int


@dataclass(frozen=True)
class FollowFormat:
    agb: str
    kvk: str
    name: str
    contact_email: str | None
    preferred_insurer: str
    uzovi: str
    sector: str
    policy_id: str
    start_date: dt.date
    end_date: dt.date
    programmes: tuple[str, ...]
    signed_with_preferred_on: dt.date
    signatory: str
    tariffs: tuple[TariffLine, ...]

    @property
    def contract_year(self) -> int:
        return self.start_date.year


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def form_from_rows(rows: Iterable[Sequence[object]]) -> RawForm:
    """Rows of a sheet or CSV: label and value, then a `Prestatiecode | Omschrijving | Tarief` header and tariffs."""
    form = RawForm()
    in_tariffs = False
    for row in rows:
        cells = [*list(row), None, None, None]
        if all(_blank(c) for c in cells):
            continue
        if isinstance(cells[0], FormulaWithoutValue):  # a label computed by a formula: nothing to match
            form.unknown_labels.append(f"formule in cel {cells[0].cell}")
            continue
        first = "" if cells[0] is None else str(cells[0]).strip()
        if label_key(first) == TARIFF_HEADER:
            in_tariffs = True
            continue
        if in_tariffs:
            form.tariffs.append((cells[0], cells[1], cells[2]))
            continue
        name = _BY_KEY.get(label_key(first))
        if name is None:
            if first:
                form.unknown_labels.append(first[:60])
            continue
        form.values.setdefault(name, cells[1])
    return form


def form_from_text(text: str) -> RawForm:
    """`Label: value` lines in an e-mail body, and `Tarief <code>: <amount>` per tariff."""
    form = RawForm()
    for line in text.splitlines():
        label, colon, rest = line.partition(":")  # no regex over a line: any length reads in linear time
        label, value = label.strip(), rest.strip()
        if not colon or not 2 <= len(label) <= 60:
            continue
        if tariff := _BODY_TARIFF.match(label.strip()):
            form.tariffs.append((tariff.group(1), "", value))
            continue
        name = _BY_KEY.get(label_key(label))
        if name is not None:
            form.values.setdefault(name, value)
    return form


def _text(value: object) -> str:
    if isinstance(value, FormulaWithoutValue):
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return "" if value is None else str(value).strip()


class _Check:
    """One format being checked: the texts read, and every problem found so far (in field order)."""

    def __init__(self, form: RawForm) -> None:
        self.form = form
        self.problems: list[Problem] = []
        self.text = {name: _text(form.values.get(name)) for name in LABELS}

    def bad(self, name: str, message: str) -> None:
        self.problems.append(Problem(LABEL.get(name, name), message))

    def fields(self) -> None:
        """Formulas without a value, missing fields, unreadable characters."""
        for name in LABELS:
            value = self.form.values.get(name)
            if isinstance(value, FormulaWithoutValue):
                self.problems.append(value.problem(LABEL[name]))
            elif name in REQUIRED and not self.text[name]:
                self.bad(name, "ontbreekt")
        for name, value in self.text.items():
            if "\ufffd" in value:
                self.bad(name, "bevat tekens die niet te lezen zijn (verkeerde tekencodering?)")

    def identifiers(self, own_uzovi: str) -> None:
        agb, kvk, uzovi, contact = self.text["agb"], self.text["kvk"], self.text["uzovi"], self.text["contact_email"]
        if agb and not re.fullmatch(r"\d{8}", agb):
            self.bad("agb", "een AGB-code bestaat uit 8 cijfers")
        if kvk and not re.fullmatch(r"\d{8}", kvk):
            self.bad("kvk", "een KvK-nummer bestaat uit 8 cijfers")
        if contact and not is_email_address(contact):
            self.bad("contact_email", "is geen e-mailadres")
        if uzovi and not re.fullmatch(r"\d{4}", uzovi):
            self.bad("uzovi", "een UZOVI-code bestaat uit 4 cijfers")
        elif uzovi == own_uzovi:
            self.bad(
                "uzovi",
                f"{uzovi} is onze eigen UZOVI-code: er is geen overeenkomst van een andere verzekeraar te volgen",
            )

    def sector(self, policies: dict[str, Policy]) -> str:
        sector = self.text["sector"].upper()
        known = sorted({p.sector for p in policies.values()})
        if sector and sector not in known:
            self.bad("sector", f"onbekende sector {self.text['sector']!r}; bekend: {', '.join(known)}")
            return ""
        return sector

    def dates(self) -> dict[str, dt.date]:
        found: dict[str, dt.date] = {}
        for name in ("start_date", "end_date", "signed_with_preferred_on"):
            if self.text[name]:
                try:
                    found[name] = parse_date(self.form.values.get(name))
                except ValueError as exc:
                    self.bad(name, str(exc))
        return found

    def policy(self, sector: str, dates: dict[str, dt.date], policies: dict[str, Policy]) -> Policy | None:
        """The policy of the sector and the start year, and whether it has a follow route at all."""
        if not sector or "start_date" not in dates:
            return None
        policy_id = f"{sector}-{dates['start_date'].year}"
        policy = policies.get(policy_id)
        if policy is None:
            known = ", ".join(p.id for p in policies.values() if p.sector == sector)
            self.bad("start_date", f"er is geen inkoopbeleid {policy_id} voor deze sector en dit jaar; bekend: {known}")
        elif not any(r.route == "follow" for r in policy.routes):
            self.bad("sector", f"inkoopbeleid {policy.id} kent geen landelijk volgbeleid: er is niets te volgen")
        return policy

    def period(self, dates: dict[str, dt.date], policy: Policy | None, today: dt.date) -> None:
        follow = next((r for r in policy.routes if r.route == "follow"), None) if policy else None
        if "start_date" in dates and "end_date" in dates:
            start, end = dates["start_date"], dates["end_date"]
            last = start.year + (follow.contract_years if follow else 1) - 1
            if end < start:
                self.bad("end_date", "ligt vóór de Ingangsdatum")
            elif follow is not None and end.year > last:
                self.bad("end_date", f"een gevolgde overeenkomst loopt ten hoogste tot en met 31-12-{last}")
        signed = dates.get("signed_with_preferred_on")
        if signed is not None and signed > today:
            self.bad("signed_with_preferred_on", "ligt in de toekomst")

    def programmes(self, policy: Policy | None) -> tuple[str, ...]:
        programmes = tuple(p.strip() for p in re.split(r"[,;]", self.text["programmes"]) if p.strip())
        if policy is not None and policy.programmes:  # the policy's one list, compared its one way
            recognised = ", ".join(p.name for p in policy.programmes)
            for programme in programmes:
                if policy.recognised_programme(programme) is None:
                    self.bad("programmes", f"{programme!r} is geen erkend programma ({recognised})")
        return programmes


def check_format(
    form: RawForm, policies: dict[str, Policy], own_uzovi: str, today: dt.date
) -> tuple[FollowFormat | None, list[Problem]]:
    """Every problem of the format at once; the format itself only when there are none."""
    check = _Check(form)
    check.fields()
    check.identifiers(own_uzovi)
    sector = check.sector(policies)
    dates = check.dates()
    policy = check.policy(sector, dates, policies)
    check.period(dates, policy, today)
    programmes = check.programmes(policy)
    tariffs = _check_tariffs(form, policy, check.problems)
    if check.problems or policy is None:
        return None, check.problems
    text = check.text
    return (
        FollowFormat(
            agb=text["agb"],
            kvk=text["kvk"],
            name=text["name"],
            contact_email=text["contact_email"] or None,
            preferred_insurer=text["preferred_insurer"],
            uzovi=text["uzovi"],
            sector=sector,
            policy_id=policy.id,
            start_date=dates["start_date"],
            end_date=dates["end_date"],
            programmes=programmes,
            signed_with_preferred_on=dates["signed_with_preferred_on"],
            signatory=text["signatory"],
            tariffs=tuple(tariffs),
        ),
        [],
    )


def _check_tariffs(form: RawForm, policy: Policy | None, problems: list[Problem]) -> list[TariffLine]:
    if not form.tariffs:
        problems.append(Problem("Tarieven", "geen tariefregels (Prestatiecode | Omschrijving | Tarief)"))
        return []
    lines: list[TariffLine] = []
    seen: set[str] = set()
    for n, row in enumerate(form.tariffs, start=1):
        line = _tariff_line(n, row, policy, seen, problems)
        if line is not None:
            lines.append(line)
    return lines


def _tariff_line(
    n: int, row: tuple[object, object, object], policy: Policy | None, seen: set[str], problems: list[Problem]
) -> TariffLine | None:
    raw_code, raw_description, raw_amount = row
    code = _text(raw_code).upper()
    where = f"Tarief {code}" if code else f"Tarief (rij {n})"
    formulas = [cell for cell in row if isinstance(cell, FormulaWithoutValue)]
    problems.extend(cell.problem(where) for cell in formulas)
    if not code:
        if not isinstance(raw_code, FormulaWithoutValue):
            problems.append(Problem(where, "de prestatiecode ontbreekt"))
        return None
    if code in seen:
        problems.append(Problem(where, "staat er twee keer in"))
        return None
    seen.add(code)
    prestation = policy.prestation(code) if policy else None
    if policy is not None and prestation is None:
        known = ", ".join(p.code for p in policy.prestations)
        problems.append(Problem(where, f"onbekende prestatiecode voor {policy.id}; bekend: {known}"))
    if formulas:
        return None
    if _blank(raw_amount):
        problems.append(Problem(where, "het bedrag ontbreekt"))
        return None
    try:
        cents = parse_amount_cents(raw_amount)
    except ValueError as exc:
        problems.append(Problem(where, str(exc)))
        return None
    if "\ufffd" in _text(raw_description):
        problems.append(Problem(where, "bevat tekens die niet te lezen zijn (verkeerde tekencodering?)"))
    if cents <= 0:
        problems.append(Problem(where, "het bedrag moet groter zijn dan nul"))
        return None
    if prestation is not None and policy is not None:
        ceiling = tariff_ceiling_cents(prestation.max_tariff_cents, policy.max_above_tariff_pct)
        if cents > ceiling:
            problems.append(
                Problem(
                    where,
                    f"{euros(cents)} is hoger dan het maximumtarief {euros(prestation.max_tariff_cents)}"
                    f" plus {policy.max_above_tariff_pct}% ({euros(ceiling)})",
                )
            )
    description = _text(raw_description) or (prestation.description if prestation else "")
    return TariffLine(code, description, cents)


def tariff_ceiling_cents(max_tariff_cents: int, above_pct: int) -> int:
    """The highest tariff a written agreement may hold: the maximum tariff plus the allowed percentage."""
    return max_tariff_cents * (100 + above_pct) // 100
