"""How `add` and `import` edit the config: under a lock, through a symlink, on a full or read-only
disk, into a closed pipe, keeping the file's own bytes (issue 21, items 4, 5, 10, 13 and 14).

The concurrent cases run real `feed-archiver` processes against a local server whose answer waits
on an event: both commands have read the config and are fetching when the test lets them finish.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from crawler.config import load_settings
from tests.conftest import Item, mounted_tmpfs, rss
from tests.faults import Fault, FaultServer, Handler, respond

CONFIG = """\
# Hand-written; this comment must stay.
archive_dir: archive
feeds:
  - name: existing   # an old friend
    url: https://old.example/feed
"""
WAIT = 60  # seconds: every wait of these tests ends by then


class Gate:
    """A feed that answers only when the test opens the gate; `arrived(n)` waits for n requests."""

    def __init__(self) -> None:
        self.open = threading.Event()
        self._count = 0
        self._changed = threading.Condition()

    def feed(self, title: str) -> Fault:
        answer = respond(200, rss([Item(f"{title} 1", f"http://example.com/{title}/1")], title=title),
                         "application/rss+xml")

        def fault(handler: Handler) -> None:
            with self._changed:
                self._count += 1
                self._changed.notify_all()
            self.open.wait(WAIT)
            answer(handler)

        return fault

    def arrived(self, count: int) -> None:
        with self._changed:
            assert self._changed.wait_for(lambda: self._count >= count, WAIT), "the requests never came"


def feed_archiver(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "crawler", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=WAIT)
    return proc.returncode, out, err


def names(config: Path) -> list[str]:
    return [feed["name"] for feed in yaml.safe_load(config.read_text(encoding="utf-8"))["feeds"]]


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "feeds.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    return path


def opml(folder: Path, count: int, first: int = 0, title: str = "Site") -> Path:
    outlines = "".join(f'<outline type="rss" text="{title} {n}" xmlUrl="https://site{n}.example/feed"/>\n'
                       for n in range(first, first + count))
    path = folder / f"feeds-{first}-{count}.opml"
    path.write_text(f'<opml version="2.0"><body>\n{outlines}</body></opml>\n', encoding="utf-8")
    return path


# -- 4: concurrent edits -------------------------------------------------------------------------


def test_two_adds_at_once_both_land(config: Path, server: FaultServer) -> None:
    gate = Gate()
    first = server.route("/first.xml", gate.feed("First"))
    second = server.route("/second.xml", gate.feed("Second"))
    procs = [feed_archiver("add", url, "--config", str(config)) for url in (first, second)]
    gate.arrived(2)  # both have read the config and are fetching
    gate.open.set()
    results = [finish(proc) for proc in procs]
    assert [code for code, _, _ in results] == [0, 0], results
    assert sorted(out.split(":")[0] for _, out, _ in results) == ["added 'first'", "added 'second'"]
    assert set(names(config)) == {"existing", "first", "second"}
    assert config.read_text(encoding="utf-8").startswith(CONFIG)


def test_a_hand_edit_during_a_slow_add_is_kept(config: Path, server: FaultServer) -> None:
    gate = Gate()
    url = server.route("/slow.xml", gate.feed("Slow"))
    proc = feed_archiver("add", url, "--config", str(config))
    gate.arrived(1)
    by_hand = CONFIG + "  - name: typed-in   # while add was fetching\n    url: https://hand.example/feed\n"
    config.write_text(by_hand, encoding="utf-8")
    gate.open.set()
    code, out, err = finish(proc)
    assert code == 0, err
    assert out.startswith("added 'slow': ")
    assert names(config) == ["existing", "typed-in", "slow"]
    assert config.read_text(encoding="utf-8").startswith(by_hand)


def test_an_import_during_a_slow_add_is_kept(config: Path, server: FaultServer, cli) -> None:
    gate = Gate()
    url = server.route("/slow.xml", gate.feed("Slow"))
    proc = feed_archiver("add", url, "--config", str(config))
    gate.arrived(1)
    assert cli("import", str(opml(config.parent, 2)), "--config", str(config)).code == 0
    gate.open.set()
    code, _, err = finish(proc)
    assert code == 0, err
    assert names(config) == ["existing", "site-0", "site-1", "slow"]


def test_a_name_taken_while_add_fetched_is_refused_in_one_line(config: Path, server: FaultServer) -> None:
    gate = Gate()
    url = server.route("/mine.xml", gate.feed("Mine"))
    proc = feed_archiver("add", url, "--name", "mine", "--config", str(config))
    gate.arrived(1)
    by_hand = CONFIG + "  - name: mine\n    url: https://other.example/feed\n"
    config.write_text(by_hand, encoding="utf-8")
    gate.open.set()
    code, out, err = finish(proc)
    assert (code, out) == (2, "")
    assert err == ("--name: a feed named 'mine' was added to the config while this feed was fetched; "
                   "nothing changed\n")
    assert config.read_text(encoding="utf-8") == by_hand


def test_the_same_url_added_meanwhile_is_not_added_twice(config: Path, server: FaultServer) -> None:
    gate = Gate()
    url = server.route("/twice.xml", gate.feed("Twice"))
    procs = [feed_archiver("add", url, "--config", str(config)) for _ in range(2)]
    gate.arrived(2)
    gate.open.set()
    results = sorted(finish(proc) for proc in procs)
    assert [code for code, _, _ in results] == [0, 0]
    assert sorted(out for _, out, _ in results) == [
        f"added 'twice': {url} (Twice, 1 entry)\n",
        f"{url} is already in the config as 'twice'; nothing changed\n",
    ]
    assert names(config) == ["existing", "twice"]


def test_stale_temporary_files_are_swept_by_the_next_edit(config: Path, cli) -> None:
    """`kill -9` during a save leaves `.feeds.yaml.XXXX.fa-tmp`; the next edit (under the lock,
    where no live edit can own one) removes them, and nothing else."""
    stale = [config.parent / ".feeds.yaml.k9x2ab.fa-tmp", config.parent / ".feeds.yaml.0qq1.fa-tmp"]
    for path in stale:
        path.write_text("half a config", encoding="utf-8")
    other = config.parent / ".other.yaml.zz.fa-tmp"
    other.write_text("another config's", encoding="utf-8")
    result = cli("import", str(opml(config.parent, 1)), "--config", str(config))
    assert result.code == 0, result.err
    assert not any(path.exists() for path in stale)
    assert other.exists()


# -- 5: a symlinked config -----------------------------------------------------------------------


def test_a_symlinked_config_stays_a_symlink_and_its_target_is_edited(tmp_path: Path, cli) -> None:
    real = tmp_path / "real" / "feeds.yaml"
    real.parent.mkdir()
    real.write_text(CONFIG, encoding="utf-8")
    link = tmp_path / "elsewhere" / "feeds.yaml"
    link.parent.mkdir()
    link.symlink_to(real)
    archive_before = load_settings(link).archive_dir
    result = cli("import", str(opml(tmp_path, 2)), "--config", str(link))
    assert result.code == 0, result.err
    assert link.is_symlink() and link.resolve() == real
    assert names(real) == ["existing", "site-0", "site-1"]
    assert load_settings(link).archive_dir == archive_before == real.parent / "archive"
    assert [p.name for p in link.parent.iterdir()] == ["feeds.yaml"]


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs (a file system of its own, easily filled), mounted for one test.
    The suite runs as root in CI, where mounting one is allowed."""
    with mounted_tmpfs(tmp_path / "tmpfs", "64k") as mount:
        yield mount


def test_a_symlink_to_a_config_on_another_file_system(tmp_path: Path, tmpfs: Path, cli) -> None:
    real = tmp_path / "feeds.yaml"
    real.write_text(CONFIG, encoding="utf-8")
    link = tmpfs / "feeds.yaml"
    link.symlink_to(real)
    result = cli("import", str(opml(tmp_path, 1)), "--config", str(link))
    assert result.code == 0, result.err
    assert link.is_symlink() and names(real) == ["existing", "site-0"]


# -- 10: a full disk, a read-only folder, a broken URL: one line -----------------------------------


def test_import_onto_a_full_disk_is_one_line_and_the_config_untouched(tmpfs: Path, cli) -> None:
    config = tmpfs / "feeds.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    filler = tmpfs / "filler"
    with filler.open("wb", buffering=0) as out, pytest.raises(OSError, match="No space left"):
        while True:  # fill the file system, then leave it 8 KiB
            out.write(b"\0" * 4096)
    os.truncate(filler, filler.stat().st_size - 8192)
    result = cli("import", str(opml(tmpfs.parent, 500)), "--config", str(config))
    assert result.code == 2
    assert result.err == f"{config}: cannot write the config: no space left on the device\n"
    assert config.read_text(encoding="utf-8") == CONFIG
    assert sorted(p.name for p in tmpfs.iterdir()) == [".feeds.yaml.lock", "feeds.yaml", "filler"]


@pytest.mark.parametrize("command", ["import", "add"])
def test_an_edit_in_a_read_only_folder_is_one_line(tmpfs: Path, server: FaultServer, cli, command: str) -> None:
    config = tmpfs / "feeds.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    subprocess.run(["mount", "-o", "remount,ro", str(tmpfs)], check=True, timeout=30)
    feed = server.route("/feed.xml", respond(200, rss([Item("One", "http://example.com/1")]), "application/rss+xml"))
    given = str(opml(tmpfs.parent, 1)) if command == "import" else feed
    result = cli(command, given, "--config", str(config))
    assert result.code == 2
    assert result.err == f"{config}: cannot write the config: {tmpfs / '.feeds.yaml.lock'}: Read-only file system\n"
    assert config.read_text(encoding="utf-8") == CONFIG


def test_add_of_an_unclosed_ipv6_literal_is_one_line(config: Path, cli) -> None:
    result = cli("add", "http://[::1", "--config", str(config))
    assert (result.code, result.out) == (2, "")
    assert result.err == "http://[::1: not an http:// or https:// URL (or rsshub:/route)\n"
    assert config.read_text(encoding="utf-8") == CONFIG


# -- 11: control characters ----------------------------------------------------------------------


@pytest.mark.parametrize(("args", "message"), [
    (["--category", "bell\x07"], "--category: 'bell\\x07' holds a control character ('\\x07'); remove it\n"),
    (["--name", "a\x1bb"], "--name: 'a\\x1bb' holds a control character ('\\x1b'); remove it\n"),
])
def test_add_refuses_control_characters_before_any_request(config: Path, cli, args: list[str],
                                                            message: str) -> None:
    result = cli("add", "http://127.0.0.1:9/feed.xml", *args, "--config", str(config))
    assert (result.code, result.err) == (2, message)
    assert config.read_text(encoding="utf-8") == CONFIG


def test_import_cleans_control_characters_from_folder_titles_and_export_is_xml(config: Path, cli) -> None:
    """A folder title may carry a line break as `&#10;` or a C1 control (both legal XML): the
    category gets a space instead; the export of the result parses as XML."""
    path = config.parent / "odd.opml"
    path.write_text('<opml version="2.0"><body><outline text="Two&#10;lines\u0085here">'
                    '<outline text="x" xmlUrl="https://x.example/feed" htmlUrl="https://x.example/\u0086"/>'
                    '<outline text="y" xmlUrl="https://y.example/\u0086feed"/>'
                    '</outline></body></opml>', encoding="utf-8")
    result = cli("import", str(path), "--config", str(config))
    assert result.code == 0, result.err
    assert result.out.splitlines()[:-1] == ["unusable 'y': xmlUrl holds a control character"]
    [_, feed] = load_settings(config).feeds
    assert (feed.name, feed.categories, feed.site) == ("x", ("Two lines here",), None)
    exported = cli("export", "--config", str(config))
    from defusedxml.ElementTree import fromstring

    assert fromstring(exported.out.encode()).find(".//outline[@text='Two lines here']") is not None


# -- 7: YAML 1.1 words as categories ---------------------------------------------------------------


def test_an_opml_folder_named_no_imports_as_the_string(config: Path, cli) -> None:
    path = config.parent / "no.opml"
    path.write_text('<opml version="2.0"><body><outline text="No"><outline text="12:30">'
                    '<outline text="On" xmlUrl="https://on.example/feed"/></outline></outline></body></opml>',
                    encoding="utf-8")
    result = cli("import", str(path), "--config", str(config))
    assert result.code == 0, result.err
    [_, feed] = load_settings(config).feeds
    assert (feed.name, feed.categories) == ("on", ("No", "12:30"))
    assert yaml.safe_load(config.read_text(encoding="utf-8"))["feeds"][1]["categories"] == ["No", "12:30"]
    assert cli("check", "--config", str(config)).code == 0


def test_a_config_with_tabs_the_loader_takes_can_be_edited(tmp_path: Path, cli) -> None:
    config = tmp_path / "feeds.yaml"
    config.write_text("archive_dir:\tarchive\nfeeds:\n  - name:\texisting\t# tabbed\n"
                      "    url: https://old.example/feed\n", encoding="utf-8")
    assert cli("check", "--config", str(config)).code == 0
    result = cli("import", str(opml(tmp_path, 1)), "--config", str(config))
    assert result.code == 0, result.err
    assert [f.name for f in load_settings(config).feeds] == ["existing", "site-0"]
    assert "# tabbed" in config.read_text(encoding="utf-8")


# -- 14: the file's own bytes --------------------------------------------------------------------


KEPT = {
    "crlf": CONFIG.replace("\n", "\r\n"),
    "bom": "\ufeff" + CONFIG,
    "unused-anchor": "defaults: &shared\n  interval: 1h\n" + CONFIG,
    "four-space-list": "iframe_hosts:\n    - www.youtube.com\n" + CONFIG,
    "four-space-categories": CONFIG + "    categories:\n        - News\n",
    "flow-list": "feeds: [{name: existing, url: 'https://old.example/feed'}]  # one line\n",
}


@pytest.mark.parametrize("text", KEPT.values(), ids=KEPT.keys())
def test_an_edit_keeps_the_files_own_bytes(config: Path, cli, text: str) -> None:
    config.write_bytes(text.encode("utf-8"))
    result = cli("import", str(opml(config.parent, 1)), "--config", str(config))
    assert result.code == 0, result.err
    new = config.read_bytes().decode("utf-8")
    if "[" in text:
        assert new == text.replace("}]", "}, {name: site-0, url: https://site0.example/feed, title: Site 0}]"), new
    else:
        assert new.startswith(text), new
    assert [f.name for f in load_settings(config).feeds] == ["existing", "site-0"]
    if "\r\n" in text:
        assert "\n" not in new.replace("\r\n", "")


# -- 13: import into a pipe closed early -----------------------------------------------------------


def test_import_into_a_pipe_closed_early_saves_first(config: Path) -> None:
    """`feed-archiver import FILE | head`: 3,000 lines of report, the reader leaves after a few
    bytes; the 10 new feeds are in the config all the same."""
    known = "".join(f"  - name: old-{n}\n    url: https://site{n}.example/feed\n" for n in range(3000))
    config.write_text(CONFIG + known, encoding="utf-8")
    proc = subprocess.Popen([sys.executable, "-m", "crawler", "import", str(opml(config.parent, 3010)),
                             "--config", str(config)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.read(8) == b"skipped "
    proc.stdout.close()  # far more than a pipe holds is still to come
    err = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.wait(timeout=WAIT) == 141
    assert "Traceback" not in err
    assert names(config)[-10:] == [f"site-{n}" for n in range(3000, 3010)]
