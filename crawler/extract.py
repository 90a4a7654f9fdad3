"""Full text: the main content of an article page as HTML, by trafilatura.

Pure and CPU-bound: the pipeline calls it through `article.prepare` in a worker process.
"""

from __future__ import annotations

import re

_WRAPPER = re.compile(r"^\s*<html>\s*<body>\s*|\s*</body>\s*</html>\s*$")


def extract_main_html(page: bytes | str, url: str) -> str | None:
    """The article's main content (headings, paragraphs, images, links, tables), without navigation
    or comments; None when trafilatura finds no article."""
    import trafilatura

    result = trafilatura.extract(
        page,
        url=url,
        output_format="html",
        include_images=True,
        include_links=True,
        include_tables=True,
        include_formatting=True,
        include_comments=False,
    )
    if not result:
        return None
    return _WRAPPER.sub("", result)
