"""Zendesk's automations (the hourly rules over tickets) on its surface: their JSON read into the
domain's drafts and changes, and written back; apart from the surface's shared parts so that the
ticket, user and group functions do not load the automations' model."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from automations.clock import iso_z
from automations.domain.model import (
    Action, Automation, AutomationChanges, AutomationDraft, Condition, Conditions, Trigger,
)
from automations.errors import FieldError, Problems, TooManyValues, ValidationFailed
from automations.inputs import MAX_BULK, MAX_ID, MAX_INT32, is_whole
from automations.paging import Ordering, check_sort
from automations.surfaces.http import HttpRequest, json_response
from automations.surfaces.zendesk import envelope, listed_response

# The automations this surface shows: Zendesk's are the hourly (sweep) rules over tickets.
KINDS = frozenset({Trigger.SWEEP})
LIST_SORTS = ("position", "alphabetical", "created_at", "updated_at", "usage_1h", "usage_24h", "usage_7d")
SEARCH_SORTS = ("position", "alphabetical", "created_at", "updated_at")


# -- reading requests ------------------------------------------------------------------------
def _conditions(raw: Any, problems: Problems) -> Conditions | None:
    if not isinstance(raw, dict):
        problems.add("conditions", "Conditions: must be an object with \"all\" and \"any\" lists")
        return None
    parsed: dict[str, tuple[Condition, ...]] = {}
    for group in ("all", "any"):
        items = raw.get(group) or []
        if not isinstance(items, list):
            problems.add("conditions", f'Conditions: "{group}" must be a list')
            return None
        conditions = []
        for item in items:
            if not isinstance(item, dict) or not isinstance(item.get("field"), str) \
                    or not isinstance(item.get("operator"), str):
                problems.add("conditions", f'Conditions: each condition in "{group}" needs a field, an operator '
                                           "and a value")
                return None
            conditions.append(Condition(item["field"], item["operator"], item.get("value", "")))
        parsed[group] = tuple(conditions)
    return Conditions(all=parsed["all"], any=parsed["any"])


def _actions(raw: Any, problems: Problems) -> tuple[Action, ...] | None:
    if not isinstance(raw, list):
        problems.add("actions", "Actions: must be a list")
        return None
    actions = []
    for item in raw:
        if not isinstance(item, dict) or not isinstance(item.get("field"), str) or "value" not in item:
            problems.add("actions", "Actions: each action needs a field and a value")
            return None
        actions.append(Action(item["field"], item["value"]))
    return tuple(actions)


def _fields(raw: Any, *, partial: bool) -> dict[str, Any]:
    """Type-check the writable fields of an automation object (read-only ones are ignored)."""
    if not isinstance(raw, dict):
        raise ValidationFailed([FieldError("base", "The automation must be a JSON object")])
    problems = Problems()
    out: dict[str, Any] = {}
    if "title" in raw or not partial:
        out["title"] = raw.get("title")
        if out["title"] is not None and not isinstance(out["title"], str):
            problems.add("title", "Title: must be a string")
    if "active" in raw:
        if not isinstance(raw["active"], bool):
            problems.add("active", "Active: must be true or false")
        out["active"] = raw["active"]
    if "position" in raw:
        if not is_whole(raw["position"], MAX_INT32):
            problems.add("position", f"Position: must be a non-negative integer (at most {MAX_INT32})")
        out["position"] = raw["position"]
    conditions = raw.get("conditions")
    if conditions is None and ("all" in raw or "any" in raw):
        conditions = {"all": raw.get("all"), "any": raw.get("any")}
    if conditions is not None or not partial:
        out["conditions"] = _conditions(conditions if conditions is not None else {}, problems)
    if "actions" in raw or not partial:
        out["actions"] = _actions(raw.get("actions", []), problems)
    problems.raise_if_any()
    return out


def parse_draft(raw: Any) -> AutomationDraft:
    fields = _fields(raw, partial=False)
    return AutomationDraft(
        title="" if fields["title"] is None else fields["title"], actions=fields["actions"],
        conditions=fields["conditions"], active=fields.get("active", True), position=fields.get("position"),
    )


def parse_changes(raw: Any) -> AutomationChanges:
    fields = _fields(raw, partial=True)
    if "title" in fields and fields["title"] is None:
        fields["title"] = ""
    return AutomationChanges(**fields)


def draft_from_body(request: HttpRequest) -> AutomationDraft:
    return parse_draft(envelope(request.json(), "automation"))


def drafts_from_body(request: HttpRequest) -> list[AutomationDraft]:
    items = envelope(request.json(), "automations")
    if not isinstance(items, list):
        raise ValidationFailed([FieldError("base", "automations must be a list")])
    if len(items) > MAX_BULK:
        raise TooManyValues(f"Too many automations: at most {MAX_BULK} per request")
    return [parse_draft(item) for item in items]


def changes_from_body(request: HttpRequest) -> AutomationChanges:
    return parse_changes(envelope(request.json(), "automation"))


def bulk_changes_from_body(request: HttpRequest) -> list[tuple[int, AutomationChanges]]:
    """``update_many`` takes only id, position and active."""
    items = envelope(request.json(), "automations")
    if not isinstance(items, list):
        raise ValidationFailed([FieldError("base", "automations must be a list")])
    if len(items) > MAX_BULK:
        raise TooManyValues(f"Too many automations: at most {MAX_BULK} per request")
    updates = []
    for item in items:
        if not isinstance(item, dict) or not is_whole(item.get("id"), MAX_ID):
            raise ValidationFailed([FieldError("base", "each automation needs a numeric id")])
        fields = _fields({k: item[k] for k in ("position", "active") if k in item}, partial=True)
        updates.append((item["id"], AutomationChanges(**fields)))
    return updates


# -- shaping responses -----------------------------------------------------------------------
def automation_json(a: Automation, base_url: str) -> dict[str, Any]:
    return {
        "url": f"{base_url}/api/v2/automations/{a.id}.json",
        "id": a.id,
        "title": a.title,
        "active": a.active,
        "updated_at": iso_z(a.updated_at),
        "created_at": iso_z(a.created_at),
        "default": a.default,
        "actions": [x.to_dict() for x in a.actions],
        "conditions": a.conditions.to_dict(),
        "position": a.position,
        "raw_title": a.title,
    }


def automation_response(request: HttpRequest, a: Automation, status: int = 200) -> dict[str, Any]:
    headers = {"Location": f"{request.base_url}/api/v2/automations/{a.id}.json"} if status == 201 else None
    return json_response(status, {"automation": automation_json(a, request.base_url)}, headers)


def automations_response(request: HttpRequest, automations: Sequence[Automation]) -> dict[str, Any]:
    return json_response(200, {"automations": [automation_json(a, request.base_url) for a in automations]})


def ordering(request: HttpRequest, service, allowed: Sequence[str] = LIST_SORTS) -> Ordering:
    """The order asked for by ``sort_by``/``sort_order`` (position, ascending, by default)."""
    sort_by = check_sort(request.query.get("sort_by"), request.query.get("sort_order"), allowed)
    return service.ordering(request.account_id, sort_by, request.query.get("sort_order"))


def paginated_response(request: HttpRequest, automations: Sequence[Automation],
                       order: Ordering | None, *, allow_cursor: bool = True) -> dict[str, Any]:
    """Offset pagination unless the client asked for cursor pagination (``page[size]`` etc.);
    ``order`` is how ``automations`` are sorted (cursors point into it)."""
    return listed_response(request, "automations", automations, order.key if order else None, automation_json,
                           descending=bool(order and order.descending), allow_cursor=allow_cursor)


