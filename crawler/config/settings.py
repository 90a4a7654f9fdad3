"""YAML config -> frozen `Settings`, every mistake reported as `PATH:LINE: KEY: problem`.

The YAML is composed into nodes first so that each value keeps its line; pydantic
then checks types, ranges and unknown keys, and its error locations are mapped
back onto those lines.
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pydantic
import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

from crawler import __version__
from crawler.errors import ConfigError as ConfigError

# The value types live in models (the stages read them without loading pydantic) and are
# re-exported here, where the config that builds them is.
from crawler.models import BodyKind, OutputFormat
from crawler.models import FeedSource as FeedSource
from crawler.models import FullTextMode as FullTextMode
from crawler.models import HttpSettings as HttpSettings
from crawler.models import OutputSettings as OutputSettings
from crawler.models import UpdatesMode as UpdatesMode
from crawler.runtime import collector_paused

DEFAULT_IFRAME_HOSTS = (
    "www.youtube.com",
    "youtube.com",
    "www.youtube-nocookie.com",
    "player.vimeo.com",
    "player.bilibili.com",
    "www.dailymotion.com",
)

_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(s|m|h|d)")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*(b|kb|kib|mb|mib|gb|gib)?", re.IGNORECASE)
_SIZE_FACTOR = {"b": 1, "kb": 1000, "kib": 1024, "mb": 1000**2, "mib": 1024**2, "gb": 1000**3, "gib": 1024**3}


def parse_duration(value: object) -> float:
    """`90s`, `30m`, `2h`, `1d`, `1h30m` or a number of seconds -> seconds."""
    if isinstance(value, bool):
        raise ValueError("expected a duration like 90s, 30m, 2h or 1d")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and value.strip():
        text = value.strip().lower().replace(" ", "")
        parts = _DURATION.findall(text)
        if not parts or "".join(n + u for n, u in parts) != text:
            raise ValueError(f"{value!r} is not a duration like 90s, 30m, 2h or 1d")
        seconds = sum(float(n) * _UNIT_SECONDS[u] for n, u in parts)
    else:
        raise ValueError("expected a duration like 90s, 30m, 2h or 1d")
    if seconds <= 0:
        raise ValueError("must be longer than zero")
    return seconds


def parse_size(value: object) -> int:
    """`20MB`, `512 KiB` or a number of bytes -> bytes."""
    if isinstance(value, int) and not isinstance(value, bool):
        size = value
    elif isinstance(value, str) and (m := _SIZE.fullmatch(value.strip())):
        size = int(float(m.group(1)) * _SIZE_FACTOR[str(m.group(2) or "b").lower()])
    else:
        raise ValueError(f"{value!r} is not a size like 20MB")
    if size <= 0:
        raise ValueError("must be larger than zero")
    return size


# C0 and C1 control characters (Unicode category Cc): no name, category or URL holds one. They
# cannot be written to an OPML export (XML 1.0 forbids most of them) nor shown on one line.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
PATH_MAX = 4096  # Linux's limit on a path given to a system call, the terminating NUL included
_PATH_SLACK = len("/.revisions") + len("/20240102T030405.123456Z.md") + 64  # revisions, temporary names


def check_no_control(value: str) -> str:
    """`value`, or a ValueError naming its first control character (a tab, a bell, a line break...)."""
    if found := _CONTROL.search(value):
        raise ValueError(f"{value!r} holds a control character ({found.group()!r}); remove it")
    return value


# What urlsplit certainly reads as an http(s) URL with a host (printable ASCII, a plain host name):
# most feeds' URLs, checked without it (100,000 feeds: 0.3 s less).
_PLAIN_HTTP_URL = re.compile(r"https?://[A-Za-z0-9.-]+(?::[0-9]{1,5})?(?:[/?#][!-~]*)?")


def _check_http_url(value: str) -> str:
    if _PLAIN_HTTP_URL.fullmatch(value) is not None:
        return value
    check_no_control(value)
    try:
        parts = urlsplit(value)
        hostname = parts.hostname
    except ValueError as exc:  # `http://[::1`: an unclosed IPv6 literal
        raise ValueError(f"{value!r} is not a URL: {exc}") from None
    if parts.scheme not in ("http", "https") or not hostname:
        raise ValueError(f"{value!r} is not an http:// or https:// URL")
    return value


def split_listen(value: str) -> tuple[str, int]:
    """`HOST:PORT` (`[::1]:PORT` for IPv6) -> (host, port); port 0 takes any free port."""
    host, sep, port = value.strip().rpartition(":")
    host = host.removeprefix("[").removesuffix("]") if host.startswith("[") else host
    if not sep or not host or not port.isdigit() or int(port) > 65535 or (":" in host and "[" not in value):
        raise ValueError(f"{value!r} is not HOST:PORT (e.g. 127.0.0.1:9464, [::1]:9464)")
    if ":" not in host:
        try:
            # What the resolver does with the name before it binds: an empty label (`a..b`) or one
            # longer than 63 characters is refused there, with a traceback; here, with a line.
            host.encode("idna")
        except UnicodeError:
            raise ValueError(f"{value!r}: {host!r} is not a host name (a part is empty or longer than "
                             "63 characters)") from None
    return host, int(port)


def _check_listen(value: str) -> str:
    split_listen(value)
    return value


def _check_cron(value: str) -> str:
    from apscheduler.triggers.cron import CronTrigger

    try:
        CronTrigger.from_crontab(value)
    except ValueError as exc:
        raise ValueError(f"{value!r} is not a crontab expression ({exc})") from None
    return value


# RFC 9110: a field name is a token; a value is visible ASCII, spaces and tabs (httpx sends ASCII only).
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_HEADER_VALUE = re.compile(r"[\t\x20-\x7e]*")


def _check_header_value(name: str, value: str) -> str:
    if not _HEADER_VALUE.fullmatch(value):
        raise ValueError(f"the value of {name} must be printable ASCII (no line breaks, no other characters)")
    return value


def _check_headers(value: dict[str, str] | None) -> dict[str, str] | None:
    for name, text in (value or {}).items():
        if not _HEADER_NAME.fullmatch(name):
            raise ValueError(f"{name!r} is not a header name")
        _check_header_value(name, text)
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class HttpModel(_Strict):
    user_agent: str = f"feed-archiver/{__version__} (+news archiver; polite, conditional GET)"
    timeout: float = 15.0
    total_timeout: float = 60.0
    max_body: int = 20 * 1000 * 1000
    max_redirects: int = Field(5, ge=0, le=20)
    concurrency: int = Field(10, ge=1, le=512)
    per_host: int = Field(2, ge=1, le=64)
    retries: int = Field(2, ge=0, le=10)
    proxy: str | None = None
    http2: bool = True
    robots: bool = True

    _durations = field_validator("timeout", "total_timeout", mode="before")(parse_duration)
    _sizes = field_validator("max_body", mode="before")(parse_size)

    @field_validator("user_agent")
    @classmethod
    def _user_agent(cls, value: str) -> str:
        return _check_header_value("User-Agent", value)


class OptionsModel(_Strict):
    """Keys that may stand in `defaults:` or on one feed."""

    interval: float | None = None
    cron: str | None = None
    full_text: FullTextMode | None = None
    full_text_min_chars: int | None = Field(None, ge=0)
    images: bool | None = None
    max_items: int | None = Field(None, ge=1, le=100_000)
    headers: dict[str, str] | None = None
    allow_private_network: bool | None = None
    updates: UpdatesMode | None = None
    categories: list[str] | None = None
    author: str | None = None

    @field_validator("interval", mode="before")
    @classmethod
    def _interval(cls, value: object) -> float | None:
        return None if value is None else parse_duration(value)

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        return None if value is None else _check_cron(value)

    _headers = field_validator("headers")(_check_headers)

    @field_validator("categories")
    @classmethod
    def _categories(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and any(not c.strip() for c in value):
            raise ValueError("a category cannot be empty")
        for category in value or ():
            check_no_control(category)
        return value


class FeedModel(OptionsModel):
    name: str = Field(min_length=1, max_length=200)
    url: str | None = None
    route: str | None = None
    site: str | None = None
    title: str | None = Field(None, max_length=1000)  # the feed's own title: import and add write it, export shows it

    @field_validator("url", "site")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return None if value is None else _check_http_url(value)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return check_no_control(value)

    @field_validator("title")
    @classmethod
    def _title(cls, value: str | None) -> str | None:
        return None if value is None else check_no_control(value)

    @field_validator("route")
    @classmethod
    def _route(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("/"):
            raise ValueError(f"{value!r} must start with /")
        return value


class ClusterModel(_Strict):
    node: str | None = Field(None, min_length=1, max_length=200)
    lease: float = 60.0

    _lease = field_validator("lease", mode="before")(parse_duration)


class MetricsModel(_Strict):
    listen: str

    _listen = field_validator("listen")(_check_listen)


class OutputModel(_Strict):
    format: OutputFormat = "hexo"
    body: BodyKind | None = None  # default: html for hexo, markdown for the others


class CaptureModel(_Strict):
    warc: bool = False
    warc_max_size: int = 1000 * 1000 * 1000
    warc_dir: str | None = None

    _sizes = field_validator("warc_max_size", mode="before")(parse_size)


class ConfigModel(_Strict):
    archive_dir: str = "../archive"
    images_dir: str | None = None
    state: str | None = None
    rsshub: list[str] = Field(default_factory=lambda: ["https://rsshub.app"])
    image_url_prefix: str | None = None
    image_referers: dict[str, str] = Field(default_factory=dict)
    iframe_hosts: list[str] = Field(default_factory=lambda: list(DEFAULT_IFRAME_HOSTS))
    shutdown_timeout: float = 8.0
    metrics: MetricsModel | None = None
    http: HttpModel = Field(default_factory=lambda: HttpModel())
    defaults: OptionsModel = Field(default_factory=lambda: OptionsModel())
    feeds: list[Any] = Field(min_length=1)  # each a FeedModel, validated a chunk at a time (_validate)
    cluster: ClusterModel | None = None
    output: OutputModel = Field(default_factory=lambda: OutputModel())
    capture: CaptureModel = Field(default_factory=lambda: CaptureModel())

    @field_validator("rsshub", mode="before")
    @classmethod
    def _rsshub(cls, value: object) -> list[str]:
        given = [value] if isinstance(value, str) else value
        if not isinstance(given, list) or not all(isinstance(url, str) for url in given):
            raise ValueError("expected an http(s) URL or a list of them")
        if not given:
            raise ValueError("give at least one RSSHub instance URL")
        instances: list[str] = []
        for url in given:
            instance = _check_http_url(url.strip()).rstrip("/")
            if instance in instances:
                raise ValueError(f"{url!r} is listed twice")
            instances.append(instance)
        return instances

    @field_validator("image_referers")
    @classmethod
    def _image_referers(cls, value: dict[str, str]) -> dict[str, str]:
        from crawler.fetch import check_host_key, check_value

        rules: dict[str, str] = {}
        for key, referer in value.items():
            host = check_host_key(key)
            try:
                rules[host] = check_value(referer)
            except ValueError as exc:
                raise ValueError(f"{key}: {exc}") from None
        return rules
    _shutdown = field_validator("shutdown_timeout", mode="before")(parse_duration)

    @field_validator("state")
    @classmethod
    def _state(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("sqlite:///", "postgresql://", "postgresql+asyncpg://")):
            raise ValueError("must be sqlite:///PATH or postgresql://...")
        return value


@dataclass(frozen=True)
class ClusterSettings:
    """This process as a node of a cluster on one PostgreSQL store (see DESIGN.md, "Cluster")."""

    node: str
    lease: float


@dataclass(frozen=True)
class CaptureSettings:
    """`capture:`: the WARC files (DESIGN.md, "Capture: the raw record (WARC)")."""

    warc: bool  # on: every exchange of a poll also goes into the WARC files
    warc_max_size: int
    warc_dir: Path  # <archive_dir>/warc unless set


@dataclass(frozen=True)
class Settings:
    config_path: Path
    archive_dir: Path
    images_dir: Path
    state_url: str
    image_url_prefix: str | None
    iframe_hosts: frozenset[str]
    shutdown_timeout: float
    http: HttpSettings
    feeds: tuple[FeedSource, ...]
    key_lines: Mapping[str, int] = field(default_factory=dict)
    cluster: ClusterSettings | None = None  # always set for a PostgreSQL store, never for SQLite
    metrics_listen: str | None = None  # `metrics.listen`: where the daemon serves /metrics, /healthz, /readyz
    image_referers: Mapping[str, str] = field(default_factory=dict)  # `image_referers:`, checked
    allow_private_network: bool | None = None  # `defaults.allow_private_network` (for `add`'s discovered links)
    output: OutputSettings = field(default_factory=OutputSettings)  # `output:`: format and body
    capture: CaptureSettings | None = None  # always set by `load_settings`

    @property
    def outside_archive(self) -> tuple[Path, ...]:
        """The folders written to besides the archive (an images_dir of its own), swept with it."""
        return () if self.images_dir.is_relative_to(self.archive_dir) else (self.images_dir,)

    def select(self, names: list[str]) -> tuple[FeedSource, ...]:
        """The named feeds, in config order; an unknown name is a `ConfigError`."""
        known = {f.name for f in self.feeds}
        for name in names:
            if name not in known:
                raise ConfigError(str(self.config_path), None, "--feed", f"no feed named {name!r} in the config")
        return tuple(f for f in self.feeds if not names or f.name in names)


# -- YAML with line numbers ----------------------------------------------------------------------
#
# A config of 100,000 feeds must be read in a second or two and without holding a node per value
# (a composed tree of one is 300 MB: two `Mark`s per node). So the document is built from libyaml's
# events, one at a time, and lines are looked up only for an error, by a second pass over the
# events that follows the error's path. What the event reader does not do itself (an explicit tag,
# a merge key, a complex key, an alias it cannot place, a second document) is read by composing
# the nodes, as before, which also gives every YAML error its usual message.


# libyaml's loader when PyYAML was built with it: a 1,000-feed config parses ten times faster.
_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_SafeLoader):  # type: ignore[misc, valid-type]
    """A safe loader whose scalars are all plain data; no custom tags.

    Plain scalars are resolved as YAML 1.2 reads them (its core schema), as ruamel.yaml, the
    editor of `import` and `add`, writes them: `No`, `on`, `12:30` are strings, not a boolean and
    a number of minutes. (A boolean key still takes `yes`/`no`: pydantic reads those strings.)"""


# YAML 1.2's booleans, integers and floats, replacing YAML 1.1's; the regular expressions are
# ruamel.yaml's own for 1.2 (tests/unit/test_config_yaml.py compares them). Null, timestamps and
# merge keys read the same in both versions.
_YAML12 = {
    "tag:yaml.org,2002:bool": (re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), "tTfF"),
    "tag:yaml.org,2002:float": (re.compile(r"""^(?:
         [-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
        |[-+]?\.[0-9_]+(?:[eE][-+][0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""", re.X), "-+0123456789."),
    "tag:yaml.org,2002:int": (re.compile(r"""^(?:[-+]?0b[0-1_]+
        |[-+]?0o?[0-7_]+
        |[-+]?[0-9_]+
        |[-+]?0x[0-9a-fA-F_]+)$""", re.X), "-+0123456789"),
}
_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag not in _YAML12]
    for first, resolvers in _SafeLoader.yaml_implicit_resolvers.items()
}
for _tag, (_regexp, _first) in _YAML12.items():
    _Loader.add_implicit_resolver(_tag, _regexp, list(_first))
YamlLoader = _Loader  # for the config editor: it reads the file as this module does


_STR_TAG = "tag:yaml.org,2002:str"
FEED_CHUNK = 1024  # feeds validated per call: the pydantic models of one chunk at a time are alive


class _NeedNodes(Exception):
    """The event reader met what only the node reader reads."""


class _YamlProblem(Exception):
    def __init__(self, line: int, key: str, message: str) -> None:
        self.line, self.key, self.message = line, key, message


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def _key_path(loc: tuple[str | int, ...]) -> str:
    path = ""
    for part in loc:
        path = _join(path, part)
    return path


class _EventReader:
    """One YAML document from the parser's events to plain data, as `_construct` makes it from nodes."""

    def __init__(self, loader: _Loader) -> None:
        self._loader = loader
        self._next = loader.get_event
        self._anchors: dict[str, Any] = {}
        self.problem: _YamlProblem | None = None
        self.key_lines: dict[str, int] = {}
        resolvers = loader.yaml_implicit_resolvers
        # `resolve` inlined while it is PyYAML's own with no path or catch-all rules: a quoted
        # scalar is a string, a plain one is what the first rule for its first character matches.
        self._by_first: dict[str, tuple[tuple[str, Any], ...]] = {
            key: tuple(rules) for key, rules in resolvers.items() if key is not None}
        self._shortcut = (type(loader).resolve is yaml.resolver.BaseResolver.resolve
                          and not loader.yaml_path_resolvers and None not in resolvers)

    def document(self) -> tuple[Any, int] | None:
        """(data, line of the root) of the single document; None for an empty stream."""
        self._next()  # StreamStartEvent
        if isinstance(self._next(), yaml.StreamEndEvent):
            return None
        root = self._next()
        data = self._node(root, ())
        self._next()  # DocumentEndEvent
        if not isinstance(self._next(), yaml.StreamEndEvent):
            raise _NeedNodes  # a second document: the composer's error
        if self.problem is not None:
            raise self.problem
        return data, root.start_mark.line + 1

    def _note(self, line: int, key: str, message: str) -> None:
        # The first in document order; a YAML error anywhere still comes first (as the composer,
        # which reads the whole document before any value is made, reports it).
        if self.problem is None:
            self.problem = _YamlProblem(line, key, message)

    def _scalar(self, event: yaml.ScalarEvent) -> Any:
        if event.tag is not None:
            raise _NeedNodes
        value: str = event.value
        if self._shortcut:
            if not event.implicit[0]:
                return value
            rules = self._by_first.get(value[:1])
            if rules is None:
                return value
            tag = _STR_TAG
            for rule_tag, pattern in rules:
                if pattern.match(value):
                    tag = rule_tag
                    break
        else:
            tag = self._loader.resolve(yaml.ScalarNode, value, event.implicit)
        if tag == _STR_TAG:
            return value
        loader = self._loader
        constructor = loader.yaml_constructors.get(tag)
        if constructor is None:
            raise _NeedNodes  # `<<`, `=`: the constructor's error
        node = yaml.ScalarNode(tag, value, event.start_mark, event.end_mark, event.style)  # type: ignore[arg-type]
        return constructor(loader, node)

    def _node(self, event: yaml.Event, path: tuple[str | int, ...]) -> Any:
        kind = event.__class__
        if kind is yaml.ScalarEvent:
            value = self._scalar(event)  # type: ignore[arg-type]
        elif kind is yaml.MappingStartEvent:
            value = self._mapping(event, path)  # type: ignore[arg-type]
        elif kind is yaml.SequenceStartEvent:
            value = self._sequence(event, path)  # type: ignore[arg-type]
        elif kind is yaml.AliasEvent and event.anchor in self._anchors:  # type: ignore[attr-defined]
            return self._anchors[event.anchor]  # type: ignore[attr-defined]
        else:
            raise _NeedNodes
        anchor = getattr(event, "anchor", None)
        if anchor is not None:
            if anchor in self._anchors:
                raise _NeedNodes  # the composer's "duplicate anchor"
            self._anchors[anchor] = value
        return value

    def _mapping(self, start: yaml.MappingStartEvent, path: tuple[str | int, ...]) -> dict[str, Any]:
        if start.tag is not None:
            raise _NeedNodes
        result: dict[str, Any] = {}
        lines = self.key_lines if not path else None
        get, scalar, scalar_event, end = self._next, self._scalar, yaml.ScalarEvent, yaml.MappingEndEvent
        while True:
            key_event = get()
            kind = key_event.__class__
            if kind is end:
                return result
            if kind is not scalar_event or key_event.anchor is not None:
                raise _NeedNodes
            key = scalar(key_event)
            value_event = get()
            if value_event.__class__ is scalar_event and value_event.anchor is None:
                value = scalar(value_event)
            else:
                value = self._node(value_event, (*path, key))
            if not isinstance(key, str):
                self._note(key_event.start_mark.line + 1, _key_path(path), f"key {key!r} must be a string")
            elif key in result:
                self._note(key_event.start_mark.line + 1, _key_path((*path, key)), "appears twice")
            else:
                result[key] = value
                if lines is not None:
                    lines[key] = key_event.start_mark.line + 1

    def _sequence(self, start: yaml.SequenceStartEvent, path: tuple[str | int, ...]) -> list[Any]:
        if start.tag is not None:
            raise _NeedNodes
        result: list[Any] = []
        get, append, scalar, scalar_event, end = self._next, result.append, self._scalar, yaml.ScalarEvent, \
            yaml.SequenceEndEvent
        while True:
            event = get()
            kind = event.__class__
            if kind is end:
                return result
            if kind is scalar_event and event.anchor is None:
                append(scalar(event))
            else:
                append(self._node(event, (*path, len(result))))


def _construct(node: yaml.Node, path: str, loader: _Loader) -> Any:
    if isinstance(node, yaml.MappingNode):
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node)
            if not isinstance(key, str):
                raise _YamlProblem(key_node.start_mark.line + 1, path, f"key {key!r} must be a string")
            if key in result:
                raise _YamlProblem(key_node.start_mark.line + 1, _join(path, key), "appears twice")
            result[key] = _construct(value_node, _join(path, key), loader)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_construct(item, f"{path}[{i}]", loader) for i, item in enumerate(node.value)]
    return loader.construct_object(node)


def _read_yaml(text: str, shown: str) -> tuple[Any, int, dict[str, int]]:
    """The config's data, the line of its root, and the line of each top-level key."""
    try:
        try:
            loader = _Loader(text)
            try:
                reader = _EventReader(loader)
                read = reader.document()
            finally:
                loader.dispose()
            if read is None:
                raise ConfigError(shown, 1, "", "the config is empty")
            return read[0], read[1], reader.key_lines
        except _NeedNodes:
            pass
        loader = _Loader(text)
        try:
            root = loader.get_single_node()
            if root is None:
                raise ConfigError(shown, 1, "", "the config is empty")
            data = _construct(root, "", loader)
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise ConfigError(shown, line, "", f"invalid YAML: {exc.problem or exc.context}") from None
    except _YamlProblem as exc:
        raise ConfigError(shown, exc.line, exc.key, exc.message) from None
    lines = {key.value: key.start_mark.line + 1 for key, _ in root.value} if isinstance(root, yaml.MappingNode) else {}
    return data, root.start_mark.line + 1, lines


def _line_of(root: yaml.Node, loc: tuple[str | int, ...]) -> int:
    """The line of the deepest node along `loc` (a key's own line for unknown keys)."""
    node = root
    line: int = root.start_mark.line + 1
    for part in loc:
        if isinstance(node, yaml.MappingNode) and isinstance(part, str):
            match = next(((k, v) for k, v in node.value if getattr(k, "value", None) == part), None)
            if match is None:
                return line
            line = int(match[0].start_mark.line) + 1
            node = match[1]
            if not isinstance(node, yaml.ScalarNode | yaml.SequenceNode | yaml.MappingNode):
                return line
            if isinstance(node, yaml.ScalarNode):
                line = node.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line


Loc = tuple[str | int, ...]


def _lines_of(text: str, locs: list[Loc]) -> dict[Loc, int]:
    """`_line_of` for each of `locs`, in one pass over the events (the nodes only past an alias)."""
    trie: dict[Any, Any] = {}
    for loc in locs:
        branch = trie
        for part in loc:
            branch = branch.setdefault(part, {})
    found: dict[Loc, int] = {}
    loader = _Loader(text)
    try:
        get = loader.get_event
        get()  # StreamStartEvent
        get()  # DocumentStartEvent
        root = get()
        _walk_lines(get, root, trie, (), _line(root), found)
    except _NeedNodes:
        loader.dispose()
        loader = _Loader(text)
        root = loader.get_single_node()
        return {loc: _line_of(root, loc) for loc in locs}
    finally:
        loader.dispose()
    return {loc: found[loc] for loc in locs}


def _walk_lines(get: Any, event: yaml.Event, trie: dict[Any, Any], at: Loc, line: int, found: dict[Loc, int]) -> None:
    """Consume the node that starts with `event`; note the line of every path of `trie` below `at`."""
    found[at] = line
    kind = event.__class__
    if kind is yaml.MappingStartEvent and trie:
        while (key := get()).__class__ is not yaml.MappingEndEvent:
            if key.__class__ is not yaml.ScalarEvent:
                _skip(get, key)
                _skip(get, get())
                continue
            value = get()
            branch = trie.get(key.value)
            if branch is None or (*at, key.value) in found:
                _skip(get, value)
                continue
            if value.__class__ is yaml.AliasEvent:
                raise _NeedNodes
            key_line = _line(value) if value.__class__ is yaml.ScalarEvent else _line(key)
            _walk_lines(get, value, branch, (*at, key.value), key_line, found)
    elif kind is yaml.SequenceStartEvent and trie:
        index = 0
        while (item := get()).__class__ is not yaml.SequenceEndEvent:
            branch = trie.get(index)
            if branch is None:
                _skip(get, item)
            elif item.__class__ is yaml.AliasEvent:
                raise _NeedNodes
            else:
                _walk_lines(get, item, branch, (*at, index), _line(item), found)
            index += 1
    else:
        _skip(get, event)
    _fill(trie, at, line, found)


def _line(event: yaml.Event) -> int:
    return event.start_mark.line + 1 if event.start_mark is not None else 1


def _fill(trie: dict[Any, Any], at: Loc, line: int, found: dict[Loc, int]) -> None:
    """The paths below `at` that were not reached stop at `at`'s line."""
    for part, branch in trie.items():
        below = (*at, part)
        if below not in found:
            found[below] = line
            _fill(branch, below, line, found)


def _skip(get: Any, event: yaml.Event) -> None:
    """Consume the rest of the node that starts with `event`."""
    if event.__class__ not in (yaml.MappingStartEvent, yaml.SequenceStartEvent):
        return
    depth = 1
    while depth:
        kind = get().__class__
        if kind is yaml.MappingStartEvent or kind is yaml.SequenceStartEvent:
            depth += 1
        elif kind is yaml.MappingEndEvent or kind is yaml.SequenceEndEvent:
            depth -= 1


def _describe(error: Mapping[str, Any]) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        return "unknown key (a typo?)"
    if kind == "missing":
        return "is required"
    message = str(error["msg"])
    return message.removeprefix("Value error, ")


def load_settings(path: Path | str) -> Settings:
    """Read and validate a config file; raises `ConfigError` for every user mistake."""
    config_path = Path(path)
    shown = str(path)
    try:
        text = config_path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(shown, None, "", "no such config file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(shown, None, "", f"cannot read the config: {exc}") from None
    with collector_paused():
        data, root_line, lines = _read_yaml(text, shown)
        if not isinstance(data, dict):
            raise ConfigError(shown, root_line, "", "the config must be a mapping of keys")
        return _validate(data, text, config_path, shown, lines)


_FEED_LIST: pydantic.TypeAdapter[list[FeedModel]] = pydantic.TypeAdapter(list[FeedModel])


def _validate(data: dict[str, Any], text: str, config_path: Path, shown: str, lines: dict[str, int]) -> Settings:
    """pydantic's checks, the top level in one call and the feeds a chunk at a time, each chunk made
    into `FeedSource`s before the next (never a model per feed alive at once); then the checks
    across keys. The first mistake by line is reported, as if the whole config were one model."""
    errors: list[Mapping[str, Any]] = []
    model: ConfigModel | None = None
    try:
        model = ConfigModel.model_validate(data)
    except pydantic.ValidationError as exc:
        errors.extend(exc.errors())
    items = data.get("feeds")
    items = items if isinstance(items, list) else []
    build = _FeedBuilder(model) if model is not None else None
    for start in range(0, len(items), FEED_CHUNK):
        try:
            chunk = _FEED_LIST.validate_python(items[start:start + FEED_CHUNK])
        except pydantic.ValidationError as exc:
            # Later chunks hold later lines: their mistakes are never the first.
            errors.extend({**error, "loc": ("feeds", start + int(error["loc"][0]), *error["loc"][1:])}
                          for error in exc.errors())
            break
        if build is not None:
            build.add(start, chunk)
    if errors:
        where = _lines_of(text, [tuple(error["loc"]) for error in errors])
        first = min(errors, key=lambda error: where[tuple(error["loc"])])
        loc = tuple(first["loc"])
        raise ConfigError(shown, where[loc], _key_path(loc), _describe(first)) from None
    assert model is not None and build is not None
    return _resolve(model, build, text, config_path, shown, lines)


class _FeedBuilder:
    """Validated feeds -> `FeedSource`s with `defaults:` merged in, sharing what they can (the
    defaults' values, one headers mapping, equal category tuples); notes the first cross-key mistake."""

    def __init__(self, model: ConfigModel) -> None:
        defaults = model.defaults
        self._rsshub = tuple(model.rsshub)
        self._base: dict[str, Any] = {key: value for key in _OPTION_KEYS
                                      if (value := getattr(defaults, key)) is not None}
        self._headers: dict[str, str] = dict(defaults.headers or {})
        self._base["headers"] = self._headers
        self._tuples: dict[tuple[str, ...], tuple[str, ...]] = {}
        if "categories" in self._base:
            self._base["categories"] = self._tuple(self._base["categories"])
        self.default_categories: tuple[str, ...] | None = self._base.get("categories")
        self._seen: set[str] = set()
        self.feeds: list[FeedSource] = []
        self.problem: tuple[Loc, str, str] | None = None  # (where, key, message)

    def _tuple(self, values: list[str]) -> tuple[str, ...]:
        values_tuple = tuple(values)
        return self._tuples.setdefault(values_tuple, values_tuple)

    def add(self, start: int, chunk: list[FeedModel]) -> None:
        if self.problem is not None:
            return
        for offset, feed in enumerate(chunk):
            index = start + offset
            if feed.name in self._seen:
                self.problem = (("feeds", index, "name"), f"feeds[{index}].name",
                                f"duplicate feed name {feed.name!r}")
            elif (feed.url is None) == (feed.route is None):
                self.problem = (("feeds", index), f"feeds[{index}]", "give exactly one of url or route")
            elif feed.interval is not None and feed.cron is not None:
                self.problem = (("feeds", index), f"feeds[{index}]", "set either interval or cron, not both")
            if self.problem is not None:
                return
            self._seen.add(feed.name)
            self.feeds.append(self._source(feed))

    def _source(self, feed: FeedModel) -> FeedSource:
        """The per-feed keys of `FeedSource`: the feed's own value, else `defaults:`, else the
        field's default in `FeedSource`. Read off `OptionsModel`'s fields, so a new per-feed key
        is declared there and in `FeedSource`, and nothing here changes."""
        merged = dict(self._base)
        for key in feed.model_fields_set & _OPTION_KEYS:
            value = getattr(feed, key)
            if value is not None:
                merged[key] = value
        # A schedule is one setting: a feed's own interval replaces a default cron, and the reverse.
        if feed.interval is not None and feed.cron is None:
            merged.pop("cron", None)
        merged["headers"] = {**self._headers, **feed.headers} if feed.headers else self._headers
        if feed.categories is not None:
            merged["categories"] = self._tuple(feed.categories)
        instances = self._rsshub if feed.route else ()
        url = feed.url or instances[0] + (feed.route or "")
        return FeedSource(name=feed.name, url=url, site=feed.site, title=feed.title, route=feed.route,
                          instances=instances, **merged)


_OPTION_KEYS = frozenset(OptionsModel.model_fields)


def _resolve(model: ConfigModel, build: _FeedBuilder, text: str, config_path: Path, shown: str,
             lines: dict[str, int]) -> Settings:
    base = config_path.resolve().parent
    archive_dir = Path(os.path.expanduser(model.archive_dir))
    archive_dir = archive_dir if archive_dir.is_absolute() else base / archive_dir
    images_dir = Path(os.path.normpath(base / os.path.expanduser(model.images_dir))) if model.images_dir else None
    state_url = model.state or f"sqlite:///{archive_dir / '.feed-archiver.sqlite'}"
    if state_url.startswith("sqlite:///") and not state_url.startswith("sqlite:////"):
        relative = state_url.removeprefix("sqlite:///")
        if relative != ":memory:":
            # The folder resolved, the file not: a store planted as a symlink must still be seen as one.
            state_url = f"sqlite:///{(base / relative).parent.resolve() / Path(relative).name}"
    cluster = _cluster(model, state_url, shown, lines)
    defaults = model.defaults
    if defaults.interval is not None and defaults.cron is not None:
        raise ConfigError(shown, lines.get("defaults"), "defaults", "set either interval or cron, not both")
    if build.problem is not None:
        loc, key, message = build.problem
        raise ConfigError(shown, _lines_of(text, [loc])[loc], key, message)
    _check_path_lengths(archive_dir, build, text, shown)
    http = HttpSettings(**model.http.model_dump())
    return Settings(
        config_path=config_path,
        archive_dir=archive_dir,
        images_dir=images_dir or archive_dir / "images",
        state_url=state_url,
        image_url_prefix=model.image_url_prefix,
        image_referers=model.image_referers,
        iframe_hosts=frozenset(h.lower() for h in model.iframe_hosts),
        shutdown_timeout=model.shutdown_timeout,
        http=http,
        feeds=tuple(build.feeds),
        key_lines=lines,
        cluster=cluster,
        metrics_listen=model.metrics.listen if model.metrics else None,
        allow_private_network=defaults.allow_private_network,
        output=_output(model.output, shown, text),
        capture=CaptureSettings(
            warc=model.capture.warc, warc_max_size=model.capture.warc_max_size,
            warc_dir=Path(os.path.normpath(base / os.path.expanduser(model.capture.warc_dir)))
            if model.capture.warc_dir else archive_dir / "warc",
        ),
    )


def _output(model: OutputModel, shown: str, text: str) -> OutputSettings:
    """`output:`; an Obsidian note holds no HTML, so its body is Markdown."""
    body = model.body or ("html" if model.format == "hexo" else "markdown")
    if model.format == "obsidian" and body == "html":
        loc: Loc = ("output", "body")
        raise ConfigError(shown, _lines_of(text, [loc])[loc], "output.body",
                          "obsidian notes hold no HTML: use body: markdown")
    return OutputSettings(format=model.format, body=body)


def _check_path_lengths(archive_dir: Path, build: _FeedBuilder, text: str, shown: str) -> None:
    """Categories are folders: their path under the archive (each folder named as the archive names
    it, at most 200 bytes) must leave room for an entry's file, its revisions and a temporary name.
    Each set of categories is checked once (feeds share them)."""
    checked: set[tuple[str, ...]] = set()
    for index, feed in enumerate(build.feeds):
        if not feed.categories or feed.categories in checked:
            continue
        checked.add(feed.categories)
        longest = _longest_path(archive_dir, feed.categories)
        if longest >= PATH_MAX:
            loc: Loc = ("defaults", "categories") if feed.categories is build.default_categories else (
                "feeds", index, "categories")
            raise ConfigError(shown, _lines_of(text, [loc])[loc], f"feeds[{index}].categories",
                              f"the archive paths of these {len(feed.categories)} categories would be up to "
                              f"{longest} bytes long, over the system's limit of {PATH_MAX}; use fewer "
                              "or shorter categories")


def _longest_path(archive_dir: Path, categories: tuple[str, ...]) -> int:
    from crawler.archive import MAX_NAME_BYTES, safe_component

    folders = sum(1 + len(safe_component(c).encode()) for c in categories)
    return len(os.fsencode(archive_dir.resolve())) + folders + 1 + MAX_NAME_BYTES + _PATH_SLACK


def _cluster(model: ConfigModel, state_url: str, shown: str, lines: dict[str, int]) -> ClusterSettings | None:
    """Leases for every PostgreSQL store (a node of one); `cluster:` with SQLite is a mistake."""
    if not state_url.startswith("postgresql"):
        if model.cluster is not None:
            raise ConfigError(shown, lines.get("cluster"), "cluster",
                              "needs a postgresql:// state store (an SQLite store has one writer)")
        return None
    given = model.cluster or ClusterModel()
    return ClusterSettings(node=given.node or f"{socket.gethostname()}-{os.getpid()}", lease=given.lease)


def ensure_archive_dir(settings: Settings) -> None:
    """Create the archive and images folders if needed; an unwritable one is a config error."""
    for key, folder in (("archive_dir", settings.archive_dir), ("images_dir", settings.images_dir)):
        where = str(settings.config_path)
        line = settings.key_lines.get(key, settings.key_lines.get("archive_dir"))
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(where, line, key, f"cannot create {folder}: {exc.strerror}") from None
        if not os.access(folder, os.W_OK | os.X_OK):
            raise ConfigError(where, line, key, f"{folder} is not writable")
        if key == "images_dir" and key in settings.key_lines and folder.is_symlink():
            # Images are never written through a symlink (see images._store_file): name the real folder.
            raise ConfigError(where, line, key, f"{folder} is a symlink; give the folder it points to")
