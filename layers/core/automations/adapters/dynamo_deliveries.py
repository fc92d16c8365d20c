"""DynamoDB storage of deliveries (the outbox). A delivery is PK=ACCOUNT#<a>#DELIVERIES#<shard>,
SK=DELIVERY#<id>; one pending (or claimed from pending and not finished) carries the sparse
DueIndex keys DUE_PK=OUTBOX#<shard>, so a relay can find what a crash left unsent without a Scan
(a run attempt's first delivery, stored claimed, is its run's to settle: see new_delivery_put). Both shards come from the delivery
id (adapters/shards.py): no key takes every delivery of an account, or of every account.

Deliveries written before the sharding (PK=ACCOUNT#<a>, SK=DELIVERY#<id>, waiting in DUE_PK=OUTBOX)
are moved by the migration DELIVERIES_SHARDED. Until it has finished, a delivery looked up by id
and missing is copied from there to its new key (where every read and claim goes from then on),
and the relay reads the old OUTBOX as well, copying what waits there."""
from __future__ import annotations

import json
import logging
import math
import random
from dataclasses import asdict, replace
from datetime import datetime, timezone
from typing import Any

from botocore.exceptions import ClientError

from automations import clock
from automations.adapters import migration_state
from automations.adapters.aws import has_code
from automations.adapters.shards import DUE_SHARDS, RUN_SHARDS, shard_of
from automations.adapters.table import Table, number, text
from automations.domain.delivery import Channel, Delivery, DeliveryStatus
from automations.errors import reason_of

_log = logging.getLogger(__name__)
PACE_SHARD_RATE = 500  # send slots a second per pace item: half a partition's write units


def outbox_key(shard: int) -> str:
    return f"OUTBOX#{shard}"


LEGACY_OUTBOX = "OUTBOX"  # every account's unsent deliveries, before the sharding


def legacy_delivery_key(account_id: str, delivery_id: str) -> dict[str, Any]:
    return {"PK": text(f"ACCOUNT#{account_id}"), "SK": text(f"DELIVERY#{delivery_id}")}


def resharded_delivery(item: dict[str, Any]) -> dict[str, Any]:
    """A delivery item of before the sharding with its keys as they are now (data untouched)."""
    account_id, delivery_id = item["PK"]["S"].removeprefix("ACCOUNT#"), item["SK"]["S"].removeprefix("DELIVERY#")
    moved = {**item, **DynamoDeliveryStore.key(account_id, delivery_id)}
    if "DUE_PK" in item:
        moved["DUE_PK"] = text(outbox_key(shard_of(delivery_id, DUE_SHARDS)))
    return moved


def deliveries_partition(account_id: str) -> str:
    """What every delivery partition of the account starts with."""
    return f"ACCOUNT#{account_id}#DELIVERIES#"


def _document(d: Delivery) -> str:
    doc = asdict(d)
    doc.update(channel=d.channel.value, status=d.status.value, created_at=d.created_at.isoformat())
    return json.dumps(doc, separators=(",", ":"), default=str)


def delivery_from_item(item: dict[str, Any]) -> Delivery:
    doc = json.loads(item["data"]["S"])
    doc.update(channel=Channel(doc["channel"]), status=DeliveryStatus(item["status"]["S"]),
               created_at=datetime.fromisoformat(doc["created_at"]), attempts=int(item["attempts"]["N"]))
    for name in ("provider_id", "error"):
        doc[name] = item[name]["S"] if name in item else None
    doc["claimed_at"] = datetime.fromisoformat(item["claimed_at"]["S"]) if "claimed_at" in item else None
    return Delivery(**doc)


def _outbox_keys(d: Delivery) -> dict[str, Any]:
    """The DueIndex keys of a delivery waiting in the outbox, oldest first."""
    return {"DUE_PK": text(outbox_key(shard_of(d.id, DUE_SHARDS))), "DUE_SK": text(f"{d.created_at.isoformat()}#{d.id}")}


class DynamoDeliveryStore(Table):

    @staticmethod
    def key(account_id: str, delivery_id: str) -> dict[str, Any]:
        return {"PK": text(f"{deliveries_partition(account_id)}{shard_of(delivery_id, RUN_SHARDS)}"),
                "SK": text(f"DELIVERY#{delivery_id}")}

    def new_delivery_put(self, d: Delivery) -> dict[str, Any]:
        """Transaction item: store ``d`` unless a delivery of that id exists."""
        item = {**self.key(d.account_id, d.id), "data": text(_document(d)), "status": text(d.status.value),
                "attempts": number(d.attempts)}
        # Only what is pending waits in the outbox. One stored claimed (a run attempt's first) is
        # its run's own to settle: its sender sends it at once, and a sender that stops there
        # leaves it to the run's next attempt (DeliveryService.record_unconfirmed), so it never
        # enters the outbox and never leaves it: two write units less.
        if d.status is DeliveryStatus.PENDING:
            item.update(_outbox_keys(d))
        if d.claimed_at is not None:
            item["claimed_at"] = text(d.claimed_at.isoformat())
        for name in ("provider_id", "error"):
            if getattr(d, name) is not None:
                item[name] = text(getattr(d, name))
        return {"Put": {"TableName": self._table, "Item": item, "ConditionExpression": "attribute_not_exists(PK)"}}

    def put_new(self, d: Delivery) -> Delivery:
        """Store ``d`` unless a delivery of its id exists; returns ``d`` itself if it stored it,
        else the one stored before (so a retried run finds it, sent or not, and never makes it
        anew)."""
        if self._copied_from_legacy(d.account_id, d.id):
            return self.get(d.account_id, d.id)
        try:
            self._db.put_item(**self.new_delivery_put(d)["Put"])
            return d
        except ClientError as e:
            if not has_code(e, "ConditionalCheckFailedException"):
                raise
        return self.get(d.account_id, d.id)

    def claim(self, d: Delivery) -> Delivery | None:
        """pending -> sending, for exactly one sender; None when someone else has it or it is done."""
        try:
            got = self._db.update_item(
                TableName=self._table, Key=self.key(d.account_id, d.id),
                UpdateExpression="SET #s = :sending, claimed_at = :now ADD attempts :one",
                ConditionExpression="#s = :pending", ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":sending": text("sending"), ":pending": text("pending"), ":one": number(1),
                                           ":now": text(clock.now().isoformat())},
                ReturnValues="ALL_NEW")["Attributes"]
        except ClientError as e:
            if has_code(e, "ConditionalCheckFailedException"):
                return None
            raise
        return delivery_from_item(got)

    def release(self, d: Delivery, error: str, *, attempted: bool = True) -> None:
        """sending -> pending: a transient failure, to be retried by the relay (in the outbox, where
        one stored claimed was not); not ``attempted`` (a throttle), the claim's attempt is given
        back. Only this write says the delivery is known unsent: left "sending", it would be
        recorded unconfirmed and never sent, so a throttle is waited out."""
        outbox = _outbox_keys(d)
        self.update_through_throttles(
            f"the release of delivery {d.id} kept throttling", Key=self.key(d.account_id, d.id),
            UpdateExpression="SET #s = :pending, #e = :e, DUE_PK = if_not_exists(DUE_PK, :due_pk), "
                             "DUE_SK = if_not_exists(DUE_SK, :due_sk)" + ("" if attempted else " ADD attempts :minus_one"),
            ExpressionAttributeNames={"#s": "status", "#e": "error"},
            ExpressionAttributeValues={":pending": text("pending"), ":e": text(error), ":due_pk": outbox["DUE_PK"],
                                       ":due_sk": outbox["DUE_SK"], **({} if attempted else {":minus_one": number(-1)})})

    def finish(self, d: Delivery, status: DeliveryStatus, provider_id: str | None = None,
               error: str | None = None, *, unless_claimed: bool = False) -> Delivery | None:
        """``d`` finished as ``status``. ``unless_claimed``: only if it is still pending (else None),
        so a delivery settled unsent never overwrites a sender that claimed it meanwhile."""
        names = {"#s": "status"}
        values: dict[str, Any] = {":s": text(status.value)}
        sets = ["#s = :s"]
        for attribute, value in (("provider_id", provider_id), ("error", error)):
            if value is not None:
                names[f"#{attribute}"] = attribute
                values[f":{attribute}"] = text(value)
                sets.append(f"#{attribute} = :{attribute}")
        condition = {}
        if unless_claimed:
            condition, values[":pending"] = {"ConditionExpression": "#s = :pending"}, text("pending")
        try:
            self._db.update_item(TableName=self._table, Key=self.key(d.account_id, d.id),
                                 UpdateExpression="SET " + ", ".join(sets) + " REMOVE DUE_PK, DUE_SK",
                                 ExpressionAttributeNames=names, ExpressionAttributeValues=values, **condition)
        except ClientError as e:
            if unless_claimed and has_code(e, "ConditionalCheckFailedException"):
                return None
            raise
        return replace(d, status=status, provider_id=provider_id, error=error)

    def get_many(self, account_id: str, delivery_ids: list[str]) -> list[Delivery]:
        """Those of ``delivery_ids`` that are stored (consistent reads; moved deliveries only)."""
        items = self.batch_get([self.key(account_id, i) for i in dict.fromkeys(delivery_ids)], ConsistentRead=True)
        return [delivery_from_item(item) for item in items]

    def get(self, account_id: str, delivery_id: str) -> Delivery | None:
        item = self._db.get_item(TableName=self._table, Key=self.key(account_id, delivery_id),
                                 ConsistentRead=True).get("Item")
        if not item and self._copied_from_legacy(account_id, delivery_id):
            return self.get(account_id, delivery_id)
        return delivery_from_item(item) if item else None

    def _copied_from_legacy(self, account_id: str, delivery_id: str) -> bool:
        """Until every delivery written before the sharding is moved: the delivery under its old
        key copied to its new one (unless one is there); whether there was one."""
        if migration_state.finished(self._db, self._table, migration_state.DELIVERIES_SHARDED):
            return False
        old = self._db.get_item(TableName=self._table, Key=legacy_delivery_key(account_id, delivery_id),
                                ConsistentRead=True).get("Item")
        if old is not None:
            self.copy_if_absent(resharded_delivery(old))
        return old is not None

    def unfinished(self, limit: int = 100) -> list[Delivery]:
        """Oldest unfinished deliveries of every outbox shard, for the relay."""
        outboxes = [outbox_key(shard) for shard in range(DUE_SHARDS)]
        if not migration_state.finished(self._db, self._table, migration_state.DELIVERIES_SHARDED):
            outboxes.append(LEGACY_OUTBOX)
        keys = []
        for outbox in outboxes:
            keys += self._db.query(TableName=self._table, IndexName="DueIndex", KeyConditionExpression="DUE_PK = :o",
                                   ExpressionAttributeValues={":o": text(outbox)}, Limit=limit)["Items"]
        keys = sorted(keys, key=lambda key: key["DUE_SK"]["S"])[:limit]
        found = []
        for key in keys:
            item = self._db.get_item(TableName=self._table, Key={"PK": key["PK"], "SK": key["SK"]}).get("Item")
            if item and key["DUE_PK"]["S"] == LEGACY_OUTBOX:  # of before the sharding: copied before it is claimed
                item = self._out_of_legacy_outbox(item)
            if item:
                try:
                    found.append(delivery_from_item(item))
                except (KeyError, TypeError, ValueError) as error:  # unreadable: out of the outbox, alone
                    self._give_up_unreadable(item, reason_of(error))
        return found

    def _out_of_legacy_outbox(self, item: dict[str, Any]) -> dict[str, Any] | None:
        """A delivery waiting in the OUTBOX of before the sharding: copied to its new key (unless it
        is there already), and out of the old OUTBOX; the delivery as its new key holds it."""
        moved = resharded_delivery(item)
        self.copy_if_absent(moved)
        self._db.update_item(TableName=self._table, Key={"PK": item["PK"], "SK": item["SK"]},
                             UpdateExpression="REMOVE DUE_PK, DUE_SK")
        return self._db.get_item(TableName=self._table, Key={"PK": moved["PK"], "SK": moved["SK"]},
                                 ConsistentRead=True).get("Item")

    def _give_up_unreadable(self, item: dict[str, Any], reason: str) -> None:
        """A stored delivery that cannot be read can never be sent: it is marked failed and leaves
        the outbox, so it neither blocks the relay nor is read again every hour."""
        _log.error("unreadable delivery given up: %s %s: %s", item["PK"]["S"], item["SK"]["S"], reason)
        self._db.update_item(TableName=self._table, Key={"PK": item["PK"], "SK": item["SK"]},
                             UpdateExpression="SET #s = :failed, #e = :e REMOVE DUE_PK, DUE_SK",
                             ExpressionAttributeNames={"#s": "status", "#e": "error"},
                             ExpressionAttributeValues={":failed": text("failed"), ":e": text(f"unreadable: {reason}")})


class DynamoSendPace(Table):
    """Send slots (ports.SendPace) as counter items per channel, second and shard,
    PK=PACE#<channel>#<unix second>#<shard>: a conditional ADD takes a slot while fewer than the
    shard's share of the rate are taken. One write a send; a second's slots are spread over
    shards of at most PACE_SHARD_RATE, so no key takes more than that many writes a second
    (SES allows some accounts thousands of sends a second), and they expire after a day."""

    def take(self, channel: str, rate: float, now: datetime, ahead: int) -> datetime | None:
        shards = max(1, math.ceil(rate / PACE_SHARD_RATE))
        share = max(1, math.floor(rate / shards))
        first, start = math.floor(now.timestamp()), random.randrange(shards)
        for second in range(first, first + ahead + 1):
            for shard in ((start + n) % shards for n in range(shards)):
                if self._took(f"PACE#{channel}#{second}#{shard}", share, second):
                    return max(now, datetime.fromtimestamp(second, timezone.utc))
        return None

    def _took(self, key: str, share: int, second: int) -> bool:
        try:
            self._db.update_item(
                TableName=self._table, Key={"PK": text(key), "SK": text("SLOTS")},
                UpdateExpression="ADD taken :one SET expires_at = :expires",
                ConditionExpression="attribute_not_exists(taken) OR taken < :share",
                ExpressionAttributeValues={":one": number(1), ":share": number(share),
                                           ":expires": number(second + 86_400)})
            return True
        except ClientError as e:
            if has_code(e, "ConditionalCheckFailedException"):
                return False
            raise
