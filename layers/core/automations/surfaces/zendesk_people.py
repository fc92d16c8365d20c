"""Zendesk's users and groups over the native ones (service/people.py): what zenpy reads for a
ticket's requester, submitter and assignee, and what clients create, change, search and export.
Envelopes and errors are the Zendesk surface's (zendesk.py)."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from automations.clock import iso_z
from automations.domain.job import MAX_ITEMS
from automations.domain.user import MAX_EXTERNAL_ID, AgentGroup, DeletedUser, Role, User
from automations.errors import FieldError, MalformedRequest, NotFound, TooManyValues, ValidationFailed
from automations.paging import offset_page
from automations.service.people import UserService, user_changed_at
from automations.surfaces import zendesk, zendesk_exports
from automations.surfaces.http import HttpRequest, json_response


def user_json(u: User | DeletedUser, base_url: str) -> dict[str, Any]:
    """Zendesk's user object; a deleted user (the export's) is ``active`` false."""
    deleted = isinstance(u, DeletedUser)
    user = u.user if deleted else u
    agent = user.role is Role.AGENT
    return {
        "id": user.id, "url": f"{base_url}/api/v2/users/{user.id}.json", "name": user.name, "email": user.email,
        "created_at": iso_z(user.created_at), "updated_at": iso_z(user_changed_at(u)), "time_zone": None,
        "iana_time_zone": None, "phone": None, "shared_phone_number": None, "photo": None, "locale_id": 1,
        "locale": "en-US", "organization_id": None, "role": user.role.value, "verified": user.email is not None,
        "external_id": user.external_id, "tags": [], "alias": "", "active": not deleted, "shared": False,
        "shared_agent": False, "last_login_at": None, "two_factor_auth_enabled": None, "signature": None,
        "details": "", "notes": "", "role_type": None, "custom_role_id": None, "moderator": agent,
        "ticket_restriction": None if agent else "requested", "only_private_comments": False,
        "restricted_agent": False, "suspended": False, "default_group_id": None, "report_csv": False,
        "user_fields": {},
    }


def group_json(g: AgentGroup, base_url: str) -> dict[str, Any]:
    return {"url": f"{base_url}/api/v2/groups/{g.id}.json", "id": g.id, "is_public": True, "name": g.name,
            "description": "", "default": False, "deleted": False, "created_at": iso_z(g.created_at),
            "updated_at": iso_z(g.updated_at)}


def user_response(request: HttpRequest, user: User | DeletedUser, status: int = 200) -> dict[str, Any]:
    headers = {"Location": f"{request.base_url}/api/v2/users/{user.id}.json"} if status == 201 else None
    return json_response(status, {"user": user_json(user, request.base_url)}, headers)


def users_response(request: HttpRequest, users: Sequence[User]) -> dict[str, Any]:
    """Offset paginated (``page``, ``per_page``), as Zendesk pages its searches."""
    page, per_page = zendesk.offset_params(request)
    return zendesk.offset_response(request, "users", offset_page(users, page, per_page), user_json)


def list_response(request: HttpRequest, users: UserService) -> dict[str, Any]:
    """The account's users by id, offset paginated unless the client asked for cursor pagination
    (``page[size]`` etc.), as the tickets list; ``role`` or ``role[]`` (repeated: API Gateway
    joins the values with commas) keeps the users of those roles."""
    roles = [r.strip() for name in ("role", "role[]") for r in request.query.get(name, "").split(",") if r.strip()]
    if zendesk.wants_cursor(request):
        size, after, before = zendesk.cursor_params(request)
        result = users.list_cursor(request.account_id, size, after=after, before=before, roles=roles)
        return zendesk.cursor_response(request, "users", result, size, user_json)
    page, per_page = zendesk.offset_params(request)
    return zendesk.offset_response(request, "users", users.list_page(request.account_id, page, per_page, roles=roles),
                                   user_json)


def group_response(request: HttpRequest, group: AgentGroup, status: int = 200) -> dict[str, Any]:
    headers = {"Location": f"{request.base_url}/api/v2/groups/{group.id}.json"} if status == 201 else None
    return json_response(status, {"group": group_json(group, request.base_url)}, headers)


def groups_response(request: HttpRequest, groups: Sequence[AgentGroup]) -> dict[str, Any]:
    """By id, offset or cursor paginated as the client asks."""
    return zendesk.listed_response(request, "groups", groups, lambda g: [g.id], group_json)


def group_from_body(request: HttpRequest) -> dict[str, Any]:
    """The writable field of ``{"group": {...}}``: its name. Members join through the native
    ``/v1/groups`` (Zendesk's group memberships are not served); other keys are ignored."""
    group = zendesk.envelope(request.json(), "group")
    if not isinstance(group, dict):
        raise ValidationFailed([FieldError("base", "The group must be a JSON object")])
    return {"name": group["name"]} if "name" in group else {}


def user_from_body(request: HttpRequest) -> Any:
    """The ``user`` object of the body; the service checks its attributes."""
    return zendesk.envelope(request.json(), "user")


def users_from_body(request: HttpRequest) -> Any:
    """The ``users`` list of a bulk body; the job service checks its size and items."""
    return zendesk.envelope(request.json(), "users")


def external_ids(request: HttpRequest) -> list[str] | None:
    """``external_ids=a,b`` (at most 100), or None when not given."""
    raw = request.query.get("external_ids")
    if raw is None:
        return None
    ids = list(dict.fromkeys(p.strip() for p in raw.split(",") if p.strip()))
    if not ids:
        raise MalformedRequest("Required parameter missing: external_ids", kind="missing", parameter="external_ids")
    if len(ids) > MAX_ITEMS:
        raise TooManyValues(f"Parameter external_ids cannot specify more than {MAX_ITEMS} values")
    if any(len(i) > MAX_EXTERNAL_ID for i in ids):
        raise MalformedRequest(f"external_ids: each at most {MAX_EXTERNAL_ID} characters", kind="invalid_value",
                               parameter="external_ids")
    return ids


def searched(request: HttpRequest, users: UserService) -> list[User]:
    """``query`` (see UserService.search) or ``external_id`` (that user, if any); one of them."""
    query, external_id = request.query.get("query"), request.query.get("external_id")
    if not (query or "").strip() and not external_id:
        raise MalformedRequest("Required parameter missing: query or external_id", kind="missing",
                               parameter="query")
    if (query or "").strip():
        return users.search(request.account_id, query)
    try:
        return [users.find_external(request.account_id, external_id)]
    except NotFound:
        return []


def export_response(request: HttpRequest, users: UserService) -> dict[str, Any]:
    """The time-based user export, paged on whole seconds as the tickets' is."""
    page = users.changed_since(request.account_id, **zendesk_exports.export_request(request, by_cursor=False))
    return zendesk_exports.time_export_response(request, "users", page, user_json, user_changed_at)


def export_cursor_response(request: HttpRequest, users: UserService) -> dict[str, Any]:
    page = users.changed_since(request.account_id, **zendesk_exports.export_request(request, by_cursor=True))
    return zendesk_exports.cursor_export_response(request, "users", page, user_json)
