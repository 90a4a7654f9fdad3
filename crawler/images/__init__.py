"""Images: which to download, the download worker processes, and the content-addressed store.

    download  one image's GET with its Referer rules, written under its SHA-256
    worker    the worker processes that download images off the crawl's event loop
    store     `ImageStore`: each distinct image fetched once per archive, its state in the store
"""
