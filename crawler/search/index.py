"""The index's SQL, for both stores: what it holds of an entry, and the query that answers a search.

Both keep one `search_docs` row per entry (schema 0005). SQLite holds the entry's tokens in the
FTS5 table `search_fts` (title, body) under the row's id, ranked by BM25 with a title weighing
ten times the body; PostgreSQL in the row's `terms` tsvector (title weight A, body D, a gap
between them so that no phrase spans the two), under a GIN index, ranked by `ts_rank`. The
tokens are ours (`tokens`), given as they are: FTS5's `ascii` tokenizer splits only at the
spaces between them, and the tsvector is a literal no dictionary touches.

SQLite 3.40's contentless FTS5 table cannot forget a row's tokens without being told them
again, so a revised entry's row gets a new id and its old tokens are left behind, matching no
row (ids are never reused: AUTOINCREMENT); `reindex` clears them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from crawler.search.document import Document
from crawler.search.query import Query
from crawler.search.tokens import MAX_TOKENS, tokens

MAX_POSITIONS = 256  # per token, as PostgreSQL's tsvector keeps them (the first 256)
_TSVECTOR_BYTES = 1_000_000  # under PostgreSQL's 1 MB a tsvector (16,000 distinct 100-letter words would pass it)
_DATE = sa.DateTime(timezone=True)


@dataclass(frozen=True)
class Row:
    """An entry as the index is given it: tokens made, ready to write."""

    feed: str
    entry_id: str
    path: str
    title: str
    date: datetime | None
    link: str
    title_tokens: list[str]
    body_tokens: list[str]


@dataclass(frozen=True)
class Hit:
    path: str
    feed: str
    title: str
    date: datetime | None
    link: str
    score: float


def _clean(value: str) -> str:
    return value.replace("\x00", "\ufffd")  # PostgreSQL's text holds no NUL; both stores alike


def make_row(feed: str, entry_id: str, doc: Document) -> Row:
    """Tokenise `doc` (CPU: run it off the event loop). At most `MAX_TOKENS` tokens in all."""
    title = tokens(doc.title)[:MAX_TOKENS]
    body = tokens(doc.body)[: max(0, MAX_TOKENS - len(title))]
    return Row(_clean(feed), _clean(entry_id), _clean(doc.path), _clean(doc.title), doc.date, _clean(doc.link),
               title, body)


def _tsvector(title: list[str], body: list[str]) -> str:
    """`'lexeme':1A,3A,9 ...`: the title's positions weigh A, the body's (after a gap) D."""
    positions: dict[str, list[str]] = {}
    for n, token in enumerate(title, 1):
        positions.setdefault(token, []).append(f"{n}A")
    for n, token in enumerate(body, len(title) + 2):
        positions.setdefault(token, []).append(str(n))
    out, size = [], 0
    for token, at in positions.items():
        lexeme = f"'{token}':{','.join(at[:MAX_POSITIONS])}"
        size += len(token.encode()) + 8 + 2 * len(at[:MAX_POSITIONS])
        if size > _TSVECTOR_BYTES:  # PostgreSQL refuses a tsvector over 1 MB: the rest of such an article is left out
            break
        out.append(lexeme)
    return " ".join(out)


_PG_INSERT = sa.text(
    "INSERT INTO search_docs (feed, entry_id, path, title, date, link, terms) "
    "VALUES (:feed, :entry_id, :path, :title, :date, :link, CAST(CAST(:terms AS TEXT) AS tsvector)) "
    # An upsert: a `reindex` and a poll indexing one entry at once must not fail the poll's commit.
    "ON CONFLICT (feed, entry_id) DO UPDATE SET path = EXCLUDED.path, title = EXCLUDED.title, "
    "date = EXCLUDED.date, link = EXCLUDED.link, terms = EXCLUDED.terms"
).bindparams(sa.bindparam("date", type_=_DATE))
_SQLITE_INSERT = sa.text(
    "INSERT INTO search_docs (id, feed, entry_id, path, title, date, link) "
    "VALUES (:id, :feed, :entry_id, :path, :title, :date, :link)"
).bindparams(sa.bindparam("date", type_=_DATE))
_SQLITE_FTS_INSERT = sa.text("INSERT INTO search_fts (rowid, title, body) VALUES (:id, :title, :body)")
_DELETE = sa.text("DELETE FROM search_docs WHERE feed = :feed AND entry_id = :entry_id")


def write_rows(conn: sa.Connection, rows: Sequence[Row]) -> None:
    """Index `rows`, in the caller's transaction; an entry indexed before is replaced."""
    if not rows:
        return
    # One entry twice: the last. In key order, as the store locks rows everywhere (no deadlock).
    rows = sorted({(r.feed, r.entry_id): r for r in rows}.values(), key=lambda r: (r.feed, r.entry_id))
    common = [{"feed": r.feed, "entry_id": r.entry_id, "path": r.path, "title": r.title, "date": _utc(r.date),
               "link": r.link} for r in rows]
    if conn.dialect.name == "postgresql":
        conn.execute(_PG_INSERT, [c | {"terms": _tsvector(r.title_tokens, r.body_tokens)}
                                  for c, r in zip(common, rows, strict=True)])
        return
    conn.execute(_DELETE, [{"feed": r.feed, "entry_id": r.entry_id} for r in rows])
    # Ids handed out here, past every id ever used, so that rows and tokens go in two executemany.
    used = conn.execute(sa.text(
        "SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'search_docs'), 0), "
        "coalesce((SELECT max(id) FROM search_docs), 0))")).scalar() or 0
    ids = range(int(used) + 1, int(used) + 1 + len(rows))
    conn.execute(_SQLITE_INSERT, [c | {"id": i} for c, i in zip(common, ids, strict=True)])
    conn.execute(_SQLITE_FTS_INSERT, [{"id": i, "title": " ".join(r.title_tokens), "body": " ".join(r.body_tokens)}
                                      for r, i in zip(rows, ids, strict=True)])


def clear(conn: sa.Connection) -> None:
    """Empty the index (for `reindex`), old tokens of revised entries included."""
    conn.execute(sa.text("DELETE FROM search_docs"))
    if conn.dialect.name == "sqlite":
        conn.execute(sa.text("INSERT INTO search_fts (search_fts) VALUES ('delete-all')"))


def _utc(value: datetime | None) -> datetime | None:
    from crawler.store import utc

    return utc(value)


def search(conn: sa.Connection, query: Query, feeds: Iterable[str] = (), since: datetime | None = None,
           limit: int = 20) -> list[Hit]:
    """The best `limit` matches of `query`, best first; only of `feeds` (if any), dated `since` on."""
    params: dict[str, Any] = {"limit": limit}
    where = []
    if feeds := sorted(set(feeds)):
        where.append("d.feed IN :feeds")
        params["feeds"] = [_clean(f) for f in feeds]
    if since is not None:
        where.append("d.date >= :since")
        params["since"] = _utc(since)
    extra = "".join(f" AND {w}" for w in where)
    if conn.dialect.name == "postgresql":
        params["q"] = query.tsquery()
        sql = ("SELECT d.path, d.feed, d.title, d.date, d.link, ts_rank(d.terms, q) AS score "
               "FROM search_docs AS d, CAST(CAST(:q AS TEXT) AS tsquery) AS q "
               f"WHERE d.terms @@ q{extra} ORDER BY score DESC, d.date DESC NULLS LAST, d.id LIMIT :limit")
    else:
        params["q"] = query.fts5()
        sql = ("SELECT d.path, d.feed, d.title, d.date, d.link, -f.rank AS score "
               "FROM (SELECT rowid, rank FROM search_fts WHERE search_fts MATCH :q) AS f "
               f"JOIN search_docs AS d ON d.id = f.rowid WHERE 1{extra} "
               "ORDER BY f.rank, d.date DESC, d.id LIMIT :limit")
    binds = [sa.bindparam("since", type_=_DATE)] if since is not None else []
    if feeds:
        binds.append(sa.bindparam("feeds", expanding=True))
    statement = sa.text(sql).bindparams(*binds).columns(date=_DATE)
    return [Hit(r.path, r.feed, r.title, _utc(r.date), r.link, float(r.score))
            for r in conn.execute(statement, params)]


def unindexed(conn: sa.Connection) -> int:
    """How many archived entries the index does not hold (all of them, after an upgrade to 0005):
    two counts, so that asking costs a search nothing it would notice."""
    return int(conn.execute(sa.text(
        "SELECT (SELECT count(*) FROM entries) - (SELECT count(*) FROM search_docs WHERE feed != '')")).scalar() or 0)
