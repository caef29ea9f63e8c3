"""The follow format (*volgformat*): labelled fields and tariff rows, read and checked field by field."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

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
_EMAIL = re.compile(r"^[^@\s<>\"]+@[^@\s<>\"]+\.[A-Za-z]{2,}$")
_BODY_LINE = re.compile(r"^\s*([^:\n]{2,60}?)\s*:\s*(.*?)\s*$")
_BODY_TARIFF = re.compile(r"^tarief\s+(\S+)$", re.IGNORECASE)


@dataclass(frozen=True)
class Problem:
    field: str
    message: str


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
        match = _BODY_LINE.match(line)
        if not match:
            continue
        label, value = match.groups()
        if tariff := _BODY_TARIFF.match(label.strip()):
            form.tariffs.append((tariff.group(1), "", value))
            continue
        name = _BY_KEY.get(label_key(label))
        if name is not None:
            form.values.setdefault(name, value)
    return form


def _text(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return "" if value is None else str(value).strip()


def check_format(
    form: RawForm, policies: dict[str, Policy], own_uzovi: str, today: dt.date
) -> tuple[FollowFormat | None, list[Problem]]:
    """Every problem of the format at once; the format itself only when there are none."""
    problems: list[Problem] = []

    def bad(name: str, message: str) -> None:
        problems.append(Problem(LABEL.get(name, name), message))

    text = {name: _text(form.values.get(name)) for name in LABELS}
    for name in REQUIRED:
        if not text[name]:
            bad(name, "is missing")
    for name, value in text.items():
        if "\ufffd" in value:
            bad(name, "holds characters that could not be read (wrong character encoding?)")
    agb, kvk = text["agb"], text["kvk"]
    if agb and not re.fullmatch(r"\d{8}", agb):
        bad("agb", "an AGB code is 8 digits")
    if kvk and not re.fullmatch(r"\d{8}", kvk):
        bad("kvk", "a KvK number is 8 digits")
    contact = text["contact_email"] or None
    if contact and not _EMAIL.match(contact):
        bad("contact_email", "is not an e-mail address")
    uzovi = text["uzovi"]
    if uzovi and not re.fullmatch(r"\d{4}", uzovi):
        bad("uzovi", "a UZOVI code is 4 digits")
    elif uzovi == own_uzovi:
        bad("uzovi", f"{uzovi} is our own UZOVI code: there is no other insurer's contract to follow")
    sector = text["sector"].upper()
    if sector and sector not in {p.sector for p in policies.values()}:
        bad(
            "sector",
            f"unknown sector {text['sector']!r}; known: {', '.join(sorted({p.sector for p in policies.values()}))}",
        )
        sector = ""
    dates: dict[str, dt.date] = {}
    for name in ("start_date", "end_date", "signed_with_preferred_on"):
        raw = form.values.get(name)
        if text[name]:
            try:
                dates[name] = parse_date(raw)
            except ValueError as exc:
                bad(name, str(exc))
    policy: Policy | None = None
    if sector and "start_date" in dates:
        policy_id = f"{sector}-{dates['start_date'].year}"
        policy = policies.get(policy_id)
        if policy is None:
            known = ", ".join(p.id for p in policies.values() if p.sector == sector)
            bad("start_date", f"no procurement policy {policy_id} for this sector and year; known: {known}")
    follow = next((r for r in policy.routes if r.route == "follow"), None) if policy else None
    if policy is not None and follow is None:
        bad("sector", f"policy {policy.id} has no follow route (landelijk volgbeleid): nothing to follow")
    if "start_date" in dates and "end_date" in dates:
        start, end = dates["start_date"], dates["end_date"]
        if end < start:
            bad("end_date", "lies before the Ingangsdatum")
        elif follow is not None and end.year > start.year + follow.contract_years - 1:
            last = start.year + follow.contract_years - 1
            bad(
                "end_date",
                f"a follow contract runs at most {follow.contract_years} contract year(s), until 31-12-{last}",
            )
    signed = dates.get("signed_with_preferred_on")
    if signed is not None and signed > today:
        bad("signed_with_preferred_on", "lies in the future")
    programmes = tuple(p.strip() for p in re.split(r"[,;]", text["programmes"]) if p.strip())
    if policy is not None and policy.programmes:  # the policy's one list, compared its one way
        recognised = ", ".join(p.name for p in policy.programmes)
        for programme in programmes:
            if policy.recognised_programme(programme) is None:
                bad("programmes", f"{programme!r} is not a recognised programme ({recognised})")
    tariffs = _check_tariffs(form, policy, problems)
    if problems or policy is None:
        return None, problems
    return (
        FollowFormat(
            agb=agb,
            kvk=kvk,
            name=text["name"],
            contact_email=contact,
            preferred_insurer=text["preferred_insurer"],
            uzovi=uzovi,
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
        problems.append(Problem("Tarieven", "no tariff rows (Prestatiecode | Omschrijving | Tarief)"))
        return []
    lines: list[TariffLine] = []
    seen: set[str] = set()
    for n, (raw_code, raw_description, raw_amount) in enumerate(form.tariffs, start=1):
        code = _text(raw_code).upper()
        where = f"Tarief {code}" if code else f"Tarief (rij {n})"
        if not code:
            problems.append(Problem(where, "the prestation code is missing"))
            continue
        if code in seen:
            problems.append(Problem(where, "listed twice"))
            continue
        seen.add(code)
        prestation = policy.prestation(code) if policy else None
        if policy is not None and prestation is None:
            known = ", ".join(p.code for p in policy.prestations)
            problems.append(Problem(where, f"unknown prestation code for {policy.id}; known: {known}"))
        if _blank(raw_amount):
            problems.append(Problem(where, "the amount is missing"))
            continue
        try:
            cents = parse_amount_cents(raw_amount)
        except ValueError as exc:
            problems.append(Problem(where, str(exc)))
            continue
        if "\ufffd" in _text(raw_description):
            problems.append(Problem(where, "holds characters that could not be read (wrong character encoding?)"))
        if cents <= 0:
            problems.append(Problem(where, "the amount must be more than zero"))
            continue
        if prestation is not None and policy is not None:
            ceiling = tariff_ceiling_cents(prestation.max_tariff_cents, policy.max_above_tariff_pct)
            if cents > ceiling:
                problems.append(
                    Problem(
                        where,
                        f"{euros(cents)} is above the maximum tariff {euros(prestation.max_tariff_cents)}"
                        f" plus {policy.max_above_tariff_pct}% ({euros(ceiling)})",
                    )
                )
        description = _text(raw_description) or (prestation.description if prestation else "")
        lines.append(TariffLine(code, description, cents))
    return lines


def tariff_ceiling_cents(max_tariff_cents: int, above_pct: int) -> int:
    """The highest tariff a written agreement may hold: the maximum tariff plus the allowed percentage."""
    return max_tariff_cents * (100 + above_pct) // 100
