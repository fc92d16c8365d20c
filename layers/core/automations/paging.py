"""Offset and cursor pagination over an already sorted list. Cursors are opaque: base64url of
the sort key of the item they point at, so they stay valid when other items change."""
from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from automations.errors import MalformedRequest
from automations.inputs import parse_json

T = TypeVar("T")
MAX_PAGE_SIZE = 100


@dataclass(frozen=True)
class Ordering:
    """How a listing is sorted (of automations, by a surface's sort_by and sort_order); the key
    also positions pagination cursors."""

    key: Callable[[Any], list[Any]]
    descending: bool


def check_sort(sort_by: str | None, sort_order: str | None, allowed: Iterable[str]) -> str:
    """The sort asked for, if it is one of ``allowed`` (a surface's sorts)."""
    sort_by = sort_by or "position"
    allowed = tuple(allowed)
    if sort_by not in allowed:
        raise MalformedRequest(f"sort_by must be one of {', '.join(allowed)}", kind="invalid_value",
                               parameter="sort_by")
    if sort_order not in (None, "asc", "desc"):
        raise MalformedRequest('sort_order must be "asc" or "desc"', kind="invalid_value", parameter="sort_order")
    return sort_by


def encode_cursor(key: Sequence[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(key), separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> list[Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        key = parse_json(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError, MalformedRequest):
        raise MalformedRequest("the pagination cursor is not valid", kind="pagination") from None
    if not isinstance(key, list):
        raise MalformedRequest("the pagination cursor is not valid", kind="pagination")
    return key


@dataclass(frozen=True)
class OffsetPage(Generic[T]):
    items: list[T]
    page: int
    per_page: int
    count: int

    @property
    def has_next(self) -> bool:
        return self.page * self.per_page < self.count

    @property
    def has_previous(self) -> bool:
        return self.page > 1


def offset_page(items: Sequence[T], page: int, per_page: int) -> OffsetPage[T]:
    start = (page - 1) * per_page
    return OffsetPage(list(items[start:start + per_page]), page, per_page, len(items))


@dataclass(frozen=True)
class CursorPage(Generic[T]):
    items: list[T]
    has_more: bool
    after_cursor: str | None
    before_cursor: str | None


def cursor_page(items: Sequence[T], key: Callable[[T], list[Any]], size: int, *, descending: bool = False,
                after: str | None = None, before: str | None = None) -> CursorPage[T]:
    """``items`` sorted by ``key`` (descending when asked). ``after`` pages forward from an item,
    ``before`` backward; ``has_more`` tells whether more lie in the direction of travel."""
    keys = [key(i) for i in items]

    def comes_after(k: list[Any], mark: list[Any]) -> bool:
        return k < mark if descending else k > mark

    try:
        if before is not None:
            mark = decode_cursor(before)
            end = sum(1 for k in keys if comes_after(mark, k))
            start = max(0, end - size)
            chosen, has_more = list(items[start:end]), start > 0
        else:
            start = 0
            if after is not None:
                mark = decode_cursor(after)
                start = next((i for i, k in enumerate(keys) if comes_after(k, mark)), len(keys))
            chosen, has_more = list(items[start:start + size]), start + size < len(items)
    except TypeError:  # a cursor made for another sort order
        raise MalformedRequest("the pagination cursor is not valid", kind="pagination") from None
    if not chosen:
        return CursorPage([], has_more, None, None)
    return CursorPage(chosen, has_more, encode_cursor(key(chosen[-1])), encode_cursor(key(chosen[0])))
