"""Users (agents and end-users) and agent groups, the people tickets and notifications name.

Zendesk's rules: emails are unique per account, and only agents belong to groups, so a
``notification_group`` never emails a customer. An agent deleted or turned into an end-user
leaves its groups. A group write checks its new members, writes, then checks them again: a member
deleted or demoted between the check and the write (whose own clean-up may have run first) is
taken out again. The clean-up lists groups with an eventually consistent read, so a group written
in the same instant as a deletion may still show the old id; deliveries never reach it, as they
read members through ``members``, which keeps only users who are agents now."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Protocol

from automations import clock
from automations.domain.contacts import normalize_email, required_name
from automations.domain.user import MAX_GROUP_MEMBERS, Role, User
from automations.errors import Conflict, NotFound, Problems
from automations.paging import encode_cursor
from automations.ports import NumberedStore, StaleWrite, UserStore
from automations.service.contacts import NumberedService
from automations.service.tickets import cursor_id, find_or_create_user

_MAX_USER_ID = 10 ** 12 - 1  # user keys are 12 digits wide
_ROLES = ", ".join(r.value for r in Role)


class PeopleUserStore(UserStore, Protocol):
    def page(self, account_id: str, limit: int, after: int | None = None) -> tuple[list[User], int | None]: ...

    def get_many(self, account_id: str, user_ids: Sequence[int]) -> dict[int, User]: ...

    def update(self, account_id: str, user_id: int, *, name: str, role: Role) -> User | None: ...

    def delete(self, user: User) -> None:
        """Raises StaleWrite when the email guard no longer names the user."""


@dataclass(frozen=True)
class AgentGroup:
    account_id: str
    id: int
    name: str
    user_ids: tuple[int, ...]  # ascending, agents of the account
    created_at: datetime
    updated_at: datetime
    version: int = 1


def _role(value: Any, problems: Problems) -> Role:
    try:
        return Role(value)
    except ValueError:
        problems.add("role", f"Role: must be one of {_ROLES}")
        return Role.AGENT


def _taken(email: str, owner: User) -> Conflict:
    return Conflict(f"A user with email {email} already exists (id {owner.id})")


# -- agent groups ---------------------------------------------------------------------------------
class AgentGroupService(NumberedService[AgentGroup]):
    """Groups of agents (Zendesk's groups), named by tickets' ``group_id`` and by
    ``notification_group`` actions. Not the contact side's lists (service/contacts.py)."""

    noun = "group"

    def __init__(self, store: NumberedStore[AgentGroup], users: PeopleUserStore) -> None:
        super().__init__(store)
        self._users = users

    def create(self, account_id: str, values: dict[str, Any]) -> AgentGroup:
        """``values``: name and user_ids (optional)."""
        group = self._create(account_id, lambda new_id, now: self._valid(account_id, values, AgentGroup(
            account_id=account_id, id=new_id, name="", user_ids=(), created_at=now, updated_at=now)))
        return self._recheck(group, group.user_ids)

    def update(self, account_id: str, group_id: int, changes: dict[str, Any]) -> AgentGroup:
        """``name`` and/or ``user_ids`` (the whole membership, replaced)."""
        before: dict[str, tuple[int, ...]] = {}

        def change(old: AgentGroup) -> AgentGroup:
            before["user_ids"] = old.user_ids
            return self._valid(account_id, changes, old)

        group = self._update(account_id, group_id, change)
        return self._recheck(group, [u for u in group.user_ids if u not in before["user_ids"]])

    def members(self, account_id: str, group_id: int) -> list[dict[str, Any]]:
        """The group's agents as deliveries address them ({"id", "name", "email"}); none for a
        group that does not exist."""
        group = self.find(account_id, group_id)
        if group is None:
            return []
        agents = self._agents(account_id, group.user_ids)
        return [{"id": u.id, "name": u.name, "email": u.email} for u in (agents.get(i) for i in group.user_ids) if u]

    def remove_user(self, account_id: str, user_id: int) -> None:
        """Take a deleted or demoted user out of every group it is in."""
        for group in self._store.list(account_id):
            if user_id in group.user_ids:
                self._without(account_id, group.id, [user_id])

    # -- rules ------------------------------------------------------------------------------------
    def _normalized(self, group: AgentGroup, problems: Problems) -> AgentGroup:
        return group  # checked by _valid, which knows the members the group had before

    def _valid(self, account_id: str, values: dict[str, Any], old: AgentGroup) -> AgentGroup:
        """``old`` with ``values`` applied, or ValidationFailed with every problem. Only members
        not already in ``old`` are looked up."""
        problems = Problems()
        name = required_name(values.get("name", old.name), "Name", problems)
        user_ids = self._member_ids(account_id, values.get("user_ids", old.user_ids), old.user_ids, problems)
        problems.raise_if_any()
        return replace(old, name=name, user_ids=user_ids)

    def _member_ids(self, account_id: str, raw: Any, known: tuple[int, ...], problems: Problems) -> tuple[int, ...]:
        if not isinstance(raw, (list, tuple)) or not all(
                isinstance(i, int) and not isinstance(i, bool) and 0 < i <= _MAX_USER_ID for i in raw):
            problems.add("user_ids", "User ids: must be a list of user ids")
            return ()
        ids = sorted(set(raw))
        if len(ids) > MAX_GROUP_MEMBERS:
            problems.add("user_ids", f"User ids: a group has at most {MAX_GROUP_MEMBERS} members")
            return ()
        had = set(known)
        new = [i for i in ids if i not in had]
        found = self._users.get_many(account_id, new)
        unknown = [str(i) for i in new if i not in found]
        end_users = [str(i) for i in new if i in found and found[i].role is not Role.AGENT]
        if unknown:
            problems.add("user_ids", f"User ids: no such users: {', '.join(unknown)}")
        if end_users:
            problems.add("user_ids",
                         f"User ids: only agents can be group members, not end-users: {', '.join(end_users)}")
        return tuple(ids)

    def _agents(self, account_id: str, user_ids: Sequence[int]) -> dict[int, User]:
        return {i: u for i, u in self._users.get_many(account_id, user_ids).items() if u.role is Role.AGENT}

    def _recheck(self, group: AgentGroup, added: Sequence[int]) -> AgentGroup:
        """Take out the members just added that were deleted or demoted since they were checked
        (their own clean-up may have run before this write landed)."""
        agents = self._agents(group.account_id, added)
        gone = [i for i in added if i not in agents]
        return (self._without(group.account_id, group.id, gone) or group) if gone else group

    def _without(self, account_id: str, group_id: int, user_ids: Sequence[int]) -> AgentGroup | None:
        leaving = set(user_ids)
        try:
            return self._update(account_id, group_id, lambda old: replace(
                old, user_ids=tuple(i for i in old.user_ids if i not in leaving)))
        except NotFound:
            return None  # the group was deleted meanwhile: nothing to leave


# -- users ------------------------------------------------------------------------------------------
class UserService:
    """The account's users: agents (who can be assigned tickets and join groups) and end-users
    (requesters). Tickets also create users, found or created by email (service/tickets.py)."""

    def __init__(self, store: PeopleUserStore, groups: AgentGroupService) -> None:
        self._store = store
        self._groups = groups

    def get(self, account_id: str, user_id: int) -> User:
        user = self._store.get(account_id, user_id) if 0 < user_id <= _MAX_USER_ID else None
        if user is None:
            raise NotFound(f"user {user_id} not found")
        return user

    def find_by_email(self, account_id: str, email: str) -> User | None:
        return self._store.find_by_email(account_id, email.strip().lower())

    def get_many(self, account_id: str, user_ids: Sequence[int]) -> list[User]:
        """Those of the users that exist, in the order asked for."""
        found = self._store.get_many(account_id, [i for i in user_ids if 0 < i <= _MAX_USER_ID])
        return [found[i] for i in dict.fromkeys(user_ids) if i in found]

    def me(self, account_id: str, email: str) -> User:
        """The caller: the API key owner's user, an agent, made on first use as tickets make it."""
        return find_or_create_user(self._store, account_id, email, None, Role.AGENT)

    def page(self, account_id: str, *, cursor: str | None = None, limit: int = 50) -> tuple[list[User], str | None]:
        """Users in id order, a page at a time, and the next page's cursor."""
        users, last = self._store.page(account_id, limit, None if cursor is None else cursor_id(cursor))
        return users, None if last is None else encode_cursor([last])

    def create(self, account_id: str, name: Any, email: Any, role: Any = Role.AGENT.value) -> User:
        """409 when the account has a user with that email (a requester included)."""
        problems = Problems()
        clean_name, clean_role = required_name(name, "Name", problems), _role(role, problems)
        clean_email = normalize_email(email) if isinstance(email, str) else None
        if clean_email is None:
            problems.add("email", "Email: is not a valid email address")
        problems.raise_if_any()
        if (existing := self._store.find_by_email(account_id, clean_email)) is not None:
            raise _taken(clean_email, existing)  # the common case, before an id is spent
        user = User(account_id=account_id, id=self._store.allocate_id(account_id), name=clean_name,
                    email=clean_email, role=clean_role, created_at=clock.now())
        try:
            stored = self._store.add(user)
        except StaleWrite:
            raise Conflict(f"The user {clean_email} is being created by another request; try again") from None
        if stored.id != user.id:  # the email guard decides between concurrent creates
            raise _taken(clean_email, stored)
        return stored

    def update(self, account_id: str, user_id: int, changes: dict[str, Any]) -> User:
        """``name`` and/or ``role``; an agent made an end-user leaves its groups."""
        old = self.get(account_id, user_id)
        problems = Problems()
        name = required_name(changes.get("name", old.name), "Name", problems)
        role = _role(changes.get("role", old.role), problems)
        problems.raise_if_any()
        if (name, role) == (old.name, old.role):
            return old
        new = self._store.update(account_id, user_id, name=name, role=role)
        if new is None:
            raise NotFound(f"user {user_id} not found")
        if "role" in changes and new.role is not Role.AGENT:
            self._groups.remove_user(account_id, user_id)
        return new

    def delete(self, account_id: str, user_id: int) -> None:
        """Tickets keep the id (their notifications to it then reach nobody); groups drop it."""
        try:
            self._store.delete(self.get(account_id, user_id))
        except StaleWrite:
            raise Conflict(f"user {user_id} was changed by another request; try again") from None
        self._groups.remove_user(account_id, user_id)
