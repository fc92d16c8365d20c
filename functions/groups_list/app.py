"""GET /v1/groups: the account's agent groups by id, cursor paginated."""
from typing import Annotated

from automations.bootstrap import services
from automations.surfaces import native
from automations.surfaces.native import Query, id_page
from automations.surfaces.native_people import GroupPage, group_out

app = native.create_app()


@app.get("/v1/groups")
def list_groups(limit: Annotated[int, Query(ge=1, le=100)] = 50,
                cursor: Annotated[str | None, Query(max_length=2048)] = None) -> GroupPage:
    groups, next_cursor = id_page(services().agent_groups.list(native.account_id(app)), limit, cursor)
    return GroupPage(groups=[group_out(g) for g in groups], next_cursor=next_cursor)


handler = app.resolve
