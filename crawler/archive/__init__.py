"""The archive's files: paths and names, rendering (front matter), writing, revisions.

    names        a path component every file system takes, and where an entry lives
    entries      what an entry's file says, and writing it whole or not at all
    frontmatter  YAML front matter that every YAML parser reads back the same
    revisions    whether a known entry changed, and keeping the previous file
    storage      atomic writes and sweeping stale temporary files
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from crawler import lazy_exports

# Public names, imported on first use (PEP 562): importing the package costs nothing, and the
# re-poll loads no module it does not use.
if TYPE_CHECKING:
    from crawler.archive.entries import resolve_inside
    from crawler.archive.frontmatter import split_front_matter
    from crawler.archive.markdown import convert_body
    from crawler.archive.names import MAX_NAME_BYTES, entry_relpath, safe_component
    from crawler.archive.storage import (
        atomic_write_bytes_sync,
        atomic_write_in,
        lock_within,
        remove_stale_temp_files,
        run_off_loop,
    )
else:
    __getattr__ = lazy_exports(__name__, {
        "entries": "resolve_inside",
        "frontmatter": "split_front_matter",
        "markdown": "convert_body",
        "names": "MAX_NAME_BYTES entry_relpath safe_component",
        "storage": "atomic_write_bytes_sync atomic_write_in lock_within remove_stale_temp_files run_off_loop",
    })

__all__ = [
    "MAX_NAME_BYTES", "atomic_write_bytes_sync", "atomic_write_in", "convert_body", "entry_relpath",
    "lock_within", "remove_stale_temp_files", "resolve_inside", "run_off_loop", "safe_component",
    "split_front_matter",
]
