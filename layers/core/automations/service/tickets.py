"""Ticket use cases: drafts its surface read (surfaces/zendesk_tickets.py) checked against the
account (the requester found or created by email; what a draft found wrong raised with the
service's own problems, every one at once), and each change written with its audit under
optimistic locking (a lost race is retried from a fresh read).

Who changes a ticket: an API caller is an agent, the owner of the API key, found or created as an
agent user by email. That user is the audit's author and, unless the request names others, the
ticket's requester and submitter. Zendesk derives ``requester_updated_at`` and
``assignee_updated_at`` from the author; since API updates are made by an agent, an update
through the API of a ticket that has an assignee sets ``assignee_updated_at`` (creation does not,
nor does an update that changes nothing)."""
from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from automations import clock
from automations.domain.audit import API, Audit
from automations.domain.ticket import MAX_TICKET_TAGS, DeletedTicket, Ticket, TicketDraft, normalize_tags, sweep_shard
from automations.domain.user import Role, User
from automations.errors import (Conflict, DomainError, FieldError, MalformedRequest, NotFound, ValidationFailed, found,
                                is_throttle)
from automations.inputs import MAX_ID
from automations.paging import CursorPage, OffsetPage, decode_cursor, encode_cursor
from automations.store_refusals import MAX_TRANSACTION_ITEMS, StaleWrite

if TYPE_CHECKING:
    from automations.ports import TicketStore, UserStore

MAX_OFFSET_RECORDS = 10_000  # Zendesk stops offset pagination of tickets after 100 pages of 100
MAX_TICKET_BYTES = 128 * 1024  # a ticket, and the audit that repeats it, must each fit one DynamoDB item
MAX_EXPORT_PAGE = 1000  # Zendesk's incremental export page
MAX_EXPORT_BYTES = 4 * 1024 * 1024  # a page stays well inside Lambda's 6 MB response
_SECOND_MAX = 100_000  # changes of one second a time-based export page may hold (its bytes bind first)
COMMENT_SCAN = 1000  # audits read at most for one cursor page of comments
MAX_LISTED_TAGS = 20_000  # Zendesk lists the 20,000 most popular tags
_WRITE_ATTEMPTS = 3
_MAX_WRITE_BYTES = 2 * 2**20  # of DynamoDB's 4 MB, room for the items' keys and the caller's



@dataclass(frozen=True)
class ExportPage:
    records: list[Any]  # tickets or users (deleted ones too), in the order they last changed
    more: bool
    after_cursor: str  # where the next page starts (this one's start again when it is empty)
    whole_second: bool = False  # the page holds every change of its last ticket's second


class TicketService:
    def __init__(self, store: TicketStore, users: UserStore) -> None:
        self._store = store
        self._users = users

    # -- reading ---------------------------------------------------------------------------------
    def get(self, account_id: str, ticket_id: int) -> Ticket:
        return found(self._store.get(account_id, ticket_id), f"ticket {ticket_id}")

    def list_page(self, account_id: str, page: int, per_page: int) -> OffsetPage[Ticket]:
        """Tickets by id, offset paginated; only the first MAX_OFFSET_RECORDS can be reached."""
        return offset_by_id(functools.partial(self._store.list_page, account_id),
                            lambda: self._store.count(account_id), page, per_page, "tickets")

    def list_cursor(self, account_id: str, size: int, *, after: str | None = None,
                    before: str | None = None) -> CursorPage[Ticket]:
        """Tickets by id; ``has_more`` tells whether more lie in the direction of travel."""
        return cursor_by_id(functools.partial(self._store.list_page, account_id), size, after=after, before=before)

    def audits(self, account_id: str, ticket_id: int) -> list[Audit]:
        self.get(account_id, ticket_id)
        return self._store.list_audits(account_id, ticket_id)

    def comments(self, account_id: str, ticket_id: int, *, newest_first: bool = False) -> list[Audit]:
        """The ticket's audits that added a comment, oldest first (newest first when asked)."""
        commented = [a for a in self.audits(account_id, ticket_id) if a.added_comment()]
        return commented[::-1] if newest_first else commented

    def comments_cursor(self, account_id: str, ticket_id: int, size: int, *, after: str | None = None,
                        before: str | None = None, newest_first: bool = False) -> CursorPage[Audit]:
        """A page of ``size`` of the ticket's audits that added a comment, in ``comments``' order.
        A page reads at most COMMENT_SCAN audits, so among many without a comment it may hold
        fewer (even none) while ``has_more`` says more lie in the direction of travel."""
        self.get(account_id, ticket_id)
        backwards = before is not None
        cursor = before if backwards else after
        mark = None if cursor is None else _position(cursor)
        found: list[tuple[str, Audit]] = []
        scanned, last, more = 0, mark, True
        while more and len(found) < size and scanned < COMMENT_SCAN:
            audits, more = self._store.ticket_audits(account_id, ticket_id, min(100, COMMENT_SCAN - scanned),
                                                     after=last, descending=newest_first != backwards)
            for index, (position, audit) in enumerate(audits):
                scanned, last = scanned + 1, position
                if audit.added_comment():
                    found.append((position, audit))
                    if len(found) == size:
                        more = more or index < len(audits) - 1
                        break
        if not found and not more:
            return CursorPage([], False, None, None)
        # The cursor onward is the last audit read; the one back, the page's first comment (or its start).
        onward = encode_cursor([last])
        back = encode_cursor([found[0][0]]) if found else (encode_cursor([mark]) if mark is not None else None)
        if backwards:
            return CursorPage([a for _, a in reversed(found)], more, back, onward)
        return CursorPage([a for _, a in found], more, onward, back)

    def changed_since(self, account_id: str, *, start: datetime | None = None, cursor: str | None = None,
                      limit: int = MAX_EXPORT_PAGE, by_second: bool = False) -> ExportPage:
        """Zendesk's incremental ticket export, deleted tickets too (see ``export_page``)."""
        return export_page(functools.partial(self._store.updated_since, account_id), changed_at, start=start,
                           cursor=cursor, limit=limit, by_second=by_second)

    def tags(self, account_id: str) -> list[tuple[str, int]]:
        """The account's ticket tags with how many tickets (deleted ones not) carry each, most used
        first, then by name; the MAX_LISTED_TAGS most used, as Zendesk lists them."""
        counts = sorted(self._store.tag_counts(account_id).items(), key=lambda tag: (-tag[1], tag[0]))
        return counts[:MAX_LISTED_TAGS]

    def account_audits(self, account_id: str, size: int, *, after: str | None = None,
                       before: str | None = None) -> CursorPage[Audit]:
        """Every audit of the account, newest first; ``after`` goes on to older ones."""
        older, newer = (_position(c) if c is not None else None for c in (after, before))
        found, more = self._store.account_audits(account_id, size, before=older, after=newer)
        if not found:
            return CursorPage([], more, None, None)
        return CursorPage([a for _, a in found], more, encode_cursor([found[-1][0]]), encode_cursor([found[0][0]]))

    # -- writing ---------------------------------------------------------------------------------
    def get_many(self, account_id: str, ticket_ids: Sequence[int]) -> list[Ticket]:
        """Those of the tickets that exist, in the order asked for."""
        found = self._store.get_many(account_id, [i for i in ticket_ids if _is_id(i)])
        return [found[i] for i in dict.fromkeys(ticket_ids) if i in found]

    def reserve_ids(self, account_id: str, count: int) -> range:
        """Ticket ids for creates to come (a bulk job's), so that doing one twice makes one ticket."""
        return self._store.allocate_ids(account_id, count)

    def create(self, account_id: str, draft: TicketDraft, *, author_email: str | None = None,
               ticket_id: int | None = None, also: Sequence[Any] = ()) -> tuple[Ticket, Audit]:
        """``ticket_id``: one reserved for it; ``also``: the caller's writes, committed with the
        ticket's (the store's opaque items, e.g. a job's result)."""
        author = self._author(account_id, author_email)
        request = draft.checked(*_requester_problems(draft, author))
        ticket, audit = self._new(account_id, request, author, ticket_id, self._resolve_requester(account_id, request))
        for _ in range(_WRITE_ATTEMPTS):
            try:
                self._store.insert(ticket, audit, also)
                return ticket, audit
            except StaleWrite:
                continue  # a concurrent transaction on the account's ticket count: nothing was written
        raise Conflict("The ticket could not be saved because of concurrent requests; try again")

    def create_many(self, account_id: str, drafts: Sequence[tuple[TicketDraft, int, Sequence[Any]]], *,
                    author_email: str | None = None) -> list[Ticket | DomainError]:
        """Tickets (each with its reserved id and the caller's writes) committed several to a
        write instead of one each, the author and the requesters looked up at once and the new
        requesters created together. What each became, in order: its ticket, or the error that
        refused it alone. A write refused by a race is done again ticket by ticket. A throttle
        refuses none: it is raised (Busy), the tickets written before it standing."""
        author = self._author(account_id, author_email)
        requests: list[TicketDraft | DomainError] = []
        for draft, _, _ in drafts:
            try:
                requests.append(draft.checked(*_requester_problems(draft, author)))
            except DomainError as error:
                requests.append(error)
        people: dict[str, str | None] = {}
        for request in requests:
            if isinstance(request, TicketDraft) and request.requester is not None:
                people.setdefault(*request.requester)  # the name of its first ticket, as one by one
        users = find_or_create_user_ids(self._users, account_id, people, Role.END_USER)
        done: list[Ticket | DomainError] = []
        ready: list[tuple[int, Ticket, Audit, Sequence[Any]]] = []
        for position, ((_, ticket_id, also), request) in enumerate(zip(drafts, requests)):
            try:
                if isinstance(request, DomainError):
                    raise request
                ticket, audit = self._new(account_id, request, author, ticket_id,
                                          self._resolve_requester(account_id, request, users))
            except DomainError as error:
                done.append(error)
                continue
            done.append(ticket)
            ready.append((position, ticket, audit, also))
        for group in _writes_of(ready):
            try:
                self._store.insert_many([(ticket, audit, also) for _, ticket, audit, also in group])
            except StaleWrite:
                for position, _, _, also in group:
                    draft, ticket_id, _ = drafts[position]
                    try:
                        done[position] = self.create(account_id, draft, author_email=author_email,
                                                     ticket_id=ticket_id, also=also)[0]
                    except DomainError as error:
                        if is_throttle(error):
                            raise  # a delay for every ticket left, not this one's refusal
                        done[position] = error
        return done

    def _new(self, account_id: str, request: TicketDraft, author: User | None, ticket_id: int | None,
             values: dict[str, Any]) -> tuple[Ticket, Audit]:
        """The ticket a read ``request`` makes (``values``: its own, the requester resolved) and
        its first audit (not stored yet)."""
        if author is not None:
            values.setdefault("requester_id", author.id)
        values.setdefault("submitter_id", author.id if author else values["requester_id"])
        ticket = _fits(Ticket.create(account_id, 0, clock.now(), **values))  # no id spent on a refusal
        ticket = replace(ticket, id=ticket_id or self._store.allocate_id(account_id))
        return ticket, Audit.of(None, ticket, author_id=author.id if author else None, via=API, comment=request.comment)

    def update(self, account_id: str, ticket_id: int, changes: TicketDraft, *, author_email: str | None = None,
               also: Sequence[Any] = ()) -> tuple[Ticket, Audit | None]:
        """The updated ticket and its audit; no audit (and no write, ``also`` included) when
        nothing changes. ``also``: the caller's writes, committed with the change."""
        old = self.get(account_id, ticket_id)  # as Zendesk: an unknown ticket is 404 whatever the body
        request = changes.checked()
        old = _updatable(old, request.values)
        author = self._author(account_id, author_email)
        values = self._resolve_requester(account_id, request)
        for _ in range(_WRITE_ATTEMPTS):
            now = clock.now()
            ticket_values = dict(values)
            if "custom_fields" in values:  # only the fields given change
                ticket_values["custom_fields"] = {**dict(old.custom_fields), **values["custom_fields"]}
            if request.added_tags or request.removed_tags:  # on the tags as they are now, whatever raced
                tags = normalize_tags([*ticket_values.get("tags", old.tags), *request.added_tags])
                ticket_values["tags"] = [t for t in tags if t not in request.removed_tags]
            new = old.with_changes(ticket_values, now, touch=request.comment is not None)
            if new is old:
                return old, None
            if new.assignee_id is not None:
                new = new.with_changes({"assignee_updated_at": now}, now)
            _fits(new)
            audit = Audit.of(old, new, author_id=author.id if author else None, via=API, comment=request.comment)
            try:
                self._store.replace(old, new, audit, also)
                return replace(new, version=old.version + 1), audit
            except StaleWrite:
                old = _updatable(self.get(account_id, ticket_id), values)
        raise Conflict("The ticket was changed by another request; try again")

    def delete(self, account_id: str, ticket_id: int, *, author_email: str | None = None,
               also: Sequence[Any] = ()) -> None:
        """Move the ticket to the deleted tickets, as Zendesk does; NotFound when it is not there,
        deleted meanwhile by another request included (``also`` was not committed then)."""
        current = self.get(account_id, ticket_id)
        author = self._author(account_id, author_email)
        for _ in range(_WRITE_ATTEMPTS):
            try:
                self._store.delete(current, also, deleted_at=clock.now(), actor_id=author.id if author else None)
                return
            except StaleWrite:
                current = self.get(account_id, ticket_id)
        raise Conflict("The ticket was changed by another request; try again")

    # -- deleted tickets -------------------------------------------------------------------------
    def deleted_page(self, account_id: str, page: int, per_page: int) -> OffsetPage[tuple[DeletedTicket, User | None]]:
        """Deleted tickets by id, each with who deleted it, offset paginated."""
        skip = (page - 1) * per_page
        if skip >= MAX_OFFSET_RECORDS:
            raise MalformedRequest(f"Offset pagination is limited to the first {MAX_OFFSET_RECORDS} tickets",
                                   kind="pagination", parameter="page")
        deleted, _ = self._store.deleted_page(account_id, per_page, offset=skip)
        actors = self._users.get_many(account_id, [d.actor_id for d in deleted if d.actor_id is not None])
        return OffsetPage([(d, actors.get(d.actor_id)) for d in deleted], page, per_page,
                          self._store.count(account_id, deleted=True))

    def restore(self, account_id: str, ticket_ids: Sequence[int], *, all_known: bool = True) -> None:
        """Bring deleted tickets back; NotFound for one that is not deleted, unless not
        ``all_known`` (restore_many restores those it finds)."""
        for ticket_id in dict.fromkeys(ticket_ids):
            try:
                deleted = self.get_deleted(account_id, ticket_id)
            except NotFound:
                if all_known:
                    raise
                continue
            try:  # restoring is a change: incremental exports see the ticket come back
                self._store.restore(replace(deleted, ticket=replace(deleted.ticket, updated_at=clock.now())))
            except StaleWrite:
                continue  # restored or purged by a concurrent request meanwhile

    def get_deleted(self, account_id: str, ticket_id: int) -> DeletedTicket:
        deleted = self._store.get_deleted(account_id, ticket_id) if _is_id(ticket_id) else None
        return found(deleted, f"deleted ticket {ticket_id}")

    def purge(self, account_id: str, ticket_id: int, *, also: Sequence[Any] = ()) -> None:
        """Delete a deleted ticket for good, its audits with it."""
        self.get_deleted(account_id, ticket_id)
        try:
            self._store.purge(account_id, ticket_id, also)
        except StaleWrite:
            raise NotFound(f"deleted ticket {ticket_id} not found") from None

    # -- people ----------------------------------------------------------------------------------
    def _author(self, account_id: str, email: str | None) -> User | None:
        return find_or_create_user(self._users, account_id, email, None, Role.AGENT) if email else None

    def _resolve_requester(self, account_id: str, request: TicketDraft,
                           users: Mapping[str, int | DomainError] | None = None) -> dict[str, Any]:
        """``users``: the ids of the requesters already found or created, by email (a bulk request's)."""
        values = dict(request.values)
        if request.requester is not None:
            user_id = users[request.requester[0]] if users is not None else \
                find_or_create_user(self._users, account_id, *request.requester, Role.END_USER).id
            if isinstance(user_id, DomainError):
                raise user_id
            values["requester_id"] = user_id
        return values


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


def _requester_problems(draft: TicketDraft, author: User | None) -> tuple[FieldError, ...]:
    """A new ticket needs a requester: the one it names, or its author."""
    if author is None and not draft.names_requester():
        return (FieldError("requester", "Requester: cannot be blank"),)
    return ()


def _updatable(ticket: Ticket, values: Mapping[str, Any]) -> Ticket:
    """Refuse changes Zendesk refuses for the ticket's state."""
    if ticket.status == "closed":
        raise ValidationFailed([FieldError("status", "Status: closed prevents ticket update")])
    if values.get("status") == "new" and ticket.status != "new":
        raise ValidationFailed([FieldError("status", 'Status: cannot be set back to "new" once a ticket has left it')])
    return ticket


def _writes_of(ready: list[tuple[int, Ticket, Audit, Sequence[Any]]]) -> list[list]:
    """New tickets grouped into writes DynamoDB takes: at most 100 items (each ticket's own two,
    its caller's, the tag counters its tags move that the write does not move yet, and the
    count) and well under 4 MB (a ticket and its audit repeating it)."""
    groups: list[list] = [[]]
    items = size = 0
    counters: set[tuple[int, str]] = set()
    for entry in ready:
        ticket = entry[1]
        moved = {(sweep_shard(ticket.id), tag) for tag in ticket.tags}
        entry_size = 2 * _size(ticket)
        if groups[-1] and (items + 2 + len(entry[3]) + len(counters | moved) + 1 > MAX_TRANSACTION_ITEMS
                           or size + entry_size > _MAX_WRITE_BYTES):
            groups.append([])
            items = size = 0
            counters = set()
        groups[-1].append(entry)
        items, size, counters = items + 2 + len(entry[3]), size + entry_size, counters | moved
    return [group for group in groups if group]


def _size(ticket: Ticket) -> int:
    return len(json.dumps(asdict(ticket), default=str).encode())


def _fits(ticket: Ticket) -> Ticket:
    if len(ticket.tags) > MAX_TICKET_TAGS:
        raise ValidationFailed([FieldError("tags", f"Tags: a ticket holds at most {MAX_TICKET_TAGS} tags "
                                                   f"({len(ticket.tags)} given)")])
    size = _size(ticket)
    if size > MAX_TICKET_BYTES:
        raise ValidationFailed([FieldError("base", f"Ticket is too large ({size} bytes); a ticket must be smaller "
                                                   f"than {MAX_TICKET_BYTES // 1024} KB")])
    return ticket


def export_page(read: Callable[..., tuple[list[tuple[str, Any]], bool]], changed: Callable[[Any], datetime], *,
                start: datetime | None = None, cursor: str | None = None, limit: int = MAX_EXPORT_PAGE,
                by_second: bool = False) -> ExportPage:
    """A page of one of Zendesk's incremental exports: records in the order they last changed
    (``changed``), from ``start`` (that instant included) or after ``cursor`` (a previous page's).
    ``read(position, limit, inclusive=, max_bytes=, until=)`` is the store's read of them.

    ``by_second`` (the time-based export, which pages on whole seconds): a page then goes on past
    ``limit`` to the last change of its last record's second, so that the next page can start at
    the following second; ``whole_second`` says it did. It does not when that second is not over
    yet (more may change in it) or holds more than a page can."""
    if cursor is not None:
        position, inclusive = _position(cursor), False
    else:
        position, inclusive = clock.sortable(start), True
    budget = MAX_EXPORT_BYTES // 2 if by_second else MAX_EXPORT_BYTES  # half kept for the rest of the second
    found, more = read(position, limit, inclusive=inclusive, max_bytes=budget)
    whole = False
    second = int(changed(found[-1][1]).timestamp()) if found else None
    if by_second and second is not None and second < int(clock.now().timestamp()):
        whole = True
        if more:  # more may follow after that second too: at worst, the next page is empty
            rest, unfinished = read(found[-1][0], _SECOND_MAX, inclusive=False, max_bytes=budget,
                                    until=clock.sortable(datetime.fromtimestamp(second + 1, UTC)))
            found += rest
            whole = not unfinished
    last = encode_cursor([found[-1][0]]) if found else (cursor or encode_cursor([position]))
    return ExportPage([t for _, t in found], more, last, whole)


def changed_at(ticket: Ticket | DeletedTicket) -> datetime:
    """When a ticket last changed (was deleted, for a deleted one): its place in the exports."""
    return ticket.deleted_at if isinstance(ticket, DeletedTicket) else ticket.updated_at


# A store's records in id order, as TicketStore.list_page reads them: ``fetch(limit,
# exclusive_start, descending=, offset=)`` -> (records, the id to continue after or None at the end).
IdFetch = Callable[..., tuple[list[Any], int | None]]


def offset_by_id(fetch: IdFetch, count: Callable[[], int], page: int, per_page: int, noun: str) -> OffsetPage[Any]:
    """A page of records by id; only the first MAX_OFFSET_RECORDS can be reached, as in Zendesk."""
    skip = (page - 1) * per_page
    if skip >= MAX_OFFSET_RECORDS:
        raise MalformedRequest(f"Offset pagination is limited to the first {MAX_OFFSET_RECORDS} {noun}; "
                               "use cursor pagination (page[size]) to go further", kind="pagination",
                               parameter="page")
    records, _ = fetch(per_page, None, offset=skip)
    return OffsetPage(records, page, per_page, count())


def cursor_by_id(fetch: IdFetch, size: int, *, after: str | None = None, before: str | None = None) -> CursorPage[Any]:
    """Records (with an ``id``) by id; ``has_more`` tells whether more lie in the direction of travel."""
    if before is not None:
        records, last = fetch(size, cursor_id(before), descending=True)
        records.reverse()
    else:
        records, last = fetch(size, None if after is None else cursor_id(after))
    if not records:
        return CursorPage([], last is not None, None, None)
    return CursorPage(records, last is not None, encode_cursor([records[-1].id]), encode_cursor([records[0].id]))


def cursor_id(cursor: str) -> int:
    key = decode_cursor(cursor)
    if len(key) != 1 or not _is_id(key[0], minimum=0):
        raise MalformedRequest("the pagination cursor is not valid", kind="pagination")
    return key[0]


def _position(cursor: str) -> str:
    """The position a cursor of the audits listing or the incremental export holds (opaque)."""
    key = decode_cursor(cursor)
    if len(key) != 1 or not isinstance(key[0], str) or len(key[0]) > 64:
        raise MalformedRequest("the pagination cursor is not valid", kind="pagination")
    return key[0]



def _is_id(value: Any, *, minimum: int = 1) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and minimum <= value <= MAX_ID


