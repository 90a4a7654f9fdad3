"""feed-archiver: a faithful, browsable archive of news feeds as front-matter Markdown files."""

__version__ = "0.1.0"

__all__ = ["__version__"]
