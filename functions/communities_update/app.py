"""PATCH /v1/communities/{community_id}: attributes left out stay."""
from automations.bootstrap import services
from automations.surfaces import native
from automations.surfaces.native import changes, path_id
from automations.surfaces.native_contacts import CommunityOut, CommunityPatch, community_out

app = native.create_app()


@app.patch("/v1/communities/<community_id>")
def update(community_id: str, patch: CommunityPatch) -> CommunityOut:
    updated = services().communities.update(native.account_id(app), path_id(community_id, "community"), changes(patch))
    return community_out(updated)


handler = app.resolve
