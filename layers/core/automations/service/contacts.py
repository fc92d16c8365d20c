"""Use cases of the contact side: contacts, contact lists and communities (with membership, whose
join events go through service/events.py), custom fields and templates. Every surface shares
these; the contact automations that refer to them are service/contact_automations.py."""
from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from automations import clock
from automations.domain import contact_events, contacts as domain
from automations.domain.contacts import (
    Contact, CustomField, FieldScope, FieldType, Group, GroupKind, MembersAdded, Membership, SeriesStep, Template,
    TemplateType,
)
from automations.domain.person import normalize_email
from automations.errors import FieldError, MalformedRequest, NotFound, Problems, ValidationFailed, found

from automations.service.events import ContactEvents
from automations.service.numbered import NumberedService, retry_stale
from automations.service.rendering import syntax_error

if TYPE_CHECKING:
    from automations.ports import ContactChanges, ContactStore, GroupStore

MAX_MEMBERS_PER_CALL = 1000

_log = logging.getLogger(__name__)


def _immutable(changes: dict[str, Any], old: Any, *names: str) -> None:
    for name in names:
        if name in changes and changes[name] != getattr(old, name):
            raise ValidationFailed([FieldError(name, f"{name.capitalize()}: cannot be changed; create a new one")])


# -- lists and communities ----------------------------------------------------------------------
class GroupService(NumberedService[Group]):
    """Contact lists (``GroupKind.LIST``) or communities (``GroupKind.COMMUNITY``). A contact
    joining one is stored with its join event in one transaction."""

    def __init__(self, kind: GroupKind, store: GroupStore, events: ContactEvents) -> None:
        super().__init__(store)
        self.kind = kind
        self.noun = "contact list" if kind == GroupKind.LIST else "community"
        self._groups = store
        self._events = events

    def create(self, account_id: str, name: Any, suite_type: Any = None) -> Group:
        return self._create(account_id, lambda new_id, now: Group(
            account_id=account_id, kind=self.kind, id=new_id, name=name, suite_type=suite_type,
            created_at=now, updated_at=now))

    def update(self, account_id: str, group_id: int, changes: dict[str, Any]) -> Group:
        return self._update(account_id, group_id, lambda old: replace(
            old, **{k: v for k, v in changes.items() if k in ("name", "suite_type")}))

    def _normalized(self, group: Group, problems: Problems) -> Group:
        name, suite_type = domain.check_group(group.kind, group.name, group.suite_type, problems)
        return replace(group, name=name, suite_type=suite_type)

    def add_members(self, account_id: str, group_id: int, contact_uuids: Iterable[str]) -> MembersAdded:
        """Up to MAX_MEMBERS_PER_CALL contacts; duplicates are ignored, unknown contacts reported
        (not fatal), contacts already in the group left alone. Each new membership emits one join
        event, in the same transaction."""
        wanted = list(dict.fromkeys(contact_uuids))
        if len(wanted) > MAX_MEMBERS_PER_CALL:
            raise MalformedRequest(f"at most {MAX_MEMBERS_PER_CALL} contacts per call", kind="too_many_values")
        group = self.get(account_id, group_id)
        malformed = [u for u in wanted if not domain.is_uuid(u)]
        now = clock.now()
        joins = [(Membership(account_id, self.kind, group.id, u, now),
                  contact_events.joined(account_id, self.kind, group.id, u, now))
                 for u in wanted if domain.is_uuid(u)]
        outcome, committed = self._groups.add_members(group, joins)
        self._events.committed(committed)
        return MembersAdded(added=outcome.added, already_members=outcome.already_members,
                            not_found=malformed + outcome.not_found)

    def remove_member(self, account_id: str, group_id: int, contact_uuid: str) -> None:
        group = self.get(account_id, group_id)
        if not domain.is_uuid(contact_uuid) or not self._groups.remove_member(group, contact_uuid):
            raise NotFound(f"contact {contact_uuid} is not a member of {self.noun} {group_id}")

    def is_member(self, account_id: str, group_id: int, contact_uuid: str) -> bool:
        return self._groups.is_member(account_id, group_id, contact_uuid)

    def members(self, account_id: str, group_id: int, *, cursor: str | None = None,
                limit: int = 50) -> tuple[list[Membership], str | None]:
        """Members in contact uuid order."""
        return self._groups.members(self.get(account_id, group_id), after=cursor, limit=limit)

    @property
    def member_shards(self) -> int:
        return self._groups.member_shards

    def shard_members(self, account_id: str, group_id: int, shard: int, *, cursor: str | None = None,
                      limit: int = 100) -> tuple[list[Membership], str | None]:
        """The members of one of the group's ``member_shards`` (what a recurring rule reads side by side)."""
        return self._groups.shard_members(self.get(account_id, group_id), shard, after=cursor, limit=limit)


# -- custom fields --------------------------------------------------------------------------------
class CustomFieldService(NumberedService[CustomField]):
    noun = "custom field"

    def create(self, account_id: str, name: Any, scope: Any, type_: Any, options: Any = None) -> CustomField:
        return self._create(account_id, lambda new_id, now: CustomField(
            account_id=account_id, id=new_id, name=name, scope=scope, type=type_,
            options=tuple(options) if isinstance(options, (list, tuple)) else options, created_at=now, updated_at=now))

    def update(self, account_id: str, field_id: int, changes: dict[str, Any]) -> CustomField:
        """Name and options change; type and scope do not (values and automations rely on them)."""
        def change(old: CustomField) -> CustomField:
            _immutable(changes, old, "type", "scope")
            options = changes.get("options", old.options)
            return replace(old, name=changes.get("name", old.name),
                           options=tuple(options) if isinstance(options, (list, tuple)) else options)

        return self._update(account_id, field_id, change)

    def _normalized(self, f: CustomField, problems: Problems) -> CustomField:
        name, options = domain.check_custom_field(f.name, f.scope, f.type, f.options, problems)
        if problems.errors:
            return f
        return replace(f, name=name, scope=FieldScope(f.scope), type=FieldType(f.type), options=options)

    def by_key(self, account_id: str) -> dict[str, CustomField]:
        return {str(f.id): f for f in self._store.list(account_id)}


# -- templates -----------------------------------------------------------------------------------
TEMPLATE_WRITABLE = ("title", "subject", "html", "text", "body", "steps")


class TemplateService(NumberedService[Template]):
    noun = "template"

    def create(self, account_id: str, values: dict[str, Any]) -> Template:
        return self._create(account_id, lambda new_id, now: Template(
            account_id=account_id, id=new_id, type=values.get("type"), created_at=now, updated_at=now,
            **{"title": None, **_template_values(values)}))

    def update(self, account_id: str, template_id: int, changes: dict[str, Any]) -> Template:
        """Any attribute but ``type``; ``null`` removes an optional one (html, text)."""
        def change(old: Template) -> Template:
            _immutable(changes, old, "type")
            return replace(old, **_template_values(changes))

        return self._update(account_id, template_id, change)

    def _normalized(self, t: Template, problems: Problems) -> Template:
        if t.type not in tuple(TemplateType):
            problems.add("type", "Type: must be email, text or series")
            return t
        t = replace(t, type=TemplateType(t.type), title=t.title.strip() if isinstance(t.title, str) else t.title)
        domain.check_template(t, problems)
        for name, source in t.liquid_sources().items():
            message = syntax_error(source)
            if message:
                problems.add(name, f"{name.capitalize()}: invalid Liquid: {message}")
        seen: dict[int, Template | None] = {}
        for index, step in enumerate(t.steps):
            if step.template_id not in seen:
                seen[step.template_id] = self.find(t.account_id, step.template_id)
            found = seen[step.template_id]
            if found is None or found.type != TemplateType.EMAIL:
                problems.add(f"steps.{index}.template_id",
                             f"Step {index + 1}: template {step.template_id} is not an email template of this account")
        return t


def _template_values(values: dict[str, Any]) -> dict[str, Any]:
    out = {k: values[k] for k in TEMPLATE_WRITABLE if k in values}
    if "steps" in out:
        out["steps"] = tuple(s if isinstance(s, SeriesStep) else SeriesStep(**s) for s in out["steps"] or ())
    return out


# -- contacts ------------------------------------------------------------------------------------
class ContactService:
    def __init__(self, store: ContactStore, fields: CustomFieldService,
                 changes: Callable[[], ContactChanges] | None = None,
                 zone_changed: Callable[[contact_events.ContactEvent], None] | None = None) -> None:
        self._store = store
        self._fields = fields
        self._changes = changes  # built at the first change: reads never need the ingestion
        # A change of the contact's zone, once stored: its waiting runs are re-planned (if this is
        # lost, the run engine's hourly check finds the change in the contact event log).
        self._zone_changed = zone_changed

    def get(self, account_id: str, contact_uuid: str) -> Contact:
        return found(self.find(account_id, contact_uuid), f"contact {contact_uuid}")

    def find(self, account_id: str, contact_uuid: str) -> Contact | None:
        return self._store.get(account_id, contact_uuid) if domain.is_uuid(contact_uuid) else None

    def get_many(self, account_id: str, contact_uuids: list[str]) -> dict[str, Contact]:
        """Those of the contacts that exist, by uuid."""
        return self._store.get_many(account_id, [u for u in contact_uuids if domain.is_uuid(u)])

    def find_by_email(self, account_id: str, email: str) -> Contact | None:
        normalized = normalize_email(email)
        return self._store.find_by_email(account_id, normalized) if normalized else None

    def page(self, account_id: str, *, cursor: str | None = None, limit: int = 50) -> tuple[list[Contact], str | None]:
        """Contacts in uuid order (stable under concurrent writes), a page at a time."""
        return self._store.page(account_id, after=cursor, limit=limit)

    def create(self, account_id: str, values: dict[str, Any]) -> Contact:
        clean = self._checked(account_id, values, {})
        now = clock.now()
        contact = Contact(account_id=account_id, uuid=str(uuid.uuid4()), created_at=now, updated_at=now, **clean)
        change = self._change(contact_events.ContactEventKind.CONTACT_CREATED, contact)
        self._store.insert(contact, change)
        self._announce(change)
        return contact

    def update(self, account_id: str, contact_uuid: str, changes: dict[str, Any]) -> Contact:
        """A partial update: attributes left out are unchanged, ``null`` clears one; custom field
        values merge (``{"7": null}`` removes one)."""
        def attempt() -> Contact:
            old = self.get(account_id, contact_uuid)
            current = {k: getattr(old, k) for k in domain.CONTACT_FIELDS if k != "custom_fields"}
            clean = self._checked(account_id, {**current, **changes}, old.custom_fields)
            new = replace(old, **clean)
            if new == old:
                return old
            new = replace(new, updated_at=clock.now(), version=old.version + 1)
            change = self._change(contact_events.ContactEventKind.CONTACT_UPDATED, new,
                                  zone_changed=new.timezone != old.timezone)
            self._store.replace(old, new, change)
            self._announce(change)  # only a change that was written is an event
            if change.zone_changed and self._zone_changed:
                try:
                    self._zone_changed(change)
                except Exception:  # the change is saved and logged: the hourly check re-plans its runs
                    _log.exception("runs of contact %s not re-planned", contact_uuid)
            return new

        return retry_stale(attempt)

    def delete(self, account_id: str, contact_uuid: str) -> None:
        retry_stale(lambda: self._store.delete(self.get(account_id, contact_uuid)))

    @staticmethod
    def _change(kind: contact_events.ContactEventKind, contact: Contact,
                zone_changed: bool = False) -> contact_events.ContactEvent:
        return contact_events.changed(kind, contact.account_id, contact.uuid, contact.version, contact.updated_at,
                                      zone_changed)

    def _announce(self, change: contact_events.ContactEvent) -> None:
        if self._changes is None:
            return
        try:
            self._changes().contact_changed(change)
        except Exception:  # the change and its event are saved; the hourly check starts its runs
            _log.exception("contact event %s not announced", change.id)

    def _checked(self, account_id: str, values: dict[str, Any], existing_fields: dict[str, Any]) -> dict[str, Any]:
        problems = Problems()
        given = values.get("custom_fields") or {}
        fields = self._fields.by_key(account_id) if given else {}
        clean = domain.check_contact(values, fields, problems)
        problems.raise_if_any()
        merged = {**existing_fields, **clean["custom_fields"]}
        clean["custom_fields"] = {k: v for k, v in merged.items() if v is not None}
        return clean
