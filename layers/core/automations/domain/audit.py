"""Ticket audits, as Zendesk keeps them: who changed a ticket, through what (the API or an
automation), the comment it added ("Comment", first, as Zendesk writes it; a new ticket's
description is its first comment) and one event per field set at creation ("Create") or changed
("Change").

Event values are rendered as Zendesk renders them: ids and other numbers as strings, times as
ISO-8601 with ``Z``, tags as a list, "" as null; a custom field's event is named by its id."""
from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from automations.clock import iso_z
from automations.domain.ticket import Ticket

# In Zendesk's order. The description is not among them: it is the first comment.
AUDITED_FIELDS = (
    "subject", "requester_id", "submitter_id", "priority", "type", "status", "custom_status_id", "assignee_id",
    "group_id", "organization_id", "tags", "ticket_form_id", "brand_id", "external_id", "recipient", "due_at",
)
# An audit's id is derived from its ticket's id and the version the change produced: unique in
# the account, ordered within a ticket, and it needs no counter.
_IDS_PER_TICKET = 1_000_000
_IDS_PER_AUDIT = 10_000
_TAG = re.compile(r"<[^>]*>")


@dataclass(frozen=True)
class AuditEvent:
    type: str  # "Create" or "Change"
    field_name: str
    value: Any
    previous_value: Any = None

    def to_dict(self) -> dict[str, Any]:
        event = {"type": self.type, "field_name": self.field_name, "value": self.value}
        if self.type == "Change":
            event["previous_value"] = self.previous_value
        return event


@dataclass(frozen=True)
class Comment:
    """A comment an API change added: ``body`` is its plain text, ``html_body`` its HTML."""

    body: str
    html_body: str
    public: bool = True
    type: str = "Comment"

    @classmethod
    def written(cls, body: str | None, html_body: str | None = None, public: bool = True) -> Comment:
        """A comment from its plain text or its HTML; the other is derived, as Zendesk does."""
        if html_body is None:
            paragraphs = "".join(f"<p>{html.escape(p).replace(chr(10), '<br>')}</p>" for p in (body or "").split("\n\n"))
            html_body = f'<div class="zd-comment" dir="auto">{paragraphs}</div>'
        if body is None:
            body = html.unescape(_TAG.sub("", html_body)).strip()
        return cls(body, html_body, public)

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "body": self.body, "html_body": self.html_body, "public": self.public}


def event_from_dict(doc: dict[str, Any]) -> AuditEvent | Comment:
    return Comment(**doc) if doc["type"] == "Comment" else AuditEvent(**doc)


@dataclass(frozen=True)
class Via:
    """How a change was made: Zendesk's ``via`` object (``channel`` and ``source``)."""

    channel: str
    source: dict[str, Any] = field(default_factory=lambda: {"from": {}, "to": {}, "rel": None})

    @classmethod
    def rule(cls, automation_id: int, title: str) -> Via:
        return cls("rule", {"from": {"id": automation_id, "title": title}, "to": {}, "rel": "automation"})

    def to_dict(self) -> dict[str, Any]:
        return {"channel": self.channel, "source": self.source}


API = Via("api")


@dataclass(frozen=True)
class Audit:
    id: int
    ticket_id: int
    created_at: datetime
    author_id: int | None
    via: Via
    events: tuple[AuditEvent | Comment, ...]

    @classmethod
    def of(cls, old: Ticket | None, new: Ticket, *, author_id: int | None, via: Via,
           comment: Comment | None = None) -> Audit:
        """The audit of ``old`` becoming ``new`` (of creating ``new`` when ``old`` is None), made
        when ``new`` was last updated, with the ``comment`` the change added. The store writes
        ``new`` at ``old.version + 1``."""
        after = _snapshot(new)
        if old is None:
            version = 1
            events = [AuditEvent("Create", name, value) for name, value in after.items() if value not in (None, [])]
        else:
            version = old.version + 1
            before = _snapshot(old)
            events = [AuditEvent("Change", name, after.get(name), before.get(name))
                      for name in dict.fromkeys([*after, *before]) if after.get(name) != before.get(name)]
        if comment is not None:
            events.insert(0, comment)
        return cls(id=new.id * _IDS_PER_TICKET + version, ticket_id=new.id, created_at=new.updated_at,
                   author_id=author_id, via=via, events=tuple(events))

    def added_comment(self) -> tuple[int, Comment] | None:
        """The comment the change added, with its index among the events; None when it added none."""
        return next(((i, e) for i, e in enumerate(self.events) if isinstance(e, Comment)), None)

    def event_id(self, index: int) -> int:
        """The id of the audit's ``index``-th event: derived, so stored events need none."""
        return self.id * _IDS_PER_AUDIT + index


def _snapshot(ticket: Ticket) -> dict[str, Any]:
    values = {name: _rendered(getattr(ticket, name)) for name in AUDITED_FIELDS}
    values.update((str(field_id), value) for field_id, value in ticket.custom_fields)
    return values


def _rendered(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso_z(value)
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, int):
        return str(value)
    return None if value == "" else value
