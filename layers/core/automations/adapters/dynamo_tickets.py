"""DynamoDB storage of tickets and their audits (single table; key layout in template.yaml; the
users tickets name are in dynamo_people.py).

A ticket is one item, PK=ACCOUNT#<account>, SK=TICKET#<12-digit id>, holding the ticket as a JSON
document ("data") and its "version". While it is not closed it also carries the sparse
SweepIndex keys (SWEEP_PK, SWEEP_SK), so the hourly sweep reads only the tickets it may act on
and never Scans; closing a ticket rewrites its item without them. Audits live under their
ticket (PK=ACCOUNT#<account>#TICKET#<id>, SK=AUDIT#<time>#<audit id>) and are written in the same
transaction as the change they record. GSI2 lists an account's tickets by when they last changed
(the incremental export) and its audits by time, each over TICKET_INDEX_SHARDS partitions by
ticket id (ACCOUNT#<a>#TICKET_UPDATES#<shard>, ACCOUNT#<a>#AUDITS#<shard>), merged on read.

The account's tags are counted (Zendesk's ``GET /api/v2/tags``) by counters sharded as the sweep
shards tickets: PK=ACCOUNT#<account>#TAGS#<shard of the ticket>, SK=TAG#<tag>, ``ticket_count``.
Every write that adds a tag to a ticket or takes one away (create, update, sweep firing, delete,
restore) moves the counters of those tags in the ticket's own transaction, so they follow ticket
versions exactly (a write that loses its race moves nothing); each counter is written only by its
shard's tickets, so a popular tag's writes spread over SWEEP_SHARDS partitions. A live ticket's
item carries TAGS_COUNTED once its tags are counted: tickets written before the counters are not
(the migration TICKET_TAG_COUNTS counts and marks them); until it has finished, a write of a ticket
reads whether it is marked, and an unmarked one counts its new tags from nothing and is marked
(conditional on the mark's absence, so the migration and the write never both count it)."""
from __future__ import annotations

import functools
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import fields
from datetime import datetime
from typing import Any

from automations.adapters import migration_state
from automations.adapters.records import READ_ERRORS, read_all
from automations.adapters.shards import TICKET_INDEX_SHARDS, merged_items, shard_of
from automations.adapters.account_table import AccountTable
from automations.adapters.table import document, number, text
from automations.clock import now, sortable
from automations.domain.audit import Audit, Via, event_from_dict
from automations.domain.ticket import INSTANTS, SWEEP_SHARDS, DeletedTicket, Ticket, sweep_shard
from automations.errors import reason_of
from automations.store_refusals import StaleWrite, UnreadableTicket

_TICKET_IDS = "COUNTER#TICKETS"
# The ticket count changes inside insert/delete transactions; it is kept apart from the id
# counter so that allocating an id never collides with another request's transaction.
_TICKET_COUNT = "COUNT#TICKETS"
_DELETED_COUNT = "COUNT#DELETED_TICKETS"
_DATA = {"ProjectionExpression": "#d, version", "ExpressionAttributeNames": {"#d": "data"}}
TAGS_COUNTED = "tags_counted"  # on a live ticket's item: its tags are in the counters


def ticket_to_document(t: Ticket) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    for f in fields(Ticket):
        value = getattr(t, f.name)
        if f.name == "status_entered_at":
            value = [None if when is None else when.isoformat() for when in value]
        elif isinstance(value, datetime):
            value = value.isoformat()
        doc[f.name] = value
    del doc["account_id"], doc["version"]  # in the key and in their own attribute
    return doc


def ticket_from_document(account_id: str, doc: dict[str, Any], version: int) -> Ticket:
    values = dict(doc)
    for name in INSTANTS:
        if values.get(name) is not None:
            values[name] = datetime.fromisoformat(values[name])
    values["status_entered_at"] = tuple(None if when is None else datetime.fromisoformat(when)
                                        for when in values["status_entered_at"])
    return Ticket(account_id=account_id, version=version, **values)


def sweep_query(account_id: str, shard: int) -> dict[str, Any]:
    """The Query a sweep pages through for one shard of an account's open tickets (each item's
    document and version, and its keys for naming one that cannot be read and going on after it)."""
    return {"IndexName": "SweepIndex", "KeyConditionExpression": "SWEEP_PK = :pk",
            "ExpressionAttributeValues": {":pk": text(f"ACCOUNT#{account_id}#SHARD#{shard}")}, **_DATA,
            "ProjectionExpression": "#d, version, " + ", ".join(_SWEEP_POSITION)}


_SWEEP_POSITION = ("SWEEP_PK", "SWEEP_SK", "PK", "SK")  # where a SweepIndex page goes on after an item


def audit_to_document(a: Audit) -> dict[str, Any]:
    return {"id": a.id, "ticket_id": a.ticket_id, "created_at": a.created_at.isoformat(), "author_id": a.author_id,
            "via": a.via.to_dict(), "events": [e.to_dict() for e in a.events]}


def audit_from_document(doc: dict[str, Any]) -> Audit:
    return Audit(id=doc["id"], ticket_id=doc["ticket_id"], created_at=datetime.fromisoformat(doc["created_at"]),
                 author_id=doc["author_id"], via=Via(**doc["via"]),
                 events=tuple(event_from_dict(e) for e in doc["events"]))


def ticket_index_partition(account_id: str, family: str, shard: int) -> str:
    """A GSI2 partition of the account's tickets by last change ("TICKET_UPDATES") or audits ("AUDITS")."""
    return f"ACCOUNT#{account_id}#{family}#{shard}"


def ticket_index_key(account_id: str, family: str, ticket_id: int) -> str:
    """The partition of ``family`` a ticket's item (or audit) is listed in: its ticket id's shard."""
    return ticket_index_partition(account_id, family, shard_of(str(ticket_id), TICKET_INDEX_SHARDS))


class DynamoTicketStore(AccountTable):
    @classmethod
    def _key(cls, account_id: str, ticket_id: int) -> dict[str, Any]:
        return cls._account_key(account_id, f"TICKET#{ticket_id:012d}")

    @classmethod
    def _deleted_key(cls, account_id: str, ticket_id: int) -> dict[str, Any]:
        return cls._account_key(account_id, f"DELETED_TICKET#{ticket_id:012d}")

    @staticmethod
    def audits_partition(account_id: str, ticket_id: int) -> dict[str, str]:
        return text(f"ACCOUNT#{account_id}#TICKET#{ticket_id:012d}")

    def _tag_counts(self, account_id: str, ticket_id: int, before: Sequence[str], after: Sequence[str]
                    ) -> list[tuple[str, dict[str, Any]]]:
        """The counter moves of a ticket's tags going from ``before`` to ``after``."""
        moves = [(t, 1) for t in after if t not in before] + [(t, -1) for t in before if t not in after]
        return [("tag", {"Update": self._tag_move(account_id, sweep_shard(ticket_id), tag, delta)})
                for tag, delta in moves]

    def _tag_move(self, account_id: str, shard: int, tag: str, delta: int) -> dict[str, Any]:
        return {"TableName": self._table, "UpdateExpression": "ADD ticket_count :d",
                "Key": {"PK": text(f"ACCOUNT#{account_id}#TAGS#{shard}"), "SK": text(f"TAG#{tag}")},
                "ExpressionAttributeValues": {":d": number(delta)}}

    def _tags_counted(self, ticket: Ticket) -> bool:
        """Whether ``ticket``'s tags are in the counters: always once the migration that counts
        the tickets of before has finished; else as its item says (a changed item: the write
        conditional on its version fails anyway)."""
        if migration_state.finished(self._db, self._table, migration_state.TICKET_TAG_COUNTS):
            return True
        item = self._db.get_item(TableName=self._table, Key=self._key(ticket.account_id, ticket.id),
                                 ConsistentRead=True, ProjectionExpression=f"version, {TAGS_COUNTED}").get("Item")
        return not item or TAGS_COUNTED in item or int(item["version"]["N"]) != ticket.version

    @staticmethod
    def _version_check(ticket: Ticket, counted: bool) -> dict[str, Any]:
        """The condition of a write of ``ticket`` read at its version, marked (``counted``) or not."""
        return {"ConditionExpression": "version = :v" + ("" if counted else f" AND attribute_not_exists({TAGS_COUNTED})"),
                "ExpressionAttributeValues": {":v": number(ticket.version)}}

    def count_tags(self, item: dict[str, Any]) -> bool:
        """Count the tags of a live ticket's item written before the counters and mark it, in one
        transaction conditional on its version and the mark's absence; whether it did (False: marked,
        changed or deleted meanwhile, or unreadable: logged and counted, left as it is)."""
        if TAGS_COUNTED in item:
            return False
        account_id = item["PK"]["S"].removeprefix("ACCOUNT#")
        readable = read_all([item], functools.partial(self._from_item, account_id), "ticket")
        if not readable:
            return False
        [ticket] = readable
        check = self._version_check(ticket, counted=False)
        try:
            self.transact_tagged([
                ("ticket", {"Update": {"TableName": self._table, "Key": self._key(account_id, ticket.id),
                                       "UpdateExpression": f"SET {TAGS_COUNTED} = :yes", **check,
                                       "ExpressionAttributeValues": {**check["ExpressionAttributeValues"],
                                                                     ":yes": {"BOOL": True}}}}),
                *self._tag_counts(account_id, ticket.id, (), ticket.tags)])
        except StaleWrite:
            return False
        return True

    def tag_counts(self, account_id: str) -> dict[str, int]:
        """How many of the account's tickets (deleted ones not) carry each tag, every shard summed."""
        counts: dict[str, int] = {}
        for shard in range(SWEEP_SHARDS):
            query = {"KeyConditionExpression": "PK = :pk", "ProjectionExpression": "SK, ticket_count",
                     "ExpressionAttributeValues": {":pk": text(f"ACCOUNT#{account_id}#TAGS#{shard}")}}
            for item in self.query_all(query):
                tag = item["SK"]["S"].removeprefix("TAG#")
                counts[tag] = counts.get(tag, 0) + int(item["ticket_count"]["N"])
        return {tag: n for tag, n in counts.items() if n > 0}

    @staticmethod
    def updates_keys(account_id: str, ticket_id: int, when: datetime) -> dict[str, Any]:
        """GSI2 keys of the incremental export: the account's tickets, deleted ones too, by the
        time they last changed."""
        return {"GSI2PK": text(ticket_index_key(account_id, "TICKET_UPDATES", ticket_id)),
                "GSI2SK": text(f"{sortable(when)}#{ticket_id:012d}")}

    def _index_partitions(self, account_id: str, family: str) -> list[str]:
        """The GSI2 partitions of the account's ``family`` index: one per shard, and the unsharded
        partition of before while the migration that moves it has not finished."""
        partitions = [ticket_index_partition(account_id, family, shard) for shard in range(TICKET_INDEX_SHARDS)]
        if not migration_state.finished(self._db, self._table, migration_state.TICKET_INDEX_SHARDED):
            partitions.append(f"ACCOUNT#{account_id}#{family}")
        return partitions

    @staticmethod
    def _partition_queries(query: dict[str, Any], partitions: Sequence[str]) -> list[dict[str, Any]]:
        """``query`` (its partition as ``:pk``) for each of ``partitions``."""
        return [{**query, "ExpressionAttributeValues": {**query["ExpressionAttributeValues"], ":pk": text(partition)}}
                for partition in partitions]

    def _item(self, t: Ticket, version: int) -> dict[str, Any]:
        item = {**self._key(t.account_id, t.id), "data": document(ticket_to_document(t)), "version": number(version),
                TAGS_COUNTED: {"BOOL": True}}
        if t.updated_at is not None:
            item.update(self.updates_keys(t.account_id, t.id, t.updated_at))
        if t.status != "closed":
            item["SWEEP_PK"] = text(f"ACCOUNT#{t.account_id}#SHARD#{sweep_shard(t.id)}")
            item["SWEEP_SK"] = text(f"{t.id:012d}")
        return item

    @staticmethod
    def _from_item(account_id: str, item: dict[str, Any]) -> Ticket:
        return ticket_from_document(account_id, json.loads(item["data"]["S"]), int(item["version"]["N"]))

    # -- reading ---------------------------------------------------------------------------------
    def allocate_id(self, account_id: str) -> int:
        return self._next_id(self._account_key(account_id, _TICKET_IDS))

    def allocate_ids(self, account_id: str, count: int) -> range:
        return self._next_ids(self._account_key(account_id, _TICKET_IDS), count)

    def import_tickets(self, account_id: str, tickets: list[Ticket]) -> None:
        """Bulk load of new tickets (ids from allocate_ids), without audits: a data migration's
        path, 25 items a call instead of one transaction each."""
        self.batch_put([self._item(t, 1) for t in tickets])
        self._db.update_item(**self._count_change(account_id, len(tickets))["Update"])
        moves: dict[tuple[int, str], int] = {}
        for t in tickets:
            for tag in t.tags:
                moves[sweep_shard(t.id), tag] = moves.get((sweep_shard(t.id), tag), 0) + 1
        for (shard, tag), count in moves.items():  # by one ADD each: a migration has no transaction
            self._db.update_item(**self._tag_move(account_id, shard, tag, count))

    def get(self, account_id: str, ticket_id: int) -> Ticket | None:
        # Consistent: a read-modify-write must start from the version it will be checked against.
        item = self._db.get_item(TableName=self._table, Key=self._key(account_id, ticket_id), ConsistentRead=True,
                                 **_DATA).get("Item")
        return self._from_item(account_id, item) if item else None

    def get_many(self, account_id: str, ticket_ids: Sequence[int]) -> dict[int, Ticket]:
        """The tickets that exist among ``ticket_ids``, by id."""
        items = self.batch_get([self._key(account_id, i) for i in dict.fromkeys(ticket_ids)], ConsistentRead=True,
                               **_DATA)
        return {t.id: t for t in (self._from_item(account_id, item) for item in items)}

    def count(self, account_id: str, *, deleted: bool = False) -> int:
        """The account's tickets, or its deleted tickets."""
        key = self._account_key(account_id, _DELETED_COUNT if deleted else _TICKET_COUNT)
        item = self._db.get_item(TableName=self._table, Key=key).get("Item")
        return int(item["ticket_count"]["N"]) if item else 0

    def list_page(self, account_id: str, limit: int, exclusive_start: int | None = None, *,
                  descending: bool = False, offset: int = 0) -> tuple[list[Ticket], int | None]:
        items, more = self._page(account_id, "TICKET#", limit, exclusive_start, descending, offset, _DATA)
        tickets = [self._from_item(account_id, item) for item in items]
        return tickets, tickets[-1].id if more else None

    def deleted_page(self, account_id: str, limit: int, *, offset: int = 0) -> tuple[list[DeletedTicket], int | None]:
        """Deleted tickets by id, as list_page."""
        items, more = self._page(account_id, "DELETED_TICKET#", limit, None, False, offset, {})
        deleted = [self._deleted_from_item(account_id, item) for item in items]
        return deleted, deleted[-1].ticket.id if more else None

    def _page(self, account_id: str, prefix: str, limit: int, exclusive_start: int | None, descending: bool,
              offset: int, projection: dict[str, Any]) -> tuple[list[dict[str, Any]], bool]:
        """Up to ``limit`` items of the prefix's family, and whether more follow."""
        query = {"KeyConditionExpression": "PK = :pk AND begins_with(SK, :prefix)",
                 "ExpressionAttributeValues": {":pk": text(f"ACCOUNT#{account_id}"), ":prefix": text(prefix)}}
        start = None if exclusive_start is None else self._account_key(account_id, f"{prefix}{exclusive_start:012d}")
        return self.ordered_page(query, start, limit, descending=descending, offset=offset, projection=projection)

    def get_deleted(self, account_id: str, ticket_id: int) -> DeletedTicket | None:
        item = self._db.get_item(TableName=self._table, Key=self._deleted_key(account_id, ticket_id),
                                 ConsistentRead=True).get("Item")
        return self._deleted_from_item(account_id, item) if item else None

    def _deleted_from_item(self, account_id: str, item: dict[str, Any]) -> DeletedTicket:
        return DeletedTicket(self._from_item(account_id, item), datetime.fromisoformat(item["deleted_at"]["S"]),
                             int(item["actor_id"]["N"]) if "actor_id" in item else None)

    def sweepable_page(self, account_id: str, shard: int, limit: int, exclusive_start: dict[str, Any] | None
                       ) -> tuple[list[Ticket | UnreadableTicket], dict[str, Any] | None]:
        items, last_key = self.query(sweep_query(account_id, shard), limit, exclusive_start)
        return [self._readable(account_id, item) for item in items], last_key

    def _readable(self, account_id: str, item: dict[str, Any]) -> Ticket | UnreadableTicket:
        try:
            return self._from_item(account_id, item)
        except READ_ERRORS as error:  # one bad item must not hide its page
            sort_key = item["SK"]["S"]
            # the index's keys it was read with: the sweep may have to go on after it
            position = {name: item[name] for name in _SWEEP_POSITION}
            return UnreadableTicket(account_id, sort_key.removeprefix("TICKET#").lstrip("0"), reason_of(error),
                                    position)

    def sweep_position(self, ticket: Ticket | UnreadableTicket) -> dict[str, Any]:
        """The SweepIndex key of ``ticket``: where a page of sweepable_page goes on after it."""
        if isinstance(ticket, UnreadableTicket):
            return ticket.position
        item = self._item(ticket, ticket.version)
        return {name: item[name] for name in _SWEEP_POSITION}

    def list_audits(self, account_id: str, ticket_id: int) -> list[Audit]:
        query = {"KeyConditionExpression": "PK = :pk AND begins_with(SK, :prefix)",
                 "ExpressionAttributeValues": {":pk": self.audits_partition(account_id, ticket_id),
                                               ":prefix": text("AUDIT#")},
                 "ProjectionExpression": "#d", "ExpressionAttributeNames": {"#d": "data"}}
        return [audit_from_document(json.loads(item["data"]["S"])) for item in self.query_all(query)]

    def ticket_audits(self, account_id: str, ticket_id: int, limit: int, *, after: str | None = None,
                      descending: bool = False) -> tuple[list[tuple[str, Audit]], bool]:
        first, last = "AUDIT#", "AUDIT$"  # every audit's SK lies between them
        pk = self.audits_partition(account_id, ticket_id)
        start = None
        if after is not None and first < after < last:  # DynamoDB refuses a start key outside the range
            start = {"PK": pk, "SK": text(after)}
        elif after is not None and (after >= last) != descending:
            return [], False  # beyond every audit in the direction of travel (else before them all: from the start)
        query = {"KeyConditionExpression": "PK = :pk AND SK BETWEEN :first AND :last", "ScanIndexForward": not descending,
                 "ExpressionAttributeValues": {":pk": pk, ":first": text(first), ":last": text(last)},
                 "ProjectionExpression": "SK, #d", "ExpressionAttributeNames": {"#d": "data"}}
        items, _ = self.query(query, limit + 1, start)
        found = [(i["SK"]["S"], audit_from_document(json.loads(i["data"]["S"]))) for i in items[:limit]]
        return found, len(items) > limit

    def updated_since(self, account_id: str, position: str, limit: int, *, inclusive: bool, max_bytes: int,
                      until: str | None = None) -> tuple[list[tuple[str, Ticket | DeletedTicket]], bool]:
        """Tickets, deleted ones too, in the order they last changed (see AccountTable.changes)."""
        def read(item: dict[str, Any]) -> Ticket | DeletedTicket:
            return (self._deleted_from_item(account_id, item) if item["SK"]["S"].startswith("DELETED_")
                    else self._from_item(account_id, item))
        return self.changes(self._index_partitions(account_id, "TICKET_UPDATES"), read, position, limit,
                            inclusive=inclusive, max_bytes=max_bytes, until=until)

    def account_audits(self, account_id: str, limit: int, *, before: str | None = None, after: str | None = None,
                       ) -> tuple[list[tuple[str, Audit]], bool]:
        """The account's audits newest first (through GSI2), each with its position, up to
        ``limit`` older than the position ``before`` or (in the other direction, still listed
        newest first) newer than ``after``; and whether more lie in the direction of travel."""
        condition, values = "GSI2PK = :pk", {}
        if before is not None or after is not None:
            condition += " AND GSI2SK < :at" if after is None else " AND GSI2SK > :at"
            values[":at"] = text(before if after is None else after)
        query = {"IndexName": "GSI2", "KeyConditionExpression": condition, "ExpressionAttributeValues": values,
                 "ScanIndexForward": after is not None, "ProjectionExpression": "GSI2SK, #d",
                 "ExpressionAttributeNames": {"#d": "data"}}
        items, more = merged_items(self._db, self._table,
                                   self._partition_queries(query, self._index_partitions(account_id, "AUDITS")),
                                   lambda item: item["GSI2SK"]["S"], limit=limit, descending=after is None)
        found = [(i["GSI2SK"]["S"], audit_from_document(json.loads(i["data"]["S"]))) for i in items]
        return (found if after is None else found[::-1]), more

    # -- transactional writes --------------------------------------------------------------------
    def _audit_put(self, account_id: str, audit: Audit) -> dict[str, Any]:
        when = sortable(audit.created_at)
        item = {"PK": self.audits_partition(account_id, audit.ticket_id), "SK": text(f"AUDIT#{when}#{audit.id:020d}"),
                "GSI2PK": text(ticket_index_key(account_id, "AUDITS", audit.ticket_id)),
                "GSI2SK": text(f"{when}#{audit.id:020d}"),
                "data": document(audit_to_document(audit))}
        return {"Put": {"TableName": self._table, "Item": item, "ConditionExpression": "attribute_not_exists(PK)"}}

    def _count_change(self, account_id: str, delta: int) -> dict[str, Any]:
        return {"Update": {"TableName": self._table, "Key": self._account_key(account_id, _TICKET_COUNT),
                           "UpdateExpression": "ADD ticket_count :d", "ExpressionAttributeValues": {":d": number(delta)}}}

    def insert(self, ticket: Ticket, audit: Audit, also: Sequence[tuple[str, dict[str, Any]]] = ()) -> None:
        """``also``: tagged items of the caller's to commit in the same transaction."""
        self.insert_many([(ticket, audit, also)])

    def insert_many(self, entries: Sequence[tuple[Ticket, Audit, Sequence[tuple[str, dict[str, Any]]]]]) -> None:
        """One transaction: each ticket with its audit and the caller's items, and the account's
        count moved once (a transaction names each item once)."""
        items = [item for ticket, audit, also in entries for item in (
            *also,
            ("ticket", {"Put": {"TableName": self._table, "Item": self._item(ticket, 1),
                                "ConditionExpression": "attribute_not_exists(PK)"}}),
            ("audit", self._audit_put(ticket.account_id, audit)))]
        account_id = entries[0][0].account_id
        tags = Counter((sweep_shard(ticket.id), tag) for ticket, _, _ in entries for tag in ticket.tags)
        self.transact_tagged([*items, ("count", self._count_change(account_id, len(entries))),
                        *[("tag", {"Update": self._tag_move(account_id, shard, tag, n)})
                          for (shard, tag), n in tags.items()]])

    def replace_items(self, old: Ticket, new: Ticket, audits: Sequence[Audit]) -> list[tuple[str, dict[str, Any]]]:
        """The transaction items that swap ``old`` (at its version) for ``new`` and record
        ``audits`` (the sweep records one per automation that fired) and move the tag counters,
        each tagged ("ticket", "audit", "tag") with what its failed condition means, so a caller can add its own items to the
        same transaction. Each audit is one version, as audit ids are derived from versions:
        ``new`` is stored at ``old.version + len(audits)`` (one more at least)."""
        version = old.version + max(1, len(audits))
        counted = self._tags_counted(old)
        return [
            ("ticket", {"Put": {"TableName": self._table, "Item": self._item(new, version),
                                **self._version_check(old, counted)}}),
            *[("audit", self._audit_put(new.account_id, audit)) for audit in audits],
            *self._tag_counts(new.account_id, new.id, old.tags if counted else (), new.tags),
        ]

    def replace(self, old: Ticket, new: Ticket, audit: Audit, also: Sequence[tuple[str, dict[str, Any]]] = ()) -> None:
        """Raises StaleWrite whose arguments are the tags of the items whose conditions failed."""
        self.transact_tagged([*also, *self.replace_items(old, new, [audit])])

    def _counts(self, account_id: str, tickets: int, deleted: int) -> list[tuple[str, dict[str, Any]]]:
        counts = [("count", self._count_change(account_id, tickets))] if tickets else []
        if deleted:
            change = self._count_change(account_id, deleted)
            change["Update"]["Key"] = self._account_key(account_id, _DELETED_COUNT)
            counts.append(("count", change))
        return counts

    def delete(self, ticket: Ticket, also: Sequence[tuple[str, dict[str, Any]]] = (), *,
               deleted_at: datetime | None = None, actor_id: int | None = None) -> None:
        """Move the ticket to the deleted tickets (its item and audits kept, out of the sweep)."""
        deleted_at = deleted_at or now()
        item = {**self._item(ticket, ticket.version), **self._deleted_key(ticket.account_id, ticket.id),
                **self.updates_keys(ticket.account_id, ticket.id, deleted_at), "deleted_at": text(deleted_at.isoformat())}
        for name in ("SWEEP_PK", "SWEEP_SK", TAGS_COUNTED):  # out of the sweep and the counts
            item.pop(name, None)
        if actor_id is not None:
            item["actor_id"] = number(actor_id)
        counted = self._tags_counted(ticket)
        self.transact_tagged([
            *also,
            ("ticket", {"Delete": {"TableName": self._table, "Key": self._key(ticket.account_id, ticket.id),
                                   **self._version_check(ticket, counted)}}),
            ("deleted", {"Put": {"TableName": self._table, "Item": item}}),
            *self._counts(ticket.account_id, -1, 1),
            *self._tag_counts(ticket.account_id, ticket.id, ticket.tags if counted else (), ()),
        ])

    def restore(self, deleted: DeletedTicket) -> None:
        """Back from the deleted tickets, as it was; StaleWrite when it is not there any more."""
        ticket = deleted.ticket
        self.transact_tagged([
            ("deleted", {"Delete": {"TableName": self._table, "Key": self._deleted_key(ticket.account_id, ticket.id),
                                    "ConditionExpression": "attribute_exists(PK)"}}),
            ("ticket", {"Put": {"TableName": self._table, "Item": self._item(ticket, ticket.version),
                                "ConditionExpression": "attribute_not_exists(PK)"}}),
            *self._counts(ticket.account_id, 1, -1),
            *self._tag_counts(ticket.account_id, ticket.id, (), ticket.tags),
        ])

    def purge(self, account_id: str, ticket_id: int, also: Sequence[tuple[str, dict[str, Any]]] = ()) -> None:
        """Delete a deleted ticket for good, its audits first (so a purge cut short and run again
        finishes the job); StaleWrite when it is not among the deleted tickets."""
        query = {"KeyConditionExpression": "PK = :pk", "ProjectionExpression": "PK, SK",
                 "ExpressionAttributeValues": {":pk": self.audits_partition(account_id, ticket_id)}}
        self.batch_delete(self.query_all(query))
        self.transact_tagged([
            *also,
            ("deleted", {"Delete": {"TableName": self._table, "Key": self._deleted_key(account_id, ticket_id),
                                    "ConditionExpression": "attribute_exists(PK)"}}),
            *self._counts(account_id, 0, -1),
        ])
