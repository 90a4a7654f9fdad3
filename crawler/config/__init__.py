"""The config layer: the YAML read and validated into `Settings`, and edited in place.

    settings  feeds.yaml -> frozen `Settings` and `FeedSource`s; every user error is one line (file:line: key)
    edit      import/add: a read-modify-write of the YAML that keeps comments, keys and order
    opml      OPML 2.0 in (import) and out (export)

No stage imports this package: the pipeline's stages take `FeedSource` and `HttpSettings` (crawler.models).
"""
