"""`python -m crawler` is the `feed-archiver` command."""

from crawler.cli import main

raise SystemExit(main())
