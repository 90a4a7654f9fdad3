"""The config layer: the YAML read and validated into `Settings`, and edited in place.

    settings  feeds.yaml -> frozen `Settings` and `FeedSource`s; every user error is one line (file:line: key)
    edit      import/add: a read-modify-write of the YAML that keeps comments, keys and order
    opml      OPML 2.0 in (import) and out (export)

No stage imports this package: the pipeline's stages take `FeedSource` and `HttpSettings` (crawler.models).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from crawler import lazy_exports

# Public names, imported on first use (PEP 562): importing the package costs nothing, and the
# re-poll loads no module it does not use.
if TYPE_CHECKING:
    from crawler.config.edit import ConfigDocument, unique_name, url_key
    from crawler.config.opml import MAX_OPML_BYTES, ExportFeed, OpmlError, read_opml, write_opml
    from crawler.config.settings import (
        FeedSource,
        Settings,
        check_no_control,
        ensure_archive_dir,
        load_settings,
        split_listen,
    )
else:
    __getattr__ = lazy_exports(__name__, {
        "edit": "ConfigDocument unique_name url_key",
        "opml": "ExportFeed MAX_OPML_BYTES OpmlError read_opml write_opml",
        "settings": "FeedSource Settings check_no_control ensure_archive_dir load_settings split_listen",
    })

__all__ = [
    "ConfigDocument", "ExportFeed", "FeedSource", "MAX_OPML_BYTES", "OpmlError", "Settings",
    "check_no_control", "ensure_archive_dir", "load_settings", "read_opml", "split_listen", "unique_name",
    "url_key", "write_opml",
]
