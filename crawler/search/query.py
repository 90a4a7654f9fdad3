"""A query as a user types it, read into terms the index can answer, and spelt for each store.

QUERY: words (all must match), `"phrases"`, `-word` or `-"phrase"` to exclude. Each word is
tokenised as an article is (`tokens`), so a word is a phrase of its tokens: `乌克兰` is
`乌克 克兰`, `e-mail` is `e mail`. Anything that is no letter or digit is no operator:
FTS5's and PostgreSQL's syntax (`NEAR(`, `*`, `^`, `:`, `&`, `!`) never reaches a store, and
the terms are quoted, so no query can be a syntax error there. A query with no word left to
find is refused with one line (`QueryError`).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from crawler.search.tokens import cjk_tokens, segments, words

MAX_TERMS = 256  # tokens in a query: a longer one is refused, not sent to a store to chew on
_ITEM = re.compile(r'(-?)"([^"]*)"?|(-?)([^\s"]+)')


class QueryError(ValueError):
    """A query that asks for nothing, or for too much: said in one line, exit status 2."""


@dataclass(frozen=True)
class Term:
    """A phrase of tokens (one token: a word); `prefix`: the last token is a prefix (a query's
    single CJK character, which begins the pairs of every word it is the first of)."""

    tokens: tuple[str, ...]
    prefix: bool = False


@dataclass(frozen=True)
class Query:
    wanted: tuple[Term, ...]
    excluded: tuple[Term, ...] = ()

    def fts5(self) -> str:
        """SQLite FTS5's MATCH expression: `"a b" AND "c"* NOT "d"`."""
        wanted = " AND ".join(_fts5_phrase(t) for t in self.wanted)
        return "".join([f"({wanted})", *(f" NOT {_fts5_phrase(t)}" for t in self.excluded)])

    def tsquery(self) -> str:
        """PostgreSQL's tsquery, as a literal (no dictionary touches our tokens): `'a' <-> 'b' & !'d'`."""
        parts = [_ts_phrase(t) for t in self.wanted] + [f"!({_ts_phrase(t)})" for t in self.excluded]
        return " & ".join(parts)


def _fts5_phrase(term: Term) -> str:
    return '"' + " ".join(term.tokens) + '"' + ("*" if term.prefix else "")


def _ts_phrase(term: Term) -> str:
    quoted = [f"'{t}'" for t in term.tokens]
    if term.prefix:
        quoted[-1] += ":*"
    return "(" + " <-> ".join(quoted) + ")"


def term_of(text: str) -> Term | None:
    """`text` (a word or a phrase) as the tokens an article holding it has, in a row; None when
    it has no letter or digit. A CJK run at the end drops its last character alone (an article
    has it only where its run ends there too), and a single one is a prefix."""
    found: list[str] = []
    runs = list(segments(unicodedata.normalize("NFKC", text)))
    prefix = False
    for n, (cjk, run, _start, _end) in enumerate(runs):
        if not cjk:
            found.extend(words(run))
        elif n < len(runs) - 1:
            found.extend(cjk_tokens(run))
        elif len(run) == 1:
            found.append(run)
            prefix = True
        else:
            found.extend(cjk_tokens(run)[:-1])
    return Term(tuple(found), prefix) if found else None


def parse(query: str) -> Query:
    """Read what a user typed; `QueryError` when nothing is left to find or it is too long."""
    wanted: list[Term] = []
    excluded: list[Term] = []
    for match in _ITEM.finditer(query):
        minus, text = (match.group(1), match.group(2)) if match.group(2) is not None else match.group(3, 4)
        term = term_of(text)
        if term is not None:
            (excluded if minus else wanted).append(term)
    size = sum(len(t.tokens) for t in (*wanted, *excluded))
    if size > MAX_TERMS:
        raise QueryError(f"the query is too long: {size} words and word pairs, at most {MAX_TERMS}")
    if not wanted:
        raise QueryError("the query has no word to look for" + (" (only words to exclude)" if excluded else ""))
    return Query(tuple(dict.fromkeys(wanted)), tuple(dict.fromkeys(excluded)))
