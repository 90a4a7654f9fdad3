"""The archive published by Hexo itself: posts with their front matter intact, and every image on the site.

Hexo and its renderers are installed with npm, once, into a cache folder shared by later runs
(`~/.cache/feed-archiver-tests/hexo-<version>/`); `.ci/run` installs Node and npm from Debian's
packages when they are missing. The site uses a theme of one layout written here, so that the
generated post pages carry exactly the post's HTML (no index or archive generator is installed:
Hexo makes the post pages and copies the images, nothing else).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

import pytest

from tests import faults
from tests.conftest import Item, archived_files, rss, split_document, write_config
from tests.faults import FaultServer

HEXO_VERSION = "7.3.0"
PACKAGES = {"hexo": HEXO_VERSION, "hexo-renderer-marked": "7.0.1", "hexo-renderer-ejs": "2.0.0"}
NPM_TIMEOUT = 600

JPEG = b"\xff\xd8\xff\xe0" + b"J" * 300 + b"\xff\xd9"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00P" * 100
GIF = b"GIF89a" + b"\x01" * 50 + b";"

DUMP_POSTS = """
const Hexo = require('hexo');
const hexo = new Hexo(process.cwd(), {silent: true});
hexo.init().then(() => hexo.load()).then(() => {
  const Category = hexo.model('Category');
  const posts = hexo.locals.get('posts').map(post => {
    // A post's categories are a hierarchy: walk up from the one that is nobody's parent.
    const cats = post.categories.toArray();
    const parents = new Set(cats.map(c => c.parent).filter(Boolean));
    let leaf = cats.find(c => !parents.has(c._id));
    const chain = [];
    while (leaf) { chain.unshift(leaf.name); leaf = leaf.parent ? Category.findById(leaf.parent) : null; }
    return {source: post.source, title: post.title, date: post.date.toISOString(), categories: chain,
            path: post.path, updated: post.updated.toISOString()};
  });
  process.stdout.write(JSON.stringify(posts));
  return hexo.exit();
});
"""


def _cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "feed-archiver-tests" / f"hexo-{HEXO_VERSION}"


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


@pytest.fixture(scope="session")
def hexo_modules() -> Path:
    """A node_modules folder with Hexo and its renderers: installed on first use, then reused."""
    npm, node = shutil.which("npm"), shutil.which("node")
    if npm is None or node is None:
        reason = "npm and node are not installed (.ci/run installs Debian's nodejs and npm packages)"
        if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
            pytest.fail(reason + " (CI must run this test)", pytrace=False)
        pytest.skip(reason)
    root = _cache_root()
    marker = root / "installed.json"
    with _locked(root.with_name(root.name + ".lock")):
        if marker.exists() and json.loads(marker.read_text()) == PACKAGES:
            return root / "node_modules"
        # Installed beside the cache and renamed into place: a killed install is never taken for a whole one.
        work = Path(tempfile.mkdtemp(prefix=root.name + ".", dir=root.parent))
        try:
            (work / "package.json").write_text(json.dumps({"private": True, "dependencies": PACKAGES}))
            done = subprocess.run(
                [npm, "install", "--no-audit", "--no-fund", "--ignore-scripts", "--no-package-lock",
                 "--loglevel=error"],
                cwd=work, capture_output=True, text=True, timeout=NPM_TIMEOUT,
            )
            assert done.returncode == 0, f"npm install failed:\n{done.stdout}\n{done.stderr}"
            (work / "installed.json").write_text(json.dumps(PACKAGES))
            work.chmod(0o755)
            shutil.rmtree(root, ignore_errors=True)
            work.rename(root)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return root / "node_modules"


def make_site(site: Path, modules: Path) -> None:
    (site / "source" / "_posts").mkdir(parents=True)
    (site / "node_modules").symlink_to(modules, target_is_directory=True)
    # Hexo loads the plugins its package.json names.
    (site / "package.json").write_text(json.dumps({"name": "site", "private": True, "hexo": {"version": HEXO_VERSION},
                                                   "dependencies": PACKAGES}))
    (site / "_config.yml").write_text(
        "title: Archive\nurl: http://example.com\nroot: /\ntheme: bare\n"
        "permalink: :year/:month/:day/:title/\nlanguage: en\n",
        encoding="utf-8",
    )
    layout = site / "themes" / "bare" / "layout"
    layout.mkdir(parents=True)
    (layout / "post.ejs").write_text("<h1><%= page.title %></h1>\n<%- page.content %>\n")


class _Images(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.images: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "img":
            self.images.append(dict(attrs))


def images_in(html: str) -> list[dict[str, str | None]]:
    parser = _Images()
    parser.feed(html)
    return parser.images


def serve_feeds(server: FaultServer) -> tuple[str, str, dict[str, bytes]]:
    originals = {server.route("/img/a.jpg", faults.respond(200, JPEG, "image/jpeg")): JPEG,
                 server.route("/img/b.png", faults.respond(200, PNG, "image/png")): PNG,
                 server.route("/img/c.gif", faults.respond(200, GIF, "image/gif")): GIF}
    a, b, c = originals

    def figure(url: str, caption: str) -> str:
        return f'<figure>\n  <img src="{url}" alt="{caption}">\n  <figcaption>{caption}</figcaption>\n</figure>'

    news = [
        Item('He said: "yes" — it\'s \'done\'', server.url("/n/1"),
             # Blank lines, then indented HTML: Markdown would make that a code block, its <img> text.
             f"<p>First paragraph.</p>\n\n{figure(a, 'a harbour')}\n\n    <p>Then a second picture:</p>\n\n"
             f"    {figure(b, 'a quay')}\n<pre>\n```js\nlet fenced = true;\n```\n</pre>",
             published=datetime(2024, 3, 1, 8, 30, tzinfo=UTC)),
        Item("拜登和普京的通话就乌克兰危机未能达成共识？", server.url("/n/2"),
             f"<p>同一张图片：</p>\n{figure(a, '港口')}\n<p>另一张：</p>\n{figure(c, '码头')}",
             published=datetime(2022, 2, 13, 9, 12, 25, tzinfo=UTC)),
    ]
    tech = [
        Item("_Underscored: #1 {braces} & {{ mustaches }}", server.url("/t/1"),
             f"<p>Template-looking text: {{{{ page.title }}}} and {{% raw %}}.</p>\n{figure(c, 'gif')}",
             published=datetime(2023, 12, 31, 23, 59, 59, tzinfo=UTC)),
        Item("No picture: just text 🎉", server.url("/t/2"), "<p>Nothing to see.</p>",
             published=datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)),
    ]
    news_url = server.route("/news.xml", faults.respond(200, rss(news), "application/rss+xml"))
    # The second poll finds one article corrected: it is revised (`updated:`, the old file kept).
    corrected = [tech[0], replace(tech[1], description="<p>Nothing to see. Correction: something after all.</p>")]
    tech_url = server.route("/tech.xml", faults.sequence(faults.respond(200, rss(tech), "application/rss+xml"),
                                                         faults.respond(200, rss(corrected), "application/rss+xml")))
    return news_url, tech_url, originals


def test_hexo_publishes_every_entry_with_its_front_matter_and_every_image(
    tmp_path: Path, server: FaultServer, hexo_modules: Path, cli
) -> None:
    site = tmp_path / "site"
    make_site(site, hexo_modules)
    posts_dir = site / "source" / "_posts"
    news_url, tech_url, originals = serve_feeds(server)
    config = write_config(
        tmp_path,
        [{"name": "news", "url": news_url, "categories": ["新媒体", "Aljazeera 半岛网", "新闻"]},
         {"name": "tech", "url": tech_url, "categories": ["Tech: News"]}],
        archive_dir=str(posts_dir), images_dir=str(site / "source" / "images"), image_url_prefix="/images/",
        state=None, defaults={"full_text": "never"},
    )
    assert cli("crawl", "--config", str(config)).code == 0
    assert cli("crawl", "--config", str(config)).code == 0
    # The revision kept in a dot folder, which Hexo does not publish; and one more planted there.
    assert len(list((posts_dir / ".revisions").rglob("*.md"))) == 1
    revision = posts_dir / ".revisions" / "新媒体" / "old_0123456789" / "20240101T000000Z.md"
    revision.parent.mkdir(parents=True)
    revision.write_text("---\ntitle: 'an old revision'\n---\n\nold\n", encoding="utf-8")

    # No colours: with CI set in the environment, Hexo's logger writes ANSI escapes even into a pipe.
    plain = {**os.environ, "NO_COLOR": "1", "FORCE_COLOR": "0"}
    generated = subprocess.run([str(site / "node_modules" / ".bin" / "hexo"), "generate"], cwd=site,
                               capture_output=True, text=True, timeout=120, env=plain)
    assert generated.returncode == 0, generated.stdout + generated.stderr
    (site / "dump.js").write_text(DUMP_POSTS)
    dumped = subprocess.run(["node", "dump.js"], cwd=site, capture_output=True, text=True, timeout=120)
    assert dumped.returncode == 0, dumped.stderr
    posts = {post["source"]: post for post in json.loads(dumped.stdout)}

    archived = [p for p in archived_files(posts_dir) if not p.relative_to(posts_dir).parts[0].startswith(".")]
    assert len(archived) == 4
    assert sorted(posts) == sorted(f"_posts/{p.relative_to(posts_dir).as_posix()}" for p in archived)
    public = site / "public"
    shown: set[str] = set()
    revised: list[str] = []
    for path in archived:
        front, body = split_document(path)
        post = posts[f"_posts/{path.relative_to(posts_dir).as_posix()}"]
        assert post["title"] == front["title"]
        assert post["categories"] == front["categories"]
        assert datetime.fromisoformat(post["date"]) == parsedate_to_datetime(front["date"])
        if "updated" in front:  # Hexo reads a revision's `updated:` as the post's updated date
            assert datetime.fromisoformat(post["updated"]) == parsedate_to_datetime(front["updated"])
            revised.append(post["title"])
        page = (public / unquote(post["path"]) / "index.html").read_text(encoding="utf-8")
        assert "<code>" not in page and "&lt;" not in page, f"{post['path']}: HTML taken for Markdown code"
        wanted = images_in(body)
        got = images_in(page)
        assert len(got) == len(wanted), f"{post['path']}: {len(wanted)} images in the Markdown, {len(got)} on the page"
        for image in got:
            src, original = image["src"] or "", image["data-original-src"] or ""
            assert src.startswith("/images/"), src
            assert (public / unquote(src).lstrip("/")).read_bytes() == originals[original], src
            shown.add(src)
        if front["headimg"]:
            assert front["headimg"] == got[0]["src"] == front["thumbnail"]
            assert (public / front["headimg"].lstrip("/")).is_file()
    assert revised == ["No picture: just text 🎉"]
    assert len(shown) == 3, "each distinct image once, shared by the articles that show it"
    assert not [p for p in public.rglob("*") if p.name.startswith(".")], "nothing of dot files or folders published"
    # Hexo's own count: the four posts and the three images, nothing else (no dot file, no revision).
    log = re.sub(r"\x1b\[[0-9;]*m", "", generated.stdout)  # in case a Hexo ignores NO_COLOR
    assert re.search(r"^INFO\s+7 files generated in ", log, re.MULTILINE), generated.stdout
