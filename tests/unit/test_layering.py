"""Imports flow one way: the pure stages and the worker processes never load the config layer (issue 15, item 5)."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from crawler.config.settings import OptionsModel, load_settings
from crawler.models import FeedSource

STAGES = ["crawler.reader.content", "crawler.runtime.schedule", "crawler.fetch.client", "crawler.reader.parse",
          "crawler.reader.text", "crawler.fetch.urls"]
WORKER_PRELOAD = ["crawler.reader.article", "crawler.images.worker"]  # what workers.py preloads, trafilatura aside


@pytest.mark.parametrize("module", STAGES + WORKER_PRELOAD)
def test_stages_and_worker_modules_do_not_import_the_config_layer(module: str) -> None:
    check = (f"import sys, {module}; "
             "print(sorted(m for m in ('crawler.config.settings', 'pydantic', 'yaml') if m in sys.modules))")
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
