"""GET /v1/groups/{group_id}: the group with its members' user ids."""
from automations.bootstrap import services
from automations.surfaces import native
from automations.surfaces.native import path_id
from automations.surfaces.native_people import GroupOut, group_out

app = native.create_app()


@app.get("/v1/groups/<group_id>")
def get_group(group_id: str) -> GroupOut:
    return group_out(services().agent_groups.get(native.account_id(app), path_id(group_id, "group")))


handler = app.resolve
