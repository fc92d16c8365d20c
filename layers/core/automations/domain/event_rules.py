"""Event and manual automations over contacts: what fires them (a named event, or a run asked
for through the API), when (delay, send window), which contacts (conditions, in
contact_conditions.py) and what they do (1-25 actions). Pure: whether the templates, custom
fields and webhooks they name exist is checked in service/native_automations.py.

``trigger_config`` (every key always present, so identical rules have identical fingerprints):

    event:  {"event": "contact_updated", "delay": {"days", "hours", "minutes"},
             "window": {"from": "09:00", "to": "17:00"} | null}
    manual: {"delay": {...}, "window": {...} | null}

Delays and windows are contact_rules' (same limits; wall-clock windows in the contact's zone).
Each action is ``Action(kind, {...})``: the contact rules' kinds with their values
(``{"template_id": 4}``...), plus ``webhook {"webhook_id", "body": Liquid text | null}`` and
``emit_event {"detail_type", "detail": object whose string values are Liquid}``."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from automations.domain import contact_conditions, events
from automations.domain.contact_rules import (
    CANCELS, MAX_TEMPLATE_IDS, SENDS, ActionKind, ClockTime, Delay, SendWindow,
)
from automations.domain.contacts import MAX_BODY, MAX_DELAY_DAYS
from automations.domain.model import Action, Automation, SubjectKind, Trigger
from automations.domain.ticket_rules import MAX_RULE_BYTES
from automations.errors import Problems

EVENT_TRIGGERS = (Trigger.EVENT, Trigger.MANUAL)
WEBHOOK = "webhook"
EMIT_EVENT = "emit_event"
ACTION_KINDS = (*(k.value for k in ActionKind), WEBHOOK, EMIT_EVENT)
MAX_ACTIONS = 25
MAX_DETAIL_TYPE = 128  # EventBridge's limit on a detail-type
MAX_WEBHOOK_ID = 100


def trigger_config(event: str | None, delay: Delay, window: SendWindow | None) -> dict[str, Any]:
    """The stored shape; ``event`` is None for a manual automation."""
    config: dict[str, Any] = {} if event is None else {"event": event}
    config["delay"] = {"days": delay.days, "hours": delay.hours, "minutes": delay.minutes}
    config["window"] = {"from": window.start.text, "to": window.end.text} if window else None
    return config


def event_of(automation: Automation) -> str | None:
    return automation.trigger_config.get("event") if automation.trigger == Trigger.EVENT else None


# -- the invariant every stored event or manual automation keeps (registered in AutomationService)
def validate_event_rule(automation: Automation, problems: Problems) -> None:
    if automation.subject != SubjectKind.CONTACT:
        problems.add("base", f"A {automation.trigger} automation applies to contacts")
    if not isinstance(automation.title, str) or not automation.title.strip():
        problems.add("title", "Title: cannot be blank")
    _check_config(automation, problems)
    contact_conditions.check_conditions(automation.conditions, problems)
    if not 1 <= len(automation.actions) <= MAX_ACTIONS:
        problems.add("actions", f"Actions: an automation has 1 to {MAX_ACTIONS} actions")
    for index, action in enumerate(automation.actions):
        reason = _action_problem(action)
        if reason:
            problems.add(f"actions.{index}", f"Action {index + 1}: {reason}")
    size = automation.rule_size()
    if size > MAX_RULE_BYTES:
        problems.add("base", f"Automation is too large ({size} bytes); a rule must be smaller than 65 KB")


def _check_config(automation: Automation, problems: Problems) -> None:
    config = automation.trigger_config
    expected = {"event", "delay", "window"} if automation.trigger == Trigger.EVENT else {"delay", "window"}
    if not isinstance(config, dict) or set(config) != expected:
        problems.add("trigger_config", f"A {automation.trigger} automation's trigger_config has exactly "
                                       f"{', '.join(sorted(expected))}")
        return
    if automation.trigger == Trigger.EVENT:
        events.check_event_name(config["event"], problems)
    delay = config["delay"]
    parts = [delay.get(k) for k in ("days", "hours", "minutes")] if isinstance(delay, dict) else [None]
    if not isinstance(delay, dict) or set(delay) != {"days", "hours", "minutes"} or not all(_whole(p) for p in parts) \
            or Delay(*parts).longer_than(MAX_DELAY_DAYS):
        problems.add("trigger_config.delay", "The delay is days, hours and minutes, each a whole number of 0 or "
                                             f"more, together at most {MAX_DELAY_DAYS} days")
    window = config["window"]
    if window is None:
        return
    try:
        start, end = ClockTime.parse(window["from"]), ClockTime.parse(window["to"])
    except (KeyError, TypeError, ValueError, AttributeError):
        problems.add("trigger_config.window", 'The send window is {"from": "HH:MM", "to": "HH:MM"} or null')
        return
    if start == end:
        problems.add("trigger_config.window", "The send window must not start and end at the same time")


def _whole(value: Any, minimum: int = 0) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def _text(value: Any, limit: int) -> bool:
    return isinstance(value, str) and 0 < len(value) <= limit


# kind -> (the keys of its value, why a value is wrong or None)
_SPECS: dict[str, tuple[frozenset[str], Callable[[dict[str, Any]], str | None]]] = {
    **{kind.value: (frozenset({"template_id"}),
                    lambda v: None if _whole(v["template_id"], 1) else "template_id must be a positive id")
       for kind in SENDS},
    **{kind.value: (frozenset({"template_ids"}),
                    lambda v: None if isinstance(v["template_ids"], list)
                    and 1 <= len(v["template_ids"]) <= MAX_TEMPLATE_IDS
                    and all(_whole(i, 1) for i in v["template_ids"])
                    else f"template_ids must list 1 to {MAX_TEMPLATE_IDS} template ids")
       for kind in CANCELS},
    ActionKind.SET_CUSTOM_FIELD.value: (
        frozenset({"custom_field_id", "value"}),
        lambda v: None if _whole(v["custom_field_id"], 1) and v["value"] is not None
        else "set_custom_field needs a custom_field_id and a value"),
    WEBHOOK: (frozenset({"webhook_id", "body"}),
              lambda v: None if _text(v["webhook_id"], MAX_WEBHOOK_ID)
              and (v["body"] is None or (isinstance(v["body"], str) and len(v["body"]) <= MAX_BODY))
              else f"webhook needs a webhook_id and, optionally, a body of at most {MAX_BODY} characters"),
    EMIT_EVENT: (frozenset({"detail_type", "detail"}),
                 lambda v: None if _text(v["detail_type"], MAX_DETAIL_TYPE) and isinstance(v["detail"], dict)
                 else f"emit_event needs a detail_type of 1 to {MAX_DETAIL_TYPE} characters and a detail object"),
}


def _action_problem(action: Action) -> str | None:
    spec = _SPECS.get(action.field) if isinstance(action.field, str) else None
    if spec is None:
        return f'unknown kind "{action.field}": use one of {", ".join(ACTION_KINDS)}'
    keys, check = spec
    if not isinstance(action.value, dict) or set(action.value) != keys:
        return f"{action.field} takes {', '.join(sorted(keys))}"
    return check(action.value)


def liquid_sources(action: Action) -> list[tuple[str, str]]:
    """(where, text) of every Liquid text an action holds: a webhook's body, every string in an
    emitted event's detail."""
    if action.field == WEBHOOK and isinstance(action.value.get("body"), str):
        return [("body", action.value["body"])]
    if action.field != EMIT_EVENT:
        return []
    found: list[tuple[str, str]] = []

    def walk(value: Any, where: str) -> None:
        if isinstance(value, str):
            found.append((where, value))
        elif isinstance(value, dict):
            for key, item in value.items():
                walk(item, f"{where}.{key}")
        elif isinstance(value, list):
            for index, item in enumerate(value):
                walk(item, f"{where}.{index}")

    walk(action.value.get("detail"), "detail")
    return found
