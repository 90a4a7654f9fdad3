"""Imports flow one way: down the layers of the package (DESIGN.md, "Layout"), and the pure stages and the worker
processes never load the config layer (issue 15, item 5)."""

from __future__ import annotations

import ast
import dataclasses
import importlib
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from crawler.config.settings import OptionsModel, load_settings
from crawler.models import FeedSource

PACKAGE = Path(__file__).resolve().parents[2] / "crawler"

# Top to bottom. A unit (a subpackage, or a module at the package root) may import its own modules and the units
# of the layers below its own; within a layer only the pairs in SIDEWAYS. `crawler` is the root's __init__.
LAYERS: list[set[str]] = [
    {"cli", "__main__"},                     # entry points
    {"app", "daemon"},                       # the wiring
    {"commands", "ops"},                     # the commands that are not crawl or run; metrics, health, console
    {"pipeline"},                            # the story of one poll
    {"cluster"},                             # lock file and leases
    {"config"},                              # the YAML (stages never import it: see below)
    {"images", "archive", "search", "capture"},  # capture: the WARC files; fetch reaches it through observe.Capture
    {"reader", "fetch"},
    {"store", "runtime"},
    {"observe"},
    {"models", "errors"},
    {"crawler"},
]
SIDEWAYS = {("__main__", "cli"), ("daemon", "app"), ("images", "archive"), ("search", "archive"), ("reader", "fetch")}


def _unit(module: str) -> str:
    """crawler.fetch.client -> fetch; crawler.pipeline -> pipeline; crawler (and crawler.__version__) -> crawler"""
    parts = module.split(".")
    return "crawler" if len(parts) == 1 or parts[1] in {"__version__", "lazy_exports"} else parts[1]


def _layer(unit: str) -> int:
    return next(i for i, layer in enumerate(LAYERS) if unit in layer)


def _wrong_arrows(package: Path) -> list[str]:
    """Every import of the package (lazy and TYPE_CHECKING ones included) that points up or sideways."""
    wrong = []
    for path in sorted(package.rglob("*.py")):
        rel = path.relative_to(package.parent).with_suffix("")
        src = _unit(".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [f"{node.module}.{a.name}" for a in node.names] if node.module == "crawler" else [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            for dst in {_unit(n) for n in names if n.split(".")[0] == "crawler"}:
                if dst != src and (src, dst) not in SIDEWAYS and _layer(dst) <= _layer(src):
                    wrong.append(f"{rel}.py:{node.lineno}: {src} -> {dst}")
    return wrong


def test_every_unit_of_the_package_has_a_layer() -> None:
    units = {_unit(".".join(p.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__"))
             for p in PACKAGE.rglob("*.py")}
    assert units <= set().union(*LAYERS), units - set().union(*LAYERS)


def test_imports_point_down_the_layers() -> None:
    wrong = _wrong_arrows(PACKAGE)
    assert not wrong, "imports against the layers:\n" + "\n".join(wrong)


def test_a_wrong_arrow_is_found_wherever_it_hides(tmp_path: Path) -> None:
    (tmp_path / "crawler" / "store").mkdir(parents=True)
    (tmp_path / "crawler" / "store" / "state.py").write_text(
        "from crawler.models import FeedState\n"
        "def f():\n    from crawler import pipeline\n    import crawler.fetch.client\n")
    assert _wrong_arrows(tmp_path / "crawler") == ["crawler/store/state.py:3: store -> pipeline",
                                                   "crawler/store/state.py:4: store -> fetch"]


@pytest.mark.parametrize("package", sorted(u for layer in LAYERS for u in layer if (PACKAGE / u).is_dir()))
def test_each_subpackage_exports_the_names_its_all_lists(package: str) -> None:
    module = importlib.import_module(f"crawler.{package}")
    names = list(getattr(module, "__all__", []))
    assert names == sorted(names)
    for name in names:
        assert getattr(module, name) is not None, f"crawler.{package}.{name}"


STAGES = ["crawler.reader.content", "crawler.runtime.schedule", "crawler.fetch.client", "crawler.reader.parse",
          "crawler.reader.text", "crawler.fetch.urls"]
WORKER_PRELOAD = ["crawler.reader.article", "crawler.images.worker"]  # what workers.py preloads, trafilatura aside


@pytest.mark.parametrize("module", STAGES + WORKER_PRELOAD)
def test_stages_and_worker_modules_do_not_import_the_config_layer(module: str) -> None:
    check = (f"import sys, {module}; "
             "print(sorted(m for m in ('crawler.config', 'pydantic', 'yaml') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_config_still_names_the_value_types_other_modules_import_from_it() -> None:
    from crawler import models
    from crawler.config import settings as config
    assert config.FeedSource is models.FeedSource and config.HttpSettings is models.HttpSettings


VALUES = {
    "interval": ("2h", 7200.0), "full_text": ("never", "never"), "full_text_min_chars": (12, 12),
    "images": (False, False), "max_items": (7, 7), "headers": ({"X-A": "1"}, {"X-A": "1"}),
    "allow_private_network": (False, False), "categories": (["C"], ("C",)), "author": ("Ann", "Ann"),
    "cron": ("0 * * * *", "0 * * * *"), "updates": ("ignore", "ignore"),
}


@pytest.mark.parametrize("key", sorted(OptionsModel.model_fields))
def test_every_per_feed_key_set_in_defaults_reaches_the_feed(tmp_path: Path, key: str) -> None:
    assert key in {f.name for f in dataclasses.fields(FeedSource)}, "a per-feed key is a FeedSource field"
    given, expected = VALUES[key]
    defaults = {key: given}
    path = tmp_path / "feeds.yaml"
    path.write_text(yaml.safe_dump({"defaults": defaults, "feeds": [
        {"name": "inherits", "url": "https://a.example/feed"},
    ]}))
    [feed] = load_settings(path).feeds
    assert getattr(feed, key) == expected
