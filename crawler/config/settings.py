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
from crawler.models import FeedSource as FeedSource
from crawler.models import FullTextMode as FullTextMode
from crawler.models import HttpSettings as HttpSettings
from crawler.models import UpdatesMode as UpdatesMode

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


def _check_http_url(value: str) -> str:
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

    @field_validator("url", "site")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return None if value is None else _check_http_url(value)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return check_no_control(value)

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
    feeds: list[FeedModel] = Field(min_length=1)
    cluster: ClusterModel | None = None
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


class _YamlProblem(Exception):
    def __init__(self, line: int, key: str, message: str) -> None:
        self.line, self.key, self.message = line, key, message


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


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


def _describe(error: Mapping[str, Any]) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        return "unknown key (a typo?)"
    if kind == "missing":
        return "is required"
    message = str(error["msg"])
    return message.removeprefix("Value error, ")


def _key_path(loc: tuple[str | int, ...]) -> str:
    path = ""
    for part in loc:
        path = _join(path, part)
    return path


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
    try:
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
    if not isinstance(data, dict):
        raise ConfigError(shown, root.start_mark.line + 1, "", "the config must be a mapping of keys")
    try:
        model = ConfigModel.model_validate(data)
    except pydantic.ValidationError as exc:
        errors = sorted(exc.errors(), key=lambda e: _line_of(root, tuple(e["loc"])))
        first = errors[0]
        loc = tuple(first["loc"])
        raise ConfigError(shown, _line_of(root, loc), _key_path(loc), _describe(first)) from None
    lines = {key.value: key.start_mark.line + 1 for key, _ in root.value} if isinstance(root, yaml.MappingNode) else {}
    return _resolve(model, config_path, shown, root, lines)


def _resolve(model: ConfigModel, config_path: Path, shown: str, root: yaml.Node, lines: dict[str, int]) -> Settings:
    base = config_path.resolve().parent
    archive_dir = Path(os.path.expanduser(model.archive_dir))
    archive_dir = archive_dir if archive_dir.is_absolute() else base / archive_dir
    images_dir = Path(os.path.normpath(base / os.path.expanduser(model.images_dir))) if model.images_dir else None
    state_url = model.state or f"sqlite:///{archive_dir / '.feed-archiver.sqlite'}"
    if state_url.startswith("sqlite:///") and not state_url.startswith("sqlite:////"):
        relative = state_url.removeprefix("sqlite:///")
        if relative != ":memory:":
            state_url = f"sqlite:///{(base / relative).resolve()}"
    cluster = _cluster(model, state_url, shown, lines)
    defaults = model.defaults
    if defaults.interval is not None and defaults.cron is not None:
        raise ConfigError(shown, lines.get("defaults"), "defaults", "set either interval or cron, not both")
    feeds: list[FeedSource] = []
    seen: set[str] = set()
    rsshub = tuple(model.rsshub)
    for index, feed in enumerate(model.feeds):
        where = f"feeds[{index}]"
        line = _line_of(root, ("feeds", index))
        if feed.name in seen:
            raise ConfigError(shown, _line_of(root, ("feeds", index, "name")), f"{where}.name",
                              f"duplicate feed name {feed.name!r}")
        seen.add(feed.name)
        if (feed.url is None) == (feed.route is None):
            raise ConfigError(shown, line, where, "give exactly one of url or route")
        if feed.interval is not None and feed.cron is not None:
            raise ConfigError(shown, line, where, "set either interval or cron, not both")
        instances = rsshub if feed.route else ()
        url = feed.url or instances[0] + (feed.route or "")
        options = _merge_options(feed, defaults)
        if options.get("categories"):
            where_line = _line_of(root, ("feeds", index, "categories") if feed.categories is not None
                                  else ("defaults", "categories"))
            _check_path_length(archive_dir, options["categories"], shown, where_line, f"{where}.categories")
        feeds.append(FeedSource(name=feed.name, url=url, site=feed.site, route=feed.route, instances=instances,
                                **options))
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
        feeds=tuple(feeds),
        key_lines=lines,
        cluster=cluster,
        metrics_listen=model.metrics.listen if model.metrics else None,
        capture=CaptureSettings(
            warc=model.capture.warc, warc_max_size=model.capture.warc_max_size,
            warc_dir=Path(os.path.normpath(base / os.path.expanduser(model.capture.warc_dir)))
            if model.capture.warc_dir else archive_dir / "warc",
        ),
    )


def _check_path_length(archive_dir: Path, categories: tuple[str, ...], shown: str, line: int, key: str) -> None:
    """Categories are folders: their path under the archive (each folder named as the archive names
    it, at most 200 bytes) must leave room for an entry's file, its revisions and a temporary name."""
    from crawler.archive import MAX_NAME_BYTES, safe_component

    folders = sum(1 + len(safe_component(c).encode()) for c in categories)
    longest = len(os.fsencode(archive_dir.resolve())) + folders + 1 + MAX_NAME_BYTES + _PATH_SLACK
    if longest >= PATH_MAX:
        raise ConfigError(shown, line, key, f"the archive paths of these {len(categories)} categories would be up to "
                                            f"{longest} bytes long, over the system's limit of {PATH_MAX}; use fewer "
                                            "or shorter categories")


def _cluster(model: ConfigModel, state_url: str, shown: str, lines: dict[str, int]) -> ClusterSettings | None:
    """Leases for every PostgreSQL store (a node of one); `cluster:` with SQLite is a mistake."""
    if not state_url.startswith("postgresql"):
        if model.cluster is not None:
            raise ConfigError(shown, lines.get("cluster"), "cluster",
                              "needs a postgresql:// state store (an SQLite store has one writer)")
        return None
    given = model.cluster or ClusterModel()
    return ClusterSettings(node=given.node or f"{socket.gethostname()}-{os.getpid()}", lease=given.lease)


def _merge_options(feed: FeedModel, defaults: OptionsModel) -> dict[str, Any]:
    """The per-feed keys of `FeedSource`: the feed's own value, else `defaults:`, else the
    field's default in `FeedSource`. Read off `OptionsModel`'s fields, so a new per-feed key
    is declared there and in `FeedSource`, and nothing here changes."""
    merged: dict[str, Any] = {}
    for key in OptionsModel.model_fields:
        value = getattr(feed, key)
        merged[key] = getattr(defaults, key) if value is None else value
    # A schedule is one setting: a feed's own interval replaces a default cron, and the reverse.
    if feed.interval is not None or feed.cron is not None:
        merged["cron"] = feed.cron
    merged["headers"] = {**(defaults.headers or {}), **(feed.headers or {})}
    if merged["categories"] is not None:
        merged["categories"] = tuple(merged["categories"])
    return {key: value for key, value in merged.items() if value is not None}


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
