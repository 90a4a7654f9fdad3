from __future__ import annotations

from dataclasses import astuple

import pytest

from crawler.errors import BadContent
from crawler.images.download import sniff_image
from crawler.reader.imagerefs import find_images, rewrite_images

BASE = "https://news.example/2024/story.html"


def test_lazy_loading_variants_and_srcset_pick_the_real_image() -> None:
    html = (
        '<p>x</p><img src="data:image/gif;base64,R0lGOD" data-src="/lazy.jpg">'
        '<img data-original="//cdn.example/orig.png">'
        '<img src="/small.jpg" srcset="/s.jpg 320w, /l.jpg 1280w, /m.jpg 640w">'
        '<picture><source srcset="/p.webp"><img src="rel.jpg"></picture>'
        '<img src="/lazy.jpg">'
    )
    out, urls, _ = astuple(find_images(html, BASE))
    assert urls == [
        "https://news.example/lazy.jpg",
        "https://cdn.example/orig.png",
        "https://news.example/l.jpg",
        "https://news.example/2024/rel.jpg",
    ]
    assert "srcset" not in out and "data-src" not in out and "<source" not in out
    assert out.startswith("<p>x</p>")


def test_rewrite_keeps_the_original_url() -> None:
    out = rewrite_images('<img src="https://e.com/a.jpg?x=1&amp;y=2">',
                         {"https://e.com/a.jpg?x=1&y=2": "../images/h.jpg"})
    assert out == '<img src="../images/h.jpg" data-original-src="https://e.com/a.jpg?x=1&amp;y=2">'


def test_text_and_tails_survive_a_round_trip() -> None:
    html = "lead text <b>bold</b> tail &amp; more <img src='/a.png'> end"
    out = find_images(html, BASE).html
    assert out == 'lead text <b>bold</b> tail &amp; more <img src="https://news.example/a.png"> end'


@pytest.mark.parametrize(
    ("body", "ext"),
    [
        (b"\xff\xd8\xff\xe0" + b"0" * 100 + b"\xff\xd9", ".jpg"),
        (b"\x89PNG\r\n\x1a\n" + b"0" * 10, ".png"),
        (b"GIF89a" + b"0" * 10, ".gif"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", ".webp"),
        (b'<svg xmlns="http://www.w3.org/2000/svg"><rect/></svg>', ".svg"),
    ],
)
def test_sniff_accepts_images(body: bytes, ext: str) -> None:
    assert sniff_image(body, "image/whatever") == ext


@pytest.mark.parametrize(
    "body",
    [
        b"<!DOCTYPE html><html><body>hotlink denied</body></html>",
        b"\xff\xd8\xff\xe0" + b"0" * 100,
        b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
        b'<svg onload="alert(1)"></svg>',
        b"",
    ],
    ids=["html", "truncated-jpeg", "svg-script", "svg-handler", "empty"],
)
def test_sniff_rejects_what_is_not_a_safe_image(body: bytes) -> None:
    with pytest.raises(BadContent):
        sniff_image(body, "image/jpeg")
