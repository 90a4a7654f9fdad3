from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from crawler.archive.entries import format_date, resolve_inside
from crawler.archive.names import entry_relpath, safe_component
from crawler.errors import ArchiveError


@pytest.mark.parametrize(
    ("raw", "safe"),
    [
        ("Hello: world?", "Hello world"),
        ("../../etc/passwd", "etc passwd"),
        ("..", "untitled"),
        (".hidden", "hidden"),
        ("a\x00b\nc\td", "a b c d"),
        ("CON", "CON_"),
        ("com1.txt", "com1_.txt"),
        ("_private", "private"),
        ("__init__ explained", "init__ explained"),
        ("._. x", "x"),
        ("trailing dots...", "trailing dots"),
        ('<>:"/\\|?*', "untitled"),
        ("", "untitled"),
    ],
)
def test_safe_component(raw: str, safe: str) -> None:
    assert safe_component(raw) == safe


def test_long_names_are_cut_on_a_character_boundary_within_200_bytes() -> None:
    path = entry_relpath([], "拜" * 300, "feed", "id-1")
    name = path.split("/")[-1]
    assert len(name.encode()) <= 200
    name.encode().decode("utf-8")
    assert name.endswith(".md")


def test_same_title_different_entries_get_different_names() -> None:
    assert entry_relpath(["a"], "Same", "f", "1") != entry_relpath(["a"], "Same", "f", "2")
    assert entry_relpath(["a"], "Same", "f", "1") == entry_relpath(["a"], "Same", "f", "1")
    assert entry_relpath(["a"], "Same", "f", "1") != entry_relpath(["a"], "Same", "g", "1")


def test_categories_become_safe_folders() -> None:
    assert entry_relpath(["../x", "a/b", "."], "T", "f", "1").split("/")[:3] == ["x", "a b", "untitled"]


def test_nothing_resolves_outside_the_archive(tmp_path: Path) -> None:
    with pytest.raises(ArchiveError):
        resolve_inside(tmp_path, "../escape.md")
    with pytest.raises(ArchiveError):
        resolve_inside(tmp_path, "a/../../escape.md")
    assert resolve_inside(tmp_path, "a/b.md") == tmp_path.resolve() / "a" / "b.md"


def test_dates_are_rfc1123_gmt() -> None:
    assert format_date(datetime(2022, 2, 13, 9, 12, 25, tzinfo=UTC)) == "Sun, 13 Feb 2022 09:12:25 GMT"
