"""Users (agents and end-users) and agent groups, the people tickets and notifications name.

Zendesk's rules: emails are unique per account, and only agents belong to groups, so a
``notification_group`` never emails a customer. An agent deleted or turned into an end-user
leaves its groups. A group write checks its new members, writes, then checks them again: a member
deleted or demoted between the check and the write (whose own clean-up may have run first) is
taken out again. The clean-up lists groups with an eventually consistent read, so a group written
in the same instant as a deletion may still show the old id; deliveries never reach it, as they
read members through ``members``, which keeps only users who are agents now."""
from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from automations import clock
from automations.domain.person import normalize_email, required_name
from automations.domain.user import (
    MAX_EXTERNAL_ID, MAX_GROUP_MEMBERS, AgentGroup, DeletedUser, Role, User, matches_words, name_words,
)
from automations.errors import (
    Conflict, DomainError, Duplicate, FieldError, MalformedRequest, NotFound, Problems, ValidationFailed, found,
    is_throttle,
)
from automations.paging import CursorPage, OffsetPage, encode_cursor
from automations.service.numbered import NumberedService
from automations.service.record_pages import (
    MAX_EXPORT_PAGE, ExportPage, cursor_by_id, cursor_id, export_page, offset_by_id,
)
from automations.store_refusals import StaleWrite

if TYPE_CHECKING:
    from automations.ports import NumberedStore, UserStore

_MAX_USER_ID = 10 ** 12 - 1  # user keys are 12 digits wide
_ROLES = ", ".join(r.value for r in Role)
_ROLE_VALUES = frozenset(r.value for r in Role)


def _role(value: Any, problems: Problems) -> Role:
    try:
        return Role(value)
    except ValueError:
        problems.add("role", f"Role: must be one of {_ROLES}")
        return Role.AGENT


def _taken(kind: str, value: Any, owner: User) -> Duplicate:
    return Duplicate(f"A user with {kind.replace('_', ' ')} {value} already exists (id {owner.id})",
                     field=kind, value=str(value), noun="user")


# -- agent groups ---------------------------------------------------------------------------------
class AgentGroupService(NumberedService[AgentGroup]):
    """Groups of agents (Zendesk's groups), named by tickets' ``group_id`` and by
    ``notification_group`` actions. Not the contact side's lists (service/contacts.py)."""

    noun = "group"

    def __init__(self, store: NumberedStore[AgentGroup], users: UserStore) -> None:
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
    (requesters). Tickets also create users, found or created by email (``find_or_create_user``).

    Writable: ``name`` (required), ``email`` (optional: an end-user may have only a name),
    ``role`` and ``external_id``; an email and an external id each belong to one user of the
    account (Duplicate otherwise)."""

    def __init__(self, store: UserStore, groups: AgentGroupService) -> None:
        self._store = store
        self._groups = groups

    # -- reading ---------------------------------------------------------------------------------
    def get(self, account_id: str, user_id: int) -> User:
        return found(self._store.get(account_id, user_id) if _is_user_id(user_id) else None, f"user {user_id}")

    def find_by_email(self, account_id: str, email: str) -> User | None:
        return self._store.find_by_email(account_id, email.strip().lower())

    def find_external(self, account_id: str, external_id: Any) -> User:
        """The user with that external id; NotFound when there is none."""
        found = self._store.find_by_external_id(account_id, str(external_id)) \
            if isinstance(external_id, (str, int)) and not isinstance(external_id, bool) else None
        if found is None:
            raise NotFound(f"no user with external id {str(external_id)[:40]}")
        return found

    def get_many(self, account_id: str, user_ids: Sequence[int]) -> list[User]:
        """Those of the users that exist, in the order asked for."""
        found = self._store.get_many(account_id, [i for i in user_ids if _is_user_id(i)])
        return [found[i] for i in dict.fromkeys(user_ids) if i in found]

    def me(self, account_id: str, email: str) -> User:
        """The caller: the API key owner's user, an agent, made on first use as tickets make it."""
        return find_or_create_user(self._store, account_id, email, None, Role.AGENT)

    def page(self, account_id: str, *, cursor: str | None = None, limit: int = 50) -> tuple[list[User], str | None]:
        """Users in id order, a page at a time, and the next page's cursor."""
        users, last = self._store.list_page(account_id, limit, None if cursor is None else cursor_id(cursor))
        return users, None if last is None else encode_cursor([last])

    def list_page(self, account_id: str, page: int, per_page: int, *,
                  roles: Sequence[str] = ()) -> OffsetPage[User]:
        """Users by id (those of ``roles``, when given), offset paginated; only the first
        MAX_OFFSET_RECORDS can be reached, as in Zendesk."""
        wanted = _wanted_roles(roles)
        if not wanted:
            return OffsetPage([], page, per_page, 0)
        fetch = functools.partial(self._store.list_page, account_id, role=_one_role(wanted))
        return offset_by_id(fetch, lambda: self._store.count(account_id, wanted), page, per_page, "users")

    def list_cursor(self, account_id: str, size: int, *, after: str | None = None, before: str | None = None,
                    roles: Sequence[str] = ()) -> CursorPage[User]:
        """Users by id (those of ``roles``, when given); ``has_more`` tells whether more lie in
        the direction of travel."""
        wanted = _wanted_roles(roles)
        if not wanted:
            return CursorPage([], False, None, None)
        fetch = functools.partial(self._store.list_page, account_id, role=_one_role(wanted))
        return cursor_by_id(fetch, size, after=after, before=before)

    def search(self, account_id: str, query: str) -> list[User]:
        """Zendesk's user search: ``email:<address>``, ``external_id:<id>``, ``name:<words>``, or
        plain text, which finds the user with that email or external id and the users each of
        whose words starts a word of their name. By id; at most MAX_SEARCH_RESULTS."""
        field, _, value = query.strip().partition(":")
        if field.lower() in ("email", "external_id", "name") and value.strip():
            fields, text = (field.lower(),), value.strip()
        else:
            fields, text = ("email", "external_id", "name"), query.strip()
        found: dict[int, User] = {}
        if "email" in fields and (email := normalize_email(text)) is not None:
            found.update({u.id: u for u in [self._store.find_by_email(account_id, email)] if u})
        if "external_id" in fields and len(text) <= MAX_EXTERNAL_ID:
            found.update({u.id: u for u in [self._store.find_by_external_id(account_id, text)] if u})
        if "name" in fields and (words := name_words(text)):
            ids, _ = self._store.ids_by_word(account_id, max(words, key=len), MAX_SEARCH_RESULTS)
            named = self._store.get_many(account_id, ids)
            found.update({i: u for i, u in named.items() if matches_words(u, words)})
        return [found[i] for i in sorted(found)][:MAX_SEARCH_RESULTS]

    def changed_since(self, account_id: str, *, start: datetime | None = None, cursor: str | None = None,
                      limit: int = MAX_EXPORT_PAGE, by_second: bool = False) -> ExportPage:
        """Zendesk's incremental user export, deleted users too (see record_pages' ``export_page``)."""
        return export_page(functools.partial(self._store.updated_since, account_id), user_changed_at, start=start,
                           cursor=cursor, limit=limit, by_second=by_second)

    # -- writing ---------------------------------------------------------------------------------
    def reserve_ids(self, account_id: str, count: int) -> range:
        """User ids for creates to come (a bulk job's), so that doing one twice makes one user."""
        return self._store.allocate_ids(account_id, count)

    def create(self, account_id: str, values: Any, *, default_role: Role = Role.END_USER, user_id: int | None = None,
               also: Sequence[Any] = ()) -> User:
        """``values``: name, email, role (``default_role`` when not given), external_id. Duplicate
        when the email or external id is another user's. ``user_id``: one reserved for it; ``also``:
        the caller's writes, committed with the user's."""
        fields = _checked(values, None, default_role)
        now = clock.now()
        user = User(account_id=account_id, id=0, created_at=now, updated_at=now, **fields)
        self._not_taken(user)  # the common case, before an id is spent
        user = replace(user, id=user_id or self._store.allocate_id(account_id))
        try:
            stored = self._store.add(user, also)
        except StaleWrite as stale:
            raise _conflict(stale, user) from None
        if stored.id != user.id:  # the email guard decides between concurrent creates
            raise _taken("email", user.email, stored)
        return stored

    def update(self, account_id: str, user_id: int, changes: Any, *, also: Sequence[Any] = ()) -> User:
        """The attributes given; an agent made an end-user leaves its groups. No write (``also``
        included) when nothing changes."""
        for _ in range(_WRITE_ATTEMPTS):
            old = self.get(account_id, user_id)
            fields = _checked(changes, old, old.role)
            if all(getattr(old, k) == v for k, v in fields.items()):
                return old
            new = replace(old, **fields, updated_at=clock.now())
            self._not_taken(new)
            try:
                stored = self._store.replace(old, new, also)
            except StaleWrite as stale:
                if set(stale.args) & {"email", "external_id"}:
                    raise _conflict(stale, new) from None
                continue  # changed meanwhile: again from a fresh read
            if old.role is Role.AGENT and stored.role is not Role.AGENT:
                self._groups.remove_user(account_id, user_id)
            return stored
        raise Conflict(f"user {user_id} was changed by another request; try again")

    def create_or_update(self, account_id: str, values: Any, *, user_id: int | None = None,
                         also: Callable[[bool, int], Sequence[Any]] | None = None) -> tuple[User, bool]:
        """Zendesk's create_or_update: the user with the external id given, else with the email
        given, updated; else a new user (``user_id``: one reserved for it). Whether it was created.
        ``also(created, user id)``: the caller's writes, committed with the user's (a bulk job's
        result; needs ``user_id``)."""
        for _ in range(_WRITE_ATTEMPTS):
            existing = self._identified(account_id, values)
            if existing is not None:
                return self.update(account_id, existing.id, values,
                                   also=also(False, existing.id) if also else ()), False
            try:
                return self.create(account_id, values, user_id=user_id,
                                   also=also(True, user_id) if also and user_id is not None else ()), True
            except Conflict:
                continue  # created meanwhile by another request: update it
        raise Conflict("The user is being changed by other requests; try again")

    def delete(self, account_id: str, user_id: int, *, also: Sequence[Any] = ()) -> DeletedUser:
        """The user, as deleted. Tickets keep the id (their notifications to it then reach
        nobody); groups drop it; its email and external id are free again."""
        for _ in range(_WRITE_ATTEMPTS):
            user, now = self.get(account_id, user_id), clock.now()
            try:
                self._store.delete(user, now, also)
            except StaleWrite:
                continue
            self._groups.remove_user(account_id, user_id)
            return DeletedUser(user, now)
        raise Conflict(f"user {user_id} was changed by another request; try again")

    def _identified(self, account_id: str, values: Any) -> User | None:
        if not isinstance(values, Mapping):
            return None
        external_id, email = values.get("external_id"), values.get("email")
        if isinstance(external_id, (str, int)) and not isinstance(external_id, bool) \
                and (found := self._store.find_by_external_id(account_id, str(external_id))):
            return found
        clean = normalize_email(email) if isinstance(email, str) else None
        return self._store.find_by_email(account_id, clean) if clean else None

    def _not_taken(self, user: User) -> None:
        """Duplicate when the user's email or external id is another user's."""
        for kind, find in (("email", self._store.find_by_email), ("external_id", self._store.find_by_external_id)):
            value = getattr(user, kind)
            owner = find(user.account_id, value) if value is not None else None
            if owner is not None and owner.id != user.id:
                raise _taken(kind, value, owner)


MAX_SEARCH_RESULTS = 1000  # as Zendesk's search: at most 1,000 results
_WRITE_ATTEMPTS = 3


def user_changed_at(user: User | DeletedUser) -> datetime:
    """When a user last changed (was deleted, for a deleted one): its place in the export."""
    return user.deleted_at if isinstance(user, DeletedUser) else user.changed_at


def _wanted_roles(roles: Sequence[str]) -> list[Role]:
    """The roles a list is filtered to: every role when none is named. Zendesk's ``admin``, a
    role no user here has, matches nobody; any other unknown role is refused."""
    unknown = [r for r in roles if r not in _ROLE_VALUES and r != "admin"]
    if unknown:
        raise MalformedRequest(f"role must be one of end-user, agent, admin (not {unknown[0][:40]})",
                               kind="invalid_value", parameter="role")
    return [r for r in Role if r.value in roles] if roles else list(Role)


def _one_role(roles: Sequence[Role]) -> Role | None:
    """The role to read the users of, or None to read them all: with two roles, a filter wants
    one of them or both."""
    return None if set(roles) == set(Role) else roles[0]


def _is_user_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value <= _MAX_USER_ID


def _checked(values: Any, old: User | None, default_role: Role) -> dict[str, Any]:
    """The writable attributes of ``values`` checked (every problem at once): all of them for a
    new user (``old`` None), those given for a change. Other keys are ignored, as Zendesk does."""
    if not isinstance(values, Mapping):
        raise ValidationFailed([FieldError("base", "The user must be a JSON object")])
    problems = Problems()
    fields: dict[str, Any] = {}
    if old is None or "name" in values:
        fields["name"] = required_name(values.get("name"), "Name", problems)
    if old is None or "role" in values:  # null: the default for a new user, refused in a change
        role = values.get("role")
        fields["role"] = _role(default_role if role is None and old is None else role, problems)
    if old is None or "email" in values:
        email = values.get("email")
        fields["email"] = normalize_email(email) if isinstance(email, str) and email.strip() else None
        if email not in (None, "") and fields["email"] is None:
            problems.add("email", "Email: is not a valid email address")
    if old is None or "external_id" in values:
        external_id = values.get("external_id")
        if isinstance(external_id, int) and not isinstance(external_id, bool):
            external_id = str(external_id)
        if external_id is not None and (not isinstance(external_id, str) or len(external_id) > MAX_EXTERNAL_ID):
            problems.add("external_id", f"External id: must be a string of at most {MAX_EXTERNAL_ID} characters")
        fields["external_id"] = external_id or None
    problems.raise_if_any()
    return fields


def _conflict(stale: StaleWrite, user: User) -> Conflict:
    for kind in ("email", "external_id"):
        if kind in stale.args:  # claimed by another user between the check and the write
            value = getattr(user, kind)
            return Duplicate(f"A user with {kind.replace('_', ' ')} {value} was just created or changed by another "
                             "request", field=kind, value=str(value), noun="user")
    return Conflict(f"user {user.id} was changed by another request; try again")


def find_or_create_user(users: UserStore, account_id: str, email: str, name: str | None, role: Role) -> User:
    """The account's user with ``email``, created (with ``role``) when there is none."""
    email = email.strip().lower()
    return users.find_by_email(account_id, email) or _added(
        users, _new_user(account_id, users.allocate_id(account_id), email, name, role))


def find_or_create_user_ids(users: UserStore, account_id: str, people: Mapping[str, str | None], role: Role
                            ) -> dict[str, int | DomainError]:
    """The ids of the account's users with the emails of ``people`` (normalized email -> name),
    those not found created together (with ``role``); for one that could not be, the error why
    (a throttle is raised: it refuses none)."""
    found: dict[str, int | DomainError] = dict(users.ids_by_email(account_id, list(people)))
    missing = [email for email in people if email not in found]
    if not missing:
        return found
    new = [_new_user(account_id, user_id, email, people[email], role)
           for email, user_id in zip(missing, users.allocate_ids(account_id, len(missing)))]
    stored = {user.email for user in users.add_many(new)}
    for user in new:
        try:  # those of a write that lost a race, alone (one made meanwhile by another request is found)
            found[user.email] = (user if user.email in stored else _added(users, user)).id
        except DomainError as error:
            if is_throttle(error):
                raise  # a delay, not this requester's refusal
            found[user.email] = error
    return found


def _new_user(account_id: str, user_id: int, email: str, name: str | None, role: Role) -> User:
    return User(account_id=account_id, id=user_id, name=name or email.split("@")[0], email=email, role=role,
                created_at=clock.now())


def _added(users: UserStore, user: User) -> User:
    """``user`` stored, or the user stored under its email meanwhile."""
    try:
        return users.add(user)
    except StaleWrite:
        raise Conflict(f"The user {user.email} is being created by another request; try again") from None
