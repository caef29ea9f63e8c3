"""The publication date comes from the policy data: 12 November of the year before, not a day earlier."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from zorg_common.policy import load_policies, policy_dirs
from zorg_publication.domain.calendar import (
    default_year,
    is_published,
    publication_date,
    sector_publication,
    selectable_years,
)


def test_gli_2023_is_published_on_12_november_2022_and_not_a_day_earlier() -> None:
    assert publication_date("GLI", 2023) == dt.date(2022, 11, 12)
    assert not is_published("GLI", 2023, dt.date(2022, 11, 11))
    assert is_published("GLI", 2023, dt.date(2022, 11, 12))


def test_a_year_without_a_policy_of_its_own_is_not_published_an_earlier_date_does_not_carry_over() -> None:
    """DOMAIN.md: GGZ 2022 (the second year of a 2021-2022 contract) has no policy of its own."""
    assert publication_date("GGZ", 2021) == dt.date(2020, 11, 12)
    assert not is_published("GGZ", 2021, dt.date(2020, 11, 11))
    assert is_published("GGZ", 2021, dt.date(2020, 11, 12))
    assert publication_date("GGZ", 2022) is None
    assert not is_published("GGZ", 2022, dt.date(2030, 1, 1))


def test_a_year_without_any_policy_of_its_sector_is_never_published() -> None:
    gli_2022 = sector_publication("GLI", 2022, dt.date(2030, 1, 1))
    assert gli_2022.publication_date is None and not gli_2022.published


def test_next_years_policy_file_moves_the_date_without_code(tmp_path: Path) -> None:
    bundled = next(iter(policy_dirs()))
    text = (bundled / "GLI-2023.yaml").read_text(encoding="utf-8")
    text = text.replace("id: GLI-2023", "id: GLI-2024").replace("contract_year: 2023", "contract_year: 2024")
    for old, new in (("2022-04-01", "2023-04-01"), ("2022-11-01", "2023-11-01"), ("2022-12-31", "2023-12-31")):
        text = text.replace(old, new)
    text = text.replace("publication: 2022-11-12", "publication: 2023-11-14")
    (tmp_path / "GLI-2024.yaml").write_text(text, encoding="utf-8")
    available = load_policies([bundled, tmp_path])
    assert publication_date("GLI", 2024, available) == dt.date(2023, 11, 14)
    assert not is_published("GLI", 2024, dt.date(2023, 11, 13), available)
    assert is_published("GLI", 2024, dt.date(2023, 11, 14), available)
    assert publication_date("GLI", 2024) is None  # without the file: not published at all


def test_the_default_year_is_next_year_once_published_else_this_year(tmp_path: Path) -> None:
    bundled = next(iter(policy_dirs()))
    only_gli = {k: v for k, v in load_policies([bundled]).items() if k == "GLI-2023"}
    assert default_year(dt.date(2022, 11, 11), only_gli) == 2022
    assert default_year(dt.date(2022, 11, 12), only_gli) == 2023
    assert default_year(dt.date(2022, 6, 1)) == 2022  # no sector has published 2023 yet (GGZ has no 2023 policy)


def test_selectable_years_run_from_the_first_policy_to_next_year() -> None:
    assert selectable_years(dt.date(2022, 11, 12)) == [2021, 2022, 2023]
