"""DELETE /v1/communities/{community_id}: 204."""
from automations.bootstrap import services
from automations.surfaces import native
from automations.surfaces.native import path_id

app = native.create_app()


@app.delete("/v1/communities/<community_id>", status_code=204)
def delete(community_id: str):
    services().communities.delete(native.account_id(app), path_id(community_id, "community"))
    return native.no_content()


handler = app.resolve
