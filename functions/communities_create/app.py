"""POST /v1/communities: 201 with the new integer id."""
from automations.bootstrap import services
from automations.surfaces import native
from automations.surfaces.native_contacts import CommunityIn, CommunityOut, community_out

app = native.create_app()


@app.post("/v1/communities", status_code=201)
def create(body: CommunityIn) -> CommunityOut:
    created = services().communities.create(native.account_id(app), body.name, body.suite_type)
    return community_out(created)


handler = app.resolve
