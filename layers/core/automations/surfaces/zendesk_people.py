"""Zendesk's users and groups over the native ones (service/people.py): what zenpy reads for a
ticket's requester, submitter and assignee, and what clients create and search. Envelopes and
errors are the Zendesk surface's (zendesk.py)."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from automations.clock import iso_z
from automations.domain.contacts import normalize_email
from automations.domain.user import Role, User
from automations.errors import FieldError, MalformedRequest, ValidationFailed
from automations.service.people import AgentGroup
from automations.surfaces import zendesk
from automations.surfaces.http import HttpRequest, json_response


def user_json(u: User, base_url: str) -> dict[str, Any]:
    agent = u.role is Role.AGENT
    return {
        "id": u.id, "url": f"{base_url}/api/v2/users/{u.id}.json", "name": u.name, "email": u.email,
        "created_at": iso_z(u.created_at), "updated_at": iso_z(u.created_at), "time_zone": None,
        "iana_time_zone": None, "phone": None, "shared_phone_number": None, "photo": None, "locale_id": 1,
        "locale": "en-US", "organization_id": None, "role": u.role.value, "verified": True, "external_id": None,
        "tags": [], "alias": "", "active": True, "shared": False, "shared_agent": False, "last_login_at": None,
        "two_factor_auth_enabled": None, "signature": None, "details": "", "notes": "", "role_type": None,
        "custom_role_id": None, "moderator": agent, "ticket_restriction": None if agent else "requested",
        "only_private_comments": False, "restricted_agent": False, "suspended": False, "default_group_id": None,
        "report_csv": False, "user_fields": {},
    }


def group_json(g: AgentGroup, base_url: str) -> dict[str, Any]:
    return {"url": f"{base_url}/api/v2/groups/{g.id}.json", "id": g.id, "is_public": True, "name": g.name,
            "description": "", "default": False, "deleted": False, "created_at": iso_z(g.created_at),
            "updated_at": iso_z(g.updated_at)}


def user_response(request: HttpRequest, user: User, status: int = 200) -> dict[str, Any]:
    headers = {"Location": f"{request.base_url}/api/v2/users/{user.id}.json"} if status == 201 else None
    return json_response(status, {"user": user_json(user, request.base_url)}, headers)


def users_response(request: HttpRequest, users: Sequence[User]) -> dict[str, Any]:
    return json_response(200, {"users": [user_json(u, request.base_url) for u in users], "next_page": None,
                               "previous_page": None, "count": len(users)})


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


def new_user(request: HttpRequest) -> tuple[Any, Any, Any]:
    """(name, email, role) of ``{"user": {...}}``; Zendesk makes end-users unless told otherwise."""
    user = zendesk.envelope(request.json(), "user")
    if not isinstance(user, dict):
        raise ValidationFailed([FieldError("base", "The user must be a JSON object")])
    return user.get("name"), user.get("email"), user.get("role", Role.END_USER.value)


def searched_email(request: HttpRequest) -> str | None:
    """The email a search asks for: ``query`` as ``jane@x.test`` or ``email:jane@x.test``; None
    (nobody is found) for other queries and ``external_id`` searches (users here have none)."""
    query, external_id = request.query.get("query"), request.query.get("external_id")
    if not query and not external_id:
        raise MalformedRequest("Required parameter missing: query or external_id", kind="missing",
                               parameter="query")
    if not query:
        return None
    query = query.strip()
    return normalize_email(query[len("email:"):] if query.lower().startswith("email:") else query)
