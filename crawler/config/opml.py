"""OPML subscription lists, read and written: pure functions, no config, no I/O.

Reading goes through defusedxml: an OPML file comes from another program (or
anyone), and an entity bomb or an external entity must be refused, not
expanded. The size is capped before parsing. What every reader exports is
accepted: `xmlUrl` in any letter case, folders nested (a feed in more than
`MAX_FOLDERS` of them is listed as unusable: its folders would be a path no file
system takes), `title` or `text` (either may be missing), OPML 2.0's `category`
attribute, a BOM, any character set Python knows in the XML declaration (pyexpat
reads UTF-8, UTF-16, Latin-1 and ASCII itself; others, GBK or Shift_JIS included,
are decoded here first). A declared encoding that is no character set (unknown,
`rot13`, `utf-7`, `undefined`) is one `OpmlError`, as is a file that is not in it.

>>> outlines = read_opml(Path("subscriptions.opml").read_bytes())
>>> print(write_opml([ExportFeed("bbc", "https://feeds.bbci.co.uk/news/rss.xml", None, ("News",))]))
"""

from __future__ import annotations

import codecs
import email.utils
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urlsplit

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from crawler.errors import CrawlerError
from crawler.fetch import character_set

MAX_OPML_BYTES = 20 * 1000 * 1000  # a 5,000-feed export is about 1 MB
MAX_FOLDERS = 32  # readers export one or two levels; each folder is a folder in the archive
_DECLARED_ENCODING = re.compile(rb"""^(\s*<\?xml[^>]*?\sencoding\s*=\s*["'])([^"']*)(["'])""")
_EXPAT_READS = frozenset({"utf-8", "utf-16", "iso8859-1", "ascii"})  # codecs.lookup's names for them


class OpmlError(CrawlerError):
    """A file that is not a usable OPML document (one line saying why)."""


@dataclass(frozen=True)
class OpmlFeed:
    """An outline with a feed URL, and the folders around it."""

    title: str  # its title, else its text; may be empty
    xml_url: str
    html_url: str | None
    categories: tuple[str, ...]


@dataclass(frozen=True)
class Unusable:
    """An outline that names no feed we can poll, and why."""

    text: str
    why: str


@dataclass
class Outlines:
    feeds: list[OpmlFeed] = field(default_factory=list)
    unusable: list[Unusable] = field(default_factory=list)


def read_opml(data: bytes) -> Outlines:
    """Every feed outline of an OPML document, in document order; raises `OpmlError`."""
    if len(data) > MAX_OPML_BYTES:
        raise OpmlError(f"larger than the {MAX_OPML_BYTES:,}-byte limit for an OPML file")
    data = _in_an_encoding_expat_reads(data)
    try:
        root = fromstring(data, forbid_dtd=False, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise OpmlError(f"refused: the file declares entities ({type(exc).__name__}); OPML needs none") from None
    except ET.ParseError as exc:
        raise OpmlError(f"not XML: {exc}") from None
    except (LookupError, ValueError) as exc:  # pyexpat asked Python's codecs (a declaration not seen above)
        raise OpmlError(f"cannot read the encoding it declares: {' '.join(str(exc).split())}") from None
    if _local(root.tag).lower() != "opml":
        raise OpmlError(f"not OPML: the root element is <{_local(root.tag)}>, not <opml>")
    body = next((child for child in root if _local(child.tag).lower() == "body"), None)
    if body is None:
        raise OpmlError("not OPML: no <body>")
    return _walk(body)


def _in_an_encoding_expat_reads(data: bytes) -> bytes:
    """`data` as is when pyexpat reads its declared encoding itself, else decoded here (strictly)
    and given back in UTF-8 with the declaration saying so; raises `OpmlError`."""
    declared = _DECLARED_ENCODING.match(data.removeprefix(b"\xef\xbb\xbf")[:1024])
    if declared is None:
        return data  # UTF-8, or UTF-16 with its BOM: pyexpat tells them apart
    name = declared.group(2).decode("ascii", "replace")
    charset = character_set(name)
    if charset is None:
        raise OpmlError(f"cannot read the encoding it declares ({name!r}): {_no_charset(name)}")
    if charset in _EXPAT_READS:
        return data
    try:
        text = data.decode(charset)
    except UnicodeDecodeError as exc:
        raise OpmlError(f"not in the encoding it declares ({name!r}): {exc.reason} at byte {exc.start}") from None
    except UnicodeError as exc:
        raise OpmlError(f"cannot read the encoding it declares ({name!r}): {' '.join(str(exc).split())}") from None
    redeclared = re.sub(r"""(\sencoding\s*=\s*["'])[^"']*""", r"\g<1>utf-8", text, count=1)
    return redeclared.encode("utf-8")


def _no_charset(name: str) -> str:
    try:
        codecs.lookup(name)
    except (LookupError, ValueError):
        return "unknown encoding"
    return "not a character set"  # rot13, base64; utf-7, idna


def _walk(body: ET.Element) -> Outlines:
    """Every outline in document order, depth first; a loop, not recursion: an OPML file may
    nest deeper than Python's stack goes."""
    found = Outlines()
    # One iterator per open folder, with the folder names down to it.
    stack: list[tuple[tuple[str, ...], Iterator[ET.Element]]] = [((), _outlines(body))]
    while stack:
        folders, outlines = stack[-1]
        outline = next(outlines, None)
        if outline is None:
            stack.pop()
            continue
        attrs = {key.lower(): (value or "").strip() for key, value in outline.attrib.items()}
        label = attrs.get("title") or attrs.get("text") or ""
        xml_url = attrs.get("xmlurl", "")
        children = list(_outlines(outline))
        if xml_url:
            categories = _unique((*folders, *_category_attribute(attrs.get("category", ""))))
            if not _is_http_url(xml_url):
                found.unusable.append(Unusable(label or xml_url, f"xmlUrl is not an http(s) URL: {xml_url}"))
            elif len(categories) > MAX_FOLDERS:
                found.unusable.append(Unusable(label or xml_url, f"in more than {MAX_FOLDERS} folders "
                                               "(each would be a folder of the archive)"))
            else:
                found.feeds.append(OpmlFeed(label, xml_url, attrs.get("htmlurl") or None, categories))
        elif not children:
            found.unusable.append(Unusable(label or "(an outline with no text)", "no xmlUrl"))
        if children:
            # The folder names, each once (as `_unique` would keep them); past MAX_FOLDERS no more
            # are kept (every feed down there is refused): no tuple grows with the depth, so a
            # file nested a million deep costs linear time.
            kept = not label or label in folders or len(folders) > MAX_FOLDERS
            stack.append((folders if kept else (*folders, label), iter(children)))
    return found


def _is_http_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises for a port out of range)
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname) and not any(c.isspace() for c in url)


def _outlines(parent: ET.Element) -> Iterator[ET.Element]:
    return (child for child in parent if isinstance(child.tag, str) and _local(child.tag).lower() == "outline")


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _category_attribute(value: str) -> list[str]:
    """OPML 2.0: comma-separated, slash-delimited category paths (`/News/World,/Tech`)."""
    return [part.strip() for path in value.split(",") for part in path.split("/") if part.strip()]


def _unique(names: Sequence[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(names))


@dataclass(frozen=True)
class ExportFeed:
    name: str
    url: str
    site: str | None
    categories: tuple[str, ...]


# What XML 1.0 cannot hold, even as a character reference: C0 controls but tab, line feed and
# carriage return; lone surrogates; U+FFFE and U+FFFF. ElementTree writes them as they are.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _xml_text(value: str) -> str:
    """`value` without the characters an XML document cannot hold (the config refuses them; this is
    for a config written before it did, or a `--config` file name)."""
    return _NOT_XML.sub("", value)


def write_opml(feeds: Sequence[ExportFeed], title: str = "feed-archiver feeds", now: datetime | None = None) -> str:
    """An OPML 2.0 document: each feed's categories as nested folder outlines, in config order."""
    root = ET.Element("opml", version="2.0")
    head = ET.SubElement(root, "head")
    ET.SubElement(head, "title").text = _xml_text(title)
    if now is not None:
        ET.SubElement(head, "dateCreated").text = email.utils.format_datetime(now, usegmt=True)
    body = ET.SubElement(root, "body")
    folders: dict[tuple[str, ...], ET.Element] = {(): body}
    for feed in feeds:
        parent = body
        for depth in range(1, len(feed.categories) + 1):
            path = feed.categories[:depth]
            if path not in folders:
                folder = _xml_text(path[-1])
                folders[path] = ET.SubElement(parent, "outline", text=folder, title=folder)
            parent = folders[path]
        name = _xml_text(feed.name)
        attrs = {"type": "rss", "text": name, "title": name, "xmlUrl": _xml_text(feed.url)}
        if feed.site:
            attrs["htmlUrl"] = _xml_text(feed.site)
        ET.SubElement(parent, "outline", attrs)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
