"""The data migrations (service/migrations.py runs them), one per key change, and their state.

Each walks an account's partition (PK=ACCOUNT#<a>) a page at a time, from the key it reached:

- RUNS_SHARDED: runs (SK=RUN#<id>) to ACCOUNT#<a>#RUNS#<shard>, their automation index and
  DueIndex keys to their shards;
- DELIVERIES_SHARDED: deliveries (SK=DELIVERY#<id>) to ACCOUNT#<a>#DELIVERIES#<shard>, an unsent
  one from the one OUTBOX to OUTBOX#<shard>;
- MEMBERSHIPS_SHARDED: memberships (SK=MEMBER#<KIND>#<id>#<uuid>) to their group's shards;
- TICKET_INDEX_KEYS: tickets (live and deleted) and their audits written before GSI2 listed them
  get the keys of the incremental export and of the audit list;
- TICKET_INDEX_SHARDED: those keys, where still unsharded (ACCOUNT#<a>#TICKET_UPDATES, #AUDITS),
  to their shards;
- AUTOMATION_TRIGGERS: active automations saved before the trigger index get its keys;
- USER_ROLE_INDEX: users stored before the role index get its GSI1 keys and are counted;
- TICKET_TAG_COUNTS: live tickets stored before the tag counters get their tags counted and the
  mark that says so (deleted tickets are not counted).
- RUNS_AUTOMATION_INDEX: runs listed by GSI1 (GSI1PK, GSI1SK) get the keys-only
  AutomationRunsIndex's keys in their place, a run shard at a time.
- RUNS_SUBJECT_INDEX: runs listed by GSI2 only get the keys-only SubjectRunsIndex's keys beside
  (until it has finished GSI2 lists a subject's runs, and every run written meanwhile has both).

Every change is conditional on the item's old shape (or a move that leaves one item), so a page
done twice, or by two runners, changes nothing twice. The state of each is one item,
PK=MIGRATION#<name>, SK=STATE, saved after each page on the count of steps it was read at."""
from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from automations.adapters import migration_state
from automations.adapters.aws import has_code
from automations.adapters.dynamo import DynamoAutomationStore, automation_from_document
from automations.adapters.dynamo_contacts import DynamoGroupStore
from automations.adapters.dynamo_deliveries import resharded_delivery
from automations.adapters.dynamo_people import DynamoUserStore
from automations.adapters.dynamo_runs import resharded_run, runs_partition
from automations.adapters.shards import RUN_SHARDS
from automations.adapters.dynamo_tickets import DynamoTicketStore, ticket_index_key
from automations.adapters.table import Table, number, text
from automations.domain.contacts import GroupKind

PAGE = 100  # items a step reads


class DynamoMigrationStore(Table):
    def state(self, name: str) -> dict[str, Any] | None:
        item = self._db.get_item(TableName=self._table, Key=migration_state.state_key(name),
                                 ConsistentRead=True).get("Item")
        return json.loads(item["state"]["S"]) if item else None

    def save(self, name: str, state: dict[str, Any], steps_before: int) -> bool:
        condition = "attribute_not_exists(PK)" if steps_before == 0 else "steps = :before"
        try:
            self._db.put_item(
                TableName=self._table, ConditionExpression=condition,
                Item={**migration_state.state_key(name), "state": text(json.dumps(state, separators=(",", ":"))),
                      "steps": number(state["steps"]), "done": {"BOOL": bool(state["done"])}},
                **({"ExpressionAttributeValues": {":before": number(steps_before)}} if steps_before else {}))
        except ClientError as error:
            if has_code(error, "ConditionalCheckFailedException"):
                return False
            raise
        return True


class _AccountItems(Table):
    """A migration over one family of items under PK=ACCOUNT#<a> (SK beginning with ``prefix``)."""

    name = about = prefix = ""

    def step(self, account_id: str, start: Any) -> tuple[int, Any]:
        items, more = self.query({"KeyConditionExpression": "PK = :pk AND begins_with(SK, :prefix)",
                                  "ExpressionAttributeValues": {":pk": text(f"ACCOUNT#{account_id}"),
                                                                ":prefix": text(self.prefix)}},
                                 PAGE, start)
        return sum(self.migrate(item) for item in items), more

    def migrate(self, item: dict[str, Any]) -> bool:
        """Bring one item of the family to the current shape; whether it changed anything."""
        raise NotImplementedError


class _Moved(_AccountItems):
    """A family of items moved to its keys as they are now (``reshaped``): copied unless there,
    then the old one deleted."""

    def reshaped(self, item: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def migrate(self, item: dict[str, Any]) -> bool:
        self.move({"PK": item["PK"], "SK": item["SK"]}, self.reshaped(item))
        return True


class RunsSharded(_Moved):
    name, prefix = migration_state.RUNS_SHARDED, "RUN#"
    about = "runs written before the sharding: to ACCOUNT#<a>#RUNS#<shard>, their index keys to their shards"
    reshaped = staticmethod(resharded_run)


class DeliveriesSharded(_Moved):
    name, prefix = migration_state.DELIVERIES_SHARDED, "DELIVERY#"
    about = "deliveries written before the sharding: to ACCOUNT#<a>#DELIVERIES#<shard>, the OUTBOX to OUTBOX#<shard>"
    reshaped = staticmethod(resharded_delivery)


class MembershipsSharded(_Moved):
    name, prefix = migration_state.MEMBERSHIPS_SHARDED, "MEMBER#"
    about = "list and community memberships written before the sharding: to their group's shards"

    def __init__(self, client, table: str) -> None:
        super().__init__(client, table)
        self._groups = {kind.value.upper(): DynamoGroupStore(client, table, kind) for kind in GroupKind}

    def reshaped(self, item: dict[str, Any]) -> dict[str, Any]:
        return self._groups[item["SK"]["S"].split("#")[1]].resharded(item)


class _TicketIndex(Table):
    """Tickets (live and deleted) and their audits, whose GSI2 keys ``wanted(item)`` says are not
    the current ones, given them: a ticket page at a time, each ticket's audits with it."""

    name = about = ""
    families = ("TICKET#", "DELETED_TICKET#")  # one after the other: a position is (family, last key)

    def wanted(self, item: dict[str, Any]) -> bool:
        raise NotImplementedError

    def step(self, account_id: str, start: Any) -> tuple[int, Any]:
        family, key = (start["family"], start["key"]) if start else (0, None)
        items, more = self.query({"KeyConditionExpression": "PK = :pk AND begins_with(SK, :family)",
                                  "ExpressionAttributeValues": {":pk": text(f"ACCOUNT#{account_id}"),
                                                                ":family": text(self.families[family])}},
                                 PAGE, key)
        changed = 0
        for item in items:
            document = json.loads(item["data"]["S"])
            if self.wanted(item) and document.get("updated_at"):
                changed += self._set(item, DynamoTicketStore.updates_keys(
                    account_id, document["id"], datetime.fromisoformat(document["updated_at"])))
            changed += self._audits(account_id, document["id"])
        if more is None and family + 1 < len(self.families):
            return changed, {"family": family + 1, "key": None}
        return changed, None if more is None else {"family": family, "key": more}

    def _audits(self, account_id: str, ticket_id: int) -> int:
        audits = self.query_all({"KeyConditionExpression": "PK = :pk AND begins_with(SK, :audit)",
                                 "ExpressionAttributeValues": {":pk": DynamoTicketStore.audits_partition(
                                     account_id, ticket_id), ":audit": text("AUDIT#")},
                                 "ProjectionExpression": "PK, SK, GSI2PK"})
        return sum(self._set(audit, {"GSI2PK": text(ticket_index_key(account_id, "AUDITS", ticket_id)),
                                     "GSI2SK": text(audit["SK"]["S"].removeprefix("AUDIT#"))})
                   for audit in audits if self.wanted(audit))

    def _set(self, item: dict[str, Any], keys: dict[str, Any]) -> bool:
        """``keys`` on the item, if it still has the GSI2 keys it was read with."""
        old = item.get("GSI2PK")
        return self.update_if(  # False: written since, with the current keys
            item, "SET GSI2PK = :pk, GSI2SK = :sk",
            "attribute_exists(PK) AND " + ("GSI2PK = :old" if old else "attribute_not_exists(GSI2PK)"),
            {":pk": keys["GSI2PK"], ":sk": keys["GSI2SK"], **({":old": old} if old else {})})


class TicketIndexKeys(_TicketIndex):
    name = migration_state.TICKET_INDEX_KEYS
    about = "tickets and audits written before GSI2 listed them: the incremental export's and audit list's keys"

    def wanted(self, item: dict[str, Any]) -> bool:
        return "GSI2PK" not in item


class TicketIndexSharded(_TicketIndex):
    name = migration_state.TICKET_INDEX_SHARDED
    about = "the export's and audit list's unsharded keys (ACCOUNT#<a>#TICKET_UPDATES, #AUDITS): to their shards"

    def wanted(self, item: dict[str, Any]) -> bool:
        return "GSI2PK" in item and item["GSI2PK"]["S"].endswith(("#TICKET_UPDATES", "#AUDITS"))


class AutomationTriggers(_AccountItems):
    name, prefix = migration_state.AUTOMATION_TRIGGERS, "AUTOMATION#"
    about = "active event and join automations saved before the trigger index: its keys"

    def migrate(self, item: dict[str, Any]) -> bool:
        if "GSI2PK" in item:
            return False
        account_id = item["PK"]["S"].removeprefix("ACCOUNT#")
        keys = DynamoAutomationStore.item(automation_from_document(account_id, json.loads(item["data"]["S"]),
                                                                   int(item["version"]["N"])))
        if "GSI2PK" not in keys:
            return False  # inactive, or started by nothing an event or a join brings
        return self.update_if(  # False: saved since, and saving wrote the keys
            item, "SET GSI2PK = :pk, GSI2SK = :sk", "version = :v",
            {":pk": keys["GSI2PK"], ":sk": keys["GSI2SK"], ":v": item["version"]})


class _BroughtByStore(_AccountItems):
    """A family whose store brings an item of before to the current shape (its method ``brings``)."""

    store: Callable[[Any, str], Any]
    brings = ""

    def __init__(self, client, table: str) -> None:
        super().__init__(client, table)
        self.migrate = getattr(self.store(client, table), self.brings)


class UserRoleIndex(_BroughtByStore):
    name, prefix, store, brings = migration_state.USER_ROLE_INDEX, "USER#", DynamoUserStore, "index_role"
    about = "users stored before the role index: its GSI1 keys, and their role's count"


class TicketTagCounts(_BroughtByStore):
    name, prefix, store, brings = migration_state.TICKET_TAG_COUNTS, "TICKET#", DynamoTicketStore, "count_tags"
    about = "live tickets stored before the tag counters: their tags counted, and marked so"


class _RunsIndexKeys(Table):
    """Runs given the keys of a keys-only index (``reindex``, conditional on what it read): each
    run shard of the account in turn (a position is the shard and the last key read)."""

    name = about = read = ""

    def step(self, account_id: str, start: Any) -> tuple[int, Any]:
        """Up to PAGE runs, from the shard and key reached, going on to the next shards as each
        ends (an account with few runs takes one step, not one a shard)."""
        shard, key = (start["shard"], start["key"]) if start else (0, None)
        changed = read = 0
        while True:
            items, key = self.query({"KeyConditionExpression": "PK = :pk AND begins_with(SK, :run)",
                                     "ProjectionExpression": self.read,
                                     "ExpressionAttributeValues": {":pk": text(runs_partition(account_id, shard)),
                                                                   ":run": text("RUN#")}},
                                    PAGE - read, key)
            read += len(items)
            changed += sum(self.reindex(item) for item in items)
            if key is None:
                shard += 1
                if shard == RUN_SHARDS:
                    return changed, None
            if read >= PAGE:
                return changed, {"shard": shard, "key": key}

    def reindex(self, item: dict[str, Any]) -> bool:
        """The index's keys on the run, unless it was written since (with them); whether it changed."""
        raise NotImplementedError


class RunsAutomationIndex(_RunsIndexKeys):
    """Runs listed by GSI1, whose projection copies every attribute (a write unit at each claim and
    finish), given the keys-only AutomationRunsIndex's keys instead."""

    name, read = migration_state.RUNS_AUTOMATION_INDEX, "PK, SK, GSI1PK, GSI1SK"
    about = "runs listed by GSI1: the keys-only AutomationRunsIndex's keys in their place"

    def reindex(self, item: dict[str, Any]) -> bool:
        return "GSI1PK" in item and self.update_if(
            item, "SET ARUNS_PK = :pk, ARUNS_SK = :sk REMOVE GSI1PK, GSI1SK", "GSI1PK = :pk AND GSI1SK = :sk",
            {":pk": item["GSI1PK"], ":sk": item["GSI1SK"]})


class RunsSubjectIndex(_RunsIndexKeys):
    """Runs listed by GSI2 only given the keys-only SubjectRunsIndex's keys beside (GSI2's stay: a
    process that has not yet read that this has finished still lists a subject's runs there)."""

    name, read = migration_state.RUNS_SUBJECT_INDEX, "PK, SK, GSI2PK, GSI2SK, SRUNS_PK"
    about = "runs listed by GSI2 only: the keys-only SubjectRunsIndex's keys beside"

    def reindex(self, item: dict[str, Any]) -> bool:
        return "GSI2PK" in item and "SRUNS_PK" not in item and self.update_if(
            item, "SET SRUNS_PK = :pk, SRUNS_SK = :sk",
            "GSI2PK = :pk AND GSI2SK = :sk AND attribute_not_exists(SRUNS_PK)",
            {":pk": item["GSI2PK"], ":sk": item["GSI2SK"]})


MIGRATIONS: tuple[Callable[[Any, str], Any], ...] = (
    RunsSharded, DeliveriesSharded, MembershipsSharded, TicketIndexKeys, TicketIndexSharded, AutomationTriggers,
    UserRoleIndex, TicketTagCounts, RunsAutomationIndex, RunsSubjectIndex)


def migrations(client, table: str) -> list[Any]:
    """Every migration, on ``table``."""
    return [migration(client, table) for migration in MIGRATIONS]

