"""An offer's projection, computed by hand for a small volume table (issue 15): last year's delivered volume
priced at the offered tariffs, against the ceiling and against what last year actually cost."""

from __future__ import annotations

import datetime as dt

from zorg_contracting.domain.projection import ProjectedLine, Volume, prognosis_above_projection, project, volume_year

# Last year (2022) of a GGZ institution, per prestation: delivered quantity and claimed, paid quantity and allowed.
VOLUMES = [
    Volume("CO0042", quantity=100, claimed_cents=130_000, paid_quantity=90, allowed_cents=81_000),
    Volume("CO0107", quantity=40, claimed_cents=50_000, paid_quantity=40, allowed_cents=33_000),
    Volume("CO0172", quantity=10, claimed_cents=30_000, paid_quantity=0, allowed_cents=0),  # refused: no tariff
]
OFFER = [("CO0042", 1_100), ("CO0107", 1_000), ("DBC-BASIS-KORT", 45_000)]


def test_a_projection_by_hand() -> None:
    projection = project(OFFER, 250_000, VOLUMES, 2022)
    assert projection.lines == (
        ProjectedLine("CO0042", 1_100, 100, 110_000, 130_000, 81_000),  # 100 x 11.00
        ProjectedLine("CO0107", 1_000, 40, 40_000, 50_000, 33_000),  # 40 x 10.00
        ProjectedLine("DBC-BASIS-KORT", 45_000, 0, 0, 0, 0),  # offered, no volume last year
        ProjectedLine("CO0172", None, 10, 0, 30_000, 0),  # volume, but no tariff in the offer
    )
    assert projection.projected_cents == 150_000
    assert projection.last_year_allowed_cents == 114_000  # what last year actually cost
    assert projection.last_year_claimed_cents == 210_000
    assert projection.ceiling_headroom_cents == 100_000  # 2,500.00 - 1,500.00
    assert projection.change_vs_last_year_pct == 31.6  # (150,000 - 114,000) / 114,000
    assert projection.unpriced_quantity == 10


def test_against_the_ceiling_and_without_any_volume() -> None:
    assert project(OFFER, 140_000, VOLUMES, 2022).ceiling_headroom_cents == -10_000  # above the ceiling
    empty = project(OFFER, None, [], 2022)
    assert (empty.projected_cents, empty.ceiling_headroom_cents, empty.change_vs_last_year_pct) == (0, None, None)
    assert [line.quantity for line in empty.lines] == [0, 0, 0]


def test_last_year_is_the_year_before_the_offer_is_priced() -> None:
    assert volume_year(dt.date(2020, 9, 15)) == 2019
    assert volume_year(dt.date(2023, 1, 1)) == 2022


def test_a_prognosis_more_than_ten_percent_above_the_projection_is_flagged() -> None:
    assert prognosis_above_projection(165_000, 150_000) is False  # exactly 10% above
    assert prognosis_above_projection(165_001, 150_000) is True
    assert prognosis_above_projection(10_000, None) is None  # nothing to compare with
    assert prognosis_above_projection(10_000, 0) is None  # a projection that priced nothing
