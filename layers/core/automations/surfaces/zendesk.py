"""The Zendesk-compatible surface: Zendesk's JSON shapes, pagination, status codes and error
bodies over the shared automation service. No business rules here."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlencode

from automations.clock import iso_z
from automations.domain.model import (
    Action, Automation, AutomationChanges, AutomationDraft, Condition, Conditions, Trigger,
)
from automations.errors import (
    Conflict, DomainError, Duplicate, FieldError, MalformedRequest, NotFound, Problems, TooLarge, TooManyValues,
    Unauthenticated, ValidationFailed,
)
from automations.inputs import MAX_BULK, MAX_ID, MAX_INT32, is_whole, parse_whole
from automations.paging import MAX_PAGE_SIZE, CursorPage, OffsetPage, Ordering, check_sort, cursor_page, offset_page
from automations.surfaces.http import HttpRequest, empty_response, endpoint as _endpoint, json_response

# The automations this surface shows: Zendesk's are the hourly (sweep) rules over tickets.
KINDS = frozenset({Trigger.SWEEP})
LIST_SORTS = ("position", "alphabetical", "created_at", "updated_at", "usage_1h", "usage_24h", "usage_7d")
SEARCH_SORTS = ("position", "alphabetical", "created_at", "updated_at")
_CURSOR_PARAMS = ("page[size]", "page[after]", "page[before]")
_FIELD_LABELS = {"email": "Email", "external_id": "External ID"}  # as Zendesk names fields in its errors


class ZendeskSurface:
    def error_response(self, error: DomainError) -> dict[str, Any]:
        if isinstance(error, Unauthenticated):
            return json_response(401, {"error": "Couldn't authenticate you"},
                                 {"WWW-Authenticate": 'Basic realm="Web Password"'})
        if isinstance(error, NotFound):
            return json_response(404, {"error": "RecordNotFound", "description": "Not found"})
        if isinstance(error, ValidationFailed):
            details: dict[str, list[dict[str, str]]] = {}
            for e in error.errors:
                details.setdefault(e.field, []).append({"description": e.message, "error": e.code.upper()})
            return json_response(422, {"error": "RecordInvalid", "description": "Record validation errors",
                                       "details": details})
        if isinstance(error, Duplicate):  # as Zendesk answers a taken email: 422, not 409
            label = _FIELD_LABELS.get(error.field, error.field)
            return json_response(422, {"error": "RecordInvalid", "description": "Record validation errors",
                                       "details": {error.field: [{
                                           "description": f"{label}: {error.value} is already being used by "
                                                          f"another {error.noun}",
                                           "error": "DuplicateValue"}]}})
        if isinstance(error, TooLarge):
            return json_response(413, {"error": "RequestTooLarge", "description": error.message})
        if isinstance(error, TooManyValues) or (isinstance(error, MalformedRequest) and error.kind == "too_many_values"):
            return json_response(400, {"error": "TooManyValues", "description": error.message})
        if isinstance(error, MalformedRequest) and error.kind == "content_type":
            return json_response(415, {"error": "UnsupportedMediaType", "description": error.message})
        if isinstance(error, MalformedRequest):
            names = {"json": "InvalidJSON", "pagination": "InvalidPaginationParameter",
                     "missing": "ParameterMissing", "invalid_value": "InvalidValue"}
            return json_response(400, {"error": names.get(error.kind, "BadRequest"), "description": error.message})
        if isinstance(error, Conflict):
            return json_response(409, {"error": "Conflict", "description": error.message})
        return self.unexpected_error_response()

    def unexpected_error_response(self) -> dict[str, Any]:
        return json_response(500, {"error": "InternalError", "description": "Something went wrong; please retry"})

    def unknown_endpoint_response(self) -> dict[str, Any]:
        return json_response(404, {"error": "InvalidEndpoint", "description": "Not found"})


SURFACE = ZendeskSurface()


def endpoint(fn):
    return _endpoint(SURFACE)(fn)


# -- reading requests ------------------------------------------------------------------------
def path_id(request: HttpRequest) -> int:
    """The ``{id}`` path segment (``25`` or ``25.json``); anything else is a missing record."""
    record_id = parse_whole(request.path_params.get("id", "").removesuffix(".json"), MAX_ID)
    if record_id is None:
        raise NotFound("no such record")
    return record_id


def query_bool(request: HttpRequest, name: str) -> bool | None:
    value = request.query.get(name)
    if value is None:
        return None
    lowered = value.lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    raise MalformedRequest(f"{name} must be true or false", kind="invalid_value", parameter=name)


def _positive_int(request: HttpRequest, name: str, default: int) -> int:
    value = request.query.get(name)
    if value is None:
        return default
    number = parse_whole(value, MAX_INT32)
    if not number:
        raise MalformedRequest(f"{name} must be a positive integer (at most {MAX_INT32})", kind="pagination",
                               parameter=name)
    return number


def query_ids(request: HttpRequest) -> list[int]:
    raw = request.query.get("ids", "")
    parts = [p.strip() for p in raw.split(",") if p.strip()]
    if not parts:
        raise MalformedRequest("Required parameter missing: ids", kind="missing", parameter="ids")
    if len(parts) > MAX_BULK:
        raise TooManyValues(f"Too many values in ids: at most {MAX_BULK} are allowed")
    ids = [parse_whole(p, MAX_ID) for p in parts]
    if None in ids:
        raise MalformedRequest("ids must be a comma-separated list of numeric ids", kind="invalid_value",
                               parameter="ids")
    return ids


def envelope(body: Any, key: str) -> Any:
    if not isinstance(body, dict) or key not in body:
        raise MalformedRequest(f"Required parameter missing: {key}", kind="missing", parameter=key)
    return body[key]


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


def no_content() -> dict[str, Any]:
    return empty_response(204)


def _url(request: HttpRequest, params: dict[str, str]) -> str:
    return f"{request.base_url}{request.path}?{urlencode(params)}"


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


def listed_response(request: HttpRequest, name: str, items: Sequence[Any], key: Callable[[Any], list[Any]] | None,
                    render: Render, *, descending: bool = False, allow_cursor: bool = True) -> dict[str, Any]:
    """``items`` (sorted by ``key``) offset paginated, or cursor paginated when the client asked
    (``page[size]`` etc.): cursors point into that order."""
    if allow_cursor and wants_cursor(request):
        size, after, before = cursor_params(request)
        result = cursor_page(items, key, size, descending=descending, after=after, before=before)
        return cursor_response(request, name, result, size, render)
    page, per_page = offset_params(request)
    return offset_response(request, name, offset_page(items, page, per_page), render)


def wants_cursor(request: HttpRequest) -> bool:
    return any(p in request.query for p in _CURSOR_PARAMS)


def offset_params(request: HttpRequest) -> tuple[int, int]:
    """(page, per_page) of an offset-paginated request."""
    return _positive_int(request, "page", 1), min(_positive_int(request, "per_page", MAX_PAGE_SIZE), MAX_PAGE_SIZE)


def cursor_params(request: HttpRequest) -> tuple[int, str | None, str | None]:
    """(page[size], page[after], page[before]) of a cursor-paginated request. A ``page`` or
    ``per_page`` beside them is unused, but refused as in offset pagination when malformed."""
    offset_params(request)
    size = _positive_int(request, "page[size]", MAX_PAGE_SIZE)
    if size > MAX_PAGE_SIZE:
        raise MalformedRequest(f"page[size] is greater than maximum of {MAX_PAGE_SIZE}", kind="pagination",
                               parameter="page[size]")
    after, before = request.query.get("page[after]"), request.query.get("page[before]")
    if after is not None and before is not None:
        raise MalformedRequest("page[after] and page[before] cannot be combined", kind="pagination")
    return size, after, before


# ``render(item, base_url)`` shapes one item of a list answer named ``name``.
Render = Callable[[Any, str], dict[str, Any]]


def offset_response(request: HttpRequest, name: str, result: OffsetPage, render: Render) -> dict[str, Any]:
    others = {k: v for k, v in request.query.items() if k != "page"}
    return json_response(200, {
        name: [render(item, request.base_url) for item in result.items],
        "next_page": _url(request, {**others, "page": str(result.page + 1)}) if result.has_next else None,
        "previous_page": _url(request, {**others, "page": str(result.page - 1)}) if result.has_previous else None,
        "count": result.count,
    })


def cursor_response(request: HttpRequest, name: str, result: CursorPage, size: int,
                    render: Render) -> dict[str, Any]:
    others = {k: v for k, v in request.query.items() if k not in _CURSOR_PARAMS}
    others["page[size]"] = str(size)
    return json_response(200, {
        name: [render(item, request.base_url) for item in result.items],
        "meta": {"has_more": result.has_more, "after_cursor": result.after_cursor,
                 "before_cursor": result.before_cursor},
        "links": {
            "next": _url(request, {**others, "page[after]": result.after_cursor}) if result.after_cursor else None,
            "prev": _url(request, {**others, "page[before]": result.before_cursor}) if result.before_cursor else None,
        },
    })
