"""POST /v1/communities/{community_id}/members {"contact_uuids": [...]} (1-1000): each contact joining
emits one join event; duplicates are ignored, unknown contacts reported, members left alone."""
from automations.bootstrap import services
from automations.surfaces import native
from automations.surfaces.native import path_id
from automations.surfaces.native_contacts import MembersAddedOut, MembersIn, members_added_out

app = native.create_app()


@app.post("/v1/communities/<community_id>/members")
def add_members(community_id: str, body: MembersIn) -> MembersAddedOut:
    outcome = services().communities.add_members(native.account_id(app), path_id(community_id, "community"),
                                               body.contact_uuids)
    return members_added_out(outcome)


handler = app.resolve
