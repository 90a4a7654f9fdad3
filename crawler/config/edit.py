"""Adding feeds to the YAML config the way a careful person would edit it by hand.

The file is read as `load_settings` reads it (PyYAML, YAML 1.2 scalars), and the
new feeds are written into its text at the end of the `feeds:` list, in the
list's own layout: the dash and key columns of its items (or a flow list's
`{...}` form), its line endings. Nothing else changes: comments, quoting,
anchors, a byte order mark, blank lines, tabs all stay as they were. The new
items are rendered by ruamel.yaml; a string that a YAML 1.1 reader (PyYAML's
`safe_load`, older tools) would take for something else (`No`, `on`, `12:30`)
is written quoted, so every reader sees the same string. The new text is
checked by the same `load_settings` every command uses, then replaces the file
atomically (temporary file in the real file's folder, then a rename over the
real file: a symlinked config stays a symlink): a config is never left half
written or invalid.

An edit holds a lock (`fcntl.flock` on `.NAME.lock` beside the real file) from
reading the file to replacing it, so two edits never lose each other's feeds; a
command that fetches before it writes (`add`) reads the file again under the
lock. Temporary files of an edit that was killed midway are swept by the next.

>>> with ConfigDocument.edit(settings.config_path) as doc:
...     doc.add_feed(unique_name("Example News", doc.names()), url="https://example.com/feed")
...     doc.save()
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import re
import stat
import tempfile
import unicodedata
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import DoubleQuotedScalarString

from crawler.archive import lock_within
from crawler.config.settings import ConfigModel, YamlLoader, load_settings
from crawler.errors import ConfigError

NAME_LENGTH = 60  # of a name made from a title; the config allows 200
LOCK_WAIT = 30.0  # seconds an edit waits for another to finish (each holds the lock for milliseconds)
TEMP_SUFFIX = ".fa-tmp"
_NOT_NAME = re.compile(r"[^\w]+")
_STR_TAG = "tag:yaml.org,2002:str"
_YAML11 = yaml.resolver.Resolver()
_PLAIN_WORDS = re.compile(r"\w[\w.-]*(?: [\w.-]+)*")  # words joined by `-`, `.` or one space
_PLAIN_URL = re.compile(r"https?://[\w./%~@=&?+;-]*[\w/]")


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
    """One config file: its text as it is, read the way `load_settings` reads it, and the feeds to add.

    The new feeds are written into the text at the end of the `feeds:` list, in the list's own
    layout (the columns of its dashes and keys, block or flow); not one other byte changes."""

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.original = text
        self._body = text.removeprefix("\ufeff")
        self._newline = "\r\n" if self._body.count("\r\n") > self._body.count("\n") // 2 else "\n"
        loader = YamlLoader(self._body)
        try:
            root = loader.get_single_node()
            data = loader.construct_document(root) if root is not None else None
        except yaml.YAMLError as exc:  # load_settings read it already; this is for safety only
            raise ConfigError(str(path), None, "", f"invalid YAML: {exc}") from None
        finally:
            loader.dispose()
        feeds_node = _value_node(root, "feeds")
        self._root: dict[str, Any] = data if isinstance(data, dict) else {}
        feeds = self._root.get("feeds")
        if not isinstance(feeds_node, yaml.SequenceNode) or not isinstance(feeds, list):
            raise ConfigError(str(path), None, "feeds", "must be a list to add feeds to")
        self._feeds: list[Any] = feeds
        self._node = feeds_node
        self._new: list[CommentedMap] = []

    @classmethod
    def open(cls, path: Path) -> ConfigDocument:
        try:
            text = path.read_bytes().decode("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(str(path), None, "", f"cannot read the config: {exc}") from None
        return cls(path, text)

    @classmethod
    @contextlib.contextmanager
    def edit(cls, path: Path) -> Iterator[ConfigDocument]:
        """The config as it is now, read under the edit lock, which is held until the block ends:
        `save()` inside the block cannot lose another edit's feeds."""
        with _edit_lock(path):
            yield cls.open(path)

    def _all_feeds(self) -> Iterator[dict[str, Any]]:
        yield from (feed for feed in self._feeds if isinstance(feed, dict))
        yield from self._new

    def names(self) -> set[str]:
        return {str(feed.get("name")) for feed in self._all_feeds()}

    def routes(self) -> dict[str, str]:
        """Route -> feed name, for the `route:` feeds (whichever instance a URL names them on)."""
        return {str(feed["route"]): str(feed.get("name")) for feed in self._all_feeds()
                if isinstance(feed.get("route"), str)}

    def feed_urls(self) -> dict[str, str]:
        """URL key -> feed name, for every feed (a `route:` at its URL on the first RSSHub instance)."""
        bases = self.rsshub_bases()
        urls: dict[str, str] = {}
        for feed in self._all_feeds():
            url, route = feed.get("url"), feed.get("route")
            if isinstance(url, str):
                urls[url_key(url)] = str(feed.get("name"))
            elif isinstance(route, str) and bases:
                urls[url_key(bases[0] + route)] = str(feed.get("name"))
        return urls

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
        title: str | None = None,
    ) -> None:
        feed = CommentedMap()
        feed["name"] = _as_written(name)
        if route is not None:
            feed["route"] = _as_written(route)
        else:
            feed["url"] = _as_written(url or "")
        if categories:
            listed = CommentedSeq(_as_written(c) for c in categories)
            listed.fa.set_flow_style()
            feed["categories"] = listed
        if site:
            feed["site"] = _as_written(site)
        if title and title != name:
            feed["title"] = _as_written(title)
        self._new.append(feed)

    def text(self) -> str:
        """The file's text with the new feeds at the end of its `feeds:` list."""
        if not self._new:
            return self.original
        body = self._body
        node = self._node
        if node.flow_style:
            close = node.end_mark.index - 1  # the `]`
            items = _render(self._new, flow=True)
            glue = ", " if node.value else ""
            body = body[:close].rstrip(" ") + glue + items + body[close:]
        else:
            dash, key = node.start_mark.column, _key_column(node)
            block = _render(self._new, flow=False, key_offset=key - dash)
            lines = [" " * dash + line for line in block.splitlines()]
            at = _end_of_line(body, _last_index(node.value[-1]))
            while comment := re.match(rf"[ \t]{{{dash + 1},}}#[^\n]*(\n|$)", body[at:]):
                at += comment.end()  # a comment inside the last item (`# interval: 1h`) stays with it
            head = body[:at] if at == 0 or body[at - 1] == "\n" else body[:at] + self._newline
            body = head + "".join(line + self._newline for line in lines) + body[at:]
        return ("\ufeff" if self.original.startswith("\ufeff") else "") + body

    def save(self) -> None:
        """Check the new text as the program reads configs, then put it in place atomically: in the
        real file's folder, over the real file (a symlinked config stays a symlink). A `ConfigError`
        (naming the config) leaves the file as it was; so does a full disk or a read-only folder."""
        text = self.text()
        target = self.path.resolve()
        try:
            if target.read_bytes().decode("utf-8", errors="replace") != self.original:
                raise ConfigError(str(self.path), None, "", "the config changed while this command was editing it "
                                  "(an edit that takes no lock); nothing written, run the command again")
            fd, temp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=TEMP_SUFFIX, dir=target.parent)
        except OSError as exc:
            raise ConfigError(str(self.path), None, "", f"cannot write the config: {_reason(exc)}") from None
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
                out.write(text)
                out.flush()
                os.fsync(out.fileno())
            with contextlib.suppress(OSError):
                os.chmod(temp, stat.S_IMODE(target.stat().st_mode))
            try:
                load_settings(temp)  # relative paths resolve as for the real file: same folder
            except ConfigError as exc:
                raise ConfigError(str(self.path), exc.line, exc.key, f"the edited config would be invalid: "
                                  f"{exc.message}") from None
            os.replace(temp, target)
        except BaseException as exc:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            if isinstance(exc, OSError):
                raise ConfigError(str(self.path), None, "", f"cannot write the config: {_reason(exc)}") from None
            raise


def _value_node(root: yaml.Node | None, key: str) -> yaml.Node | None:
    if not isinstance(root, yaml.MappingNode):
        return None
    return next((value for name, value in root.value if getattr(name, "value", None) == key), None)


def _key_column(feeds: yaml.SequenceNode) -> int:
    """The column of the keys of the list's first item (`- name:` -> the dash's column + 2)."""
    first = feeds.value[0]
    if isinstance(first, yaml.MappingNode) and not first.flow_style:
        return int(first.start_mark.column)
    return int(feeds.start_mark.column) + 2


def _last_index(item: yaml.Node) -> int:
    """Where the text of a list item ends: the end of its last scalar or flow collection (a block
    collection's own end lies at the next token, past comments and blank lines)."""
    last, seen, todo = 0, set(), [item]
    while todo:
        node = todo.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.ScalarNode) or getattr(node, "flow_style", False):
            last = max(last, node.end_mark.index)
        elif isinstance(node, yaml.MappingNode):
            todo.extend(part for pair in node.value for part in pair)
        elif isinstance(node, yaml.SequenceNode):
            todo.extend(node.value)
    return last


def _end_of_line(text: str, index: int) -> int:
    if index > 0 and text[index - 1] == "\n":  # a block scalar ends with its line
        return index
    newline = text.find("\n", index)
    return len(text) if newline < 0 else newline + 1


def _render(feeds: list[CommentedMap], *, flow: bool, key_offset: int = 2) -> str:
    """The new feeds as YAML: block items at column 0 with the keys `key_offset` after the dash,
    or flow mappings joined by `, ` for a flow list."""
    writer = YAML(typ="rt")
    writer.width = 1 << 30  # never fold a line
    out = io.StringIO()
    if flow:
        listed = CommentedSeq(feeds)
        listed.fa.set_flow_style()
        for feed in feeds:
            feed.fa.set_flow_style()
        writer.dump(listed, out)
        return out.getvalue().strip().removeprefix("[").removesuffix("]")
    writer.indent(mapping=2, sequence=max(key_offset, 2), offset=0)
    writer.dump(CommentedSeq(feeds), out)
    return out.getvalue()


def _as_written(value: str) -> str:
    """`value`, double-quoted unless it is a plain word or URL that every YAML reader, 1.1 or 1.2,
    block or flow context, takes for the same string (ruamel.yaml's own choice of plain is not
    that: it writes `[?x]`, which libyaml refuses)."""
    plain = bool(_PLAIN_WORDS.fullmatch(value) or _PLAIN_URL.fullmatch(value))
    if plain:
        loader = YamlLoader("")
        try:
            tags = {loader.resolve(yaml.ScalarNode, value, (True, False)),
                    _YAML11.resolve(yaml.ScalarNode, value, (True, False))}  # type: ignore[no-untyped-call]
        finally:
            loader.dispose()
        plain = tags == {_STR_TAG}
    return value if plain else DoubleQuotedScalarString(value)


@contextlib.contextmanager
def _edit_lock(path: Path) -> Iterator[None]:
    """Hold the edit lock of the config at `path` (beside its real file), then sweep the temporary
    files of edits that were killed: under the lock, none is any live edit's."""
    target = path.resolve()
    lock_path = target.parent / f".{target.name}.lock"
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise ConfigError(str(path), None, "", f"cannot write the config: {_reason(exc)}") from None
    try:
        if not lock_within(fd, LOCK_WAIT):
            raise ConfigError(str(path), None, "", f"another command has been editing the config for "
                              f"{LOCK_WAIT:.0f} s (it holds {lock_path}); try again")
        _sweep_temporaries(target)
        yield
    finally:
        os.close(fd)


def _sweep_temporaries(target: Path) -> None:
    with contextlib.suppress(OSError):
        for entry in os.scandir(target.parent):
            if entry.name.startswith(f".{target.name}.") and entry.name.endswith(TEMP_SUFFIX):
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)


def _reason(exc: OSError) -> str:
    where = f"{exc.filename}: " if exc.filename else ""
    return f"{where}{exc.strerror or exc}" if exc.errno != errno.ENOSPC else f"{where}no space left on the device"
