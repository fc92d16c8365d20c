"""Reading stored items back into records, where an item may be one no code can read (written
by an older version, or by hand). Such an item fails alone and visibly: it is logged with its
key and counted (the ``UnreadableRecords`` metric, which has an alarm), and a listing goes on
without it; asking for it by its key raises ``UnreadableRecord``."""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from automations import telemetry
from automations.errors import reason_of
from automations.store_refusals import UnreadableRecord

T = TypeVar("T")
_log = logging.getLogger(__name__)
# What reading a malformed item raises: a missing or mistyped attribute, JSON that is not a
# document of the record (JSONDecodeError is a ValueError), a value outside its enum.
READ_ERRORS = (KeyError, TypeError, ValueError, AttributeError, IndexError)


def read_one(item: dict[str, Any], read: Callable[[dict[str, Any]], T], record: str) -> T:
    """``read(item)``; UnreadableRecord (after logging and counting it) when it cannot be read."""
    try:
        return read(item)
    except READ_ERRORS as error:
        raise unreadable(item, record, error) from None


def read_all(items: Iterable[dict[str, Any]], read: Callable[[dict[str, Any]], T], record: str) -> list[T]:
    """The items ``read`` can read, in order; each one it cannot is logged, counted and left out."""
    found = []
    for item in items:
        try:
            found.append(read(item))
        except READ_ERRORS as error:
            unreadable(item, record, error)
    return found


def unreadable(item: dict[str, Any], record: str, error: BaseException) -> UnreadableRecord:
    key = f"{_text(item.get('PK'))}/{_text(item.get('SK'))}"
    reason = reason_of(error)
    _log.error("unreadable %s record left out: key=%s: %s", record, key, reason)
    telemetry.count("UnreadableRecords", record=record, key=key)
    return UnreadableRecord(f"the stored {record} {key} cannot be read: {reason}")


def _text(value: Any) -> str:
    return value.get("S", "?") if isinstance(value, dict) else "?"
