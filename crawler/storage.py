"""Files that appear whole or not at all: write a temporary file in the same folder, then rename.

Temporary files share one recognisable pattern (`.fa-tmp-*`) so that a crawl
can sweep up what a killed process left behind.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

import aiofiles
import aiofiles.os

TEMP_PREFIX = ".fa-tmp-"


def temp_path_for(path: Path) -> Path:
    return path.with_name(f"{TEMP_PREFIX}{secrets.token_hex(6)}")


async def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a temporary sibling and a rename; the temp file never survives a failure."""
    temp = temp_path_for(path)
    try:
        async with aiofiles.open(temp, "wb") as handle:
            await handle.write(data)
        await aiofiles.os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise


def remove_stale_temp_files(root: Path) -> int:
    """Delete the temporary files a killed crawl left under `root`; returns how many."""
    removed = 0
    for folder, _dirs, files in os.walk(root):
        for name in files:
            if name.startswith(TEMP_PREFIX):
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join(folder, name))
                    removed += 1
    return removed
