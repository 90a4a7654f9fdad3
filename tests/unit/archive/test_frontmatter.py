from __future__ import annotations

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from crawler.archive.frontmatter import plain_or_quoted, quoted, render_front_matter


@settings(max_examples=400, deadline=None)
@given(st.text(), st.text(), st.lists(st.text(), max_size=4))
def test_any_strings_round_trip_through_yaml(title: str, author: str, categories: list[str]) -> None:
    text = render_front_matter([("title", quoted(title)), ("categories", categories),
                                ("author", plain_or_quoted(author)), ("comments", False)])
    assert text.startswith("---\n") and text.endswith("---\n")
    parsed = yaml.safe_load(text.split("---\n")[1])
    assert parsed == {"title": title, "categories": categories, "author": author, "comments": False}


def test_seed_layout() -> None:
    text = render_front_matter([("title", quoted("拜登和普京的通话就乌克兰危机未能达成共识？")),
                                ("categories", ["新媒体", "Aljazeera 半岛网", "新闻"]),
                                ("author", plain_or_quoted("Aljazeera 半岛网")), ("comments", False)])
    assert text == (
        "---\ntitle: '拜登和普京的通话就乌克兰危机未能达成共识？'\ncategories: \n - 新媒体\n - Aljazeera 半岛网\n"
        " - 新闻\nauthor: Aljazeera 半岛网\ncomments: false\n---\n"
    )


def test_values_yaml_would_misread_are_quoted() -> None:
    for value in ("yes", "no", "null", "123", "1.5", "- x", "a: b", "x #y", "", "~", "@at", "'q"):
        assert yaml.safe_load(f"k: {plain_or_quoted(value)}") == {"k": value}
