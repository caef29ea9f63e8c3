"""The public page as rendered on the server: Dutch, accessible, no JavaScript, plain about the embargo."""

from __future__ import annotations

import datetime as dt
from html.parser import HTMLParser
from typing import Any

from zorg_publication.domain.listing import ListingItem
from zorg_publication.entrypoints.listing import ListingPage, SectorStatus
from zorg_publication.entrypoints.page import _context, _parse, dutch_date, templates

TODAY = dt.date(2022, 11, 12)


class Outline(HTMLParser):
    """The tags, their attributes and the text of a page."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        if data.strip():
            self.text.append(" ".join(data.split()))

    def all(self, tag: str) -> list[dict[str, str | None]]:
        return [attrs for name, attrs in self.tags if name == tag]

    @property
    def words(self) -> str:
        return " ".join(self.text)


def item(name: str, agb: str = "12345678") -> ListingItem:
    return ListingItem(
        agb=agb,
        name=name,
        city="Utrecht",
        postcode="3511 AB",
        sector="GLI",
        contract_years=[2023],
        care_forms=["in_person", "hybrid"],
    )


def render(
    query: dict[str, str | None],
    items: list[ListingItem] | None = None,
    total: int | None = None,
    today: dt.date = TODAY,
) -> str:
    request, errors = _parse(
        query.get("year"), query.get("sector"), query.get("q"), query.get("city"), query.get("page"), today
    )
    publications = request.publications(today)
    result = None
    if not errors:
        result = ListingPage(
            year=request.year,
            published=any(p.published for p in publications),
            sectors=[
                SectorStatus(sector=p.sector, publication_date=p.publication_date, published=p.published)
                for p in publications
            ],
            items=items or [],
            page=request.page,
            page_size=request.page_size,
            total=len(items or []) if total is None else total,
        )
    context: dict[str, Any] = _context(request, result, publications, errors, today)
    return templates().get_template("index.html").render(context)


def test_the_page_is_dutch_with_a_label_for_every_field_and_no_javascript() -> None:
    page = Outline(render({"year": "2023"}, [item("Zorggroep Noord")]))
    assert page.all("html")[0]["lang"] == "nl"
    assert not page.all("script")
    labelled = {label["for"] for label in page.all("label")}
    fields = [*page.all("input"), *page.all("select")]
    assert fields and all(f["id"] in labelled for f in fields)
    assert len(page.all("h1")) == 1 and page.all("h2")
    assert page.all("header") and page.all("main") and page.all("footer")
    form = page.all("form")[0]
    assert form["method"] == "get" and form["role"] == "search"
    assert page.all("a")[0]["href"] == "#resultaten"  # skip link first
    assert "Zorggroep Noord" in page.words and "op locatie, hybride" in page.words
    assert "1 gecontracteerde zorgaanbieder gevonden" in page.words
    assert [th for th in page.all("th") if th.get("scope") == "col"]


def test_a_year_not_yet_published_is_said_plainly_with_its_date() -> None:
    early = Outline(render({"year": "2023", "sector": "GLI"}, [item("Zorggroep Noord")], today=dt.date(2022, 11, 11)))
    assert "Nog niet gepubliceerd." in early.words
    assert "in 2023 wordt gepubliceerd op 12 november 2022" in early.words
    assert "Zorggroep Noord" not in early.words
    on_the_day = Outline(render({"year": "2023", "sector": "GLI"}, [item("Zorggroep Noord")]))
    assert "Nog niet gepubliceerd." not in on_the_day.words and "Zorggroep Noord" in on_the_day.words


def test_a_year_without_a_policy_says_there_is_no_list() -> None:
    page = Outline(render({"year": "2022", "sector": "GLI"}))
    assert "Niet gepubliceerd." in page.words and "geen inkoopbeleid" in page.words


def test_names_from_events_are_escaped() -> None:
    html = render({"year": "2023"}, [item("<script>alert(1)</script> & Zn")])
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_bad_form_values_give_dutch_errors_that_link_to_their_field() -> None:
    html = render({"year": "twintig", "sector": "XYZ", "page": "-1"})
    page = Outline(html)
    alert = [a for a in page.all("div") if a.get("role") == "alert"]
    assert alert
    links = {a["href"] for a in page.all("a")}
    assert {"#veld-year", "#veld-sector", "#veld-page"} <= links
    assert "Kies een contractjaar uit de lijst." in page.words


def test_a_nul_character_is_a_dutch_error_on_the_page_never_a_query() -> None:
    """PostgreSQL stores no NUL: the page refuses it itself, as HTML (its 422 is never JSON)."""
    request, errors = _parse("2023", None, "Noord\x00", "Ut\x00recht", None, TODAY)
    assert [e["field"] for e in errors] == ["q", "city"]
    assert request.q is None and request.city is None
    page = Outline(render({"q": "Noord\x00"}))
    assert "Dit veld bevat een teken dat niet is toegestaan." in page.words
    assert "#veld-q" in {a["href"] for a in page.all("a")}


def test_pages_link_to_each_other_keeping_the_search() -> None:
    page = Outline(render({"year": "2023", "q": "zorg", "page": "2"}, [item("A")], total=45))
    nav = page.all("nav")
    assert nav and nav[0]["aria-label"] == "Paginering"
    hrefs = [a["href"] for a in page.all("a") if a.get("rel") in ("prev", "next")]
    assert hrefs == ["/?q=zorg&year=2023&page=1", "/?q=zorg&year=2023&page=3"]


def test_dutch_dates() -> None:
    assert dutch_date(dt.date(2022, 11, 12)) == "12 november 2022"
    assert dutch_date(None) == ""
