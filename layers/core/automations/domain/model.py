"""The domain model shared by every surface. No I/O here."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from automations.errors import FieldError, ValidationFailed


class Trigger(StrEnum):
    SWEEP = "sweep"
    EVENT = "event"
    LIST_JOINED = "list_joined"
    COMMUNITY_JOINED = "community_joined"
    RECURRING = "recurring"
    DATE_FIELD = "date_field"
    MANUAL = "manual"


class SubjectKind(StrEnum):
    TICKET = "ticket"
    CONTACT = "contact"


@dataclass(frozen=True)
class Condition:
    field: str
    operator: str
    value: Any

    def to_dict(self) -> dict[str, Any]:
        return {"field": self.field, "operator": self.operator, "value": self.value}


@dataclass(frozen=True)
class Action:
    field: str
    value: Any

    def to_dict(self) -> dict[str, Any]:
        return {"field": self.field, "value": self.value}


@dataclass(frozen=True)
class Conditions:
    all: tuple[Condition, ...] = ()
    any: tuple[Condition, ...] = ()

    def to_dict(self) -> dict[str, list[dict[str, Any]]]:
        return {"all": [c.to_dict() for c in self.all], "any": [c.to_dict() for c in self.any]}


@dataclass(frozen=True)
class Automation:
    account_id: str
    id: int
    uuid: str
    title: str
    active: bool
    position: int
    subject: SubjectKind
    trigger: Trigger
    conditions: Conditions
    actions: tuple[Action, ...]
    created_at: datetime
    updated_at: datetime
    default: bool = False
    trigger_config: dict[str, Any] = field(default_factory=dict)
    version: int = 1

    def listens_to(self) -> str | None:
        """What starts this automation, as the trigger index keys it: an event automation's event
        name, a join rule's list or community id; None for the other triggers."""
        config = self.trigger_config if isinstance(self.trigger_config, dict) else {}
        if self.trigger == Trigger.EVENT:
            return config.get("event") if isinstance(config.get("event"), str) else None
        source = config.get("source")
        if self.trigger in (Trigger.LIST_JOINED, Trigger.COMMUNITY_JOINED) and isinstance(source, dict):
            return str(source.get("id"))
        return None

    def fingerprint(self) -> str:
        """Identity of what the rule does, ignoring title and order: two active automations may
        not share one."""
        canon = {
            "subject": self.subject,
            "trigger": self.trigger,
            "trigger_config": self.trigger_config,
            "all": sorted(json.dumps(c.to_dict(), sort_keys=True) for c in self.conditions.all),
            "any": sorted(json.dumps(c.to_dict(), sort_keys=True) for c in self.conditions.any),
            "actions": sorted(json.dumps(a.to_dict(), sort_keys=True) for a in self.actions),
        }
        return hashlib.sha256(json.dumps(canon, sort_keys=True).encode()).hexdigest()

    def rule_size(self) -> int:
        """Bytes of the rule as stored (title, conditions, actions), for the 65 KB limit."""
        body = {"title": self.title, "conditions": self.conditions.to_dict(),
                "actions": [a.to_dict() for a in self.actions]}
        return len(json.dumps(body, separators=(",", ":")).encode())

    def evolve(self, **changes: Any) -> Automation:
        return replace(self, **changes)


def keep_subject(current: Automation, subject: SubjectKind) -> None:
    """A ticket rule stays a ticket rule and a contact rule a contact rule (what they act on,
    and their runs, would not carry over)."""
    if subject != current.subject:
        raise ValidationFailed([FieldError("trigger", f"A {current.subject} automation cannot become a "
                                                      f"{subject} automation; create a new one")])


@dataclass(frozen=True)
class AutomationDraft:
    """What a caller asks for when creating an automation; the service assigns the rest."""

    title: Any
    actions: tuple[Action, ...]
    conditions: Conditions
    active: bool = True
    position: int | None = None
    subject: SubjectKind = SubjectKind.TICKET
    trigger: Trigger = Trigger.SWEEP
    trigger_config: dict[str, Any] = field(default_factory=dict)
    default: bool = False  # only the rules every account starts with


@dataclass(frozen=True)
class AutomationChanges:
    """A partial update: ``None`` means unchanged. Conditions are replaced whole."""

    title: Any = None
    active: bool | None = None
    position: int | None = None
    conditions: Conditions | None = None
    actions: tuple[Action, ...] | None = None
    # Contact rules (VipeCloud's POST /automations/{id}) may change what fires them.
    trigger: Trigger | None = None
    trigger_config: dict[str, Any] | None = None
