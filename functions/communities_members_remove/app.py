"""DELETE /v1/communities/{community_id}/members/{contact_uuid}: 204; 404 when not a member."""
from automations.bootstrap import services
from automations.surfaces import native
from automations.surfaces.native import path_id

app = native.create_app()


@app.delete("/v1/communities/<community_id>/members/<contact_uuid>", status_code=204)
def remove_member(community_id: str, contact_uuid: str):
    services().communities.remove_member(native.account_id(app), path_id(community_id, "community"), contact_uuid)
    return native.no_content()


handler = app.resolve
