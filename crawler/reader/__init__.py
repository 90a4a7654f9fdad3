"""A feed's bytes to entries, and an entry to clean article HTML.

    parse      feed bytes -> `FeedEntry`s (feedparser; JSON Feed by our own parser)
    identity   an entry's identity: canonical links, aliases, shared GUIDs
    content    whether the feed's text is the article or a teaser (full_text: auto)
    extract    a page's article HTML (trafilatura), run in the worker processes
    article    the article's final HTML: extraction, sanitizing and image references in one worker call
    sanitize   the allow-list sanitizer (nh3)
    imagerefs  finding and rewriting <img> references
    text       plain text of HTML, for titles and checksums
    quality    the extraction's score on the shared evaluation pages
"""
