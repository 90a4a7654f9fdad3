"""Plain text out of HTML, as the stages that weigh or show an article's words need it.

Pure. lxml is imported on first use: a re-poll with nothing new never needs it.
"""

from __future__ import annotations

import html
import re


def html_to_text(fragment: str) -> str:
    """The fragment's text, markup dropped and entities decoded once; stripped."""
    if "<" not in fragment and "&" not in fragment:
        return fragment.strip()
    import lxml.html

    try:
        return str(lxml.html.fragment_fromstring(fragment, create_parent="div").text_content()).strip()
    except (ValueError, lxml.etree.ParserError):
        return html.unescape(fragment).strip()


def visible_text(fragment: str) -> str:
    """What a browser shows of an HTML fragment on one line: tags dropped, `<script>` and `<style>`
    contents dropped, entities decoded once, runs of whitespace collapsed to one space."""
    if "<" not in fragment and "&" not in fragment:
        return " ".join(fragment.split())
    import lxml.html

    try:
        root = lxml.html.fragment_fromstring(fragment, create_parent="div")
    except (ValueError, lxml.etree.ParserError):
        return " ".join(html.unescape(fragment).split())
    for hidden in root.xpath(".//script | .//style"):
        hidden.drop_tree()  # keeps the tail: the text after </script> is shown
    return " ".join(str(root.text_content()).split())


def compact_length(text: str) -> int:
    """Characters other than blanks: how much a text says, whatever its layout."""
    return len("".join(text.split()))


def text_length(fragment: str) -> int:
    return compact_length(html_to_text(fragment))


# Lone surrogates (valid in JSON's \ud800, never in UTF-8) and NUL (which PostgreSQL's text
# refuses): what a feed can hand us that no file, name or database can hold.
_UNENCODABLE = re.compile("[\x00\ud800-\udfff]")


def scrub(text: str) -> str:
    """`text` with every character that cannot be written (UTF-8) or stored replaced by U+FFFD."""
    return _UNENCODABLE.sub("\ufffd", text) if _UNENCODABLE.search(text) else text
