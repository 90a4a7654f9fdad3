"""The daemon (`feed-archiver run`)."""

from __future__ import annotations

from crawler.config import Settings


def run(settings: Settings, *, watch: bool = False) -> int:
    raise NotImplementedError
