"""One poll of one feed, start to finish: the story both `crawl` and the daemon run.

fetch (conditional; a route from the first RSSHub instance that serves it) -> parse ->
sort the items (new, known and changed, known and the same: `revisions.plan`) -> for each
new or changed entry: content (feed HTML or, where robots.txt allows, full text) -> images
-> sanitize -> render -> write (a changed entry: rewrite, keeping the old file); then, a
poll that could not connect is judged against our own network's health, and the poll is
recorded.

`crawl_feed` runs it all; a one-off crawl calls `poll_feed` and `record_poll` itself, so
that it can judge connection failures once every feed of its pass has been tried.
"""

from __future__ import annotations

import asyncio
import logging
import posixpath
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING

from crawler.cluster import Coordinator
from crawler.config import Settings
from crawler.errors import (
    ArchiveError,
    CrawlerError,
    ExtractError,
    FetchError,
    NoInstance,
    ParseError,
    RateLimited,
    StateError,
)
from crawler.fetch import Fetcher, NetworkHealth, cache_max_age
from crawler.images import ImageStore
from crawler.models import (
    ArchivedEntry,
    EntryChange,
    EntryOutcome,
    FeedAnswer,
    FeedEntry,
    FeedReport,
    FeedSource,
    FeedState,
    FetchResult,
    ImageAsset,
    KnownEntry,
    Lease,
    Outcome,
    ParsedFeed,
)
from crawler.observe import Capture, Observer
from crawler.reader import content, identity, parse_feed
from crawler.runtime import CpuPool, next_state
from crawler.store import StateStore, legacy_fingerprint

if TYPE_CHECKING:  # imported when first needed: a re-poll of unchanged `url:` feeds needs neither
    from crawler.fetch import InstancePool, Robots

log = logging.getLogger(__name__)

FEED_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/feed+json, application/xml;q=0.9, "
    "text/xml;q=0.9, application/json;q=0.8, */*;q=0.5"
)
PAGE_ACCEPT = "text/html,application/xhtml+xml;q=0.9,*/*;q=0.5"
PARSE_IN_PLACE_BYTES = 256 * 1024  # a feed this big or bigger is parsed off the event loop


@dataclass
class Deps:
    """What a crawl needs, built once per process by `app` and shared by every feed."""

    settings: Settings
    fetcher: Fetcher
    store: StateStore
    workers: CpuPool
    images: ImageStore
    coordinator: Coordinator
    clock: Callable[[], datetime]
    observer: Observer = field(default_factory=Observer)
    health: NetworkHealth = field(default_factory=NetworkHealth)
    instances: InstancePool | None = None  # for `route:` feeds; made on first use
    robots: Robots | None = None  # made on first use, if `http.robots` (see `_robots`)
    capture: Capture | None = None  # `capture.warc`: the WARC files, told of each archived entry


class Poll:
    """A poll made, its files written, not yet recorded in the store. (A plain class: a
    dataclass costs every re-poll 3.5 M instructions at import.)"""

    __slots__ = ("aliases", "answer", "changes", "now", "outcomes", "parsed", "report", "source", "started", "state",
                 "written")

    def __init__(self, source: FeedSource, state: FeedState, report: FeedReport, now: datetime, started: float) -> None:
        self.source = source
        self.state = state  # as it was before the poll
        self.report = report
        self.now = now
        self.started = started
        self.answer: FeedAnswer | None = None  # what the feed's server said
        self.parsed: ParsedFeed | None = None
        self.outcomes: list[EntryOutcome] = []
        self.changes: list[EntryChange] = []  # what the poll learnt of entries already archived
        self.aliases: Sequence[tuple[str, str]] = ()  # new ids of entries already archived
        self.written: list[tuple[str, str]] = []  # (entry id, path) of each file written: for the search index


async def crawl_feed(
    source: FeedSource, deps: Deps, state: FeedState | None = None, lease: Lease | None = None
) -> FeedReport:
    """Poll `source` once and archive its new entries; never raises for a bad feed or entry.

    `state` may be given when the caller loaded every feed's state at once; under a `lease`
    (a cluster node's) the poll is recorded only while the lease holds.
    """
    poll = await poll_feed(source, deps, state)
    judge_outage(poll.report, deps.health)
    return await record_poll(poll, deps, lease)


async def poll_feed(source: FeedSource, deps: Deps, state: FeedState | None = None) -> Poll:
    """Fetch and parse the feed, archive its new entries; what the store must learn is returned."""
    poll = Poll(source, state or await deps.store.feed_state(source.name), FeedReport(source.name, source.url),
                deps.clock(), time.monotonic())
    report = poll.report
    try:
        try:
            poll.answer, parsed = await _fetch_feed(source, poll.state, deps, poll.now)
            result = poll.answer.result
            report.http_status = result.status
            report.ttl_seconds = cache_max_age(result.headers)
            if result.not_modified:
                report.status = "not_modified"
            else:
                poll.parsed = parsed if parsed is not None else await _parse(result, deps)
                report.ttl_seconds = max(filter(None, (poll.parsed.ttl_seconds, report.ttl_seconds)), default=None)
        except (FetchError, ParseError, ArchiveError) as exc:  # ArchiveError: the feed's WARC record (a full disk)
            report.status, report.error = "failed", str(exc)
            report.http_status = getattr(exc, "status", report.http_status)
            report.retry_after = exc.retry_after if isinstance(exc, RateLimited | NoInstance) else None
            report.unreachable = isinstance(exc, FetchError) and exc.connection_level
            report.resting = isinstance(exc, NoInstance) and exc.resting
        report.instance = poll.answer.instance or None if poll.answer else None
        if poll.parsed is not None:
            poll.outcomes, poll.changes, poll.aliases, poll.written = await _archive_entries(
                source, poll.parsed, deps, report, poll.now, poll.answer.result.url if poll.answer else source.url)
    except StateError:
        raise  # the store failing: this poll cannot be recorded; the caller says so
    except Exception as exc:  # a bug met on this feed: a failed poll like any other, recorded and backed off
        crashed(report, exc)
        # Nothing of what was read is kept: the old validators stay, so the next poll reads it all again.
        poll.answer, poll.parsed, poll.outcomes, poll.changes, poll.aliases = None, None, [], [], ()
        poll.written = []
    return poll


def crashed(report: FeedReport, exc: BaseException) -> FeedReport:
    """`report` made the report of a poll that raised `exc`: failed, with one line for the log (the
    traceback at debug level). A `CrawlerError` says what failed; anything else is a bug."""
    log.debug("feed=%s poll raised", report.name, exc_info=exc)
    report.status = "failed"
    report.error = str(exc) if isinstance(exc, CrawlerError) else f"internal error: {type(exc).__name__}: {exc}"
    report.unreachable = report.resting = False
    return report


def judge_outage(report: FeedReport, health: NetworkHealth) -> None:
    """A poll that could not connect is not charged to its feed while our own network is down."""
    if report.unreachable and (outage := health.outage()) is not None:
        report.outage, report.error = True, str(outage)


async def record_poll(poll: Poll, deps: Deps, lease: Lease | None = None) -> FeedReport:
    """Save the poll's state, entries and images in one transaction (only while `lease` holds)."""
    source, state, report = poll.source, poll.state, poll.report
    new_state = replace(next_state(source, state, report, poll.now), node=lease.node if lease else None)
    if poll.answer is not None:
        new_state = _validators(new_state, poll, report.failed == 0)
    # One transaction per poll, with the images its entries used. A kill before it loses no file:
    # the next crawl finds each entry's file at its deterministic path and records it instead of
    # writing it again; a failed save leaves the images to the next poll that asks for them.
    archived = [o.archived for o in poll.outcomes if o.archived is not None]
    images = [image for o in poll.outcomes for image in o.images]
    validators = (new_state.instance, new_state.etag, new_state.last_modified)
    new_for_instance = new_state.instance is not None and validators != (state.instance, state.etag,
                                                                          state.last_modified)
    index = None
    if poll.written:  # never on a re-poll that wrote nothing: search is not even imported then
        from crawler.search import prepare_index

        index = await asyncio.to_thread(prepare_index, deps.settings.archive_dir, source.name, poll.written)
    if await deps.store.save_poll(new_state, source.url, archived, images, lease, instance_validators=new_for_instance,
                                  changes=poll.changes, new_aliases=poll.aliases, index=index):
        deps.images.recorded(images)
        report.state = new_state
    else:  # a cluster node's lease ran out mid-poll: another node has the feed, and records it
        report.status, report.error = "leased", "lease lost before the poll was recorded; another node has the feed"
    report.seconds = time.monotonic() - poll.started
    _log_report(report)
    deps.observer.poll_done(report)
    return report


def _validators(new_state: FeedState, poll: Poll, all_archived: bool) -> FeedState:
    """The validators to keep: those of the answer, which belong to the instance that gave them."""
    assert poll.answer is not None
    answer, instance = poll.answer, poll.answer.instance or None
    if poll.parsed is None:  # 304: what was sent to this instance still holds
        return replace(new_state, etag=answer.etag, last_modified=answer.last_modified, instance=instance)
    if all_archived:
        return replace(new_state, etag=answer.result.etag, last_modified=answer.result.last_modified,
                       instance=instance)
    # Keep the old validators while an entry still needs a retry (a 304 would hide it); of another
    # instance, they must not be sent to this one, so then none.
    if instance != poll.state.instance:
        return replace(new_state, etag=None, last_modified=None, instance=instance)
    return new_state


async def _fetch_feed(
    source: FeedSource, state: FeedState, deps: Deps, now: datetime
) -> tuple[FeedAnswer, ParsedFeed | None]:
    """The feed's answer; and, for a route, the feed already read (an instance has served it
    only once its answer reads as a feed; `rsshub`)."""
    if source.route is None:
        result, _ = await deps.fetcher.get(
            source.url, etag=state.etag, last_modified=state.last_modified, headers=source.headers,
            accept=FEED_ACCEPT,
        )
        return FeedAnswer("", result, state.etag, state.last_modified), None
    from crawler.fetch import InstancePool, fetch_route

    if deps.instances is None:
        deps.instances = InstancePool(deps.store)
    return await fetch_route(source, state, deps.fetcher, deps.instances, deps.store, now, accept=FEED_ACCEPT,
                             parse=lambda result: _parse(result, deps))


async def _parse(result: FetchResult, deps: Deps) -> ParsedFeed:
    """The feed read, in a worker process when the crawl has them running: a feed of 20 full
    items is 15 ms of parsing, and 30 feeds answering at once kept the event loop from every
    other step (the first page was asked for 0.85-0.96 s after the first feed was read, now
    0.24-0.47 s). A re-poll that finds a feed changed and needs no worker reads it here, or in a
    thread when it is big (1 MB of escaped HTML is 0.2 s of feedparser)."""
    if not deps.workers.warm:
        if len(result.body) > PARSE_IN_PLACE_BYTES:
            return await asyncio.to_thread(parse_feed, result)
        return parse_feed(result)
    try:
        return await deps.workers.run(parse_feed, result)
    except ExtractError as exc:  # the worker died: this feed may be why
        raise ParseError(result.url, str(exc)) from None


def _robots(deps: Deps) -> Robots | None:
    """The process's robots.txt rules, unless `http.robots` is off."""
    if not deps.settings.http.robots:
        return None
    if deps.robots is None:
        from crawler.fetch import Robots

        deps.robots = Robots(deps.fetcher, deps.store, deps.settings.http.user_agent, deps.clock)
    return deps.robots


async def _archive_entries(
    source: FeedSource, parsed: ParsedFeed, deps: Deps, report: FeedReport, now: datetime, feed_url: str
) -> tuple[list[EntryOutcome], list[EntryChange], Sequence[tuple[str, str]], list[tuple[str, str]]]:
    # Here, not at the top: a poll answered 304 needs neither (nor archive's front matter and
    # file-name rules); the first parsed feed pays for them, once.
    from crawler.archive import formats, revisions

    for warning in parsed.warnings:
        log.warning("feed=%s %s", source.name, warning)
    entries = parsed.entries[: source.max_items]
    plan = revisions.plan(entries, await deps.store.known_entries(source.name, entries), source.updates)
    report.skipped = plan.unchanged
    guarded = await _guarded(source, deps)
    fmt = deps.settings.output.format
    paths = [formats.relpath_for(fmt, source.categories, e.title, source.name, e.id, e.published or e.updated or now)
             for e in plan.new]
    outcomes = await asyncio.gather(
        *(archive_entry(source, parsed, e, deps, now, guarded, path, feed_url=feed_url)
          for e, path in zip(plan.new, paths, strict=True)),
        *(archive_entry(source, parsed, e, deps, now, guarded, k.path, k, feed_url=feed_url) for e, k in plan.changed),
    )
    for outcome in outcomes:
        for warning in outcome.warnings:
            log.warning("feed=%s entry_id=%s %s", source.name, outcome.entry_id, warning)
        if outcome.outcome is Outcome.FAILED:
            report.failed += 1
            log.error("feed=%s entry_id=%s not archived: %s", source.name, outcome.entry_id, outcome.error)
        elif outcome.outcome is Outcome.ARCHIVED:
            report.archived += 1
        elif outcome.outcome is Outcome.UPDATED:
            report.updated += 1
        else:
            report.skipped += 1
    written = [(o.archived.entry_id, o.archived.path) for o in outcomes if o.archived is not None]
    written += [(k.entry_id, k.path) for (_e, k), o in zip(plan.changed, outcomes[len(plan.new):], strict=True)
                if o.change is not None and o.change.revised]
    return outcomes, [*plan.notes, *(o.change for o in outcomes if o.change is not None)], plan.aliases, written


async def archive_entry(
    source: FeedSource,
    feed: ParsedFeed,
    entry: FeedEntry,
    deps: Deps,
    now: datetime,
    guarded: bool,
    relpath: str,
    known: KnownEntry | None = None,
    *,
    feed_url: str = "",
) -> EntryOutcome:
    """Archive one entry at `relpath`: a new one, or (`known`) one that came back changed, whose
    file is rewritten only when its text really changed. Failures come back as an outcome, not an
    exception. `guarded`: its pages and images must stay off private addresses."""
    # Here, not at the top: lxml, nh3 and trafilatura's helpers are a tenth of the start-up,
    # and a re-poll with nothing new never needs them.
    from crawler.archive import entries as archive
    from crawler.archive import formats, revisions
    from crawler.reader import article
    warnings: list[str] = []
    downloaded: list[ImageAsset] = []  # recorded with this poll even if the entry then fails
    try:
        page, page_url = await _article_page(source, entry, deps, warnings, guarded)
        feed_base = entry.link or source.url
        if page is None:
            # A big article's clean-up goes to a thread: nh3 and lxml release the GIL while they
            # parse, and the bounded rewrite before them yields it every few milliseconds.
            prepared = await asyncio.to_thread(article.prepare, entry.best_html, feed_base) \
                if article.heavy(entry.best_html) else article.prepare(entry.best_html, feed_base)
        else:
            # Only extraction is worth a trip to a worker process; measured, sending every
            # article's clean-up there cost more in hand-offs than it saved.
            prepared = await deps.workers.run(article.prepare, entry.best_html, feed_base, page, page_url, entry.title)
        warnings.extend(prepared.warnings)
        new_sources: dict[str, str] = {}
        if source.images and prepared.image_urls:
            referer = entry.link or source.url
            fetched = await deps.images.fetch_all(
                prepared.image_urls, referer=referer, guarded=guarded, rules=deps.settings.image_referers
            )
            downloaded = fetched.downloaded
            warnings.extend(fetched.errors)
            new_sources = {url: _image_src(a, relpath, deps.settings) for url, a in fetched.assets.items()}
        finish_args = (prepared.html, new_sources, deps.settings.iframe_hosts)
        body, headimg = await asyncio.to_thread(article.finish, *finish_args) \
            if article.heavy(prepared.html) else article.finish(*finish_args)
        output = deps.settings.output
        markdown = await _markdown_body(body, output.format, deps, warnings) if output.body == "markdown" else None
        fields = formats.Fields(
            title=entry.title,
            categories=source.categories,
            headimg=headimg,
            author=source.author or entry.author or feed.title,
            date=entry.published or entry.updated or now,
            updated=None if known is None else revisions.updated_date(entry, known, now),
            link=identity.without_tracking(entry.link),
            guid=entry.id if known is None else known.entry_id,  # a revision keeps its first guid
            feed=source.name,
            body_html=body,
            body_markdown=markdown,
        )
        doc = formats.render_entry(output.format, relpath, fields)
        text_hash = revisions.text_hash(entry.title, body)
        if known is not None:
            change = await revisions.settle(deps.settings.archive_dir, doc, text_hash, entry, known, now)
            outcome = Outcome.UPDATED if change.revised else Outcome.SKIPPED
            if change.revised and deps.capture is not None:
                await _captured(deps.capture, source, entry, known.path, page_url or feed_url, new_sources, "revised")
            return EntryOutcome(entry.id, outcome, change=change, warnings=tuple(warnings), images=tuple(downloaded))
        alternate = formats.alternate_relpath(output.format, relpath, source.name, entry.id)
        doc, on_disk = await archive.write_new_document(
            deps.settings.archive_dir, doc, entry.id,
            None if alternate is None else formats.render_entry(output.format, alternate, fields))
        if deps.capture is not None:
            await _captured(deps.capture, source, entry, doc.relpath, page_url or feed_url, new_sources, "archived")
        archived = ArchivedEntry(
            entry.id, legacy_fingerprint(entry), doc.relpath, on_disk, now, link=entry.canonical or None,
            text_hash=text_hash, item_hash=revisions.item_hash(entry), updated=entry.updated,
        )
        return EntryOutcome(
            entry.id, Outcome.ARCHIVED, archived=archived, warnings=tuple(warnings), images=tuple(downloaded)
        )
    except CrawlerError as exc:
        return EntryOutcome(entry.id, Outcome.FAILED, error=str(exc), images=tuple(downloaded))
    except Exception as exc:  # a bug met on this entry: it fails alone, and is tried again next poll
        log.debug("feed=%s entry_id=%s archiving raised", source.name, entry.id, exc_info=exc)
        error = f"internal error: {type(exc).__name__}: {exc}"
        return EntryOutcome(entry.id, Outcome.FAILED, error=error, images=tuple(downloaded))


async def _markdown_body(html: str, fmt: str, deps: Deps, warnings: list[str]) -> str | None:
    """The body as Markdown, made in a worker process (a hostile body costs the crawl nothing but
    that worker); None, with a warning, when it cannot be made faithfully: the HTML body is kept."""
    from crawler.archive import markdown

    try:
        converted, refusal = await deps.workers.run(markdown.convert_body, html, fmt)
    except ExtractError as exc:
        converted, refusal = None, str(exc)
    if converted is None:
        warnings.append(f"body kept as HTML, not Markdown: {refusal}")
    return converted


async def _captured(
    capture: Capture, source: FeedSource, entry: FeedEntry, relpath: str, url: str, images: dict[str, str],
    outcome: str,
) -> None:
    """The entry's `metadata` record, referring to the response its text came from (page or feed)."""
    fields = [("outcome", outcome), ("feed", source.name), ("entry-id", entry.id), ("markdown", relpath),
              ("title", entry.title), ("link", entry.link), *(("image", image) for image in images)]
    await capture.metadata(url, fields)


async def _guarded(source: FeedSource, deps: Deps) -> bool:
    """Whether URLs found in this feed must stay off private addresses: as configured, else only
    when the feed itself is not served from one (a feed on the LAN may point at the LAN)."""
    if source.allow_private_network is not None:
        return not source.allow_private_network
    return not await deps.fetcher.is_private(source.url)


async def _article_page(
    source: FeedSource, entry: FeedEntry, deps: Deps, warnings: list[str], guarded: bool
) -> tuple[bytes | None, str]:
    """The article page, when the feed carries only a summary and the page can be had."""
    if not content.wants_full_text(entry.best_html, entry.link, source.full_text, source.full_text_min_chars):
        return None, ""
    if (robots := _robots(deps)) is not None:
        refusal = await robots.refusal(entry.link, guarded=guarded)
        if refusal is not None:
            warnings.append(f"full text not fetched, kept the feed's text: {refusal} ({entry.link})")
            return None, ""
        await robots.wait_turn(entry.link)
    try:
        page, _ = await deps.fetcher.get(
            entry.link, headers=source.headers, accept=PAGE_ACCEPT, guarded=guarded, kind="page"
        )
    except FetchError as exc:
        warnings.append(f"full text unavailable, kept the feed's text: {exc}")
        return None, ""
    return page.body, page.url


def _image_src(asset: ImageAsset, relpath: str, settings: Settings) -> str:
    if settings.image_url_prefix:
        return settings.image_url_prefix.rstrip("/") + "/" + asset.filename
    # Relative to the Markdown file's folder, wherever images_dir is (both paths are absolute).
    folder = posixpath.dirname(posixpath.join(settings.archive_dir.as_posix(), relpath))
    return posixpath.relpath(posixpath.join(settings.images_dir.as_posix(), asset.filename), folder)


def _log_report(report: FeedReport) -> None:
    if report.outage:  # said once for all such polls: by the network's health, or at a crawl's end
        log.debug("feed=%s url=%s not charged: %s (%.2fs)", report.name, report.url, report.error, report.seconds)
    elif report.status == "leased":
        log.warning("feed=%s url=%s not recorded: %s (%.2fs)", report.name, report.url, report.error, report.seconds)
    elif report.status == "failed":
        log.error("feed=%s url=%s failed: %s (%.2fs)", report.name, report.url, report.error, report.seconds)
    else:
        log.info(
            "feed=%s status=%s new=%d updated=%d skipped=%d failed=%d (%.2fs)",
            report.name, report.http_status, report.archived, report.updated, report.skipped, report.failed,
            report.seconds,
        )
