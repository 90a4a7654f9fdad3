"""The config's YAML is read from the parser's events (fast, no node tree); it must read every document
as the node reader did: the same data, the same top-level key lines, the same mistakes on the same lines."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from crawler.config.settings import ConfigError, _construct, _line_of, _lines_of, _Loader, _read_yaml, _YamlProblem


def by_nodes(text: str) -> tuple[Any, dict[str, int]] | str:
    """What the node reader made of `text` (or its error, as `_read_yaml` words it)."""
    loader = _Loader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            return "x:1: the config is empty"
        data = _construct(root, "", loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        return f"x:{mark.line + 1 if mark else None}: invalid YAML: {exc.problem or exc.context}"
    except _YamlProblem as exc:
        return str(ConfigError("x", exc.line, exc.key, exc.message))
    finally:
        loader.dispose()
    lines = {k.value: k.start_mark.line + 1 for k, _ in root.value} if isinstance(root, yaml.MappingNode) else {}
    return data, lines


def by_events(text: str) -> tuple[Any, dict[str, int]] | str:
    try:
        data, _, lines = _read_yaml(text, "x")
    except ConfigError as exc:
        return str(exc)
    return data, lines


SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=12),
    st.sampled_from(["yes", "No", "on", "~", "null", "", "0x1f", "0o17", "1e3", "1_000", "1:30", ".inf", "-.NaN",
                     "2020-01-02", "2020-01-02 03:04:05", "<<", "=", "&a", "*a", "!x", "- a", "a: b", "#c", "'q'"]),
)
DATA = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=25,
)


@settings(max_examples=300, deadline=None)
@given(DATA, st.sampled_from([False, True, None]))
def test_the_event_reader_reads_what_the_node_reader_reads(data: Any, flow: bool | None) -> None:
    text = yaml.safe_dump({"feeds": data, "x": [data, data]}, default_flow_style=flow, allow_unicode=True)
    assert by_events(text) == by_nodes(text)


TRICKY = {
    "anchor-and-alias": "a: &x {b: 1}\nc: *x\nd: &y [1, 2]\ne: *y\nf: &z s\ng: *z\n",
    "alias-before-anchor": "a: *x\nb: &x 1\n",
    "duplicate-anchor": "a: &x 1\nb: &x 2\n",
    "merge-key": "a: &x {b: 1}\nc:\n  <<: *x\n  d: 2\n",
    "explicit-tags": "a: !!str 1\nb: !!int '2'\nc: !!map {d: 1}\n",
    "unknown-tag": "a: !nope 1\n",
    "complex-key": "? [a, b]\n: 1\n",
    "non-string-key": "a: 1\n2: b\n",
    "duplicate-key-then-bad-yaml": "a: 1\na: 2\nb: [\n",
    "duplicate-nested-key": "a:\n  - b: 1\n    b: 2\n",
    "two-documents": "a: 1\n---\nb: 2\n",
    "empty": "",
    "comment-only": "# nothing\n",
    "document-marker-only": "---\n",
    "a-list": "- a\n- b\n",
    "value-key": "a: =\n",
    "timestamps-and-numbers": "a: 2020-01-02\nb: 0x10\nc: 1_000\nd: 1:30\ne: .inf\nf: -0.5\ng: yes\nh: Off\ni: ~\n",
    "tabs": "a:\n\t- b\n",
}


@pytest.mark.parametrize("text", TRICKY.values(), ids=TRICKY.keys())
def test_documents_the_event_reader_hands_over_read_as_before(text: str) -> None:
    assert by_events(text) == by_nodes(text)


LOCS = [
    ("feeds",), ("feeds", 0), ("feeds", 1, "url"), ("feeds", 1, "categories", 1), ("feeds", 1, "nope"),
    ("feeds", 9), ("feeds", 0, "name", "deeper"), ("defaults", "interval"), ("nope",), ("defaults", "headers", "X-A"),
    ("feeds", 2, "headers"), ("feeds", 2, "headers", "X-B"), (),
]
CONFIG = """\
defaults:
  interval: 5m
  headers: {X-A: '1'}
feeds:
  - name: a
    url: https://e.example/a
  -
    name: b
    url:
      https://e.example/b
    categories:
      - x
      - y
  - {name: c, url: 'https://e.example/c',
     headers: {X-B: '2'}}
"""


@pytest.mark.parametrize("text", [CONFIG, CONFIG.replace("  - name: a\n", "  - &a\n    name: a\n") + "  - *a\n"])
def test_lines_for_errors_come_from_the_events_as_from_the_nodes(text: str) -> None:
    root = yaml.compose(text, Loader=_Loader)
    assert _lines_of(text, LOCS) == {loc: _line_of(root, loc) for loc in LOCS}
