"""DynamoDB's Time to Live, locally: moto keeps an expired item for good, DynamoDB deletes it
(within days; the product never counts on when). Here an item whose TTL attribute is a number of
epoch seconds before the local clock's now is deleted within a second of wall time, or of a move
of the clock: idempotency records, finished jobs, sweep records and contact events stop piling up.
As in DynamoDB, an attribute that is not a number, or more than five years in the past, is not a
time to live."""
from __future__ import annotations

import heapq
import threading
from collections.abc import Callable
from typing import Any

from automations.clock import Clock
from automations_local import patches
from automations_local.background import BackgroundLoop

CHECK_EVERY_S = 1.0
TOO_OLD_S = 5 * 365 * 86400  # DynamoDB leaves items whose time to live is older than five years


def time_to_live(table: Any, item: Any) -> float | None:
    """The item's expiry in epoch seconds, when its table has TTL on and the item a valid one."""
    ttl = getattr(table, "ttl", None) or {}
    if ttl.get("TimeToLiveStatus") != "ENABLED" or item is None:
        return None
    value = item.attrs.get(ttl.get("AttributeName"))
    if value is None or value.type != "N":
        return None
    try:
        return float(value.value)
    except ValueError:
        return None


class Expiry:
    """Deletes expired items of moto's tables, between two AWS calls (``lock``, held by each)."""

    def __init__(self, lock: threading.Lock, clock: Clock) -> None:
        self._lock, self._clock = lock, clock
        # Every item with a time to live has an entry, (expiry, key), held by both: the key is
        # (its table's number, a small one shared by the table's keys; its own key objects).
        self._due: dict[tuple, tuple[float, tuple]] = {}  # key -> its entry (the last written)
        self._queue: list[tuple[float, tuple]] = []  # heap of entries; superseded ones skipped
        self._tables: list[Any] = []  # by number
        self._numbers: dict[int, int] = {}  # id(table) -> its number
        self._stop_listening = patches.on_item_write(self._written)
        self._loop = BackgroundLoop("automations-local-ttl", self.expire, CHECK_EVERY_S, "expiring items (TTL)")

    def start(self, paused: Callable[[], bool] | None = None) -> Expiry:
        """Follow what is there now and every write from now on; expire in the background
        (``paused()`` true skips a round)."""
        from moto.backends import get_backend

        with self._lock:  # what was restored: every item once
            for regions in get_backend("dynamodb").values():
                for backend in regions.values():
                    for table in backend.tables.values():
                        for hashed in table.items.values():
                            for item in (hashed.values() if table.range_key_attr else (hashed,)):
                                self._written(table, item.hash_key, item.range_key)
        self._loop.start(paused)
        return self

    def stop(self) -> None:
        self._loop.stop()
        self._stop_listening()

    def _written(self, table: Any, hash_key: Any, range_key: Any) -> None:
        """After an item write (inside the AWS call)."""
        expires = time_to_live(table, table.get_item(hash_key, range_key))
        number = self._numbers.get(id(table))
        if expires is None:
            if number is not None:
                self._due.pop((number, hash_key, range_key), None)
            return
        if number is None:
            number = self._numbers[id(table)] = len(self._tables)
            self._tables.append(table)
        key = (number, hash_key, range_key)
        entry = self._due.get(key)
        if entry is not None:
            if entry[0] == expires:
                return
            key = entry[1]  # the one held already
        entry = self._due[key] = (expires, key)
        heapq.heappush(self._queue, entry)  # a tie compares keys: of one table, alike in type
        if len(self._queue) > 2 * len(self._due) + 1000:  # mostly superseded entries: start afresh
            self._queue = list(self._due.values())
            heapq.heapify(self._queue)

    def expire(self) -> bool:
        """Delete every item expired by now; False (nothing more to do until the next round)."""
        now = self._clock.now().timestamp()
        with self._lock:
            while self._queue and self._queue[0][0] <= now:
                entry = heapq.heappop(self._queue)
                expires, key = entry
                if self._due.get(key) is not entry:
                    continue  # superseded by a later write
                del self._due[key]
                table, hash_key, range_key = self._tables[key[0]], key[1], key[2]
                if expires >= now - TOO_OLD_S and time_to_live(table, table.get_item(hash_key, range_key)) == expires:
                    table.delete_item(hash_key, range_key)  # announced: the saved state and the indexes follow
        return False
