"""Articles that change after they are published: what is a revision, and keeping the file it replaces.

DESIGN.md, "Revisions and identity". A known entry is looked at again only when the item
the feed gives differs from the one last seen (`item_hash`: title, canonical link, text,
update date), so a re-poll of unchanged items renders nothing and fetches no page. An item
that differs is rendered as a new entry would be, and is a revision only when the
normalised text differs (`text_hash`: whitespace, attribute order, tracking parameters,
the sanitizer's own output on the same input all hash alike). The file is rewritten at
its path; the one it replaces goes, whole, to `.revisions/` (`archive.replace_document`).

Entries stored before hashes were (0.1.0) have none: the first poll that sees them records
the item's hash silently, a baseline, and makes no revision.
"""

from __future__ import annotations

import hashlib
import re
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from crawler.archive import entries as archive
from crawler.archive.frontmatter import split_front_matter
from crawler.models import ArchivedDocument, EntryChange, FeedEntry, KnownEntry, UpdatesMode
from crawler.reader import canonical_link

_DATED_LINE = re.compile(r"^(?:date|created|updated|lastmod|last_modified_at): .*\n", re.MULTILINE)
_DATE_LINE = re.compile(r"^(?:date|created): .*$", re.MULTILINE)  # `created`: an Obsidian note's


@dataclass(frozen=True)
class Plan:
    """What a poll does with each item: archive it, look at it again, or only remember something."""

    new: tuple[FeedEntry, ...] = ()
    changed: tuple[tuple[FeedEntry, KnownEntry], ...] = ()  # known, and the item differs from last time
    notes: tuple[EntryChange, ...] = ()  # recorded without touching a file (baselines)
    aliases: tuple[tuple[str, str], ...] = ()  # (new id, the stored entry's id)
    unchanged: int = 0


def plan(entries: Sequence[FeedEntry], known: Mapping[str, KnownEntry], updates: UpdatesMode) -> Plan:
    """Sort a poll's items. Two items that are one stored entry (an old id and its alias): the
    first is looked at, the second counts as unchanged, so one poll never writes a file twice."""
    new: list[FeedEntry] = []
    changed: list[tuple[FeedEntry, KnownEntry]] = []
    notes: list[EntryChange] = []
    aliases: list[tuple[str, str]] = []
    unchanged = 0
    taken: set[str] = set()
    for entry in entries:
        stored = known.get(entry.id)
        if stored is None:
            new.append(entry)
            continue
        if stored.entry_id != entry.id and stored.by != "alias":
            aliases.append((entry.id, stored.entry_id))
        if stored.entry_id in taken or updates == "ignore":
            unchanged += 1
            continue
        taken.add(stored.entry_id)
        digest = item_hash(entry)
        if digest == stored.item_hash:
            unchanged += 1
        elif stored.item_hash is None:  # archived before items were hashed: this is the baseline
            notes.append(EntryChange(stored.entry_id, entry.canonical or None, None, digest, entry.updated))
            unchanged += 1
        else:
            changed.append((entry, stored))
    return Plan(tuple(new), tuple(changed), tuple(notes), tuple(aliases), unchanged)


def item_hash(entry: FeedEntry) -> str:
    """The item as the feed gives it: when this is unchanged, so is the entry (no page is fetched).

    Computed for every known item of every poll that gets a 200, so a checksum and not SHA-256:
    measured, hashing the full-text items of the bench corpus with SHA-256 was 1.7 % of such a
    re-poll. Length, CRC-32 and Adler-32 together miss a change once in far more than 2**32; a
    miss costs one revision, never a file (the text hash decides what is written)."""
    stamp = entry.updated.isoformat() if entry.updated else ""
    data = "\x00".join((entry.title, entry.canonical, entry.best_html, stamp)).encode("utf-8", "surrogatepass")
    return f"{len(data):x}:{zlib.crc32(data):08x}{zlib.adler32(data):08x}"


def text_hash(title: str, body_html: str) -> str:
    """The entry's title and body as a reader sees them: the text without its whitespace (a line
    break between two paragraphs is layout, not a word), and the targets of links and images in
    canonical form (an image's original URL, not its copy's)."""
    import lxml.html

    words: list[str] = ["".join(title.split())]
    try:
        root = lxml.html.fragment_fromstring(body_html, create_parent="div")
    except (ValueError, lxml.etree.ParserError):
        words.append("".join(body_html.split()))
    else:
        words.append("".join(str(root.text_content()).split()))
        for element in root.iter():
            if not isinstance(element.tag, str):
                continue
            target = element.get("data-original-src") or element.get("src") or element.get("href")
            if target:
                words.append(canonical_link(target.strip()))
    return hashlib.sha256("\x00".join(words).encode("utf-8", "surrogatepass")).hexdigest()


def document_text_hash(text: str) -> str | None:
    """`text_hash` of an archived file, read back from it; None when it is not one of ours."""
    import yaml

    if (parts := split_front_matter(text)) is None:
        return None
    front_text, rest = parts
    try:
        front = yaml.safe_load(front_text)
    except yaml.YAMLError:
        return None
    if not isinstance(front, dict):
        return None
    body = rest.strip()
    body = body.removeprefix("<div>").removesuffix("</div>")
    return text_hash(str(front.get("title") or ""), body)


def updated_date(entry: FeedEntry, known: KnownEntry, now: datetime) -> datetime:
    """`updated:` of a revision: the item's own update date when it gives a newer one, else now."""
    if entry.updated is not None and (known.updated is None or entry.updated > known.updated) and entry.updated <= now:
        return entry.updated
    return now


def keep_date(new_text: str, old_text: str) -> str:
    """The new file with the old one's `date:` (the publication date does not move with a revision)."""
    old = _DATE_LINE.search(old_text.partition("\n---\n")[0])
    if old is None:
        return new_text
    front, sep, body = new_text[4:].partition("\n---\n")
    return "---\n" + _DATE_LINE.sub(lambda _: old.group(0), front, count=1) + sep + body


def _same_but_dates(new_text: str, old_text: str) -> bool:
    return _DATED_LINE.sub("", new_text) == _DATED_LINE.sub("", old_text)


async def settle(
    archive_dir: Path, doc: ArchivedDocument, new_hash: str, entry: FeedEntry, known: KnownEntry, now: datetime
) -> EntryChange:
    """Rewrite `known`'s file with `doc` when its text really changed, keeping the old file;
    raises `ArchiveError` (the entry is retried) when either file cannot be written."""
    change = EntryChange(known.entry_id, entry.canonical or None, new_hash, item_hash(entry), entry.updated)
    if new_hash == known.text_hash:
        return change  # the same text, written differently: remember the item, touch nothing
    previous = await archive.read_document(archive_dir, known.path)
    if previous is None:  # the file is gone: put the entry back, there is nothing to keep
        on_disk = await archive.write_document(archive_dir, doc, known.entry_id)
        return change._replace(revised=True, content_hash=on_disk, revised_at=now)
    old_text = previous.decode("utf-8", errors="replace")
    if document_text_hash(old_text) == new_hash or _same_but_dates(doc.text, old_text):
        # The file already says this: written by a poll killed before it was recorded, or
        # archived before texts were hashed. (A Markdown body's text is not the HTML's, whose
        # hash the store keeps: such a file is known by its text, dates aside.)
        return change
    doc = replace(doc, text=keep_date(doc.text, old_text))
    on_disk = await archive.replace_document(archive_dir, doc, previous, now)
    return change._replace(revised=True, content_hash=on_disk, revised_at=now)
