"""Adding feeds to the YAML config the way a careful person would edit it by hand.

ruamel.yaml's round-trip mode keeps the file as it was: comments, key order,
quoting, flow lists, blank lines. Its indentation settings are guessed from the
file, since ruamel applies one style to the whole document when it writes. The
new text is checked by the same `load_settings` every command uses, then
replaces the file atomically (temporary file in the same folder, then a rename):
a config is never left half written or invalid.

>>> doc = ConfigDocument.open(settings.config_path)
>>> doc.add_feed(unique_name("Example News", doc.names()), url="https://example.com/feed")
>>> doc.save()
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import stat
import tempfile
import unicodedata
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError

from crawler.config.settings import ConfigModel, load_settings
from crawler.errors import ConfigError

NAME_LENGTH = 60  # of a name made from a title; the config allows 200
_NOT_NAME = re.compile(r"[^\w]+")


def url_key(url: str) -> str:
    """What makes two feed URLs the same: scheme and host in any case, a default port, a fragment don't count."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    try:
        port = parts.port
    except ValueError:  # out of range: no such URL can be fetched; keep it apart from every other
        return url.strip()
    netloc = host if port is None or (scheme, port) in (("http", 80), ("https", 443)) else f"{host}:{port}"
    return urlunsplit((scheme, netloc, parts.path or "/", parts.query, ""))


def slugify(title: str) -> str:
    """A readable feed name from a title: lower case, words joined by `-`, letters of any script kept."""
    text = unicodedata.normalize("NFKC", title).lower()
    slug = _NOT_NAME.sub("-", text).replace("_", "-").strip("-")
    return re.sub("-{2,}", "-", slug)[:NAME_LENGTH].rstrip("-")


def unique_name(title: str, taken: set[str], fallback: str = "feed") -> str:
    """`slugify(title)` (else `fallback`), with `-2`, `-3`, … when the name is taken; adds it to `taken`."""
    base = slugify(title) or slugify(fallback) or "feed"
    name, number = base, 1
    while name in taken:
        number += 1
        name = f"{base}-{number}"
    taken.add(name)
    return name


class ConfigDocument:
    """One config file as ruamel.yaml's round-trip tree."""

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self._yaml = YAML(typ="rt")
        self._yaml.preserve_quotes = True
        self._yaml.width = 4096  # never fold a long line that was one line
        mapping, sequence, offset = _guess_indent(text)
        self._yaml.indent(mapping=mapping, sequence=sequence, offset=offset)
        try:
            self._root: Any = self._yaml.load(text)
        except YAMLError as exc:  # load_settings read it already; this is for safety only
            raise ConfigError(str(path), None, "", f"invalid YAML: {exc}") from None
        feeds = self._root.get("feeds") if isinstance(self._root, CommentedMap) else None
        if not isinstance(feeds, CommentedSeq):
            raise ConfigError(str(path), None, "feeds", "must be a list to add feeds to")
        self._feeds = feeds
        self._added = 0

    @classmethod
    def open(cls, path: Path) -> ConfigDocument:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(str(path), None, "", f"cannot read the config: {exc}") from None
        return cls(path, text)

    def names(self) -> set[str]:
        return {str(feed.get("name")) for feed in self._feeds if isinstance(feed, CommentedMap)}

    def routes(self) -> dict[str, str]:
        """Route -> feed name, for the `route:` feeds (whichever instance a URL names them on)."""
        return {str(feed["route"]): str(feed.get("name")) for feed in self._feeds
                if isinstance(feed, CommentedMap) and isinstance(feed.get("route"), str)}

    def rsshub_bases(self) -> list[str]:
        """The RSSHub instances `route:` feeds resolve against (one URL, or a list of them)."""
        value = self._root.get("rsshub", ConfigModel.model_fields["rsshub"].get_default(call_default_factory=True))
        values = value if isinstance(value, list) else [value]
        return [str(v).rstrip("/") for v in values if isinstance(v, str) and v.strip()]

    def route_of(self, url: str) -> str | None:
        """The route, when `url` is a feed on one of the config's RSSHub instances."""
        key = url_key(url)
        for base in self.rsshub_bases():
            prefix = url_key(base).rstrip("/") + "/"
            if key.startswith(prefix):
                return "/" + key[len(prefix):]
        return None

    def add_feed(
        self,
        name: str,
        *,
        url: str | None = None,
        route: str | None = None,
        categories: Sequence[str] = (),
        site: str | None = None,
    ) -> None:
        feed = CommentedMap()
        feed["name"] = name
        if route is not None:
            feed["route"] = route
        else:
            feed["url"] = url
        if categories:
            listed = CommentedSeq(categories)
            listed.fa.set_flow_style()
            feed["categories"] = listed
        if site:
            feed["site"] = site
        self._feeds.append(feed)
        self._added += 1

    def text(self) -> str:
        out = io.StringIO()
        self._yaml.dump(self._root, out)
        return out.getvalue()

    def save(self) -> None:
        """Check the new text as the program reads configs, then put it in place atomically.
        A `ConfigError` (naming the real file) leaves the file as it was."""
        text = self.text()
        folder = self.path.resolve().parent
        fd, temp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".fa-tmp", dir=folder)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(text)
                out.flush()
                os.fsync(out.fileno())
            with contextlib.suppress(OSError):
                os.chmod(temp, stat.S_IMODE(self.path.stat().st_mode))
            try:
                load_settings(temp)  # relative paths resolve as for the real file: same folder
            except ConfigError as exc:
                raise ConfigError(str(self.path), exc.line, exc.key, f"the edited config would be invalid: "
                                  f"{exc.message}") from None
            os.replace(temp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise


def _guess_indent(text: str) -> tuple[int, int, int]:
    """(mapping indent, sequence indent, dash offset) as the file writes them; PyYAML's
    `- ` at the key's own column (2, 2, 0) when the file shows neither."""
    lines = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    mapping = sequence = offset = None
    for above, line in zip(lines, lines[1:], strict=False):
        if not re.match(r"\s*[^\s-][^:]*:\s*(#.*)?$", above):
            continue  # not `key:` with its value on the next lines
        parent = len(above) - len(above.lstrip())
        inner = len(line) - len(line.lstrip())
        if inner < parent:
            continue
        if line.lstrip().startswith("- "):
            if offset is None:
                offset = inner - parent
                sequence = offset + len(line.lstrip()) - len(line.lstrip()[1:].lstrip())
        elif mapping is None and inner > parent:
            mapping = inner - parent
        if mapping is not None and offset is not None:
            break
    return mapping or 2, sequence or 2, offset or 0


def existing_urls(urls: Iterable[tuple[str, str]]) -> dict[str, str]:
    """URL key -> feed name, for the feeds a config has (their URLs as the program resolves them)."""
    return {url_key(url): name for name, url in urls}
