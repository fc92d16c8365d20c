"""GET /api/v2/groups/{id}(.json): one agent group (zenpy's ticket.group)."""
from automations.bootstrap import services
from automations.surfaces import zendesk, zendesk_people


@zendesk.endpoint
def handler(request):
    group = services().agent_groups.get(request.account_id, zendesk.path_id(request))
    return zendesk_people.group_response(request, group)
