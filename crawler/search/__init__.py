"""Search: the archive's words indexed in the state store, and queries answered from it.

    tokens      words as the index keeps them (CJK as overlapping pairs), for articles and queries
    query       what a user typed, read into terms; spelt for FTS5 and for PostgreSQL
    document    an archived file as the index sees it: title, date, link, text without markup
    index       the SQL of both stores: writing entries, answering a query
    engine      the index kept up: a poll's files, or all of them again (`reindex`)
    snippet     the lines around a match, the matched words found

Nothing here is imported by a re-poll that archives nothing (DESIGN.md, "Search").
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from crawler import lazy_exports

if TYPE_CHECKING:
    from crawler.search.document import read_document
    from crawler.search.engine import prepare_index, reindex
    from crawler.search.index import Hit, search, unindexed
    from crawler.search.query import Query, QueryError, parse
    from crawler.search.snippet import Snippet, make_snippet
else:
    __getattr__ = lazy_exports(__name__, {
        "document": "read_document",
        "engine": "prepare_index reindex",
        "index": "Hit search unindexed",
        "query": "Query QueryError parse",
        "snippet": "Snippet make_snippet",
    })

__all__ = [
    "Hit", "Query", "QueryError", "Snippet", "make_snippet", "parse", "prepare_index", "read_document", "reindex",
    "search", "unindexed",
]
