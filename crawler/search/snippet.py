"""A few lines of an article around the first place a query matches, with the matched words found.

The text is tokenised as the index tokenised it, keeping where each token came from, and the
query's terms are looked for in that token sequence: what is marked is what matched.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from crawler.search.query import Query, Term
from crawler.search.tokens import segments, words

_SCAN = 50_000  # characters of an article looked at for a snippet


@dataclass(frozen=True)
class Snippet:
    text: str
    marks: tuple[tuple[int, int], ...]  # (start, end) in `text`, sorted, apart

    def marked(self, before: str = "[", after: str = "]") -> str:
        out, at = [], 0
        for start, end in self.marks:
            out += [self.text[at:start], before, self.text[start:end], after]
            at = end
        out.append(self.text[at:])
        return "".join(out)


def _spanned(text: str) -> list[tuple[str, int, int]]:
    found: list[tuple[str, int, int]] = []
    for cjk, run, start, end in segments(text):
        if not cjk:
            found.extend((w, start, end) for w in words(run))
            continue
        found.extend((run[i : i + 2], start + i, start + i + 2) for i in range(len(run) - 1))
        found.append((run[-1], end - 1, end))
    return found


def _matches(spanned: list[tuple[str, int, int]], term: Term) -> list[tuple[int, int]]:
    n = len(term.tokens)
    out = []
    for i in range(len(spanned) - n + 1):
        if all(spanned[i + k][0] == term.tokens[k] for k in range(n - 1)):
            last = spanned[i + n - 1][0]
            if last == term.tokens[-1] or (term.prefix and last.startswith(term.tokens[-1])):
                end = spanned[i + n - 1][1] + 1 if term.prefix else spanned[i + n - 1][2]
                out.append((spanned[i][1], end))
    return out


def make_snippet(body: str, query: Query, width: int = 160) -> Snippet:
    """About `width` characters of `body` (one line) around its first match, the matches marked."""
    text = " ".join(body[:_SCAN].split())
    # Tokenised NFKC, as the index was, character by character: each folded character knows the
    # original one it came from, and the snippet shows the original (`，` stays `，`).
    folded: list[str] = []
    origin: list[int] = []
    for at, char in enumerate(text):
        normal = unicodedata.normalize("NFKC", char) if not char.isascii() else char
        folded.append(normal)
        origin.extend([at] * len(normal))
    spanned = _spanned("".join(folded))
    spans = sorted({(origin[s], origin[e - 1] + 1) for term in query.wanted for s, e in _matches(spanned, term)})
    first = spans[0][0] if spans else 0
    start = max(0, first - width // 4)
    if start:  # begin at a word, not in one
        space = text.rfind(" ", 0, start)
        start = space + 1 if space >= 0 and start - space < 20 else start
    end = min(len(text), start + width)
    cut = text[start:end]
    prefix = "…" if start else ""
    marks: list[tuple[int, int]] = []
    for s, e in spans:
        s, e = max(s, start), min(e, end)
        if s >= e:
            continue
        s, e = s - start + len(prefix), e - start + len(prefix)
        if marks and s <= marks[-1][1]:
            marks[-1] = (marks[-1][0], max(e, marks[-1][1]))
        else:
            marks.append((s, e))
    return Snippet(prefix + cut + ("…" if end < len(text) else ""), tuple(marks))
