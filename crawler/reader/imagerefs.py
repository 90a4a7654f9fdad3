"""Image references inside article HTML: find them, and point them at local copies.

Pure: lxml in, strings out. Deciding what to download is `image_store`'s job, downloading `images`'.
"""

from __future__ import annotations

import html as htmllib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

import lxml.html

from crawler.fetch import absolute, shown

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


def _sources(img: lxml.html.HtmlElement) -> list[str]:
    """The image's possible sources, best first: a lazy loader's real URL when `src` is a
    placeholder, the largest candidate of a srcset (the best copy of the picture to keep), `src`."""
    src = (img.get("src") or "").strip()
    found: list[str] = []
    placeholder = not src or src.startswith("data:") or src.endswith(("/blank.gif", "/spacer.gif", "/pixel.gif"))
    if placeholder:
        found += [value for name in _LAZY_SRC if (value := (img.get(name) or "").strip())]
    found += [largest for name in _LAZY_SRCSET if (value := img.get(name)) and (largest := _largest_from_srcset(value))]
    if src:
        found.append(src)
    return found


@dataclass(frozen=True)
class FoundImages:
    html: str
    urls: list[str]  # distinct http(s) image URLs, in order
    malformed: list[str]  # one line per URL left out because it cannot be parsed


def find_images(html: str, base_url: str) -> FoundImages:
    """Make links absolute and normalise every `<img>` to one absolute `src`.

    A URL that cannot be parsed is left out: a link keeps its text, an image with no usable
    source gives way to its alt text, a `poster` or `<source src>` is dropped.
    """
    if "<img" not in html and "<source" not in html and "href=" not in html and "poster=" not in html:
        return FoundImages(html, [], [])
    root = _parse_fragment(html)
    malformed: list[str] = []

    def resolve(element: lxml.html.HtmlElement, name: str) -> None:
        value = element.get(name)
        if value is None or value.strip().startswith("data:"):
            return
        url = absolute(value, base_url)
        if url is None:
            malformed.append(f"malformed URL {shown(value)} in <{element.tag} {name}> left out")
            element.attrib.pop(name)
        else:
            element.set(name, url)

    for anchor in root.iter("a"):
        resolve(anchor, "href")
    for source in list(root.iter("source")):
        if source.getparent() is not None and source.getparent().tag == "picture":
            # drop_tag, not drop_tree: libxml2 does not know <source> is void and nests the <img> in it.
            source.drop_tag()
    for media in root.iter("video", "audio", "source"):
        resolve(media, "src")
        resolve(media, "poster")
    urls: list[str] = []
    for img in list(root.iter("img")):
        chosen, candidates = None, _sources(img)
        for candidate in candidates:
            chosen = candidate if candidate.startswith("data:") else absolute(candidate, base_url)
            if chosen is not None:
                break
            malformed.append(f"malformed URL {shown(candidate)} in <img> left out")
        for name in _DROP:
            img.attrib.pop(name, None)
        if chosen is None:
            if candidates:  # a picture whose every address is broken: its words, at least
                img.tail = (img.get("alt") or "") + (img.tail or "")
            img.drop_tree()
            continue
        img.set("src", chosen)
        if urlsplit(chosen).scheme in ("http", "https") and chosen not in urls:
            urls.append(chosen)
    return FoundImages(_serialize_children(root), urls, malformed)


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
