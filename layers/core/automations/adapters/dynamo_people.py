"""DynamoDB storage of users and agent groups, under PK=ACCOUNT#<a>:

    USER#<id>                          a user (its attributes, a version; GSI1: the users of a
                                       role, ACCOUNT#<a>#USERS#<role> by id; GSI2: the incremental
                                       user export, ACCOUNT#<a>#USER_UPDATES by last change)
    USER_EMAIL#<email>                 the guard that keeps emails unique (names the user)
    USER_EXTERNAL_ID#<external id>     the guard that keeps external ids unique
    USER_WORD#<word>#<id>              a word of the user's name, for name searches
    DELETED_USER#<id>                  a deleted user, for the export (GSI2 as a user's)
    COUNT#USERS#<shard>                how many users of each role (an attribute per role), the
                                       shard being the user id's (USER_COUNT_SHARDS)
    AGENT_GROUP#<id>                   an agent group (a JSON document: name and member ids)
    COUNTER#USERS, COUNTER#AGENT_GROUPS   the atomic id counters

A user, its guards, its words and its role's count are written in one transaction, so an email
or external id is never claimed twice, a search never finds a word of a name the user no longer
has, and the counts follow every write. The counts are sharded by user id so that concurrent
creates seldom meet on one item (transactions on one item cancel each other). A user stored
before the role index has no GSI1 keys and is not counted (the migration USER_ROLE_INDEX gives it
both); until it has finished, a write of a user reads whether it has them, and one without is
counted from nothing (conditional on their absence, so the migration and the write never both
count it).

An agent group's members live in the group item rather than in one item per member: "the members
of group g" is then one GetItem, and replacing a membership (PATCH ``user_ids``) is one
conditional write, so two concurrent replacements cannot interleave into a mix of both. A group
holds at most MAX_GROUP_MEMBERS ids, a few KB."""
from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from automations.adapters import migration_state
from automations.adapters.records import read_all
from automations.adapters.numbered_documents import NumberedDocuments, dated
from automations.adapters.account_table import AccountTable
from automations.adapters.table import number, text
from automations.clock import sortable
from automations.domain.user import AgentGroup, DeletedUser, Role, User, name_words
from automations.store_refusals import MAX_TRANSACTION_ITEMS, StaleWrite

_USER_IDS = "COUNTER#USERS"
_COUNTS = "COUNT#USERS#"
USER_COUNT_SHARDS = 8


def _agent_group(account_id: str, doc: dict[str, Any], version: int) -> AgentGroup:
    return AgentGroup(**{**dated(doc), "user_ids": tuple(doc["user_ids"])}, account_id=account_id, version=version)


def agent_group_store(client, table: str) -> NumberedDocuments[AgentGroup]:
    return NumberedDocuments(client, table, prefix="AGENT_GROUP#", counter="AGENT_GROUPS", load=_agent_group)


def _role_family(account_id: str, role: Role) -> str:
    return f"ACCOUNT#{account_id}#USERS#{role.value}"


def _optional(item: dict[str, Any], name: str) -> str | None:
    return item[name]["S"] if name in item else None


class DynamoUserStore(AccountTable):
    """Users by id; by email and external id through their guards (consistent reads); by the
    words of their names; and in the order they last changed (GSI2)."""

    def _key(self, account_id: str, user_id: int, prefix: str = "USER#") -> dict[str, Any]:
        return self._account_key(account_id, f"{prefix}{user_id:012d}")

    def _guard_key(self, account_id: str, kind: str, value: str) -> dict[str, Any]:
        return self._account_key(account_id, f"USER_{kind.upper()}#{value}")

    def _word_key(self, account_id: str, word: str, user_id: int) -> dict[str, Any]:
        return self._account_key(account_id, f"USER_WORD#{word}#{user_id:012d}")

    @staticmethod
    def _user(account_id: str, item: dict[str, Any]) -> User:
        return User(account_id=account_id, id=int(item["user_id"]["N"]), name=item["name"]["S"],
                    email=_optional(item, "email"), role=Role(item["role"]["S"]),
                    created_at=datetime.fromisoformat(item["created_at"]["S"]),
                    external_id=_optional(item, "external_id"),
                    updated_at=datetime.fromisoformat(item["updated_at"]["S"]) if "updated_at" in item else None,
                    version=int(item["version"]["N"]) if "version" in item else 0)

    def _item(self, user: User, version: int) -> dict[str, Any]:
        item = {**self._key(user.account_id, user.id), "user_id": number(user.id), "name": text(user.name),
                "role": text(user.role.value), "created_at": text(user.created_at.isoformat()),
                "version": number(version), "GSI1PK": text(_role_family(user.account_id, user.role)),
                "GSI1SK": text(f"{user.id:012d}"), "GSI2PK": text(f"ACCOUNT#{user.account_id}#USER_UPDATES"),
                "GSI2SK": text(f"{sortable(user.changed_at)}#{user.id:012d}")}
        for name in ("email", "external_id"):
            if getattr(user, name) is not None:
                item[name] = text(getattr(user, name))
        if user.updated_at is not None:
            item["updated_at"] = text(user.updated_at.isoformat())
        return item

    @staticmethod
    def _claims(user: User) -> dict[str, str]:
        return {kind: getattr(user, kind) for kind in ("email", "external_id") if getattr(user, kind) is not None}

    def _claim(self, user: User, kind: str, value: str) -> tuple[str, dict[str, Any]]:
        guard = {**self._guard_key(user.account_id, kind, value), "user_id": number(user.id)}
        return kind, {"Put": {"TableName": self._table, "Item": guard, "ConditionExpression": "attribute_not_exists(PK)"}}

    def _release(self, user: User, kind: str, value: str) -> tuple[str, dict[str, Any]]:
        """Free a guard only while it names the user, so a retry never frees another user's."""
        return kind, {"Delete": {"TableName": self._table, "Key": self._guard_key(user.account_id, kind, value),
                                 "ConditionExpression": "user_id = :id",
                                 "ExpressionAttributeValues": {":id": number(user.id)}}}

    def _words(self, user: User, words: Sequence[str], put: bool) -> list[tuple[str, dict[str, Any]]]:
        keys = [self._word_key(user.account_id, w, user.id) for w in words]
        if put:
            return [("word", {"Put": {"TableName": self._table, "Item": {**k, "user_id": number(user.id)}}}) for k in keys]
        return [("word", {"Delete": {"TableName": self._table, "Key": k}}) for k in keys]

    def _version_check(self, user: User, indexed: bool = True) -> dict[str, Any]:
        """The condition of a write of ``user`` read at its version, with its role keys (``indexed``) or not."""
        unindexed = "" if indexed else " AND attribute_not_exists(GSI1PK)"
        if user.version == 0:  # stored before users had versions
            return {"ConditionExpression": "attribute_exists(PK) AND attribute_not_exists(version)" + unindexed}
        return {"ConditionExpression": "version = :v" + unindexed, "ExpressionAttributeValues": {":v": number(user.version)}}

    def _role_indexed(self, user: User) -> bool:
        """Whether ``user`` has its role keys and is counted: always once the migration that gives
        them to the users of before has finished; else as its item says (a changed item: the write
        conditional on its version fails anyway)."""
        if migration_state.finished(self._db, self._table, migration_state.USER_ROLE_INDEX):
            return True
        item = self._db.get_item(TableName=self._table, Key=self._key(user.account_id, user.id),
                                 ConsistentRead=True, ProjectionExpression="version, GSI1PK").get("Item")
        return not item or "GSI1PK" in item or int(item.get("version", {"N": "0"})["N"]) != user.version

    def index_role(self, item: dict[str, Any]) -> bool:
        """Give a user's item stored before the role index its role keys and count it, in one
        transaction conditional on its version and the keys' absence; whether it did (False: it
        has them, or changed or was deleted meanwhile, or is unreadable: logged and counted, left as it is)."""
        if "GSI1PK" in item:
            return False
        readable = read_all([item], functools.partial(self._user, item["PK"]["S"].removeprefix("ACCOUNT#")), "user")
        if not readable:
            return False
        [user] = readable
        check = self._version_check(user, indexed=False)
        keys = {":pk": text(_role_family(user.account_id, user.role)), ":sk": text(f"{user.id:012d}")}
        try:
            self.transact_tagged([
                ("user", {"Update": {"TableName": self._table, "Key": self._key(user.account_id, user.id),
                                     "UpdateExpression": "SET GSI1PK = :pk, GSI1SK = :sk", **check,
                                     "ExpressionAttributeValues": {**check.get("ExpressionAttributeValues", {}), **keys}}}),
                self._count(user, {user.role: 1})])
        except StaleWrite:
            return False
        return True

    def _count(self, user: User, deltas: dict[Role, int]) -> tuple[str, dict[str, Any]]:
        """Move the counts of the user's shard by ``deltas`` (per role)."""
        return self._shard_count(user.account_id, user.id % USER_COUNT_SHARDS, deltas)

    def _shard_count(self, account_id: str, shard: int, deltas: dict[Role, int]) -> tuple[str, dict[str, Any]]:
        moves = [(f"#r{i}", role.value, f":d{i}", delta) for i, (role, delta) in enumerate(deltas.items())]
        return "count", {"Update": {
            "TableName": self._table, "Key": self._account_key(account_id, f"{_COUNTS}{shard}"),
            "UpdateExpression": "ADD " + ", ".join(f"{name} {value}" for name, _, value, _ in moves),
            "ExpressionAttributeNames": {name: role for name, role, _, _ in moves},
            "ExpressionAttributeValues": {value: number(delta) for _, _, value, delta in moves}}}

    # -- reading ---------------------------------------------------------------------------------
    def allocate_id(self, account_id: str) -> int:
        return self._next_id(self._account_key(account_id, _USER_IDS))

    def allocate_ids(self, account_id: str, count: int) -> range:
        return self._next_ids(self._account_key(account_id, _USER_IDS), count)

    def get(self, account_id: str, user_id: int) -> User | None:
        item = self._db.get_item(TableName=self._table, Key=self._key(account_id, user_id),
                                 ConsistentRead=True).get("Item")
        return self._user(account_id, item) if item else None

    def _owner(self, account_id: str, kind: str, value: str) -> int | None:
        guard = self._db.get_item(TableName=self._table, Key=self._guard_key(account_id, kind, value),
                                  ConsistentRead=True).get("Item")
        return int(guard["user_id"]["N"]) if guard else None

    def _find(self, account_id: str, kind: str, value: str) -> User | None:
        owner = self._owner(account_id, kind, value)
        return None if owner is None else self.get(account_id, owner)

    def find_by_email(self, account_id: str, email: str) -> User | None:
        return self._find(account_id, "email", email)

    def find_by_external_id(self, account_id: str, external_id: str) -> User | None:
        return self._find(account_id, "external_id", external_id)

    def ids_by_email(self, account_id: str, emails: Sequence[str]) -> dict[str, int]:
        """From the email guards alone: each is written and freed in its user's transactions."""
        guards = self.batch_get([self._guard_key(account_id, "email", email) for email in dict.fromkeys(emails)],
                                ConsistentRead=True, ProjectionExpression="SK, user_id")
        return {guard["SK"]["S"].removeprefix("USER_EMAIL#"): int(guard["user_id"]["N"]) for guard in guards}

    def ids_by_word(self, account_id: str, start: str, limit: int) -> tuple[list[int], bool]:
        """Ids of users with a word of their name starting with ``start``, by word, and whether
        more follow."""
        items, _ = self.query({"KeyConditionExpression": "PK = :pk AND begins_with(SK, :prefix)",
                               "ExpressionAttributeValues": {":pk": text(f"ACCOUNT#{account_id}"),
                                                             ":prefix": text(f"USER_WORD#{start}")},
                               "ProjectionExpression": "user_id"}, limit + 1)
        return list(dict.fromkeys(int(i["user_id"]["N"]) for i in items[:limit])), len(items) > limit

    def list_page(self, account_id: str, limit: int, exclusive_start: int | None = None, *, role: Role | None = None,
                  descending: bool = False, offset: int = 0) -> tuple[list[User], int | None]:
        """Up to ``limit`` users (of ``role``, when given) in id order after the user id
        ``exclusive_start``, the first ``offset`` of them skipped; and the id to continue after
        (None when none are left). A role's users are read from GSI1: eventually consistent."""
        if role is None:
            query = {"KeyConditionExpression": "PK = :pk AND begins_with(SK, :prefix)",
                     "ExpressionAttributeValues": {":pk": text(f"ACCOUNT#{account_id}"), ":prefix": text("USER#")}}
        else:
            query = {"IndexName": "GSI1", "KeyConditionExpression": "GSI1PK = :pk",
                     "ExpressionAttributeValues": {":pk": text(_role_family(account_id, role))}}
        start = None
        if exclusive_start is not None:
            start = self._key(account_id, exclusive_start)
            if role is not None:
                start.update(GSI1PK=text(_role_family(account_id, role)), GSI1SK=text(f"{exclusive_start:012d}"))
        items, more = self.ordered_page(query, start, limit, descending=descending, offset=offset)
        users = [self._user(account_id, item) for item in items]
        return users, users[-1].id if more else None

    def count(self, account_id: str, roles: Sequence[Role]) -> int:
        """How many users of the account have one of ``roles`` (every shard's counts summed)."""
        items = self.query_all({"KeyConditionExpression": "PK = :pk AND begins_with(SK, :prefix)",
                                "ExpressionAttributeValues": {":pk": text(f"ACCOUNT#{account_id}"),
                                                              ":prefix": text(_COUNTS)}})
        return sum(int(item[role.value]["N"]) for item in items for role in roles if role.value in item)

    def get_many(self, account_id: str, user_ids: Sequence[int]) -> dict[int, User]:
        """The users that exist among ``user_ids``, by id (consistent reads, 100 keys a call)."""
        items = self.batch_get([self._key(account_id, i) for i in dict.fromkeys(user_ids)], ConsistentRead=True)
        return {user.id: user for user in (self._user(account_id, item) for item in items)}

    def updated_since(self, account_id: str, position: str, limit: int, *, inclusive: bool, max_bytes: int,
                      until: str | None = None) -> tuple[list[tuple[str, User | DeletedUser]], bool]:
        """Users, deleted ones too, in the order they last changed (see AccountTable.changes)."""
        def read(item: dict[str, Any]) -> User | DeletedUser:
            user = self._user(account_id, item)
            if item["SK"]["S"].startswith("DELETED_"):
                return DeletedUser(user, datetime.fromisoformat(item["deleted_at"]["S"]))
            return user
        return self.changes([f"ACCOUNT#{account_id}#USER_UPDATES"], read, position, limit, inclusive=inclusive,
                            max_bytes=max_bytes, until=until)

    # -- writing ---------------------------------------------------------------------------------
    def add(self, user: User, also: Sequence[tuple[str, dict[str, Any]]] = ()) -> User:
        """Store a new user with its guards and words; when its email is taken, the user stored
        under it instead (nothing is written). StaleWrite names what else failed: "external_id"
        (taken), "user" (the id is), or the caller's tags."""
        try:
            self.transact_tagged([*also, *self._new_items(user), self._count(user, {user.role: 1})])
        except StaleWrite as stale:
            if user.email is not None and "email" in stale.args:
                owner = self._find(user.account_id, "email", user.email)
                if owner is not None:
                    return owner
            raise
        return user

    def add_many(self, users: Sequence[User]) -> list[User]:
        """Store new users several to a transaction, each with its guards and words, the counts
        moved once per shard a write touches; the users stored. A write that fails (an email or
        external id claimed meanwhile, a concurrent transaction) stores none of its users: the
        caller adds those one by one."""
        stored: list[User] = []
        for group in self._groups(users):
            counts: dict[int, Counter[Role]] = {}
            for user in group:
                counts.setdefault(user.id % USER_COUNT_SHARDS, Counter())[user.role] += 1
            try:
                self.transact_tagged([*(item for user in group for item in self._new_items(user)),
                                *(self._shard_count(group[0].account_id, shard, dict(deltas))
                                  for shard, deltas in counts.items())])
            except StaleWrite:
                continue
            stored += group
        return stored

    def _new_items(self, user: User) -> list[tuple[str, dict[str, Any]]]:
        """A new user's own items: the user (at version 1), its guards and its words."""
        return [("user", {"Put": {"TableName": self._table, "Item": self._item(user, 1),
                                  "ConditionExpression": "attribute_not_exists(PK)"}}),
                *[self._claim(user, kind, value) for kind, value in self._claims(user).items()],
                *self._words(user, name_words(user.name), put=True)]

    def _groups(self, users: Sequence[User]) -> list[list[User]]:
        """New users grouped into transactions DynamoDB takes: their own items and one count per shard."""
        groups: list[list[User]] = [[]]
        items, shards = 0, set()
        for user in users:
            own, shard = 1 + len(self._claims(user)) + len(name_words(user.name)), user.id % USER_COUNT_SHARDS
            if groups[-1] and items + own + len(shards | {shard}) > MAX_TRANSACTION_ITEMS:
                groups.append([])
                items, shards = 0, set()
            groups[-1].append(user)
            items, shards = items + own, shards | {shard}
        return [group for group in groups if group]

    def replace(self, old: User, new: User, also: Sequence[tuple[str, dict[str, Any]]] = ()) -> User:
        """Swap ``old`` (at its version) for ``new``, moving the guards and words that change;
        StaleWrite names what failed ("user": changed meanwhile; "email"/"external_id": taken)."""
        indexed = self._role_indexed(old)
        put = {"TableName": self._table, "Item": self._item(new, old.version + 1), **self._version_check(old, indexed)}
        items = [*also, ("user", {"Put": put})]
        before, after = self._claims(old), self._claims(new)
        for kind in ("email", "external_id"):
            if before.get(kind) != after.get(kind):
                if kind in before:  # its guard names the user while the user is at its version
                    items.append(("user", self._release(old, kind, before[kind])[1]))
                if kind in after:
                    items.append(self._claim(new, kind, after[kind]))
        old_words, new_words = name_words(old.name), name_words(new.name)
        items += self._words(old, [w for w in old_words if w not in new_words], put=False)
        items += self._words(new, [w for w in new_words if w not in old_words], put=True)
        if not indexed:
            items.append(self._count(new, {new.role: 1}))
        elif old.role is not new.role:
            items.append(self._count(new, {old.role: -1, new.role: 1}))
        self.transact_tagged(items)
        return replace(new, version=old.version + 1)

    def delete(self, user: User, deleted_at: datetime, also: Sequence[tuple[str, dict[str, Any]]] = ()) -> None:
        """Remove the user (at its version), free its guards and words, and leave a deleted user
        for the export; StaleWrite when it changed meanwhile."""
        gone = {**self._item(replace(user, updated_at=deleted_at), user.version),
                **self._key(user.account_id, user.id, "DELETED_USER#"), "deleted_at": text(deleted_at.isoformat())}
        del gone["GSI1PK"], gone["GSI1SK"]  # out of its role's users
        indexed = self._role_indexed(user)
        self.transact_tagged([
            *also,
            ("user", {"Delete": {"TableName": self._table, "Key": self._key(user.account_id, user.id),
                                 **self._version_check(user, indexed)}}),
            ("deleted", {"Put": {"TableName": self._table, "Item": gone}}),
            *[("user", self._release(user, kind, value)[1]) for kind, value in self._claims(user).items()],
            *self._words(user, name_words(user.name), put=False),
            *([self._count(user, {user.role: -1})] if indexed else []),
        ])
