"""The Zendesk tickets surface: Zendesk's ticket and audit JSON over the shared ticket service.
Envelopes, pagination, status codes and error bodies are the Zendesk surface's (zendesk.py)."""
from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from automations import clock
from automations.clock import iso_z
from automations.domain import job as jobs
from automations.domain.audit import API, Audit, AuditEvent, Comment
from automations.domain.job import Job, JobItem
from automations.domain.person import MAX_NAME, normalize_email
from automations.domain.ticket import PRIORITIES, STATUSES, TICKET_TYPES, DeletedTicket, Ticket, TicketDraft, normalize_tags
from automations.domain.user import User
from automations.errors import FieldError, MalformedRequest, Problems, TooManyValues
from automations.inputs import MAX_ID, is_whole
from automations.paging import offset_page
from automations.service.tickets import TicketService, changed_at
from automations.surfaces import zendesk, zendesk_exports
from automations.surfaces.http import HttpRequest, json_response


def ticket_object(request: HttpRequest) -> Any:
    """The body's ``ticket`` object as it came (a bulk job keeps it so; read when its turn comes)."""
    return zendesk.envelope(request.json(), "ticket")


def ticket_from_body(request: HttpRequest, *, creating: bool) -> TicketDraft:
    """The body's ``ticket`` object, read (``ticket_draft``)."""
    return ticket_draft(ticket_object(request), creating=creating)


def tag_change(request: HttpRequest, field: str) -> TicketDraft:
    """A tags request (``{"tags": [...]}``) as the ticket change it is: ``tags`` (replace),
    ``additional_tags`` or ``remove_tags``."""
    return ticket_draft({field: zendesk.envelope(request.json(), "tags")}, creating=False)


# -- a ticket object read ------------------------------------------------------------------------
def new_ticket(raw: Any) -> TicketDraft:
    return ticket_draft(raw, creating=True)


def ticket_changes(raw: Any) -> TicketDraft:
    return ticket_draft(raw, creating=False)


MAX_COMMENT_CHARS = 65_536  # Zendesk's limit on a comment
_MAX_EMAIL = 254
_CHOICES = {"status": ("Status", STATUSES), "priority": ("Priority", PRIORITIES), "type": ("Type", TICKET_TYPES)}
_IDS = {"requester_id": "Requester", "submitter_id": "Submitter", "assignee_id": "Assignee", "group_id": "Group",
        "organization_id": "Organization", "custom_status_id": "Custom status", "brand_id": "Brand",
        "ticket_form_id": "Ticket form"}
_TEXTS = {"subject": "Subject", "description": "Description", "external_id": "External id",
          "recipient": "Recipient"}
_TAG_LISTS = {"tags": "Tags", "additional_tags": "Additional tags", "remove_tags": "Remove tags"}
_CREATE_ONLY = frozenset({"description", "submitter_id"})  # Zendesk ignores them in an update
_BLANK_TEXT = {"subject": "", "description": ""}  # what null means; None for the other texts
_CUSTOM_FIELDS_SHAPE = 'Custom fields: must be a list of {"id": <integer>, "value": <string, number or null>}'
_DUE_AT_FORMAT = "Due at: must be an ISO-8601 time with a timezone, such as 2026-11-30T17:00:00Z"


def ticket_draft(raw: Any, *, creating: bool) -> TicketDraft:
    """Zendesk's ticket object (``creating``) or a ticket's changes, its writable fields
    type-checked with Zendesk's labels; read-only and unknown keys are ignored, as are the fields
    Zendesk sets only at creation when updating. What is wrong travels in the draft: the service
    raises it, every problem at once, after its own checks that come first (an unknown ticket)."""
    if not isinstance(raw, Mapping):
        return TicketDraft({}, problems=(FieldError("base", "The ticket must be a JSON object"),))
    given = {k: v for k, v in raw.items() if creating or k not in _CREATE_ONLY}
    problems = Problems()
    values: dict[str, Any] = {}
    for name, (label, allowed) in _CHOICES.items():
        if name in given:
            value = "" if given[name] is None and name != "status" else given[name]
            if isinstance(value, str) and value in allowed:
                values[name] = value
            else:
                problems.add(name, f"{label}: {_shown(given[name])} is not valid; use one of "
                                   + ", ".join(a for a in allowed if a))
    for name, label in _IDS.items():
        value = given.get(name)
        if name == "requester_id" and value is None:
            continue  # the requester cannot be removed, only replaced
        if name in given:
            if value is None or is_whole(value, MAX_ID, 1):
                values[name] = value
            else:
                problems.add(name, f"{label}: must be a positive integer id (at most {MAX_ID})")
    for name, label in _TEXTS.items():
        if name in given:
            value = given[name]
            if value is None or isinstance(value, str):
                values[name] = _BLANK_TEXT.get(name) if value is None else value
            else:
                problems.add(name, f"{label}: must be a string")
    comment = _read_comment(given, values, problems, creating=creating)
    tags = {name: _read_tags(given, name, label, problems) for name, label in _TAG_LISTS.items() if name in given}
    if "tags" in tags:
        values["tags"] = tags["tags"]
    if "custom_fields" in given:
        _read_custom_fields(given["custom_fields"], values, problems)
    if "due_at" in given:
        _read_due_at(given["due_at"], values, problems)
    requester = _read_requester(given.get("requester"), problems)
    return TicketDraft(values, requester, comment, normalize_tags(tags.get("additional_tags", ())),
                       normalize_tags(tags.get("remove_tags", ())), tuple(problems.errors))


def _read_tags(given: Mapping[str, Any], name: str, label: str, problems: Problems) -> list[str]:
    tags = [] if given[name] is None else given[name]
    if isinstance(tags, list) and all(isinstance(t, str) for t in tags):
        return tags
    problems.add(name, f"{label}: must be a list of strings")
    return []


def _read_comment(given: Mapping[str, Any], values: dict[str, Any], problems: Problems, *,
                  creating: bool) -> Comment | None:
    """The comment a change adds: ``comment`` ``{body or html_body, public}``. A new ticket's
    description is its first comment: ``comment`` (Zendesk's way) or ``description`` (zenpy's)."""
    comment = None if given.get("comment") is None else _comment(given["comment"], problems)
    if not creating or any(e.field in ("comment", "description") for e in problems.errors):
        return comment
    if comment is None and values.get("description", "").strip():
        comment = _comment({"body": values["description"]}, problems)
    if comment is None:
        problems.add("description", "Description: cannot be blank")
    else:
        values["description"] = comment.body
    return comment


def _comment(raw: Any, problems: Problems) -> Comment | None:
    body, html_body = (raw.get("body"), raw.get("html_body")) if isinstance(raw, Mapping) else (None, None)
    if not any(isinstance(text, str) and text.strip() for text in (body, html_body)) \
            or not all(text is None or isinstance(text, str) for text in (body, html_body)):
        problems.add("comment", 'Comment: must be an object with a non-blank "body" or "html_body" string')
        return None
    public = raw.get("public", True)
    if not isinstance(public, bool):
        problems.add("comment", "Comment: public must be true or false")
        return None
    comment = Comment.written(body, html_body, public)
    if max(len(comment.body), len(comment.html_body)) > MAX_COMMENT_CHARS:
        problems.add("comment", f"Comment: is too long (at most {MAX_COMMENT_CHARS} characters)")
        return None
    return comment


def _read_custom_fields(entries: Any, values: dict[str, Any], problems: Problems) -> None:
    entries = [] if entries is None else entries
    if not isinstance(entries, list) or not all(
            isinstance(e, Mapping) and is_whole(e.get("id"), MAX_ID, 1) and "value" in e
            and (e["value"] is None or (isinstance(e["value"], (str, int, float)) and not isinstance(e["value"], bool)))
            for e in entries):
        problems.add("custom_fields", _CUSTOM_FIELDS_SHAPE)
        return
    values["custom_fields"] = {e["id"]: None if e["value"] is None else str(e["value"]) for e in entries}


def _read_due_at(value: Any, values: dict[str, Any], problems: Problems) -> None:
    if value is None:
        values["due_at"] = None
        return
    try:
        if not isinstance(value, str):
            raise ValueError(value)
        values["due_at"] = clock.parse_iso(value)
    except (ValueError, OverflowError):  # an offset can push an extreme date out of range
        problems.add("due_at", _DUE_AT_FORMAT)


def _read_requester(raw: Any, problems: Problems) -> tuple[str, str | None] | None:
    """A requester given as ``{"name", "email"}`` (found by email or created); it wins over a
    ``requester_id`` given beside it. Its email and name are checked as a user's are, so the user
    it makes is one the users' API takes."""
    if raw is None:
        return None
    email = raw.get("email") if isinstance(raw, Mapping) else None
    name = raw.get("name") if isinstance(raw, Mapping) else None
    address = normalize_email(email) if isinstance(email, str) else None
    if address is None or not (name is None or (isinstance(name, str) and len(name) <= MAX_NAME)):
        problems.add("requester", f'Requester: must be an object with a valid "email" (at most {_MAX_EMAIL} '
                                  f'characters) and an optional "name" (at most {MAX_NAME})')
        return None
    return address, (name or "").strip() or None


def _shown(value: Any) -> str:
    return json.dumps(value, default=str)


def tags_response(ticket: Ticket) -> dict[str, Any]:
    return json_response(200, {"tags": list(ticket.tags)})


def ticket_url(base_url: str, ticket_id: int) -> str:
    return f"{base_url}/api/v2/tickets/{ticket_id}.json"


def ticket_json(t: Ticket, base_url: str) -> dict[str, Any]:
    """Zendesk's ticket object, key for key and in its order."""
    custom_fields = [{"id": field_id, "value": value} for field_id, value in t.custom_fields]
    return {
        "url": ticket_url(base_url, t.id),
        "id": t.id,
        "external_id": t.external_id,
        "via": API.to_dict(),  # every ticket here is made through the API
        "created_at": iso_z(t.created_at),
        "updated_at": iso_z(t.updated_at),
        "type": t.type or None,
        "subject": t.subject,
        "raw_subject": t.subject,
        "description": t.description,
        "priority": t.priority or None,
        "status": t.status,
        "recipient": t.recipient,
        "requester_id": t.requester_id,
        "submitter_id": t.submitter_id,
        "assignee_id": t.assignee_id,
        "organization_id": t.organization_id,
        "group_id": t.group_id,
        "collaborator_ids": [],
        "follower_ids": [],
        "email_cc_ids": [],
        "forum_topic_id": None,
        "problem_id": None,
        "has_incidents": False,
        "is_public": True,
        "due_at": iso_z(t.due_at) if t.due_at else None,
        "tags": list(t.tags),
        "custom_fields": custom_fields,
        "satisfaction_rating": None,
        "sharing_agreement_ids": [],
        "custom_status_id": t.custom_status_id,
        "fields": custom_fields,
        "followup_ids": [],
        "ticket_form_id": t.ticket_form_id,
        "brand_id": t.brand_id,
        "allow_channelback": False,
        "allow_attachments": True,
        "from_messaging_channel": False,
    }


def event_json(audit: Audit, index: int, event: AuditEvent | Comment) -> dict[str, Any]:
    """One event of an audit, with its (derived) id; a comment as Zendesk shows it."""
    if isinstance(event, Comment):
        return {"id": audit.event_id(index), "type": "Comment", "author_id": audit.author_id, "body": event.body,
                "html_body": event.html_body, "plain_body": event.body, "public": event.public, "attachments": [],
                "audit_id": audit.id}
    return {"id": audit.event_id(index), **event.to_dict()}


def comment_json(audit: Audit, base_url: str) -> dict[str, Any]:
    """The comment ``audit`` added, as Zendesk lists a ticket's comments."""
    index, comment = audit.added_comment()
    return {**event_json(audit, index, comment), "via": audit.via.to_dict(), "created_at": iso_z(audit.created_at),
            "metadata": {"system": {}, "custom": {}}}


def comments_response(request: HttpRequest, tickets: TicketService) -> dict[str, Any]:
    """A ticket's comments, oldest first (``sort_order=desc``: newest first), private ones too;
    offset pagination unless the client asked for cursor pagination."""
    ticket_id = zendesk.path_id(request)
    sort_order = request.query.get("sort_order", "asc")
    if sort_order not in ("asc", "desc"):
        raise MalformedRequest("sort_order must be asc or desc", kind="invalid_value", parameter="sort_order")
    zendesk.query_bool(request, "include_inline_images")  # no attachments here: nothing to include
    newest_first = sort_order == "desc"
    if zendesk.wants_cursor(request):
        size, after, before = zendesk.cursor_params(request)
        result = tickets.comments_cursor(request.account_id, ticket_id, size, after=after, before=before,
                                         newest_first=newest_first)
        return zendesk.cursor_response(request, "comments", result, size, comment_json)
    page, per_page = zendesk.offset_params(request)
    comments = tickets.comments(request.account_id, ticket_id, newest_first=newest_first)
    return zendesk.offset_response(request, "comments", offset_page(comments, page, per_page), comment_json)


def audit_json(a: Audit) -> dict[str, Any]:
    return {"id": a.id, "ticket_id": a.ticket_id, "created_at": iso_z(a.created_at), "author_id": a.author_id,
            "metadata": {"system": {}, "custom": {}}, "via": a.via.to_dict(),
            "events": [event_json(a, i, e) for i, e in enumerate(a.events)]}


def ticket_response(request: HttpRequest, ticket: Ticket) -> dict[str, Any]:
    return json_response(200, {"ticket": ticket_json(ticket, request.base_url)})


def change_response(request: HttpRequest, ticket: Ticket, audit: Audit | None, status: int = 200) -> dict[str, Any]:
    """A create's or update's answer: the ticket and the audit of the change (null when nothing changed)."""
    headers = {"Location": ticket_url(request.base_url, ticket.id)} if status == 201 else None
    return json_response(status, {"ticket": ticket_json(ticket, request.base_url),
                                  "audit": audit_json(audit) if audit else None}, headers)


def tickets_response(request: HttpRequest, tickets: TicketService) -> dict[str, Any]:
    """Offset pagination unless the client asked for cursor pagination (``page[size]`` etc.)."""
    if zendesk.wants_cursor(request):
        size, after, before = zendesk.cursor_params(request)
        result = tickets.list_cursor(request.account_id, size, after=after, before=before)
        return zendesk.cursor_response(request, "tickets", result, size, ticket_json)
    page, per_page = zendesk.offset_params(request)
    return zendesk.offset_response(request, "tickets", tickets.list_page(request.account_id, page, per_page),
                                   ticket_json)


def account_audits_response(request: HttpRequest, tickets: TicketService) -> dict[str, Any]:
    """Every audit of the account, newest first, cursor paginated (the only way Zendesk pages them)."""
    size, after, before = zendesk.cursor_params(request)
    result = tickets.account_audits(request.account_id, size, after=after, before=before)
    return zendesk.cursor_response(request, "audits", result, size, lambda audit, _: audit_json(audit))


def audits_response(audits: list[Audit]) -> dict[str, Any]:
    return json_response(200, {"audits": [audit_json(a) for a in audits], "next_page": None,
                               "previous_page": None, "count": len(audits)})


def tickets_list_response(request: HttpRequest, tickets: list[Ticket]) -> dict[str, Any]:
    return json_response(200, {"tickets": [ticket_json(t, request.base_url) for t in tickets], "next_page": None,
                               "previous_page": None, "count": len(tickets)})


# -- incremental exports ----------------------------------------------------------------------
def _export_json(ticket: Ticket | DeletedTicket, base_url: str) -> dict[str, Any]:
    changed = {"generated_timestamp": int(changed_at(ticket).timestamp())}
    if isinstance(ticket, DeletedTicket):  # as Zendesk exports them: status "deleted"
        return {**ticket_json(ticket.ticket, base_url), "updated_at": iso_z(ticket.deleted_at), "status": "deleted",
                **changed}
    return {**ticket_json(ticket, base_url), **changed}


def export_response(request: HttpRequest, tickets: TicketService) -> dict[str, Any]:
    """The time-based ticket export; each ticket carries ``generated_timestamp``."""
    page = tickets.changed_since(request.account_id, **zendesk_exports.export_request(request, by_cursor=False))
    return zendesk_exports.time_export_response(request, "tickets", page, _export_json, changed_at)


def export_cursor_response(request: HttpRequest, tickets: TicketService) -> dict[str, Any]:
    page = tickets.changed_since(request.account_id, **zendesk_exports.export_request(request, by_cursor=True))
    return zendesk_exports.cursor_export_response(request, "tickets", page, _export_json)


# -- deleted tickets ---------------------------------------------------------------------------
def deleted_ticket_json(entry: tuple[DeletedTicket, User | None], base_url: str) -> dict[str, Any]:
    deleted, actor = entry
    t = deleted.ticket
    return {"id": t.id, "subject": t.subject, "description": t.description,
            "actor": {"id": deleted.actor_id, "name": actor.name if actor else None},
            "deleted_at": iso_z(deleted.deleted_at), "previous_state": t.status,
            "url": f"{base_url}/api/v2/deleted_tickets/{t.id}.json"}


def deleted_tickets_response(request: HttpRequest, tickets: TicketService) -> dict[str, Any]:
    page, per_page = zendesk.offset_params(request)
    return zendesk.offset_response(request, "deleted_tickets", tickets.deleted_page(request.account_id, page, per_page),
                                   deleted_ticket_json)


def restored_response() -> dict[str, Any]:
    return json_response(200, {})


# -- bulk requests and their job statuses ------------------------------------------------------
def tickets_from_body(request: HttpRequest) -> Any:
    """The ``tickets`` list of a bulk body; the job service checks its size and items."""
    return zendesk.envelope(request.json(), "tickets")


def job_id_list(request: HttpRequest) -> list[str]:
    ids = [p.strip() for p in request.query.get("ids", "").split(",") if p.strip()]
    if not ids:
        raise MalformedRequest("Required parameter missing: ids", kind="missing", parameter="ids")
    if len(ids) > jobs.MAX_ITEMS:
        raise TooManyValues(f"Parameter ids cannot specify more than {jobs.MAX_ITEMS} values")
    return ids


def job_json(job: Job, items: list[JobItem] | None, base_url: str) -> dict[str, Any]:
    """Zendesk's job status: ``progress`` counts the items done; ``results`` once it finished."""
    results = sorted((i.result for i in items or () if i.result is not None), key=lambda r: r["index"])
    finished = job.status in (jobs.COMPLETED, jobs.FAILED)
    return {"id": job.id, "url": f"{base_url}/api/v2/job_statuses/{job.id}.json", "total": job.total,
            "progress": None if job.status == jobs.QUEUED else len(results), "status": job.status,
            "message": job.message, "results": results if finished else None}


def job_response(request: HttpRequest, job: Job, items: list[JobItem] | None = None) -> dict[str, Any]:
    return json_response(200, {"job_status": job_json(job, items, request.base_url)})


def jobs_response(request: HttpRequest, found: list[tuple[Job, list[JobItem]]]) -> dict[str, Any]:
    return json_response(200, {"job_statuses": [job_json(job, items, request.base_url) for job, items in found]})


# -- the account's tags ------------------------------------------------------------------------
def _tag_json(tag: tuple[str, int], _base_url: str) -> dict[str, Any]:
    name, count = tag
    return {"name": name, "count": count}


def account_tags_response(request: HttpRequest, tickets: TicketService) -> dict[str, Any]:
    """The account's ticket tags with their counts, most used first; offset or cursor paginated."""
    return zendesk.listed_response(request, "tags", tickets.tags(request.account_id), lambda t: [-t[1], t[0]],
                                   _tag_json)
