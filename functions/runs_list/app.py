"""GET /v1/runs: the account's runs, filtered by automation, ticket or contact, and status; cursor
paginated, newest first when filtered by automation or subject."""
from typing import Annotated

from automations.bootstrap import services
from automations.domain.model import SubjectKind
from automations.domain.run import RunStatus
from automations.errors import MalformedRequest
from automations.surfaces import native
from automations.surfaces.native import Query
from automations.surfaces.native_runs import RunPage, run_out

app = native.create_app()


@app.get("/v1/runs")
def list_runs(
    automation_id: Annotated[int | None, Query(ge=1)] = None,
    ticket_id: Annotated[int | None, Query(ge=1)] = None,
    contact_uuid: Annotated[str | None, Query(max_length=36)] = None,
    status: Annotated[RunStatus | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
) -> RunPage:
    if ticket_id is not None and contact_uuid is not None:
        raise MalformedRequest("filter by ticket_id or by contact_uuid, not both", kind="invalid_value")
    subject = ((SubjectKind.TICKET, str(ticket_id)) if ticket_id is not None
               else (SubjectKind.CONTACT, contact_uuid) if contact_uuid is not None else None)
    runs, next_cursor = services().runs.list(native.account_id(app), automation_id=automation_id, subject=subject,
                                             status=status, limit=limit, cursor=cursor)
    return RunPage(runs=[run_out(r) for r in runs], next_cursor=next_cursor)


handler = app.resolve
