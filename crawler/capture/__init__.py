"""The raw record: every HTTP exchange of a poll also in WARC files (DESIGN.md, "Capture: the raw record (WARC)").

    warc   `WarcCapture`: the files, their records, the revisits; `repair_open_files` at start
    wacz   packing the files, their index and the archived pages as a WACZ (`export-wacz`)

`fetch` hands each exchange to the `crawler.observe.Capture` it was given, so it never imports
this layer; the image workers open their own from the picklable `WarcSpec`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from crawler import lazy_exports

if TYPE_CHECKING:
    from crawler.capture.wacz import export_wacz
    from crawler.capture.warc import WarcCapture, WarcSpec, repair_open_files
else:
    __getattr__ = lazy_exports(__name__, {
        "wacz": "export_wacz",
        "warc": "WarcCapture WarcSpec repair_open_files",
    })

__all__ = ["WarcCapture", "WarcSpec", "export_wacz", "repair_open_files"]
