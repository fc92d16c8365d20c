"""DynamoDB storage of contacts, contact lists, communities, custom fields, templates and the
contact event log (single table). Under PK=ACCOUNT#<a>:

    CONTACT#<uuid>                             a contact (JSON "data" + version)
    CONTACT_EMAIL#<email>                      the claim that makes emails unique per account
    GROUP#LIST#<id>, GROUP#COMMUNITY#<id>      a list or community   (ids zero-padded)
    CUSTOM_FIELD#<id>, TEMPLATE#<id>           custom fields and templates
    COUNTER#<NAME>                             the atomic id counters

and, sharded by contact or event (adapters/shards.py), as they grow with traffic:

    PK=ACCOUNT#<a>#MEMBERS#LIST#<id>#<shard>, SK=MEMBER#<uuid>       a membership; GSI2 lists a
                                                                     contact's memberships
    PK=ACCOUNT#<a>#CONTACT_EVENTS#<shard>, SK=<occurred_at>#<id>     the contact event log (TTL:
                                                                     expires_at)

Memberships written before the sharding (PK=ACCOUNT#<a>, SK=MEMBER#<KIND>#<id>#<uuid>) are moved
by the migration MEMBERSHIPS_SHARDED; until it has finished, is_member and remove_member look
there too, and a recurring expansion reads them as one more shard.
"""
from __future__ import annotations

import functools
import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from automations.adapters import migration_state
from automations.adapters.aws import has_code
from automations.adapters.numbered_documents import NumberedDocuments, account_partition, dated, record_document
from automations.adapters.records import read_all, read_one
from automations.adapters.shards import JOIN_SHARDS, merged_page, shard_of
from automations.adapters.table import Table, document, failed_checks, number, text
from automations.clock import sortable
from automations.domain.contact_events import ContactEvent
from automations.domain.contacts import (
    Contact, CustomField, FieldScope, FieldType, Group, GroupKind, MembersAdded, Membership, SeriesStep, Template,
    TemplateType,
)
from automations.errors import Conflict, MalformedRequest, NotFound
from automations.paging import decode_cursor, encode_cursor
from automations.domain.contact_events import RETENTION
from automations.store_refusals import StaleWrite

_TRANSACT_MAX = 100
_JOINS_PER_TRANSACTION = (_TRANSACT_MAX - 1) // 2  # a group check + (membership, event) each


def _after_key(account_id: str, prefix: str, cursor: str | None) -> dict[str, Any] | None:
    """The ExclusiveStartKey a cursor stands for; refused unless it is a key of this listing."""
    if cursor is None:
        return None
    decoded = decode_cursor(cursor)
    if len(decoded) != 1 or not isinstance(decoded[0], str) or not decoded[0].startswith(prefix):
        raise MalformedRequest("the pagination cursor is not valid", kind="pagination")
    return {"PK": account_partition(account_id), "SK": text(decoded[0])}


class _Base(Table):
    def _page(self, account_id: str, prefix: str, *, after: str | None, limit: int
              ) -> tuple[list[dict[str, Any]], str | None]:
        """Up to ``limit`` items whose SK starts with ``prefix``, in SK order,
        and the cursor of the next page. One item more is read to know whether one follows."""
        items, _ = self.query({"KeyConditionExpression": "PK = :pk AND SK BETWEEN :lo AND :hi",
                               "ExpressionAttributeValues": {":pk": account_partition(account_id), ":lo": text(prefix),
                                                             ":hi": text(prefix + "\uffff")}},
                              limit + 1, _after_key(account_id, prefix, after))
        if len(items) > limit:
            return items[:limit], encode_cursor([items[limit - 1]["SK"]["S"]])
        return items, None

    def _transact(self, items: list[tuple[str, dict[str, Any]]]) -> None:
        """Run tagged transaction items; a failed condition raises what its tag means."""
        try:
            self.transact_tagged(items)
        except StaleWrite as stale:
            if "email" in stale.args:
                raise Conflict("another contact of this account has that email address") from None
            raise StaleWrite() from None


def _custom_field(account_id: str, doc: dict[str, Any], version: int) -> CustomField:
    doc = dated(doc)
    return CustomField(**{**doc, "scope": FieldScope(doc["scope"]), "type": FieldType(doc["type"]),
                          "options": tuple(doc["options"])}, account_id=account_id, version=version)


def _template(account_id: str, doc: dict[str, Any], version: int) -> Template:
    doc = dated(doc)
    return Template(**{**doc, "type": TemplateType(doc["type"]), "steps": tuple(SeriesStep(**s) for s in doc["steps"])},
                    account_id=account_id, version=version)


def _group(account_id: str, doc: dict[str, Any], version: int) -> Group:
    return Group(**{**dated(doc), "kind": GroupKind(doc["kind"])}, account_id=account_id, version=version)


def custom_field_store(client, table: str) -> NumberedDocuments[CustomField]:
    return NumberedDocuments(client, table, prefix="CUSTOM_FIELD#", counter="CUSTOM_FIELDS", load=_custom_field)


def template_store(client, table: str) -> NumberedDocuments[Template]:
    return NumberedDocuments(client, table, prefix="TEMPLATE#", counter="TEMPLATES", load=_template)


# -- lists and communities, with their members ---------------------------------------------------
class DynamoGroupStore(NumberedDocuments[Group]):
    def __init__(self, client, table: str, kind: GroupKind) -> None:
        name = kind.value.upper()
        super().__init__(client, table, prefix=f"GROUP#{name}#", counter=f"GROUPS#{name}", load=_group)
        self._name = name

    def _members_pk(self, account_id: str, group_id: int, shard: int) -> dict[str, str]:
        return text(f"ACCOUNT#{account_id}#MEMBERS#{self._name}#{group_id:012d}#{shard}")

    def _member_key(self, account_id: str, group_id: int, contact_uuid: str) -> dict[str, Any]:
        return {"PK": self._members_pk(account_id, group_id, shard_of(contact_uuid, JOIN_SHARDS)),
                "SK": text(f"MEMBER#{contact_uuid}")}

    def _legacy_prefix(self, group_id: int) -> str:
        """Where a group's memberships were, under the account's partition, before the sharding."""
        return f"MEMBER#{self._name}#{group_id:012d}#"

    def _legacy_read(self) -> bool:
        return not migration_state.finished(self._db, self._table, migration_state.MEMBERSHIPS_SHARDED)

    def _membership_put(self, m: Membership, group: Group) -> dict[str, Any]:
        return {"Put": {"TableName": self._table, "ConditionExpression": "attribute_not_exists(PK)", "Item": {
            **self._member_key(m.account_id, group.id, m.contact_uuid),
            "GSI2PK": text(contact_groups_key(m.account_id, m.contact_uuid)),
            "GSI2SK": text(f"{self._prefix}{group.id:012d}"),
            "contact_uuid": text(m.contact_uuid), "joined_at": text(m.joined_at.isoformat())}}}

    def add_members(self, group: Group, joins: Iterable[tuple[Membership, ContactEvent]]
                    ) -> tuple[MembersAdded, list[ContactEvent]]:
        outcome, committed = MembersAdded(), []
        joins = list({m.contact_uuid: (m, e) for m, e in joins}.values())  # one write per contact
        # Unknown contacts are sorted out by a read, not a condition in the transaction: a condition
        # check is a write on the account's partition, and a join must not write there. A contact
        # deleted meanwhile leaves a membership of no one, which readers treat as absent (as a
        # delete's best-effort clean-up does).
        known = {c for c in DynamoContactStore(self._db, self._table).existing(
            group.account_id, [m.contact_uuid for m, _ in joins])}
        outcome.not_found.extend(m.contact_uuid for m, _ in joins if m.contact_uuid not in known)
        joins = [(m, e) for m, e in joins if m.contact_uuid in known]
        for start in range(0, len(joins), _JOINS_PER_TRANSACTION):
            self._add_chunk(group, joins[start:start + _JOINS_PER_TRANSACTION], outcome, committed)
        return outcome, committed

    def _add_chunk(self, group: Group, pending: list[tuple[Membership, ContactEvent]], outcome: MembersAdded,
                   committed: list[ContactEvent]) -> None:
        """One transaction; when it is cancelled, the contacts whose condition failed (already
        members) are sorted out and the rest tried again. (A transaction lost to a concurrent one
        on the group item is retried by the table's retry policy.)"""
        group_check = {"ConditionCheck": {"TableName": self._table, "Key": self._key(group.account_id, group.id),
                                          "ConditionExpression": "attribute_exists(PK)"}}
        while pending:
            items = [group_check]
            for m, event in pending:
                items += [self._membership_put(m, group), {"Put": DynamoContactEventLog.put(self._table, event)}]
            try:
                self._db.transact_write_items(TransactItems=items)
            except ClientError as e:
                if not has_code(e, "TransactionCanceledException"):
                    raise
                failed = failed_checks(e)
                if failed and failed[0]:
                    raise NotFound(f"{group.kind} {group.id} not found") from None
                still = []
                for index, (m, event) in enumerate(pending):
                    member, logged = failed[1 + 2 * index: 3 + 2 * index] or (False, False)
                    if member or logged:
                        outcome.already_members.append(m.contact_uuid)
                    else:
                        still.append((m, event))
                if len(still) == len(pending):  # cancelled for no condition of ours: not ours to retry
                    raise
                pending = still
                continue
            outcome.added.extend(m.contact_uuid for m, _ in pending)
            committed.extend(event for _, event in pending)
            return

    def remove_member(self, group: Group, contact_uuid: str) -> bool:
        keys = [self._member_key(group.account_id, group.id, contact_uuid)]
        if self._legacy_read():
            keys.append({"PK": account_partition(group.account_id), "SK": text(self._legacy_prefix(group.id) + contact_uuid)})
        removed = False
        for key in keys:
            try:
                self._db.delete_item(TableName=self._table, ConditionExpression="attribute_exists(PK)", Key=key)
                removed = True
            except ClientError as e:
                if not has_code(e, "ConditionalCheckFailedException"):
                    raise
        return removed

    def is_member(self, account_id: str, group_id: int, contact_uuid: str) -> bool:
        keys = [self._member_key(account_id, group_id, contact_uuid)]
        if self._legacy_read():
            keys.append({"PK": account_partition(account_id), "SK": text(self._legacy_prefix(group_id) + contact_uuid)})
        return any("Item" in self._db.get_item(TableName=self._table, Key=key, ConsistentRead=True,
                                               ProjectionExpression="PK") for key in keys)

    @property
    def member_shards(self) -> int:
        """JOIN_SHARDS, and one more (the memberships of before the sharding) until they are moved."""
        return JOIN_SHARDS + (1 if self._legacy_read() else 0)

    def shard_members(self, group: Group, shard: int, *, after: str | None, limit: int
                      ) -> tuple[list[Membership], str | None]:
        """One shard's members in contact uuid order, from after the sort key ``after``, and the
        sort key to go on after (None at the end): a recurring expansion reads the shards side by
        side. The shard past the last is the memberships not yet moved since the sharding."""
        if shard < JOIN_SHARDS:
            pk = self._members_pk(group.account_id, group.id, shard)
            query = {"KeyConditionExpression": "PK = :pk", "ExpressionAttributeValues": {":pk": pk}}
        else:
            pk = account_partition(group.account_id)
            query = {"KeyConditionExpression": "PK = :pk AND begins_with(SK, :prefix)",
                     "ExpressionAttributeValues": {":pk": pk, ":prefix": text(self._legacy_prefix(group.id))}}
        items, more = self.query(query, limit, {"PK": pk, "SK": text(after)} if after else None)
        return self._memberships(group, items), more["SK"]["S"] if more else None

    def resharded(self, item: dict[str, Any]) -> dict[str, Any]:
        """A membership item of before the sharding (this kind's) with its keys as they are now."""
        _, _, group_id, contact_uuid = item["SK"]["S"].split("#", 3)
        return {**item, **self._member_key(item["PK"]["S"].removeprefix("ACCOUNT#"), int(group_id), contact_uuid)}

    @staticmethod
    def _memberships(group: Group, items: list[dict[str, Any]]) -> list[Membership]:
        return [Membership(account_id=group.account_id, kind=group.kind, group_id=group.id,
                           contact_uuid=i["contact_uuid"]["S"], joined_at=datetime.fromisoformat(i["joined_at"]["S"]))
                for i in items]

    def members(self, group: Group, *, after: str | None, limit: int) -> tuple[list[Membership], str | None]:
        """In contact uuid order, merged from every shard."""
        def shard_query(shard: int) -> dict[str, Any]:
            return {"KeyConditionExpression": "PK = :pk",
                    "ExpressionAttributeValues": {":pk": self._members_pk(group.account_id, group.id, shard)}}
        items, cursor = merged_page(self._db, self._table, JOIN_SHARDS, shard_query, ("PK", "SK"),
                                    lambda item: item["SK"]["S"], limit=limit, cursor=after)
        return self._memberships(group, items), cursor


def contact_groups_key(account_id: str, contact_uuid: str) -> str:
    return f"ACCOUNT#{account_id}#CONTACT_GROUPS#{contact_uuid}"


# -- contacts ------------------------------------------------------------------------------------
def _contact_of(account_id: str, item: dict[str, Any]) -> Contact:
    return Contact(**dated(json.loads(item["data"]["S"])), account_id=account_id, version=int(item["version"]["N"]))


class DynamoContactStore(_Base):
    PREFIX = "CONTACT#"

    @staticmethod
    def key(account_id: str, contact_uuid: str) -> dict[str, Any]:
        return {"PK": account_partition(account_id), "SK": text(f"{DynamoContactStore.PREFIX}{contact_uuid}")}

    @staticmethod
    def _email_key(account_id: str, email: str) -> dict[str, Any]:
        return {"PK": account_partition(account_id), "SK": text(f"CONTACT_EMAIL#{email}")}

    def _put(self, c: Contact, condition: str, values: dict[str, Any] | None = None) -> dict[str, Any]:
        put: dict[str, Any] = {"TableName": self._table, "ConditionExpression": condition,
                               "Item": {**self.key(c.account_id, c.uuid), "data": document(record_document(c)),
                                        "version": number(c.version)}}
        if values:
            put["ExpressionAttributeValues"] = values
        return {"Put": put}

    def _claim(self, c: Contact) -> tuple[str, dict[str, Any]]:
        return "email", {"Put": {"TableName": self._table, "ConditionExpression": "attribute_not_exists(PK)",
                                 "Item": {**self._email_key(c.account_id, c.email), "contact_uuid": text(c.uuid)}}}

    def _release(self, c: Contact) -> tuple[str, dict[str, Any]]:
        return "stale", {"Delete": {"TableName": self._table, "Key": self._email_key(c.account_id, c.email),
                                    "ConditionExpression": "contact_uuid = :u",
                                    "ExpressionAttributeValues": {":u": text(c.uuid)}}}

    def import_contacts(self, contacts: list[Contact]) -> None:
        """Bulk load of new contacts whose emails are normalised and unique (among themselves and
        in the account): a data migration's path, each contact and its email claim 25 items a
        call instead of one transaction each, and no contact_created events (nothing starts)."""
        items = [self._put(c, "attribute_not_exists(PK)")["Put"]["Item"] for c in contacts]
        items += [self._claim(c)[1]["Put"]["Item"] for c in contacts if c.email]
        self.batch_put(items)

    def insert(self, contact: Contact, change: ContactEvent) -> None:
        items = [("stale", self._put(contact, "attribute_not_exists(PK)")), self._logged(change)]
        if contact.email:
            items.append(self._claim(contact))
        self._transact(items)

    def replace(self, old: Contact, new: Contact, change: ContactEvent) -> None:
        items = [("stale", self._put(new, "version = :v", {":v": number(old.version)})), self._logged(change)]
        if old.email != new.email:
            if old.email:
                items.append(self._release(old))
            if new.email:
                items.append(self._claim(new))
        self._transact(items)

    def _logged(self, change: ContactEvent) -> tuple[str, dict[str, Any]]:
        """The change's event-log record, in the contact write's own transaction."""
        return "stale", {"Put": DynamoContactEventLog.put(self._table, change)}

    def delete(self, contact: Contact) -> None:
        items = [("stale", {"Delete": {"TableName": self._table, "Key": self.key(contact.account_id, contact.uuid),
                                       "ConditionExpression": "version = :v",
                                       "ExpressionAttributeValues": {":v": number(contact.version)}}})]
        if contact.email:
            items.append(self._release(contact))
        self._transact(items)
        self._forget_memberships(contact)

    def _forget_memberships(self, contact: Contact) -> None:
        """Best effort after the delete (GSI2 is eventually consistent): a membership missed here
        points at a contact that no longer exists, which readers treat as absent."""
        self.batch_delete([{"PK": i["PK"], "SK": i["SK"]} for i in self.query_all({
            "IndexName": "GSI2", "KeyConditionExpression": "GSI2PK = :pk", "ProjectionExpression": "PK, SK",
            "ExpressionAttributeValues": {":pk": text(contact_groups_key(contact.account_id, contact.uuid))}})])

    def get(self, account_id: str, contact_uuid: str) -> Contact | None:
        item = self._db.get_item(TableName=self._table, Key=self.key(account_id, contact_uuid)).get("Item")
        return read_one(item, functools.partial(_contact_of, account_id), "contact") if item else None

    def get_many(self, account_id: str, contact_uuids: list[str]) -> dict[str, Contact]:
        """The contacts of those uuids that exist, by uuid."""
        keys = [self.key(account_id, u) for u in dict.fromkeys(contact_uuids)]
        contacts = read_all(self.batch_get(keys), functools.partial(_contact_of, account_id),
                            "contact")
        return {c.uuid: c for c in contacts}

    def existing(self, account_id: str, contact_uuids: list[str]) -> set[str]:
        """Which of ``contact_uuids`` are contacts of the account (consistent reads)."""
        keys = [self.key(account_id, u) for u in dict.fromkeys(contact_uuids)]
        found = self.batch_get(keys, ProjectionExpression="SK", ConsistentRead=True)
        return {item["SK"]["S"].removeprefix(self.PREFIX) for item in found}

    def find_by_email(self, account_id: str, email: str) -> Contact | None:
        claim = self._db.get_item(TableName=self._table, Key=self._email_key(account_id, email),
                                  ConsistentRead=True).get("Item")
        return self.get(account_id, claim["contact_uuid"]["S"]) if claim else None

    def page(self, account_id: str, *, after: str | None, limit: int) -> tuple[list[Contact], str | None]:
        items, cursor = self._page(account_id, self.PREFIX, after=after, limit=limit)
        return read_all(items, functools.partial(_contact_of, account_id), "contact"), cursor


# -- the contact event log -----------------------------------------------------------------------
class DynamoContactEventLog(_Base):
    @staticmethod
    def _partition(account_id: str, shard: int) -> dict[str, str]:
        return text(f"ACCOUNT#{account_id}#CONTACT_EVENTS#{shard}")

    @staticmethod
    def put(table: str, event: ContactEvent) -> dict[str, Any]:
        """The conditional Put of ``event``: usable alone or inside another write's transaction."""
        expires = int((event.occurred_at + RETENTION).timestamp())
        return {"TableName": table, "ConditionExpression": "attribute_not_exists(PK)", "Item": {
            "PK": DynamoContactEventLog._partition(event.account_id, shard_of(event.id, JOIN_SHARDS)),
            "SK": text(f"{sortable(event.occurred_at)}#{event.id}"),
            "data": document(event.to_dict()), "expires_at": number(expires)}}

    def append(self, event: ContactEvent) -> bool:
        try:
            self._db.put_item(**self.put(self._table, event))
            return True
        except ClientError as e:
            if has_code(e, "ConditionalCheckFailedException"):
                return False
            raise

    def read(self, account_id: str, *, after: str | None, since: datetime | None,
             limit: int) -> tuple[list[ContactEvent], str | None]:
        """Oldest first (from ``since`` on), merged from every shard."""
        def shard_query(shard: int) -> dict[str, Any]:
            if since is None:
                return {"KeyConditionExpression": "PK = :pk",
                        "ExpressionAttributeValues": {":pk": self._partition(account_id, shard)}}
            return {"KeyConditionExpression": "PK = :pk AND SK >= :since",
                    "ExpressionAttributeValues": {":pk": self._partition(account_id, shard),
                                                  ":since": text(sortable(since))}}
        items, cursor = merged_page(self._db, self._table, JOIN_SHARDS, shard_query, ("PK", "SK"),
                                    lambda item: item["SK"]["S"], limit=limit, cursor=after)
        return read_all(items, lambda item: ContactEvent.from_dict(json.loads(item["data"]["S"])), "contact event"), cursor
