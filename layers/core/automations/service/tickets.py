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
from collections.abc import Mapping, Sequence
from dataclasses import asdict, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from automations import clock
from automations.domain.audit import API, Audit
from automations.domain.ticket import MAX_TICKET_TAGS, DeletedTicket, Ticket, TicketDraft, normalize_tags, sweep_shard
from automations.domain.user import Role, User
from automations.errors import (Conflict, DomainError, FieldError, MalformedRequest, NotFound, ValidationFailed, found,
                                is_throttle)
from automations.paging import CursorPage, OffsetPage, encode_cursor
from automations.inputs import MAX_ID, is_whole
from automations.service.people import find_or_create_user, find_or_create_user_ids
from automations.service.record_pages import (
    MAX_EXPORT_PAGE, MAX_OFFSET_RECORDS, ExportPage, cursor_by_id, cursor_position, export_page, offset_by_id,
)
from automations.store_refusals import MAX_TRANSACTION_ITEMS, StaleWrite

if TYPE_CHECKING:
    from automations.ports import TicketStore, UserStore

MAX_TICKET_BYTES = 128 * 1024  # a ticket, and the audit that repeats it, must each fit one DynamoDB item
COMMENT_SCAN = 1000  # audits read at most for one cursor page of comments
MAX_LISTED_TAGS = 20_000  # Zendesk lists the 20,000 most popular tags
_WRITE_ATTEMPTS = 3
_MAX_WRITE_BYTES = 2 * 2**20  # of DynamoDB's 4 MB, room for the items' keys and the caller's



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
        mark = None if cursor is None else cursor_position(cursor)
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
        older, newer = (cursor_position(c) if c is not None else None for c in (after, before))
        found, more = self._store.account_audits(account_id, size, before=older, after=newer)
        if not found:
            return CursorPage([], more, None, None)
        return CursorPage([a for _, a in found], more, encode_cursor([found[-1][0]]), encode_cursor([found[0][0]]))

    # -- writing ---------------------------------------------------------------------------------
    def get_many(self, account_id: str, ticket_ids: Sequence[int]) -> list[Ticket]:
        """Those of the tickets that exist, in the order asked for."""
        found = self._store.get_many(account_id, [i for i in ticket_ids if is_whole(i, MAX_ID, 1)])
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
        deleted = self._store.get_deleted(account_id, ticket_id) if is_whole(ticket_id, MAX_ID, 1) else None
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


def changed_at(ticket: Ticket | DeletedTicket) -> datetime:
    """When a ticket last changed (was deleted, for a deleted one): its place in the exports."""
    return ticket.deleted_at if isinstance(ticket, DeletedTicket) else ticket.updated_at
