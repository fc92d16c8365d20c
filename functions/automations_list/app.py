"""GET /v1/automations: every kind, by id, cursor paginated; filters active, trigger, subject."""
from typing import Annotated

from automations.bootstrap import services
from automations.domain.model import SubjectKind, Trigger
from automations.surfaces import native
from automations.surfaces.native import Query, id_page
from automations.surfaces.native_automation_answers import AutomationPage, automation_out

app = native.create_app()


@app.get("/v1/automations")
def list_automations(
    active: Annotated[bool | None, Query()] = None,
    trigger: Annotated[Trigger | None, Query()] = None,
    subject: Annotated[SubjectKind | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
) -> AutomationPage:
    found = services().native_automations.list(native.account_id(app), active=active, trigger=trigger,
                                               subject=subject)
    page, next_cursor = id_page(found, limit, cursor)
    return AutomationPage(automations=[automation_out(a) for a in page], next_cursor=next_cursor)


handler = app.resolve
