"""Names in the archive: a path component every common file system accepts, and where an entry lives.

Pure and light (no file I/O, nothing heavy imported): `check` validates 100,000 feeds' category
folders with it, and a re-poll that archives nothing imports nothing more of the archive.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Sequence

MAX_NAME_BYTES = 200
_FORBIDDEN = re.compile(r'[/\\:*?"<>|\x00-\x1f\x7f]+')
_BLANKS = re.compile(r"\s+")
_WINDOWS_DEVICES = re.compile(r"^(con|prn|aux|nul|com[0-9]|lpt[0-9])(\..*)?$", re.IGNORECASE)


def _truncate_utf8(text: str, limit: int) -> str:
    encoded = text.encode("utf-8")
    if len(encoded) <= limit:
        return text
    return encoded[:limit].decode("utf-8", errors="ignore")


def safe_component(text: str, *, max_bytes: int = MAX_NAME_BYTES, fallback: str = "untitled") -> str:
    """One path component that every common file system accepts and that cannot climb out of its folder."""
    name = unicodedata.normalize("NFC", text)
    name = _FORBIDDEN.sub(" ", name)
    name = "".join(" " if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") else c for c in name)
    name = _BLANKS.sub(" ", name).strip()
    # No leading "_" either: Hexo skips every file and folder under _posts/ whose name starts with
    # "_" or ".", so such an entry would never be published.
    name = name.lstrip("._ ").rstrip(". ")
    name = _truncate_utf8(name, max_bytes).rstrip(". ")
    if not name:
        name = fallback
    if device := _WINDOWS_DEVICES.match(name):
        name = device.group(1) + "_" + name[device.end(1):]
    return name


def entry_key(feed_name: str, entry_id: str) -> str:
    return hashlib.sha256(f"{feed_name}\x00{entry_id}".encode()).hexdigest()[:10]


def entry_relpath(categories: Sequence[str], title: str, feed_name: str, entry_id: str) -> str:
    """`<category>/.../<title>_<hash>.md`, each part safe, the hash unique to (feed, entry id)."""
    suffix = f"_{entry_key(feed_name, entry_id)}.md"
    stem = safe_component(title, max_bytes=MAX_NAME_BYTES - len(suffix))
    folders = [safe_component(c) for c in categories]
    return "/".join([*folders, stem + suffix])
