"""DynamoDB storage of tickets, their audits and the users they name (single table; key layout
in template.yaml).

A ticket is one item, PK=ACCOUNT#<account>, SK=TICKET#<12-digit id>, holding the ticket as a JSON
document ("data") and its "version". While it is not closed it also carries the sparse
SweepIndex keys (SWEEP_PK, SWEEP_SK), so the hourly sweep reads only the tickets it may act on
and never Scans; closing a ticket rewrites its item without them. Audits live under their
ticket (PK=ACCOUNT#<account>#TICKET#<id>, SK=AUDIT#<time>#<audit id>) and are written in the same
transaction as the change they record. GSI2 lists an account's tickets by when they last changed
(the incremental export) and its audits by time, each over TICKET_INDEX_SHARDS partitions by
ticket id (ACCOUNT#<a>#TICKET_UPDATES#<shard>, ACCOUNT#<a>#AUDITS#<shard>), merged on read."""
from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import fields
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from automations.adapters import migration_state
from automations.adapters.aws import has_code
from automations.adapters.records import READ_ERRORS
from automations.adapters.shards import TICKET_INDEX_SHARDS, merged_items, shard_of
from automations.adapters.table import Table, document, failed_checks, number, text
from automations.clock import now, sortable
from automations.domain.audit import Audit, Via, event_from_dict
from automations.domain.ticket import INSTANTS, DeletedTicket, Ticket, sweep_shard
from automations.domain.user import Role, User
from automations.errors import reason_of
from automations.ports import StaleWrite, UnreadableTicket

_TICKET_IDS = "COUNTER#TICKETS"
# The ticket count changes inside insert/delete transactions; it is kept apart from the id
# counter so that allocating an id never collides with another request's transaction.
_TICKET_COUNT = "COUNT#TICKETS"
_DELETED_COUNT = "COUNT#DELETED_TICKETS"
_USER_IDS = "COUNTER#USERS"
_DATA = {"ProjectionExpression": "#d, version", "ExpressionAttributeNames": {"#d": "data"}}


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
    document and version, and its key for naming one that cannot be read)."""
    return {"IndexName": "SweepIndex", "KeyConditionExpression": "SWEEP_PK = :pk",
            "ExpressionAttributeValues": {":pk": text(f"ACCOUNT#{account_id}#SHARD#{shard}")}, **_DATA,
            "ProjectionExpression": "#d, version, SK"}


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


class AccountTable(Table):
    """A store of items under the account's own partition (PK=ACCOUNT#<a>)."""

    @staticmethod
    def _account_key(account_id: str, sort_key: str) -> dict[str, Any]:
        return {"PK": text(f"ACCOUNT#{account_id}"), "SK": text(sort_key)}

    def _next_id(self, key: dict[str, Any]) -> int:
        got = self._db.update_item(TableName=self._table, Key=key, UpdateExpression="ADD next_id :one",
                                   ExpressionAttributeValues={":one": number(1)}, ReturnValues="UPDATED_NEW")
        return int(got["Attributes"]["next_id"]["N"])


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

    @staticmethod
    def updates_keys(account_id: str, ticket_id: int, when: datetime) -> dict[str, Any]:
        """GSI2 keys of the incremental export: the account's tickets, deleted ones too, by the
        time they last changed."""
        return {"GSI2PK": text(ticket_index_key(account_id, "TICKET_UPDATES", ticket_id)),
                "GSI2SK": text(f"{sortable(when)}#{ticket_id:012d}")}

    def _index_partitions(self, account_id: str, family: str, query: dict[str, Any]) -> list[dict[str, Any]]:
        """``query`` (its partition as ``:pk``) for each shard of the account's ``family`` index, and
        for the unsharded partition of before while the migration that moves it has not finished."""
        partitions = [ticket_index_partition(account_id, family, shard) for shard in range(TICKET_INDEX_SHARDS)]
        if not migration_state.finished(self._db, self._table, migration_state.TICKET_INDEX_SHARDED):
            partitions.append(f"ACCOUNT#{account_id}#{family}")
        return [{**query, "ExpressionAttributeValues": {**query["ExpressionAttributeValues"], ":pk": text(partition)}}
                for partition in partitions]

    def _item(self, t: Ticket, version: int) -> dict[str, Any]:
        item = {**self._key(t.account_id, t.id), "data": document(ticket_to_document(t)), "version": number(version)}
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
        got = self._db.update_item(TableName=self._table, Key=self._account_key(account_id, _TICKET_IDS),
                                   UpdateExpression="ADD next_id :n", ExpressionAttributeValues={":n": number(count)},
                                   ReturnValues="UPDATED_NEW")
        last = int(got["Attributes"]["next_id"]["N"])
        return range(last - count + 1, last + 1)

    def import_tickets(self, account_id: str, tickets: list[Ticket]) -> None:
        """Bulk load of new tickets (ids from allocate_ids), without audits: a data migration's
        path, 25 items a call instead of one transaction each."""
        self.batch_put([self._item(t, 1) for t in tickets])
        self._db.update_item(**self._count_change(account_id, len(tickets))["Update"])

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
                 "ExpressionAttributeValues": {":pk": text(f"ACCOUNT#{account_id}"), ":prefix": text(prefix)},
                 "ScanIndexForward": not descending}
        start = None if exclusive_start is None else self._account_key(account_id, f"{prefix}{exclusive_start:012d}")
        if offset:
            skipped, start = self.query({**query, "ProjectionExpression": "SK"}, offset, start)
            if len(skipped) < offset or start is None:
                return [], False
        items, _ = self.query({**query, **projection}, limit + 1, start)  # one more tells whether more follow
        return items[:limit], len(items) > limit

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
            return UnreadableTicket(account_id, item["SK"]["S"].removeprefix("TICKET#").lstrip("0"), reason_of(error))

    def sweep_position(self, ticket: Ticket) -> dict[str, Any]:
        """The SweepIndex key of ``ticket``: where a page of sweepable_page goes on after it."""
        item = self._item(ticket, ticket.version)
        return {name: item[name] for name in ("SWEEP_PK", "SWEEP_SK", "PK", "SK")}

    def list_audits(self, account_id: str, ticket_id: int) -> list[Audit]:
        query = {"KeyConditionExpression": "PK = :pk AND begins_with(SK, :prefix)",
                 "ExpressionAttributeValues": {":pk": self.audits_partition(account_id, ticket_id),
                                               ":prefix": text("AUDIT#")},
                 "ProjectionExpression": "#d", "ExpressionAttributeNames": {"#d": "data"}}
        return [audit_from_document(json.loads(item["data"]["S"])) for item in self.query_all(query)]

    def updated_since(self, account_id: str, position: str, limit: int, *, inclusive: bool,
                      max_bytes: int) -> tuple[list[tuple[str, Ticket | DeletedTicket]], bool]:
        """Tickets, deleted ones too, in the order they last changed from ``position`` on (a time
        as sortable text, or a position returned before), each with its position; at most
        ``limit`` and about ``max_bytes`` of them; and whether more follow."""
        found: list[tuple[str, Ticket | DeletedTicket]] = []
        size = 0
        while len(found) < limit and size < max_bytes:
            query = {"IndexName": "GSI2", "ScanIndexForward": True,
                     "KeyConditionExpression": f"GSI2PK = :pk AND GSI2SK {'>=' if inclusive else '>'} :at",
                     "ExpressionAttributeValues": {":at": text(position)}}
            items, more = merged_items(self._db, self._table, self._index_partitions(account_id, "TICKET_UPDATES", query),
                                       lambda item: item["GSI2SK"]["S"], limit=min(100, limit - len(found)))
            for item in items:
                size += len(item["data"]["S"])
                ticket = (self._deleted_from_item(account_id, item) if item["SK"]["S"].startswith("DELETED_")
                          else self._from_item(account_id, item))
                found.append((item["GSI2SK"]["S"], ticket))
            if not more:
                return found, False
            position, inclusive = found[-1][0], False
        return found, True

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
        items, more = merged_items(self._db, self._table, self._index_partitions(account_id, "AUDITS", query),
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

    def _transact(self, items: list[tuple[str, dict[str, Any]]]) -> None:
        try:
            self._db.transact_write_items(TransactItems=[item for _, item in items])
        except ClientError as e:
            if not has_code(e, "TransactionCanceledException"):
                raise
            # Conflicting concurrent transactions cancel without a failed check: stale all the same.
            raise StaleWrite(*[tag for (tag, _), bad in zip(items, failed_checks(e)) if bad]) from None

    def insert(self, ticket: Ticket, audit: Audit, also: Sequence[tuple[str, dict[str, Any]]] = ()) -> None:
        """``also``: tagged items of the caller's to commit in the same transaction."""
        self._transact([
            *also,
            ("ticket", {"Put": {"TableName": self._table, "Item": self._item(ticket, 1),
                                "ConditionExpression": "attribute_not_exists(PK)"}}),
            ("audit", self._audit_put(ticket.account_id, audit)),
            ("count", self._count_change(ticket.account_id, 1)),
        ])

    def replace_items(self, old: Ticket, new: Ticket, audits: Sequence[Audit]) -> list[tuple[str, dict[str, Any]]]:
        """The transaction items that swap ``old`` (at its version) for ``new`` and record
        ``audits`` (the sweep records one per automation that fired), each tagged ("ticket",
        "audit") with what its failed condition means, so a caller can add its own items to the
        same transaction. Each audit is one version, as audit ids are derived from versions:
        ``new`` is stored at ``old.version + len(audits)`` (one more at least)."""
        version = old.version + max(1, len(audits))
        return [
            ("ticket", {"Put": {"TableName": self._table, "Item": self._item(new, version),
                                "ConditionExpression": "version = :v",
                                "ExpressionAttributeValues": {":v": number(old.version)}}}),
            *[("audit", self._audit_put(new.account_id, audit)) for audit in audits],
        ]

    def replace(self, old: Ticket, new: Ticket, audit: Audit, also: Sequence[tuple[str, dict[str, Any]]] = ()) -> None:
        """Raises StaleWrite whose arguments are the tags of the items whose conditions failed."""
        self._transact([*also, *self.replace_items(old, new, [audit])])

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
        for index in ("SWEEP_PK", "SWEEP_SK"):
            item.pop(index, None)
        if actor_id is not None:
            item["actor_id"] = number(actor_id)
        self._transact([
            *also,
            ("ticket", {"Delete": {"TableName": self._table, "Key": self._key(ticket.account_id, ticket.id),
                                   "ConditionExpression": "version = :v",
                                   "ExpressionAttributeValues": {":v": number(ticket.version)}}}),
            ("deleted", {"Put": {"TableName": self._table, "Item": item}}),
            *self._counts(ticket.account_id, -1, 1),
        ])

    def restore(self, deleted: DeletedTicket) -> None:
        """Back from the deleted tickets, as it was; StaleWrite when it is not there any more."""
        ticket = deleted.ticket
        self._transact([
            ("deleted", {"Delete": {"TableName": self._table, "Key": self._deleted_key(ticket.account_id, ticket.id),
                                    "ConditionExpression": "attribute_exists(PK)"}}),
            ("ticket", {"Put": {"TableName": self._table, "Item": self._item(ticket, ticket.version),
                                "ConditionExpression": "attribute_not_exists(PK)"}}),
            *self._counts(ticket.account_id, 1, -1),
        ])

    def purge(self, account_id: str, ticket_id: int, also: Sequence[tuple[str, dict[str, Any]]] = ()) -> None:
        """Delete a deleted ticket for good, its audits first (so a purge cut short and run again
        finishes the job); StaleWrite when it is not among the deleted tickets."""
        query = {"KeyConditionExpression": "PK = :pk", "ProjectionExpression": "PK, SK",
                 "ExpressionAttributeValues": {":pk": self.audits_partition(account_id, ticket_id)}}
        self.batch_delete(self.query_all(query))
        self._transact([
            *also,
            ("deleted", {"Delete": {"TableName": self._table, "Key": self._deleted_key(account_id, ticket_id),
                                    "ConditionExpression": "attribute_exists(PK)"}}),
            *self._counts(account_id, 0, -1),
        ])


class DynamoUserStore(AccountTable):
    """Users by id, and by email through GSI1. A guard item per email (written in the same
    transaction as the user) keeps emails unique when two requests create the same person."""

    @classmethod
    def _key(cls, account_id: str, user_id: int) -> dict[str, Any]:
        return cls._account_key(account_id, f"USER#{user_id:012d}")

    @classmethod
    def _email_key(cls, account_id: str, email: str) -> dict[str, Any]:
        return cls._account_key(account_id, f"USER_EMAIL#{email}")

    @staticmethod
    def _user(account_id: str, item: dict[str, Any]) -> User:
        return User(account_id=account_id, id=int(item["user_id"]["N"]), name=item["name"]["S"],
                    email=item["email"]["S"], role=Role(item["role"]["S"]),
                    created_at=datetime.fromisoformat(item["created_at"]["S"]))

    def allocate_id(self, account_id: str) -> int:
        return self._next_id(self._account_key(account_id, _USER_IDS))

    def get(self, account_id: str, user_id: int) -> User | None:
        item = self._db.get_item(TableName=self._table, Key=self._key(account_id, user_id),
                                 ConsistentRead=True).get("Item")
        return self._user(account_id, item) if item else None

    def find_by_email(self, account_id: str, email: str) -> User | None:
        found, _ = self.query({"IndexName": "GSI1", "KeyConditionExpression": "GSI1PK = :pk",
                               "ExpressionAttributeValues": {":pk": text(f"ACCOUNT#{account_id}#USER_EMAIL#{email}")}},
                              1, None)
        return self._user(account_id, found[0]) if found else None

    def add(self, user: User) -> User:
        item = {
            **self._key(user.account_id, user.id),
            "GSI1PK": text(f"ACCOUNT#{user.account_id}#USER_EMAIL#{user.email}"), "GSI1SK": text("USER"),
            "user_id": number(user.id), "name": text(user.name), "email": text(user.email), "role": text(user.role.value),
            "created_at": text(user.created_at.isoformat()),
        }
        guard = {**self._email_key(user.account_id, user.email), "user_id": number(user.id)}
        try:
            self._db.transact_write_items(TransactItems=[
                {"Put": {"TableName": self._table, "Item": guard, "ConditionExpression": "attribute_not_exists(PK)"}},
                {"Put": {"TableName": self._table, "Item": item, "ConditionExpression": "attribute_not_exists(PK)"}},
            ])
        except ClientError as e:
            if not has_code(e, "TransactionCanceledException"):
                raise
            owner = self._db.get_item(TableName=self._table, Key=self._email_key(user.account_id, user.email),
                                      ConsistentRead=True).get("Item")
            if owner is None:  # cancelled by a concurrent transaction on the same email, still in flight
                raise StaleWrite("guard") from None
            return self.get(user.account_id, int(owner["user_id"]["N"]))
        return user

    # -- for the native users API (service/people.py) ---------------------------------------------
    def page(self, account_id: str, limit: int, after: int | None = None) -> tuple[list[User], int | None]:
        """Up to ``limit`` users in id order after the user id ``after``, and the id to continue
        after (None when none are left)."""
        query = {"KeyConditionExpression": "PK = :pk AND begins_with(SK, :prefix)",
                 "ExpressionAttributeValues": {":pk": text(f"ACCOUNT#{account_id}"), ":prefix": text("USER#")}}
        start = None if after is None else self._key(account_id, after)
        items, _ = self.query(query, limit + 1, start)  # one more tells whether more follow
        users = [self._user(account_id, item) for item in items[:limit]]
        return users, users[-1].id if len(items) > limit else None

    def get_many(self, account_id: str, user_ids: Sequence[int]) -> dict[int, User]:
        """The users that exist among ``user_ids``, by id (consistent reads, 100 keys a call)."""
        items = self.batch_get([self._key(account_id, i) for i in dict.fromkeys(user_ids)], ConsistentRead=True)
        return {user.id: user for user in (self._user(account_id, item) for item in items)}

    def update(self, account_id: str, user_id: int, *, name: str, role: Role) -> User | None:
        """Set the user's name and role (the email, which keys the guard item, never changes);
        None when the user does not exist."""
        try:
            got = self._db.update_item(
                TableName=self._table, Key=self._key(account_id, user_id), ConditionExpression="attribute_exists(PK)",
                UpdateExpression="SET #name = :name, #role = :role", ReturnValues="ALL_NEW",
                ExpressionAttributeNames={"#name": "name", "#role": "role"},
                ExpressionAttributeValues={":name": text(name), ":role": text(role.value)})
        except ClientError as e:
            if has_code(e, "ConditionalCheckFailedException"):
                return None
            raise
        return self._user(account_id, got["Attributes"])

    def delete(self, user: User) -> None:
        """Remove the user and free its email, in one transaction. The guard is deleted only while
        it still names this user, so a retry can never free another user's email."""
        try:
            self._db.transact_write_items(TransactItems=[
                {"Delete": {"TableName": self._table, "Key": self._key(user.account_id, user.id)}},
                {"Delete": {"TableName": self._table, "Key": self._email_key(user.account_id, user.email),
                            "ConditionExpression": "user_id = :id", "ExpressionAttributeValues": {":id": number(user.id)}}},
            ])
        except ClientError as e:
            if not has_code(e, "TransactionCanceledException"):
                raise
            raise StaleWrite("guard") from None
