"""An archived body as CommonMark (+ GFM tables), made from the sanitized HTML.

Pure and CPU-bound: the pipeline runs `to_markdown` in a worker process. The converter is
html-to-markdown, chosen by measurement on 300 real pages (benchmarks/markdown.py, the table in
docs/publishing.md); our own rules cover only what it leaves to us:

- braces in the text are escaped (`\\{`): Hugo reads `{{<` and `{{%` as shortcodes, kramdown (Jekyll)
  reads `{:` as an attribute list, Hexo runs `{{ }}` through Nunjucks; a backslash escape is
  CommonMark's own way of saying "this character, literally". In code, where nothing escapes,
  Hugo's `{{<` and `{{%` (Hexo's and Jekyll's `{{`, `{%`, `{#`, `%}`) get an invisible word joiner
  (U+2060);
- what Markdown cannot hold (an allowed iframe) stays HTML where the format publishes HTML (Hexo,
  Jekyll) and becomes a link where it does not (Hugo drops raw HTML by default; Obsidian notes
  hold none);
- what the converter cannot handle (nesting thousands deep, a body of megabytes) is refused,
  and so is any conversion that lost a word: the caller keeps the HTML body (`MarkdownRefused`).
"""

from __future__ import annotations

import html as htmllib
import re
from collections import Counter
from functools import lru_cache
from typing import Any

# Bodies larger than this are kept as HTML: measured, html-to-markdown takes 0.7 s per MB of table,
# in a worker process, and such a body is a data dump rather than an article.
MAX_HTML_BYTES = 2_000_000
# Deeper nesting than this is no article layout; the converter returns nothing for 10,000 levels.
MAX_DEPTH = 200
HTML_FORMATS = frozenset({"hexo", "jekyll"})  # formats whose reader publishes raw HTML in a body

_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9]*)\b[^>]*?(/?)>")
_VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track",
                   "wbr"})
_LITERAL = frozenset({"pre", "code"})  # braces inside stay as they are: backslashes would show
_WORD = re.compile(r"[^\W_]+")
_OPEN, _CLOSE = "\ue000", "\ue001"  # braces of the text, until they are escaped in the Markdown
_IFRAME = re.compile(r"<iframe\b[^>]*>.*?</iframe>", re.DOTALL | re.IGNORECASE)
# A GFM table: a header row, a delimiter row, then rows; each line starts and ends with a pipe.
_TABLE = re.compile(r"^\|.*\|[ \t]*\n\|(?:[ \t]*:?-+:?[ \t]*\|)+[ \t]*\n(?:\|.*\|[ \t]*(?:\n|$))*", re.MULTILINE)
_CELL_SEPARATOR = re.compile(r"(?<!\\)\|")
_HELD = "\ue002"  # an iframe kept aside while the rest is converted
_ATTR = re.compile(r'\s(src|title)="([^"]*)"')


class MarkdownRefused(Exception):
    """The body cannot be made Markdown faithfully; the message says why (for the log)."""


def to_markdown(html: str, fmt: str) -> str:
    """The sanitized article HTML as Markdown for `fmt`'s reader; raises `MarkdownRefused`."""
    if len(html.encode("utf-8", "surrogatepass")) > MAX_HTML_BYTES:
        raise MarkdownRefused(f"the body is over {MAX_HTML_BYTES // 1_000_000} MB")
    marked = _mark_braces(html, fmt)
    iframes: list[str] = []
    if fmt in HTML_FORMATS:
        # Kept as an HTML block of its own (its opening tag alone on a line: CommonMark's and
        # kramdown's sign of a block), wherever it stood: inline, kramdown shows it as text.
        def hold(match: re.Match[str]) -> str:
            iframes.append(match.group())
            return f"{_HELD}{len(iframes) - 1}{_HELD}"

        marked = _IFRAME.sub(hold, marked)
    else:
        marked = _IFRAME.sub(_iframe_link, marked)
    try:
        result = _convert(marked)
    except Exception as exc:  # the converter's own errors (a Rust panic comes through as one)
        raise MarkdownRefused(f"the converter failed: {exc}") from None
    if iframes:
        held = re.compile(f"[ \t]*{_HELD}(\\d+){_HELD}[ \t]*")
        result = held.sub(lambda m: "\n\n" + _iframe_block(iframes[int(m.group(1))]) + "\n\n", result)
        result = re.sub(r"[ \t]*\n(?:[ \t]*\n)+", "\n\n", result)
    if "|" in result:
        result = _TABLE.sub(_widen_table, result)
    if _CLOSE in result or _OPEN in result:
        # Hexo runs Nunjucks over the HTML its Markdown renderer made, where an escape is gone
        # and an entity is not.
        opening, closing = ("&#123;", "&#125;") if fmt == "hexo" else ("\\{", "\\}")
        result = result.replace(_OPEN, opening).replace(_CLOSE, closing)
    missing = _missing_words(html, result)
    if missing:
        raise MarkdownRefused(f"the conversion would lose {missing} characters of the text")
    return result.strip("\n") + "\n"


def convert_body(html: str, fmt: str) -> tuple[str | None, str | None]:
    """`to_markdown` for a worker process: (the Markdown, None) or (None, why not); never raises."""
    try:
        return to_markdown(html, fmt), None
    except MarkdownRefused as exc:
        return None, str(exc)
    except RecursionError:
        return None, "the body is nested too deep"


def _mark_braces(html: str, fmt: str) -> str:
    """`{` and `}` of the text (not of code, not of attributes) swapped for placeholders; the
    depth checked on the way."""
    out: list[str] = []
    depth = literal = 0
    position = 0
    for match in _TAG.finditer(html):
        text = html[position:match.start()]
        out.append(_braces(text, literal > 0, fmt))
        out.append(match.group())
        position = match.end()
        closing, name, self_closing = match.group(1), match.group(2).lower(), match.group(3)
        if name in _VOID or self_closing:
            continue
        if closing:
            depth = max(0, depth - 1)
            literal -= name in _LITERAL and literal > 0
        else:
            depth += 1
            literal += name in _LITERAL
            if depth > MAX_DEPTH:
                raise MarkdownRefused(f"the body's elements are nested over {MAX_DEPTH} deep")
    out.append(_braces(html[position:], literal > 0, fmt))
    return "".join(out)


def _braces(text: str, literal: bool, fmt: str) -> str:
    if "{" not in text and "}" not in text and "&#12" not in text:
        return text
    text = text.replace("&#123;", "{").replace("&#125;", "}")
    if not literal:
        return text.replace("{", _OPEN).replace("}", _CLOSE)
    if fmt == "hugo":
        # No escape works inside code, and Hugo runs `{{<` and `{{%` as shortcodes even there: an
        # invisible joiner keeps them apart (what a reader sees is unchanged).
        text = text.replace("{{&lt;", "{{\u2060&lt;").replace("{{%", "{{\u2060%")
    elif fmt in ("hexo", "jekyll"):
        # Hexo runs Nunjucks over inline code too; Jekyll, even with Liquid off, cuts a post's
        # excerpt around what looks like a Liquid block and "repairs" it with a closing tag.
        for pair in ("{{", "{%", "{#", "%}"):
            text = text.replace(pair, pair[0] + "\u2060" + pair[1])
    return text


def _iframe_link(match: re.Match[str]) -> str:
    attrs = {k: htmllib.unescape(v) for k, v in _ATTR.findall(match.group())}
    src = attrs.get("src", "")
    title = attrs.get("title") or src
    return f'<p><a href="{htmllib.escape(src)}">{htmllib.escape(title)}</a></p>'


def _widen_table(match: re.Match[str]) -> str:
    """A table whose header has as many cells as its widest row. The converter writes a row of a
    table laid out with colspan as it is, wider than the header, and GFM drops the cells beyond
    the header's: their text was lost (measured: one page of the 300, and no library did better)."""
    lines = match.group().rstrip("\n").split("\n")
    widths = [len(_CELL_SEPARATOR.findall(line.rstrip())) - 1 for line in lines]
    extra = max(widths) - widths[0]
    if extra <= 0:
        return match.group()
    lines[0] = lines[0].rstrip() + " |" * extra
    lines[1] = lines[1].rstrip() + " --- |" * extra
    return "\n".join(lines) + ("\n" if match.group().endswith("\n") else "")


def _iframe_block(iframe: str) -> str:
    opening, _, rest = iframe.partition(">")
    return f"{opening}>\n{rest}"


@lru_cache(maxsize=1)
def _options() -> Any:
    import html_to_markdown

    return html_to_markdown.ConversionOptions(
        heading_style="atx", bullets="-", escape_asterisks=True, escape_underscores=True, escape_misc=True,
        extract_metadata=False, autolinks=False,
        # By default an image in a heading or a caption is written as its alt text: the image lost.
        keep_inline_images_in=["h1", "h2", "h3", "h4", "h5", "h6", "figcaption", "caption", "dt", "dd"])


def _convert(html: str) -> str:
    import html_to_markdown

    return str(html_to_markdown.convert(html, _options()).content)


def _missing_words(html: str, markdown: str) -> int:
    """How many letters and digits of the HTML's text the Markdown does not have (counted as
    characters: `R<sub>0</sub>` is `R0` in Markdown, the same text, one word fewer)."""
    text = htmllib.unescape(re.sub(r"<[^>]*>", " ", html))
    want = Counter("".join(_WORD.findall(text)))
    got = Counter("".join(_WORD.findall(markdown)))
    return sum((want - got).values())
