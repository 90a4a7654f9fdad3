"""The seed document, rebuilt as an RSSHub feed, must archive back to the seed."""

from __future__ import annotations

import hashlib
import re
from email.utils import parsedate_to_datetime
from pathlib import Path

import lxml.html
import yaml
from pytest_httpserver import HTTPServer

from tests.conftest import FIXTURES, Item, archived_files, rss, split_document, write_config

SEED = FIXTURES / "seed_aljazeera.md"
SEED_IMAGE_HOST = "https://chinese.aljazeera.net"


def load_seed() -> tuple[dict[str, object], str]:
    text = SEED.read_text(encoding="utf-8")
    _, front, body = text.split("---\n", 2)
    inner = body.strip()
    assert inner.startswith("<div>") and inner.endswith("</div>")
    return yaml.safe_load(front), inner[len("<div>") : -len("</div>")].strip()


def blocks(html: str) -> list[tuple[str, str]]:
    """Every paragraph, heading and figure, as (tag, normalised text)."""
    root = lxml.html.fragment_fromstring(html, create_parent="div")
    return [
        (el.tag, " ".join(el.text_content().split()))
        for el in root.iter("p", "h1", "h2", "h3", "h4", "figure")
    ]


def fake_jpeg(seed: str) -> bytes:
    filler = hashlib.sha256(seed.encode()).digest() * 64
    return b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + filler + b"\xff\xd9"


def seed_feed(server: HTTPServer, body: str, front: dict[str, object]) -> str:
    link = server.url_for("/news/2022/2/13/biden-putin-call")
    item = Item(
        title=str(front["title"]),
        link=link,
        description=body,
        published=parsedate_to_datetime(str(front["date"])),
    )
    server.expect_request("/aljazeera/news").respond_with_data(
        rss([item], title="半岛电视台", link=server.url_for("/")), content_type="application/rss+xml"
    )
    return link


def seed_config(tmp_path: Path, server: HTTPServer, front: dict[str, object], images: bool) -> Path:
    return write_config(
        tmp_path,
        [{"name": "aljazeera-news", "route": "/aljazeera/news", "categories": front["categories"],
          "author": front["author"], "images": images}],
        rsshub=server.url_for("/").rstrip("/"),
    )


def test_seed_front_matter_and_body_round_trip(tmp_path: Path, httpserver: HTTPServer, cli) -> None:
    front, body = load_seed()
    link = seed_feed(httpserver, body, front)
    config = seed_config(tmp_path, httpserver, front, images=False)

    result = cli("crawl", "--config", str(config))

    assert result.code == 0, result.err
    [path] = archived_files(tmp_path / "archive")
    assert path.relative_to(tmp_path / "archive").parts[:3] == ("新媒体", "Aljazeera 半岛网", "新闻")
    got, got_body = split_document(path)
    assert list(got) == ["title", "categories", "headimg", "author", "comments", "date", "thumbnail", "link", "guid"]
    assert {k: got[k] for k in front} == front
    assert got["link"] == got["guid"] == link
    assert blocks(got_body) == blocks(body)


def test_seed_images_become_local_copies_with_identical_bytes(
    tmp_path: Path, httpserver: HTTPServer, cli
) -> None:
    front, body = load_seed()
    served: dict[str, bytes] = {}
    for url in sorted(set(re.findall(r'src="([^"]+)"', body))):
        path = url.removeprefix(SEED_IMAGE_HOST).split("?")[0]
        served[path] = fake_jpeg(path)
        httpserver.expect_request(path).respond_with_data(served[path], content_type="image/jpeg")
    local_body = body.replace(SEED_IMAGE_HOST, httpserver.url_for("/").rstrip("/"))
    seed_feed(httpserver, local_body, front)
    config = seed_config(tmp_path, httpserver, front, images=True)

    result = cli("crawl", "--config", str(config))

    assert result.code == 0, result.err
    [path] = archived_files(tmp_path / "archive")
    got, got_body = split_document(path)
    images = lxml.html.fragment_fromstring(got_body, create_parent="div").findall(".//img")
    assert len(images) == len(re.findall(r"<img ", body)) == 4
    for img in images:
        src, original = img.get("src"), img.get("data-original-src")
        assert not src.startswith("http"), src
        copy = (path.parent / src).resolve()
        assert copy.parent == (tmp_path / "archive" / "images").resolve()
        assert copy.read_bytes() == served[original.removeprefix(httpserver.url_for("/").rstrip("/")).split("?")[0]]
    assert got["headimg"] == got["thumbnail"] == images[0].get("src")
    assert blocks(got_body) == blocks(body)


def test_seed_body_escapes_template_braces(tmp_path: Path, httpserver: HTTPServer, cli) -> None:
    front, body = load_seed()
    seed_feed(httpserver, body.replace("</p>", " {{ page.title }} {% raw %}</p>", 1), front)
    config = seed_config(tmp_path, httpserver, front, images=False)

    assert cli("crawl", "--config", str(config)).code == 0
    [path] = archived_files(tmp_path / "archive")
    _, got_body = split_document(path)
    assert "{" not in got_body and "}" not in got_body
    assert "&#123;&#123; page.title &#125;&#125;" in got_body
