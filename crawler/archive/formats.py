"""The archive in the format of its reader: Hexo (the seed's), Hugo, Jekyll or an Obsidian vault.

Pure. DESIGN.md, "Output formats": each format names its files and writes its front matter as
its own reader wants them, with no change to the reader's defaults:

- hexo: `entries.render`, byte for byte (the seed's format);
- hugo: `title`, `date` and `lastmod` (RFC 3339), `categories`, `author`, `images`, `link`, `guid`;
- jekyll: files `YYYY-MM-DD-<name>.md`, `date` as `YYYY-MM-DD HH:MM:SS +0000`, `last_modified_at`
  for a revision (the key jekyll-sitemap and jekyll-seo-tag read), `render_with_liquid: false`;
- obsidian: the title is the file name; properties of Obsidian's own types (`tags`, `aliases`,
  `created`, `updated`, `source`, `author`, `feed`, `guid`).

Every format writes `guid:` as Hexo does, so that a file found at an entry's path is known to be
that entry's (`entries._hash_if_holds_guid`), and every format's path is derived from (feed,
entry id, title, date), never from the disk, except an Obsidian note whose title another note
already has (`alternate_relpath`).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from crawler.archive.entries import render
from crawler.archive.frontmatter import plain_or_quoted, quoted, render_front_matter
from crawler.archive.names import MAX_NAME_BYTES, entry_key, entry_relpath, safe_component
from crawler.models import ArchivedDocument

FORMATS = ("hexo", "hugo", "jekyll", "obsidian")
_IMG_SRC = re.compile(r"<img\b[^>]*?\ssrc=\"([^\"]*)\"")
# Obsidian's links cannot name a note whose name holds these ([[a#b]] is a heading of a).
_OBSIDIAN_FORBIDDEN = re.compile(r"[#^\[\]|]+")
# An Obsidian tag: letters, digits, `_`, `-`, `/` (nesting); not only digits.
_TAG_FORBIDDEN = re.compile(r"[^\w/-]+")


@dataclass(frozen=True)
class Fields:
    """What an entry's file says, whatever the format."""

    title: str
    categories: Sequence[str]
    headimg: str
    author: str
    date: datetime
    link: str
    guid: str
    feed: str
    body_html: str  # as `article.finish` made it: sanitized, braces as entities, one HTML block
    body_markdown: str | None = None  # the same body as Markdown, when the output's body is markdown
    updated: datetime | None = None


def relpath_for(fmt: str, categories: Sequence[str], title: str, feed_name: str, entry_id: str,
                date: datetime) -> str:
    """Where a new entry goes: each category a folder, then the file name the format wants."""
    if fmt == "jekyll":
        prefix = f"{date.astimezone(UTC):%Y-%m-%d}-"
        suffix = f"_{entry_key(feed_name, entry_id)}.md"
        stem = safe_component(title, max_bytes=MAX_NAME_BYTES - len(prefix) - len(suffix))
        return "/".join([*(safe_component(c) for c in categories), prefix + stem + suffix])
    if fmt == "obsidian":
        stem = _note_name(title, MAX_NAME_BYTES - len(".md"))
        return "/".join([*(safe_component(c) for c in categories), stem + ".md"])
    return entry_relpath(categories, title, feed_name, entry_id)


def alternate_relpath(fmt: str, relpath: str, feed_name: str, entry_id: str) -> str | None:
    """Where an Obsidian note goes when another note already has its title: its name and the
    entry's key. None for the other formats, whose names are unique already."""
    if fmt != "obsidian":
        return None
    folder, _, name = relpath.rpartition("/")
    suffix = f" {entry_key(feed_name, entry_id)}.md"
    stem = _truncate(name.removesuffix(".md"), MAX_NAME_BYTES - len(suffix)).rstrip(". ")
    return (folder + "/" if folder else "") + stem + suffix


def _note_name(title: str, max_bytes: int) -> str:
    return safe_component(_OBSIDIAN_FORBIDDEN.sub(" ", title), max_bytes=max_bytes)


def _truncate(text: str, limit: int) -> str:
    return text.encode("utf-8")[:limit].decode("utf-8", errors="ignore")


def render_entry(fmt: str, relpath: str, fields: Fields) -> ArchivedDocument:
    """The entry's whole file in `fmt`."""
    if fmt == "hexo" and fields.body_markdown is None:
        return render(relpath=relpath, title=fields.title, categories=fields.categories, headimg=fields.headimg,
                      author=fields.author, date=fields.date, updated=fields.updated, link=fields.link,
                      guid=fields.guid, body_html=fields.body_html)
    front = {"hexo": _hexo, "hugo": _hugo, "jekyll": _jekyll, "obsidian": _obsidian}[fmt](relpath, fields)
    body = fields.body_markdown if fields.body_markdown is not None else f"<div>\n{fields.body_html}\n</div>\n"
    text = f"{render_front_matter(front)}\n{body}"
    return ArchivedDocument(relpath=relpath, text=text,
                            content_hash=hashlib.sha256(text.encode("utf-8")).hexdigest())


Front = list[tuple[str, str | bool | Sequence[str]]]


def _hexo(relpath: str, f: Fields) -> Front:
    from crawler.archive.entries import format_date

    return [("title", quoted(f.title)), ("categories", list(f.categories)), ("headimg", quoted(f.headimg)),
            ("author", plain_or_quoted(f.author)), ("comments", False), ("date", format_date(f.date)),
            *([("updated", format_date(f.updated))] if f.updated is not None else []),
            ("thumbnail", quoted(f.headimg)), ("link", quoted(f.link)), ("guid", quoted(f.guid))]


def rfc3339(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def jekyll_date(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S +0000")


def obsidian_date(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def image_sources(body_html: str) -> list[str]:
    """The body's image URLs (the copies'), each once, in order."""
    import html as htmllib

    return list(dict.fromkeys(htmllib.unescape(src) for src in _IMG_SRC.findall(body_html)))


def _hugo(relpath: str, f: Fields) -> Front:
    return [("title", quoted(f.title)), ("date", rfc3339(f.date)),
            *([("lastmod", rfc3339(f.updated))] if f.updated is not None else []),
            ("categories", list(f.categories)), ("author", plain_or_quoted(f.author)),
            ("images", image_sources(f.body_html)), ("link", quoted(f.link)), ("guid", quoted(f.guid))]


def _jekyll(relpath: str, f: Fields) -> Front:
    return [("title", quoted(f.title)), ("date", jekyll_date(f.date)),
            *([("last_modified_at", jekyll_date(f.updated))] if f.updated is not None else []),
            ("categories", list(f.categories)), ("author", plain_or_quoted(f.author)),
            ("image", quoted(f.headimg)), ("link", quoted(f.link)), ("guid", quoted(f.guid)),
            ("render_with_liquid", False)]


def obsidian_tag(category: str) -> str | None:
    """A category as an Obsidian tag (no blanks or punctuation but `_ - /`; not only digits)."""
    tag = _TAG_FORBIDDEN.sub("-", category.strip()).strip("-/")
    if not tag or tag.replace("/", "").isdigit():
        return None
    return tag


def _obsidian(relpath: str, f: Fields) -> Front:
    stem = relpath.rpartition("/")[2].removesuffix(".md")
    tags = list(dict.fromkeys(t for t in map(obsidian_tag, f.categories) if t))
    return [("tags", tags), ("aliases", [] if stem == f.title else [f.title]),
            ("created", obsidian_date(f.date)),
            *([("updated", obsidian_date(f.updated))] if f.updated is not None else []),
            ("source", quoted(f.link)), ("author", plain_or_quoted(f.author)), ("feed", plain_or_quoted(f.feed)),
            ("guid", quoted(f.guid))]
