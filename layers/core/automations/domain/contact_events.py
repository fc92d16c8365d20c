"""Contact events: a contact joining a list or a community, and a contact created or changed.
Each has a deterministic id, derived from what it reports, so the same report is always the same
event (the service's events module stores and hands them on)."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from automations.clock import ensure_utc, sortable
from automations.domain.contacts import GroupKind

# How long the contact event log keeps an event (the table's TTL removes it after): long enough to
# replay a consumer's outage, short enough not to grow forever.
RETENTION = timedelta(days=90)


class ContactEventKind(StrEnum):
    LIST_JOINED = "list_joined"
    COMMUNITY_JOINED = "community_joined"
    CONTACT_CREATED = "contact_created"
    CONTACT_UPDATED = "contact_updated"


_JOINED = {GroupKind.LIST: (ContactEventKind.LIST_JOINED, "list_id"),
           GroupKind.COMMUNITY: (ContactEventKind.COMMUNITY_JOINED, "community_id")}
_GROUP_KEY = dict(_JOINED.values())  # join event kind -> the key naming its group
JOINS = tuple(_GROUP_KEY)


@dataclass(frozen=True)
class ContactEvent:
    event: ContactEventKind
    account_id: str
    contact_uuid: str
    group_id: int | None  # joins only
    occurred_at: datetime
    id: str
    zone_changed: bool = False  # a change of the contact's time zone: its waiting runs are re-planned

    @property
    def is_join(self) -> bool:
        return self.event in JOINS

    def to_dict(self) -> dict[str, Any]:
        doc = {"event": self.event.value, "account_id": self.account_id, "contact_uuid": self.contact_uuid,
               "occurred_at": sortable(self.occurred_at), "id": self.id}
        if self.is_join:
            doc[_GROUP_KEY[self.event]] = self.group_id
        if self.zone_changed:
            doc["zone_changed"] = True
        return doc

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ContactEvent:
        kind = ContactEventKind(data["event"])
        return cls(event=kind, account_id=data["account_id"], contact_uuid=data["contact_uuid"],
                   group_id=data[_GROUP_KEY[kind]] if kind in JOINS else None,
                   occurred_at=datetime.fromisoformat(data["occurred_at"].replace("Z", "+00:00")), id=data["id"],
                   zone_changed=bool(data.get("zone_changed")))

    @property
    def group_kind(self) -> GroupKind:
        return GroupKind.LIST if self.event == ContactEventKind.LIST_JOINED else GroupKind.COMMUNITY


def joined(account_id: str, kind: GroupKind, group_id: int, contact_uuid: str, at: datetime) -> ContactEvent:
    """The event of ``contact_uuid`` joining a group at ``at``. The id is derived from all of
    them: the same join always names the same event; leaving and joining again is a new one."""
    event, _ = _JOINED[kind]
    digest = hashlib.sha256(f"{account_id}|{event}|{group_id}|{contact_uuid}|{sortable(at)}".encode())
    return ContactEvent(event=event, account_id=account_id, contact_uuid=contact_uuid, group_id=group_id,
                        occurred_at=ensure_utc(at), id="evt_" + digest.hexdigest()[:24])


def event_id(account_id: str, *parts: object) -> str:
    """The same report (account and what names it) always gets the same id."""
    digest = hashlib.sha256("|".join(map(str, (account_id, *parts))).encode())
    return "evt_" + digest.hexdigest()[:24]


def changed(kind: ContactEventKind, account_id: str, contact_uuid: str, version: int, at: datetime,
            zone_changed: bool = False) -> ContactEvent:
    """A contact created (version 1) or changed (each later version): one event per version, so
    the same change reported twice is the same event."""
    return ContactEvent(event=kind, account_id=account_id, contact_uuid=contact_uuid, group_id=None,
                        occurred_at=ensure_utc(at), id=event_id(account_id, kind.value, contact_uuid, version),
                        zone_changed=zone_changed)
