"""DELETE /v1/groups/{group_id}: 204; notifications to the group then reach nobody."""
from automations.bootstrap import services
from automations.surfaces import native
from automations.surfaces.native import path_id

app = native.create_app()


@app.delete("/v1/groups/<group_id>", status_code=204)
def delete_group(group_id: str):
    services().agent_groups.delete(native.account_id(app), path_id(group_id, "group"))
    return native.no_content()


handler = app.resolve
