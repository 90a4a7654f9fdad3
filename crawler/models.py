"""Plain values passed between the pipeline's stages.

What the stages share comes from here, not from `config`: the config layer (pydantic,
YAML) builds `FeedSource` and `HttpSettings`, the stages only read them, and the worker
processes, which import the stages, never load pydantic.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Literal, NamedTuple

FullTextMode = Literal["auto", "always", "never"]
UpdatesMode = Literal["revise", "ignore"]  # what a known entry that comes back changed does to its file
OutputFormat = Literal["hexo", "hugo", "jekyll", "obsidian"]  # whose reader the archive is written for
BodyKind = Literal["html", "markdown"]


@dataclass(frozen=True)
class OutputSettings:
    """`output:`: the archive's format and its bodies (DESIGN.md, "Output formats")."""

    format: OutputFormat = "hexo"
    body: BodyKind = "html"


@dataclass(frozen=True)
class HttpSettings:
    user_agent: str
    timeout: float
    total_timeout: float
    max_body: int
    max_redirects: int
    concurrency: int
    per_host: int
    retries: int
    proxy: str | None
    http2: bool
    robots: bool = True  # article pages obey robots.txt (`crawler.fetch.robots`)


@dataclass(frozen=True, slots=True)
class FeedSource:
    """One feed to poll, with `defaults:` already merged in. A field's default here is the
    default of its config key (`config` reads them from here). Slots: a config may hold 100,000."""

    name: str
    url: str
    categories: tuple[str, ...] = ()
    author: str | None = None
    interval: float = 1800.0
    cron: str | None = None
    full_text: FullTextMode = "auto"
    full_text_min_chars: int = 500
    images: bool = True
    max_items: int = 50
    headers: Mapping[str, str] = field(default_factory=dict)
    allow_private_network: bool | None = None
    updates: UpdatesMode = "revise"
    site: str | None = None  # the site's home page (OPML's htmlUrl); only `export` reads it
    title: str | None = None  # the feed's own title, as `import` or `add` found it; only `export` reads it
    # A `route:` feed: its RSSHub route and the instances that serve it, in order of preference.
    # `url` is then the route on the first instance (what `status` and an OPML export show).
    route: str | None = None
    instances: tuple[str, ...] = ()


@dataclass(frozen=True)
class FetchResult:
    """A completed GET: the final URL after redirects and the (decompressed) body."""

    url: str
    status: int
    body: bytes
    headers: dict[str, str]
    etag: str | None = None
    last_modified: str | None = None

    @property
    def not_modified(self) -> bool:
        return self.status == 304

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")


@dataclass(frozen=True)
class FeedEntry:
    """One item of a feed, normalised: plain-text title, UTC dates, a stable id."""

    id: str
    link: str
    title: str
    published: datetime | None
    updated: datetime | None
    author: str | None
    content_html: str
    summary_html: str
    canonical: str = ""  # the link's canonical form (`identity.canonical_link`), filled in by the parser

    @property
    def best_html(self) -> str:
        return self.content_html if len(self.content_html) >= len(self.summary_html) else self.summary_html


@dataclass(frozen=True)
class ParsedFeed:
    title: str
    link: str
    entries: tuple[FeedEntry, ...]
    ttl_seconds: float | None = None
    warnings: tuple[str, ...] = ()  # what was left out (a malformed link), for the log


@dataclass(frozen=True)
class FeedState:
    """What the store remembers of one feed between polls."""

    name: str
    etag: str | None = None
    last_modified: str | None = None
    last_poll: datetime | None = None
    last_status: int | None = None
    last_error: str | None = None
    consecutive_failures: int = 0
    first_failure: datetime | None = None
    entries_archived: int = 0
    next_due: datetime | None = None
    dead: bool = False
    node: str | None = None  # the cluster node that made the last poll
    instance: str | None = None  # the RSSHub instance that served the last poll (its base URL)


class FeedAnswer(NamedTuple):
    """A feed's server's answer, and the validators that were sent to get it. `instance`: the
    RSSHub instance that gave it (its base URL), "" for a `url:` feed. (A NamedTuple: a
    dataclass costs every re-poll 3.5 M instructions at import.)"""

    instance: str
    result: FetchResult
    etag: str | None
    last_modified: str | None


class RobotsCopy(NamedTuple):
    """A host's robots.txt as fetched (`status` None: no usable answer, treated as no rules).
    A NamedTuple: a dataclass costs every re-poll 3.5 M instructions at import, for a value
    that only a crawl fetching pages ever makes."""

    origin: str  # scheme://host[:port]
    fetched_at: datetime
    status: int | None
    body: str


@dataclass(frozen=True)
class Lease:
    """The right to poll one feed now and to record that poll, held by one node until it expires."""

    feed: str
    node: str
    token: int  # grows with every new holder: a poll is recorded only while its token still holds


@dataclass(frozen=True)
class LeaseGrant:
    """What asking for a lease gave: the lease and the feed's stored state, or why not."""

    state: FeedState
    lease: Lease | None = None
    holder: str | None = None  # the node that holds it, when another does
    due: datetime | None = None  # when the feed is due, when it is not yet

    @property
    def refused(self) -> bool:
        """Another node holds the feed, or polled it lately: not this process's to poll now."""
        return self.holder is not None or self.due is not None


@dataclass(frozen=True)
class ImageAsset:
    """One downloaded image: where it came from and which file holds its bytes."""

    url: str
    filename: str
    sha256: str
    size: int
    content_type: str


@dataclass(frozen=True)
class ArchivedDocument:
    """A rendered entry: its path relative to the archive root and the file's text."""

    relpath: str
    text: str
    content_hash: str


@dataclass(frozen=True)
class ArchivedEntry:
    """What the state store keeps of an archived entry."""

    entry_id: str
    fingerprint: str | None
    path: str
    content_hash: str
    archived_at: datetime
    link: str | None = None  # canonical (`identity.canonical_link`)
    text_hash: str | None = None  # of the normalised title and body (`revisions.text_hash`)
    item_hash: str | None = None  # of the item as the feed gave it (`revisions.item_hash`)
    updated: datetime | None = None  # the item's own update date


class KnownEntry(NamedTuple):
    """A stored entry that an item of a poll is: where its file is, and what it said. (A named
    tuple, like `EntryChange`: a row of the store, and cheaper than a dataclass to define at
    start-up, which every poll answered 304 pays.)"""

    entry_id: str  # the id it was first archived under (the item's may be an alias of it)
    path: str
    text_hash: str | None  # None: archived by 0.1.0, before texts were hashed
    item_hash: str | None
    updated: datetime | None
    by: Literal["id", "alias", "link"] = "id"  # how the item was recognised


class EntryChange(NamedTuple):
    """What a poll learnt about a known entry: a revision written, or only new hashes to remember."""

    entry_id: str
    link: str | None
    text_hash: str | None
    item_hash: str
    updated: datetime | None
    revised: bool = False
    content_hash: str | None = None  # of the file now at its path, when it was rewritten
    revised_at: datetime | None = None


class Outcome(StrEnum):
    ARCHIVED = "archived"
    UPDATED = "updated"
    SKIPPED = "skipped"
    FAILED = "failed"


@dataclass(frozen=True)
class EntryOutcome:
    entry_id: str
    outcome: Outcome
    archived: ArchivedEntry | None = None
    error: str | None = None
    warnings: tuple[str, ...] = ()
    images: tuple[ImageAsset, ...] = ()  # downloaded for this entry, to be recorded with its poll
    change: EntryChange | None = None  # for a known entry that came back changed


# leased: another node has it; interrupted: a crawl's Ctrl-C came before (or during) the poll
FeedStatus = Literal["ok", "not_modified", "failed", "leased", "interrupted"]


@dataclass
class FeedReport:
    """What one poll of one feed did; the summary table and the exit status come from these."""

    name: str
    url: str
    status: FeedStatus = "ok"
    http_status: int | None = None
    error: str | None = None
    archived: int = 0
    updated: int = 0  # known entries rewritten with a revision kept
    skipped: int = 0
    failed: int = 0
    seconds: float = 0.0
    retry_after: float | None = None
    ttl_seconds: float | None = None
    state: FeedState | None = None  # the feed's state after this poll, as saved
    instance: str | None = None  # the RSSHub instance asked last (the one that answered, if one did)
    unreachable: bool = False  # failed because no connection could be made (see `outage`)
    outage: bool = False  # ... while our own network was down: not charged to the feed
    resting: bool = False  # every RSSHub instance was resting, none was asked: not charged again

    @property
    def ok(self) -> bool:
        return self.status != "failed" and self.failed == 0


def feed_state_label(state: FeedState | None, entries: int = 0) -> str:
    """`new` until the feed's server has answered once (polls while our network was down, or the
    daemon's schedule before its first poll, do not count), then `ok`, `failing` or `dead`.
    `entries`: how many it has archived, when known (a feed that sends no validators has answered
    once it has some)."""
    if state is None or state.last_poll is None:
        return "new"
    # Polled only while our network was down: no answer, an error that was not charged.
    never_answered = state.last_status is None and state.last_error is not None and not (
        state.etag or state.last_modified or entries or state.consecutive_failures or state.dead)
    if never_answered:
        return "new"
    if state.dead:
        return "dead"
    return "failing" if state.consecutive_failures else "ok"
