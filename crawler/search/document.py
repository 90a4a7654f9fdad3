"""What the index keeps of an archived file: its title, date and link, and its text without markup.

The live index and `reindex` both read the file the archive holds (front matter, then the body),
so the two cannot disagree. The body's HTML is reduced to the text a reader sees: no tag, no
attribute (an `<img src>`'s URL, an `alt`), blocks apart and inline elements joined
(`<b>乌克兰</b>战争` is one run of characters, `<p>a</p><p>b</p>` two words). A Markdown body
(DESIGN.md, "Output formats") loses its link targets and images first; the keys of every
format are read (`date` or `created`, `link` or `source`; Obsidian's title is the file name).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

from crawler.archive import split_front_matter as split_text

_BLOCKS = frozenset({
    "address", "article", "aside", "blockquote", "br", "caption", "dd", "details", "div", "dl", "dt", "figcaption",
    "figure", "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "main", "nav", "ol", "p", "pre",
    "section", "summary", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "ul",
})
_MD_IMAGE = re.compile(r"!\[[^\]]*\]\((?:[^()]|\([^)]*\))*\)")
_MD_LINK = re.compile(r"\[([^\]]*)\]\((?:[^()]|\([^)]*\))*\)")
_MD_REFERENCE = re.compile(r"^ {0,3}\[[^\]]+\]:\s*\S+.*$", re.MULTILINE)
_UNSEEN = frozenset({"script", "style", "template", "noscript", "head", "title"})


@dataclass(frozen=True)
class Document:
    """One archived file, as the index sees it; `path` relative to `archive_dir`, with `/`."""

    path: str
    title: str
    body: str  # text, no markup
    date: datetime | None
    link: str


def html_text(html: str) -> str:
    """The text of an HTML fragment, as a reader sees it."""
    if "<" not in html and "&" not in html:
        return html
    import lxml.etree
    import lxml.html

    try:
        root = lxml.html.fragment_fromstring(html, create_parent="div")
    except (ValueError, lxml.etree.ParserError):
        return ""
    lxml.etree.strip_elements(root, lxml.etree.Comment, lxml.etree.ProcessingInstruction, *_UNSEEN,
                              with_tail=False)
    parts: list[str] = []
    for event, element in lxml.etree.iterwalk(root, events=("start", "end")):
        block = element.tag in _BLOCKS
        if event == "start":
            parts.append("\n" + (element.text or "") if block else element.text or "")
        else:
            parts.append("\n" if block else "")
            if element is not root and element.tail:
                parts.append(element.tail)
    return "".join(parts)


def markdown_text(markdown: str) -> str:
    """The text of a Markdown body: images and link targets gone, inline HTML as `html_text`."""
    text = _MD_REFERENCE.sub("", _MD_LINK.sub(r"\1", _MD_IMAGE.sub(" ", markdown)))
    return html_text(text)


def split_front_matter(text: str) -> tuple[dict[str, Any], str] | None:
    """(front matter, body) of an archived file; None when it has no front matter we can read."""
    import yaml

    if (parts := split_text(text)) is None:
        return None
    front_text, body = parts
    try:
        front = yaml.load(front_text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError:
        return None
    return (front, body) if isinstance(front, dict) else None


def parse_date(value: object) -> datetime | None:
    """`date:` as written (RFC 1123), or as YAML read it (a timestamp); UTC."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, str) and value.strip():
        try:
            when = parsedate_to_datetime(value.strip())
        except (TypeError, ValueError, IndexError):
            try:
                when = datetime.fromisoformat(value.strip())
            except ValueError:
                return None
        return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    return None


def read_document(archive_dir: Path, relpath: str) -> Document | None:
    """The archived file at `relpath`, as the index sees it; None when it is not one (unreadable,
    no front matter)."""
    try:
        text = (archive_dir / relpath).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    parsed = split_front_matter(text)
    if parsed is None:
        return None
    front, body = parsed
    title = front.get("title")
    if title is None and "source" in front:  # Obsidian's: the title is the file name
        title = relpath.rsplit("/", 1)[-1].removesuffix(".md")
    link = front.get("link", front.get("source"))
    body = body.strip()
    return Document(
        path=relpath,
        title=str(title) if title is not None else "",
        body=html_text(body) if body.startswith("<") else markdown_text(body),
        date=parse_date(front.get("date", front.get("created"))),
        link=str(link) if link is not None else "",
    )


def archived_files(archive_dir: Path) -> list[str]:
    """Every `.md` file of the archive outside dot folders (`.revisions/` holds replaced files),
    relative, with `/`, sorted."""
    found = []
    for path in archive_dir.rglob("*.md"):
        rel = path.relative_to(archive_dir)
        if not any(part.startswith(".") for part in rel.parts) and path.is_file():
            found.append(rel.as_posix())
    return sorted(found)
