"""Zendesk's cursor pagination, walked as a client walks it, in the handler tests."""
from __future__ import annotations

from typing import Any, Callable


def cursor_pages(listing: Callable[[dict[str, str]], tuple[int, dict, Any]], query: dict[str, str], *,
                 toward: str = "after") -> list[dict[str, Any]]:
    """Every page from ``query`` on, each a 200: ``listing(query)`` asked again with each page's
    ``meta.<toward>_cursor`` as ``page[<toward>]`` ("after": forward, "before": back) until a
    page has no more."""
    pages = []
    while True:
        status, _, body = listing(query)
        assert status == 200, body
        pages.append(body)
        if not body["meta"]["has_more"]:
            return pages
        query = {**query, f"page[{toward}]": body["meta"][f"{toward}_cursor"]}
