"""The base of the stores whose items live under the account's own partition (PK=ACCOUNT#<a>):
tickets, users and agent groups, bulk jobs. Kept apart from the tickets' store so that a store of
users or jobs loads nothing of the tickets'."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from automations.adapters.shards import merged_items
from automations.adapters.table import Table, number, text

T = TypeVar("T")


class AccountTable(Table):
    """A store of items under the account's own partition (PK=ACCOUNT#<a>)."""

    @staticmethod
    def _account_key(account_id: str, sort_key: str) -> dict[str, Any]:
        return {"PK": text(f"ACCOUNT#{account_id}"), "SK": text(sort_key)}

    def _next_id(self, key: dict[str, Any]) -> int:
        got = self._db.update_item(TableName=self._table, Key=key, UpdateExpression="ADD next_id :one",
                                   ExpressionAttributeValues={":one": number(1)}, ReturnValues="UPDATED_NEW")
        return int(got["Attributes"]["next_id"]["N"])

    def _next_ids(self, key: dict[str, Any], count: int) -> range:
        got = self._db.update_item(TableName=self._table, Key=key, UpdateExpression="ADD next_id :n",
                                   ExpressionAttributeValues={":n": number(count)}, ReturnValues="UPDATED_NEW")
        last = int(got["Attributes"]["next_id"]["N"])
        return range(last - count + 1, last + 1)

    def ordered_page(self, query: dict[str, Any], start: dict[str, Any] | None, limit: int, *,
                     descending: bool = False, offset: int = 0, projection: dict[str, Any] | None = None,
                     ) -> tuple[list[dict[str, Any]], bool]:
        """Up to ``limit`` items of ``query`` (a Query in the order of its sort key) after the item
        whose key is ``start``, the first ``offset`` of them skipped (read as keys only), and
        whether more follow."""
        query = {**query, "ScanIndexForward": not descending}
        if offset:
            skipped, start = self.query({**query, "ProjectionExpression": "SK"}, offset, start)
            if len(skipped) < offset or start is None:
                return [], False
        items, _ = self.query({**query, **(projection or {})}, limit + 1, start)  # one more tells whether more follow
        return items[:limit], len(items) > limit

    def changes(self, partitions: Sequence[str], read: Callable[[dict[str, Any]], T], position: str, limit: int, *,
                inclusive: bool, max_bytes: int, until: str | None = None) -> tuple[list[tuple[str, T]], bool]:
        """The records of GSI2 ``partitions`` (one family, merged) sorted by when they last
        changed (an incremental export's), from ``position`` on (a time as sortable text, or a
        position returned before) and before ``until`` (a time as sortable text), each read by
        ``read`` with its position; at most ``limit`` and about ``max_bytes`` of them; and whether
        more follow."""
        if until is not None and until <= position:
            return [], False
        found: list[tuple[str, T]] = []
        size = 0
        while len(found) < limit and size < max_bytes:
            if until is None:
                condition, values = f"GSI2SK {'>=' if inclusive else '>'} :at", {":at": text(position)}
            else:  # one condition on the sort key: BETWEEN, without ``position`` itself when exclusive
                condition, values = "GSI2SK BETWEEN :at AND :until", {":at": text(position), ":until": text(until)}
            queries = [{"IndexName": "GSI2", "ScanIndexForward": True, "KeyConditionExpression": f"GSI2PK = :pk AND {condition}",
                        "ExpressionAttributeValues": {**values, ":pk": text(partition)}} for partition in partitions]
            skipped = 1 if until is not None and not inclusive else 0  # BETWEEN answers ``position`` too
            items, more = merged_items(self._db, self._table, queries, lambda item: item["GSI2SK"]["S"],
                                       limit=min(100, limit - len(found)) + skipped)
            for item in items:
                if item["GSI2SK"]["S"] == position and not inclusive:
                    continue
                if len(found) == limit:
                    return found, True
                size += sum(len(v.get("S", "")) for v in item.values())
                found.append((item["GSI2SK"]["S"], read(item)))
            if not more or not items:
                return found, False
            position, inclusive = items[-1]["GSI2SK"]["S"], False
        return found, True
