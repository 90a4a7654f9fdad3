"""A feed's bytes to entries, and an entry to clean article HTML.

    parse      feed bytes -> `FeedEntry`s (feedparser; JSON Feed by our own parser)
    identity   an entry's identity: canonical links, aliases, shared GUIDs
    content    whether the feed's text is the article or a teaser (full_text: auto)
    extract    a page's article HTML (trafilatura), run in the worker processes
    article    the article's final HTML: extraction, sanitizing and image references in one worker call
    sanitize   the allow-list sanitizer (nh3)
    imagerefs  finding and rewriting <img> references
    text       plain text of HTML, for titles and checksums
    quality    the extraction's score on the shared evaluation pages
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from crawler import lazy_exports

# Public names, imported on first use (PEP 562): importing the package costs nothing, and the
# re-poll loads no module it does not use.
if TYPE_CHECKING:
    from crawler.reader.identity import canonical_link
    from crawler.reader.parse import parse_feed
    from crawler.reader.sanitize import escape_braces, one_html_block
else:
    __getattr__ = lazy_exports(__name__, {
        "identity": "canonical_link",
        "parse": "parse_feed",
        "sanitize": "escape_braces one_html_block",
    })

__all__ = [
    "canonical_link", "escape_braces", "one_html_block", "parse_feed",
]
