"""The Zendesk-compatible surface: Zendesk's JSON shapes, pagination, status codes and error
bodies, shared by its automations, tickets, users and groups. No business rules here."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlencode

from automations.errors import (
    Conflict, DomainError, Duplicate, MalformedRequest, NotFound, TooLarge, TooManyValues,
    Unauthenticated, ValidationFailed,
)
from automations.inputs import MAX_BULK, MAX_ID, MAX_INT32, parse_whole
from automations.paging import MAX_PAGE_SIZE, CursorPage, OffsetPage, cursor_page, offset_page
from automations.surfaces.http import HttpRequest, empty_response, endpoint as _endpoint, json_response

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


# -- shaping responses -----------------------------------------------------------------------
def no_content() -> dict[str, Any]:
    return empty_response(204)


def _url(request: HttpRequest, params: dict[str, str]) -> str:
    return f"{request.base_url}{request.path}?{urlencode(params)}"


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
