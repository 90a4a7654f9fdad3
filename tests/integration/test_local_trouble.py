"""Local trouble: planted symlinks, a full disk, a crawl killed with SIGKILL."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crawler.archive import entries as archive
from tests import faults
from tests.conftest import Item, archived_files, mounted_tmpfs, rss, split_document, write_config
from tests.faults import FaultServer

JPEG = b"\xff\xd8\xff\xe0" + b"5" * 300 + b"\xff\xd9"


def test_planted_symlinks_are_refused(tmp_path: Path, server: FaultServer, cli) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    archive_dir = tmp_path / "archive"
    archive_dir.mkdir()
    (archive_dir / "Planted").symlink_to(outside, target_is_directory=True)
    (archive_dir / "images").symlink_to(outside, target_is_directory=True)
    server.route("/i.jpg", faults.respond(200, JPEG, "image/jpeg"))
    body = "<p>text</p>" * 100 + f'<img src="{server.url("/i.jpg")}">'
    server.route("/a", faults.respond(200, rss([Item("Via symlink", server.url("/x"), body)]), "application/rss+xml"))
    server.route("/b", faults.respond(200, rss([Item("Safe", server.url("/y"), body)]), "application/rss+xml"))
    config = write_config(tmp_path, [
        {"name": "a", "url": server.url("/a"), "categories": ["Planted", "Deeper"]},
        {"name": "b", "url": server.url("/b"), "categories": ["Real"]},
    ])

    result = cli("crawl", "--config", str(config))

    assert result.code == 1
    assert "is a symlink; refusing to write through it" in result.out + result.err
    assert list(outside.iterdir()) == []
    [safe] = archived_files(archive_dir)
    assert safe.parent.name == "Real"
    assert split_document(safe)[0]["headimg"] == server.url("/i.jpg"), "images/ is a symlink: remote URL kept"


def test_archive_dir_itself_may_be_a_symlink(tmp_path: Path, server: FaultServer, cli) -> None:
    real = tmp_path / "real-archive"
    real.mkdir()
    (tmp_path / "archive").symlink_to(real, target_is_directory=True)
    server.route("/f", faults.respond(200, rss([Item("Linked", server.url("/l"), "<p>t</p>" * 100)]),
                                      "application/rss+xml"))
    config = write_config(tmp_path, [{"name": "f", "url": server.url("/f"), "categories": ["C"]}])
    assert cli("crawl", "--config", str(config)).code == 0
    assert len(archived_files(real)) == 1


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    with mounted_tmpfs(tmp_path / "archive", "400k") as mount:
        yield mount


def test_full_disk_fails_the_entry_removes_the_temp_file_and_retries_later(
    tmp_path: Path, small_disk: Path, server: FaultServer, cli
) -> None:
    items = [Item(f"Big {i}", server.url(f"/big{i}"), f"<p>{i}{'x' * 100_000}</p>") for i in range(3)]
    server.route("/f", faults.respond(200, rss(items), "application/rss+xml"))
    config = write_config(tmp_path, [{"name": "big", "url": server.url("/f"), "full_text": "never"}],
                          state="sqlite:///state.sqlite")
    filler = small_disk / "filler.bin"
    filler.write_bytes(b"\0" * 150_000)

    first = cli("crawl", "--config", str(config))

    assert first.code == 1
    assert "No space left on device" in first.out + first.err
    assert not [p for p in small_disk.rglob(".fa-tmp-*")]
    archived_first = len(archived_files(small_disk))
    assert archived_first < 3
    filler.unlink()

    second = cli("crawl", "--config", str(config))

    assert second.code == 0, second.err
    assert sorted(split_document(p)[0]["title"] for p in archived_files(small_disk)) == ["Big 0", "Big 1", "Big 2"]


def test_sigkill_mid_crawl_then_the_next_crawl_archives_everything_exactly_once(
    tmp_path: Path, server: FaultServer
) -> None:
    enough = threading.Event()
    served: list[int] = []
    gate = threading.Event()

    def slow_image(handler: faults.Handler) -> None:
        served.append(1)
        if len(served) >= 6:
            enough.set()
        if not gate.is_set():
            server.release.wait(0.5)
        faults.respond(200, JPEG + str(len(served)).encode() + b"\xff\xd9", "image/jpeg")(handler)

    items = []
    for i in range(20):
        # Summaries only: each article page goes through extraction, so worker processes exist.
        server.route(f"/img{i}.jpg", slow_image)
        page = (f"<html><body><article><h1>Story {i}</h1>" + f"<p>Paragraph of story {i} with enough words.</p>" * 30
                + f'<img src="{server.url(f"/img{i}.jpg")}"></article></body></html>')
        server.route(f"/s{i}", faults.respond(200, page.encode(), "text/html"))
        items.append(Item(f"Story {i}", server.url(f"/s{i}"), "<p>Teaser…</p>"))
    server.route("/f", faults.respond(200, rss(items), "application/rss+xml"))
    config = write_config(tmp_path, [{"name": "k", "url": server.url("/f")}], http={"per_host": 2})
    command = [sys.executable, "-m", "crawler", "crawl", "--config", str(config)]
    victim = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert enough.wait(60)
    helpers = _descendants(victim.pid)
    assert helpers, "the crawl should have worker processes by now"
    victim.send_signal(signal.SIGKILL)
    assert victim.wait(timeout=30) == -signal.SIGKILL
    gate.set()
    written_before_kill = archived_files(tmp_path / "archive")
    assert written_before_kill, "the kill must land after some files were written, before they were recorded"

    again = subprocess.run(command, capture_output=True, text=True, timeout=120)

    assert again.returncode == 0, again.stderr
    files = archived_files(tmp_path / "archive")
    guids = [split_document(p)[0]["guid"] for p in files]
    assert sorted(guids) == sorted(server.url(f"/s{i}") for i in range(20))
    assert all(p.exists() for p in written_before_kill)
    assert _still_running(helpers) == set(), "worker processes must not outlive a killed crawl"


def _descendants(pid: int) -> set[int]:
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def _still_running(pids: set[int], within: float = 10.0) -> set[int]:
    deadline = time.monotonic() + within
    while (alive := {p for p in pids if Path(f"/proc/{p}").exists()}) and time.monotonic() < deadline:
        time.sleep(0.2)  # no event tells us another process is gone; bounded polling
    return alive


SAFE_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=300)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(title=SAFE_TEXT, author=SAFE_TEXT, categories=st.lists(SAFE_TEXT, max_size=3))
def test_any_title_author_and_categories_land_inside_and_parse_back(
    tmp_path_factory: pytest.TempPathFactory, title: str, author: str, categories: list[str]
) -> None:
    root = tmp_path_factory.mktemp("prop")
    relpath = archive.entry_relpath(categories, title, "feed", "id")
    doc = archive.render(relpath=relpath, title=title, categories=categories, headimg="", author=author,
                         date=datetime(2024, 1, 1, tzinfo=UTC), link="http://e/x", guid="id", body_html="<p>b</p>")

    assert asyncio.run(archive.write_document(root, doc, "id")) == doc.content_hash

    files = [p for p in root.rglob("*") if p.is_file()]
    assert len(files) == 1 and files[0].resolve().is_relative_to(root.resolve())
    assert all(len(part.encode()) <= 200 for part in files[0].relative_to(root).parts)
    front = yaml.safe_load(files[0].read_text(encoding="utf-8").split("---\n")[1])
    assert (front["title"], front["author"], front["categories"]) == (title, author, categories)
    shutil.rmtree(root)


def test_state_database_locked_by_another_process_is_waited_for(tmp_path: Path, server: FaultServer, cli) -> None:
    import sqlite3

    server.route("/f", faults.respond(200, rss([Item("Waited", server.url("/w"), "<p>t</p>" * 100)]),
                                      "application/rss+xml"))
    config = write_config(tmp_path, [{"name": "w", "url": server.url("/f")}])
    assert cli("check", "--config", str(config)).code == 0
    (tmp_path / "archive").mkdir()
    holder = sqlite3.connect(tmp_path / "archive" / ".state.sqlite", isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN EXCLUSIVE")
    released = threading.Timer(1.0, lambda: holder.execute("COMMIT"))
    released.start()
    try:
        result = cli("crawl", "--config", str(config))
    finally:
        released.join()
        holder.close()

    assert result.code == 0, result.err
    assert len(archived_files(tmp_path / "archive")) == 1


# -- issue 21, item 6: a planted symlink never carries a write outside the archive ---------------

OUTSIDE_BYTES = b"a file outside the archive: ~/.bashrc, say\n"


def _outside_file(tmp_path: Path) -> Path:
    outside = tmp_path / "outside" / "precious"
    outside.parent.mkdir()
    outside.write_bytes(OUTSIDE_BYTES)
    return outside


def _one_feed(tmp_path: Path, server: FaultServer, title: str = "Planted") -> Path:
    server.route("/f", faults.respond(200, rss([Item(title, server.url("/p"), "<p>t</p>" * 100)]),
                                      "application/rss+xml"))
    # full_text: never: no page request, so the test server has no connection of ours to complain about
    return write_config(tmp_path, [{"name": "f", "url": server.url("/f"), "categories": ["Real"],
                                    "full_text": "never"}])


@pytest.mark.parametrize("plant", ["symlink", "dangling-symlink", "hard-link", "fifo"])
def test_a_planted_lock_file_is_refused_with_one_line_and_left_alone(
    tmp_path: Path, server: FaultServer, cli, plant: str
) -> None:
    import os

    config = _one_feed(tmp_path, server)
    outside = _outside_file(tmp_path)
    archive_dir = tmp_path / "archive"
    archive_dir.mkdir()
    lock = archive_dir / ".feed-archiver.lock"
    missing = tmp_path / "outside" / "created-by-the-crawl"
    if plant == "symlink":
        lock.symlink_to(outside)
    elif plant == "dangling-symlink":
        lock.symlink_to(missing)
    elif plant == "hard-link":
        os.link(outside, lock)
    else:
        os.mkfifo(lock)

    result = cli("crawl", "--config", str(config))

    assert result.code == 3
    assert "Traceback" not in result.err
    [line] = result.err.splitlines()
    assert f"{lock} is " in line and "refusing to write through it (remove it)" in line
    assert outside.read_bytes() == OUTSIDE_BYTES
    assert not missing.exists()
    assert archived_files(archive_dir) == []


def test_an_entry_path_planted_as_a_symlink_is_refused_and_the_file_outside_unchanged(
    tmp_path: Path, server: FaultServer, cli
) -> None:
    config = _one_feed(tmp_path, server)
    outside = _outside_file(tmp_path)
    archive_dir = tmp_path / "archive"
    entry = archive_dir / archive.entry_relpath(["Real"], "Planted", "f", server.url("/p"))
    entry.parent.mkdir(parents=True)
    entry.symlink_to(outside)

    result = cli("crawl", "--config", str(config))

    assert result.code == 1
    assert "Traceback" not in result.err
    assert f"{entry} is a symlink; refusing to write through it" in result.err
    assert outside.read_bytes() == OUTSIDE_BYTES
    assert entry.is_symlink()


@pytest.mark.parametrize("plant", ["symlink", "dangling-symlink", "file"])
def test_a_temp_name_planted_beforehand_is_never_written_through_nor_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, plant: str
) -> None:
    """Temporary names are random (48 bits); one planted at the name drawn (here: forced) fails
    that write, touches nothing outside, and is not deleted as if it were ours."""
    from crawler.archive import storage
    from crawler.errors import ArchiveError

    outside = _outside_file(tmp_path)
    root = tmp_path / "archive"
    relpath = archive.entry_relpath(["Real"], "Title", "f", "id")
    (root / "Real").mkdir(parents=True)
    planted = root / "Real" / ".fa-tmp-planted"
    if plant == "symlink":
        planted.symlink_to(outside)
    elif plant == "dangling-symlink":
        planted.symlink_to(tmp_path / "outside" / "new")
    else:
        planted.write_bytes(b"someone else's")
    monkeypatch.setattr(storage, "temp_path_for", lambda path: path.with_name(".fa-tmp-planted"))
    doc = archive.render(relpath=relpath, title="Title", categories=["Real"], headimg="", author="a",
                         date=datetime(2024, 1, 1, tzinfo=UTC), link="http://e/x", guid="id", body_html="<p>b</p>")

    with pytest.raises(ArchiveError, match="cannot write Real/Title_.*: File exists"):
        asyncio.run(archive.write_document(root, doc, "id"))

    assert outside.read_bytes() == OUTSIDE_BYTES
    assert sorted(p.name for p in (tmp_path / "outside").iterdir()) == ["precious"]
    assert planted.is_symlink() or planted.read_bytes() == b"someone else's"
    assert not (root / relpath).exists()
    monkeypatch.undo()  # a fresh random name: the next poll writes the entry
    assert asyncio.run(archive.write_document(root, doc, "id")) == doc.content_hash


def test_a_revisions_folder_planted_as_a_symlink_keeps_the_entry_as_it_was(
    tmp_path: Path, server: FaultServer, cli
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    config = _one_feed(tmp_path, server)
    assert cli("crawl", "--config", str(config)).code == 0
    [entry] = archived_files(tmp_path / "archive")
    before = entry.read_bytes()
    (tmp_path / "archive" / ".revisions").symlink_to(outside, target_is_directory=True)
    server.route("/f", faults.respond(200, rss([Item("Planted", server.url("/p"), "<p>changed</p>" * 100)]),
                                      "application/rss+xml"))

    result = cli("crawl", "--config", str(config))

    assert result.code == 1
    assert "Traceback" not in result.err
    assert "is a symlink; refusing to write through it" in result.err
    assert list(outside.iterdir()) == []
    assert entry.read_bytes() == before


def test_a_category_folder_swapped_for_a_symlink_mid_write_does_not_carry_the_write_outside(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The folders are checked, then the file is written: a symlink swapped in between (by
    anyone who can write to the archive) must not redirect the write. The swap is made at the
    one moment in between that the test can reach: when the temporary name is drawn."""
    import os

    from crawler.archive import storage
    from crawler.errors import ArchiveError

    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / "archive"
    (root / "Real").mkdir(parents=True)
    draw = storage.temp_path_for

    def swap_then_draw(path: Path) -> Path:
        if (root / "Real").is_dir() and not (root / "Real").is_symlink():
            os.rename(root / "Real", root / "Moved")
            (root / "Real").symlink_to(outside, target_is_directory=True)
        return draw(path)

    monkeypatch.setattr(storage, "temp_path_for", swap_then_draw)
    relpath = archive.entry_relpath(["Real"], "Title", "f", "id")
    doc = archive.render(relpath=relpath, title="Title", categories=["Real"], headimg="", author="a",
                         date=datetime(2024, 1, 1, tzinfo=UTC), link="http://e/x", guid="id", body_html="<p>b</p>")
    with contextlib.suppress(ArchiveError):  # refusing is as good as writing into the folder checked
        asyncio.run(archive.write_document(root, doc, "id"))

    assert list(outside.iterdir()) == []
    assert [p.name for p in (root / "Moved").iterdir()] in ([], [relpath.split("/")[-1]])


def test_an_images_folder_swapped_for_a_symlink_mid_write_does_not_carry_the_write_outside(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    from crawler.archive import storage
    from crawler.errors import ArchiveError
    from crawler.images import download as images

    outside = tmp_path / "outside"
    outside.mkdir()
    images_dir = tmp_path / "archive" / "images"
    images_dir.mkdir(parents=True)
    draw = storage.temp_path_for

    def swap_then_draw(path: Path) -> Path:
        if not images_dir.is_symlink():
            os.rename(images_dir, images_dir.with_name("moved"))
            images_dir.symlink_to(outside, target_is_directory=True)
        return draw(path)

    monkeypatch.setattr(storage, "temp_path_for", swap_then_draw)
    with contextlib.suppress(ArchiveError):
        images._store_file(images_dir, "0123abcd.jpg", JPEG)

    assert list(outside.iterdir()) == []
    assert [p.name for p in images_dir.with_name("moved").iterdir()] in ([], ["0123abcd.jpg"])
    # Planted before the write: refused with the line the crawl logs.
    with pytest.raises(ArchiveError, match="images is a symlink; refusing to write through it"):
        images._store_file(images_dir, "0123abcd.jpg", JPEG)
    assert list(outside.iterdir()) == []


@pytest.mark.parametrize("which", ["", "-wal", "-shm"])
def test_a_state_store_planted_as_a_symlink_in_the_archive_is_refused(
    tmp_path: Path, server: FaultServer, cli, which: str
) -> None:
    config = _one_feed(tmp_path, server)
    outside = _outside_file(tmp_path)
    archive_dir = tmp_path / "archive"
    archive_dir.mkdir()
    planted = archive_dir / f".state.sqlite{which}"  # the suite's configs keep the store there
    planted.symlink_to(outside)

    result = cli("crawl", "--config", str(config))

    assert result.code == 3
    assert "Traceback" not in result.err
    [line] = result.err.splitlines()
    assert f"{planted} is a symbolic link: refusing to write through it (remove it)" in line, line
    assert outside.read_bytes() == OUTSIDE_BYTES
    assert archived_files(archive_dir) == []
