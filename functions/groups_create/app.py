"""POST /v1/groups: 201 with the new integer id; 422 naming unknown user ids and end-users."""
from aws_lambda_powertools.event_handler import Response

from automations.bootstrap import services
from automations.surfaces import native
from automations.surfaces.native_people import GroupIn, GroupOut, group_out

app = native.create_app()


@app.post("/v1/groups")
def create_group(group: GroupIn) -> Response[GroupOut]:
    created = services().agent_groups.create(native.account_id(app), group.model_dump())
    return Response(201, "application/json", group_out(created))


def handler(event, context):
    return app.resolve(event, context)
