"""Full text: the main content of an article page as HTML, by trafilatura.

Pure and CPU-bound: the pipeline calls it through `article.prepare` in a worker process.
"""

from __future__ import annotations

import re
import unicodedata

_WRAPPER = re.compile(r"^\s*<html>\s*<body>\s*|\s*</body>\s*</html>\s*$")


def extract_main_html(page: bytes | str, url: str) -> str | None:
    """The article's main content (headings, paragraphs, images, links, tables), without navigation
    or comments; None when trafilatura finds no article."""
    import trafilatura
    from trafilatura.htmlprocessing import build_html_output

    # What `trafilatura.extract(output_format="html")` does, less one step: for every format but
    # plain text it also computes a content fingerprint (a Simhash of the whole text) that we never
    # read, 8% of an extraction. The HTML is the same, character for character.
    document = trafilatura.bare_extraction(
        page,
        url=url,
        output_format="html",
        include_images=True,
        include_links=True,
        include_tables=True,
        include_formatting=True,
        include_comments=False,
        as_dict=False,
    )
    if document is None or isinstance(document, dict):  # a dict only with as_dict=True
        return None
    result = unicodedata.normalize("NFC", build_html_output(document))
    if not result:
        return None
    return _WRAPPER.sub("", result)
