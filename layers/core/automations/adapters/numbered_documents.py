"""DynamoDB storage of the records with integer ids an account keeps few of (contact lists,
communities, custom fields, templates, agent groups): under PK=ACCOUNT#<a>, one JSON document per
record at SK=<prefix><id:012d> with a version for optimistic locking, ids from COUNTER#<counter>.
Apart from the contacts' storage, so that the users' and groups' functions do not load it."""
from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime
from typing import Any, Generic, TypeVar

from botocore.exceptions import ClientError

from automations.adapters.aws import has_code
from automations.adapters.records import read_all, read_one
from automations.adapters.table import Table, document, number, text
from automations.store_refusals import StaleWrite

T = TypeVar("T")


def account_partition(account_id: str) -> dict[str, str]:
    """The partition key of an account's own items."""
    return text(f"ACCOUNT#{account_id}")


def dated(doc: dict[str, Any]) -> dict[str, Any]:
    """A stored document with its created_at and updated_at read back as instants."""
    return {**doc, "created_at": datetime.fromisoformat(doc["created_at"]),
            "updated_at": datetime.fromisoformat(doc["updated_at"])}


def record_document(record: Any) -> dict[str, Any]:
    """A record's JSON document: its dataclass fields minus keys and version, dates as ISO."""
    doc = {k: v for k, v in asdict(record).items() if k not in ("account_id", "version")}
    return {**doc, "created_at": record.created_at.isoformat(), "updated_at": record.updated_at.isoformat()}


class NumberedDocuments(Table, Generic[T]):
    def __init__(self, client, table: str, *, prefix: str, counter: str,
                 load: Callable[[str, dict[str, Any], int], T]) -> None:
        super().__init__(client, table)
        self._prefix, self._counter, self._load = prefix, counter, load
        self._record = prefix.rstrip("#").replace("_", " ").lower()  # as logs name it

    def _key(self, account_id: str, item_id: int) -> dict[str, Any]:
        return {"PK": account_partition(account_id), "SK": text(f"{self._prefix}{item_id:012d}")}

    def _from_item(self, account_id: str, item: dict[str, Any]) -> T:
        return self._load(account_id, json.loads(item["data"]["S"]), int(item["version"]["N"]))

    def next_id(self, account_id: str) -> int:
        got = self._db.update_item(TableName=self._table,
                                   Key={"PK": account_partition(account_id), "SK": text(f"COUNTER#{self._counter}")},
                                   UpdateExpression="ADD next_id :one", ExpressionAttributeValues={":one": number(1)},
                                   ReturnValues="UPDATED_NEW")
        return int(got["Attributes"]["next_id"]["N"])

    def insert(self, record: Any) -> None:
        self._db.put_item(TableName=self._table, Item={**self._key(record.account_id, record.id),
                                                       "data": document(record_document(record)), "version": number(record.version)},
                          ConditionExpression="attribute_not_exists(PK)")

    def get(self, account_id: str, item_id: int) -> T | None:
        item = self._db.get_item(TableName=self._table, Key=self._key(account_id, item_id)).get("Item")
        return read_one(item, functools.partial(self._from_item, account_id), self._record) if item else None

    def list(self, account_id: str) -> list[T]:
        items = self.query_all({"KeyConditionExpression": "PK = :pk AND begins_with(SK, :p)",
                                "ExpressionAttributeValues": {":pk": account_partition(account_id), ":p": text(self._prefix)}})
        return read_all(items, functools.partial(self._from_item, account_id), self._record)

    def replace(self, old: Any, new: Any) -> None:
        try:
            self._db.put_item(TableName=self._table, Item={**self._key(new.account_id, new.id),
                                                           "data": document(record_document(new)), "version": number(new.version)},
                              ConditionExpression="version = :v", ExpressionAttributeValues={":v": number(old.version)})
        except ClientError as e:
            if has_code(e, "ConditionalCheckFailedException"):
                raise StaleWrite() from None
            raise

    def delete(self, record: Any) -> None:
        try:
            self._db.delete_item(TableName=self._table, Key=self._key(record.account_id, record.id),
                                 ConditionExpression="version = :v", ExpressionAttributeValues={":v": number(record.version)})
        except ClientError as e:
            if has_code(e, "ConditionalCheckFailedException"):
                raise StaleWrite() from None
            raise
