"""The config as YAML: read the way the editor writes it (YAML 1.2), every string the editor writes
comes back the same, and what cannot be archived or exported is refused with file:line: key
(issue 21, items 7, 10, 11 and 14)."""

from __future__ import annotations

import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from ruamel.yaml import nodes
from ruamel.yaml.resolver import VersionedResolver

from crawler.config.edit import ConfigDocument
from crawler.config.opml import ExportFeed, write_opml
from crawler.config.settings import ConfigError, YamlLoader, load_settings

SCALAR_CHARACTERS = "0123456789.-+_:eExobXaAfFtTrueTRUEfalsyYnNoOinfINFNaN ~"


def editor_tag(value: str) -> str:
    return str(VersionedResolver(version=(1, 2)).resolve(nodes.ScalarNode, value, (True, False)))


def loader_tag(value: str) -> str:
    loader = YamlLoader("")
    try:
        return str(loader.resolve(yaml.ScalarNode, value, (True, False)))
    finally:
        loader.dispose()


@pytest.mark.parametrize("value", ["No", "yes", "On", "off", "Y", "12:30", "1:20:30", "0o17", "1_000", "0b101",
                                   "true", "FALSE", "~", "null", "1e3", ".inf", "-.5", "2024-01-02", "+12", "010"])
def test_the_loader_reads_plain_scalars_as_the_editor_does(value: str) -> None:
    assert loader_tag(value) == editor_tag(value)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=SCALAR_CHARACTERS, min_size=1, max_size=12))
def test_plain_scalars_resolve_the_same_in_loader_and_editor(value: str) -> None:
    assert loader_tag(value) == editor_tag(value)


def valid_label(max_size: int) -> st.SearchStrategy[str]:
    """What a name or a category may be: no control character, no blank at either end."""
    text = st.text(alphabet=st.characters(exclude_categories=("Cc", "Cs")), min_size=1, max_size=max_size)
    return text.filter(lambda s: s == s.strip() and bool(s))


BASE = "archive_dir: archive\nfeeds:\n  - name: existing\n    url: https://old.example/feed\n"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=valid_label(60), categories=st.lists(valid_label(30), min_size=1, max_size=3, unique=True))
@example(name="No", categories=["Yes", "on", "12:30", "0o17", "1e3", "?x", "null"])
def test_any_name_and_categories_come_back_equal_through_edit_then_load(name: str, categories: list[str]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "feeds.yaml"
        path.write_text(BASE, encoding="utf-8")
        with ConfigDocument.edit(path) as doc:
            doc.add_feed(name, url="https://new.example/feed", categories=categories)
            doc.save()
        feed = load_settings(path).feeds[1]
        assert (feed.name, feed.categories) == (name, tuple(categories))
        # Any YAML 1.1 reader (PyYAML's safe_load) reads the same strings.
        assert yaml.safe_load(path.read_text(encoding="utf-8"))["feeds"][1]["categories"] == categories
        assert path.read_text(encoding="utf-8").startswith(BASE)


FEED = "  - name: one\n    url: https://e.example/f\n"
LONG_CATEGORIES = "    categories: [" + ", ".join(f"{'c' * 199}{n}" for n in range(21)) + "]\n"
CASES = {
    "bell-category": ("feeds:\n" + FEED + '    categories: ["bell\\a"]\n', 4, "feeds[0].categories",
                      "holds a control character ('\\x07')"),
    "escape-name": ('feeds:\n  - name: "a\\eb"\n    url: https://e.example/f\n', 2, "feeds[0].name",
                    "holds a control character ('\\x1b')"),
    "c1-in-url": ('feeds:\n  - name: one\n    url: "https://e.example/a\\x85b"\n', 3, "feeds[0].url",
                  "holds a control character ('\\x85')"),
    "unclosed-ipv6-url": ("feeds:\n  - name: one\n    url: http://[::1\n", 3, "feeds[0].url",
                          "is not a URL: Invalid IPv6 URL"),
    "empty-label": ('metrics:\n  listen: "a..b:9464"\nfeeds:\n' + FEED, 2, "metrics.listen",
                    "'a..b' is not a host name"),
    "64-char-label": (f"metrics:\n  listen: {'a' * 64}.example:9464\nfeeds:\n" + FEED, 2, "metrics.listen",
                      "is not a host name (a part is empty or longer than 63 characters)"),
    "path-max": ("feeds:\n" + FEED + LONG_CATEGORIES, 4, "feeds[0].categories",
                 "over the system's limit of 4096"),
    "path-max-from-defaults": ("defaults:\n" + LONG_CATEGORIES.replace("    ", "  ", 1) + "feeds:\n" + FEED, 2,
                               "feeds[0].categories", "over the system's limit of 4096"),
}


@pytest.mark.parametrize(("text", "line", "key", "problem"), CASES.values(), ids=CASES.keys())
def test_what_cannot_be_archived_or_exported_is_a_config_error(tmp_path: Path, text: str, line: int, key: str,
                                                               problem: str) -> None:
    path = tmp_path / "feeds.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert (caught.value.line, caught.value.key) == (line, key), str(caught.value)
    assert problem in caught.value.message


def test_twenty_long_categories_within_path_max_are_fine(tmp_path: Path) -> None:
    path = tmp_path / "feeds.yaml"
    path.write_text("feeds:\n" + FEED + "    categories: [" + ", ".join("c" * 150 for _ in range(1)) + "]\n"
                    + "  - name: two\n    url: https://e.example/2\n    categories: ["
                    + ", ".join(f"{'d' * 100}{n}" for n in range(20)) + "]\n", encoding="utf-8")
    assert len(load_settings(path).feeds[1].categories) == 20


def test_export_never_writes_a_character_xml_cannot_hold() -> None:
    """A config written before control characters were refused still exports as XML."""
    text = write_opml([ExportFeed("bell\x07name", "https://e.example/f\x0b", "https://e.example/\x00",
                                  ("News\x1b", "Two\nlines"))], title="t\x01")
    root = ET.fromstring(text)
    [feed] = [outline for outline in root.iter("outline") if outline.get("xmlUrl")]
    assert (feed.get("text"), feed.get("xmlUrl"), feed.get("htmlUrl")) == ("bellname", "https://e.example/f",
                                                                           "https://e.example/")
    assert [o.get("text") for o in root.iter("outline") if not o.get("xmlUrl")] == ["News", "Two\nlines"]
