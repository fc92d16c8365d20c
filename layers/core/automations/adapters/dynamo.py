"""DynamoDB implementation of the stores (single-table design; key layout in template.yaml).

Automations are stored as one JSON document attribute beside their keys: reads deserialize one
string instead of a tree of typed attributes, which keeps list pages cheap."""
from __future__ import annotations

import functools
import json
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from automations.adapters import migration_state
from automations.adapters.aws import has_code
from automations.adapters.records import read_all, read_one
from automations.adapters.table import Table, document, number, text
from automations.domain.account import Account, ApiKey
from automations.domain.model import Action, Automation, Condition, Conditions, SubjectKind, Trigger
from automations.errors import Conflict
from automations.store_refusals import ActiveLimitReached, IdenticalActiveAutomation, StaleWrite


class DynamoAccountStore(Table):

    def create_account(self, account: Account) -> None:
        item = {
            "PK": text(f"ACCOUNT#{account.id}"), "SK": text("ACCOUNT"),
            "GSI2PK": text("ACCOUNTS"), "GSI2SK": text(account.id),
            "name": text(account.name), "email": text(account.email), "timezone": text(account.timezone),
            "created_at": text(account.created_at.isoformat()),
            "business_hours": text(json.dumps(account.business_hours)),
        }
        owner = {"PK": text(f"OWNER#{account.email}"), "SK": text("OWNER"), "account_id": text(account.id)}
        try:
            self._db.transact_write_items(TransactItems=[
                {"Put": {"TableName": self._table, "Item": owner, "ConditionExpression": "attribute_not_exists(PK)"}},
                {"Put": {"TableName": self._table, "Item": item, "ConditionExpression": "attribute_not_exists(PK)"}},
            ])
        except ClientError as e:
            if has_code(e, "TransactionCanceledException"):
                raise Conflict(f"an account owned by {account.email} already exists") from None
            raise

    def get_account(self, account_id: str) -> Account | None:
        item = self._db.get_item(TableName=self._table,
                                 Key={"PK": text(f"ACCOUNT#{account_id}"), "SK": text("ACCOUNT")}).get("Item")
        if item is None:
            return None
        return Account(id=account_id, name=item["name"]["S"], email=item["email"]["S"],
                       timezone=item["timezone"]["S"], created_at=datetime.fromisoformat(item["created_at"]["S"]),
                       business_hours=json.loads(item["business_hours"]["S"]),
                       previous_timezone=item.get("previous_timezone", {}).get("S"))

    def set_timezone(self, account: Account, timezone: str) -> bool:
        """Store the account's new zone if it is still in ``account.timezone``, keeping the zone
        before the first change not yet followed; False when the zone changed meanwhile."""
        return self._update_account(account.id, "SET #zone = :new, previous_timezone = if_not_exists("
                                    "previous_timezone, :old)", "#zone = :old",
                                    {":new": text(timezone), ":old": text(account.timezone)})

    def zone_followed(self, account: Account) -> bool:
        """Forget the account's previous zone if it is still ``account.previous_timezone`` and
        its zone ``account.timezone``; False when either changed meanwhile."""
        return self._update_account(account.id, "REMOVE previous_timezone",
                                    "previous_timezone = :previous AND #zone = :zone",
                                    {":previous": text(account.previous_timezone), ":zone": text(account.timezone)})

    def _update_account(self, account_id: str, update: str, condition: str, values: dict[str, Any]) -> bool:
        try:
            self._db.update_item(TableName=self._table, Key={"PK": text(f"ACCOUNT#{account_id}"), "SK": text("ACCOUNT")},
                                 UpdateExpression=update, ConditionExpression=condition,
                                 ExpressionAttributeNames={"#zone": "timezone"}, ExpressionAttributeValues=values)
        except ClientError as e:
            if has_code(e, "ConditionalCheckFailedException"):
                return False
            raise
        return True

    def account_page(self, limit: int, after: str | None = None) -> tuple[list[str], str | None]:
        condition, values = "GSI2PK = :a", {":a": text("ACCOUNTS")}
        if after is not None:
            condition, values = condition + " AND GSI2SK > :after", {**values, ":after": text(after)}
        page = self._db.query(TableName=self._table, IndexName="GSI2", KeyConditionExpression=condition,
                              ExpressionAttributeValues=values, ProjectionExpression="GSI2SK", Limit=limit)
        ids = [item["GSI2SK"]["S"] for item in page["Items"]]
        return ids, (ids[-1] if ids and "LastEvaluatedKey" in page else None)

    def find_account_by_email(self, email: str) -> Account | None:
        owner = self._db.get_item(TableName=self._table,
                                  Key={"PK": text(f"OWNER#{email}"), "SK": text("OWNER")}).get("Item")
        return self.get_account(owner["account_id"]["S"]) if owner else None

    def put_key(self, key: ApiKey) -> None:
        item = {
            "PK": text(f"APIKEY#{key.key_hash}"), "SK": text("APIKEY"),
            "GSI1PK": text(f"KEYID#{key.key_id}"), "GSI1SK": text("APIKEY"),
            "GSI2PK": text(f"ACCOUNT#{key.account_id}#APIKEYS"),
            "GSI2SK": text(f"{key.created_at.isoformat()}#{key.key_id}"),
            "key_id": text(key.key_id), "account_id": text(key.account_id), "email": text(key.email),
            "created_at": text(key.created_at.isoformat()), "revoked": {"BOOL": key.revoked},
        }
        try:
            self._db.put_item(TableName=self._table, Item=item, ConditionExpression="attribute_not_exists(PK)")
        except ClientError as e:
            if has_code(e, "ConditionalCheckFailedException"):
                raise Conflict("that API key already exists") from None
            raise

    def get_key(self, key_hash: str) -> ApiKey | None:
        # Consistent: each lookup decides (a key created a moment ago works, one revoked does not).
        item = self._db.get_item(TableName=self._table, Key={"PK": text(f"APIKEY#{key_hash}"), "SK": text("APIKEY")},
                                 ConsistentRead=True).get("Item")
        return self._key(item) if item else None

    def find_key(self, key_id: str) -> ApiKey | None:
        found = self._db.query(TableName=self._table, IndexName="GSI1",
                               KeyConditionExpression="GSI1PK = :pk",
                               ExpressionAttributeValues={":pk": text(f"KEYID#{key_id}")})["Items"]
        return self._key(found[0]) if found else None

    def revoke_key(self, key: ApiKey) -> None:
        self._db.update_item(TableName=self._table,
                             Key={"PK": text(f"APIKEY#{key.key_hash}"), "SK": text("APIKEY")},
                             UpdateExpression="SET revoked = :t", ExpressionAttributeValues={":t": {"BOOL": True}})

    def list_keys(self, account_id: str) -> list[ApiKey]:
        """Through GSI2 (keys made before it held them are not listed)."""
        pages = self._db.get_paginator("query").paginate(
            TableName=self._table, IndexName="GSI2", KeyConditionExpression="GSI2PK = :pk",
            ExpressionAttributeValues={":pk": text(f"ACCOUNT#{account_id}#APIKEYS")})
        return [self._key(item) for page in pages for item in page["Items"]]

    @staticmethod
    def _key(item: dict[str, Any]) -> ApiKey:
        return ApiKey(key_hash=item["PK"]["S"].removeprefix("APIKEY#"), key_id=item["key_id"]["S"],
                      account_id=item["account_id"]["S"], email=item["email"]["S"],
                      created_at=datetime.fromisoformat(item["created_at"]["S"]), revoked=item["revoked"]["BOOL"])


def automation_to_document(a: Automation) -> dict[str, Any]:
    return {
        "id": a.id, "uuid": a.uuid, "title": a.title, "active": a.active, "position": a.position,
        "subject": a.subject.value, "trigger": a.trigger.value, "trigger_config": a.trigger_config,
        "conditions": a.conditions.to_dict(), "actions": [x.to_dict() for x in a.actions],
        "created_at": a.created_at.isoformat(), "updated_at": a.updated_at.isoformat(), "default": a.default,
    }


def automation_from_document(account_id: str, doc: dict[str, Any], version: int) -> Automation:
    conditions = doc["conditions"]
    return Automation(
        account_id=account_id, id=doc["id"], uuid=doc["uuid"], title=doc["title"], active=doc["active"],
        position=doc["position"], subject=SubjectKind(doc["subject"]), trigger=Trigger(doc["trigger"]),
        conditions=Conditions(all=tuple(Condition(**c) for c in conditions["all"]),
                              any=tuple(Condition(**c) for c in conditions["any"])),
        actions=tuple(Action(**x) for x in doc["actions"]),
        created_at=datetime.fromisoformat(doc["created_at"]), updated_at=datetime.fromisoformat(doc["updated_at"]),
        default=doc["default"], trigger_config=doc["trigger_config"], version=version,
    )


def trigger_index_key(account_id: str, trigger: Trigger, listens_to: str) -> str:
    """GSI2 partition of the account's active automations that ``listens_to`` starts (an event's
    name, a list's or community's id): an event or a join reads only those, not every automation."""
    return f"ACCOUNT#{account_id}#AUTOMATIONS#{trigger.value}#{listens_to}"


class DynamoAutomationStore(Table):

    @staticmethod
    def _key(account_id: str, automation_id: int) -> dict[str, Any]:
        return {"PK": text(f"ACCOUNT#{account_id}"), "SK": text(f"AUTOMATION#{automation_id:012d}")}

    @staticmethod
    def _counter_key(account_id: str) -> dict[str, Any]:
        return {"PK": text(f"ACCOUNT#{account_id}"), "SK": text("COUNTER#AUTOMATIONS")}

    @staticmethod
    def _fingerprint_key(account_id: str, fingerprint: str) -> dict[str, Any]:
        return {"PK": text(f"ACCOUNT#{account_id}"), "SK": text(f"AUTOMATION_FP#{fingerprint}")}

    @classmethod
    def item(cls, a: Automation) -> dict[str, Any]:
        item = {
            **cls._key(a.account_id, a.id),
            "GSI1PK": text(f"ACCOUNT#{a.account_id}#AUTOMATION_UUID#{a.uuid}"), "GSI1SK": text("AUTOMATION"),
            "data": document(automation_to_document(a)),
            "version": number(a.version),
        }
        if a.active and (listens_to := a.listens_to()) is not None:  # sparse: only what an event or a join starts
            item.update(GSI2PK=text(trigger_index_key(a.account_id, a.trigger, listens_to)),
                        GSI2SK=text(f"AUTOMATION#{a.id:012d}"))
        return item

    @staticmethod
    def _from_item(account_id: str, item: dict[str, Any]) -> Automation:
        return automation_from_document(account_id, json.loads(item["data"]["S"]), int(item["version"]["N"]))

    def allocate(self, account_id: str, count: int) -> list[tuple[int, int]]:
        if count == 0:
            return []
        got = self._db.update_item(
            TableName=self._table, Key=self._counter_key(account_id),
            UpdateExpression="ADD next_id :n, next_position :n",
            ExpressionAttributeValues={":n": number(count)}, ReturnValues="UPDATED_NEW")["Attributes"]
        last_id, last_position = int(got["next_id"]["N"]), int(got["next_position"]["N"])
        return [(last_id - count + 1 + i, last_position - count + 1 + i) for i in range(count)]

    def raise_next_position(self, account_id: str, position: int) -> None:
        try:
            self._db.update_item(
                TableName=self._table, Key=self._counter_key(account_id), UpdateExpression="SET next_position = :p",
                ConditionExpression="attribute_not_exists(next_position) OR next_position < :p",
                ExpressionAttributeValues={":p": number(position)})
        except ClientError as e:
            if not has_code(e, "ConditionalCheckFailedException"):
                raise

    def get(self, account_id: str, automation_id: int) -> Automation | None:
        item = self._db.get_item(TableName=self._table, Key=self._key(account_id, automation_id),
                                 ProjectionExpression="#d, version",
                                 ExpressionAttributeNames={"#d": "data"}).get("Item")
        return read_one(item, functools.partial(self._from_item, account_id), "automation") if item else None

    def find_by_uuid(self, account_id: str, automation_uuid: str) -> Automation | None:
        found = self._db.query(TableName=self._table, IndexName="GSI1", KeyConditionExpression="GSI1PK = :pk",
                               ExpressionAttributeValues={
                                   ":pk": text(f"ACCOUNT#{account_id}#AUTOMATION_UUID#{automation_uuid}")})["Items"]
        return read_one(found[0], functools.partial(self._from_item, account_id), "automation") if found else None

    def list(self, account_id: str) -> list[Automation]:
        items = self.query_all({"KeyConditionExpression": "PK = :pk AND begins_with(SK, :prefix)",
                                "ExpressionAttributeValues": {":pk": text(f"ACCOUNT#{account_id}"),
                                                              ":prefix": text("AUTOMATION#")},
                                "ProjectionExpression": "#d, version", "ExpressionAttributeNames": {"#d": "data"}})
        return read_all(items, functools.partial(self._from_item, account_id), "automation")

    def listening(self, account_id: str, trigger: Trigger, listens_to: str) -> list[Automation]:
        """The account's active ``trigger`` automations that ``listens_to`` starts, by id: a Query
        of their GSI2 partition (eventually consistent, as every GSI: an automation saved a moment
        ago may miss an event that comes at once). Until the migration that indexed the automations
        saved before has finished, every automation of the account is read and filtered instead."""
        if not migration_state.finished(self._db, self._table, migration_state.AUTOMATION_TRIGGERS):
            return sorted((a for a in self.list(account_id)
                           if a.active and a.trigger == trigger and a.listens_to() == listens_to), key=lambda a: a.id)
        items = self.query_all({"IndexName": "GSI2", "KeyConditionExpression": "GSI2PK = :pk",
                                "ExpressionAttributeValues": {
                                    ":pk": text(trigger_index_key(account_id, trigger, listens_to))},
                                "ProjectionExpression": "#d, version", "ExpressionAttributeNames": {"#d": "data"}})
        return read_all(items, functools.partial(self._from_item, account_id), "automation")

    # -- transactional writes ------------------------------------------------------------------
    def _fingerprint_put(self, a: Automation) -> dict[str, Any]:
        return {"Put": {"TableName": self._table,
                        "Item": {**self._fingerprint_key(a.account_id, a.fingerprint()), "automation_id": number(a.id)},
                        "ConditionExpression": "attribute_not_exists(PK)"}}

    def _fingerprint_delete(self, a: Automation) -> dict[str, Any]:
        return {"Delete": {"TableName": self._table, "Key": self._fingerprint_key(a.account_id, a.fingerprint()),
                           "ConditionExpression": "automation_id = :id",
                           "ExpressionAttributeValues": {":id": number(a.id)}}}

    def _active_count(self, account_id: str, delta: int, max_active: int) -> dict[str, Any]:
        update: dict[str, Any] = {"TableName": self._table, "Key": self._counter_key(account_id),
                                  "UpdateExpression": "ADD active_count :d",
                                  "ExpressionAttributeValues": {":d": number(delta)}}
        if delta > 0:
            update["ConditionExpression"] = "attribute_not_exists(active_count) OR active_count < :max"
            update["ExpressionAttributeValues"][":max"] = number(max_active)
        return {"Update": update}

    def _transact(self, items: list[tuple[str, dict[str, Any]]], automation: Automation) -> None:
        """Run ``items`` (each tagged with what its failed condition means) as one transaction."""
        try:
            self.transact_tagged(items)
        except StaleWrite as stale:
            if "identical" in stale.args:
                raise IdenticalActiveAutomation(self._fingerprint_owner(automation)) from None
            if "limit" in stale.args:
                raise ActiveLimitReached() from None
            raise StaleWrite() from None

    def _fingerprint_owner(self, a: Automation) -> int | None:
        item = self._db.get_item(TableName=self._table, Key=self._fingerprint_key(a.account_id, a.fingerprint()),
                                 ConsistentRead=True).get("Item")
        return int(item["automation_id"]["N"]) if item else None

    def insert(self, automation: Automation, max_active: int) -> None:
        items = [("stale", {"Put": {"TableName": self._table, "Item": self.item(automation),
                                    "ConditionExpression": "attribute_not_exists(PK)"}})]
        if automation.active:
            items.append(("identical", self._fingerprint_put(automation)))
            items.append(("limit", self._active_count(automation.account_id, 1, max_active)))
        self._transact(items, automation)

    def replace(self, old: Automation, new: Automation, max_active: int) -> None:
        items = [("stale", {"Put": {"TableName": self._table, "Item": self.item(new),
                                    "ConditionExpression": "version = :v",
                                    "ExpressionAttributeValues": {":v": number(old.version)}}})]
        old_fp = old.fingerprint() if old.active else None
        new_fp = new.fingerprint() if new.active else None
        if old_fp != new_fp:
            if old_fp:
                items.append(("stale", self._fingerprint_delete(old)))
            if new_fp:
                items.append(("identical", self._fingerprint_put(new)))
        delta = int(new.active) - int(old.active)
        if delta:
            items.append(("limit", self._active_count(new.account_id, delta, max_active)))
        self._transact(items, new)

    def delete(self, automation: Automation) -> None:
        items = [("stale", {"Delete": {"TableName": self._table, "Key": self._key(automation.account_id, automation.id),
                                       "ConditionExpression": "version = :v",
                                       "ExpressionAttributeValues": {":v": number(automation.version)}}})]
        if automation.active:
            items.append(("stale", self._fingerprint_delete(automation)))
            items.append(("limit", self._active_count(automation.account_id, -1, 0)))
        self._transact(items, automation)
