"""DELETE /api/v2/groups/{id}(.json): 204; notifications to the group then reach nobody."""
from automations.bootstrap import services
from automations.surfaces import zendesk


@zendesk.endpoint
def handler(request):
    services().agent_groups.delete(request.account_id, zendesk.path_id(request))
    return zendesk.no_content()
