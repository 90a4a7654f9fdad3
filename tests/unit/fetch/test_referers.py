"""Which Referers an image request tries, in order (crawler/referers.py)."""

from __future__ import annotations

import pytest

from crawler.fetch.referers import attempts, check_host_key, check_value

ARTICLE = "https://news.example/2024/story.html"
RULES = {
    "wx1.sinaimg.cn": "https://weibo.com/",
    "*.sinaimg.cn": "origin",
    "*.pximg.net": "https://www.pixiv.net/",
    "cdn.sspai.com": "none",
}


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        pytest.param("https://img.other.example/a.png",
                     (ARTICLE, "https://img.other.example/", None), id="no rule: the article, then origin, none"),
        pytest.param("https://wx1.sinaimg.cn/a.jpg",
                     ("https://weibo.com/", "https://wx1.sinaimg.cn/", None), id="exact host before wildcard"),
        pytest.param("https://wx2.sinaimg.cn/a.jpg", ("https://wx2.sinaimg.cn/", None), id="origin, then none"),
        pytest.param("https://i.pximg.net:8443/a.jpg",
                     ("https://www.pixiv.net/", "https://i.pximg.net:8443/", None), id="port ignored for the key"),
        pytest.param("https://cdn.sspai.com/a.jpg", (None, "https://cdn.sspai.com/"), id="none, then origin"),
        pytest.param("https://sinaimg.cn/a.jpg", (ARTICLE, "https://sinaimg.cn/", None), id="*.x is not x itself"),
    ],
)
def test_attempts(image: str, expected: tuple[str | None, ...]) -> None:
    assert attempts(RULES, image, ARTICLE) == expected


@pytest.mark.parametrize("key", ["img.example.com:443", "*.*.example.com", "https://img.example.com", "", "a b"])
def test_bad_keys(key: str) -> None:
    with pytest.raises(ValueError):
        check_host_key(key)


@pytest.mark.parametrize("value", ["weibo.com", "ftp://x.example/", "sometimes"])
def test_bad_values(value: str) -> None:
    with pytest.raises(ValueError):
        check_value(value)
