"""`python -m crawler` is the `feed-archiver` command."""

from crawler.cli import run

run()
