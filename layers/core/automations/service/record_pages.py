"""Pages of records as Zendesk serves them: by offset or by cursor over ids, and its incremental
exports in the order records last changed. Tickets' and users' services share them."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from automations import clock
from automations.errors import MalformedRequest
from automations.inputs import MAX_ID, is_whole
from automations.paging import CursorPage, OffsetPage, decode_cursor, encode_cursor

MAX_OFFSET_RECORDS = 10_000  # Zendesk stops offset pagination of records after 100 pages of 100
MAX_EXPORT_PAGE = 1000  # Zendesk's incremental export page
MAX_EXPORT_BYTES = 4 * 1024 * 1024  # a page stays well inside Lambda's 6 MB response
_SECOND_MAX = 100_000  # changes of one second a time-based export page may hold (its bytes bind first)


@dataclass(frozen=True)
class ExportPage:
    records: list[Any]  # tickets or users (deleted ones too), in the order they last changed
    more: bool
    after_cursor: str  # where the next page starts (this one's start again when it is empty)
    whole_second: bool = False  # the page holds every change of its last record's second


def export_page(read: Callable[..., tuple[list[tuple[str, Any]], bool]], changed: Callable[[Any], datetime], *,
                start: datetime | None = None, cursor: str | None = None, limit: int = MAX_EXPORT_PAGE,
                by_second: bool = False) -> ExportPage:
    """A page of one of Zendesk's incremental exports: records in the order they last changed
    (``changed``), from ``start`` (that instant included) or after ``cursor`` (a previous page's).
    ``read(position, limit, inclusive=, max_bytes=, until=)`` is the store's read of them.

    ``by_second`` (the time-based export, which pages on whole seconds): a page then goes on past
    ``limit`` to the last change of its last record's second, so that the next page can start at
    the following second; ``whole_second`` says it did. It does not when that second is not over
    yet (more may change in it) or holds more than a page can."""
    if cursor is not None:
        position, inclusive = cursor_position(cursor), False
    else:
        position, inclusive = clock.sortable(start), True
    budget = MAX_EXPORT_BYTES // 2 if by_second else MAX_EXPORT_BYTES  # half kept for the rest of the second
    found, more = read(position, limit, inclusive=inclusive, max_bytes=budget)
    whole = False
    second = int(changed(found[-1][1]).timestamp()) if found else None
    if by_second and second is not None and second < int(clock.now().timestamp()):
        whole = True
        if more:  # more may follow after that second too: at worst, the next page is empty
            rest, unfinished = read(found[-1][0], _SECOND_MAX, inclusive=False, max_bytes=budget,
                                    until=clock.sortable(datetime.fromtimestamp(second + 1, UTC)))
            found += rest
            whole = not unfinished
    last = encode_cursor([found[-1][0]]) if found else (cursor or encode_cursor([position]))
    return ExportPage([t for _, t in found], more, last, whole)


# A store's records in id order, as TicketStore.list_page reads them: ``fetch(limit,
# exclusive_start, descending=, offset=)`` -> (records, the id to continue after or None at the end).
IdFetch = Callable[..., tuple[list[Any], int | None]]


def offset_by_id(fetch: IdFetch, count: Callable[[], int], page: int, per_page: int, noun: str) -> OffsetPage[Any]:
    """A page of records by id; only the first MAX_OFFSET_RECORDS can be reached, as in Zendesk."""
    skip = (page - 1) * per_page
    if skip >= MAX_OFFSET_RECORDS:
        raise MalformedRequest(f"Offset pagination is limited to the first {MAX_OFFSET_RECORDS} {noun}; "
                               "use cursor pagination (page[size]) to go further", kind="pagination",
                               parameter="page")
    records, _ = fetch(per_page, None, offset=skip)
    return OffsetPage(records, page, per_page, count())


def cursor_by_id(fetch: IdFetch, size: int, *, after: str | None = None, before: str | None = None) -> CursorPage[Any]:
    """Records (with an ``id``) by id; ``has_more`` tells whether more lie in the direction of travel."""
    if before is not None:
        records, last = fetch(size, cursor_id(before), descending=True)
        records.reverse()
    else:
        records, last = fetch(size, None if after is None else cursor_id(after))
    if not records:
        return CursorPage([], last is not None, None, None)
    return CursorPage(records, last is not None, encode_cursor([records[-1].id]), encode_cursor([records[0].id]))


def cursor_id(cursor: str) -> int:
    key = decode_cursor(cursor)
    if len(key) != 1 or not is_whole(key[0], MAX_ID):
        raise MalformedRequest("the pagination cursor is not valid", kind="pagination")
    return key[0]


def cursor_position(cursor: str) -> str:
    """The position a cursor of the audits listing or the incremental export holds (opaque)."""
    key = decode_cursor(cursor)
    if len(key) != 1 or not isinstance(key[0], str) or len(key[0]) > 64:
        raise MalformedRequest("the pagination cursor is not valid", kind="pagination")
    return key[0]
