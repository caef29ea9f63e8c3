"""Entity tags and If-None-Match for the listing."""

from zorg_publication.entrypoints.caching import entity_tag, not_modified


def test_an_entity_tag_is_quoted_and_changes_with_any_part() -> None:
    tag = entity_tag("epoch", 7, "year=2023")
    assert tag.startswith('"') and tag.endswith('"')
    assert tag == entity_tag("epoch", 7, "year=2023")
    assert tag != entity_tag("epoch", 8, "year=2023")
    assert tag != entity_tag("other", 7, "year=2023")


def test_if_none_match_compares_weakly_and_accepts_lists_and_star() -> None:
    tag = '"abc"'
    assert not_modified('"abc"', tag)
    assert not_modified('W/"abc"', tag)
    assert not_modified('"x", "abc"', tag)
    assert not_modified("*", tag)
    assert not not_modified('"abcd"', tag)
    assert not not_modified(None, tag)
    assert not not_modified("", tag)
