"""GET /v1/communities/{community_id}"""
from automations.bootstrap import services
from automations.surfaces import native
from automations.surfaces.native import path_id
from automations.surfaces.native_contacts import CommunityOut, community_out

app = native.create_app()


@app.get("/v1/communities/<community_id>")
def get(community_id: str) -> CommunityOut:
    return community_out(services().communities.get(native.account_id(app), path_id(community_id, "community")))


handler = app.resolve
