"""DynamoDB storage of runs. A run item is PK=ACCOUNT#<a>#RUNS#<shard>, SK=RUN#<id>; the keys-only
AutomationRunsIndex lists an automation's runs (ARUNS_PK sharded the same way) and the keys-only
SubjectRunsIndex a contact's or ticket's (SRUNS_PK), both newest first; the shard comes from the
run id (adapters/shards.py), so no key takes every run of an account or of an automation. A
listing reads the runs by key after its index: a run's claim and finish change none of its keys,
so they write nothing there (GSI1 and GSI2, which listed them before with every attribute copied,
took a write unit each at both).

An unfinished run also sits in the sparse DueIndex (DUE_PK=RUNS#<shard>, DUE_SK=<when someone
should next look at it>; runs stored by releases before this one add #<account>#<run>), so the
hourly re-drive finds runs whose schedule or executor was lost without a Scan: a scheduled run at
its due time; a running one waiting for its next attempt (a retry, a throttle) when its lease
ends; a running one in an attempt stays at its due time (an executor leaves it alone while its
lease lasts), since moving it at every claim would cost the index a delete and a put. A run
planned for later than it was made also sits in the sparse WaitingIndex
(WAIT_PK=ACCOUNT#<a>#WAITING#<automation>#<shard>, WAIT_SK=<run id>, keys only) while it waits, so a
change of its automation's window re-plans exactly the runs waiting on it. Every change after
creation is a conditional write on the run's version.

Runs written before the sharding (PK=ACCOUNT#<a>, SK=RUN#<id>, an unsharded GSI1PK, DUE_PK of 8
shards) are moved by the migration RUNS_SHARDED (adapters/dynamo_migrations.py). Until it has
finished, a run looked up by id and missing is read there too, an old run counts as existing (no
trigger makes it again), and the first change of an old run writes it under its new key (where every
read looks first); the migration then deletes the old item. Runs listed by GSI1 (GSI1PK, GSI1SK)
get the AutomationRunsIndex keys in their place from the migration RUNS_AUTOMATION_INDEX (or from
their next change), and are listed by their automation from then on; a subject's listing filtered
by automation reads either key until it has finished. Runs listed by GSI2 get SubjectRunsIndex's
keys beside from RUNS_SUBJECT_INDEX: until it has finished every run is written with both and
GSI2 lists a subject's runs, so no listing misses one meanwhile."""
from __future__ import annotations

import functools
import json
from dataclasses import replace
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from automations.adapters import migration_state
from automations.adapters.aws import has_code
from automations.adapters.records import read_all, read_one
from automations.adapters.shards import DUE_SHARDS, RUN_SHARDS, USAGE_SHARDS, merged_page, shard_of
from automations.adapters.table import Table, number, text
from automations.clock import ensure_utc, sortable
from automations.domain.model import SubjectKind
from automations.domain.run import Run, RunStatus
from automations.errors import MalformedRequest
from automations.paging import decode_cursor, encode_cursor
from automations.store_refusals import StaleWrite


# A reader takes these for what a stored run leaves out, and its id from its key. A writer leaves
# out only what the previous release read with a default too, so a function of either release
# reads a run the other wrote (a canary deploy runs both at once): every field here since the
# release that left out the first of them (attempts to moves, not_before while it is the due time).
_DEFAULTS: dict[str, Any] = {"data": None, "changes": {}, "deliveries": [], "history": [], "error": None,
                             "attempts": 0, "lease_until": None, "template_id": None, "step": None,
                             "trigger": None, "not_before": None, "moves": 0}


def run_document(run: Run) -> dict[str, Any]:
    """The run as stored: without its id (its key holds it), nor what equals its default, nor
    ``not_before`` while it is the due time (a reader takes the due time for it)."""
    doc = {
        "automation_id": run.automation_id, "subject_kind": run.subject_kind.value,
        "subject_id": run.subject_id, "occurrence": run.occurrence, "status": run.status.value,
        "created_at": _instant(run.created_at), "updated_at": _instant(run.updated_at),
        "due_at": _instant(run.due_at), "data": run.data, "changes": run.changes,
        "deliveries": list(run.deliveries), "history": list(run.history), "error": run.error,
        "attempts": run.attempts, "lease_until": _instant(run.lease_until),
        "template_id": run.template_id, "step": run.step, "trigger": run.trigger,
        "not_before": _instant(run.not_before) if run.not_before != run.due_at else None,
        "moves": run.moves,
    }
    return {name: value for name, value in doc.items() if name not in _DEFAULTS or value != _DEFAULTS[name]}


def _instant(when: datetime | None) -> str | None:
    """In UTC with ``Z``, to the microsecond if it has any (what every release reads with
    ``datetime.fromisoformat``): five bytes less than ``+00:00`` for each time a run holds."""
    return ensure_utc(when).isoformat().replace("+00:00", "Z") if when else None


def run_from_document(account_id: str, run_id: str, doc: dict[str, Any], version: int = 1) -> Run:
    doc = {**_DEFAULTS, **doc}
    due_at = datetime.fromisoformat(doc["due_at"]) if doc["due_at"] else None
    return Run(
        account_id=account_id, id=run_id, automation_id=doc["automation_id"],
        subject_kind=SubjectKind(doc["subject_kind"]), subject_id=doc["subject_id"], occurrence=doc["occurrence"],
        status=RunStatus(doc["status"]), created_at=datetime.fromisoformat(doc["created_at"]),
        updated_at=datetime.fromisoformat(doc["updated_at"]),
        due_at=due_at, data=doc["data"],
        changes=doc["changes"], deliveries=tuple(doc["deliveries"]), history=tuple(doc["history"]),
        error=doc["error"], version=version, attempts=doc["attempts"],
        lease_until=datetime.fromisoformat(doc["lease_until"]) if doc["lease_until"] else None,
        template_id=doc["template_id"], step=doc["step"], trigger=doc["trigger"],
        # Left out while it is the due time, or a run stored before runs kept it: never earlier
        # than it was planned.
        not_before=datetime.fromisoformat(doc["not_before"]) if doc["not_before"] else due_at,
        moves=doc["moves"],
    )


def due_shard_key(shard: int) -> str:
    return f"RUNS#{shard}"


def _due_key(run: Run) -> dict[str, Any]:
    """The DueIndex keys of an unfinished run, or none for a finished one."""
    waits_for_its_lease = run.status is RunStatus.RUNNING and not (run.in_attempt and run.due_at)
    look_at = run.lease_until if waits_for_its_lease else run.due_at
    if run.finished or look_at is None:
        return {}
    # The time alone: the index's copy of the table keys names the run (a sort key naming it too,
    # as releases before this one wrote, cost every unfinished run about 50 bytes).
    return {"DUE_PK": text(due_shard_key(shard_of(run.id, DUE_SHARDS))), "DUE_SK": text(sortable(look_at))}


def _due_position(last: dict[str, Any]) -> str:
    """Where a DueIndex page ended, as queue messages carry it: its DUE_SK where that names the
    account and the run (as releases before this one wrote it), else DUE_SK|PK|SK."""
    due_sk = last["DUE_SK"]["S"]
    return due_sk if due_sk.count("#") == 2 else "|".join((due_sk, last["PK"]["S"], last["SK"]["S"]))


def _due_position_key(position: str) -> dict[str, Any]:
    """The DueIndex key (less its shard) a page goes on after: either form of _due_position."""
    if "|" in position:
        due_sk, pk, sk = position.split("|")
        return {"DUE_SK": text(due_sk), "PK": text(pk), "SK": text(sk)}
    _, account_id, run_id = position.split("#")
    return {"DUE_SK": text(position), **runs_key(account_id, run_id)}


def waiting_key(account_id: str, automation_id: int, shard: int) -> str:
    return f"ACCOUNT#{account_id}#WAITING#{automation_id}#{shard}"


def _waiting_key(run: Run) -> dict[str, Any]:
    """The WaitingIndex keys of a run that waits to be sent: a contact run (not a series step,
    whose time is its own) planned for later than it was made."""
    if (run.status is not RunStatus.SCHEDULED or run.subject_kind is not SubjectKind.CONTACT
            or run.step is not None or run.due_at is None or run.due_at <= run.created_at):
        return {}
    return {"WAIT_PK": text(waiting_key(run.account_id, run.automation_id, shard_of(run.id, DUE_SHARDS))),
            "WAIT_SK": text(run.id)}


def _from_item(account_id: str, item: dict[str, Any]) -> Run:
    return run_from_document(account_id, item["SK"]["S"].removeprefix("RUN#"), json.loads(item["data"]["S"]),
                             int(item["version"]["N"]) if "version" in item else 1)


def _bucket_key(minute: datetime, shard: int) -> dict[str, Any]:
    """The counter item of a time bucket (service/time_buckets.py)."""
    return {"PK": text(f"DUE_BUCKET#{sortable(minute)}#{shard}"), "SK": text("COUNT")}


def legacy_run_key(account_id: str, run_id: str) -> dict[str, Any]:
    """Where a run was stored before the sharding."""
    return {"PK": text(f"ACCOUNT#{account_id}"), "SK": text(f"RUN#{run_id}")}


def resharded_run(item: dict[str, Any]) -> dict[str, Any]:
    """A run item of before the sharding with its keys as they are now (its data untouched, so
    even a run that cannot be read moves): the run's own shard, the automation's index (its keys
    only, sharded), the DueIndex's 32 shards."""
    account_id, run_id = item["PK"]["S"].removeprefix("ACCOUNT#"), item["SK"]["S"].removeprefix("RUN#")
    moved = {name: value for name, value in item.items() if name not in ("GSI1PK", "GSI1SK")}
    moved.update(runs_key(account_id, run_id))
    if "GSI1PK" in item:
        moved["ARUNS_PK"] = text(f"{item['GSI1PK']['S']}#{shard_of(run_id, RUN_SHARDS)}")
        moved["ARUNS_SK"] = item["GSI1SK"]
    if "DUE_PK" in item:
        moved["DUE_PK"] = text(due_shard_key(shard_of(run_id, DUE_SHARDS)))
    return moved


def runs_key(account_id: str, run_id: str) -> dict[str, Any]:
    return {"PK": text(runs_partition(account_id, shard_of(run_id, RUN_SHARDS))), "SK": text(f"RUN#{run_id}")}


def runs_partition(account_id: str, shard: int) -> str:
    return f"ACCOUNT#{account_id}#RUNS#{shard}"


_HOUR = len("2026-01-01T00")  # a sortable instant cut to its hour
_USAGE_KEPT = 8 * 86_400  # hourly usage counters outlive the longest window (7 days)


def _usage_key(account_id: str, automation_id: int, shard: int) -> str:
    return f"ACCOUNT#{account_id}#USAGE#{automation_id}#{shard}"


def automation_runs_prefix(account_id: str, automation_id: int) -> str:
    return f"ACCOUNT#{account_id}#RUNS#AUTOMATION#{automation_id}#"


def automation_runs_key(account_id: str, automation_id: int, shard: int) -> str:
    return f"{automation_runs_prefix(account_id, automation_id)}{shard}"


def subject_runs_key(account_id: str, kind: SubjectKind, subject_id: str) -> str:
    return f"ACCOUNT#{account_id}#RUNS#{kind.value.upper()}#{subject_id}"


class DynamoRunStore(Table):
    due_shards = DUE_SHARDS

    def item(self, run: Run) -> dict[str, Any]:
        order = text(f"{sortable(run.created_at)}#{run.id}")
        subject = text(subject_runs_key(run.account_id, run.subject_kind, run.subject_id))
        # GSI2 lists a subject's runs until every run has SubjectRunsIndex's keys (a run's next
        # write after that leaves GSI2).
        listed_by_gsi2 = {} if self._subject_indexed() else {"GSI2PK": subject, "GSI2SK": order}
        return {
            **runs_key(run.account_id, run.id),
            "ARUNS_PK": text(automation_runs_key(run.account_id, run.automation_id, shard_of(run.id, RUN_SHARDS))),
            "ARUNS_SK": order, "SRUNS_PK": subject, "SRUNS_SK": order, **listed_by_gsi2,
            "status": text(run.status.value), "version": number(run.version),
            "data": text(json.dumps(run_document(run), separators=(",", ":"), default=str)),
            **_due_key(run), **_waiting_key(run),
        }

    def _subject_indexed(self, *, afresh: bool = False) -> bool:
        """Whether every run has SubjectRunsIndex's keys, so it lists a subject's runs (not GSI2).
        A listing asks ``afresh``: a process that knows it finished writes runs without GSI2's
        keys, so one that read it unfinished up to a minute ago would miss them there."""
        return migration_state.finished(self._db, self._table, migration_state.RUNS_SUBJECT_INDEX, afresh=afresh)

    def new_run_put(self, run: Run) -> dict[str, Any]:
        """A transaction item that creates ``run`` only if no run of that id exists."""
        return {"Put": {"TableName": self._table, "Item": self.item(run),
                        "ConditionExpression": "attribute_not_exists(PK)"}}

    def put_new(self, run: Run) -> bool:
        """Store a new run; False when a run with that id already exists (a duplicate trigger)."""
        if self._legacy(run.account_id, run.id) is not None:
            return False
        try:
            self._db.put_item(**self.new_run_put(run)["Put"])
        except ClientError as e:
            if has_code(e, "ConditionalCheckFailedException"):
                return False
            raise
        return True

    def replace(self, old: Run, new: Run, *, first_since_sharding: bool = False) -> Run:
        """Store ``new`` (at ``old.version + 1``) if the run is still at ``old.version``; raises
        StaleWrite otherwise. Returns what was stored. (A run still under its key of before the
        sharding, at ``old.version``, is written under its new key: ``first_since_sharding``.)"""
        stored = replace(new, version=old.version + 1)
        put = {"TableName": self._table, "Item": self.item(stored), "ConditionExpression": "version = :v",
               "ExpressionAttributeValues": {":v": number(old.version)}}
        if first_since_sharding:
            put = {"TableName": self._table, "Item": self.item(stored), "ConditionExpression": "attribute_not_exists(PK)"}
        try:
            self._db.put_item(**put)
        except ClientError as e:
            if not has_code(e, "ConditionalCheckFailedException"):
                raise
            if not first_since_sharding and self._legacy_only(old):
                return self.replace(old, new, first_since_sharding=True)
            raise StaleWrite(old.id) from None
        return stored

    def _legacy_only(self, run: Run) -> bool:
        """Whether ``run``, at its version, is stored under its key of before the sharding only
        (not moved by the migration, and not changed since)."""
        old = self._legacy(run.account_id, run.id)
        if old is None or int(old.get("version", {"N": "1"})["N"]) != run.version:
            return False
        return "Item" not in self._db.get_item(TableName=self._table, Key=runs_key(run.account_id, run.id),
                                               ConsistentRead=True, ProjectionExpression="PK")

    def existing(self, account_id: str, run_ids: list[str]) -> set[str]:
        """Which of ``run_ids`` are stored (under their old keys too, until those are all moved)."""
        keys = [runs_key(account_id, r) for r in dict.fromkeys(run_ids)]
        if not migration_state.finished(self._db, self._table, migration_state.RUNS_SHARDED):
            keys += [legacy_run_key(account_id, r) for r in dict.fromkeys(run_ids)]
        items = self.batch_get(keys, ProjectionExpression="SK", ConsistentRead=True)
        return {item["SK"]["S"].removeprefix("RUN#") for item in items}

    def get_many(self, account_id: str, run_ids: list[str]) -> list[Run]:
        """Those of ``run_ids`` that are stored (consistent reads); an unreadable one is left out, logged."""
        items = self.batch_get([runs_key(account_id, r) for r in dict.fromkeys(run_ids)], ConsistentRead=True)
        found = {item["SK"]["S"].removeprefix("RUN#") for item in items}
        items += [old for r in dict.fromkeys(run_ids) if r not in found and (old := self._legacy(account_id, r))]
        return read_all(items, functools.partial(_from_item, account_id), "run")

    def waiting(self, account_id: str, automation_id: int, shard: int, limit: int, after: str | None = None
                ) -> tuple[list[str], str | None]:
        """Ids of the automation's runs in ``shard`` that wait to be sent (the WaitingIndex), after
        the run id ``after``, and the last one's id when there may be more (None at the end)."""
        partition = waiting_key(account_id, automation_id, shard)
        query: dict[str, Any] = {
            "TableName": self._table, "IndexName": "WaitingIndex", "Limit": limit,
            "KeyConditionExpression": "WAIT_PK = :pk", "ExpressionAttributeValues": {":pk": text(partition)}}
        if after is not None:
            query["ExclusiveStartKey"] = {"WAIT_PK": text(partition), "WAIT_SK": text(after),
                                          **runs_key(account_id, after)}
        page = self._db.query(**query)
        more = page.get("LastEvaluatedKey")
        return [item["WAIT_SK"]["S"] for item in page["Items"]], more["WAIT_SK"]["S"] if more else None

    def _legacy(self, account_id: str, run_id: str) -> dict[str, Any] | None:
        """Until every run written before the sharding is moved: the run's item under its old
        key, in its new shape (None when there is none)."""
        if migration_state.finished(self._db, self._table, migration_state.RUNS_SHARDED):
            return None
        old = self._db.get_item(TableName=self._table, Key=legacy_run_key(account_id, run_id),
                                ConsistentRead=True).get("Item")
        return resharded_run(old) if old is not None else None

    def due(self, shard: int, before: datetime, limit: int, after: str | None = None
            ) -> tuple[list[tuple[str, str]], str | None]:
        """(account id, run id) of unfinished runs in ``shard`` to look at by ``before``, oldest
        first, and the DUE_SK to go on after (None at the end)."""
        return self._due_page(shard, "DUE_SK <= :when", sortable(before) + "~", limit, after)

    def due_in_minute(self, shard: int, minute: datetime, limit: int, after: str | None
                      ) -> tuple[list[tuple[str, str]], str | None]:
        """The same, of the runs due within ``minute`` (a time bucket)."""
        return self._due_page(shard, "begins_with(DUE_SK, :when)", sortable(minute)[:len("2026-01-01T00:00")],
                              limit, after)

    def _due_page(self, shard: int, condition: str, when: str, limit: int, after: str | None
                  ) -> tuple[list[tuple[str, str]], str | None]:
        query: dict[str, Any] = {
            "TableName": self._table, "IndexName": "DueIndex", "Limit": limit,
            "KeyConditionExpression": f"DUE_PK = :shard AND {condition}",
            "ExpressionAttributeValues": {":shard": text(due_shard_key(shard)), ":when": text(when)}}
        if after is not None:
            query["ExclusiveStartKey"] = {"DUE_PK": text(due_shard_key(shard)), **_due_position_key(after)}
        page = self._db.query(**query)
        # The run's account and id from the table's keys, which the keys-only index holds too,
        # whichever form of sort key the run was stored with.
        found = [(item["PK"]["S"].split("#")[1], item["SK"]["S"].removeprefix("RUN#")) for item in page["Items"]]
        more = page.get("LastEvaluatedKey")
        return found, _due_position(more) if more else None

    @staticmethod
    def due_shard(run: Run) -> int:
        return shard_of(run.id, DUE_SHARDS)

    def count_due(self, minute: datetime, shard: int, runs: int) -> tuple[int, bool]:
        """``runs`` more due in (minute, shard): the time buckets' counter, one item per bucket
        (kept a day). Returns the count with them, and whether the bucket's schedule was made."""
        got = self._db.update_item(
            TableName=self._table, Key=_bucket_key(minute, shard),
            UpdateExpression="ADD runs :n SET expires_at = :expires",
            ExpressionAttributeValues={":n": number(runs), ":expires": number(int(minute.timestamp()) + 86_400)},
            ReturnValues="ALL_NEW")["Attributes"]
        return int(got["runs"]["N"]), "scheduled" in got

    def bucket_scheduled(self, minute: datetime, shard: int) -> None:
        self._db.update_item(TableName=self._table, Key=_bucket_key(minute, shard),
                             UpdateExpression="SET scheduled = :yes", ExpressionAttributeValues={":yes": {"BOOL": True}})

    def count_usage(self, runs: list[Run]) -> None:
        """Count new runs in their automation's hourly usage counters, for Zendesk's usage sorts
        (only sweep automations are sorted so: the sweep counts its firings); a count lost to a
        crash right after the firing's commit only makes the sort a little off."""
        for run in runs:
            hour = sortable(run.created_at)[:_HOUR]
            key = _usage_key(run.account_id, run.automation_id, shard_of(run.id, USAGE_SHARDS))
            self._db.update_item(
                TableName=self._table, Key={"PK": text(key), "SK": text(hour)},
                UpdateExpression="ADD runs :one SET expires_at = :expires",
                ExpressionAttributeValues={":one": number(1),
                                           ":expires": number(int(run.created_at.timestamp()) + _USAGE_KEPT)})

    def count_since(self, account_id: str, automation_id: int, since: datetime) -> int:
        """How many runs the automation has had since the hour of ``since``: a Query of each
        shard's hourly counters (at most 169 small items each for a week)."""
        return sum(int(item["runs"]["N"]) for shard in range(USAGE_SHARDS) for item in self.query_all({
            "KeyConditionExpression": "PK = :pk AND SK >= :since",
            "ExpressionAttributeValues": {":pk": text(_usage_key(account_id, automation_id, shard)),
                                          ":since": text(sortable(since)[:_HOUR])}}))

    def get(self, account_id: str, run_id: str) -> Run | None:
        item = self._db.get_item(TableName=self._table, Key=runs_key(account_id, run_id),
                                 ConsistentRead=True).get("Item")
        if not item:
            item = self._legacy(account_id, run_id)
        if not item:
            return None
        return read_one(item, functools.partial(_from_item, account_id), "run")

    def set_aside(self, account_id: str, run_id: str, reason: str) -> None:
        self._db.update_item(TableName=self._table, Key=runs_key(account_id, run_id),
                             UpdateExpression="SET #status = :failed, #error = :reason "
                                              "REMOVE DUE_PK, DUE_SK, WAIT_PK, WAIT_SK",
                             ExpressionAttributeNames={"#status": "status", "#error": "error"},
                             ExpressionAttributeValues={":failed": text(RunStatus.FAILED.value), ":reason": text(reason)})

    def list(self, account_id: str, *, automation_id: int | None = None, subject: tuple[SubjectKind, str] | None = None,
             status: RunStatus | None = None, limit: int = 50, cursor: str | None = None) -> tuple[list[Run], str | None]:
        """Newest first when filtered by automation or subject, else in id order. Paged with an
        opaque cursor; the automation's and the account's runs are read from every shard, merged."""
        if subject is None and automation_id is not None:
            return self._automation_page(account_id, automation_id, status, limit, cursor)
        if subject is not None and self._subject_indexed(afresh=True):
            return self._indexed_subject_page(account_id, subject, automation_id, status, limit, cursor)
        values: dict[str, Any] = {}
        filters = []
        if subject is not None and automation_id is not None:
            indexed = "begins_with(ARUNS_PK, :automation)"
            if not migration_state.finished(self._db, self._table, migration_state.RUNS_AUTOMATION_INDEX):
                indexed = f"({indexed} OR begins_with(GSI1PK, :automation))"  # GSI1's keys, until moved
            filters.append(indexed)
            values[":automation"] = text(automation_runs_prefix(account_id, automation_id))
        if status is not None:
            filters.append("#status = :status")
            values[":status"] = text(status.value)
        options: dict[str, Any] = {"FilterExpression": " AND ".join(filters)} if filters else {}
        if status is not None:
            options["ExpressionAttributeNames"] = {"#status": "status"}
        if subject is not None:
            query: dict[str, Any] = {"IndexName": "GSI2", "KeyConditionExpression": "GSI2PK = :pk",
                                     "ExpressionAttributeValues": {":pk": text(subject_runs_key(account_id, *subject)),
                                                                   **values}, **options}
            return self._subject_page(account_id, query, limit, cursor)

        def shard_query(shard: int) -> dict[str, Any]:
            return {"KeyConditionExpression": "PK = :pk AND begins_with(SK, :run)",
                    "ExpressionAttributeValues": {":pk": text(runs_partition(account_id, shard)),
                                                  ":run": text("RUN#"), **values}, **options}
        items, cursor = merged_page(self._db, self._table, RUN_SHARDS, shard_query, ("PK", "SK"),
                                    lambda item: item["SK"]["S"], limit=limit, cursor=cursor)
        return read_all(items, functools.partial(_from_item, account_id), "run"), cursor

    def _automation_page(self, account_id: str, automation_id: int, status: RunStatus | None, limit: int,
                         cursor: str | None) -> tuple[list[Run], str | None]:
        """The automation's runs, newest first: keys from its AutomationRunsIndex shards, merged,
        then the runs by key (filtered by ``status`` here: the index holds keys only), keys page
        after keys page until ``limit`` runs are found or none are left."""
        def shard_query(shard: int) -> dict[str, Any]:
            return {"IndexName": "AutomationRunsIndex", "KeyConditionExpression": "ARUNS_PK = :pk",
                    "ScanIndexForward": False,
                    "ExpressionAttributeValues": {":pk": text(automation_runs_key(account_id, automation_id, shard))}}
        runs: list[Run] = []
        while True:
            keys, cursor = merged_page(self._db, self._table, RUN_SHARDS, shard_query,
                                       ("ARUNS_PK", "ARUNS_SK", "PK", "SK"), lambda key: key["ARUNS_SK"]["S"],
                                       limit=limit - len(runs), cursor=cursor, descending=True)
            runs += self._runs_of(account_id, keys, status)
            if cursor is None or len(runs) >= limit:
                return runs, cursor

    def _indexed_subject_page(self, account_id: str, subject: tuple[SubjectKind, str], automation_id: int | None,
                              status: RunStatus | None, limit: int, cursor: str | None) -> tuple[list[Run], str | None]:
        """The subject's runs, newest first: keys from SubjectRunsIndex, then the runs by key,
        filtered here (the index holds keys only) until ``limit`` are found or none are left."""
        partition = text(subject_runs_key(account_id, *subject))
        query = {"IndexName": "SubjectRunsIndex", "KeyConditionExpression": "SRUNS_PK = :pk", "ScanIndexForward": False,
                 "ExpressionAttributeValues": {":pk": partition}}
        start = _start_key(cursor, ("SRUNS_PK", "SRUNS_SK", "PK", "SK"), partition) if cursor else None
        runs: list[Run] = []
        while True:
            keys, start = self.query(query, limit - len(runs), start)
            runs += [run for run in self._runs_of(account_id, keys, status)
                     if automation_id is None or run.automation_id == automation_id]
            if start is None or len(runs) >= limit:
                return runs, encode_cursor([start]) if start else None

    def _runs_of(self, account_id: str, keys: list[dict[str, Any]], status: RunStatus | None) -> list[Run]:
        """The runs of an index's ``keys``, in their order, of ``status`` if one is given (one
        deleted meanwhile, or unreadable and logged, left out)."""
        found = {item["SK"]["S"]: item for item in self.batch_get([{"PK": k["PK"], "SK": k["SK"]} for k in keys])}
        items = [found[k["SK"]["S"]] for k in keys if k["SK"]["S"] in found]
        if status is not None:
            items = [item for item in items if item["status"]["S"] == status.value]
        return read_all(items, functools.partial(_from_item, account_id), "run")

    def _subject_page(self, account_id: str, query: dict[str, Any], limit: int,
                      cursor: str | None) -> tuple[list[Run], str | None]:
        partition = query["ExpressionAttributeValues"][":pk"]
        start = _start_key(cursor, ("GSI2PK", "GSI2SK", "PK", "SK"), partition) if cursor else None
        items, start = self.query({**query, "ScanIndexForward": False}, limit, start)
        return read_all(items, functools.partial(_from_item, account_id), "run"), encode_cursor([start]) if start else None


def _start_key(cursor: str, key_names: tuple[str, ...], partition: dict[str, Any]) -> dict[str, Any]:
    """The cursor's key, refused unless it is a key (``key_names``, the partition first) of this
    very query's ``partition`` (so a tampered or foreign cursor is a 400, never a look into
    another partition or a backend error)."""
    decoded = decode_cursor(cursor)
    key = decoded[0] if len(decoded) == 1 else None
    if (not isinstance(key, dict) or set(key) != set(key_names)
            or not all(isinstance(v, dict) and set(v) == {"S"} and isinstance(v["S"], str) for v in key.values())
            or key[key_names[0]] != partition):
        raise MalformedRequest("the pagination cursor is not valid", kind="pagination")
    return key
