"""`feed-archiver render --format F [--body B] --to DIR`: the whole archive in another format.

From the archive alone (DESIGN.md, "Output formats"): the state store says which files are the
entries (and of which feed), each file's front matter and body say the rest; images are copied
from `images_dir` to where the format's reader serves them (`images_home`). No network, and the
archive is only read. DIR must be empty (or a folder this command rendered before, in the same
format: then only what changed is written, and a second run writes nothing).
"""

from __future__ import annotations

import asyncio
import html as htmllib
import logging
import os
import posixpath
import re
import shutil
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from crawler.config import Settings

log = logging.getLogger(__name__)

EXIT_OK, EXIT_USAGE, EXIT_STORE = 0, 2, 3
MARKER = ".feed-archiver-render"  # in DIR: what this command rendered there (format and body)
_IMG_SRC = re.compile(r'(<img\b[^>]*?\ssrc=")([^"]*)(")')


@dataclass
class _Counts:
    entries: int = 0
    written: int = 0
    images: int = 0
    missing: int = 0


def render_archive(settings: Settings, fmt: str, body: str | None, to: str) -> int:
    """The command: one line on stderr and exit 2 for bad usage, 3 when the store cannot be read."""
    body = body or ("html" if fmt == "hexo" else "markdown")
    target = Path(to).expanduser().resolve()
    archive = settings.archive_dir.resolve()
    problem = _usage_problem(fmt, body, target, archive)
    if problem is not None:
        print(f"render: {problem}", file=sys.stderr)
        return EXIT_USAGE
    from crawler.errors import StateError

    try:
        rows = asyncio.run(_entries(settings.state_url))
    except StateError as exc:
        print(str(exc).replace("\n", " "), file=sys.stderr)
        return EXIT_STORE
    counts = _render_all(settings, rows, fmt, body, target)
    print(f"rendered {counts.entries} entries as {fmt} ({body}) into {target}: {counts.written} files written, "
          f"{counts.images} images copied" + (f", {counts.missing} entry files missing" if counts.missing else ""))
    return EXIT_OK


def _usage_problem(fmt: str, body: str, target: Path, archive: Path) -> str | None:
    if fmt == "obsidian" and body == "html":
        return "obsidian notes hold no HTML: use --body markdown"
    if target.is_relative_to(archive):
        return f"--to {target} is inside the archive ({archive}); give a folder outside it"
    if archive.is_relative_to(target):
        return f"--to {target} holds the archive ({archive}); give a folder outside it"
    if target.exists() and not target.is_dir():
        return f"--to {target} is not a folder"
    if target.is_dir() and any(target.iterdir()):
        marker = target / MARKER
        if not marker.is_file():
            return f"--to {target} is not empty; give an empty or new folder"
        if marker.read_text(encoding="utf-8").strip() != f"{fmt} {body}":
            return f"--to {target} holds a render in another format ({marker.read_text(encoding='utf-8').strip()})"
    return None


async def _entries(url: str) -> list[tuple[str, str, str]]:
    """(feed, entry id, path) of every archived entry, in a stable order."""
    import sqlalchemy as sa

    from crawler.errors import StateError
    from crawler.store import StateStore, entries, store_exists

    if not store_exists(url):
        raise StateError(f"cannot open the state store {url}: there is none (crawl first)")
    store = await StateStore.open(url, upgrade=False)
    try:
        query = sa.select(entries.c.feed, entries.c.entry_id, entries.c.path).order_by(entries.c.feed,
                                                                                     entries.c.entry_id)
        rows = await store._rows(query)  # a read of the whole table: only this command needs one
    finally:
        await store.close()
    return [(str(r[0]), str(r[1]), str(r[2])) for r in rows]


def _render_all(settings: Settings, rows: list[tuple[str, str, str]], fmt: str, body: str,
                target: Path) -> _Counts:
    from crawler.archive import atomic_write_bytes_sync, formats, resolve_inside
    from crawler.errors import ArchiveError

    counts = _Counts()
    categories = {feed.name: feed.categories for feed in settings.feeds}
    taken: set[str] = set()
    home = images_home(fmt, target)
    target.mkdir(parents=True, exist_ok=True)
    for feed, entry_id, path in rows:
        try:
            source = resolve_inside(settings.archive_dir, path)
            text = source.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError, ArchiveError) as exc:  # ArchiveError: a path outside the archive
            log.warning("render: %s (feed=%s) not rendered: %s", path, feed, exc)
            counts.missing += 1
            continue
        entry = _read_entry(text, path, feed, categories.get(feed))
        if entry is None:
            log.warning("render: %s is not an archived entry (no front matter); skipped", path)
            counts.missing += 1
            continue
        fields, body_html = entry
        relpath = formats.relpath_for(fmt, fields.categories, fields.title, feed, entry_id, fields.date)
        if relpath in taken and (alternate := formats.alternate_relpath(fmt, relpath, feed, entry_id)):
            relpath = alternate
        taken.add(relpath)
        body_html, copied = _images(settings, body_html, relpath, home, target)
        counts.images += copied
        fields = _with_body(fields, body_html, fmt, body, path)
        doc = formats.render_entry(fmt, relpath, fields)
        out = target.joinpath(*relpath.split("/"))
        data = doc.text.encode("utf-8")
        if not (out.is_file() and out.read_bytes() == data):
            out.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes_sync(out, data)
            counts.written += 1
        counts.entries += 1
    marker = target / MARKER
    if not marker.is_file():
        atomic_write_bytes_sync(marker, f"{fmt} {body}\n".encode())
    return counts


def _read_entry(text: str, path: str, feed: str, feed_categories: tuple[str, ...] | None) -> Any:
    """(Fields with an empty body, the body as HTML) from an archived file in any format; None when
    the file has no front matter."""
    import yaml

    from crawler.archive import formats, split_front_matter

    if (parts := split_front_matter(text)) is None:
        return None
    front_text, rest = parts
    try:
        front = yaml.load(front_text, Loader=yaml.BaseLoader)  # every value a string: dates parsed below
    except yaml.YAMLError:
        return None
    if not isinstance(front, dict):
        return None
    stem = path.rpartition("/")[2].removesuffix(".md")
    aliases = front.get("aliases") or []
    title = str(front.get("title") or (aliases[0] if isinstance(aliases, list) and aliases else stem))
    cats = front.get("categories")
    categories = tuple(cats) if isinstance(cats, list) else (feed_categories or tuple(front.get("tags") or ()))
    date = _date(front.get("date") or front.get("created")) or datetime.now(UTC)
    updated = _date(front.get("updated") or front.get("lastmod") or front.get("last_modified_at"))
    raw = rest.strip("\n")
    if raw.startswith("<div>") and raw.endswith("</div>"):
        body_html = raw[len("<div>"):-len("</div>")].strip("\n")
    else:
        body_html = _markdown_to_html(raw)
    fields = formats.Fields(
        title=title, categories=categories, headimg=str(front.get("headimg") or ""),
        author=str(front.get("author") or ""), date=date, updated=updated,
        link=str(front.get("link") or front.get("source") or ""), guid=str(front.get("guid") or ""), feed=feed,
        body_html="",
    )
    return fields, body_html


def _date(value: object) -> datetime | None:
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _markdown_to_html(markdown: str) -> str:
    from markdown_it import MarkdownIt

    return str(MarkdownIt("commonmark", {"html": True}).enable("table").enable("strikethrough").render(markdown))


def images_home(fmt: str, target: Path) -> tuple[Path, str | None]:
    """Where a render's images go, and the URL prefix its pages reach them by (None: a path
    relative to each file), as each reader wants them: a Hugo site serves `content/` at its root
    (lower-cased), Jekyll and Hexo copy a site's `images/` folder beside `_posts/` and
    `source/_posts/`; an Obsidian vault resolves paths relative to the note."""
    parts = target.parts
    if fmt == "hugo" and "content" in parts:
        below = parts[len(parts) - parts[::-1].index("content"):]
        if all(re.fullmatch(r"[A-Za-z0-9_-]+", part) for part in below):
            return target / "images", "/" + "".join(f"{part.lower()}/" for part in below) + "images/"
    if fmt in ("jekyll", "hexo") and "_posts" in parts:
        site = Path(*parts[:len(parts) - parts[::-1].index("_posts") - 1])
        return site / "images", "/images/"
    return target / "images", None


def _images(settings: Settings, body_html: str, relpath: str, home: tuple[Path, str | None],
            target: Path) -> tuple[str, int]:
    """The body with each image of the archive's image store pointed at its copy (copied there if
    it is not yet); remote images keep their URL."""
    copied = 0
    folder, prefix = home

    def point(match: re.Match[str]) -> str:
        nonlocal copied
        src = htmllib.unescape(match.group(2))
        name = posixpath.basename(src.split("?", 1)[0])
        stored = settings.images_dir / name
        if not name or "://" in src or src.startswith("data:") or not stored.is_file():
            return match.group()
        copy = folder / name
        if not copy.is_file():
            copy.parent.mkdir(parents=True, exist_ok=True)
            temp = copy.with_name(f".fa-tmp-{os.getpid()}-{name}")
            shutil.copyfile(stored, temp)
            os.replace(temp, copy)
            copied += 1
        if prefix is not None:
            new = prefix + name
        else:
            entry_folder = posixpath.dirname(posixpath.join(target.as_posix(), relpath))
            new = posixpath.relpath(copy.as_posix(), entry_folder)
        return match.group(1) + htmllib.escape(new) + match.group(3)

    return _IMG_SRC.sub(point, body_html), copied


def _with_body(fields: Any, body_html: str, fmt: str, body: str, path: str) -> Any:
    from dataclasses import replace

    from crawler.archive import convert_body, formats
    from crawler.reader import escape_braces, one_html_block

    first = formats.image_sources(body_html)
    headimg = first[0] if first else ""
    finished = one_html_block(escape_braces(body_html.replace("&#123;", "{").replace("&#125;", "}")))
    markdown = None
    if body == "markdown":
        markdown, refusal = convert_body(finished, fmt)
        if markdown is None:
            log.warning("render: %s: body kept as HTML, not Markdown: %s", path, refusal)
    return replace(fields, headimg=headimg, body_html=finished, body_markdown=markdown)
