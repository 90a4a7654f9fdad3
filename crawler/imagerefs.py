"""Image references inside article HTML: find them, and point them at local copies.

Pure: lxml in, strings out. Deciding what to download is `image_store`'s job, downloading `images`'.
"""

from __future__ import annotations

import html as htmllib
import re
from collections.abc import Mapping
from urllib.parse import urljoin, urlsplit

import lxml.html

# Lazy-loading scripts keep the real URL in one of these; `src` then holds a placeholder.
_LAZY_SRC = ("data-src", "data-original", "data-lazy-src", "data-actualsrc", "data-url", "data-orig-src")
_LAZY_SRCSET = ("srcset", "data-srcset", "data-lazy-srcset")
_DROP = _LAZY_SRC + _LAZY_SRCSET + ("sizes", "loading", "decoding", "data-recalc-dims")
_DESCRIPTOR = re.compile(r"^(\d+(?:\.\d+)?)([wx])$")


def _parse_fragment(html: str) -> lxml.html.HtmlElement:
    return lxml.html.fragment_fromstring(html or "<br>", create_parent="div")


def _serialize_children(root: lxml.html.HtmlElement) -> str:
    children = "".join(lxml.html.tostring(child, encoding="unicode") for child in root)
    return htmllib.escape(root.text or "", quote=False) + children


def _largest_from_srcset(srcset: str) -> str | None:
    best: tuple[float, str] | None = None
    for candidate in srcset.split(","):
        parts = candidate.strip().split()
        if not parts:
            continue
        weight = 1.0
        if len(parts) > 1 and (m := _DESCRIPTOR.match(parts[-1])):
            weight = float(m.group(1))
        if best is None or weight > best[0]:
            best = (weight, parts[0])
    return best[1] if best else None


def _real_source(img: lxml.html.HtmlElement) -> str | None:
    src = (img.get("src") or "").strip()
    placeholder = not src or src.startswith("data:") or src.endswith(("/blank.gif", "/spacer.gif", "/pixel.gif"))
    if placeholder:
        for name in _LAZY_SRC:
            if value := (img.get(name) or "").strip():
                return value
    for name in _LAZY_SRCSET:
        if (value := img.get(name)) and (largest := _largest_from_srcset(value)):
            # The largest candidate of srcset is the best copy of the picture to keep.
            return largest
    return src or None


def find_images(html: str, base_url: str) -> tuple[str, list[str]]:
    """Make links absolute and normalise every `<img>` to one absolute `src`; returns the HTML and
    the distinct image URLs in order."""
    if "<img" not in html and "<source" not in html and "href=" not in html:
        return html, []
    root = _parse_fragment(html)
    for anchor in root.iter("a"):
        if href := anchor.get("href"):
            anchor.set("href", urljoin(base_url, href.strip()))
    urls: list[str] = []
    for source in list(root.iter("source")):
        if source.getparent() is not None and source.getparent().tag == "picture":
            # drop_tag, not drop_tree: libxml2 does not know <source> is void and nests the <img> in it.
            source.drop_tag()
    for img in list(root.iter("img")):
        src = _real_source(img)
        for name in _DROP:
            img.attrib.pop(name, None)
        if src is None:
            img.drop_tree()
            continue
        absolute = src if src.startswith("data:") else urljoin(base_url, src)
        img.set("src", absolute)
        if urlsplit(absolute).scheme in ("http", "https") and absolute not in urls:
            urls.append(absolute)
    return _serialize_children(root), urls


def rewrite_images(html: str, new_sources: Mapping[str, str]) -> str:
    """Point each downloaded image at its copy, keeping the original URL in `data-original-src`."""
    if not new_sources:
        return html
    root = _parse_fragment(html)
    for img in root.iter("img"):
        original = img.get("src")
        if original in new_sources:
            img.set("src", new_sources[original])
            img.set("data-original-src", original)
    return _serialize_children(root)
