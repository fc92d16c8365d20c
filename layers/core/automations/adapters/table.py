"""The one helper every DynamoDB adapter reaches its table through: ``Table``, the stores' base,
with attribute values, the query read to its end, batch reads and writes, and one retry policy
under every call.

botocore (standard mode, 4 attempts) retries a throttled call itself. What it does not retry is
retried here with the one Backoff (adapters/aws.py), exponential with jitter: a transaction
cancelled only by conflicts with other transactions or by throttling (a hot item: the group
every join checks, the ticket count every insert and delete changes), a write that met a
transaction in progress on its item (TransactionConflictException), and the keys or items a
batch call leaves unprocessed. When those retries are spent, or botocore's are, the call fails
with Busy (errors.py): the one failure meaning "slow down", which queue consumers retry later
and every surface answers with 503."""
from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from automations.adapters.aws import BACKOFF, Backoff, has_code
from automations.errors import THROTTLE_CODES, Busy
from automations.store_refusals import StaleWrite

# Why DynamoDB cancels a transaction that a later attempt can commit.
_CONTENDED = frozenset({"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"})
_BATCH_GET, _BATCH_WRITE = 100, 25  # keys per BatchGetItem, requests per BatchWriteItem


def text(value: str) -> dict[str, str]:
    """A DynamoDB string attribute value (every adapter writes its items with these)."""
    return {"S": value}


def number(value: int) -> dict[str, str]:
    """A DynamoDB number attribute value."""
    return {"N": str(value)}


def document(doc: Any) -> dict[str, str]:
    """A JSON document as one compact string attribute (how records are stored)."""
    return text(json.dumps(doc, separators=(",", ":")))


def failed_checks(error: ClientError) -> list[bool]:
    """Which items of a cancelled transaction failed their condition."""
    reasons = error.response.get("CancellationReasons") or []
    return [r.get("Code") == "ConditionalCheckFailed" for r in reasons]


def _contended(error: ClientError) -> bool:
    """Whether only contention or throttling stopped the write (so it wrote nothing, and the
    same write may succeed a moment later)."""
    if has_code(error, "TransactionConflictException"):
        return True
    if not has_code(error, "TransactionCanceledException"):
        return False
    codes = {r.get("Code") for r in error.response.get("CancellationReasons") or []} - {"None", None}
    return bool(codes) and codes <= _CONTENDED


class _Retrying:
    """A DynamoDB client each of whose calls goes through the retry policy."""

    def __init__(self, client, backoff: Backoff) -> None:
        self._client = client
        self._backoff = backoff

    def __getattr__(self, name: str) -> Any:
        operation = getattr(self._client, name)
        if name.startswith("_") or not callable(operation) or name.startswith(("get_paginator", "get_waiter")):
            return operation

        def call(**request: Any) -> Any:
            for _ in self._backoff.tries(f"DynamoDB {name}: the table kept throttling or the item stayed contended"):
                try:
                    return operation(**request)
                except ClientError as error:
                    if _contended(error):
                        continue
                    if error.response.get("Error", {}).get("Code") in THROTTLE_CODES:  # botocore retried it already
                        raise Busy(f"DynamoDB {name} throttled: {error.response['Error']['Code']}") from error
                    raise
        return call


class Table:
    """A store's table: ``_db``, its client (every call under the retry policy), ``_table``,
    its name, and the reads and writes that take more than one call."""

    def __init__(self, client, table: str, *, backoff: Backoff = BACKOFF) -> None:
        self._db = client if isinstance(client, _Retrying) else _Retrying(client, backoff)
        self._table = table
        self._backoff = backoff

    def query(self, query: dict[str, Any], count: int | None = None, start: dict[str, Any] | None = None,
              ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        """Up to ``count`` items (all when None) of a Query from ``start`` on, and the key after
        the last one read (None at the end). A 1 MB response page never shortens the answer."""
        items: list[dict[str, Any]] = []
        while count is None or len(items) < count:
            request = {"TableName": self._table, **query}
            if count is not None:
                request["Limit"] = count - len(items)
            if start is not None:
                request["ExclusiveStartKey"] = start
            page = self._db.query(**request)
            items.extend(page["Items"])
            start = page.get("LastEvaluatedKey")
            if start is None:
                break
        return items, start

    def query_all(self, query: dict[str, Any]) -> list[dict[str, Any]]:
        """Every item of a Query."""
        return self.query(query)[0]

    def batch_get(self, keys: list[dict[str, Any]], **options: Any) -> list[dict[str, Any]]:
        """The items of ``keys`` that exist, 100 keys a call; ``options`` (ProjectionExpression,
        ConsistentRead) apply to each call."""
        found: list[dict[str, Any]] = []
        for first in range(0, len(keys), _BATCH_GET):
            request = {self._table: {"Keys": keys[first:first + _BATCH_GET], **options}}
            for _ in self._backoff.tries("DynamoDB kept keys of a BatchGetItem unprocessed"):
                answer = self._db.batch_get_item(RequestItems=request)
                found += answer["Responses"].get(self._table, [])
                request = answer.get("UnprocessedKeys") or {}
                if not request:
                    break
        return found

    def transact_tagged(self, items: list[tuple[str, dict[str, Any]]]) -> None:
        """Run tagged transaction items (each a tag saying what its failed condition means, and
        the item); a cancelled transaction raises StaleWrite naming the tags whose conditions
        failed (none when concurrent transactions cancelled it: stale all the same)."""
        try:
            self._db.transact_write_items(TransactItems=[item for _, item in items])
        except ClientError as e:
            if not has_code(e, "TransactionCanceledException"):
                raise
            raise StaleWrite(*[tag for (tag, _), bad in zip(items, failed_checks(e)) if bad]) from None

    def copy_if_absent(self, item: dict[str, Any]) -> bool:
        """Put ``item`` (an item of before a key change, in its new shape) unless an item is at its
        key already (copied before, or written since: that one wins); whether it was put."""
        try:
            self._db.put_item(TableName=self._table, Item=item, ConditionExpression="attribute_not_exists(PK)")
        except ClientError as error:
            if not has_code(error, "ConditionalCheckFailedException"):
                raise
            return False
        return True

    def update_if(self, item: dict[str, Any], expression: str, condition: str, values: dict[str, Any]) -> bool:
        """Update ``item`` (as read: its PK and SK name it) while ``condition`` holds; whether it
        did (False: written since, so the change is not this caller's to make)."""
        try:
            self._db.update_item(TableName=self._table, Key={"PK": item["PK"], "SK": item["SK"]},
                                 UpdateExpression=expression, ConditionExpression=condition,
                                 ExpressionAttributeValues=values)
        except ClientError as error:
            if not has_code(error, "ConditionalCheckFailedException"):
                raise
            return False
        return True

    def update_through_throttles(self, busy: str, **request: Any) -> None:
        """An UpdateItem nothing else would make again: a throttle past botocore's retries is
        waited out with the table's backoff too (a throttled write changed nothing, so writing
        again is once); Busy(``busy``) when every try is spent."""
        for _ in self._backoff.tries(busy):
            try:
                self._db.update_item(TableName=self._table, **request)
                return
            except Busy:
                continue

    def move(self, old_key: dict[str, Any], item: dict[str, Any]) -> None:
        """An item written under keys since replaced, to ``item`` (its new shape): copied unless
        one is at the new key already, then the old one deleted. Idempotent: a move repeated, or
        two at once, leave one item."""
        self.copy_if_absent(item)
        self._db.delete_item(TableName=self._table, Key=old_key)

    def batch_put(self, items: list[dict[str, Any]]) -> None:
        """Put ``items`` unconditionally, 25 a call."""
        self._batch_write([{"PutRequest": {"Item": item}} for item in items])

    def batch_delete(self, keys: list[dict[str, Any]]) -> None:
        """Delete the items of ``keys`` (those that exist), 25 a call."""
        self._batch_write([{"DeleteRequest": {"Key": key}} for key in keys])

    def _batch_write(self, requests: list[dict[str, Any]]) -> None:
        for first in range(0, len(requests), _BATCH_WRITE):
            pending = requests[first:first + _BATCH_WRITE]
            for _ in self._backoff.tries("DynamoDB kept items of a BatchWriteItem unprocessed"):
                answer = self._db.batch_write_item(RequestItems={self._table: pending})
                pending = answer.get("UnprocessedItems", {}).get(self._table, [])
                if not pending:
                    break
