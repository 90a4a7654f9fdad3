"""`images_dir:` puts the images in a folder of their own (a Hexo site's source/images, say),
under the same rules as the archive: whole files, content addressing, no symlinks, config errors."""

from __future__ import annotations

import posixpath
from pathlib import Path

from tests import faults
from tests.conftest import Item, archived_files, rss, split_document, write_config
from tests.faults import FaultServer

JPEG = b"\xff\xd8\xff\xe0" + b"7" * 200 + b"\xff\xd9"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def serve_feed(server: FaultServer) -> tuple[str, str]:
    """Two feeds: one article with two images, one with the first image again."""
    server.route("/a.jpg", faults.respond(200, JPEG, "image/jpeg"))
    server.route("/b.png", faults.respond(200, PNG, "image/png"))
    two = "<p>text</p>" * 100 + f'<img src="{server.url("/a.jpg")}"><img src="{server.url("/b.png")}">'
    one = "<p>text</p>" * 100 + f'<img src="{server.url("/a.jpg")}">'
    deep = server.route("/feed", faults.respond(200, rss([Item("Deep", server.url("/d"), two)]), "application/rss+xml"))
    flat = server.route("/flat", faults.respond(200, rss([Item("Flat", server.url("/f"), one)]), "application/rss+xml"))
    return deep, flat


def test_images_outside_the_archive_get_paths_relative_to_each_markdown_file(
    tmp_path: Path, server: FaultServer, cli
) -> None:
    deep_url, flat_url = serve_feed(server)
    config = write_config(
        tmp_path,
        [{"name": "deep", "url": deep_url, "categories": ["新闻", "World: Asia"]}, {"name": "flat", "url": flat_url}],
        archive_dir="site/source/_posts", images_dir="site/source/images", state="sqlite:///state.sqlite",
    )

    assert cli("crawl", "--config", str(config)).code == 0

    images = tmp_path / "site" / "source" / "images"
    assert sorted(p.read_bytes() for p in images.iterdir()) == sorted([JPEG, PNG])
    assert not (tmp_path / "site" / "source" / "_posts" / "images").exists()
    documents = archived_files(tmp_path / "site" / "source" / "_posts")
    assert len(documents) == 2
    for path in documents:
        front, body = split_document(path)
        assert front["headimg"].startswith("../")
        assert f'src="{front["headimg"]}"' in body
        # What a browser or editor does with the src: resolve it against the Markdown file's folder.
        target = Path(posixpath.normpath(posixpath.join(path.parent.as_posix(), front["headimg"])))
        assert target.parent == images
        assert target.read_bytes() == JPEG
    deep = next(p for p in documents if p.parent.name == "World Asia")
    assert split_document(deep)[0]["headimg"].startswith("../../../images/")


def test_images_dir_with_a_url_prefix(tmp_path: Path, server: FaultServer, cli) -> None:
    deep_url, _ = serve_feed(server)
    config = write_config(tmp_path, [{"name": "deep", "url": deep_url, "categories": ["A"]}],
                          archive_dir="posts", images_dir=str(tmp_path / "pics"),
                          image_url_prefix="/images/", state="sqlite:///state.sqlite")

    assert cli("crawl", "--config", str(config)).code == 0

    [path] = archived_files(tmp_path / "posts")
    front, body = split_document(path)
    filename = front["headimg"].removeprefix("/images/")
    assert (tmp_path / "pics" / filename).read_bytes() == JPEG
    assert body.count('src="/images/') == 2
    assert not (tmp_path / "posts" / "images").exists()


def test_unwritable_images_dir_is_a_config_error(tmp_path: Path, cli) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    path = tmp_path / "feeds.yaml"
    path.write_text("archive_dir: archive\nimages_dir: a-file/images\nfeeds:\n"
                    "  - name: one\n    url: https://example.com/feed.xml\n", encoding="utf-8")

    result = cli("crawl", "--config", str(path))

    assert result.code == 2
    [line] = result.err.strip().splitlines()
    assert line.startswith(f"{path}:2: images_dir: cannot create {tmp_path / 'a-file' / 'images'}")


def test_a_symlinked_images_dir_is_a_config_error_and_nothing_is_written_through_it(
    tmp_path: Path, server: FaultServer, cli
) -> None:
    deep_url, _ = serve_feed(server)
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "pics").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    config = write_config(tmp_path, [{"name": "deep", "url": deep_url}], images_dir="pics")

    result = cli("crawl", "--config", str(config))

    assert result.code == 2
    message = f"{config}:3: images_dir: {tmp_path / 'pics'} is a symlink; give the folder it points to"
    assert result.err.strip() == message
    assert list((tmp_path / "elsewhere").iterdir()) == []
    assert server.paths() == []


def test_temp_files_left_in_images_dir_by_an_interrupted_run_are_removed(
    tmp_path: Path, server: FaultServer, cli
) -> None:
    deep_url, _ = serve_feed(server)
    config = write_config(tmp_path, [{"name": "deep", "url": deep_url}], images_dir="pics")
    (tmp_path / "pics").mkdir()
    stale = tmp_path / "pics" / ".fa-tmp-0123456789ab"
    stale.write_bytes(b"half an image")
    (tmp_path / "archive").mkdir()
    (tmp_path / "archive" / ".feed-archiver.lock").write_text("running 99999\n")

    assert cli("crawl", "--config", str(config)).code == 0

    assert not stale.exists()
    assert sorted(p.read_bytes() for p in (tmp_path / "pics").iterdir()) == sorted([JPEG, PNG])
