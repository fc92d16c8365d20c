"""POST /v1/groups: 201 with the new integer id; 422 naming unknown user ids and end-users."""
from automations.bootstrap import services
from automations.surfaces import native
from automations.surfaces.native_people import GroupIn, GroupOut, group_out

app = native.create_app()


@app.post("/v1/groups", status_code=201)
def create_group(group: GroupIn) -> GroupOut:
    created = services().agent_groups.create(native.account_id(app), group.model_dump())
    return group_out(created)


handler = app.resolve
