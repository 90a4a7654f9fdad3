"""Every config mistake a user can make: one line naming file, line and key; exit status 2; no traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import write_config
from tests.ports import refused_url

GOOD_FEED = "  - name: one\n    url: https://example.com/feed.xml\n"

CASES = {
    "unknown-top-key": ("archive_dirr: x\nfeeds:\n" + GOOD_FEED, 1, "archive_dirr", "unknown key"),
    "unknown-feed-key": ("feeds:\n  - name: one\n    url: https://example.com/f\n    intervall: 5m\n", 4,
                         "feeds[0].intervall", "unknown key"),
    "bad-interval": ("feeds:\n  - name: one\n    url: https://example.com/f\n    interval: soon\n", 4,
                     "feeds[0].interval", "not a duration"),
    "zero-interval": ("defaults:\n  interval: 0s\nfeeds:\n" + GOOD_FEED, 2, "defaults.interval", "longer than zero"),
    "bad-url": ("feeds:\n  - name: one\n    url: ftp://example.com/f\n", 3, "feeds[0].url", "not an http"),
    "bad-cron": ("feeds:\n  - name: one\n    url: https://e.com/f\n    cron: every day\n", 4, "feeds[0].cron",
                 "crontab"),
    "bad-choice": ("defaults:\n  full_text: sometimes\nfeeds:\n" + GOOD_FEED, 2, "defaults.full_text", "auto"),
    "duplicate-name": ("feeds:\n" + GOOD_FEED + GOOD_FEED, 4, "feeds[1].name", "duplicate feed name"),
    "url-and-route": ("feeds:\n  - name: one\n    url: https://e.com/f\n    route: /x\n", 2, "feeds[0]",
                      "exactly one of url or route"),
    "no-feeds": ("archive_dir: x\n", 1, "feeds", "is required"),
    "duplicate-key": ("feeds:\n" + GOOD_FEED + "feeds: []\n", 4, "feeds", "appears twice"),
    "bad-yaml": ("feeds:\n  - name: [unclosed\n", 3, "", "invalid YAML"),
    "not-a-mapping": ("- just\n- a list\n", 1, "", "must be a mapping"),
    "header-value": ("feeds:\n  - name: one\n    url: https://e.com/f\n    headers:\n      X-Token: \"秘密\"\n", 4,
                     "feeds[0].headers", "printable ASCII"),
    "header-line-break": ("defaults:\n  headers:\n    Cookie: \"a=1\\r\\nX-Evil: 1\"\nfeeds:\n" + GOOD_FEED, 2,
                          "defaults.headers", "printable ASCII"),
    "header-name": ("feeds:\n  - name: one\n    url: https://e.com/f\n    headers:\n      \"X Token\": a\n", 4,
                    "feeds[0].headers", "not a header name"),
    "user-agent": ("http:\n  user_agent: \"Archivist ☃\"\nfeeds:\n" + GOOD_FEED, 2, "http.user_agent",
                   "printable ASCII"),
    "output-format": ("output:\n  format: wordpress\nfeeds:\n" + GOOD_FEED, 2, "output.format", "'hugo'"),
    "output-body": ("output:\n  format: hugo\n  body: rst\nfeeds:\n" + GOOD_FEED, 3, "output.body", "'markdown'"),
    "output-key": ("output:\n  formats: hugo\nfeeds:\n" + GOOD_FEED, 2, "output.formats", "unknown key"),
    "obsidian-html": ("output:\n  format: obsidian\n  body: html\nfeeds:\n" + GOOD_FEED, 3, "output.body",
                      "no HTML"),
    "wrong-type": ("feeds:\n  - name: one\n    url: https://e.com/f\n    images: maybe\n", 4, "feeds[0].images",
                   "boolean"),
}


@pytest.mark.parametrize(("text", "line", "key", "problem"), CASES.values(), ids=CASES.keys())
def test_config_errors_are_one_line_with_file_line_and_key(tmp_path: Path, cli, text, line, key, problem) -> None:
    path = tmp_path / "feeds.yaml"
    path.write_text(text, encoding="utf-8")

    for command in ("check", "crawl"):
        result = cli(command, "--config", str(path))

        assert result.code == 2
        [message] = result.err.strip().splitlines()
        prefix = f"{path}:{line}: {key}: " if key else f"{path}:{line}: "
        assert message.startswith(prefix), message
        assert problem in message
        assert not list(tmp_path.glob("archive*")), "a bad config must not touch the disk"


def test_missing_config_file(tmp_path: Path, cli) -> None:
    result = cli("check", "--config", str(tmp_path / "nope.yaml"))
    assert result.code == 2
    assert result.err.strip() == f"{tmp_path / 'nope.yaml'}: no such config file"


def test_unwritable_archive_dir_is_a_config_error(tmp_path: Path, cli) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    path = tmp_path / "feeds.yaml"
    path.write_text("archive_dir: a-file/archive\nfeeds:\n" + GOOD_FEED, encoding="utf-8")

    result = cli("crawl", "--config", str(path))

    assert result.code == 2
    assert result.err.strip().startswith(f"{path}:1: archive_dir: cannot create")


def test_check_prints_the_resolved_feeds(tmp_path: Path, cli) -> None:
    path = tmp_path / "feeds.yaml"
    path.write_text(
        "rsshub: https://rsshub.example.org/\ndefaults:\n  interval: 2h\nfeeds:\n"
        "  - name: aljazeera-news\n    route: /aljazeera/news\n    categories: [新媒体, Aljazeera 半岛网, 新闻]\n"
        "  - name: other\n    url: https://example.com/feed\n    cron: '*/15 * * * *'\n",
        encoding="utf-8",
    )

    result = cli("check", "--config", str(path))

    assert result.code == 0
    assert "https://rsshub.example.org/aljazeera/news" in result.out
    assert "every 2h" in result.out and "cron */15 * * * *" in result.out
    assert "valid, 2 feeds" in result.out


def test_example_config_is_valid(cli) -> None:
    example = Path(__file__).parents[2] / "config" / "feeds.yaml"
    result = cli("check", "--config", str(example))
    assert result.code == 0, result.err
    assert "https://rsshub.app/aljazeera/news" in result.out


def test_python_dash_m_is_the_same_program(tmp_path: Path) -> None:
    path = tmp_path / "feeds.yaml"
    path.write_text("feeds:\n  - name: x\n    url: nope\n", encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "crawler", "check", "--config", str(path)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.startswith(f"{path}:3: feeds[0].url: ")
    assert "Traceback" not in result.stderr


def test_usage_errors_exit_2(cli, capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        cli("crawl", "--no-such-flag")
    assert exc.value.code == 2


def test_status_into_a_pipe_closed_early_ends_quietly(tmp_path: Path) -> None:
    """`feed-archiver status --json | head -1`: the reader leaves early; no traceback."""
    feeds = [{"name": f"feed-{n}", "url": f"http://127.0.0.1:9/{n}.xml"} for n in range(2000)]
    config = write_config(tmp_path, feeds)
    proc = subprocess.Popen([sys.executable, "-m", "crawler", "status", "--config", str(config), "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.read(10) == b'[\n  {\n    '
    proc.stdout.close()  # more than a pipe holds is still to come: the next write meets a closed pipe
    err = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.wait(timeout=60) == 141
    assert "Traceback" not in err and "BrokenPipeError" not in err


def test_check_refuses_the_archive_dir_crawl_refuses_and_leaves_no_folder(tmp_path: Path, cli) -> None:
    path = tmp_path / "feeds.yaml"
    path.write_text("archive_dir: /proc/forbidden\nfeeds:\n" + GOOD_FEED, encoding="utf-8")
    (tmp_path / "ok").mkdir()
    good = write_config(tmp_path / "ok", [{"name": "one", "url": "https://example.com/f"}])

    crawl, check = cli("crawl", "--config", str(path)), cli("check", "--config", str(path))

    assert crawl.code == check.code == 2
    assert check.err == crawl.err and check.err.startswith(f"{path}:1: archive_dir: cannot create /proc/forbidden")
    assert cli("check", "--config", str(good)).code == 0
    assert sorted(p.name for p in (tmp_path / "ok").iterdir()) == ["feeds.yaml"], "check made no folder"


def test_global_options_may_follow_the_command(tmp_path: Path, cli) -> None:
    path = tmp_path / "feeds.yaml"
    path.write_text("feeds:\n  - name: x\n    url: nope\n", encoding="utf-8")

    result = cli("check", "--config", str(path), "--log-format", "json", "--log-level", "debug")

    assert result.code == 2
    [line] = result.err.strip().splitlines()
    error = json.loads(line)
    assert (error["level"], error["file"], error["line"], error["key"]) == ("error", str(path), 3, "feeds[0].url")
    assert error["message"].startswith(f"{path}:3: feeds[0].url: ")


def test_one_feed_is_one_feed(tmp_path: Path, cli) -> None:
    config = write_config(tmp_path, [{"name": "one", "url": "https://example.com/f"}])
    assert cli("check", "--config", str(config)).out.splitlines()[-1] == f"{config}: valid, 1 feed"


def test_status_of_one_feed_shows_every_field_whole(tmp_path: Path, cli) -> None:
    config = write_config(tmp_path, [{"name": "one", "url": "https://example.com/f"},
                                     {"name": "two", "url": "https://example.com/g"}])

    result = cli("status", "one", "--config", str(config))
    unknown = cli("status", "three", "--config", str(config))

    assert result.code == 0
    fields = [line.split(None, 1) for line in result.out.splitlines()]
    assert ["url", "https://example.com/f"] in fields and ["state", "new"] in fields and ["name", "one"] in fields
    assert "example.com/g" not in result.out
    assert unknown.code == 2 and "no feed named 'three'" in unknown.err


def test_json_log_lines_carry_the_feed_and_url_as_fields(tmp_path: Path, cli) -> None:
    url = refused_url()
    config = write_config(tmp_path, [{"name": "gone", "url": url}], http={"retries": 0})

    result = cli("crawl", "--config", str(config), "--log-format", "json")

    assert result.code == 1
    lines = [json.loads(line) for line in result.err.splitlines()]
    [failed] = [line for line in lines if line["level"] == "error" and line.get("feed") == "gone"]
    assert failed["url"] == url and failed["logger"] == "crawler.pipeline"
    assert failed["message"].startswith(f"feed=gone url={url} failed: ")
