"""Native API answers about automations (/v1/automations): an automation in the shape it is
written in, a page of them, a dry run's outcome. Apart from the request bodies and their rules
(native_automations), so the handlers that only answer import neither at a cold start."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field, model_validator

from automations.domain.model import Action, Automation, Trigger
from automations.inputs import MAX_ID
from automations.surfaces.native_models import Input, Model


class ConditionOut(Model):
    field: str
    operator: str
    value: Any


class ConditionsOut(Model):
    all: list[ConditionOut]
    any: list[ConditionOut]


class AutomationOut(Model):
    id: int = Field(description="the id Zendesk and VipeCloud clients use")
    uuid: str = Field(description="the id Piggy clients use")
    title: str
    active: bool
    position: int
    subject: Literal["ticket", "contact"]
    trigger: Literal["sweep", "list_joined", "community_joined", "recurring", "date_field", "event", "manual"]
    trigger_config: dict[str, Any]
    conditions: ConditionsOut
    actions: list[dict[str, Any]] = Field(description="sweep: {field, value}; contact automations: {kind, ...}")
    default: bool
    created_at: datetime
    updated_at: datetime


class AutomationPage(Model):
    automations: list[AutomationOut]
    next_cursor: str | None


class DryRunIn(Input):
    contact_uuid: str | None = Field(None, max_length=64, description="for a contact automation")
    ticket_id: int | None = Field(None, ge=1, lt=MAX_ID + 1, description="for a ticket (sweep) automation")
    data: dict[str, Any] | list[Any] | None = Field(None, description="the event's or run's data (data.<key>)")

    @model_validator(mode="after")
    def _one_subject(self) -> DryRunIn:
        if (self.contact_uuid is None) == (self.ticket_id is None):
            raise ValueError("give either contact_uuid or ticket_id")
        return self


class WouldSend(Model):
    channel: str
    recipient: str
    subject: str
    body: str
    skipped: str | None = Field(None, description="why it would not be sent (no address, no template...)")


class DryRunOut(Model):
    matches: bool = Field(description="whether the automation would fire for the subject now")
    due_at: datetime | None = Field(description="when it would fire (null: it would not, or at the next sweep)")
    would_send: list[WouldSend]
    would_change: dict[str, Any] = Field(description="ticket attributes the actions would change")


def automation_out(a: Automation) -> AutomationOut:
    return AutomationOut(id=a.id, uuid=a.uuid, title=a.title, active=a.active, position=a.position,
                         subject=a.subject.value, trigger=a.trigger.value, trigger_config=a.trigger_config,
                         conditions=ConditionsOut(**a.conditions.to_dict()),
                         actions=[_action_out(a.trigger, x) for x in a.actions], default=a.default,
                         created_at=a.created_at, updated_at=a.updated_at)


def _action_out(trigger: Trigger, action: Action) -> dict[str, Any]:
    if trigger == Trigger.SWEEP:
        return action.to_dict()
    return {"kind": action.field, **action.value}
