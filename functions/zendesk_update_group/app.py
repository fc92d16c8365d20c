"""PUT /api/v2/groups/{id}(.json) {"group": {"name"}}: 200 {"group"}; its members stay."""
from automations.bootstrap import services
from automations.surfaces import zendesk, zendesk_people


@zendesk.endpoint
def handler(request):
    group = services().agent_groups.update(request.account_id, zendesk.path_id(request),
                                           zendesk_people.group_from_body(request))
    return zendesk_people.group_response(request, group)
