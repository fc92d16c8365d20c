"""Liquid rendering of notification subjects and bodies (python-liquid). Missing variables
render empty and a template that does not parse is sent as written: a notification never
crashes a run. Limits keep one template from running away."""
from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from automations.domain.ticket import Ticket


@functools.cache
def _environment():
    from liquid import Environment  # imported on first render: most handlers never render

    class Bounded(Environment):
        loop_iteration_limit = 10_000
        output_stream_limit = 200_000

    return Bounded()


def syntax_error(source: str) -> str | None:
    """The parser's message when ``source`` is not valid Liquid, else None."""
    from liquid.exceptions import LiquidError

    try:
        _environment().from_string(source)
    except LiquidError as e:
        return str(e)
    return None


def render(source: str, context: dict[str, Any]) -> str:
    from liquid.exceptions import LiquidError

    try:
        try:
            return _environment().from_string(source).render(**context)
        except UnicodeEncodeError:  # a lone surrogate in stored text: no encoder takes it
            return _environment().from_string(encodable(source)).render(**encodable(context))
    except LiquidError:
        return source


def encodable(value: Any) -> Any:
    """``value`` with every lone surrogate in its text replaced by U+FFFD (a valid pair becomes
    its character), so it can be encoded as UTF-8 and sent."""
    if isinstance(value, str):
        return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    if isinstance(value, dict):
        return {encodable(k): encodable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [encodable(v) for v in value]
    return value


def ticket_context(ticket: Ticket, people: dict[str, dict[str, Any] | None]) -> dict[str, Any]:
    """What ``{{ticket.*}}`` placeholders see; ``people`` holds requester/assignee records."""
    return {"ticket": {
        "id": ticket.id, "title": ticket.subject, "subject": ticket.subject, "description": ticket.description,
        "status": ticket.status, "priority": ticket.priority, "type": ticket.type,
        "tags": " ".join(ticket.tags), "external_id": ticket.external_id, "group_id": ticket.group_id,
        "due_at": ticket.due_at.isoformat() if ticket.due_at else "",
        "requester": people.get("requester") or {}, "assignee": people.get("assignee") or {},
    }}
