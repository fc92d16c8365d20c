"""PATCH /v1/groups/{group_id}: name and/or user_ids (the members, replaced)."""
from automations.bootstrap import services
from automations.surfaces import native
from automations.surfaces.native import changes, path_id
from automations.surfaces.native_people import GroupOut, GroupPatch, group_out

app = native.create_app()


@app.patch("/v1/groups/<group_id>")
def update_group(group_id: str, patch: GroupPatch) -> GroupOut:
    updated = services().agent_groups.update(native.account_id(app), path_id(group_id, "group"), changes(patch))
    return group_out(updated)


handler = app.resolve
