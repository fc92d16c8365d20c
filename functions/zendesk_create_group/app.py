"""POST /api/v2/groups(.json) {"group": {"name"}}: 201 {"group"} + Location, the same agent group
as /v1/groups."""
from automations.bootstrap import services
from automations.surfaces import zendesk, zendesk_people


@zendesk.endpoint
def handler(request):
    group = services().agent_groups.create(request.account_id, zendesk_people.group_from_body(request))
    return zendesk_people.group_response(request, group, 201)
