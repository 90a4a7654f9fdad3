"""feed-archiver: a faithful, browsable archive of news feeds as front-matter Markdown files.

The package root holds the entry points (`cli`, `__main__`), the wiring (`app`, `daemon`), the story of
one poll (`pipeline`) and what every stage shares (`models`, `errors`, `observe`). Each capability is a
subpackage; the arrows between them point down this list (tests/unit/test_layering.py holds them):

    commands, ops     the commands that are not crawl or run; metrics, health, the console
    cluster           the lock file and leases: may this process poll this feed now?
    config            the YAML, read, validated and edited; OPML
    images, archive   the image store and workers; the archive's files and revisions
    reader, fetch     entries and article HTML; HTTP and the hosts we ask
    store, runtime    the state store; the feed pool, worker processes, schedule
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping

__version__ = "0.1.0"

__all__ = ["__version__", "lazy_exports"]


def lazy_exports(package: str, modules: Mapping[str, str]) -> Callable[[str], object]:
    """A subpackage's `__getattr__` (PEP 562): a public name's module is imported on first use.

    >>> __getattr__ = lazy_exports(__name__, {"client": "Clients Fetcher", "urls": "split"})

    So `from crawler.fetch import Fetcher` loads httpx, and `from crawler.fetch import split` does not.
    """
    exports = {name: module for module, names in modules.items() for name in names.split()}

    def __getattr__(name: str) -> object:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        setattr(sys.modules[package], name, value)
        return value

    return __getattr__
