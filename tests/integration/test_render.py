"""`feed-archiver render`: the whole archive in another format, from the archive alone."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.conftest import archived_files, snapshot, write_config
from tests.faults import FaultServer
from tests.integration.test_hexo import images_in
from tests.integration.test_readers import (
    BUILD_TIMEOUT,
    crawl_twice,
    front_and_body,
    require_program,
    serve_feeds,
)


def hexo_archive(tmp_path: Path, server: FaultServer, cli) -> Path:
    news_url, tech_url, _ = serve_feeds(server)
    return crawl_twice(cli, tmp_path, news_url, tech_url, archive_dir=str(tmp_path / "archive"))


def test_render_writes_every_entry_in_another_format_and_a_second_run_writes_nothing(
        tmp_path: Path, server: FaultServer, cli) -> None:
    config = hexo_archive(tmp_path, server, cli)
    archive = tmp_path / "archive"
    before = snapshot(archive)
    asked = len(server.requests)
    out = tmp_path / "vault" / "News"

    result = cli("render", "--config", str(config), "--format", "obsidian", "--to", str(out))

    assert result.code == 0, result.err
    assert "rendered 5 entries" in result.out
    assert snapshot(archive) == before, "the archive is only read"
    assert len(server.requests) == asked, "no network"
    notes = [p for p in archived_files(out)]
    assert len(notes) == 5
    stems = {p.stem for p in notes}
    assert "拜登和普京的通话就乌克兰危机未能达成共识？" in stems and "No picture just text" in stems
    revised = [p for p in notes if "updated:" in p.read_text(encoding="utf-8")]
    assert [p.stem for p in revised] == ["No picture just text"]
    assert "Correction: something after all." in revised[0].read_text(encoding="utf-8"), "the latest revision"
    images = 0
    for note in notes:
        _, body = front_and_body(note)
        assert "<div>" not in body and "<img" not in body
        for target in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", body):
            assert (note.parent / target).resolve().is_file(), target
            images += 1
    assert images == 4
    first = snapshot(out)

    again = cli("render", "--config", str(config), "--format", "obsidian", "--to", str(out))

    assert again.code == 0, again.err
    assert "0 files written, 0 images copied" in again.out
    assert snapshot(out) == first


def test_a_render_for_hugo_builds(tmp_path: Path, server: FaultServer, cli) -> None:
    hugo = require_program("hugo")
    config = hexo_archive(tmp_path, server, cli)
    site = tmp_path / "site"
    (site / "layouts" / "_default").mkdir(parents=True)
    (site / "config.yaml").write_text('baseURL: "http://example.com/"\ndisableKinds: ["taxonomy", "term", "RSS", '
                                      '"sitemap", "robotsTXT", "404"]\n', encoding="utf-8")
    (site / "layouts" / "_default" / "single.html").write_text("<h1>{{ .Title }}</h1>{{ .Content }}\n")
    (site / "layouts" / "_default" / "list.html").write_text("{{ .Title }}\n")

    result = cli("render", "--config", str(config), "--format", "hugo", "--to", str(site / "content" / "archive"))
    assert result.code == 0, result.err
    built = subprocess.run([hugo, "--source", str(site), "--destination", str(site / "public")],
                           capture_output=True, text=True, timeout=BUILD_TIMEOUT)
    assert built.returncode == 0, built.stdout + built.stderr
    pages = [p for p in (site / "public" / "archive").rglob("index.html") if p.parent != site / "public" / "archive"]
    assert len(pages) == 5
    shown = 0
    for page in pages:
        html = page.read_text(encoding="utf-8")
        assert "raw HTML omitted" not in html
        for image in images_in(html):
            assert (image["src"] or "").startswith("/archive/images/")
            assert (site / "public" / (image["src"] or "").lstrip("/")).is_file(), image
            shown += 1
    assert shown == 4


@pytest.mark.parametrize("where", ["not-empty", "inside-archive", "holds-archive"])
def test_render_refuses_a_folder_it_must_not_write_to(tmp_path: Path, server: FaultServer, cli, where: str) -> None:
    config = hexo_archive(tmp_path, server, cli)
    target = {"not-empty": tmp_path / "busy", "inside-archive": tmp_path / "archive" / "out",
              "holds-archive": tmp_path}[where]
    if where == "not-empty":
        target.mkdir()
        (target / "mine.txt").write_text("keep")
    before = snapshot(tmp_path)

    result = cli("render", "--config", str(config), "--format", "hugo", "--to", str(target))

    assert result.code == 2
    [line] = result.err.strip().splitlines()
    assert line.startswith("render: --to ")
    assert snapshot(tmp_path) == before, "nothing written"


def test_render_without_a_state_store_exits_3(tmp_path: Path, cli) -> None:
    config = write_config(tmp_path, [{"name": "f", "url": "http://127.0.0.1:9/feed"}])
    result = cli("render", "--config", str(config), "--format", "jekyll", "--to", str(tmp_path / "out"))
    assert result.code == 3
    assert len(result.err.strip().splitlines()) == 1 and "state store" in result.err
    assert not (tmp_path / "out").exists()


def test_render_rejects_an_unknown_format_and_html_notes(tmp_path: Path, cli) -> None:
    config = write_config(tmp_path, [{"name": "f", "url": "http://127.0.0.1:9/feed"}])
    with pytest.raises(SystemExit) as exited:
        cli("render", "--config", str(config), "--format", "wordpress", "--to", str(tmp_path / "out"))
    assert exited.value.code == 2
    result = cli("render", "--config", str(config), "--format", "obsidian", "--body", "html", "--to",
                 str(tmp_path / "out"))
    assert result.code == 2 and "no HTML" in result.err


def test_a_render_for_jekyll_builds_with_its_images_at_the_site_root(tmp_path: Path, server: FaultServer,
                                                                      cli) -> None:
    from tests.integration.test_readers import JEKYLL_LAYOUT

    jekyll = require_program("jekyll")
    config = hexo_archive(tmp_path, server, cli)
    site = tmp_path / "site"
    (site / "_layouts").mkdir(parents=True)
    (site / "_config.yml").write_text("title: Archive\ntimezone: UTC\ndefaults:\n  - scope: {path: \"\"}\n"
                                      "    values: {layout: post}\n", encoding="utf-8")
    (site / "_layouts" / "post.html").write_text(JEKYLL_LAYOUT, encoding="utf-8")

    result = cli("render", "--config", str(config), "--format", "jekyll", "--to", str(site / "_posts"))

    assert result.code == 0, result.err
    assert len(list((site / "images").iterdir())) == 3
    built = subprocess.run([jekyll, "build", "--source", str(site), "--destination", str(site / "_site")],
                           capture_output=True, text=True, timeout=BUILD_TIMEOUT)
    assert built.returncode == 0 and "Warning" not in built.stdout + built.stderr, built.stdout + built.stderr
    pages = [p for p in (site / "_site").rglob("*.html") if 'name="source"' in p.read_text(encoding="utf-8")]
    assert len(pages) == 5
    shown = 0
    for page in pages:
        for image in images_in(page.read_text(encoding="utf-8")):
            assert (image["src"] or "").startswith("/images/")
            assert (site / "_site" / (image["src"] or "").lstrip("/")).is_file(), image
            shown += 1
    assert shown == 4
