"""Images: which to download, the download worker processes, and the content-addressed store.

    download  one image's GET with its Referer rules, written under its SHA-256
    worker    the worker processes that download images off the crawl's event loop
    store     `ImageStore`: each distinct image fetched once per archive, its state in the store
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from crawler import lazy_exports

# Public names, imported on first use (PEP 562): importing the package costs nothing, and the
# re-poll loads no module it does not use.
if TYPE_CHECKING:
    from crawler.images.store import ImageStore
    from crawler.images.worker import ImageWorkers
else:
    __getattr__ = lazy_exports(__name__, {
        "store": "ImageStore",
        "worker": "ImageWorkers",
    })

__all__ = [
    "ImageStore", "ImageWorkers",
]
