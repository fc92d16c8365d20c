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
        self._due: dict[tuple, float] = {}  # (table id, hash key, range key) -> expiry
        self._queue: list[tuple[float, int, tuple]] = []  # heap of (expiry, order, key); stale ones skipped
        self._tables: dict[int, Any] = {}
        self._order = 0
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
        key = (id(table), hash_key, range_key)
        expires = time_to_live(table, table.get_item(hash_key, range_key))
        if expires is None:
            self._due.pop(key, None)
            return
        if self._due.get(key) == expires:
            return
        self._due[key] = expires
        self._tables[id(table)] = table
        self._order += 1
        heapq.heappush(self._queue, (expires, self._order, key))
        if len(self._queue) > 2 * len(self._due) + 1000:  # mostly superseded expiries: start afresh
            self._queue = [(when, n, k) for n, (k, when) in enumerate(self._due.items())]
            heapq.heapify(self._queue)

    def expire(self) -> bool:
        """Delete every item expired by now; False (nothing more to do until the next round)."""
        now = self._clock.now().timestamp()
        with self._lock:
            while self._queue and self._queue[0][0] <= now:
                expires, _, key = heapq.heappop(self._queue)
                if self._due.get(key) != expires:
                    continue  # superseded by a later write
                del self._due[key]
                table, hash_key, range_key = self._tables[key[0]], key[1], key[2]
                if expires >= now - TOO_OLD_S and time_to_live(table, table.get_item(hash_key, range_key)) == expires:
                    table.delete_item(hash_key, range_key)  # announced: the saved state and the indexes follow
        return False
