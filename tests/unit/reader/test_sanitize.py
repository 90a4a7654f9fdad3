from __future__ import annotations

import re

import lxml.html
import pytest

from crawler.reader.sanitize import Sanitizer, escape_braces, one_html_block

SANITIZER = Sanitizer(iframe_hosts={"www.youtube.com"})

CASES = {
    "script": ("<p>a</p><script>alert(1)</script>", "<p>a</p>"),
    "handler": ('<p onclick="x()" onmouseover=y>a</p>', "<p>a</p>"),
    "javascript-href": ('<a href="javascript:alert(1)">x</a>', '<a rel="noopener noreferrer">x</a>'),
    "obfuscated-javascript": ('<a href="java\tscript:alert(1)">x</a>', '<a rel="noopener noreferrer">x</a>'),
    "data-href": ('<a href="data:text/html,<script>x</script>">x</a>', '<a rel="noopener noreferrer">x</a>'),
    "data-image-kept": ('<img src="data:image/png;base64,iVBORw0KGgo=">',
                        '<img src="data:image/png;base64,iVBORw0KGgo=">'),
    "data-svg-dropped": ('<img src="data:image/svg+xml;base64,PHN2Zz4=">', "<img>"),
    "unknown-iframe": ('<p>v</p><iframe src="https://evil.example/x"></iframe>', "<p>v</p>"),
    "allowed-iframe": ('<iframe src="https://www.youtube.com/embed/abc" width="560"></iframe>',
                       '<iframe src="https://www.youtube.com/embed/abc" width="560"></iframe>'),
    "style-removed": ('<p style="color:red">a</p><style>p{}</style>', "<p>a</p>"),
    "figure-kept": ('<figure><img src="https://e.com/a.jpg" alt="A"><figcaption>Cap</figcaption></figure>',
                    '<figure><img src="https://e.com/a.jpg" alt="A"><figcaption>Cap</figcaption></figure>'),
    "structure-kept": ("<h3>H</h3><ul><li>1</li></ul><table><tr><td>c</td></tr></table>",
                       "<h3>H</h3><ul><li>1</li></ul><table><tbody><tr><td>c</td></tr></tbody></table>"),
    "object-embed": ('<object data="x.swf"></object><embed src="x.swf">', ""),
    "form": ('<form action="/x"><input name="a"></form>', ""),
    "local-image-kept": ('<img src="../images/ab.jpg" data-original-src="https://e.com/a.jpg">',
                         '<img src="../images/ab.jpg" data-original-src="https://e.com/a.jpg">'),
    "original-src-javascript": ('<img src="a.jpg" data-original-src="javascript:x">', '<img src="a.jpg">'),
}


@pytest.mark.parametrize(("dirty", "clean"), CASES.values(), ids=CASES.keys())
def test_sanitizer(dirty: str, clean: str) -> None:
    assert SANITIZER.clean(dirty) == clean


def test_braces_become_entities() -> None:
    assert escape_braces("{{ x }} {% y %}") == "&#123;&#123; x &#125;&#125; &#123;% y %&#125;"


@pytest.mark.parametrize(
    "html",
    [
        "<p>a</p>\n\n    <p>indented after a blank line</p>",
        "<pre>line 1\n\n\nline 4\n  \nline 6</pre>",
        "<p>a</p>\r\n\r\n<p>b</p>\r\r<p>c</p>",
        "<pre>```js\nx = 1\n```\n~~~~\ny\n~~~~</pre>\n\n\n",
        "\n\n<p>starts blank</p>",
        "  \n\t\n<pre>x\n\n\n\ny</pre>\n \n\n",
    ],
    ids=["indent-after-blank", "pre-blank-lines", "crlf-and-cr", "fences", "leading-blank", "runs-of-blanks"],
)
def test_one_html_block_has_no_blank_line_or_fence_and_means_the_same_html(html: str) -> None:
    block = one_html_block(html)

    assert all(line.strip() for line in block.split("\n")[:-1]), block
    assert not re.search(r"(?m)^\s*(```|~~~)", block)
    assert _texts(block) == _texts(html.replace("\r\n", "\n").replace("\r", "\n"))


def _texts(markup: str) -> list[str]:
    root = lxml.html.fragment_fromstring(markup, create_parent="div")
    return [el.text_content() for el in root.iter("p", "pre")]
