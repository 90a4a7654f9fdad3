"""Archived entries: where each one lives, what its file says, and writing it safely.

`entry_relpath` and `render` are pure; `write_document` does the disk work.
A path is derived from (feed, entry id), never from what is on disk, so the
same entry always lands at the same place and two entries never share one.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import stat
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

from crawler.archive.frontmatter import plain_or_quoted, quoted, render_front_matter
from crawler.archive.names import MAX_NAME_BYTES as MAX_NAME_BYTES  # where an entry lives: re-exported
from crawler.archive.names import entry_key as entry_key
from crawler.archive.names import entry_relpath as entry_relpath
from crawler.archive.names import safe_component as safe_component
from crawler.archive.storage import atomic_write_in, run_off_loop, temp_path_for
from crawler.errors import ArchiveError
from crawler.models import ArchivedDocument

REVISIONS_DIR = ".revisions"


def format_date(when: datetime) -> str:
    """RFC 1123 in GMT, as in the seed: `Sun, 13 Feb 2022 09:12:25 GMT`."""
    return format_datetime(when.astimezone(UTC), usegmt=True)


def render(
    *,
    relpath: str,
    title: str,
    categories: Sequence[str],
    headimg: str,
    author: str,
    date: datetime,
    link: str,
    guid: str,
    body_html: str,
    updated: datetime | None = None,
) -> ArchivedDocument:
    """The whole file: front matter in DESIGN.md's key order, a blank line, `<div>` + body + `</div>`.
    A revised entry has `updated` (Hexo's own key) right after `date`."""
    front = render_front_matter(
        [
            ("title", quoted(title)),
            ("categories", list(categories)),
            ("headimg", quoted(headimg)),
            ("author", plain_or_quoted(author)),
            ("comments", False),
            ("date", format_date(date)),
            *([("updated", format_date(updated))] if updated is not None else []),
            ("thumbnail", quoted(headimg)),
            ("link", quoted(link)),
            ("guid", quoted(guid)),
        ]
    )
    text = f"{front}\n<div>\n{body_html}\n</div>\n"
    return ArchivedDocument(
        relpath=relpath, text=text, content_hash=hashlib.sha256(text.encode("utf-8")).hexdigest()
    )


def revision_relpath(relpath: str, replaced_at: datetime) -> str:
    """Where the file at `relpath`, replaced at `replaced_at`, is kept: in a dot folder, which
    Hexo does not publish and which is not part of the archive's entries."""
    stamp = replaced_at.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{REVISIONS_DIR}/{relpath.removesuffix('.md')}/{stamp}.md"


def resolve_inside(archive_dir: Path, relpath: str) -> Path:
    """The absolute path for `relpath`, refusing anything that would land outside the archive."""
    root = archive_dir.resolve()
    target = root.joinpath(*relpath.split("/"))
    if ".." in relpath.split("/") or os.path.commonpath([root, target]) != str(root):
        raise ArchiveError(f"{relpath!r} would be written outside {root}")
    return target


_FOLDER = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC


@contextlib.contextmanager
def _folder(root: Path, target: Path, *, create: bool = True) -> Iterator[int | None]:
    """A descriptor of `target`'s folder (None: it does not exist and `create` is false), reached
    from `root` one folder at a time, each opened relative to the last and never through a
    symlink: a symlink planted in the archive, or swapped in after a check, cannot redirect a
    write anywhere else (DESIGN.md: no write ever lands outside archive_dir)."""
    fd = os.open(root, _FOLDER)
    try:
        current = root
        for part in target.relative_to(root).parts[:-1]:
            current = current / part
            try:
                child = os.open(part, _FOLDER, dir_fd=fd)
            except FileNotFoundError:
                if not create:
                    yield None
                    return
                with contextlib.suppress(FileExistsError):  # made meanwhile: opened as it is
                    os.mkdir(part, 0o777, dir_fd=fd)
                child = _open_folder(part, fd, current)
            except OSError as exc:
                raise _refusal(exc, current) from None
            os.close(fd)
            fd = child
        yield fd
    finally:
        os.close(fd)


def _open_folder(name: str, parent: int, shown: Path) -> int:
    try:
        return os.open(name, _FOLDER, dir_fd=parent)
    except OSError as exc:
        raise _refusal(exc, shown) from None


def _refusal(exc: OSError, path: Path) -> OSError | ArchiveError:
    if exc.errno in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):  # O_NOFOLLOW met a symlink (or a file)
        what = "a symlink" if path.is_symlink() else "not a folder"
        return ArchiveError(f"{path} is {what}; refusing to write through it")
    return exc


def _kind(folder: int, name: str) -> int | None:
    """The file type at `name` in `folder` (a symlink is a symlink, not what it points to); None: nothing."""
    try:
        return stat.S_IFMT(os.stat(name, dir_fd=folder, follow_symlinks=False).st_mode)
    except FileNotFoundError:
        return None


def _read_in(folder: int, name: str) -> bytes:
    fd = os.open(name, _FILE, dir_fd=folder)  # ELOOP for a symlink
    with open(fd, "rb") as handle:
        return handle.read()


async def write_document(archive_dir: Path, doc: ArchivedDocument, guid: str) -> str:
    """Write the entry's file; returns the SHA-256 of the file now at its path, which is the
    document's unless a file for this guid was already there (kept as is, and its hash given:
    the store records what is on disk)."""
    target = resolve_inside(archive_dir, doc.relpath)
    try:
        return await run_off_loop(_write_document_sync, archive_dir.resolve(), target, doc, guid)
    except OSError as exc:
        raise ArchiveError(f"cannot write {doc.relpath}: {exc.strerror or exc}") from exc


def _write_document_sync(root: Path, target: Path, doc: ArchivedDocument, guid: str) -> str:
    # One trip to a worker thread for the whole write: thread hand-offs, not disks, were the cost.
    with _folder(root, target) as folder:
        assert folder is not None
        kind = _kind(folder, target.name)
        if kind == stat.S_IFLNK:
            raise ArchiveError(f"{target} is a symlink; refusing to write through it")
        if kind is not None and (kept := _hash_if_holds_guid(folder, target.name, guid)) is not None:
            # Written by a run that was killed before it could record it: record, do not duplicate.
            return kept
        atomic_write_in(folder, target.name, doc.text.encode("utf-8"))
    return doc.content_hash


async def write_new_document(
    archive_dir: Path, doc: ArchivedDocument, guid: str, alternate: ArchivedDocument | None
) -> tuple[ArchivedDocument, str]:
    """`write_document` for a path that another entry may hold (an Obsidian note is named by its
    title alone): when the file there is another entry's, `alternate` is written instead. Returns
    the document written (or found) and the SHA-256 of the file at its path."""
    if alternate is None:
        return doc, await write_document(archive_dir, doc, guid)
    target = resolve_inside(archive_dir, doc.relpath)
    try:
        claimed, kept = await run_off_loop(_claim_sync, archive_dir.resolve(), target, doc, guid)
    except OSError as exc:
        raise ArchiveError(f"cannot write {doc.relpath}: {exc.strerror or exc}") from exc
    if claimed:
        return doc, doc.content_hash
    if kept is not None:
        return doc, kept
    return alternate, await write_document(archive_dir, alternate, guid)


def _claim_sync(root: Path, target: Path, doc: ArchivedDocument, guid: str) -> tuple[bool, str | None]:
    """Write `doc` at `target` unless a file is there: two entries of one title in one poll are
    written at once, and a rename would let the second replace the first. (True, None) when
    written; else (False, the SHA-256 of the file there when it is this guid's entry)."""
    with _folder(root, target) as folder:
        assert folder is not None
        if _kind(folder, target.name) == stat.S_IFLNK:
            raise ArchiveError(f"{target} is a symlink; refusing to write through it")
        temp = temp_path_for(target).name
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644, dir_fd=folder)
        try:
            with open(fd, "wb") as handle:
                handle.write(doc.text.encode("utf-8"))
            os.link(temp, target.name, src_dir_fd=folder, dst_dir_fd=folder, follow_symlinks=False)
        except FileExistsError:  # the name is taken, atomically
            return False, _hash_if_holds_guid(folder, target.name, guid)
        finally:
            with contextlib.suppress(OSError):
                os.unlink(temp, dir_fd=folder)
    return True, None


def _hash_if_holds_guid(folder: int, name: str, guid: str) -> str | None:
    """The file's SHA-256 when it is this guid's entry, else None."""
    try:
        data = _read_in(folder, name)
    except OSError:
        return None
    head = data[: 64 * 1024].decode("utf-8", errors="ignore")
    if f"\nguid: {quoted(guid)}\n" not in head:
        return None
    return hashlib.sha256(data).hexdigest()


async def read_document(archive_dir: Path, relpath: str) -> bytes | None:
    """The bytes of the file at `relpath`, or None when there is none (nor through a symlink)."""
    target = resolve_inside(archive_dir, relpath)
    try:
        return await run_off_loop(_read_document_sync, archive_dir.resolve(), target)
    except OSError as exc:
        raise ArchiveError(f"cannot read {relpath}: {exc.strerror or exc}") from exc


def _read_document_sync(root: Path, target: Path) -> bytes | None:
    with _folder(root, target, create=False) as folder:
        if folder is None or _kind(folder, target.name) != stat.S_IFREG:
            return None
        return _read_in(folder, target.name)


async def replace_document(archive_dir: Path, doc: ArchivedDocument, previous: bytes, replaced_at: datetime) -> str:
    """Keep `previous` (the file at `doc.relpath`) under `.revisions/`, then write `doc` in its
    place; returns the new file's SHA-256. When the copy cannot be kept the file is left as it
    was (`ArchiveError`): no revision is ever lost to a new one."""
    target = resolve_inside(archive_dir, doc.relpath)
    kept = resolve_inside(archive_dir, revision_relpath(doc.relpath, replaced_at))
    try:
        await run_off_loop(_replace_document_sync, archive_dir.resolve(), target, kept, doc, previous)
    except OSError as exc:
        raise ArchiveError(f"cannot revise {doc.relpath}: {exc.strerror or exc}") from exc
    return hashlib.sha256(doc.text.encode("utf-8")).hexdigest()


def _replace_document_sync(root: Path, target: Path, kept: Path, doc: ArchivedDocument, previous: bytes) -> None:
    with _folder(root, kept) as folder:
        assert folder is not None
        # A retry after the new file failed to land finds its copy already kept, the newest there:
        # one revision, not two.
        siblings = []
        for sibling in os.listdir(folder):
            info = os.stat(sibling, dir_fd=folder, follow_symlinks=False) if sibling.endswith(".md") else None
            if info is not None and stat.S_ISREG(info.st_mode):
                siblings.append((info.st_mtime_ns, sibling))
        newest = max(siblings, default=None)
        if newest is None or _read_in(folder, newest[1]) != previous:
            name, number = kept.name, 1
            while _kind(folder, name) is not None:
                number += 1
                name = f"{kept.stem}-{number}.md"
            atomic_write_in(folder, name, previous)
    with _folder(root, target) as folder:
        assert folder is not None
        if _kind(folder, target.name) == stat.S_IFLNK:
            raise ArchiveError(f"{target} is a symlink; refusing to write through it")
        atomic_write_in(folder, target.name, doc.text.encode("utf-8"))
