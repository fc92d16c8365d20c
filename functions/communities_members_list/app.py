"""GET /v1/communities/{community_id}/members: members in contact uuid order, cursor paginated."""
from typing import Annotated

from automations.bootstrap import services
from automations.surfaces import native
from automations.surfaces.native import Query, path_id
from automations.surfaces.native_contacts import MemberPage, member_page

app = native.create_app()


@app.get("/v1/communities/<community_id>/members")
def list_members(community_id: str, limit: Annotated[int, Query(ge=1, le=100)] = 50,
                 cursor: Annotated[str | None, Query(max_length=2048)] = None) -> MemberPage:
    return member_page(*services().communities.members(native.account_id(app), path_id(community_id, "community"),
                                                     cursor=cursor, limit=limit))


handler = app.resolve
