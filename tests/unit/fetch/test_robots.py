"""robots.txt rules as RFC 9309 states them, read from the copy kept in a real state store.

Each case stores a copy of a robots.txt for an origin (as a crawl earlier that day would have),
and a fresh `Robots` answers from it: the same path a crawl takes within the day, with no request.
"""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crawler.config.settings import HttpSettings
from crawler.fetch import Clients, Fetcher
from crawler.fetch.robots import MAX_CRAWL_DELAY, Robots
from crawler.models import RobotsCopy
from crawler.store.state import StateStore

NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)
ORIGIN = "http://robots.test"
HTTP = HttpSettings(
    user_agent="FooBot/1.0 (+news archiver)", timeout=5, total_timeout=10, max_body=10_000, max_redirects=3,
    concurrency=4, per_host=2, retries=0, proxy=None, http2=False,
)


async def ask(store_url: str, body: str, paths: list[str], user_agent: str) -> tuple[list[bool], list[float]]:
    """Which of `paths` a fresh `Robots` allows under `body` (the store's copy of today), and the
    delays `wait_turn` asks for between three page requests."""
    store = await StateStore.open(store_url)
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    clock = itertools.count()
    try:
        await store.save_robots(RobotsCopy(ORIGIN, NOW, 200, body))
        async with Clients(HTTP) as clients:
            robots = Robots(Fetcher(clients, HTTP), store, user_agent, lambda: NOW, sleep=sleep,
                            monotonic=lambda: float(next(clock)) / 1000)
            allowed = [await robots.refusal(ORIGIN + path) is None for path in paths]
            for _ in range(3):
                await robots.wait_turn(ORIGIN + "/x")
    finally:
        await store.close()
    return allowed, slept


RFC_EXAMPLE = """\
User-Agent: *
Disallow: *.gif$
Disallow: /example/
Allow: /publications/

User-Agent: foobot
Disallow:/
Allow:/example/page.html
Allow:/example/allowed.gif

User-Agent: barbot
User-Agent: bazbot
Disallow: /example/page.html

User-Agent: quxbot

EOF
"""
LONGEST = "User-Agent: foobot\nAllow: /example/page/\nDisallow: /example/page/disallowed.gif\n"
MERGED = "User-agent: foobot\nDisallow: /a\n\nUser-agent: other\nDisallow: /\n\nUser-agent: foobot\nDisallow: /b\n"


@pytest.mark.parametrize(
    ("body", "agent", "path", "allowed"),
    [
        # RFC 9309, section 5.1: the example file
        pytest.param(RFC_EXAMPLE, "foobot", "/example/page.html", True, id="5.1 foobot allowed page"),
        pytest.param(RFC_EXAMPLE, "foobot", "/example/allowed.gif", True, id="5.1 foobot allowed gif"),
        pytest.param(RFC_EXAMPLE, "foobot", "/example/disallowed.gif", False, id="5.1 foobot rest disallowed"),
        pytest.param(RFC_EXAMPLE, "foobot", "/", False, id="5.1 foobot root"),
        pytest.param(RFC_EXAMPLE, "barbot", "/example/page.html", False, id="5.1 barbot"),
        pytest.param(RFC_EXAMPLE, "bazbot", "/example/page.html", False, id="5.1 bazbot shares the group"),
        pytest.param(RFC_EXAMPLE, "barbot", "/example/a.gif", True, id="5.1 barbot has no * rules"),
        pytest.param(RFC_EXAMPLE, "quxbot", "/example/page.html", True, id="5.1 quxbot empty group"),
        pytest.param(RFC_EXAMPLE, "otherbot", "/img/a.gif", False, id="5.1 * wildcard and $"),
        pytest.param(RFC_EXAMPLE, "otherbot", "/img/a.gif?w=1", True, id="5.1 $ ends the pattern"),
        pytest.param(RFC_EXAMPLE, "otherbot", "/example/x", False, id="5.1 * disallow"),
        pytest.param(RFC_EXAMPLE, "otherbot", "/publications/x", True, id="5.1 * allow"),
        # section 5.2 and 2.2.2: the longest match wins, Allow wins a tie, whatever the order
        pytest.param(LONGEST, "foobot", "/example/page/", True, id="5.2 allow"),
        pytest.param(LONGEST, "foobot", "/example/page/disallowed.gif", False, id="5.2 longer disallow"),
        pytest.param("User-agent: *\nAllow: /\nDisallow: /private/\n", "x", "/private/a", False,
                     id="allow before a longer disallow"),
        pytest.param("User-agent: *\nAllow: /\nDisallow: /private/\n", "x", "/public", True, id="allow /"),
        pytest.param("User-agent: *\nDisallow: /page\nAllow: /page\n", "x", "/page", True, id="allow wins a tie"),
        # section 2.2.3: * and $
        pytest.param("User-agent: *\nDisallow: /*.html\n", "x", "/art/a.html", False, id="* in a path"),
        pytest.param("User-agent: *\nDisallow: /*.html\n", "x", "/art/a.htm", True, id="* no match"),
        pytest.param("User-agent: *\nDisallow: /a$\n", "x", "/a", False, id="$ matches the end"),
        pytest.param("User-agent: *\nDisallow: /a$\n", "x", "/ab", True, id="$ only the end"),
        pytest.param("User-agent: *\nDisallow: /path/file-with-a-%2A.html\n", "x", "/path/file-with-a-*.html",
                     False, id="2.2.3 encoded *"),
        pytest.param("User-agent: *\nDisallow: /path/foo-%24\n", "x", "/path/foo-$", False, id="2.2.3 encoded $"),
        # section 2.2.2: percent-encoding, and paths are case-sensitive
        pytest.param("User-agent: *\nDisallow: /foo/bar?baz=quz\n", "x", "/foo/bar?baz=quz", False, id="query"),
        pytest.param("User-agent: *\nDisallow: /foo/bar/ツ\n", "x", "/foo/bar/%E3%83%84", False, id="utf-8 rule"),
        pytest.param("User-agent: *\nDisallow: /foo/bar/%E3%83%84\n", "x", "/foo/bar/ツ", False, id="encoded rule"),
        pytest.param("User-agent: *\nDisallow: /foo/bar/%62%61%7A\n", "x", "/foo/bar/baz", False,
                     id="encoded unreserved"),
        pytest.param("User-agent: *\nDisallow: /Private\n", "x", "/private", True, id="case-sensitive path"),
        pytest.param("User-agent: *\nDisallow:\n", "x", "/x", True, id="empty disallow"),
        # section 2.2.1: user agents, case-insensitive, groups of one agent merged
        pytest.param("User-agent: FOOBOT\nDisallow: /\n", "foobot", "/x", False, id="agent case"),
        pytest.param(MERGED, "foobot", "/b", False, id="groups merged"),
        pytest.param(MERGED, "foobot", "/c", True, id="groups merged allow"),
        pytest.param("User-agent: foobot\nDisallow: /\n", "FooBot/2.1 (+https://x.test/bot)", "/x", False,
                     id="our product token"),
        pytest.param("User-agent: news\nDisallow: /\n", "FooBot/2.1 (+news archiver)", "/x", True,
                     id="words after the product token are not our name"),
    ],
)
def test_rfc_9309_cases(tmp_path: Path, body: str, agent: str, path: str, allowed: bool) -> None:
    [answer], _ = asyncio.run(ask(f"sqlite:///{tmp_path}/state.sqlite", body, [path], agent))
    assert answer is allowed


@pytest.mark.parametrize(
    ("lines", "delay"),
    [
        pytest.param("Crawl-delay: ²", 0.0, id="superscript two"),
        pytest.param("Request-rate: ²/5", 0.0, id="superscript request rate"),
        pytest.param("Crawl-delay: ٣", 3.0, id="arabic-indic three is a digit"),
        pytest.param("Crawl-delay: -5", 0.0, id="negative"),
        pytest.param("Crawl-delay: nan\nCrawl-delay: inf", 0.0, id="nan and inf"),
        pytest.param("Crawl-delay: 1e400", 0.0, id="overflow"),
        pytest.param("Crawl-delay: 1e9", MAX_CRAWL_DELAY, id="capped"),
        pytest.param("Crawl-delay: 2.5", 2.5, id="fraction"),
    ],
)
def test_odd_crawl_delays_are_ignored_or_capped_and_the_other_rules_hold(tmp_path: Path, lines: str,
                                                                         delay: float) -> None:
    body = f"User-agent: *\n{lines}\nDisallow: /private/\n"
    allowed, slept = asyncio.run(ask(f"sqlite:///{tmp_path}/state.sqlite", body, ["/private/a", "/a"], "FooBot"))
    assert allowed == [False, True]
    assert slept == ([pytest.approx(delay - 0.001), pytest.approx(2 * delay - 0.002)] if delay else [])


# Values that look like numbers to one reader and not to another: every Unicode digit and
# numeral ('²', '٣', 'Ⅻ'), signs, points, exponents and the rate's slash.
DIGITS = st.one_of(st.sampled_from("0159²³¹①⑴⒈٣३Ⅻ"), st.characters(categories=["Nd", "No", "Nl"]))
NUMBERISH = st.one_of(st.text(DIGITS, min_size=1, max_size=3),
                      st.tuples(st.text(DIGITS, min_size=1, max_size=2), st.text(DIGITS, min_size=1, max_size=2))
                      .map("/".join),
                      st.text(st.one_of(DIGITS, st.sampled_from("0123456789.-+e/ ")), max_size=8))
FIELD = st.one_of(
    st.sampled_from(["Crawl-delay", "crawl-DELAY", "Request-rate"]),
    st.sampled_from(["Allow", "Disallow", "User-agent", "Sitemap", "Host", "Visit-time", "Disalow", "", " ", "#"]),
    st.text(max_size=12),
)
LINE = st.one_of(
    st.tuples(FIELD, st.sampled_from([":", " : ", ":\t", " ", "", "::"]), st.one_of(NUMBERISH, st.text(max_size=30)))
    .map("".join),
    st.text(max_size=40),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(LINE, max_size=12).map(lambda lines: ["User-agent: *", *lines]),
       newline=st.sampled_from(["\n", "\r\n", "\r"]), path=st.text(max_size=20))
def test_any_robots_txt_lines_never_raise_and_the_delay_stays_bounded(
    tmp_path_factory: pytest.TempPathFactory, lines: list[str], newline: str, path: str
) -> None:
    folder = tmp_path_factory.mktemp("robots")
    body = newline.join(lines).replace("\x00", "")  # the store keeps no NUL (the fetch drops them)
    allowed, slept = asyncio.run(ask(f"sqlite:///{folder}/state.sqlite", body, ["/" + path, "/"], "FooBot/1.0"))
    assert all(isinstance(answer, bool) for answer in allowed)
    assert all(0 < seconds <= 2 * MAX_CRAWL_DELAY for seconds in slept)
