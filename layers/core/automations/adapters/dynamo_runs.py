"""DynamoDB storage of runs. A run item is PK=ACCOUNT#<a>, SK=RUN#<id>; GSI1 lists an
automation's runs and GSI2 a subject's, both newest first. An unfinished run also sits in the
sparse DueIndex (DUE_PK=RUNS#<shard>, DUE_SK=<when someone should next look at it>#...): a
scheduled run at its due time, a running one when its lease ends, so the hourly sweep finds
runs whose schedule or executor was lost without a Scan. Every change after creation is a
conditional write on the run's version."""
from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from automations.adapters.dynamo import _failed_checks, _is, _n, _s, batch_get
from automations.adapters.dynamo_deliveries import DynamoDeliveryStore
from automations.clock import sortable
from automations.domain.delivery import Delivery
from automations.domain.model import SubjectKind
from automations.domain.run import Run, RunStatus
from automations.errors import MalformedRequest, reason_of
from automations.ports import StaleWrite, UnreadableRecord
from automations.paging import decode_cursor, encode_cursor


def run_document(run: Run) -> dict[str, Any]:
    return {
        "id": run.id, "automation_id": run.automation_id, "subject_kind": run.subject_kind.value,
        "subject_id": run.subject_id, "occurrence": run.occurrence, "status": run.status.value,
        "created_at": run.created_at.isoformat(), "updated_at": run.updated_at.isoformat(),
        "due_at": run.due_at.isoformat() if run.due_at else None, "data": run.data, "changes": run.changes,
        "deliveries": list(run.deliveries), "history": list(run.history), "error": run.error,
        "attempts": run.attempts, "lease_until": run.lease_until.isoformat() if run.lease_until else None,
        "template_id": run.template_id, "step": run.step, "trigger": run.trigger,
    }


def run_from_document(account_id: str, doc: dict[str, Any], version: int = 1) -> Run:
    return Run(
        account_id=account_id, id=doc["id"], automation_id=doc["automation_id"],
        subject_kind=SubjectKind(doc["subject_kind"]), subject_id=doc["subject_id"], occurrence=doc["occurrence"],
        status=RunStatus(doc["status"]), created_at=datetime.fromisoformat(doc["created_at"]),
        updated_at=datetime.fromisoformat(doc["updated_at"]),
        due_at=datetime.fromisoformat(doc["due_at"]) if doc["due_at"] else None, data=doc["data"],
        changes=doc["changes"], deliveries=tuple(doc["deliveries"]), history=tuple(doc["history"]),
        error=doc["error"], version=version, attempts=doc.get("attempts", 0),
        lease_until=datetime.fromisoformat(doc["lease_until"]) if doc.get("lease_until") else None,
        template_id=doc.get("template_id"), step=doc.get("step"), trigger=doc.get("trigger"),
    )


# Runs waiting in the DueIndex spread over shards, so no one partition takes every account's runs.
DUE_SHARDS = 8


def due_shard_key(shard: int) -> str:
    return f"RUNS#{shard}"


def _due_key(run: Run) -> dict[str, Any]:
    """The DueIndex keys of an unfinished run, or none for a finished one."""
    look_at = run.lease_until if run.status is RunStatus.RUNNING else run.due_at
    if run.finished or look_at is None:
        return {}
    shard = int(hashlib.sha256(run.id.encode()).hexdigest()[:8], 16) % DUE_SHARDS
    return {"DUE_PK": _s(due_shard_key(shard)), "DUE_SK": _s(f"{sortable(look_at)}#{run.account_id}#{run.id}")}


def _from_item(account_id: str, item: dict[str, Any]) -> Run:
    return run_from_document(account_id, json.loads(item["data"]["S"]), int(item["version"]["N"]) if "version" in item else 1)


def automation_runs_key(account_id: str, automation_id: int) -> str:
    return f"ACCOUNT#{account_id}#RUNS#AUTOMATION#{automation_id}"


def subject_runs_key(account_id: str, kind: SubjectKind, subject_id: str) -> str:
    return f"ACCOUNT#{account_id}#RUNS#{kind.value.upper()}#{subject_id}"


class DynamoRunStore:
    due_shards = DUE_SHARDS

    def __init__(self, client, table: str) -> None:
        self._db = client
        self._table = table

    def item(self, run: Run) -> dict[str, Any]:
        order = _s(f"{sortable(run.created_at)}#{run.id}")
        return {
            "PK": _s(f"ACCOUNT#{run.account_id}"), "SK": _s(f"RUN#{run.id}"),
            "GSI1PK": _s(automation_runs_key(run.account_id, run.automation_id)), "GSI1SK": order,
            "GSI2PK": _s(subject_runs_key(run.account_id, run.subject_kind, run.subject_id)), "GSI2SK": order,
            "status": _s(run.status.value), "version": _n(run.version),
            "data": _s(json.dumps(run_document(run), separators=(",", ":"), default=str)),
            **_due_key(run),
        }

    def new_run_put(self, run: Run) -> dict[str, Any]:
        """A transaction item that creates ``run`` only if no run of that id exists."""
        return {"Put": {"TableName": self._table, "Item": self.item(run),
                        "ConditionExpression": "attribute_not_exists(PK)"}}

    def put_new(self, run: Run) -> bool:
        """Store a new run; False when a run with that id already exists (a duplicate trigger)."""
        try:
            self._db.put_item(**self.new_run_put(run)["Put"])
            return True
        except ClientError as e:
            if _is(e, "ConditionalCheckFailedException"):
                return False
            raise

    def replace(self, old: Run, new: Run, deliveries: tuple[Delivery, ...] = ()) -> Run:
        """Store ``new`` (at ``old.version + 1``) if the run is still at ``old.version``; raises
        StaleWrite otherwise. ``deliveries`` are stored in the same transaction (each unless one
        of its id exists), so an outcome and what announces it are written together or not at
        all. Returns what was stored."""
        stored = replace(new, version=old.version + 1)
        put = {"TableName": self._table, "Item": self.item(stored), "ConditionExpression": "version = :v",
               "ExpressionAttributeValues": {":v": _n(old.version)}}
        try:
            if not deliveries:
                self._db.put_item(**put)
                return stored
            outbox = DynamoDeliveryStore(self._db, self._table)
            self._db.transact_write_items(TransactItems=[{"Put": put},
                                                         *(outbox.new_delivery_put(d) for d in deliveries)])
        except ClientError as e:
            if _is(e, "ConditionalCheckFailedException"):
                raise StaleWrite(old.id) from None
            if not _is(e, "TransactionCanceledException"):
                raise
            run_moved, *existing = _failed_checks(e) or [False]
            if run_moved:
                raise StaleWrite(old.id) from None
            if not any(existing):
                raise  # throttled or in conflict with another transaction: worth a retry
            # The run was where we left it, but a delivery was already stored (by an earlier
            # attempt at this very write): store the rest without it.
            return self.replace(old, new, tuple(d for d, there in zip(deliveries, existing) if not there))
        return stored

    def existing(self, account_id: str, run_ids: list[str]) -> set[str]:
        """Which of ``run_ids`` are stored."""
        keys = [{"PK": _s(f"ACCOUNT#{account_id}"), "SK": _s(f"RUN#{r}")} for r in dict.fromkeys(run_ids)]
        items = batch_get(self._db, self._table, keys, ProjectionExpression="SK", ConsistentRead=True)
        return {item["SK"]["S"].removeprefix("RUN#") for item in items}

    def due(self, shard: int, before: datetime, limit: int, after: str | None = None) -> tuple[list[tuple[str, str]], str | None]:
        """(account id, run id) of unfinished runs in ``shard`` to look at by ``before``, oldest
        first, and the DUE_SK to go on after (None at the end)."""
        query: dict[str, Any] = {
            "TableName": self._table, "IndexName": "DueIndex", "Limit": limit,
            "KeyConditionExpression": "DUE_PK = :shard AND DUE_SK <= :before",
            "ExpressionAttributeValues": {":shard": _s(due_shard_key(shard)), ":before": _s(sortable(before) + "~")}}
        if after is not None:
            account_id, run_id = after.split("#")[1:3]
            query["ExclusiveStartKey"] = {"DUE_PK": _s(due_shard_key(shard)), "DUE_SK": _s(after),
                                          "PK": _s(f"ACCOUNT#{account_id}"), "SK": _s(f"RUN#{run_id}")}
        page = self._db.query(**query)
        found = []
        for item in page["Items"]:
            _, account_id, run_id = item["DUE_SK"]["S"].split("#")
            found.append((account_id, run_id))
        more = page.get("LastEvaluatedKey")
        return found, more["DUE_SK"]["S"] if more else None

    def count_since(self, account_id: str, automation_id: int, since: datetime) -> int:
        """How many runs the automation has had since ``since`` (Zendesk's usage counts)."""
        kwargs: dict[str, Any] = {
            "TableName": self._table, "IndexName": "GSI1", "Select": "COUNT",
            "KeyConditionExpression": "GSI1PK = :pk AND GSI1SK >= :since",
            "ExpressionAttributeValues": {":pk": _s(automation_runs_key(account_id, automation_id)),
                                          ":since": _s(sortable(since))}}
        total = 0
        while True:
            page = self._db.query(**kwargs)
            total += page["Count"]
            if "LastEvaluatedKey" not in page:
                return total
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def get(self, account_id: str, run_id: str) -> Run | None:
        item = self._db.get_item(TableName=self._table,
                                 Key={"PK": _s(f"ACCOUNT#{account_id}"), "SK": _s(f"RUN#{run_id}")},
                                 ConsistentRead=True).get("Item")
        if not item:
            return None
        try:
            return _from_item(account_id, item)
        except (KeyError, TypeError, ValueError) as error:
            raise UnreadableRecord(f"run {run_id} cannot be read: {reason_of(error)}") from None

    def set_aside(self, account_id: str, run_id: str, reason: str) -> None:
        self._db.update_item(TableName=self._table, Key={"PK": _s(f"ACCOUNT#{account_id}"), "SK": _s(f"RUN#{run_id}")},
                             UpdateExpression="SET #status = :failed, #error = :reason REMOVE DUE_PK, DUE_SK",
                             ExpressionAttributeNames={"#status": "status", "#error": "error"},
                             ExpressionAttributeValues={":failed": _s(RunStatus.FAILED.value), ":reason": _s(reason)})

    def list(self, account_id: str, *, automation_id: int | None = None, subject: tuple[SubjectKind, str] | None = None,
             status: RunStatus | None = None, limit: int = 50, cursor: str | None = None) -> tuple[list[Run], str | None]:
        """Newest first when filtered by automation or subject. Paged with an opaque cursor."""
        if subject is not None:
            query: dict[str, Any] = {"IndexName": "GSI2", "KeyConditionExpression": "GSI2PK = :pk",
                                     "ExpressionAttributeValues": {":pk": _s(subject_runs_key(account_id, *subject))}}
        elif automation_id is not None:
            query = {"IndexName": "GSI1", "KeyConditionExpression": "GSI1PK = :pk",
                     "ExpressionAttributeValues": {":pk": _s(automation_runs_key(account_id, automation_id))}}
        else:
            query = {"KeyConditionExpression": "PK = :pk AND begins_with(SK, :run)",
                     "ExpressionAttributeValues": {":pk": _s(f"ACCOUNT#{account_id}"), ":run": _s("RUN#")}}
        filters = []
        if subject is not None and automation_id is not None:
            filters.append("GSI1PK = :automation")
            query["ExpressionAttributeValues"][":automation"] = _s(automation_runs_key(account_id, automation_id))
        if status is not None:
            filters.append("#status = :status")
            query["ExpressionAttributeValues"][":status"] = _s(status.value)
            query["ExpressionAttributeNames"] = {"#status": "status"}
        if filters:
            query["FilterExpression"] = " AND ".join(filters)
        query.update(TableName=self._table, ScanIndexForward="IndexName" not in query)
        runs: list[Run] = []
        start = _start_key(cursor, query) if cursor else None
        while len(runs) < limit:
            page = self._db.query(**query, Limit=limit - len(runs), **({"ExclusiveStartKey": start} if start else {}))
            runs += [_from_item(account_id, i) for i in page["Items"]]
            start = page.get("LastEvaluatedKey")
            if start is None:
                break
        return runs, encode_cursor([start]) if start else None


def _start_key(cursor: str, query: dict[str, Any]) -> dict[str, Any]:
    """The cursor's key, refused unless it is a key of this very query (so a tampered or foreign
    cursor is a 400, never a look into another partition or a backend error)."""
    decoded = decode_cursor(cursor)
    key = decoded[0] if len(decoded) == 1 else None
    partition = {None: "PK", "GSI1": "GSI1PK", "GSI2": "GSI2PK"}[query.get("IndexName")]
    if (not isinstance(key, dict) or not all(isinstance(v, dict) and set(v) == {"S"} and isinstance(v["S"], str)
                                             for v in key.values())
            or key.get(partition) != query["ExpressionAttributeValues"][":pk"]):
        raise MalformedRequest("the pagination cursor is not valid", kind="pagination")
    return key
