"""What a contact run sends: its send_email, send_text, webhook and emit_event actions rendered
(python-liquid, with ``contact``, ``automation``, ``run`` and ``data`` in scope) and addressed
into Delivery records with deterministic ids. The executor stores and dispatches them; the
dry run (``POST /v1/automations/{id}/test``) only shows them."""
from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from automations import clock
from automations.domain.contacts import Contact, Template, TemplateType
from automations.domain.delivery import Channel, Delivery, DeliveryStatus, announcement_id, delivery_id
from automations.domain.model import Action, Automation
from automations.service.rendering import render

# Actions that produce deliveries; the others (series, custom fields, cancels) change state.
SENDING_ACTIONS = ("send_email", "send_text", "webhook", "emit_event")
RUN_SUCCEEDED = "automation.run.succeeded"
ANNOUNCED_DATA_LIMIT = 64 * 1024  # bytes of a run's data (as JSON) its succeeded event carries

TemplateLookup = Callable[[str, int], Template | None]


def contact_record(contact: Contact) -> dict[str, Any]:
    return {"uuid": contact.uuid, "email": contact.email or "", "phone": contact.phone or "",
            "first_name": contact.first_name or "", "last_name": contact.last_name or "",
            "name": " ".join(p for p in (contact.first_name, contact.last_name) if p),
            "timezone": contact.timezone or "", "custom_fields": dict(contact.custom_fields)}


def context(automation: Automation, contact: Contact, run_id: str, data: Any) -> dict[str, Any]:
    return {"contact": contact_record(contact),
            "automation": {"id": automation.id, "uuid": automation.uuid, "title": automation.title},
            "run": {"id": run_id, "data": data}, "data": data if data is not None else {}}


def _rendered(value: Any, scope: dict[str, Any]) -> Any:
    """Liquid in every string of a JSON value (an emit_event's detail)."""
    if isinstance(value, str):
        return render(value, scope)
    if isinstance(value, dict):
        return {k: _rendered(v, scope) for k, v in value.items()}
    if isinstance(value, list):
        return [_rendered(v, scope) for v in value]
    return value


class Composer:
    def __init__(self, templates: TemplateLookup) -> None:
        self._templates = templates

    def compose(self, automation: Automation, contact: Contact, run_id: str, data: Any,
                actions: tuple[Action, ...], now: datetime) -> list[Delivery]:
        """The deliveries of ``actions`` (by their index in the run), in order."""
        scope = context(automation, contact, run_id, data)
        composed = []
        for index, action in enumerate(actions):
            if action.field not in SENDING_ACTIONS:
                continue
            channel, recipient, subject, body, metadata, problem = self._one(contact, action, scope)
            composed.append(Delivery(
                account_id=automation.account_id, id=delivery_id(run_id, index), run_id=run_id, channel=channel,
                recipient=recipient, subject=subject, body=body, created_at=now, metadata=metadata,
                status=DeliveryStatus.SKIPPED if problem else DeliveryStatus.PENDING, error=problem))
        return composed

    def preview(self, account_id: str, automation: Automation, contact: Contact, data: Any) -> list[dict[str, Any]]:
        """What a run of ``automation`` for ``contact`` would send now, sending nothing (the dry run's)."""
        composed = self.compose(automation, contact, "run_preview", data, automation.actions, clock.now())
        return [{"channel": d.channel.value, "recipient": d.recipient, "subject": d.subject, "body": d.body,
                 **({"skipped": d.error} if d.status is DeliveryStatus.SKIPPED else {})} for d in composed]

    def _one(self, contact: Contact, action: Action, scope: dict[str, Any]):
        value = action.value if isinstance(action.value, dict) else {}
        if action.field == "webhook":
            body = value.get("body")
            text = render(body, scope) if isinstance(body, str) else json.dumps(
                {"automation": scope["automation"], "run": scope["run"], "contact": scope["contact"]}, default=str)
            return Channel.WEBHOOK, str(value.get("webhook_id", "")), "", text, {}, None
        if action.field == "emit_event":
            detail = _rendered(value.get("detail") or {}, scope)
            return Channel.EVENT, str(value.get("detail_type", "")), "", json.dumps(detail, default=str), {}, None
        template = self._templates(contact.account_id, value.get("template_id"))
        if action.field == "send_email":
            if template is None or template.type != TemplateType.EMAIL:
                return Channel.EMAIL, contact.email or "", "", "", {}, "the email template no longer exists"
            html = render(template.html, scope) if template.html else None
            text = render(template.text, scope) if template.text else None
            problem = None if contact.email else "the contact has no email address"
            # The body shown is the text part, or the html when there is none; the html goes as such.
            metadata = {"html": html, "plain": text is not None} if html else {}
            return (Channel.EMAIL, contact.email or "", render(template.subject or "", scope),
                    text if text is not None else html or "", metadata, problem)
        if template is None or template.type != TemplateType.TEXT:
            return Channel.SMS, contact.phone or "", "", "", {}, "the text template no longer exists"
        problem = None if contact.phone else "the contact has no phone number"
        return Channel.SMS, contact.phone or "", "", render(template.body or "", scope), {}, problem


def succeeded_event(automation: Automation, contact: Contact, run_id: str, data: Any, now: datetime) -> Delivery:
    """The ``automation.run.succeeded`` event on the bus, sent once per run like any delivery.
    It carries the run's data up to ANNOUNCED_DATA_LIMIT bytes of JSON; larger data is left out
    (``"data": null, "data_omitted": true, "data_bytes": N``: the run itself has it), so the
    event always fits an outbox item and an EventBridge event (256 KB)."""
    detail = {"account_id": automation.account_id, "automation_id": automation.id,
              "automation_uuid": automation.uuid, "run_id": run_id, "contact_uuid": contact.uuid, "data": data}
    size = len(json.dumps(data, default=str))  # ASCII (non-ASCII is escaped): characters are bytes
    if size > ANNOUNCED_DATA_LIMIT:
        detail.update(data=None, data_omitted=True, data_bytes=size)
    return Delivery(account_id=automation.account_id, id=announcement_id(run_id), run_id=run_id, channel=Channel.EVENT,
                    recipient=RUN_SUCCEEDED, subject="", body=json.dumps(detail, default=str), created_at=now)
