"""YAML front matter that any title survives: quotes, colons, `#`, newlines, emoji, control characters.

Pure. Written by hand rather than by `yaml.dump` to keep the seed's layout
(key order, single-quoted title, ` - ` list items) while choosing, value by
value, a quoting style that parses back to exactly the same string in PyYAML
and in Hexo's js-yaml.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

import yaml

# Characters YAML lets stand unescaped inside a quoted scalar. U+0085, U+2028 and U+2029 are
# line breaks to YAML 1.1 and get folded; U+FEFF is a byte-order mark. All four are escaped.
_PRINTABLE = re.compile("[\t\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd\U00010000-\U0010ffff]*")
_PLAIN_SAFE = re.compile(r"[^\s\-?:,\[\]{}#&*!|>'\"%@`=<][^#\n]*")
_PLAIN_RISKY = re.compile(r": |:$| #|^(?:true|false|yes|no|on|off|null|y|n|~)$|^[-+.\d]", re.IGNORECASE)


def single_quoted(value: str) -> str | None:
    """`'...'`, or None when the value holds a character single quotes cannot carry."""
    if not _PRINTABLE.fullmatch(value) or value != value.strip(" \t"):
        # Leading/trailing blanks survive quoting, but line folding would bite at edges; stay strict.
        return None
    return "'" + value.replace("'", "''") + "'"


def double_quoted(value: str) -> str:
    out = ['"']
    for char in value:
        code = ord(char)
        if char == "\\":
            out.append("\\\\")
        elif char == '"':
            out.append('\\"')
        elif char == "\n":
            out.append("\\n")
        elif char == "\t":
            out.append("\\t")
        elif _PRINTABLE.fullmatch(char) and char != "\t":
            out.append(char)
        elif code <= 0xFF:
            out.append(f"\\x{code:02x}")
        elif code <= 0xFFFF:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


def quoted(value: str) -> str:
    """The seed's single quotes where they are exact, double quotes with escapes otherwise."""
    return single_quoted(value) or double_quoted(value)


def plain_or_quoted(value: str) -> str:
    """Plain (as the seed writes author and categories) when YAML reads it back unchanged."""
    if value and _PLAIN_SAFE.fullmatch(value) and not _PLAIN_RISKY.search(value) and \
            value == value.strip() and _PRINTABLE.fullmatch(value) and _reads_back(value):
        return value
    return quoted(value)


@lru_cache(maxsize=4096)
def _reads_back(value: str) -> bool:
    # The regexes rule out what we know; the parser itself has the last word.
    try:
        return bool(yaml.safe_load(f"k: {value}") == {"k": value})
    except yaml.YAMLError:
        return False


def render_front_matter(fields: Sequence[tuple[str, str | bool | Sequence[str]]]) -> str:
    """`---`, one `key: value` line per field in order, `---`.

    A string value is written as given (already quoted by the caller); a list becomes
    ` - item` lines as in the seed, and an empty list `[]`.
    """
    lines = ["---"]
    for key, value in fields:
        if isinstance(value, bool):
            lines.append(f"{key}: {'true' if value else 'false'}")
        elif isinstance(value, str):
            lines.append(f"{key}: {value}")
        elif not value:
            lines.append(f"{key}: []")
        else:
            lines.append(f"{key}: ")
            lines.extend(f" - {plain_or_quoted(item)}" for item in value)
    lines.append("---")
    return "\n".join(lines) + "\n"


def split_front_matter(text: str) -> tuple[str, str] | None:
    """(the YAML between the `---` lines, the body after them) of a front-matter file, or None when it
    has none. The seed's stray blank line before the first `---`, and a BOM, are passed over."""
    text = text.lstrip("\ufeff")
    if text.startswith("\n---\n"):
        text = text[1:]
    if not text.startswith("---\n"):
        return None
    front, sep, body = text[4:].partition("\n---\n")
    return (front, body) if sep else None
