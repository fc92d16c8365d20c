"""Write sharding: every partition key that grows with a tenant's traffic is split N ways.

DynamoDB serves at most 1,000 write units and 3,000 read units a second per partition key (on
the table and on each GSI). A key that takes every run of an automation, every delivery, every
join of a list or every contact event of an account would cap the whole engine there, so each
is suffixed with a shard derived from the item's own id: a writer always knows its shard (and a
reader by id too); a listing queries every shard and merges them in order.

How many shards each key family takes follows from the rate it must carry (docs/benchmarks.md's scale
model) and the write units each unit of work puts on it: 3,333 runs a second (1,000,000 in five
minutes) wrote about 7 units a run on runs and on the runs-by-automation index, and 12 on
deliveries (two, of three writes each, over 1 KB), when the counts were set, hence 64 shards (an
email run now writes 3 on runs, 1 on its automation's keys-only index and 5 on deliveries); the
DueIndex and the outbox hold only keys (4 units a run), hence 32; 833 joins a second (1,000,000 in twenty minutes)
write 2 units a join on memberships and on the contact event log, hence 16; every ticket change
writes the account's tickets-by-change index and its audit index (GSI2), a sweep of 100,000
tickets in five minutes 333 a second at up to 4 units each, hence 8."""
from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from automations.errors import MalformedRequest
from automations.paging import decode_cursor, encode_cursor

RUN_SHARDS = 64  # runs (the table and the runs-by-automation index), deliveries
DUE_SHARDS = 32  # the DueIndex: waiting runs, and the outbox of unsent deliveries
JOIN_SHARDS = 16  # memberships of a group, the contact event log
USAGE_SHARDS = 4  # a sweep automation's hourly usage counters: one write a firing
SUMMARY_SHARDS = 16  # a sweep cycle's counters: one addition per sweep task (8 per account swept)
TICKET_INDEX_SHARDS = 8  # an account's tickets by last change and its audits (GSI2): a write per ticket change


def shard_of(value: str, shards: int) -> int:
    """The shard of ``value``: stable across processes (not Python's salted hash)."""
    return int(hashlib.sha256(value.encode()).hexdigest()[:8], 16) % shards


def merged_page(db, table: str, shards: int, query: Callable[[int], dict[str, Any]], key_names: tuple[str, ...],
                order: Callable[[dict[str, Any]], Any], *, limit: int, cursor: str | None,
                descending: bool = False) -> tuple[list[dict[str, Any]], str | None]:
    """Up to ``limit`` items of all ``shards`` merged in ``order``, and the cursor of the next page.

    ``query(shard)`` is the Query of one shard (its partition value as ``:pk``, in ``order``);
    ``key_names`` the attributes of its keys, the partition first. The cursor holds each shard's
    position: the key of the last item taken from it, or "done" once it has nothing more. Each
    shard is read a little at a time, so a page costs about ``limit`` items, not ``shards`` times."""
    queries = [dict(query(shard), TableName=table) for shard in range(shards)]
    positions = _positions(cursor, queries, key_names)
    merge = _Merge(db, queries, [None if p == "done" else p for p in positions], order, descending, limit,
                   ended={shard for shard in range(shards) if positions[shard] == "done"})
    taken = []
    for shard, item in merge.take(limit):
        taken.append(item)
        positions[shard] = {name: item[name] for name in key_names}
    for shard in range(shards):
        if merge.drained(shard):
            positions[shard] = "done"
    if all(position == "done" for position in positions):
        return taken, None
    return taken, encode_cursor(positions)


def merged_items(db, table: str, queries: list[dict[str, Any]], order: Callable[[dict[str, Any]], Any], *,
                 limit: int, descending: bool = False) -> tuple[list[dict[str, Any]], bool]:
    """Up to ``limit`` items of ``queries`` (one per partition, each in ``order``, its key
    condition saying where it starts) merged in ``order``, and whether more follow. For a
    listing whose position is one sort key that orders every partition (a time, then an id)."""
    merge = _Merge(db, [dict(q, TableName=table) for q in queries], [None] * len(queries), order, descending, limit)
    taken = [item for _, item in merge.take(limit)]
    return taken, merge.more()


class _Merge:
    """Partitions read a chunk at a time and merged in ``order``."""

    def __init__(self, db, queries: list[dict[str, Any]], starts: list[Any], order: Callable[[dict[str, Any]], Any],
                 descending: bool, limit: int, ended: set[int] | None = None) -> None:
        self._db, self._queries, self._starts, self._order, self._descending = db, queries, starts, order, descending
        self._chunk = max(2, 2 * -(-limit // len(queries)))
        self._buffered: list[list[dict[str, Any]]] = [[] for _ in queries]
        self._ended = set(ended or ())

    def _refill(self, shard: int) -> None:
        while not self._buffered[shard] and shard not in self._ended:
            start = self._starts[shard]
            page = self._db.query(**self._queries[shard], Limit=self._chunk,
                                  **({"ExclusiveStartKey": start} if start else {}))
            self._buffered[shard] += page["Items"]
            self._starts[shard] = page.get("LastEvaluatedKey")
            if self._starts[shard] is None:
                self._ended.add(shard)

    def take(self, limit: int) -> list[tuple[int, dict[str, Any]]]:
        taken: list[tuple[int, dict[str, Any]]] = []
        while len(taken) < limit:
            for shard in range(len(self._queries)):
                self._refill(shard)
            live = [shard for shard in range(len(self._queries)) if self._buffered[shard]]
            if not live:
                break
            pick = (max if self._descending else min)(live, key=lambda shard: self._order(self._buffered[shard][0]))
            taken.append((pick, self._buffered[pick].pop(0)))
        return taken

    def drained(self, shard: int) -> bool:
        return shard in self._ended and not self._buffered[shard]

    def more(self) -> bool:
        """Whether any partition holds an item not taken (each one read until it shows one, or ends)."""
        for shard in range(len(self._queries)):
            self._refill(shard)
        return any(self._buffered)


def _positions(cursor: str | None, queries: list[dict[str, Any]], key_names: tuple[str, ...]) -> list[Any]:
    """The cursor's positions, refused unless each is a key of its own shard's query (so a
    tampered or foreign cursor is a 400, never a look into another partition or a backend error)."""
    if cursor is None:
        return [None] * len(queries)
    positions = decode_cursor(cursor)
    if len(positions) != len(queries) or not all(
            p is None or p == "done" or _is_key(p, key_names, q["ExpressionAttributeValues"][":pk"])
            for p, q in zip(positions, queries)):
        raise MalformedRequest("the pagination cursor is not valid", kind="pagination")
    return positions


def _is_key(value: Any, key_names: tuple[str, ...], partition: dict[str, str]) -> bool:
    return (isinstance(value, dict) and set(value) == set(key_names)
            and all(isinstance(v, dict) and set(v) == {"S"} and isinstance(v["S"], str) for v in value.values())
            and value[key_names[0]] == partition)
