"""The archive published by each format's own reader: Hugo and Jekyll build it, an Obsidian vault reads it.

Each test crawls the same local feeds (a summary-only item whose page is fetched, images, a CJK
title, an article holding `{{ x }}` and `{% raw %}`, an item revised on the second poll) into a
fresh site and builds it with the real program, Debian's `hugo` and `jekyll` (`.ci/run` installs
them): every archived entry becomes a page with the title, date and categories of its front matter,
every `<img>` of the built pages is a file of the built site, no "raw HTML omitted", no template
error, and `{{ x }}` is shown as it is. Obsidian has no command line: its notes must parse as
CommonMark, carry properties of Obsidian's own types only, and hold no HTML; every image link
is a file of the vault. Without the programs these tests are skipped on a developer's machine and
fail in CI (`CI=true`), which must run them.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import replace
from datetime import UTC, datetime
from html import unescape
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
import yaml

from tests import faults
from tests.conftest import Item, archived_files, rss, write_config
from tests.faults import FaultServer
from tests.integration.test_hexo import GIF, JPEG, PNG, hexo_modules, images_in  # noqa: F401  (a fixture)

BUILD_TIMEOUT = 120


def require_program(name: str) -> str:
    """The program's path; else skipped on a developer's machine, failed in CI (which must run it)."""
    found = shutil.which(name)
    if found is not None:
        return found
    reason = f"{name} is not installed (apt-get install {name}; .ci/run installs it)"
    if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
        pytest.fail(reason + " (CI must run this test)", pytrace=False)
    pytest.skip(reason)


ARTICLE_PAGE = """<!doctype html><html><head><title>The long story</title></head><body>
<nav><a href="/">Home</a> <a href="/about">About</a></nav>
<article><h1>The long story</h1>
<p>This is the first paragraph of the long story, which the feed only summarised in one line.</p>
<p>It goes on with a second paragraph that explains the matter in considerably more detail than a summary.</p>
<figure><img src="{image}" alt="the harbour at dawn"><figcaption>The harbour at dawn</figcaption></figure>
<p>A third paragraph closes the story with a quote: "nothing lasts but the archive".</p>
<ul><li>one point<ul><li>a nested point</li></ul></li><li>another point</li></ul>
<table><tr><th>year</th><th>ships</th></tr><tr><td>2023</td><td>12</td></tr></table>
</article><footer>Copyright</footer></body></html>"""


def serve_feeds(server: FaultServer) -> tuple[str, str, dict[str, bytes]]:
    originals = {server.route("/img/a.jpg", faults.respond(200, JPEG, "image/jpeg")): JPEG,
                 server.route("/img/b.png", faults.respond(200, PNG, "image/png")): PNG,
                 server.route("/img/c.gif", faults.respond(200, GIF, "image/gif")): GIF}
    a, b, c = originals
    page = server.route("/story", faults.respond(200, ARTICLE_PAGE.format(image=b).encode(), "text/html"))
    news = [
        Item('He said: "yes" — it\'s done', server.url("/n/1"),
             f'<p>First paragraph.</p>\n<figure><img src="{a}" alt="a harbour"><figcaption>a harbour</figcaption>'
             f'</figure>\n<p>Watch: <iframe src="https://www.youtube.com/embed/xyz" title="the video"></iframe></p>',
             published=datetime(2024, 3, 1, 8, 30, tzinfo=UTC)),
        Item("拜登和普京的通话就乌克兰危机未能达成共识？", server.url("/n/2"),
             f'<p>同一张图片：</p>\n<p><img src="{a}" alt="港口"></p>\n<p>另一张：<img src="{c}" alt="码头"></p>',
             published=datetime(2022, 2, 13, 9, 12, 25, tzinfo=UTC)),
        Item("The long story", page, "<p>A summary…</p>", published=datetime(2024, 2, 2, 2, 2, 2, tzinfo=UTC)),
    ]
    tech = [
        Item("Templates: {{ x }} and {% raw %}", server.url("/t/1"),
             "<p>Template-looking text: {{ x }} and {% raw %} and {{< shortcode >}} and {: .klass}, "
             "<code>inline {{ z }} {% if %}</code>.</p>"
             "<pre><code>code {{ y }} {{< z >}} {{% w %}}</code></pre>",
             published=datetime(2023, 12, 31, 23, 59, 59, tzinfo=UTC)),
        Item("No picture: just text", server.url("/t/2"), "<p>Nothing to see.</p>",
             published=datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)),
    ]
    news_url = server.route("/news.xml", faults.respond(200, rss(news), "application/rss+xml"))
    corrected = [tech[0], replace(tech[1], description="<p>Nothing to see. Correction: something after all.</p>")]
    tech_url = server.route("/tech.xml", faults.sequence(faults.respond(200, rss(tech), "application/rss+xml"),
                                                         faults.respond(200, rss(corrected), "application/rss+xml")))
    return news_url, tech_url, originals


def crawl_twice(cli, tmp_path: Path, news_url: str, tech_url: str, **top: Any) -> Path:
    config = write_config(
        tmp_path,
        [{"name": "news", "url": news_url, "categories": ["新媒体", "Aljazeera 半岛网"]},
         {"name": "tech", "url": tech_url, "categories": ["Tech: News"]}],
        state=f"sqlite:///{tmp_path}/state.sqlite", defaults={"full_text": "auto", "full_text_min_chars": 100}, **top,
    )
    first = cli("crawl", "--config", str(config))
    assert first.code == 0, first.err
    second = cli("crawl", "--config", str(config))
    assert second.code == 0, second.err
    return config


def front_and_body(path: Path) -> tuple[dict[str, Any], str]:
    text = path.read_text(encoding="utf-8")
    assert text.startswith("---\n")
    _, front, body = text.split("---\n", 2)
    return yaml.safe_load(front), body


def entries_of(archive: Path) -> list[Path]:
    found = [p for p in archived_files(archive) if not p.relative_to(archive).parts[0].startswith(".")]
    assert len(found) == 5, found
    return found


def check_built_images(page: str, public: Path, originals: dict[str, bytes], where: str) -> int:
    found = images_in(page)
    for image in found:
        src = image["src"] or ""
        assert src.startswith("/images/"), f"{where}: {src}"
        assert (public / unquote(src).lstrip("/")).is_file(), f"{where}: {src} is no file of the built site"
    return len(found)


def test_hugo_builds_every_entry_with_its_front_matter_and_every_image(tmp_path: Path, server: FaultServer,
                                                                       cli) -> None:
    hugo = require_program("hugo")
    site = tmp_path / "site"
    (site / "layouts" / "_default").mkdir(parents=True)
    (site / "config.yaml").write_text(
        'baseURL: "http://example.com/"\ntitle: Archive\n'
        'disableKinds: ["taxonomy", "term", "RSS", "sitemap", "robotsTXT", "404"]\n', encoding="utf-8")
    (site / "layouts" / "_default" / "single.html").write_text(
        '<html><head><meta name="source" content="{{ .File.Path }}"></head><body>'
        '<h1 id="title">{{ .Title }}</h1><time id="date">{{ .Date.UTC.Format "2006-01-02T15:04:05Z07:00" }}</time>'
        '<time id="lastmod">{{ .Lastmod.UTC.Format "2006-01-02T15:04:05Z07:00" }}</time>'
        '<ul id="cats">{{ range .Params.categories }}<li>{{ . }}</li>{{ end }}</ul>'
        '<main>{{ .Content }}</main></body></html>\n', encoding="utf-8")
    (site / "layouts" / "_default" / "list.html").write_text("<html><body>{{ .Title }}</body></html>\n")
    archive = site / "content" / "archive"
    news_url, tech_url, originals = serve_feeds(server)
    crawl_twice(cli, tmp_path, news_url, tech_url, archive_dir=str(archive), images_dir=str(site / "static" / "images"),
                image_url_prefix="/images/", output={"format": "hugo"})

    built = subprocess.run([hugo, "--source", str(site), "--destination", str(site / "public")],
                           capture_output=True, text=True, timeout=BUILD_TIMEOUT)
    assert built.returncode == 0, built.stdout + built.stderr
    assert "ERROR" not in built.stdout + built.stderr, built.stdout + built.stderr
    pages = {}
    for html_file in (site / "public").rglob("index.html"):
        text = html_file.read_text(encoding="utf-8")
        if match := re.search(r'<meta name="source" content="([^"]*)">', text):
            pages[unescape(match.group(1))] = text
    images = 0
    revised = []
    for path in entries_of(archive):
        front, body = front_and_body(path)
        assert list(front)[:2] == ["title", "date"]
        page = pages[f"archive/{path.relative_to(archive).as_posix()}"]
        assert unescape(re.search(r'<h1 id="title">(.*?)</h1>', page).group(1)) == front["title"]
        assert re.search(r'<time id="date">(.*?)</time>', page).group(1) == front["date"].strftime("%Y-%m-%dT%H:%M:%SZ")
        assert [unescape(c) for c in re.findall(r"<li>(.*?)</li>", re.search(r'<ul id="cats">(.*?)</ul>', page)
                                                .group(1))] == front["categories"]
        if "lastmod" in front:
            revised.append(front["title"])
            assert re.search(r'<time id="lastmod">(.*?)</time>', page).group(1) == \
                front["lastmod"].strftime("%Y-%m-%dT%H:%M:%SZ")
        assert "raw HTML omitted" not in page
        images += check_built_images(page, site / "public", originals, path.name)
        assert len(images_in(page)) == len(front["images"]) or len(set(front["images"])) <= len(images_in(page))
        if front["title"].startswith("Templates"):
            main = unescape(re.search(r"<main>(.*)</main>", page, re.DOTALL).group(1))
            assert "{{ x }}" in main and "{% raw %}" in main and "{{< shortcode >}}" in main, main
            assert "code {{ y }}" in main and "inline {{ z }} {% if %}" in main
    assert revised == ["No picture: just text"]
    assert images == 4  # a; a and c; b (on the long story's page); the iframe is a link, not HTML
    assert len(list((archive / ".revisions").rglob("*.md"))) == 1


JEKYLL_LAYOUT = """<html><head><meta name="source" content="{{ page.path }}"></head><body>
<h1 id="title">{{ page.title }}</h1><time id="date">{{ page.date | date: "%Y-%m-%d %H:%M:%S %z" }}</time>
<time id="lastmod">{{ page.last_modified_at }}</time>
<ul id="cats">{% for c in page.categories %}<li>{{ c }}</li>{% endfor %}</ul>
<main>{{ content }}</main></body></html>
"""


def test_jekyll_builds_every_entry_with_its_front_matter_and_every_image(tmp_path: Path, server: FaultServer,
                                                                         cli) -> None:
    jekyll = require_program("jekyll")
    site = tmp_path / "site"
    (site / "_layouts").mkdir(parents=True)
    (site / "_config.yml").write_text(
        "title: Archive\ntimezone: UTC\ndefaults:\n  - scope: {path: \"\"}\n    values: {layout: post}\n",
        encoding="utf-8")
    (site / "_layouts" / "post.html").write_text(JEKYLL_LAYOUT, encoding="utf-8")
    archive = site / "_posts"
    news_url, tech_url, originals = serve_feeds(server)
    crawl_twice(cli, tmp_path, news_url, tech_url, archive_dir=str(archive), images_dir=str(site / "images"),
                image_url_prefix="/images/", output={"format": "jekyll"})

    built = subprocess.run([jekyll, "build", "--source", str(site), "--destination", str(site / "_site")],
                           capture_output=True, text=True, timeout=BUILD_TIMEOUT, env={**os.environ, "LANG": "C.UTF-8"})
    assert built.returncode == 0, built.stdout + built.stderr
    assert "Liquid" not in built.stdout + built.stderr and "Error" not in built.stdout + built.stderr, \
        built.stdout + built.stderr
    pages = {}
    for html_file in (site / "_site").rglob("*.html"):
        text = html_file.read_text(encoding="utf-8")
        if match := re.search(r'<meta name="source" content="([^"]*)">', text):
            pages[unescape(match.group(1))] = text
    images = 0
    revised = []
    for path in entries_of(archive):
        assert re.fullmatch(r"\d{4}-\d\d-\d\d-.+\.md", path.name), path.name
        front, body = front_and_body(path)
        assert front["render_with_liquid"] is False
        page = pages[f"_posts/{path.relative_to(archive).as_posix()}"]
        assert unescape(re.search(r'<h1 id="title">(.*?)</h1>', page).group(1)) == front["title"]
        assert re.search(r'<time id="date">(.*?)</time>', page).group(1) == front["date"]
        assert [unescape(c) for c in re.findall(r"<li>(.*?)</li>", re.search(r'<ul id="cats">(.*?)</ul>', page)
                                                .group(1))] == front["categories"]
        if "last_modified_at" in front:
            revised.append(front["title"])
        images += check_built_images(page, site / "_site", originals, path.name)
        if front["title"].startswith("Templates"):
            main = unescape(re.search(r"<main>(.*)</main>", page, re.DOTALL).group(1))
            assert "{{ x }}" in main and "{% raw %}" in main and "{: .klass}" in main, main
            shown = main.replace("\u2060", "")  # the word joiners that keep Liquid's excerpt cutter off code
            assert "code {{ y }}" in shown and "inline {{ z }} {% if %}" in shown
        if front["title"].startswith("He said"):
            assert '<iframe src="https://www.youtube.com/embed/xyz"' in page  # Jekyll publishes HTML: kept
    assert revised == ["No picture: just text"]
    assert images == 4


OBSIDIAN_DATE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d")
OBSIDIAN_TAG = re.compile(r"[\w/-]*[^\W\d][\w/-]*")


def test_obsidian_notes_are_commonmark_with_typed_properties_and_local_images(tmp_path: Path, server: FaultServer,
                                                                               cli) -> None:
    from markdown_it import MarkdownIt

    vault = tmp_path / "vault"
    archive = vault / "News"
    news_url, tech_url, originals = serve_feeds(server)
    crawl_twice(cli, tmp_path, news_url, tech_url, archive_dir=str(archive), images_dir=str(vault / "attachments"),
                output={"format": "obsidian"})
    parser = MarkdownIt("commonmark").enable("table")
    revised = []
    images = 0
    for path in entries_of(archive):
        text = path.read_text(encoding="utf-8")
        _, raw_front, body = text.split("---\n", 2)
        front = yaml.load(raw_front, Loader=yaml.BaseLoader)  # as Obsidian reads it: no YAML 1.1 timestamps
        assert set(front) <= {"tags", "aliases", "created", "updated", "source", "author", "feed", "guid"}
        assert all(isinstance(t, str) and OBSIDIAN_TAG.fullmatch(t) for t in front["tags"]), front["tags"]
        assert isinstance(front["aliases"], list)
        title = front["aliases"][0] if front["aliases"] else path.stem
        assert OBSIDIAN_DATE.fullmatch(front["created"])
        if "updated" in front:
            assert OBSIDIAN_DATE.fullmatch(front["updated"])
            revised.append(title)
        assert all(isinstance(front[k], str) for k in ("source", "author", "feed", "guid"))
        tokens = parser.parse(body)
        stack = list(tokens)
        while stack:
            token = stack.pop()
            assert token.type not in ("html_block", "html_inline"), f"{path.name}: HTML left: {token.content!r}"
            stack.extend(token.children or ())
            if token.type == "image":
                target = (path.parent / unquote(str(token.attrs["src"]))).resolve()
                assert target.is_file() and target.is_relative_to(vault), f"{path.name}: {token.attrs['src']}"
                images += 1
        if title.startswith("Templates"):
            assert "{{ x }}" in unescape(re.sub(r"<[^>]+>", "", parser.render(body)))
        if title.startswith("He said"):
            assert "[the video](https://www.youtube.com/embed/xyz)" in body
    # The title is the file name (an alias keeps the title where a file name cannot hold it).
    assert "拜登和普京的通话就乌克兰危机未能达成共识？" in {p.stem for p in entries_of(archive)}
    assert revised == ["No picture: just text"]
    assert images == 4


def test_a_body_the_converter_cannot_handle_is_kept_as_html_and_the_crawl_goes_on(tmp_path: Path,
                                                                                   server: FaultServer, cli) -> None:
    deep = "<div>" * 10_000 + "<p>deep down</p>" + "</div>" * 10_000
    table = "<table>" + "<tr><td>cell</td><td>more</td></tr>" * 160_000 + "</table>"
    items = [Item("Deep", server.url("/d"), deep), Item("Table", server.url("/t"), table),
             Item("Fine", server.url("/f"), "<p>A fine <em>article</em>.</p>")]
    url = server.route("/feed.xml", faults.respond(200, rss(items), "application/rss+xml"))
    config = write_config(tmp_path, [{"name": "f", "url": url}], output={"format": "hugo"},
                          defaults={"full_text": "never"})
    result = cli("crawl", "--config", str(config))
    assert result.code == 0, result.err
    files = {front_and_body(p)[0]["title"]: front_and_body(p)[1] for p in archived_files(tmp_path / "archive")}
    assert files["Fine"].strip() == "A fine *article*."
    # 10,000-deep nesting is bounded before anything parses it (200 levels, its text kept), so it
    # converts; the 5 MB table is past what the converter is given, and keeps its HTML.
    assert files["Deep"].strip() == "deep down"
    assert files["Table"].startswith("\n<div>") and "<td>cell</td>" in files["Table"]
    assert re.search(r"entry_id=\S*/t body kept as HTML, not Markdown", result.err), result.err
    assert "Traceback" not in result.err


def test_obsidian_notes_of_one_title_are_both_kept_and_a_revision_rewrites_the_same_note(
        tmp_path: Path, server: FaultServer, cli) -> None:
    same = [Item("Breaking: news", server.url(f"/s/{n}"), f"<p>Story number {n}.</p>") for n in (1, 2, 3)]
    revised = [*same[:2], replace(same[2], description="<p>Story number 3, corrected.</p>")]
    url = server.route("/feed.xml", faults.sequence(faults.respond(200, rss(same), "application/rss+xml"),
                                                    faults.respond(200, rss(revised), "application/rss+xml")))
    config = write_config(tmp_path, [{"name": "f", "url": url}], output={"format": "obsidian"},
                          defaults={"full_text": "never"})
    assert cli("crawl", "--config", str(config)).code == 0
    notes = archived_files(tmp_path / "archive")
    assert len(notes) == 3
    assert sum(p.name == "Breaking news.md" for p in notes) == 1
    bodies = {p.name: p.read_text(encoding="utf-8") for p in notes}
    assert sorted(re.search(r"Story number (\d)", b).group(1) for b in bodies.values()) == ["1", "2", "3"]
    assert all("aliases: \n - 'Breaking: news'" in b for b in bodies.values())

    assert cli("crawl", "--config", str(config)).code == 0
    after = {p.name: p.read_text(encoding="utf-8") for p in archived_files(tmp_path / "archive")}
    assert sorted(after) == sorted(bodies), "the revision rewrote its own note, at the same path"
    [changed] = [name for name in after if after[name] != bodies[name]]
    assert "Story number 3, corrected." in after[changed] and "\nupdated: " in after[changed]
    assert len(list((tmp_path / "archive" / ".revisions").rglob("*.md"))) == 1


def test_hexo_publishes_markdown_bodies(tmp_path: Path, server: FaultServer,
                                        hexo_modules: Path, cli) -> None:  # noqa: F811  (the fixture)
    import json

    from tests.integration.test_hexo import DUMP_POSTS, make_site

    site = tmp_path / "site"
    make_site(site, hexo_modules)
    posts_dir = site / "source" / "_posts"
    news_url, tech_url, originals = serve_feeds(server)
    crawl_twice(cli, tmp_path, news_url, tech_url, archive_dir=str(posts_dir),
                images_dir=str(site / "source" / "images"), image_url_prefix="/images/",
                output={"format": "hexo", "body": "markdown"})
    plain = {**os.environ, "NO_COLOR": "1", "FORCE_COLOR": "0"}
    generated = subprocess.run([str(site / "node_modules" / ".bin" / "hexo"), "generate"], cwd=site,
                               capture_output=True, text=True, timeout=BUILD_TIMEOUT, env=plain)
    assert generated.returncode == 0, generated.stdout + generated.stderr
    (site / "dump.js").write_text(DUMP_POSTS)
    dumped = subprocess.run(["node", "dump.js"], cwd=site, capture_output=True, text=True, timeout=BUILD_TIMEOUT)
    assert dumped.returncode == 0, dumped.stderr
    posts = {post["source"]: post for post in json.loads(dumped.stdout)}
    images = 0
    for path in entries_of(posts_dir):
        front, body = front_and_body(path)
        assert "<div>" not in body
        post = posts[f"_posts/{path.relative_to(posts_dir).as_posix()}"]
        assert post["title"] == front["title"] and post["categories"] == front["categories"]
        page = (site / "public" / unquote(post["path"]) / "index.html").read_text(encoding="utf-8")
        images += check_built_images(page, site / "public", originals, path.name)
        if front["title"].startswith("Templates"):
            shown = unescape(re.sub(r"<[^>]+>", "", page)).replace("\u2060", "")
            assert "{{ x }}" in shown and "{% raw %}" in shown and "code {{ y }}" in shown, page
            assert "inline {{ z }} {% if %}" in shown, page
    assert images == 4
