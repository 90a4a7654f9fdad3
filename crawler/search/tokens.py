"""Words as the index keeps them, the same for an article and a query (DESIGN.md, "Search").

Latin, Cyrillic, Greek and every other script written with spaces: a word is a run of letters
and digits, folded (NFKC, then accents dropped and case folded: `Café` and `cafe` are one word).
Chinese, Japanese kana and Korean Hangul are written without spaces: a run of them becomes its
overlapping pairs (`乌克兰战争` -> `乌克 克兰 兰战 战争`) and its last character alone, so any word
of two or more characters is a phrase of pairs, and any single character is the first of some
token (a one-character query asks for the tokens it begins). No dictionary, no native
extension: measured against jieba on Chinese news in the report of issue 26, the pairs find
every word a reader may type where a segmenter misses the words it cut differently.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator

# Han (with extensions and compatibility ideographs), kana, Hangul syllables and jamo, CJK marks
# of iteration (々〆〇). The text is NFKC-normalised first: half-width kana are full-width by then.
_CJK = (
    "\u1100-\u11ff\u3005-\u3007\u3021-\u3029\u3031-\u3035\u3040-\u309f\u30a0-\u30ff\u3130-\u318f"
    "\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\ua960-\ua97f\uac00-\ud7af\ud7b0-\ud7ff\uf900-\ufaff"
    "\U00020000-\U0003134f"
)
# A run of CJK, or a word: letters and digits of any other script (underscore is no letter).
_SEGMENT = re.compile(f"([{_CJK}]+)|([^\\W_{_CJK}]+)")
_LETTERS = re.compile(r"[^\W_]+")
_ASCII_WORD = re.compile(r"[a-z0-9]+")
MAX_WORD = 100  # longer "words" are hashes, base64 and the like: never a query, and big in an index

MAX_TOKENS = 16_000  # per article: PostgreSQL keeps positions up to 16,383; both stores index the same


def fold_word(word: str) -> str:
    """A word without its accents, case folded (`Café` -> `cafe`, `Straße` -> `strasse`)."""
    if word.isascii():
        return word.lower()
    decomposed = unicodedata.normalize("NFKD", word)
    folded = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    return "".join(c for c in unicodedata.normalize("NFKD", folded) if not unicodedata.combining(c))


def segments(text: str) -> Iterator[tuple[bool, str, int, int]]:
    """(is CJK, folded text, start, end) of each run of `text`, which must be NFKC already."""
    for match in _SEGMENT.finditer(text):
        cjk, word = match.group(1), match.group(2)
        if cjk is not None:
            yield True, cjk, match.start(), match.end()
        else:
            yield False, fold_word(word), match.start(), match.end()


def tokens(text: str) -> list[str]:
    """The tokens of `text`, in order: what the index keeps of an article's title or body."""
    if text.isascii():  # the same tokens as below, at a third of the cost
        return [w for w in _ASCII_WORD.findall(text.lower()) if len(w) <= MAX_WORD]
    out: list[str] = []
    for cjk, run, _start, _end in segments(unicodedata.normalize("NFKC", text)):
        if cjk:
            out.extend(cjk_tokens(run))
        else:
            out.extend(words(run))
    return out


def words(run: str) -> list[str]:
    """A folded word as tokens: itself, or its runs of letters when folding made others (rare)."""
    found = [run] if run.isalnum() else _LETTERS.findall(run)
    return [w for w in found if len(w) <= MAX_WORD]


def cjk_tokens(run: str) -> list[str]:
    """`乌克兰` -> [`乌克`, `克兰`, `兰`]: the overlapping pairs, then the last character alone."""
    if len(run) == 1:
        return [run]
    return [run[i : i + 2] for i in range(len(run) - 1)] + [run[-1]]


def indexed(text: str) -> str:
    """The tokens of `text` as the store is given them: separated by spaces."""
    return " ".join(tokens(text))
