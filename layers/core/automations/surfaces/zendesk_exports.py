"""Zendesk's incremental exports (time-based and cursor-based), as its tickets and users share
them: what a request asks for and how a page is answered."""
from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from automations.errors import MalformedRequest
from automations.service.record_pages import MAX_EXPORT_PAGE, ExportPage
from automations.surfaces import zendesk
from automations.surfaces.http import HttpRequest, json_response

_MAX_UNIX_TIME = 253402300799  # 9999-12-31T23:59:59Z


def _whole(request: HttpRequest, name: str, maximum: int) -> int | None:
    value = request.query.get(name)
    if value is None or value == "":
        return None
    if not value.isdigit() or len(value) > 12 or int(value) > maximum:
        raise MalformedRequest(f"{name} must be a whole number from 0 to {maximum}", kind="invalid_value",
                               parameter=name)
    return int(value)


def export_request(request: HttpRequest, *, by_cursor: bool) -> dict[str, Any]:
    """What an incremental export asks for: ``start`` (``start_time`` in Unix seconds, as an
    instant) or ``cursor``, and ``limit`` (``per_page``), as the services' ``changed_since`` take
    them. The time-based export takes a ``cursor`` only from its own ``next_page``."""
    start = _whole(request, "start_time", _MAX_UNIX_TIME)
    cursor = request.query.get("cursor")
    if start is None and not (by_cursor and cursor):
        raise MalformedRequest("Required parameter missing: start_time", kind="missing", parameter="start_time")
    per_page = _whole(request, "per_page", 10 ** 6)
    return {"start": datetime.fromtimestamp(start, UTC) if start is not None else None, "cursor": cursor or None,
            "limit": min(per_page, MAX_EXPORT_PAGE) if per_page else MAX_EXPORT_PAGE, "by_second": not by_cursor}


def time_export_response(request: HttpRequest, name: str, page: ExportPage, render: zendesk.Render,
                         changed: Callable[[Any], datetime]) -> dict[str, Any]:
    """A time-based export's page of ``name`` (each rendered by ``render``), paged on the second
    each record last changed (``changed``), as Zendesk's: a page that holds the whole of its last
    second ends at the next one (``end_time``, where ``next_page`` starts). One that cannot (that
    second is not over yet, or holds more than a page can) ends at that second; its ``next_page``
    also carries the page's cursor, so a client following it goes on without repeats."""
    rendered = [render(r, request.base_url) for r in page.records]
    start = request.query.get("start_time")
    end_time = (int(changed(page.records[-1]).timestamp()) + (1 if page.whole_second else 0) if rendered
                else int(start) if start else None)
    others = {k: v for k, v in request.query.items() if k not in ("start_time", "cursor")}
    onward = {"cursor": page.after_cursor} if rendered and page.more and not page.whole_second else {}
    return json_response(200, {
        name: rendered, "count": len(rendered), "end_of_stream": not page.more,
        "next_page": f"{request.base_url}{request.path}?{urlencode({**others, 'start_time': end_time, **onward})}",
        "end_time": end_time})


def cursor_export_response(request: HttpRequest, name: str, page: ExportPage, render: zendesk.Render) -> dict[str, Any]:
    others = {k: v for k, v in request.query.items() if k not in ("start_time", "cursor")}
    return json_response(200, {
        name: [render(r, request.base_url) for r in page.records],
        "after_url": f"{request.base_url}{request.path}?{urlencode({**others, 'cursor': page.after_cursor})}",
        "before_url": None, "after_cursor": page.after_cursor, "before_cursor": None,
        "end_of_stream": not page.more})
